"""Random control-flow programs (``If`` / ``While`` / ``Map``) and their sequential reference.

Part of :mod:`ferroflow.testing` (which re-exports it). A program is data: a list of steps
acting on one integer accumulator that lives in the graph's context (``wg.ctx.acc``), as
WorkGraph's loop state does:

* ``("add", c)``: ``acc += c``;
* ``("if", threshold, invert, body)``: run ``body`` when ``(acc > threshold) != invert``;
* ``("while", limit, step, max_iterations, body)``: while ``acc < limit``: ``acc += step``
  (``step > 0``) then ``body``; a condition still true after ``max_iterations`` iterations fails
  the loop (and so the run);
* ``("map", n, c)``: ``acc = sum(acc + k * c for k in range(n))`` over the keys
  ``k0 … k{n-1}``, one clone per key, gathered and summed after the zone.

:func:`evaluate_program` runs a program in plain Python and returns the final ``acc`` (``None``
when a loop exceeded its ``max_iterations``); a test builds the same program into a
``WorkGraph`` with zones and compares.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = ["Program", "evaluate_program", "zone_programs"]

#: one step of a program (see the module's docstring)
Step = tuple[Any, ...]
Program = list[Step]


def _steps(depth: int) -> st.SearchStrategy[Program]:
    add = st.tuples(st.just("add"), st.integers(-5, 5))
    mapped = st.tuples(st.just("map"), st.integers(0, 4), st.integers(-2, 3))
    if depth == 0:
        return st.lists(st.one_of(add, mapped), min_size=0, max_size=3)
    inner = _steps(depth - 1)
    branch = st.tuples(st.just("if"), st.integers(-10, 10), st.booleans(), inner)
    loop = st.tuples(
        st.just("while"), st.integers(-10, 25), st.integers(1, 6), st.integers(1, 6), inner
    )
    return st.lists(st.one_of(add, mapped, branch, loop), min_size=0, max_size=4)


def zone_programs(max_depth: int = 2) -> st.SearchStrategy[tuple[int, Program]]:
    """A start value and a program whose zones nest up to ``max_depth`` deep."""
    return st.tuples(st.integers(-10, 10), _steps(max_depth))


class _TooManyIterations(Exception):
    pass


def _run(acc: int, program: Program) -> int:
    for step in program:
        kind = step[0]
        if kind == "add":
            acc += step[1]
        elif kind == "map":
            _, n, c = step
            acc = sum(acc + k * c for k in range(n))
        elif kind == "if":
            _, threshold, invert, body = step
            if (acc > threshold) != invert:
                acc = _run(acc, body)
        else:
            _, limit, increment, max_iterations, body = step
            count = 0
            while acc < limit:
                if count >= max_iterations:
                    raise _TooManyIterations
                count += 1
                acc = _run(acc + increment, body)
    return acc


def evaluate_program(start: int, program: Program) -> int | None:
    """The final accumulator of ``program`` from ``start``; None if a While ran out of
    iterations (the engine fails that run with ``MaxIterationsError``)."""
    try:
        return _run(start, program)
    except _TooManyIterations:
        return None

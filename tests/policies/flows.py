"""The policy suites' tasks as plain functions: what the ``fast``, ``general`` and ``dask``
backends run. :mod:`policies.async_flows` defines the same tasks (names, options, behaviour) as
coroutine functions for the ``async`` backend; keep the two in step.

Module-level functions, so that Dask workers import them by name (``policies.flows``). Bodies
report through files (:mod:`policies.tally`), never module globals, since a Dask worker is
another process; the paths are task inputs.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Annotated, Any

from ferroflow import TaskTimeoutError, meta, namespace, task

from policies.tally import bodies_of, bump, marks_of, note, notes, wait_for_gate


@task
def where(x: int) -> str:
    """The process and thread the body ran in (checks that a backend runs what it says)."""
    return f"{os.getpid()}:{threading.current_thread().name}"


# -- retries -----------------------------------------------------------------------------------


@task(retries=3, retry_on=ConnectionError)
def flaky(counter: str, x: int) -> int:
    n = bump(counter)
    if n < 3:
        raise ConnectionError(f"attempt {n}: the cluster dropped the connection")
    return x * 10


@task(retries=3, retry_on=(ConnectionError, TimeoutError))
def picky(counter: str) -> int:
    bump(counter)
    raise KeyError("not a transient failure")


@task(retries=1)
def always_fails(counter: str) -> int:
    n = bump(counter)
    raise RuntimeError(f"failure {n}")


@task(retries=2, backoff=0.2)
def slow_flaky(log: str) -> int:
    """Notes the wall time (shared by every process on this machine) each attempt starts."""
    note(log, time.time())
    if len(notes(log)) < 3:
        raise OSError("busy")
    return 1


@task(retries=2)
def misfit(counter: str, x: int) -> Annotated[dict[str, int], namespace(a=int, b=int)]:
    """Returns without its output ``b``: a mistake no retry mends."""
    bump(counter)
    return {"a": x}


@task
def plus_one(x: float) -> float:
    return x + 1


@task
def energy(x: float) -> Annotated[float, meta(extras={"unit": "eV"})]:
    """An output with ``meta(extras=...)``: set on its node when the task finished."""
    return -x


@task.calcfunction(outputs=namespace(total=float, seen=str))
def node_sum(x: float, y: float) -> Any:
    """A calcfunction: sees data nodes (``x.value``; ``x + y`` is a node), returns a node."""
    total = x + y
    return {"total": total, "seen": f"{type(x).__name__} {type(total).__name__} {x.value}"}


# -- timeouts ----------------------------------------------------------------------------------


def _at_gate(gate: str) -> None:
    marks = marks_of(gate)
    note(bodies_of(gate), ["at", os.getpid()])
    note(marks, "started")
    try:
        if wait_for_gate(gate):
            note(marks, "returned")
    finally:
        note(marks, "left")
        note(bodies_of(gate), ["left", os.getpid()])


@task(timeout=0.5)
def held(gate: str, x: int) -> int:
    """Over its timeout for as long as the test keeps ``gate`` closed."""
    _at_gate(gate)
    return x


@task
def quick(x: int) -> int:
    return x


@task(timeout=30)
def timed_plus_one(x: float) -> float:
    return x + 1


@task(timeout=30)
def raises(x: int) -> int:
    raise ValueError(f"inside the timed body ({x})")


@task(timeout=30)
def own_timeout() -> int:
    """Raises a TimeoutError of its own, well within its deadline."""
    raise TimeoutError("the body's own wait timed out")


@task(timeout=2.0, retries=2, retry_on=TaskTimeoutError)
def slow_then_fast(counter: str, gate: str) -> int:
    """Attempt 1 waits at ``gate`` (past the timeout); attempt 2 returns 2 at once."""
    n = bump(counter)
    if n == 1:
        _at_gate(gate)
    return n


# -- error handlers ----------------------------------------------------------------------------


def halve_step(error: BaseException, inputs: dict[str, Any], factor: int = 2) -> dict[str, Any]:
    return {"step": inputs["step"] / factor}


@task(
    error_handlers={
        "halve": {"handler": halve_step, "exceptions": ArithmeticError, "max_retries": 3}
    }
)
def integrate(log: str, x: float, step: float) -> float:
    note(log, step)
    if step > 0.1:
        raise ArithmeticError(f"step {step} is too large: unstable")
    return x + step


def give_up(error: BaseException, inputs: dict[str, Any]) -> None:
    note(inputs["log"], "asked")
    return None


def fix_units(error: BaseException, inputs: dict[str, Any], scale: float) -> dict[str, Any]:
    note(inputs["log"], "fixed")
    return {"value": inputs["value"] * scale}


@task(
    retries=1,
    error_handlers={
        "unrelated": {"handler": fix_units, "exceptions": KeyError, "kwargs": {"scale": 0.0}},
        "declines": {"handler": give_up, "exceptions": ValueError},
        "units": {"handler": fix_units, "exceptions": ValueError, "kwargs": {"scale": 1e-3}},
    },
)
def check(log: str, value: float) -> float:
    if value > 1:
        raise ValueError(f"{value} is out of range")
    return value


def change_unknown_input(error: BaseException, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"nope": 1}


@task(error_handlers={"bad": {"handler": change_unknown_input}})
def fragile(x: int) -> int:
    raise ValueError("always")


def breaks(error: BaseException, inputs: dict[str, Any]) -> dict[str, Any]:
    raise LookupError(f"the handler broke on: {error}")


@task(retries=3, error_handlers={"broken": {"handler": breaks, "exceptions": ValueError}})
def handled_by_a_broken_handler(counter: str, x: int) -> int:
    bump(counter)
    raise ValueError(f"x={x} is bad")


def answers_a_list(error: BaseException, inputs: dict[str, Any]) -> Any:
    return [inputs["x"] + 1]


@task(error_handlers={"odd": {"handler": answers_a_list}})
def handled_by_a_list(x: int) -> int:
    raise ValueError("always")


def next_x(error: BaseException, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"x": inputs["x"] + 1}


@task(retries=1, error_handlers={"next": {"handler": next_x, "max_retries": 1}})
def keeps_failing(log: str, x: int) -> int:
    """Fails with every input: one fix by its handler, then one plain retry."""
    note(log, x)
    raise ValueError(f"x={x} fails too")


def smaller(error: BaseException, inputs: dict[str, Any], factor: float = 2) -> dict[str, Any]:
    return {"step": inputs["step"] / factor}


def decline(error: BaseException, inputs: dict[str, Any]) -> None:
    return None


#: A graph's handler for its ``relax*`` tasks (``@task.graph(error_handlers=HANDLERS)``).
HANDLERS = {
    "smaller_step": {
        "tasks": ["relax*"],
        "handler": smaller,
        "exceptions": ArithmeticError,
        "max_retries": 3,
        "kwargs": {"factor": 4},
    }
}


@task
def relax(log: str, x: float, step: float) -> float:
    """Unstable for steps above 0.1 (stands for an SCF that does not converge)."""
    note(log, ["relax", step])
    if step > 0.1:
        raise ArithmeticError(f"step {step} does not converge")
    return x + step


@task
def anneal(log: str, x: float, step: float) -> float:
    note(log, ["anneal", step])
    if step > 0.1:
        raise ArithmeticError(f"step {step} does not converge")
    return x - step


@task(error_handlers={"never": {"handler": decline}})
def relax_own(log: str, x: float, step: float) -> float:
    """``relax`` with a handler of its own that always declines."""
    note(log, ["relax_own", step])
    if step > 0.1:
        raise ArithmeticError(f"step {step} does not converge")
    return x + step


@task(error_handlers={"s": {"handler": smaller, "exceptions": ArithmeticError}})
def relax_s(log: str, x: float, step: float) -> float:
    """``relax`` with a handler ``s`` of its own (halves the step once)."""
    note(log, ["relax_s", step])
    if step > 0.1:
        raise ArithmeticError(f"step {step} does not converge")
    return x + step


# -- cancellation ------------------------------------------------------------------------------


@task(retries=5, backoff=60.0)
def patient(counter: str) -> int:
    bump(counter)
    raise ConnectionError("the service is down")


@task(retries=5, backoff=4.0)
def backs_off(counter: str) -> int:
    bump(counter)
    raise ConnectionError("the service is down")


@task
def blocked(gate: str, x: int) -> int:
    """Runs for as long as the test keeps ``gate`` closed."""
    _at_gate(gate)
    return x


# -- failure propagation -----------------------------------------------------------------------


@task
def inc(x: int) -> int:
    return x + 1


@task
def noted(log: str, tag: str) -> str:
    """Notes ``tag`` when its body runs."""
    note(log, tag)
    return tag


@task
def fails_on_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"three is bad (x={x})")
    return x


@task
def two(x: int) -> Annotated[dict[str, int], namespace(a=int, b=int)]:
    return {"a": x}  # missing 'b'


@task
def calls_a_task(x: int) -> int:
    return inc(x=x)  # type: ignore[return-value]


@task(timeout=30)
def calls_a_task_timed(x: int) -> int:
    return inc(x=x)  # type: ignore[return-value]


class Unpicklable:
    """A value the store cannot serialise: it refuses to be pickled."""

    def __reduce__(self) -> Any:
        raise TypeError("this object refuses to be pickled")

    def __repr__(self) -> str:
        return "<unpicklable>"


@task
def make_unpicklable(x: int) -> Any:
    return Unpicklable()

"""Property test: random programs of nested ``If`` / ``While`` / ``Map`` zones, built into a real
``WorkGraph`` (the loop state in ``wg.ctx.acc``) and run on 1 to 4 workers, give what
:func:`ferroflow.testing.evaluate_program` computes in plain Python, including a ``While`` that
runs out of ``max_iterations`` (the run fails with ``MaxIterationsError`` naming the zone)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from ferroflow import If, Map, MaxIterationsError, While, WorkflowFailedError, WorkGraph, task
from ferroflow.testing import Program, evaluate_program, zone_programs
from hypothesis import given, settings
from hypothesis import strategies as st

EXAMPLES = settings(max_examples=int(os.environ.get("FERROFLOW_DAG_EXAMPLES", "40")), deadline=None)


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def term(acc: int, key: int, c: int) -> int:
    return acc + key * c


@task
def total(**data: int) -> int:
    return sum(data.values())


def _build(wg: WorkGraph, program: Program) -> None:
    for step in program:
        kind = step[0]
        if kind == "add":
            wg.ctx.acc = add(x=wg.ctx.acc, y=step[1]).result
        elif kind == "map":
            _, n, c = step
            with Map({f"k{k}": k for k in range(n)}) as zone:
                zone.gather({"t": term(acc=wg.ctx.acc, key=zone.value, c=c).result})
            wg.ctx.acc = total(data=zone.outputs.t).result
        elif kind == "if":
            _, threshold, invert, body = step
            with If(wg.ctx.acc > threshold, invert_condition=invert):
                _build(wg, body)
        else:
            _, limit, increment, max_iterations, body = step
            with While(wg.ctx.acc < limit, max_iterations=max_iterations):
                wg.ctx.acc = add(x=wg.ctx.acc, y=increment).result
                _build(wg, body)


@EXAMPLES
@given(zone_programs(), st.integers(1, 4))
def test_zones_give_what_the_sequential_reference_gives(
    drawn: tuple[int, Program], workers: int
) -> None:
    start, program = drawn
    expected = evaluate_program(start, program)
    with WorkGraph("zones") as wg:
        wg.ctx.acc = add(x=start, y=0).result
        _build(wg, program)
        wg.outputs.acc = add(x=wg.ctx.acc, y=0).result
    if expected is None:
        with pytest.raises(WorkflowFailedError):
            wg.run(max_workers=workers, progress=False)
        errors: list[Any] = [t.error for t in wg.all_tasks() if t.state == "FAILED"]
        assert any(isinstance(e, MaxIterationsError) for e in errors)
        return
    wg.run(max_workers=workers, progress=False)
    assert wg.outputs.acc.value.value == expected

""":mod:`policies.flows` as coroutine functions, for the ``async`` backend: the same task names,
options and behaviour, with every wait an ``await`` (a blocking call would stall the run's
event loop). The handlers, the graph handler spec and the unpicklable value are shared."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Annotated, Any

from ferroflow import TaskTimeoutError, meta, namespace, task

from policies.flows import (
    HANDLERS,
    Unpicklable,
    answers_a_list,
    breaks,
    change_unknown_input,
    decline,
    fix_units,
    give_up,
    halve_step,
    next_x,
    smaller,
)
from policies.tally import await_gate, bodies_of, bump, marks_of, note, notes

__all__ = ["HANDLERS"]


@task
async def where(x: int) -> str:
    await asyncio.sleep(0)
    return f"{os.getpid()}:{threading.current_thread().name}"


# -- retries -----------------------------------------------------------------------------------


@task(retries=3, retry_on=ConnectionError)
async def flaky(counter: str, x: int) -> int:
    n = bump(counter)
    await asyncio.sleep(0)
    if n < 3:
        raise ConnectionError(f"attempt {n}: the cluster dropped the connection")
    return x * 10


@task(retries=3, retry_on=(ConnectionError, TimeoutError))
async def picky(counter: str) -> int:
    bump(counter)
    await asyncio.sleep(0)
    raise KeyError("not a transient failure")


@task(retries=1)
async def always_fails(counter: str) -> int:
    n = bump(counter)
    await asyncio.sleep(0)
    raise RuntimeError(f"failure {n}")


@task(retries=2, backoff=0.2)
async def slow_flaky(log: str) -> int:
    note(log, time.time())
    await asyncio.sleep(0)
    if len(notes(log)) < 3:
        raise OSError("busy")
    return 1


@task(retries=2)
async def misfit(counter: str, x: int) -> Annotated[dict[str, int], namespace(a=int, b=int)]:
    bump(counter)
    await asyncio.sleep(0)
    return {"a": x}


@task
async def plus_one(x: float) -> float:
    await asyncio.sleep(0)
    return x + 1


@task
async def energy(x: float) -> Annotated[float, meta(extras={"unit": "eV"})]:
    await asyncio.sleep(0)
    return -x


@task.calcfunction(outputs=namespace(total=float, seen=str))
async def node_sum(x: float, y: float) -> Any:
    await asyncio.sleep(0)
    total = x + y
    return {"total": total, "seen": f"{type(x).__name__} {type(total).__name__} {x.value}"}


# -- timeouts ----------------------------------------------------------------------------------


async def _at_gate(gate: str) -> None:
    marks = marks_of(gate)
    note(bodies_of(gate), ["at", os.getpid()])
    note(marks, "started")
    try:
        if await await_gate(gate):
            note(marks, "returned")
    finally:
        note(marks, "left")
        note(bodies_of(gate), ["left", os.getpid()])


@task(timeout=0.5)
async def held(gate: str, x: int) -> int:
    await _at_gate(gate)
    return x


@task
async def quick(x: int) -> int:
    await asyncio.sleep(0)
    return x


@task(timeout=30)
async def timed_plus_one(x: float) -> float:
    await asyncio.sleep(0)
    return x + 1


@task(timeout=30)
async def raises(x: int) -> int:
    await asyncio.sleep(0)
    raise ValueError(f"inside the timed body ({x})")


@task(timeout=30)
async def own_timeout() -> int:
    """Times out waiting on its own: asyncio's TimeoutError, not the task's deadline."""
    await asyncio.wait_for(asyncio.sleep(10), 0.01)
    return 1


@task(timeout=2.0, retries=2, retry_on=TaskTimeoutError)
async def slow_then_fast(counter: str, gate: str) -> int:
    n = bump(counter)
    if n == 1:
        await _at_gate(gate)
    return n


# -- error handlers ----------------------------------------------------------------------------


@task(
    error_handlers={
        "halve": {"handler": halve_step, "exceptions": ArithmeticError, "max_retries": 3}
    }
)
async def integrate(log: str, x: float, step: float) -> float:
    note(log, step)
    await asyncio.sleep(0)
    if step > 0.1:
        raise ArithmeticError(f"step {step} is too large: unstable")
    return x + step


@task(
    retries=1,
    error_handlers={
        "unrelated": {"handler": fix_units, "exceptions": KeyError, "kwargs": {"scale": 0.0}},
        "declines": {"handler": give_up, "exceptions": ValueError},
        "units": {"handler": fix_units, "exceptions": ValueError, "kwargs": {"scale": 1e-3}},
    },
)
async def check(log: str, value: float) -> float:
    await asyncio.sleep(0)
    if value > 1:
        raise ValueError(f"{value} is out of range")
    return value


@task(error_handlers={"bad": {"handler": change_unknown_input}})
async def fragile(x: int) -> int:
    await asyncio.sleep(0)
    raise ValueError("always")


@task(retries=3, error_handlers={"broken": {"handler": breaks, "exceptions": ValueError}})
async def handled_by_a_broken_handler(counter: str, x: int) -> int:
    bump(counter)
    await asyncio.sleep(0)
    raise ValueError(f"x={x} is bad")


@task(error_handlers={"odd": {"handler": answers_a_list}})
async def handled_by_a_list(x: int) -> int:
    await asyncio.sleep(0)
    raise ValueError("always")


@task(retries=1, error_handlers={"next": {"handler": next_x, "max_retries": 1}})
async def keeps_failing(log: str, x: int) -> int:
    note(log, x)
    await asyncio.sleep(0)
    raise ValueError(f"x={x} fails too")


@task
async def relax(log: str, x: float, step: float) -> float:
    note(log, ["relax", step])
    await asyncio.sleep(0)
    if step > 0.1:
        raise ArithmeticError(f"step {step} does not converge")
    return x + step


@task
async def anneal(log: str, x: float, step: float) -> float:
    note(log, ["anneal", step])
    await asyncio.sleep(0)
    if step > 0.1:
        raise ArithmeticError(f"step {step} does not converge")
    return x - step


@task(error_handlers={"never": {"handler": decline}})
async def relax_own(log: str, x: float, step: float) -> float:
    note(log, ["relax_own", step])
    await asyncio.sleep(0)
    if step > 0.1:
        raise ArithmeticError(f"step {step} does not converge")
    return x + step


@task(error_handlers={"s": {"handler": smaller, "exceptions": ArithmeticError}})
async def relax_s(log: str, x: float, step: float) -> float:
    note(log, ["relax_s", step])
    await asyncio.sleep(0)
    if step > 0.1:
        raise ArithmeticError(f"step {step} does not converge")
    return x + step


# -- cancellation ------------------------------------------------------------------------------


@task(retries=5, backoff=60.0)
async def patient(counter: str) -> int:
    bump(counter)
    await asyncio.sleep(0)
    raise ConnectionError("the service is down")


@task(retries=5, backoff=4.0)
async def backs_off(counter: str) -> int:
    bump(counter)
    await asyncio.sleep(0)
    raise ConnectionError("the service is down")


@task
async def blocked(gate: str, x: int) -> int:
    await _at_gate(gate)
    return x


# -- failure propagation -----------------------------------------------------------------------


@task
async def inc(x: int) -> int:
    await asyncio.sleep(0)
    return x + 1


@task
async def noted(log: str, tag: str) -> str:
    note(log, tag)
    await asyncio.sleep(0)
    return tag


@task
async def fails_on_three(x: int) -> int:
    await asyncio.sleep(0)
    if x == 3:
        raise ValueError(f"three is bad (x={x})")
    return x


@task
async def two(x: int) -> Annotated[dict[str, int], namespace(a=int, b=int)]:
    await asyncio.sleep(0)
    return {"a": x}  # missing 'b'


@task
async def calls_a_task(x: int) -> int:
    await asyncio.sleep(0)
    return inc(x=x)  # type: ignore[return-value]


@task(timeout=30)
async def calls_a_task_timed(x: int) -> int:
    await asyncio.sleep(0)
    return inc(x=x)  # type: ignore[return-value]


@task
async def make_unpicklable(x: int) -> Any:
    await asyncio.sleep(0)
    return Unpicklable()

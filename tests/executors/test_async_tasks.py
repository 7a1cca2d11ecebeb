"""``@task async def``: coroutine tasks awaited together on the run's event loop thread.

What the event loop does of its own is tested here; retries, timeouts, error handlers,
cancellation and failure propagation run on async tasks as on every backend in tests/policies/.

Overlap is measured from the tasks' own start/end stamps (never from the wall time of the run):
with two worker threads, sync tasks could overlap at most twice.
"""

from __future__ import annotations

import asyncio
import threading
import time
import typing as t
from typing import Any

import pytest
from ferroflow import (
    RunTimeoutError,
    TaskTimeoutError,
    WorkflowFailedError,
    dynamic,
    load_node,
    namespace,
    task,
)
from ferroflow.engine.execution import Execution
from provenance_flows import run_provenance

#: (start, end) stamps (time.monotonic) of the bodies of a test; the loop is one thread
_stamps: list[tuple[float, float]] = []
#: events seen by bodies: "cancelled", "finally", attempt counters, ...
_seen: dict[str, int] = {}
#: bodies in flight now, and the most ever (only the loop thread touches these)
_flight = {"now": 0, "peak": 0}


@pytest.fixture(autouse=True)
def _reset() -> None:
    _stamps.clear()
    _seen.clear()
    _flight.update(now=0, peak=0)


def _note(key: str) -> int:
    _seen[key] = _seen.get(key, 0) + 1
    return _seen[key]


def _max_overlap(stamps: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (an end at the same instant as a start first)."""
    events = sorted([(s, 1) for s, _ in stamps] + [(e, -1) for _, e in stamps])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def _loop_threads() -> list[threading.Thread]:
    return [th for th in threading.enumerate() if th.name == "ferroflow-async"]


# -- overlap ----------------------------------------------------------------------------------
@task
async def nap(x: int, seconds: float) -> int:
    start = time.monotonic()
    await asyncio.sleep(seconds)
    _stamps.append((start, time.monotonic()))
    return x * 10


@task.graph
def many_naps(n: int, seconds: float) -> t.Annotated[dict, namespace(out=dynamic(int))]:  # type: ignore[type-arg]
    return {"out": {f"k{i}": nap(x=i, seconds=seconds).result for i in range(n)}}


def test_two_hundred_async_tasks_wait_together() -> None:
    wg = many_naps.build(200, 0.2)
    wg.run()  # the default pool: one worker per core (two on the development VM)
    assert len(_stamps) == 200
    assert _max_overlap(_stamps) >= 100
    assert {k: v.value for k, v in wg.outputs.out.value.items()} == {
        f"k{i}": i * 10 for i in range(200)
    }
    assert not _loop_threads(), "the loop thread is joined when the run ends"
    run = load_node(wg.pk)
    assert run.state == "FINISHED"
    calls = run.called
    assert len(calls) == 200
    for stored in calls:
        assert stored.state == "FINISHED" and stored.label.startswith("nap")
        ins = sorted(
            (lt, label, src.value) for lt, label, src in stored.inputs if lt != "CALL_CALC"
        )
        x = next(v for _, label, v in ins if label == "x")
        assert ins == [("INPUT_CALC", "seconds", 0.2), ("INPUT_CALC", "x", x)]
        outs = [(lt, label, node.value) for lt, label, node in stored.outputs]
        assert ("CREATE", "result", x * 10) in outs
    for task_node in wg.all_tasks():
        assert task_node.node.fast_box is None, "async tasks never take the fast lane"
        assert task_node.state == "FINISHED"
        assert task_node.ctime is not None and task_node.mtime is not None
        assert task_node.ctime <= task_node.mtime


# -- mixed with sync tasks, nested, and the same provenance as sync -------------------------
def _flow(asynchronous: bool) -> Any:
    """sync -> async -> sync inside a nested graph, the async task with namespace outputs.
    ``asynchronous=False`` makes the same workflow (same names and types) all sync."""

    @task
    def make(n: int) -> list[int]:
        return list(range(n))

    if asynchronous:

        @task
        async def spread(
            values: list[int], k: int
        ) -> t.Annotated[dict, namespace(total=int, scaled=list)]:  # type: ignore[type-arg]
            await asyncio.sleep(0.01)
            return {"total": sum(values), "scaled": [v * k for v in values]}
    else:

        @task
        def spread(  # type: ignore[misc]
            values: list[int], k: int
        ) -> t.Annotated[dict, namespace(total=int, scaled=list)]:  # type: ignore[type-arg]
            return {"total": sum(values), "scaled": [v * k for v in values]}

    @task
    def combine(total: int, scaled: list[int]) -> int:
        return total + sum(scaled)

    @task.graph
    def inner(n: int, k: int) -> int:
        out = spread(values=make(n=n).result, k=k)
        return combine(total=out.total, scaled=out.scaled).result

    @task.graph
    def outer(n: int) -> int:
        first = inner(n=n, k=2).result
        return inner(n=first, k=1).result

    return outer


def test_async_between_sync_tasks_in_nested_graphs_stores_what_sync_does() -> None:
    async_wg = _flow(True).build(4)
    async_wg.run()
    sync_wg = _flow(False).build(4)
    sync_wg.run()
    # n=4: 6 + 12 = 18; then n=18: 153 + 153 = 306
    assert async_wg.outputs.result.value == sync_wg.outputs.result.value == 306
    states = {tn.path: tn.state for tn in async_wg.all_tasks()}
    assert states["outer/inner/spread"] == states["outer/inner1/spread"] == "FINISHED"
    assert set(states.values()) == {"FINISHED"}
    assert run_provenance(async_wg.pk) == run_provenance(sync_wg.pk)


# -- failures ---------------------------------------------------------------------------------
@task
def plus_one(x: int) -> int:
    return x + 1


def test_an_error_in_the_completion_code_fails_the_task_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = Execution.finished

    def finished(self: Execution, task_node: Any, returned: Any) -> bool:
        if task_node.handle is nap:
            raise RuntimeError("the completion code broke")
        return real(self, task_node, returned)

    monkeypatch.setattr(Execution, "finished", finished)

    @task.graph
    def g() -> int:
        return plus_one(x=nap(x=1, seconds=0.01).result).result

    wg = g.build()
    with pytest.raises(WorkflowFailedError, match="completion code broke"):
        wg.run(timeout=60)  # a hang would end as RunTimeoutError instead
    assert wg.tasks.nap.state == "FAILED"
    assert wg.tasks.plus_one.state == "SKIPPED"
    assert load_node(wg.tasks.nap.pk).state == "FAILED"


# -- timeouts ---------------------------------------------------------------------------------
@task(timeout=0.2)
async def stuck(x: int) -> int:
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        _note("cancelled")
        raise
    finally:
        _note("finally")
    return x


def test_an_async_task_over_its_timeout_has_its_coroutine_cancelled() -> None:
    """Unlike a sync body, a coroutine is stopped at its deadline (the timeout policy itself,
    on every backend: tests/policies/test_timeouts.py)."""

    @task.graph
    def g() -> int:
        return plus_one(x=stuck(x=1).result).result

    wg = g.build()
    with pytest.raises(WorkflowFailedError, match="1 task") as info:
        wg.run()
    error = info.value.failed["g/stuck"]
    assert isinstance(error, TaskTimeoutError)
    assert str(error) == (
        "task 'g/stuck' ran past its timeout of 0.2 s and was failed; its coroutine was cancelled"
    )
    assert _seen["cancelled"] == 1 and _seen["finally"] == 1, "the coroutine was cancelled"
    assert wg.tasks.stuck.state == "FAILED"


# -- cancellation -----------------------------------------------------------------------------
@task
async def sleeps_long(x: int) -> int:
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        _note("cancelled")
        raise
    return x


def test_a_run_timeout_cancels_every_pending_coroutine_and_joins_the_loop() -> None:
    """The loop's own part of cancelling (the states every backend ends in:
    tests/policies/test_cancellation.py)."""

    @task.graph
    def g(n: int) -> t.Annotated[dict, namespace(out=dynamic(int))]:  # type: ignore[type-arg]
        return {"out": {f"k{i}": plus_one(x=sleeps_long(x=i).result).result for i in range(n)}}

    wg = g.build(20)
    with pytest.raises(RunTimeoutError):
        wg.run(timeout=2.0)  # the 20 coroutines wait 10 s each
    assert _seen.get("cancelled") == 20, "every pending coroutine was cancelled"
    assert not _loop_threads(), "the loop thread was joined"
    assert [tn.state for tn in wg.all_tasks() if tn.node.handle is sleeps_long] == [
        "CANCELLED"
    ] * 20


# -- max_number_jobs --------------------------------------------------------------------------
@task
async def counted(x: int) -> int:
    _flight["now"] += 1  # one loop thread: no lock needed
    _flight["peak"] = max(_flight["peak"], _flight["now"])
    await asyncio.sleep(0.02)
    _flight["now"] -= 1
    return x


@task.graph
def fifty(n: int) -> t.Annotated[dict, namespace(out=dynamic(int))]:  # type: ignore[type-arg]
    return {"out": {f"k{i}": counted(x=i).result for i in range(n)}}


@task.graph(max_number_jobs=5)
def capped(n: int) -> t.Annotated[dict, namespace(out=dynamic(int))]:  # type: ignore[type-arg]
    return {"out": {f"k{i}": counted(x=i).result for i in range(n)}}


@task.graph
def nested_capped(n: int) -> t.Annotated[dict, namespace(out=dynamic(int))]:  # type: ignore[type-arg]
    return {"out": capped(n=n).out}


@pytest.mark.parametrize("where", ["run", "nested graph"])
def test_max_number_jobs_counts_async_tasks_in_flight(where: str) -> None:
    if where == "run":
        wg = fifty.build(50)
        wg.run(max_number_jobs=5)
    else:
        wg = nested_capped.build(50)
        wg.run()
    assert sorted(v.value for v in wg.outputs.out.value.values()) == list(range(50))
    assert _flight["peak"] == 5, "at most five at once, and they do overlap"


# -- task calls inside a body -----------------------------------------------------------------
def test_an_async_body_may_build_a_graph() -> None:
    @task.graph
    def small(x: int) -> int:
        return plus_one(x=x).result

    @task
    async def builds(x: int) -> int:
        await asyncio.sleep(0)
        return len(small.build(x).tasks)

    @task.graph
    def g() -> int:
        return builds(x=1).result

    wg = g.build()
    wg.run()
    assert wg.outputs.result.value == 1


# -- decoration -------------------------------------------------------------------------------
def test_async_graph_bodies_are_refused_at_decoration() -> None:
    with pytest.raises(TypeError, match=r"@task.graph 'AsyncBody'.*async function"):

        @task.graph
        async def AsyncBody(x: int) -> int:
            return x

    with pytest.raises(TypeError, match="'renamed'"):

        @task.graph(name="renamed")
        async def body(x: int) -> int:
            return x


def test_async_generators_are_refused() -> None:
    with pytest.raises(TypeError, match="async generator"):

        @task
        async def gen(x: int) -> t.AsyncIterator[int]:
            yield x


def test_handles_know_they_are_async() -> None:
    assert nap.is_async and nap.needs_runner
    assert not plus_one.is_async and not plus_one.needs_runner


# -- Dask -------------------------------------------------------------------------------------
def test_on_dask_async_tasks_run_on_the_clients_loop() -> None:
    import distributed
    from ferroflow.executors import DaskExecutor

    @task
    async def where(x: int) -> str:
        await asyncio.sleep(0.01)
        return f"{threading.current_thread().name}:{x}"

    @task
    def tag(text: str) -> str:
        return f"{threading.current_thread().name}|{text}"

    @task.graph
    def g() -> str:
        return tag(text=where(x=1).result).result

    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        wg = g.build()
        wg.run(executor=DaskExecutor(client))
    ran_on, _, returned = wg.outputs.result.value.value.partition("|")
    assert returned == "ferroflow-async:1", "the async task ran on the run's loop"
    assert ran_on != "ferroflow-async" and not ran_on.startswith("ferroflow"), (
        "the sync task ran on a Dask worker thread"
    )

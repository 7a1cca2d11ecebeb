"""The core's external-completion path through the binding, without Dask.

A runner may return ``"pending"`` for a task it hands to something else (the Dask executor
does); the task stays RUNNING until ``Run.resolve`` / ``Run.resolve_many`` report it, from any
thread, and ``Run.abandon`` (called from ``on_cancel``) gives up on it when the run is
cancelled. Here "the cluster" is a plain Python thread.
"""

from __future__ import annotations

import queue
import threading
import time

import pytest
from ferroflow import _core


def _remote(run: _core.Run, inbox: queue.SimpleQueue[int | None], fail: set[int]) -> None:
    """Resolve what arrives, a few at a time, as a cluster's collector would."""
    while True:
        first = inbox.get()
        if first is None:
            return
        batch = [first]
        while not inbox.empty():
            item = inbox.get()
            if item is None:
                run.resolve_many([(i, i not in fail) for i in batch])
                return
            batch.append(item)
        time.sleep(0.001)
        run.resolve_many([(i, i not in fail) for i in batch])


@pytest.mark.parametrize("workers", [1, 2])
def test_pending_tasks_resolved_from_another_thread(workers: int) -> None:
    run = _core.Run()
    a = run.add_task("a")
    b = run.add_task("b", [a])
    c = run.add_task("c", [a])
    d = run.add_task("d", [b, c])
    bad = run.add_task("bad")
    after_bad = run.add_task("after_bad", [bad])
    inbox: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    ids = {"a": a, "b": b, "c": c, "d": d, "bad": bad, "after_bad": after_bad}
    remote = threading.Thread(target=_remote, args=(run, inbox, {bad}))
    remote.start()
    ran: list[str] = []

    def runner(name: str) -> str | bool:
        ran.append(name)
        if name in ("b", "d"):
            return True  # some tasks finish here, the others "on the cluster"
        inbox.put(ids[name])
        return "pending"

    pool = _core.Pool(workers)
    try:
        run.execute(pool, runner, timeout=30)
    finally:
        inbox.put(None)
        remote.join()
        pool.shutdown()
    assert [run.state(i) for i in (a, b, c, d, bad, after_bad)] == [
        "FINISHED",
        "FINISHED",
        "FINISHED",
        "FINISHED",
        "FAILED",
        "SKIPPED",
    ]
    assert sorted(ran) == ["a", "b", "bad", "c", "d"]
    assert run.resolve(a, True) is False, "a task completes once"
    assert run.counts()["remaining"] == 0


def test_cancel_abandons_pending_tasks() -> None:
    run = _core.Run()
    first = run.add_task("first")
    second = run.add_task("second", [first])
    pending: list[int] = []
    abandoned: list[int] = []

    def runner(name: str) -> str:
        pending.append(first)
        return "pending"  # never resolved: the run would wait for ever

    def on_cancel() -> None:
        taken, pending[:] = list(pending), []
        abandoned.extend(taken)
        run.abandon(taken)

    pool = _core.Pool(1)
    start = time.perf_counter()
    try:
        with pytest.raises(TimeoutError):
            run.execute(pool, runner, timeout=0.2, on_cancel=on_cancel)
    finally:
        pool.shutdown()
    assert time.perf_counter() - start < 5
    assert abandoned == [first]
    assert run.state(first) == run.state(second) == "CANCELLED"
    assert run.cancelled
    assert run.resolve(first, True) is False, "an abandoned task's late result is ignored"


def test_a_runner_returning_another_string_is_an_error() -> None:
    run = _core.Run()
    run.add_task("x")
    pool = _core.Pool(1)
    try:
        with pytest.raises(ValueError, match="pending"):
            run.execute(pool, lambda _: "done", timeout=10)
    finally:
        pool.shutdown()

"""``@task(timeout=s)``: an attempt over its time fails with TaskTimeoutError, its dependents
are skipped, independent tasks finish, and no worker waits for the abandoned call."""

from __future__ import annotations

import threading
import time

import pytest
from ferroflow import TaskTimeoutError, WorkflowFailedError, load_node, task

_calls: dict[str, int] = {}
_lock = threading.Lock()


@pytest.fixture(autouse=True)
def _reset() -> None:
    _calls.clear()


@task(timeout=0.3)
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@task
def plus_one(x: float) -> float:
    return x + 1


@task
def quick(x: int) -> int:
    time.sleep(0.05)
    return x


def test_task_over_its_timeout_fails_while_independent_tasks_finish() -> None:
    @task.graph
    def g() -> float:
        late = plus_one(x=sleepy(seconds=3.0).result)
        for i in range(6):
            quick(x=i)
        return late.result

    wg = g.build()
    start = time.perf_counter()
    with pytest.raises(WorkflowFailedError, match="1 task") as info:
        wg.run(max_workers=2)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0  # the run did not wait for the 3 s body
    error = info.value.failed["g/sleepy"]
    assert isinstance(error, TaskTimeoutError) and isinstance(error, TimeoutError)
    assert "'g/sleepy'" in str(error) and "timeout of 0.3 s" in str(error)
    assert wg.tasks.sleepy.state == "FAILED"
    assert wg.tasks.plus_one.state == "SKIPPED"
    assert all(wg.tasks[f"quick{i or ''}"].state == "FINISHED" for i in range(6))
    stored = load_node(wg.tasks.sleepy.pk)
    assert stored.state == "FAILED" and "TaskTimeoutError" in (stored.error or "")


def test_fast_enough_task_finishes_and_errors_pass_through() -> None:
    @task(timeout=5)
    def raises(x: int) -> int:
        raise ValueError("inside the helper thread")

    @task.graph
    def g() -> float:
        raises(x=1)
        return plus_one(x=sleepy(seconds=0.01).result).result

    wg = g.build()
    with pytest.raises(WorkflowFailedError) as info:
        wg.run()
    assert isinstance(info.value.failed["g/raises"], ValueError)
    assert wg.outputs.result.value == 1.01


def test_timeouts_are_retried_like_other_failures() -> None:
    @task(timeout=0.2, retries=2, retry_on=TaskTimeoutError)
    def slow_then_fast() -> int:
        with _lock:
            _calls["n"] = n = _calls.get("n", 0) + 1
        if n == 1:
            time.sleep(1.0)
        return n

    @task.graph
    def g() -> int:
        return slow_then_fast().result

    wg = g.build()
    wg.run()
    assert wg.outputs.result.value == 2
    attempts = [n for n in load_node(wg.pk).called]
    assert [(n.label, n.state) for n in attempts] == [
        ("slow_then_fast", "FAILED"),
        ("slow_then_fast_attempt2", "FINISHED"),
    ]
    assert "TaskTimeoutError" in (attempts[0].error or "")


def test_calling_a_task_inside_a_timed_body_is_refused() -> None:
    @task(timeout=5)
    def calls_a_task(x: int) -> int:
        return plus_one(x=x)  # type: ignore[return-value]

    @task.graph
    def g() -> int:
        return calls_a_task(x=1).result

    wg = g.build()
    with pytest.raises(WorkflowFailedError, match="inside the body of a running task"):
        wg.run()

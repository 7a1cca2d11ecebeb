"""``@task(retries=N, retry_on=..., backoff=...)``: flaky tasks, and every attempt stored."""

from __future__ import annotations

import threading
import time

import pytest
from ferroflow import WorkflowFailedError, load_node, task
from provenance_flows import three_attempts

_calls: dict[str, int] = {}
_lock = threading.Lock()


def _count(key: str) -> int:
    with _lock:
        _calls[key] = _calls.get(key, 0) + 1
        return _calls[key]


@pytest.fixture(autouse=True)
def _reset() -> None:
    _calls.clear()


@task(retries=3, retry_on=ConnectionError)
def flaky(x: int) -> int:
    n = _count("flaky")
    if n < 3:
        raise ConnectionError(f"attempt {n}: the cluster dropped the connection")
    return x * 10


@task(retries=3, retry_on=(ConnectionError, TimeoutError))
def picky(x: int) -> int:
    _count("picky")
    raise KeyError("not a transient failure")


@task(retries=1)
def always_fails(x: int) -> int:
    _count("always")
    raise RuntimeError(f"failure {_calls['always']}")


@task
def plus_one(x: int) -> int:
    return x + 1


def test_flaky_task_succeeds_on_its_third_attempt() -> None:
    @task.graph
    def g(x: int) -> int:
        return plus_one(x=flaky(x=x).result).result

    wg = g.build(x=4)
    wg.run()
    assert _calls["flaky"] == 3
    assert wg.outputs.result.value == 41
    node = wg.tasks.flaky
    assert node.state == "FINISHED"

    attempts = three_attempts(wg, "flaky", {"x": 4})
    assert "attempt 1: the cluster dropped" in (attempts[0].error or "")
    assert "ConnectionError" in (attempts[1].error or "")
    assert wg.tasks.plus_one.state == "FINISHED"


def test_exception_not_in_retry_on_fails_at_once() -> None:
    @task.graph
    def g() -> int:
        return plus_one(x=picky(x=1).result).result

    wg = g.build()
    with pytest.raises(WorkflowFailedError, match="KeyError") as info:
        wg.run()
    assert _calls["picky"] == 1
    assert isinstance(info.value.failed["g/picky"], KeyError)
    assert wg.tasks.plus_one.state == "SKIPPED"
    attempts = [n for n in load_node(wg.pk).called if n.type.endswith("picky")]
    assert [(n.label, n.state) for n in attempts] == [("picky", "FAILED")]


def test_retries_exhausted_fail_with_the_last_error_and_store_all_attempts() -> None:
    @task.graph
    def g() -> int:
        return always_fails(x=1).result

    wg = g.build()
    with pytest.raises(WorkflowFailedError, match="failure 2"):
        wg.run()
    assert _calls["always"] == 2
    attempts = [n for n in load_node(wg.pk).called if n.type.endswith("always_fails")]
    assert [(n.label, n.state) for n in attempts] == [
        ("always_fails", "FAILED"),
        ("always_fails_attempt2", "FAILED"),
    ]
    assert "failure 1" in (attempts[0].error or "")
    assert "failure 2" in (attempts[1].error or "")
    assert wg.tasks.always_fails.pk == attempts[1].pk


def test_backoff_waits_between_attempts() -> None:
    @task(retries=2, backoff=0.1)
    def slow_flaky() -> int:
        if _count("slow") < 3:
            raise OSError("busy")
        return 1

    @task.graph
    def g() -> int:
        return slow_flaky().result

    start = time.perf_counter()
    wg = g.build()
    wg.run(provenance=False)
    assert time.perf_counter() - start >= 0.2
    assert wg.outputs.result.value == 1 and _calls["slow"] == 3


def test_retries_in_both_lanes_and_without_provenance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERROFLOW_FAST_LANE", "1")
    # the retried task takes the general lane; its consumer reads its output from there
    assert flaky.needs_runner and not plus_one.needs_runner

    @task.graph
    def g(x: int) -> int:
        return plus_one(x=plus_one(x=flaky(x=x).result).result).result

    wg = g.build(x=1)
    wg.run(provenance=False)
    assert wg.outputs.result.value == 12


def test_bad_arguments_are_refused() -> None:
    def f() -> int:
        return 1

    with pytest.raises(ValueError, match="retries must be an int"):
        task(retries=-1)(f)
    with pytest.raises(TypeError, match="retry_on must be an exception class"):
        task(retries=1, retry_on=(ValueError, "x"))(f)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backoff"):
        task(retries=1, backoff=-1)(f)
    with pytest.raises(ValueError, match="timeout"):
        task(timeout=0)(f)

"""A run cancelled while a task waits to retry (error handlers themselves, on every backend:
tests/policies/test_error_handlers.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from ferroflow import RunTimeoutError, load_node, task
from ferroflow.errors import RetryCancelledError

seen: list[Any] = []
_lock = threading.Lock()


@pytest.fixture(autouse=True)
def _reset() -> None:
    seen.clear()


attempts: list[float] = []


@task(retries=5, backoff=30.0)
def patient(x: int) -> int:
    attempts.append(time.monotonic())
    raise ConnectionError("the service is down")


@task
def quick(x: int) -> int:
    return x + 1


def test_cancel_while_waiting_to_retry_stops_at_once() -> None:
    attempts.clear()

    @task.graph
    def g(x: int) -> int:
        quick(x=x)
        return quick(x=patient(x=x).result).result

    wg = g.build(1)
    started = time.monotonic()
    with pytest.raises(RunTimeoutError):
        wg.run(timeout=0.5)
    elapsed = time.monotonic() - started
    assert len(attempts) == 1  # no second attempt after the cancel
    assert elapsed < 25, f"the run waited for the 30 s backoff ({elapsed:.1f} s)"
    node = wg.tasks.patient
    assert node.state == "CANCELLED" and isinstance(node.error, RetryCancelledError)
    stored = load_node(node.pk)
    assert stored.state == "CANCELLED" and "cancelled before attempt 2" in (stored.error or "")
    assert load_node(wg.pk).state == "CANCELLED"
    assert wg.tasks.quick1.state == "CANCELLED"  # its dependent: cancelled, not skipped

"""``@task(timeout=s)``: the policy runs on every backend in tests/policies/test_timeouts.py;
what is left here moves to the failure-propagation suite."""

from __future__ import annotations

import pytest
from ferroflow import WorkflowFailedError, task


@task
def plus_one(x: float) -> float:
    return x + 1


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

"""``@task(timeout=s)`` on every backend: an attempt over its time fails with
:class:`TaskTimeoutError` naming the task and its timeout, its dependents are skipped,
independent tasks finish, the run does not wait for the abandoned call, a timed-out attempt is
retried like any failure (its late result discarded), and a TimeoutError the body raises itself
is an ordinary error.

The bodies meant to time out wait at a gate the test opens only after the run (:mod:`policies.
tally`), so "the run did not wait for the call" is read from what the body noted, not from a
clock; the bodies meant to finish have timeouts far beyond what they need."""

from __future__ import annotations

from typing import Any

import pytest
from ferroflow import NotRunError, TaskTimeoutError, WorkflowFailedError, load_node, task

from policies.backends import Backend, when
from policies.tally import count, open_gate


def test_a_task_over_its_timeout_fails_while_independent_tasks_finish(backend: Backend) -> None:
    f = backend.flows
    gate = backend.gate()

    @task.graph
    def g() -> Any:
        late = f.plus_one(x=f.held(gate=gate, x=1).result)
        for i in range(4):
            f.quick(x=i)
        return late.result

    wg = g.build()
    with pytest.raises(WorkflowFailedError, match="1 task") as info:
        backend.run(wg)
    marks = backend.marks(gate)
    assert "started" in marks and "returned" not in marks, "the run ended while the body waited"

    error = info.value.failed["g/held"]
    assert list(info.value.failed) == ["g/held"]
    assert isinstance(error, TaskTimeoutError) and isinstance(error, TimeoutError)
    assert "task 'g/held' ran past its timeout of 0.5 s" in str(error)
    assert wg.tasks.held.state == "FAILED"
    with pytest.raises(NotRunError, match="failed"):
        wg.tasks.held.outputs.result.value  # noqa: B018
    assert wg.tasks.plus_one.state == "SKIPPED"
    assert [wg.tasks[f"quick{i or ''}"].state for i in range(4)] == ["FINISHED"] * 4
    stored = load_node(wg.tasks.held.pk)
    assert stored.state == "FAILED" and "TaskTimeoutError" in (stored.error or "")
    assert "ran past its timeout of 0.5 s" in (stored.error or "")
    assert stored.outputs == []

    marks = backend.release(gate)
    # a sync body on a thread cannot be stopped: it goes on and ends when the gate opens; a
    # coroutine is cancelled at its deadline; a worker process is killed at it, so its body
    # never leaves the gate. Either way its result goes nowhere.
    assert marks.count("started") == 1
    assert marks.count("left") == (0 if backend.stops_bodies else 1)
    assert wg.tasks.held.state == "FAILED" and load_node(wg.tasks.held.pk).state == "FAILED"


def test_a_task_within_its_timeout_finishes_and_its_errors_pass_through(
    backend: Backend,
) -> None:
    f = backend.flows

    @task.graph
    def g() -> Any:
        f.raises(x=1)
        f.own_timeout()
        return f.plus_one(x=f.timed_plus_one(x=0.5).result).result

    wg = g.build()
    with pytest.raises(WorkflowFailedError, match="2 task") as info:
        backend.run(wg)
    assert wg.outputs.result.value == 2.5
    assert wg.tasks.timed_plus_one.state == "FINISHED"
    raised = info.value.failed["g/raises"]
    assert type(raised) is ValueError and str(raised) == "inside the timed body (1)"
    own = info.value.failed["g/own_timeout"]
    assert isinstance(own, TimeoutError) and not isinstance(own, TaskTimeoutError), (
        "a TimeoutError the body raised itself is not the deadline"
    )
    stored = load_node(wg.tasks.raises.pk)
    assert stored.state == "FAILED" and "ValueError: inside the timed body (1)" in (
        stored.error or ""
    )
    assert "in raises" in (stored.error or ""), "the body's traceback is stored"


def test_a_timed_out_attempt_is_retried_and_its_late_result_discarded(backend: Backend) -> None:
    f = backend.flows
    calls, gate = backend.path("calls"), backend.gate()

    @task.graph
    def g() -> int:
        return f.plus_one(x=f.slow_then_fast(counter=calls, gate=gate).result).result

    wg = g.build()
    first: list[int] = []

    def second_attempt_started() -> bool:
        pk = wg.tasks.slow_then_fast.pk  # a new process node for each attempt
        if pk is not None and not first:
            first.append(pk)
        return pk is not None and pk != first[0]

    # attempt 1 ends once attempt 2 has begun: a late result, during the run. (On Dask the
    # worker thread attempt 1 holds looks free once its future is cancelled, so a later task,
    # here plus_one, may be placed behind it and wait for it to end.)
    stop = when(second_attempt_started, lambda: open_gate(gate))
    try:
        backend.run(wg)
    finally:
        stop()
    assert wg.outputs.result.value == 3, "attempt 2's value (2), not attempt 1's late 1"
    assert count(calls) == 2
    attempts = [n for n in load_node(wg.pk).called if n.type.endswith(".slow_then_fast")]
    assert [(n.label, n.state) for n in attempts] == [
        ("slow_then_fast", "FAILED"),
        ("slow_then_fast_attempt2", "FINISHED"),
    ]
    assert attempts[0].pk == first[0]
    assert "TaskTimeoutError" in (attempts[0].error or "")
    assert "ran past its timeout of 2 s" in (attempts[0].error or "")
    assert [label for lt, label, _ in attempts[0].outputs if lt == "CREATE"] == []
    assert wg.tasks.slow_then_fast.pk == attempts[1].pk
    assert wg.tasks.plus_one.state == "FINISHED"

    marks = backend.release(gate)
    # a sync body on a thread returned its 1 when the gate opened (discarded); a coroutine was
    # cancelled; a worker process was killed at the deadline, its body never leaving the gate
    assert marks.count("started") == 1
    assert marks.count("left") == (0 if backend.stops_bodies else 1)
    assert ("returned" in marks) == (backend.name not in ("async", "processes"))
    assert wg.outputs.result.value == 3
    assert [n.state for n in attempts] == [load_node(n.pk).state for n in attempts]
    assert [label for lt, label, _ in load_node(attempts[0].pk).outputs if lt == "CREATE"] == []

"""Cancelling a run (``run(timeout=)``, Ctrl-C) on every backend: it ends CANCELLED, finished
results stay stored, tasks that had not started are CANCELLED (not SKIPPED), a graph task
waiting for its tasks is stored CANCELLED, and a task waiting to retry makes no further attempt
and ends CANCELLED with a :class:`RetryCancelledError`.

Where the backends differ, by design, the parametrisation (or ``backend.abandons_calls``) says
so: calls pending on the run's event loop or on Dask are abandoned (CANCELLED), and calls in a
local worker process are stopped with their process (CANCELLED), while a sync call running on a
local worker thread cannot be stopped, so the run lets it finish and starts nothing after it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from ferroflow import RunTimeoutError, load_node, task
from ferroflow.errors import RetryCancelledError

from policies.backends import Backend, interrupt_when, only, when
from policies.tally import await_gate, count, marks_of, note, open_gate

#: how a test cancels its run
HOW = ["timeout", "ctrl-c"]


@task
async def cancelled_sign(gate: str) -> None:
    """Waits at ``gate`` on the run's event loop (the same loop on every backend). A cancelled
    run stops starting tasks, then cancels every coroutine pending on its loop: marks
    ``started``, ``left`` without ``returned`` are the public sign that the run was cancelled
    (a test lets a blocked sync body go on only then, else a dependent could start first)."""
    marks = marks_of(gate)
    note(marks, "started")
    try:
        if await await_gate(gate):
            note(marks, "returned")
    finally:
        note(marks, "left")


def _stored_states(wg: Any) -> dict[str, str]:
    return {n.label: n.state for n in load_node(wg.pk).called}


def _check_retry_cancelled(wg: Any, name: str, calls: str) -> None:
    """``name`` failed once, then the run was cancelled while it waited for attempt 2."""
    assert count(calls) == 1, "no attempt after the cancel"
    node = wg.tasks[name]
    assert node.state == "CANCELLED"
    attempts = [n for n in load_node(wg.pk).called if n.type.endswith(f".{name}")]
    assert [(n.label, n.state) for n in attempts] == [(name, "CANCELLED")], (
        "no node for an attempt never made"
    )
    assert attempts[0].pk == node.pk
    # its dependent never started: CANCELLED (a cancelled input), not SKIPPED
    assert wg.tasks.plus_one1.state == "CANCELLED" and wg.tasks.plus_one1.pk is None
    assert wg.tasks.plus_one.state == "FINISHED", "the independent task finished first"
    assert wg.state == "CANCELLED" and load_node(wg.pk).state == "CANCELLED"
    assert _stored_states(wg) == {"plus_one": "FINISHED", name: "CANCELLED"}


def _check_retry_cancelled_error(backend: Backend, wg: Any, name: str) -> None:
    """The cancelled task's error says so, naming the attempt it did not make and the last
    failure; its stored node has the text."""
    node = wg.tasks[name]
    assert isinstance(node.error, RetryCancelledError)
    assert str(node.error) == (
        f"task 'g/{name}': the run was cancelled before attempt 2; attempt 1 failed with "
        f"ConnectionError: the service is down"
    )
    assert load_node(node.pk).error == str(node.error)


def test_a_run_timeout_while_a_task_waits_to_retry_makes_no_further_attempt(
    backend: Backend,
) -> None:
    f = backend.flows
    calls = backend.path("calls")

    @task.graph
    def g() -> Any:
        f.plus_one(x=0)
        return f.plus_one(x=f.backs_off(counter=calls).result).result

    wg = g.build()
    # attempt 1 fails at once; the timeout (2 s) falls in the 4 s backoff before attempt 2
    with pytest.raises(RunTimeoutError, match=r"cancelled after its timeout of 2\.0 s") as info:
        backend.run(wg, timeout=2.0)
    assert f"finished results are stored (run pk {wg.pk})" in str(info.value)
    _check_retry_cancelled(wg, "backs_off", calls)

    # past the end of the backoff nothing was submitted either (on Dask: no timer fired)
    due = Path(calls).stat().st_mtime + 4.0
    time.sleep(max(0.0, due - time.time()) + 0.5)
    _check_retry_cancelled(wg, "backs_off", calls)
    _check_retry_cancelled_error(backend, wg, "backs_off")


def test_ctrl_c_while_a_task_waits_to_retry_stops_the_wait_at_once(backend: Backend) -> None:
    f = backend.flows
    calls = backend.path("calls")

    @task.graph
    def g() -> Any:
        f.plus_one(x=0)
        return f.plus_one(x=f.patient(counter=calls).result).result

    wg = g.build()
    # Ctrl-C 1 s after attempt 1 began (it fails at once), well inside the 60 s backoff
    stop = interrupt_when(lambda: count(calls) >= 1, after=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            backend.run(wg)
    finally:
        stop()
    elapsed = time.monotonic() - started
    assert elapsed < 30, f"the run waited for the 60 s backoff ({elapsed:.1f} s)"
    _check_retry_cancelled(wg, "patient", calls)
    _check_retry_cancelled_error(backend, wg, "patient")


def _pending_graph(f: Any, gate: str, n: int) -> Any:
    @task.graph
    def g() -> None:
        for i in range(n):
            f.plus_one(x=f.blocked(gate=gate, x=f.plus_one(x=i).result).result)

    return g


def _blocked(wg: Any, n: int) -> list[Any]:
    return [wg.tasks[f"blocked{i or ''}"] for i in range(n)]


def _started(backend: Backend, *gates: str) -> bool:
    """A body started waiting at each of ``gates``."""
    return all("started" in backend.marks(gate) for gate in gates)


def _cancel(backend: Backend, wg: Any, how: str, ready: Any) -> None:
    """Run ``wg`` and cancel it (``how``) once ``ready()`` holds."""
    if how == "timeout":
        with pytest.raises(RunTimeoutError):
            backend.run(wg, timeout=2.0)
        assert ready(), "the run timed out before the calls it should cancel had started"
        return
    stop = interrupt_when(ready, after=0.2)
    try:
        with pytest.raises(KeyboardInterrupt):
            backend.run(wg)
    finally:
        stop()


@only(
    "async",
    "dask",
    "processes",
    why="a sync call on a local worker thread cannot be stopped: the run lets it finish "
    "(test_a_cancelled_run_lets_running_local_calls_finish_and_starts_nothing_after)",
)
@pytest.mark.parametrize("how", HOW)
def test_a_cancelled_run_abandons_calls_pending_on_its_backend(backend: Backend, how: str) -> None:
    f = backend.flows
    gate, n = backend.gate(), 3
    wg = _pending_graph(f, gate, n).build()

    def all_pending() -> bool:
        # every blocked task started (submitted to the loop or to Dask), one body is at the gate
        return all(t.pk is not None for t in _blocked(wg, n)) and "started" in backend.marks(gate)

    _cancel(backend, wg, how, all_pending)
    assert "returned" not in backend.marks(gate), "the run ended while the calls were pending"
    ups = [wg.tasks[f"plus_one{2 * i or ''}"] for i in range(n)]
    downs = [wg.tasks[f"plus_one{2 * i + 1}"] for i in range(n)]
    assert [t.state for t in ups] == ["FINISHED"] * n
    assert [t.state for t in _blocked(wg, n)] == ["CANCELLED"] * n
    assert [t.state for t in downs] == ["CANCELLED"] * n and all(t.pk is None for t in downs)
    assert wg.state == "CANCELLED" and load_node(wg.pk).state == "CANCELLED"
    stored = _stored_states(wg)
    assert sorted(stored.values()) == ["CANCELLED"] * n + ["FINISHED"] * n
    assert all(load_node(t.pk).state == "CANCELLED" for t in _blocked(wg, n))

    backend.release(gate)  # what still ran on a worker ends now: nothing of it is recorded
    assert _stored_states(wg) == stored
    assert all(load_node(t.pk).outputs == [] for t in _blocked(wg, n))


@only(
    "fast",
    "general",
    why="calls pending on the event loop or on Dask, or in a worker process, are abandoned instead "
    "(test_a_cancelled_run_abandons_calls_pending_on_its_backend)",
)
@pytest.mark.parametrize("how", HOW)
def test_a_cancelled_run_lets_running_local_calls_finish_and_starts_nothing_after(
    backend: Backend, how: str
) -> None:
    f = backend.flows
    gate, sign = backend.gate(), backend.gate("sign")

    @task.graph
    def g() -> None:
        cancelled_sign(gate=sign)
        f.plus_one(x=f.blocked(gate=gate, x=f.plus_one(x=0).result).result)

    wg = g.build()
    # the body at the gate goes on once the run is cancelled
    stop = when(lambda: "left" in backend.marks(sign), lambda: open_gate(gate))
    try:
        _cancel(backend, wg, how, lambda: _started(backend, gate, sign))
    finally:
        stop()
    assert backend.marks(sign) == ["started", "left"], "the run cancelled the coroutine"
    assert backend.marks(gate) == ["started", "returned", "left"], "it ran to its end"
    assert wg.tasks.plus_one.state == "FINISHED"
    assert wg.tasks.blocked.state == "FINISHED" and wg.tasks.blocked.outputs["result"].value == 1
    assert wg.tasks.plus_one1.state == "CANCELLED" and wg.tasks.plus_one1.pk is None
    assert wg.tasks.cancelled_sign.state == "CANCELLED"
    assert wg.state == "CANCELLED" and load_node(wg.pk).state == "CANCELLED"
    assert _stored_states(wg) == {
        "cancelled_sign": "CANCELLED",
        "plus_one": "FINISHED",
        "blocked": "FINISHED",
    }
    stored = load_node(wg.tasks.blocked.pk)
    assert [(lt, label) for lt, label, _ in stored.outputs] == [("CREATE", "result")]


@pytest.mark.parametrize("how", HOW)
def test_a_graph_task_waiting_for_its_tasks_when_cancelled_is_stored_cancelled(
    backend: Backend, how: str
) -> None:
    f = backend.flows
    gate, sign = backend.gate(), backend.gate("sign")

    @task.graph
    def inner(n: int) -> int:
        return f.plus_one(x=f.blocked(gate=gate, x=n).result).result

    @task.graph
    def outer(n: int) -> int:
        cancelled_sign(gate=sign)
        return inner(n=n).result

    wg = outer.build(1)
    # a local body at the gate goes on once the run is cancelled; elsewhere it was abandoned
    stop = when(lambda: "left" in backend.marks(sign), lambda: open_gate(gate))
    try:
        _cancel(backend, wg, how, lambda: _started(backend, gate, sign))
    finally:
        stop()
    graph_task = wg.tasks.inner
    assert graph_task.state == "CANCELLED"
    assert graph_task.pk is not None, "it had started: it expanded before the cancel"
    assert load_node(graph_task.pk).state == "CANCELLED"
    assert wg.state == "CANCELLED" and load_node(wg.pk).state == "CANCELLED"
    tasks = {t.name: t for t in wg.all_tasks()}
    assert tasks["plus_one"].state == "CANCELLED" and tasks["plus_one"].pk is None
    blocked = tasks["blocked"]
    if backend.abandons_calls:
        assert blocked.state == "CANCELLED"
    else:
        assert blocked.state == "FINISHED" and blocked.outputs["result"].value == 1
    assert load_node(blocked.pk).state == blocked.state
    stored = {n.label: n.state for n in load_node(graph_task.pk).called}
    assert stored == {"blocked": blocked.state}, "nothing started after the cancel"

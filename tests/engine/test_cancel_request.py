"""A cancel request in the store (what ``ferroflow runs cancel`` writes) stops a run of this
process as Ctrl-C does: the running body finishes and is stored, nothing else starts, the run
ends CANCELLED and ``run()`` raises :class:`RunCancelledError` (also with
``raise_on_error=False``). Gated by events, not timing: the one running body waits until the
test has seen the core cancelled. (Through the CLI, on a run in another process:
tests/cli/test_cli_runs.py.)"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from ferroflow import WorkGraph, load_profile, task
from ferroflow.engine import cancel_watch
from ferroflow.engine.cancel_watch import watching
from ferroflow.errors import RunCancelledError
from ferroflow.store import Store

started = threading.Event()
release = threading.Event()


@task
def gate(x: int) -> int:
    started.set()
    assert release.wait(60), "the test never released the running body"
    return x


@task
def plus(x: int) -> int:
    return x + 1


@task.graph
def chain(x: int) -> int:
    return plus(x=plus(x=gate(x=x).result).result).result


@task.graph
def single(x: int) -> int:
    return plus(x=x).result


def _run_in_thread(wg: WorkGraph, **kwargs: object) -> tuple[threading.Thread, list[BaseException]]:
    raised: list[BaseException] = []

    def target() -> None:
        try:
            wg.run(max_workers=2, **kwargs)  # type: ignore[arg-type]
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, raised


@pytest.mark.parametrize("raise_on_error", [True, False])
def test_a_cancel_request_stops_a_run_of_this_process(raise_on_error: bool) -> None:
    started.clear()
    release.clear()
    store = load_profile().store
    wg = chain.build(1)
    thread, raised = _run_in_thread(wg, raise_on_error=raise_on_error)
    try:
        assert started.wait(60)
        assert wg.pk is not None
        store.request_cancel(wg.pk)
        core = wg._execution.core  # type: ignore[union-attr]
        deadline = time.monotonic() + 60
        while not core.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)
        assert core.cancelled  # the watcher saw the request
    finally:
        release.set()
        thread.join(60)
    assert len(raised) == 1 and isinstance(raised[0], RunCancelledError)
    assert f"ferroflow runs cancel {wg.pk}" in str(raised[0])
    assert wg.state == "CANCELLED"
    assert [t.state for t in wg.all_tasks()] == ["FINISHED", "CANCELLED", "CANCELLED"]
    run = store.load_node(wg.pk)
    assert run.state == "CANCELLED"
    assert [(c.label, c.state) for c in run.called] == [("gate", "FINISHED")]
    with sqlite3.connect(store.path) as conn:  # served: the request went with the run's end
        assert conn.execute("SELECT count(*) FROM cancel_request").fetchone() == (0,)
    again = chain.build(2)  # the next run of this process is not cancelled
    release.set()
    again.run()
    assert again.outputs.result.value == 4


def test_the_watcher_cancels_only_the_run_asked_once_while_watched() -> None:
    """One poll of the watcher (what its thread does every 0.5 s): a request for another run
    (or another store's run of the same pk) cancels nothing, the run's own cancels it once,
    and a run no longer watched is never cancelled."""
    store = load_profile().store
    other = Store.open(store.path.with_name("other.sqlite"))
    calls: list[str] = []
    with (
        watching(store, 7, lambda: calls.append("seven")),
        watching(other, 8, lambda: calls.append("eight")),
    ):
        store.request_cancel(8)
        cancel_watch._watcher.poll_once()
        assert calls == []
        store.request_cancel(7)
        cancel_watch._watcher.poll_once()
        cancel_watch._watcher.poll_once()
        assert calls == ["seven"]
    other.request_cancel(8)
    cancel_watch._watcher.poll_once()
    assert calls == ["seven"]  # no longer watched
    other.close()


def test_a_run_started_while_the_watcher_sleeps_idle_is_still_watched() -> None:
    """The watcher's thread waits on a condition while nothing is watched, and a new run wakes
    it only then (runs starting while it polls need no wake-up): a run started after the thread
    went idle must still get its cancel request."""
    started.clear()
    release.clear()
    store = load_profile().store
    single.build(1).run()  # the watcher thread exists, watched this run, and goes idle
    watcher = cancel_watch._watcher
    deadline = time.monotonic() + 60
    while not watcher.idle and time.monotonic() < deadline:
        time.sleep(0.01)
    assert watcher.idle
    wg = chain.build(1)
    thread, raised = _run_in_thread(wg)
    try:
        assert started.wait(60)
        assert wg.pk is not None
        store.request_cancel(wg.pk)
        core = wg._execution.core  # type: ignore[union-attr]
        deadline = time.monotonic() + 60
        while not core.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)
        assert core.cancelled  # the idle watcher was woken and saw the request
    finally:
        release.set()
        thread.join(60)
    assert len(raised) == 1 and isinstance(raised[0], RunCancelledError)

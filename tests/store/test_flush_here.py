"""``Store.flush()`` commits on the calling thread when the writer thread is idle (a small
run's final flush: no round trip to the writer, see ``BatchWriter.flush``).

What must hold: the rows are committed by the caller and seen by another connection at
return; a flush that finds the writer thread draining leaves the commit to it; a Ctrl-C that
arrives while the caller holds rows it took off the queue is raised only after they are
committed (:mod:`ferroflow.store.interrupts`); and the store, its writer kept warm between
runs, commits each run at its return, a failed run and a failed row included. Every test runs
once per committer (tests/conftest.py).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ferroflow import get_current_profile, task
from ferroflow.demo import ScatterGatherSquare
from ferroflow.errors import StoreWriteError
from ferroflow.model.data import DataNode
from ferroflow.store import Store, graph_read
from ferroflow.store.interrupts import call_holding_interrupts
from ferroflow.store.rows import OP_FLUSH
from ferroflow.store.schema import STATE_CODES
from layer_query import file_query

pytestmark = pytest.mark.usefixtures("writer")


def _values(path: Path, pks: list[int]) -> list[str]:
    """The stored values of ``pks`` as another connection sees them (committed rows only)."""
    with file_query(path) as query:
        parts = graph_read.value_parts(query, pks)
    return [parts[pk][1] if pk in parts else None for pk in pks]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "prov.sqlite")
    yield s
    s.close()


def _committing_threads(store: Store) -> list[str]:
    """Wrap the store's committer so that each commit notes the name of its thread."""
    writer = store._writer
    names: list[str] = []
    real = writer._committer

    class Noting:
        name = real.name

        def commit(self, batch: Any) -> Any:
            names.append(threading.current_thread().name)
            return real.commit(batch)

        def __getattr__(self, attr: str) -> Any:
            return getattr(real, attr)

    writer._committer = Noting()  # type: ignore[assignment]
    return names


def test_a_flush_commits_on_the_calling_thread_when_the_writer_is_idle(store: Store) -> None:
    names = _committing_threads(store)
    pks = [store.record_data(DataNode(f"value {i}")) for i in range(5)]
    store.flush()
    assert names == [threading.current_thread().name]
    assert _values(store.path, pks) == [f'"value {i}"' for i in range(5)]


def test_a_flush_that_finds_the_writer_draining_leaves_the_commit_to_it(store: Store) -> None:
    names = _committing_threads(store)
    writer = store._writer
    taken = threading.Event()
    release = threading.Event()

    def drain_elsewhere() -> None:  # as the writer thread does while it commits a batch
        with writer._drain_lock:
            taken.set()
            release.wait(10)

    holder = threading.Thread(target=drain_elsewhere)
    holder.start()
    taken.wait(10)
    pks = [store.record_data(DataNode(i)) for i in range(3)]
    flusher = threading.Thread(target=store.flush)
    flusher.start()
    while not any(type(row) is tuple and row[0] == OP_FLUSH for row in writer.queue):
        threading.Event().wait(0.001)  # the flush's marker is queued: it took the other path
    assert _values(store.path, pks) == [None, None, None]
    release.set()
    holder.join()
    flusher.join(10)
    assert not flusher.is_alive()
    assert names == [writer._thread.name]  # the writer thread committed, not the flusher
    assert _values(store.path, pks) == ["0", "1", "2"]


def test_ctrl_c_while_the_caller_commits_is_raised_after_the_rows_are_stored(
    store: Store,
) -> None:
    writer = store._writer
    real = writer._rows

    class InterruptedPrepare:  # a real SIGINT, after the rows were taken off the queue
        def prepare(self, rows: Any) -> Any:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # bytecodes: where Python runs signal handlers
                pass
            return real.prepare(rows)

    writer._rows = InterruptedPrepare()  # type: ignore[assignment]
    pks = [store.record_data(DataNode(f"kept {i}")) for i in range(4)]
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # even if inherited off
    try:
        with pytest.raises(KeyboardInterrupt):
            store.flush()
    finally:
        signal.signal(signal.SIGINT, previous)
        writer._rows = real
    assert _values(store.path, pks) == [f'"kept {i}"' for i in range(4)]
    assert not writer.queue
    assert signal.getsignal(signal.SIGINT) is previous


def test_interrupts_are_held_only_while_the_call_runs() -> None:
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        seen: list[object] = []
        call_holding_interrupts(lambda: seen.append(signal.getsignal(signal.SIGINT)))
        assert seen[0] is not signal.default_int_handler  # noted, not raised, meanwhile
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        with pytest.raises(ZeroDivisionError):  # an error of the call passes through
            call_holding_interrupts(lambda: seen.append(1 / 0))
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


@task
def boom(x: int) -> int:
    """Fails on purpose."""
    raise ValueError(f"boom {x}")


@task.graph
def fails(x: int) -> int:
    return boom(x=x).result


def _states(path: Path, pks: list[int]) -> list[int | None]:
    state = graph_read.NODE_ROW_COLUMNS.index("state")
    with file_query(path) as query:
        rows = graph_read.node_rows(query, pks)
    return [rows[pk][state] if pk in rows else None for pk in pks]


def test_a_warm_writer_commits_each_run_at_its_return_after_a_failed_run_and_row() -> None:
    store = get_current_profile().store
    runs: list[int] = []
    finished, failed = STATE_CODES["FINISHED"], STATE_CODES["FAILED"]
    for n in (3, 4):
        wg = ScatterGatherSquare.build(n)
        wg.run()
        assert wg.pk is not None
        runs.append(wg.pk)
        assert _states(store.path, runs) == [finished] * len(runs)
    bad = fails.build(1)
    bad.run(raise_on_error=False)
    assert bad.pk is not None
    assert _states(store.path, [bad.pk]) == [failed]  # stored at return
    store._writer.limit_length(1000)  # a row SQLite refuses, on the same warm writer
    store.record_data(DataNode("x" * 2000))
    with pytest.raises(StoreWriteError):
        store.flush()
    store._writer.limit_length(1_000_000)
    wg = ScatterGatherSquare.build(2)
    wg.run()
    assert wg.pk is not None and wg.outputs.result.value == 5
    assert _states(store.path, [*runs, wg.pk]) == [finished] * 3

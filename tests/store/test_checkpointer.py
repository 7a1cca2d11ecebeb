"""The WAL is copied into the store's file by a thread of its own (``store/checkpointer.py``),
not by the writer in the middle of its commits.

What must hold: the copy happens (committed pages reach the database file while the WAL is far
below the writer's backstop), every row stays readable meanwhile and after, a checkpoint that
fails (here: another connection holding the checkpoint lock) is retried later, and closing the
store stops the thread. Every test runs once per committer (tests/conftest.py).
"""

from __future__ import annotations

import sqlite3
import threading
import time
import types
from pathlib import Path

import pytest
from ferroflow.model.data import DataNode
from ferroflow.store import Store
from ferroflow.store import checkpointer as checkpointer_module
from ferroflow.store.checkpointer import ROWS_PER_CHECKPOINT, WRITER_AUTOCHECKPOINT_PAGES

pytestmark = pytest.mark.usefixtures("writer")


def _checkpointers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.endswith("-checkpoints")]


def _wait_for(condition: object, seconds: float = 60.0) -> bool:
    """Poll ``condition()`` until it holds (a liveness wait, not a speed check)."""
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_committed_pages_reach_the_file_beside_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "prov.sqlite"
    store = Store.open(path)
    checkpointer = store._writer._checkpointer
    assert checkpointer is not None
    assert len(_checkpointers()) >= 1
    size = path.stat().st_size
    n = 3 * ROWS_PER_CHECKPOINT
    pks = [store.record_data(DataNode(f"value {i:06d} " + "x" * 40)) for i in range(n)]
    store.flush()
    # in WAL mode only a checkpoint writes the database file itself
    assert _wait_for(lambda: path.stat().st_size > size + n * 40), path.stat().st_size
    assert checkpointer.checkpoints >= 1
    wal = Path(f"{path}-wal").stat().st_size
    assert wal < WRITER_AUTOCHECKPOINT_PAGES * 4096 // 4  # far below the writer's backstop
    reader = sqlite3.connect(path)
    try:
        ((count,),) = reader.execute(
            "SELECT count(*) FROM node WHERE pk BETWEEN ? AND ?", (pks[0], pks[-1])
        ).fetchall()
    finally:
        reader.close()
    assert count == n
    store.close()
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        ((count,),) = check.execute("SELECT count(*) FROM node WHERE pk >= ?", (pks[0],)).fetchall()
    finally:
        check.close()
    assert count == n


def test_a_checkpoint_that_cannot_run_now_runs_later(tmp_path: Path) -> None:
    path = tmp_path / "prov.sqlite"
    store = Store.open(path)
    checkpointer = store._writer._checkpointer
    assert checkpointer is not None
    size = path.stat().st_size
    # another connection inside a checkpoint's lock: hold a read transaction open, so that no
    # checkpoint can copy past what it reads (SQLite then copies nothing newer)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN")
    blocker.execute("SELECT count(*) FROM node").fetchall()
    n = 2 * ROWS_PER_CHECKPOINT
    for i in range(n):
        store.record_data(DataNode(f"value {i:06d} " + "x" * 40))
    store.flush()
    assert _wait_for(lambda: checkpointer.checkpoints >= 1)
    assert path.stat().st_size < size + n * 40  # nothing past the reader's snapshot was copied
    blocker.execute("COMMIT")
    blocker.close()
    # the rows committed before are still counted as pending: the next wake copies them
    assert _wait_for(lambda: path.stat().st_size > size + n * 40), path.stat().st_size
    store.close()


def test_closing_the_store_stops_its_checkpointer(tmp_path: Path) -> None:
    before = len(_checkpointers())
    store = Store.open(tmp_path / "prov.sqlite")
    assert len(_checkpointers()) == before + 1
    store.record_data(DataNode("one value"))
    store.close()
    assert len(_checkpointers()) == before


def test_the_writer_itself_checkpoints_only_at_its_backstop(tmp_path: Path) -> None:
    path = tmp_path / "prov.sqlite"
    store = Store.open(path)
    checkpointer = store._writer._checkpointer
    assert checkpointer is not None
    checkpointer.stop()  # nobody copies the WAL now but the writer's own automatic checkpoint
    for batch in range(4):
        for i in range(5_000):
            store.record_data(DataNode(f"value {batch} {i:06d} " + "x" * 200))
        store.flush()  # several commits: SQLite's default would checkpoint past 1,000 pages
    wal = Path(f"{path}-wal").stat().st_size
    # at SQLite's default (1,000 pages) the WAL would restart from its start near 4 MB
    assert 6_000_000 < wal < WRITER_AUTOCHECKPOINT_PAGES * 4096, wal
    store.close()
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def test_a_pk_reservation_never_copies_the_wal_on_its_own_thread(tmp_path: Path) -> None:
    path = tmp_path / "prov.sqlite"
    store = Store.open(path)
    checkpointer = store._writer._checkpointer
    assert checkpointer is not None
    checkpointer.stop()
    for batch in range(4):
        for i in range(5_000):
            store.record_data(DataNode(f"value {batch} {i:06d} " + "x" * 200))
        store.flush()
    assert Path(f"{path}-wal").stat().st_size > 1_000 * 4096  # past SQLite's default
    size = path.stat().st_size
    store._pks._reserve_block(10)  # one short transaction on the pk connection
    assert path.stat().st_size == size  # it committed without copying pages into the file
    store.close()


class _FailingCheckpoints:
    """A connection whose checkpoints fail as on a full disk (counting the attempts)."""

    attempts = 0

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, *args: object) -> object:
        if "wal_checkpoint" in sql:
            type(self).attempts += 1
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def close(self) -> None:
        self._conn.close()


def test_a_failing_checkpoint_is_said_once_and_loses_no_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    shim = types.SimpleNamespace(
        connect=lambda *a, **k: _FailingCheckpoints(sqlite3.connect(*a, **k)),
        Error=sqlite3.Error,
    )
    monkeypatch.setattr(checkpointer_module, "sqlite3", shim)
    monkeypatch.setattr(_FailingCheckpoints, "attempts", 0)
    store = Store.open(tmp_path / "prov.sqlite")
    checkpointer = store._writer._checkpointer
    assert checkpointer is not None
    pks = []
    for round_ in range(2):  # two wakes, two failed checkpoints
        pks += [store.record_data(DataNode(f"v{round_} {i}")) for i in range(10)]
        store.flush()
        assert _wait_for(lambda n=round_ + 1: _FailingCheckpoints.attempts >= n)
    assert checkpointer.failed == "database or disk is full"
    said = [r for r in caplog.records if "copying the WAL" in r.getMessage()]
    assert len(said) == 1 and said[0].levelname == "WARNING"
    assert [store.load_node(pk).value for pk in pks[-2:]] == ["v1 8", "v1 9"]
    store.close()

"""Faults of the store's file during a run (disk full, the file deleted or replaced, a write lock
held too long): the run fails saying so, never FINISHED with rows missing, and what is stored
stays consistent (integrity, no link to a missing node). Both committers (``writer``)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from ferroflow import cli, load_profile, task
from ferroflow.store import (
    Store,
    StoreBusyError,
    StoreLostError,
    StoreWriteError,
    graph_read,
    schema,
)
from ferroflow.store.graph_read import NODE_ROW_COLUMNS
from layer_query import conn_query
from store_rules import both_forms, on_both

DANGLING = (
    "SELECT * FROM link WHERE src NOT IN (SELECT pk FROM node) OR dst NOT IN (SELECT pk FROM node)"
)


def assert_consistent(path: Path) -> None:
    """SQLite's integrity check passes and every link's ends exist, over both forms of a task
    run (a link into a packed row's inline node is not dangling; ``store_rules.both_forms``)."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        dangling = on_both(DANGLING) if both_forms(conn) else DANGLING
        assert conn.execute(dangling).fetchall() == []
    finally:
        conn.close()


@task
def leaf(x: int) -> int:
    time.sleep(0.001)
    return x


@task
def slow(x: int) -> int:
    time.sleep(0.5)  # past the commit interval: the run's first rows are committed meanwhile
    return x


@task.graph
def fan(base: int, n: int) -> int:
    return {f"v{i}": leaf(x=base + i).result for i in range(n)}["v0"]


@task.graph
def campaign(n: int) -> int:
    return fan(base=slow(x=0).result, n=n).result


def test_a_full_disk_fails_the_run_and_says_what_was_lost(
    writer: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # SQLite's own limit stands in for the disk: SQLITE_FULL once the file has 150 pages
    monkeypatch.setattr(schema, "EXTRA_PRAGMAS", ["PRAGMA max_page_count = 150"])
    store = load_profile().store
    assert store._writer.committer == writer
    small = campaign.build(3)
    small.run()
    big = campaign.build(3000)
    with pytest.raises(StoreWriteError, match="database or disk is full") as info:
        big.run()
    assert str(store.path) in str(info.value) and "rows" in str(info.value)
    assert big.state == "FAILED"
    assert_consistent(store.path)
    conn = sqlite3.connect(store.path)
    try:
        query = conn_query(conn)
        runs = {row[0]: row[5] for row in graph_read.top_level_runs(query)}
        big_row = graph_read.node_row(query, big.pk)
        assert big_row is not None
        error = big_row[NODE_ROW_COLUMNS.index("error")]
        (owned,) = conn.execute("SELECT count(*) FROM run_owner").fetchone()
    finally:
        conn.close()
    finished = schema.STATE_CODES["FINISHED"]
    assert runs == {small.pk: finished, big.pk: schema.STATE_CODES["FAILED"]}
    assert "database or disk is full" in error and "were not written" in error
    assert owned == 0
    # `ferroflow runs show` says what was lost
    assert cli.main(["runs", "show", str(big.pk)]) == 0
    assert "database or disk is full" in capsys.readouterr().out


@task
def lose_store(x: int, how: str) -> int:
    path = load_profile().store.path
    os.remove(path)
    if how == "replace":
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE other(x)")
        conn.close()
    return x


@task.graph
def doomed(how: str) -> int:
    return lose_store(x=leaf(x=1).result, how=how).result


@pytest.mark.parametrize("how", ["delete", "replace"])
def test_a_store_deleted_or_replaced_during_a_run_fails_it(writer: str, how: str) -> None:
    path = load_profile().store.path
    wg = doomed.build(how)
    with pytest.raises(StoreLostError, match="the store file was") as info:
        wg.run()
    assert str(path) in str(info.value)
    assert wg.state == "FAILED"
    # the next run goes to the file now at the path, opened afresh (a new one, or the other
    # file, which had no runs)
    again = campaign.build(2)
    again.run()
    store = load_profile().store
    assert not store.faulty and Store.open(path) is store
    assert [(r.pk, r.state) for r in store.runs()] == [(again.pk, "FINISHED")]


def test_a_held_write_lock_is_store_busy_naming_store_and_holder(
    writer: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "busy.sqlite"
    store = Store.open(path)
    pk = store.new_pk()  # its pk block is reserved before the lock is taken
    other = sqlite3.connect(path, isolation_level=None)
    try:
        # a ferroflow run of another process holds the lock
        other.execute("INSERT INTO run_owner VALUES (424242, 'elsewhere', 4242, '')")
        other.execute("BEGIN IMMEDIATE")
        store.record_process(pk, "0" * 32, "work", "r", "t", "RUNNING", time.time(), None)
        with pytest.raises(StoreBusyError) as info:
            store.flush()
        message = str(info.value)
        assert str(path) in message and "pid 4242 on elsewhere" in message
        assert "busy timeout (200 ms)" in message
        with pytest.raises(StoreBusyError, match="could not open the store") as opening:
            Store.open(tmp_path / "busy.sqlite")  # reopens: this one stopped writing
        assert "pid 4242 on elsewhere" in str(opening.value)
        other.execute("ROLLBACK")
        other.execute("DELETE FROM run_owner")
        other.execute("BEGIN IMMEDIATE")  # held by a process that runs no ferroflow run
        with pytest.raises(StoreBusyError, match="held by another process for"):
            Store.open(path)
    finally:
        other.close()
    assert_consistent(path)


_held: list[sqlite3.Connection] = []


@task
def take_the_lock(x: int) -> int:
    """Another connection takes the store's write lock and keeps it past the run's end."""
    path = load_profile().store.path
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("INSERT INTO run_owner VALUES (434343, 'elsewhere', 4343, '')")
    conn.execute("BEGIN IMMEDIATE")
    _held.append(conn)
    time.sleep(0.5)  # the writer meets the lock meanwhile
    return x


@task.graph
def locked_out(n: int) -> int:
    return fan(base=take_the_lock(x=leaf(x=1).result).result, n=n).result


def test_a_write_lock_held_during_a_run_fails_it_without_hanging(
    writer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 200)
    path = load_profile().store.path
    wg = locked_out.build(500)
    try:
        with pytest.raises(StoreBusyError) as info:
            wg.run()  # must end: every wait on the stopped writer is released
        (conn,) = _held
        conn.execute("ROLLBACK")
    finally:
        for conn in _held:
            conn.close()
        _held.clear()
    message = str(info.value)
    assert str(path) in message and "busy timeout (200 ms)" in message
    assert "pid 4343 on elsewhere" in message and "were not written" in message
    assert wg.state == "FAILED"
    assert_consistent(path)


class _BrokenRows:
    """A row conversion that fails whole (a bug): the batch it drained is lost."""

    def prepare(self, rows: list[object]) -> None:
        raise RuntimeError("the conversion broke")


def test_a_writer_that_loses_a_batch_releases_the_flush_waiting_on_it(
    writer: str, tmp_path: Path
) -> None:
    store = Store.open(tmp_path / "broken.sqlite")
    rows, store._writer._rows = store._writer._rows, _BrokenRows()
    raised: list[BaseException] = []
    done = threading.Event()

    def flush() -> None:
        try:
            store.flush()
        except BaseException as exc:
            raised.append(exc)
        done.set()

    try:
        pk = store.new_pk()
        store.record_process(pk, "0" * 32, "work", "r", "t", "RUNNING", time.time(), None)
        threading.Thread(target=flush, daemon=True).start()
        assert done.wait(60), "flush() waited for ever on a batch the writer had dropped"
    finally:
        store._writer._rows = rows
    (error,) = raised
    assert isinstance(error, StoreWriteError) and "the conversion broke" in str(error)
    store.close()  # nothing more to report

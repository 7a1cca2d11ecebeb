"""Faults of the store's *file* (not of a row): disk full, I/O error, a write lock held too long,
the file deleted or replaced. What the writer does about them, and why.

A row's own fault (a constraint, a value too long) loses that row: the writer replays its batch
row by row and keeps the rest. A file's fault is different: replaying would keep whichever rows
still fit (on a full disk, links whose nodes did not), and every later batch may refer to rows of
the lost one (a task's FINISHED state to its outputs, a link to a node). So the batch is lost
whole, and the store *stops writing*: every later batch is dropped and counted (a prefix of the
queue is on disk, consistent like after a SIGKILL), every ``flush()`` raises, and the run that
ends gets its node marked FAILED with the count of rows lost (:meth:`Fault.rescue`, best effort:
on a full disk an update in place usually fits; where it does not, the run stays RUNNING with
its owner row and is reaped as KILLED later, never FINISHED). A store that stopped writing
stays so until it is closed; ``Store.open`` then opens the file afresh.

Replacement is detected by identity: the writer remembers the device and inode of the file when
it opens and compares them with ``os.stat`` of the path before each batch (one ``stat`` per
batch, never per task). A missing file or another inode means the rows would go to a file no
one can open again: :class:`StoreLostError`, naming the path.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from .. import _core
from ..errors import StoreBusyError, StoreLostError, StoreWriteError
from ..model.vocabulary import STATE_CODES, State
from . import owners, schema

__all__ = [
    "FATAL_MESSAGES",
    "Fault",
    "busy_error",
    "file_identity",
    "initialise_unless_busy",
    "is_fatal",
    "mark_failed",
]

log = logging.getLogger("ferroflow.store")

#: SQLite messages that blame the file, not a row: the Rust committer's own list
#: (``FATAL_MESSAGES`` in rust/py/src/sql_writer.rs), so both committers judge an error alike.
FATAL_MESSAGES: tuple[str, ...] = _core.FATAL_MESSAGES

_FAILED = STATE_CODES[State.FAILED]
_UNFINISHED = f"({schema.sql_codes(STATE_CODES, (State.PLANNED, State.RUNNING))})"


def is_fatal(message: str) -> bool:
    """Whether an SQLite error message blames the file rather than one row."""
    return any(fatal in message for fatal in FATAL_MESSAGES)


def file_identity(path: Path) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of ``path``, or None when it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def holder(conn: sqlite3.Connection) -> str:
    """Who may hold the write lock, as far as the store knows: the ferroflow runs in progress
    in other processes (their owner rows), else "another process"."""
    host, pid, _ = owners.this_process()
    try:
        rows = conn.execute("SELECT run_pk, host, pid FROM run_owner").fetchall()
    except sqlite3.Error:
        rows = []
    others = [
        f"pid {o_pid} on {o_host} (run pk={run_pk})"
        for run_pk, o_host, o_pid in rows
        if (o_host, o_pid) != (host, pid)
    ]
    if not others:
        return "another process"
    return "another process (ferroflow runs in progress: " + ", ".join(others) + ")"


def busy_error(path: Path, conn: sqlite3.Connection, doing: str) -> StoreBusyError:
    """The error for a write lock ``conn`` waited for in vain while ``doing`` something."""
    return StoreBusyError(
        f"{path}: {doing}: the write lock was held by {holder(conn)} for longer than the busy "
        f"timeout ({schema.BUSY_TIMEOUT_MS} ms)"
    )


def initialise_unless_busy(conn: sqlite3.Connection, path: Path) -> None:
    """:func:`.schema.initialise`, raising :class:`StoreBusyError` for a held write lock."""
    try:
        schema.initialise(conn)
    except sqlite3.OperationalError as exc:
        if "database is locked" not in str(exc):
            raise
        raise busy_error(path, conn, "could not open the store") from exc


class Fault:
    """The file fault that stopped a store's writer, and the rows lost since."""

    def __init__(self, path: Path, error: StoreWriteError, cause: BaseException | None) -> None:
        self.path = path
        self.error = error
        self.cause = cause
        self.rows_lost = 0

    @classmethod
    def sqlite(cls, path: Path, conn: sqlite3.Connection, message: str) -> Fault:
        """The fault for SQLite's ``message`` (a fatal one, :func:`is_fatal`)."""
        if "database is locked" in message:
            error: StoreWriteError = busy_error(path, conn, "rows could not be written")
        else:
            error = StoreWriteError(f"{path}: {message}")
        return cls(path, error, sqlite3.OperationalError(message))

    @classmethod
    def lost(cls, path: Path) -> Fault:
        exists = os.path.exists(path)
        what = "replaced by another file" if exists else "deleted"
        return cls(path, StoreLostError(f"{path}: the store file was {what} while open"), None)

    def report(self) -> StoreWriteError:
        """The error ``flush()`` raises: the fault, and how many rows were not written."""
        error = type(self.error)(
            f"{self.error}; the store stopped writing: {self.rows_lost} rows (task runs, links,"
            " values) were not written, and the runs they belong to are incomplete",
        )
        error.__cause__ = self.cause
        return error

    def rescue(self, conn: sqlite3.Connection, run_pk: int, text: str, mtime: float) -> bool:
        """Mark run ``run_pk`` FAILED with ``text`` (:func:`mark_failed`), unless the file is
        gone (the rows would go to a file no one can open again). Returns whether it did."""
        if isinstance(self.error, StoreLostError):
            return False
        busy = isinstance(self.error, StoreBusyError)  # each try waits for the lock again
        return mark_failed(conn, self.path, run_pk, text, mtime, tries=1 if busy else 2)


def mark_failed(
    conn: sqlite3.Connection, path: Path, run_pk: int, text: str, mtime: float, tries: int = 2
) -> bool:
    """Mark run ``run_pk`` and its unfinished nodes FAILED with ``text``, and end its
    ownership, on ``conn`` (best effort: the file may be faulty, ``tries`` of the attempts
    below are made). Returns whether it did."""
    failed = "UPDATE node SET state = ?, mtime = ?"
    attempts: list[list[tuple[str, tuple[object, ...]]]] = [
        [
            (f"{failed}, error = ? WHERE pk = ?", (_FAILED, mtime, text, run_pk)),
            (f"{failed} WHERE run_pk = ? AND state IN {_UNFINISHED}", (_FAILED, mtime, run_pk)),
            (owners.RELEASE_SQL, (run_pk,)),
        ],
        # a row that grows may need a page a full disk does not have: the states alone
        [
            ("UPDATE node SET state = ? WHERE pk = ?", (_FAILED, run_pk)),
            (
                f"UPDATE node SET state = ? WHERE run_pk = ? AND state IN {_UNFINISHED}",
                (_FAILED, run_pk),
            ),
            (owners.RELEASE_SQL, (run_pk,)),
        ],
    ]
    for statements in attempts[:tries]:
        try:
            conn.execute("BEGIN IMMEDIATE")
            for sql, params in statements:
                conn.execute(sql, params)
            conn.execute("COMMIT")
            return True
        except sqlite3.Error as exc:
            log.debug("%s: marking run %s FAILED: %s", path, run_pk, exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
    return False

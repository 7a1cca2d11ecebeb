"""The background writer: one thread that turns queued rows into batched SQLite transactions.

Why a thread and a plain list:

* Recording provenance must not slow the workers. ``Store.record_*`` only builds a tuple and
  appends it to :attr:`BatchWriter.queue`; ``list.append`` is atomic under the GIL, so no lock is
  taken on the hot path and no worker ever waits for the disk.
* Every ``commit_interval`` seconds (or at once when :meth:`BatchWriter.flush` asks) the thread
  takes everything queued so far, serialises the values, and writes it all in **one**
  transaction. Batching is what makes SQLite fast (provenance.md §6:
  1k-row batches run at half the speed of 10k-row batches).
* The queue is drained by *slicing and deleting a prefix* (``rows = q[:n]; del q[:n]``) rather than
  by swapping in a new list: a thread that looked up the old list just before a swap would append
  to a list nobody reads any more, and its row would be lost. Appends only ever land after the
  prefix, so the prefix trick cannot lose rows.
* ``flush()`` appends a marker holding a held :class:`threading.Lock`, which the writer releases.
  Everything appended before the call sits before the marker in the queue, so once the writer
  has committed the batch holding the marker, all of those rows are on disk. This is correct
  with any number of threads recording and flushing at once, and needs no counter on the hot
  path.
* What the rows mean is decided in one place, ``_core.SqlWriter.prepare`` (Rust, attached): it
  reads the drained tuples (layouts in :mod:`.rows`) into a ``PreparedBatch``, with values
  encoded by :func:`.values.encode`. Two committers (:mod:`.committers`) write such a batch.
  The FFI committer runs the transaction in Rust *detached*, through the SQLite library
  Python's ``sqlite3`` uses (two copies of SQLite in one process would corrupt files):
  ``executemany`` re-takes the GIL for every row, and with busy workers that hand-off cost more
  than SQLite. Where that library cannot be proven to be Python's (see
  ``rust/py/src/sqlite.rs``), or ``FERROFLOW_PY_WRITER=1`` is set when the store opens, the
  Python committer writes the same rows with ``executemany``.
* The thread never dies silently. A failing batch is rolled back and replayed row by row, so the
  good rows still land (a link to a node that failed is left out with it: no link dangles); each
  bad row's error is kept and raised (as :class:`StoreWriteError`) from the next
  ``flush()``/``close()``. Should the thread be gone anyway, ``flush()`` drains the queue
  itself.
* A fault of the file itself (disk full, I/O error, a write lock held past the busy timeout,
  the file deleted or replaced) is not replayed: the store stops writing (see :mod:`.faults`).
* The WAL is copied into the file by a :class:`.checkpointer.Checkpointer` beside this thread,
  not by the commits here (SQLite's default): the writer bounds a run with provenance.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from .. import _core
from ..errors import StoreWriteError
from . import schema, values
from .checkpointer import WRITER_AUTOCHECKPOINT_PAGES, Checkpointer
from .committers import make_committer
from .faults import Fault, file_identity, is_fatal, mark_failed
from .rows import OP_FLUSH

__all__ = ["BatchWriter"]

log = logging.getLogger("ferroflow.store")

Row = tuple[Any, ...]

_ROW_ERRORS: dict[str, type[Exception]] = {
    "ValueError": ValueError,
    "TypeError": TypeError,
    "OverflowError": OverflowError,
    "AttributeError": AttributeError,
    "RuntimeError": RuntimeError,
    "DataError": sqlite3.DataError,
}


def _row_error(kind: str, message: str) -> Exception:
    """The exception for a row the conversion left out (``kind``: its type name)."""
    cls = _ROW_ERRORS.get(kind)
    return cls(message) if cls is not None else RuntimeError(f"{kind}: {message}")


class _Wake:
    """Wakes the writer thread: a lock held while no wake-up is pending, released by
    :meth:`set`, taken back by the thread's :meth:`wait`. Half the cost of an Event's
    Condition (a waiter lock per wait, a notify) on the path every run's final flush waits on;
    a wake-up set while the thread drains is not lost (the next wait returns at once)."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def set(self) -> None:
        try:  # noqa: SIM105 (contextlib.suppress would add a context manager to this path)
            self._lock.release()
        except RuntimeError:  # one is pending already
            pass

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a wake-up and consume it; whether one came."""
        return self._lock.acquire(timeout=timeout)


class BatchWriter:
    """Owns the write connection and the thread that commits queued rows in batches."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        commit_interval: float,
        name: str,
        durability: str = "normal",
        path: Path | None = None,
    ) -> None:
        if not commit_interval > 0:
            raise ValueError(f"commit_interval must be > 0, not {commit_interval!r}")
        #: Rows waiting to be written. Producers only ever call ``queue.append``.
        self.queue: list[Row] = []
        self._conn = conn
        self._interval = commit_interval
        self._wake = _Wake()
        self._stopping = False
        self._stopped = False
        self._drain_lock = threading.Lock()  # one drain at a time (thread or fallback)
        #: batches taken off the queue so far, and the condition :meth:`make_room` waits on
        self._taken = 0
        self._room = threading.Condition(threading.Lock())
        self._errors: list[tuple[str, BaseException]] = []
        #: copies the WAL into the file beside the writer (a file store only; see
        #: :mod:`.checkpointer`), the writer's own checkpoint kept as a backstop
        self._checkpointer = None if path is None else Checkpointer(path, f"{name}-checkpoints")
        backstop = f"PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES}"
        self._committer = make_committer(conn, durability, [backstop] if path else [])
        #: The file written, and its identity when opened: a batch finding another is not
        #: written (see :mod:`.faults`).
        self._path = path
        self._identity = file_identity(path) if path is not None else None
        #: The file fault that stopped this writer, if one did.
        self.fault: Fault | None = None
        #: whether a fast-lane task run is written as one packed ``task_run`` row (see
        #: ``docs/packed-task-runs.md``); ``FERROFLOW_PACKED=0`` keeps every run in node form
        self.packed = os.environ.get("FERROFLOW_PACKED", "1") != "0"
        self._rows = _core.SqlWriter(
            values, schema, self._committer.max_length(), packed=self.packed
        )
        #: pks of data nodes written as the repr of a value that could not be serialised, in
        #: write order (the engine reports those of its run, naming task and socket).
        self.unserialisable: list[int] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def packer(self) -> _core.SqlWriter | None:
        """The row conversion when it packs fast-lane task runs (see :meth:`Store.packer`)."""
        return self._rows if self.packed else None

    @property
    def committer(self) -> str:
        """``"ffi"`` (Rust, detached) or ``"python"`` (``executemany``): who writes batches."""
        return self._committer.name

    def limit_length(self, limit: int) -> None:
        """Set the committing connection's ``SQLITE_LIMIT_LENGTH`` (the longest string or blob,
        in bytes), which the row conversion checks rows against: tests reach the too-long
        path without 2 GiB values."""
        with self._drain_lock:
            self._committer.limit_length(limit)
            self._rows = _core.SqlWriter(
                values, schema, self._committer.max_length(), packed=self.packed
            )

    # -- producer side ------------------------------------------------------------------------
    def flush(self, raise_errors: bool = True) -> None:
        """Block until every row appended before this call is committed; raise kept errors.

        ``raise_errors=False`` (used before reads) leaves the errors for the next real flush.
        The commit stays on the writer thread, even for a small run's one batch: committed on
        the calling thread, rows taken off the queue would be lost to a Ctrl-C landing before
        their commit, and holding Ctrl-C back instead would hold it across SQLite's busy wait
        (up to the 30 s busy timeout) and the pickling of user values.
        """
        if not self._stopped:
            # A bare lock, held until the writer releases it: an Event would cost a Condition
            # and a waiter lock on both sides of every run's final flush.
            done = threading.Lock()
            done.acquire()
            self.queue.append((OP_FLUSH, done))
            self._wake.set()
            while not done.acquire(timeout=0.5):
                if not self._thread.is_alive():  # should not happen; never hang because of it
                    self._drain()
        if raise_errors:
            self.raise_errors()

    def make_room(self) -> None:
        """Backpressure: block until the writer took what is queued into a batch; it may still
        commit it while the caller fills the next one (:meth:`flush` waits for the commit)."""
        with self._room:
            taken = self._taken
            while self._taken == taken and self.queue and not self._stopped:
                self._wake.set()
                if not self._room.wait(timeout=0.5) and not self._thread.is_alive():
                    break  # should not happen; a flush() drains the queue itself then
        if not self._thread.is_alive() and not self._stopped:
            self.flush(raise_errors=False)

    def stop(self) -> None:
        """Write what is queued, stop the thread, checkpoint and close the connection."""
        if self._stopped:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join()
        with self._drain_lock:
            self._drain_locked()  # rows appended while the thread was exiting
            self._stopped = True
        if self._checkpointer is not None:
            self._checkpointer.stop()  # first: the TRUNCATE checkpoint below must not meet it
        self._committer.close()
        try:
            # Best effort and never waiting: with the 30 s busy timeout a reader's snapshot in
            # another process would stall close() and every other writer behind it.
            self._conn.execute("PRAGMA busy_timeout = 0")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:  # another process may hold a read snapshot
            log.debug("wal checkpoint at close failed: %s", exc)
        self._conn.close()

    def abandon(self) -> list[object]:
        """Forked child: forget the queue and connections without touching either; returns the
        connections, for the caller to keep referenced (closing them here, even by garbage
        collection, could release or checkpoint on the parent's behalf)."""
        self._stopped = True
        self._errors = []
        self._drain_lock = threading.Lock()
        self._room = threading.Condition(threading.Lock())
        return [self._conn, self._committer]

    @property
    def busy(self) -> bool:
        """True while rows are queued or a batch is being written."""
        return bool(self.queue) or self._drain_lock.locked()

    def raise_errors(self) -> None:
        """Raise (once) a :class:`StoreWriteError` for the failures since the last report (the
        file's fault, :class:`StoreBusyError` or :class:`StoreLostError`, where one stopped the
        writer)."""
        if not self._errors:
            return
        errors = self._errors[:]
        del self._errors[: len(errors)]
        if self.fault is not None:
            raise self.fault.report()
        messages = [message for message, _ in errors]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise StoreWriteError(
            f"provenance store: {len(errors)} row(s) could not be written: {messages[0]}{more}",
            messages,
        ) from errors[0][1]

    # -- writer thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)  # (consumes the wake: one arriving now counts)
            try:
                self._drain()
            except BaseException as exc:  # a bug in here must not kill the thread
                self._fail("writer", exc)
            if self._stopping and not self.queue:
                return

    def _drain(self) -> None:
        if not self.queue:  # the common idle wake-up: do not even take the lock
            return
        with self._drain_lock:
            self._drain_locked()

    def _drain_locked(self) -> None:
        queue = self.queue
        n = len(queue)
        if not n:
            return
        rows = queue[:n]
        del queue[:n]  # appends made meanwhile land after the prefix and stay queued
        with self._room:  # (make_room's waiters go on filling the next batch)
            self._taken += 1
            self._room.notify_all()
        try:
            batch = self._rows.prepare(rows)
        except Exception as exc:  # (a bug) the rows are lost: say so, then release flush()es
            self._fail(f"batch of {n} rows lost", exc)  # first: a released flush() raises it
            for row in rows:
                if type(row) is tuple and len(row) == 2 and row[0] == OP_FLUSH:
                    row[1].release()
            return
        try:
            unserialisable = batch.unserialisable
            for pk in unserialisable:
                log.warning("value of data node pk=%s is not serialisable; stored its repr", pk)
            self.unserialisable.extend(unserialisable)
            for what, kind, message in batch.errors:
                self._fail(what, _row_error(kind, message))
            if batch and self._stopped:
                self._fail("store closed", RuntimeError("rows recorded after close() dropped"))
            elif batch:
                self._commit(batch)
        finally:
            for marker in batch.markers:
                marker.release()

    def _commit(self, batch: _core.PreparedBatch) -> None:
        """Commit ``batch``, unless the file is faulty (then count its rows as lost)."""
        path = self._path
        if self.fault is None and path is not None and file_identity(path) != self._identity:
            self.fault = Fault.lost(path)
        if self.fault is None:
            for what, exc in self._committer.commit(batch):
                if path is not None and is_fatal(str(exc)):
                    self.fault = Fault.sqlite(path, self._conn, str(exc))
                self._fail(what, exc)
            if self.fault is not None:
                self.fault.rows_lost += len(batch)
            elif self._checkpointer is not None:
                self._checkpointer.committed(len(batch))
            return
        self.fault.rows_lost += len(batch)
        self._fail(f"batch of {len(batch)} rows not written", self.fault.error)

    def fail_run(self, run_pk: int, text: str) -> bool:
        """Rows of run ``run_pk`` were lost: mark it FAILED with ``text`` (best effort, after
        a file fault: :meth:`.faults.Fault.rescue`). Returns whether it was marked."""
        if self._stopped:
            return False
        with self._drain_lock:  # no batch is being written meanwhile
            if self.fault is not None:
                return self.fault.rescue(self._conn, run_pk, text, time.time())
            # rows of their own were lost (a value too long): the file takes the mark
            return mark_failed(self._conn, self._path or Path("?"), run_pk, text, time.time())

    def _fail(self, what: str, exc: BaseException) -> None:
        message = f"{what}: {type(exc).__name__}: {exc}"
        log.error("provenance store write failed: %s", message)
        self._errors.append((message, exc))

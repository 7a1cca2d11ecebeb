"""The :class:`Store`: the provenance database of one profile (an SQLite file).

Writing is asynchronous and cheap for the caller: ``record_*`` validate their arguments, build a
tuple and append it to the writer's queue (see :mod:`.writer`). Nothing touches the disk on the
caller's thread (except reserving the first pk block), and values are serialised later, on the
writer thread. Consequences the engine relies on:

* ``new_pk()``, ``reserve_pks()`` and ``record_*`` are safe to call from any number of threads
  (the hot path relies on the GIL: ``next()`` on a range iterator and ``list.append`` are
  atomic; a lock is taken only to switch pk blocks).
* Backpressure: a task start (``record_process``) that finds more than ``queue_limit`` entries
  queued waits until the writer has taken them into a batch (:meth:`Store.throttle`). Workers
  that outrun the writer would otherwise leave it ever further behind in a long run, and a crash
  would lose all of that; with it, at most the batch being committed and one queue's worth are
  unwritten, so finished work reaches the disk within about one commit interval. Waiting for the
  batch to be *taken*, not committed, keeps the two sides in a pipeline: the workers fill the
  next batch while the writer commits this one.
* A recorded value must not be mutated afterwards: it is serialised when its batch is written,
  up to ``commit_interval`` seconds later (AiiDA's stored nodes are immutable too).
* ``record_data`` is check-then-set on ``node._pk``: record each node object from one thread
  (e.g. the one that produced it); two threads recording the *same* new node at the same instant
  could store it twice.
* pks are unique within the file even when **several processes write it at once**: a store
  reserves blocks of consecutive pks from a counter row in the file (``schema.reserve_pks``, one
  ``BEGIN IMMEDIATE`` transaction per block, which SQLite serialises across processes) and hands
  them out from memory. Blocks start at 4096 pks and double while one lasts less than a second;
  the next block is reserved by a short-lived helper thread while the current one is in use, so
  no worker waits for the write lock (which another process's batch may hold). ``close()`` gives
  the unused tail back when no other process reserved after it, so pks stay small when one
  process at a time writes; otherwise unused pks are gaps (as after a crash). Writers of several
  processes are serialised by SQLite's lock (``busy_timeout`` 30 s); one that cannot get it in
  time gets :class:`StoreBusyError` (pks) or :class:`StoreWriteError` (rows), never a corrupt
  file. In one process, :meth:`Store.open` returns the already open instance for the same file.
* Reads (``load_node``, ``runs`` and the :class:`StoredNode` properties) flush pending writes
  first, so they see everything recorded before them.

Every open store is closed (and so flushed) by an :mod:`atexit` hook. In a child made by
``os.fork()`` the inherited stores are abandoned (marked closed, their connections and queued rows
left to the parent, which owns them): recording there raises :class:`StoreClosedError`, and
``Store.open`` in the child opens a fresh instance (both in :mod:`.open_stores`).
"""

from __future__ import annotations

import logging
import operator
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, SupportsIndex

from .. import _core
from ..errors import StoreClosedError
from ..model.names import storable_text
from . import cache_keys, cancels, open_stores, owners
from .faults import initialise_unless_busy
from .pks import PkBlocks
from .private import create_private_file, private_dir
from .reading import Link, Reader, StoredNode
from .rows import OP_DATA, OP_LINK, OP_PROCESS, OP_SQL, OP_UPDATE
from .schema import (
    KIND_CODES,
    LINK_CODES,
    STATE_CODES,
    configure_connection,
)
from .serializers import RegisteredValue
from .task_output import TaskOutput, run_outputs
from .writer import BatchWriter

if TYPE_CHECKING:
    from ..model.data import DataNode

__all__ = ["Store"]

log = logging.getLogger("ferroflow.store")

_PROCESS_KINDS = {name: code for name, code in KIND_CODES.items() if name != "data"}

_CODE_SQL = "INSERT OR IGNORE INTO code(run_pk, type, digest) VALUES (?, ?, ?)"

#: Backpressure: a task start (``record_process``) that finds more rows than this queued waits
#: until the writer has committed them. Without it a writer slower than the workers falls ever
#: further behind during a long run (2-core VM: 3.7 s behind after 4.5 s of a 78k-task run), and
#: a crash loses all of that. With it the work finished more than ~0.4 s before a SIGKILL was
#: on disk (tests/store/test_crash.py; ~0.5 s with both cores busy elsewhere). Throughput is
#: unchanged within noise (benches/overhead.py): run() waits for the same rows at its final
#: flush anyway.
_QUEUE_HIGH = 10_000
# Connections inherited over fork() are kept referenced, never closed, in the child: closing
# them there could release or checkpoint on the parent's behalf.
_inherited: list[object] = []


def _closed_append(row: tuple[Any, ...]) -> None:
    raise StoreClosedError("the provenance store is closed; nothing more can be recorded")


def _forked_append(row: tuple[Any, ...]) -> None:
    raise StoreClosedError(
        "this provenance store was opened by the parent process before fork(); "
        "call Store.open() again in the child"
    )


def _bad(what: str, value: object, allowed: Iterable[str]) -> ValueError:
    return ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")


class Store:
    """Provenance store in one SQLite file (WAL mode), written by a background thread.

    Use :meth:`Store.open`; see the module docstring for the threading contract.
    """

    path: Path
    #: Entries queued for the writer (one row each from ``record_*``) above which a task start
    #: waits for the writer (see :meth:`throttle`).
    queue_limit: int = _QUEUE_HIGH

    def __init__(self, path: Path, commit_interval: float, durability: str) -> None:
        """Open ``path`` now (use :meth:`open`, which also reuses an already open store)."""
        private_dir(path.parent)
        create_private_file(path)  # 0600 before SQLite opens it; its -wal/-shm copy the mode
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            configure_connection(conn, durability)
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("%s: journal_mode is %s, not WAL (file system?)", path, mode)
            initialise_unless_busy(conn, path)
            name = f"ferroflow-store-writer[{path.name}]"
            writer = BatchWriter(conn, commit_interval, name, durability, path)
        except BaseException:
            conn.close()
            raise
        self.path = path
        self.durability = durability
        self.commit_interval = commit_interval
        self._pks = PkBlocks(path, durability)  # (see the module docstring)
        self._writer = writer
        self._queue = writer.queue
        self._append = writer.queue.append
        self._closed = False
        self._close_lock = threading.Lock()
        try:
            self._reader = Reader(path, self._sync)
        except BaseException:
            writer.stop()
            raise

    @classmethod
    def open(
        cls, path: os.PathLike[str] | str, commit_interval: float = 0.2, durability: str = "normal"
    ) -> Store:
        """Open (creating if needed) the store at ``path``.

        ``commit_interval`` is the writer's batching period in seconds; ``durability`` is
        ``"normal"`` (``synchronous=NORMAL``: survives a process crash) or ``"full"``
        (``synchronous=FULL``: also survives power loss). If this process already has the file
        open, that instance is returned (and the two arguments are ignored).
        """
        resolved = Path(path).expanduser().resolve()
        store, opened = open_stores.get_or_open(
            resolved, lambda: cls(resolved, commit_interval, durability)
        )
        if opened:  # outside the lock: a busy file must not hold up other stores' opening
            try:
                store.reap_dead_runs()
            except Exception as exc:  # never keep a store from opening
                log.warning("%s: could not mark runs whose process died: %s", resolved, exc)
        return store

    # -- writing (hot path) -------------------------------------------------------------------
    def new_pk(self) -> int:
        """The next integer pk: thread-safe, unique in this file across restarts and across
        processes writing it at the same time (~50 ns; a block switch takes a lock)."""
        return self._pks.stream.take(1)

    def reserve_pks(self, n: int) -> int:
        """Reserve ``n`` consecutive pks and return the first (``first .. first + n - 1``).

        For handing pks to a batch of tasks at once; thread-safe, unique in the file like
        :meth:`new_pk`, and from the same stream (pks follow the order they were asked for).
        """
        return self._pks.stream.take(n)

    @property
    def pk_stream(self) -> _core.PkStream:
        """The stream :meth:`new_pk` takes from, which the fast lane's submitter takes a
        task's consecutive pks from without a Python call (``rust/py/src/submit.rs``)."""
        return self._pks.stream

    def record_data(self, node: DataNode) -> int:
        """Assign ``node`` a pk and queue its row; a no-op for an already stored node."""
        pk = node._pk
        if pk is not None:
            return pk
        pk = node._pk = self._pks.stream.take(1)
        try:
            self._append((OP_DATA, node, time.time()))
        except StoreClosedError:
            node._pk = None
            raise
        return pk

    def record_process(
        self,
        pk: int,
        uuid: str,
        kind: str,
        label: str,
        process_type: str,
        state: str,
        ctime: float,
        run_pk: int | None,
    ) -> None:
        """Queue a process node: ``kind`` ``'calc'`` (task run) or ``'work'`` (graph run).

        ``run_pk`` is the top-level graph run; ``None`` means this node *is* that run.
        """
        try:
            kind_code = _PROCESS_KINDS[kind]
        except KeyError:
            raise _bad("process kind", kind, _PROCESS_KINDS) from None
        try:
            state_code = STATE_CODES[state]
        except KeyError:
            raise _bad("state", state, STATE_CODES) from None
        run = pk if run_pk is None else run_pk
        if len(self._queue) > self.queue_limit:
            self.throttle()
        self._append((OP_PROCESS, pk, uuid, kind_code, label, process_type, state_code, ctime, run))

    def update_process(self, pk: int, state: str, mtime: float, error: str | None = None) -> None:
        """Queue a state change of process ``pk`` (``error`` replaces the stored error text,
        any lone surrogate in it escaped: :func:`.names.storable_text`)."""
        if error is not None:
            error = storable_text(error)
        try:
            state_code = STATE_CODES[state]
        except KeyError:
            raise _bad("state", state, STATE_CODES) from None
        self._append((OP_UPDATE, state_code, mtime, error, pk))

    def record_link(self, src_pk: int, dst_pk: int, link_type: str, label: str) -> None:
        """Queue a link ``src --link_type/label--> dst`` (AiiDA rules are the engine's job)."""
        try:
            code = LINK_CODES[link_type]
        except KeyError:
            raise _bad("link type", link_type, LINK_CODES) from None
        self._append((OP_LINK, src_pk, dst_pk, code, label))

    # -- caching (see ferroflow.engine.caching and ferroflow.restart) ----------------------
    def mark_cache(self, pk: int, key: bytes, cached_from: int | None = None) -> None:
        """Queue the cache key of task run ``pk`` and, for a cache hit, the pk it reused."""
        for sql, params in cache_keys.mark(pk, key, cached_from):
            self._append((OP_SQL, sql, params))

    def record_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Queue ready-made ``OP_SQL`` rows (a node's label or extras, :mod:`.annotations`)."""
        for row in rows:
            self._append(row)

    def record_code(self, run_pk: int, process_type: str, digest: bytes) -> None:
        """Queue the code digest of a task function run ``run_pk`` used."""
        self._append((OP_SQL, _CODE_SQL, (run_pk, process_type, digest)))

    # -- run owners (see ferroflow.store.owners) ----------------------------------------------
    def claim_run(self, run_pk: int) -> None:
        """Queue this process as the owner of top-level run ``run_pk``. Call it *before* the
        run's node is recorded: the writer commits in queue order, so a committed run node then
        always has its owner row."""
        self._append((OP_SQL, owners.CLAIM_SQL, (run_pk, *owners.this_process())))

    def release_run(self, run_pk: int) -> None:
        """Queue the end of run ``run_pk``'s ownership (its end state is recorded), and of a
        cancel request for it (:mod:`.cancels`)."""
        self._append((OP_SQL, owners.RELEASE_SQL, (run_pk,)))
        self._append((OP_SQL, cancels.CLEAR_SQL, (run_pk,)))

    def request_cancel(self, run_pk: int) -> None:
        """Ask the process running ``run_pk`` to stop it (committed on return; :mod:`.cancels`)."""
        self._append((OP_SQL, cancels.REQUEST_SQL, (run_pk, time.time())))
        self.flush()

    def cancel_requests(self) -> set[int]:
        """pks of the runs asked to stop and not ended yet (committed rows, no flush)."""
        return {pk for (pk,) in self._reader.query_committed(cancels.PENDING_SQL)}

    def fail_run(self, run_pk: int, error: str) -> bool:
        """Rows of run ``run_pk`` were lost (a row of its own, or a file fault that stopped
        the writer: :mod:`.faults`): mark it FAILED with ``error`` in place, best effort;
        returns whether it did."""
        return self._writer.fail_run(run_pk, storable_text(error))

    def run_owner(self, run_pk: int) -> tuple[str, int, bool | None] | None:
        """``(host, pid, alive)`` of the process running ``run_pk`` per committed rows, or None
        when no process claims it (it ended, was reaped, or predates owners)."""
        rows = self._reader.query_committed(
            "SELECT host, pid, token FROM run_owner WHERE run_pk = ?", (run_pk,)
        )
        if not rows:
            return None
        host, pid, token = rows[0]
        return host, pid, owners.alive(host, pid, token)

    def imported(self, run_pk: int) -> bool:
        """Whether run ``run_pk`` came from ``ferroflow import`` (its names are someone else's:
        see :func:`ferroflow.restart.find_graph`) rather than ran on this store."""
        rows = self._reader.query_committed(
            "SELECT 1 FROM imported_run WHERE run_pk = ?", (run_pk,)
        )
        return bool(rows)

    def reap_dead_runs(self) -> list[int]:
        """Mark ``KILLED`` every run of this host whose process died, and its nodes still
        PLANNED or RUNNING; return their pks (committed when this returns)."""
        rows = self._reader.query_committed("SELECT run_pk, host, pid, token FROM run_owner")
        dead = [row for row in rows if owners.alive(*row[1:]) is False]
        if not dead:
            return []
        for run_pk, host, pid, _ in dead:
            error = owners.KILLED_ERROR.format(pid=pid, host=host)
            # the end time is the run's last sign of life, not the (maybe much later) reaping
            (last,) = self._reader.query_committed(owners.LAST_SEEN_SQL, (run_pk, run_pk))[0]
            params = (STATE_CODES["KILLED"], last, error, run_pk)
            self._append((OP_SQL, owners.REAP_SQL, params))
            self._append((OP_SQL, owners.REAPED_SQL, (run_pk, run_pk)))
        self.flush()
        log.warning(
            "%s: marked KILLED runs %s (their process died)", self.path, [r[0] for r in dead]
        )
        return [row[0] for row in dead]

    def cached_outputs(self, key: bytes) -> tuple[int, list[tuple[str, Any]]] | None:
        """``(pk, [(label, value), ...])`` of a FINISHED task run with cache key ``key`` (the
        original of a chain of hits) and the outputs it created, or None. One query on
        committed rows only: no flush, so a lookup never waits for the writer (the runs it can
        hit have ended, and a run flushes when it ends). A value that cannot be decoded (an
        imported pickle this store does not trust) raises; one stored by a serialiser this
        process has not registered is no hit (the task runs)."""
        rows = cache_keys.original_outputs(self._reader.query_committed, key)
        if not rows:
            return None
        decode = self._reader.decode_row
        outputs = [
            (label, decode(codec, inline, blob))
            for _, label, codec, inline, blob in rows
            if label is not None  # (a run that created no outputs: one row of NULLs)
        ]
        if any(type(value) is RegisteredValue for _, value in outputs):
            return None  # stored by a serialiser this process lacks: run the task instead
        return int(rows[0][0]), outputs

    def throttle(self) -> None:
        """Backpressure: wait until the writer has taken everything queued so far into a batch
        (it may still be committing it: see the module's notes).

        ``record_process`` calls it at a task start that finds more than :attr:`queue_limit`
        entries queued; code that appends to the writer's queue directly (the Rust fast lane)
        calls it when the queue holds more than its share (its entries are several rows each).
        """
        if not self._closed:
            self._writer.make_room()

    @property
    def packer(self) -> _core.SqlWriter | None:
        """The writer's row conversion when it writes fast-lane task runs packed (the fast
        lane then makes their rows on its workers), else None. Read at a run's start."""
        return self._writer.packer

    @property
    def queue(self) -> list[Any]:
        """The writer's queue, which the Rust fast lane appends its entries to directly."""
        return self._queue

    def unserialisable_count(self) -> int:
        """How many values so far were stored as their repr only (:meth:`unserialisable_pks`)."""
        return len(self._writer.unserialisable)

    def unserialisable_pks(self, since: int = 0) -> set[int]:
        """pks of the data nodes stored as their repr only (the value did not pickle), from the
        ``since``-th on (a count :meth:`unserialisable_count` returned earlier)."""
        return set(self._writer.unserialisable[since:])

    # -- lifecycle ----------------------------------------------------------------------------
    def flush(self) -> None:
        """Block until every row queued before this call is committed.

        Raises :class:`StoreWriteError` (once) if rows failed to be written since the last
        report; the rows that could be written are on disk regardless.
        """
        self._writer.flush()

    def close(self) -> None:
        """Flush, stop the writer thread and close both connections. Idempotent.

        Raises :class:`StoreWriteError` if rows failed since the last report.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._append = _closed_append
            open_stores.forget(self)
            try:
                self._pks.close()
            finally:
                try:
                    self._writer.stop()
                finally:
                    self._reader.close()
        self._writer.raise_errors()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Store {str(self.path)!r} ({state})>"

    @property
    def faulty(self) -> bool:
        """Whether a fault of the file stopped the writer (:mod:`.faults`): nothing more is
        written, and ``open`` of the path opens it afresh."""
        return self._writer.fault is not None

    def abandon_faulty(self) -> None:
        """Close a store that stopped writing without raising its errors again."""
        self._writer._errors.clear()
        self.close()

    def _abandon_after_fork(self) -> None:
        """In a forked child: stop using the parent's connections and thread, write nothing."""
        self._closed = True
        self._append = _forked_append
        self._close_lock = threading.Lock()
        _inherited.extend(self._pks.abandon())
        _inherited.extend(self._writer.abandon())
        _inherited.extend(self._reader.abandon())

    def _sync(self) -> None:
        """Read-your-writes: flush before a read if anything is queued or being written.

        Write errors are not raised here (a read would swallow them for the engine's flush);
        they stay queued for the next ``flush()``/``close()``.
        """
        if not self._closed and self._writer.busy:
            self._writer.flush(raise_errors=False)

    # -- reading ------------------------------------------------------------------------------
    def load_node(self, pk_or_uuid: SupportsIndex | str) -> StoredNode:
        """The node with this pk, uuid or unique uuid prefix.

        Raises :class:`NodeNotFoundError` (a ``KeyError``) or :class:`AmbiguousNodeError`.
        """
        if isinstance(pk_or_uuid, str):
            return self._reader.node_by_uuid(pk_or_uuid)
        if isinstance(pk_or_uuid, bool):
            raise TypeError("load_node() takes a pk (int) or a uuid (str), not a bool")
        return self._reader.node(operator.index(pk_or_uuid))

    def load_nodes(self, pks: Iterable[int]) -> dict[int, StoredNode]:
        """The stored nodes among ``pks`` keyed by pk; unknown pks are left out."""
        return self._reader.nodes(pks)

    def task_outputs(self, run_pk: int) -> list[TaskOutput]:
        """What each task run of run ``run_pk`` printed and logged, in run order."""
        return run_outputs(self._reader.query, run_pk)

    def runs(self) -> list[StoredNode]:
        """Top-level graph runs, newest first."""
        return self._reader.runs()

    def incoming(self, pks: Iterable[int], link_types: Iterable[str] | None = None) -> list[Link]:
        """Links into any of ``pks`` (all types unless ``link_types``)."""
        return self._reader.links(pks, incoming=True, link_types=link_types)

    def outgoing(self, pks: Iterable[int], link_types: Iterable[str] | None = None) -> list[Link]:
        """Links out of any of ``pks`` (all types unless ``link_types``)."""
        return self._reader.links(pks, incoming=False, link_types=link_types)

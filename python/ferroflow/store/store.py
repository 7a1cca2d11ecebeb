"""The :class:`Store`: the provenance database of one profile (an SQLite file).

Writing is asynchronous and cheap for the caller: ``record_*`` validate their arguments, build a
tuple and append it to the writer's queue (see :mod:`.writer`). Nothing touches the disk on the
caller's thread, and values are serialised later, on the writer thread. Consequences the engine
relies on:

* ``new_pk()`` and ``record_*`` are safe to call from any number of threads (they rely on the
  GIL: ``next(itertools.count)`` and ``list.append`` are atomic).
* A recorded value must not be mutated afterwards: it is serialised when its batch is written,
  up to ``commit_interval`` seconds later (AiiDA's stored nodes are immutable too).
* ``record_data`` is check-then-set on ``node._pk``: record each node object from one thread
  (e.g. the one that produced it); two threads recording the *same* new node at the same instant
  could store it twice.
* pks are unique within the file as long as **one process writes a store at a time**: the counter
  is seeded from ``max(pk) + 1`` when the store is opened. A second writing process gets pk
  collisions, which surface as :class:`StoreWriteError`. In one process, :meth:`Store.open`
  returns the already open instance for the same file, so two counters never coexist.
* Reads (``load_node``, ``runs`` and the :class:`StoredNode` properties) flush pending writes
  first, so they see everything recorded before them.

Every open store is closed (and so flushed) by an :mod:`atexit` hook. In a child made by
``os.fork()`` the inherited stores are abandoned (marked closed, their connections and queued rows
left to the parent, which owns them): recording there raises :class:`StoreClosedError`, and
``Store.open`` in the child opens a fresh instance.
"""

from __future__ import annotations

import atexit
import itertools
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

from .errors import StoreClosedError
from .reading import Link, Reader, StoredNode
from .schema import KIND_CODES, LINK_CODES, STATE_CODES, configure_connection, initialise
from .writer import OP_DATA, OP_LINK, OP_PROCESS, OP_UPDATE, BatchWriter

if TYPE_CHECKING:
    from ..data import DataNode

__all__ = ["Store"]

log = logging.getLogger("ferroflow.store")

_PROCESS_KINDS = {name: code for name, code in KIND_CODES.items() if name != "data"}

_open_stores: dict[Path, Store] = {}
_open_lock = threading.Lock()


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

    def __init__(self, path: Path, commit_interval: float, durability: str) -> None:
        """Open ``path`` now (use :meth:`open`, which also reuses an already open store)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            configure_connection(conn, durability)
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("%s: journal_mode is %s, not WAL (file system?)", path, mode)
            initialise(conn)
            max_pk = conn.execute("SELECT max(pk) FROM node").fetchone()[0]
            writer = BatchWriter(conn, commit_interval, name=f"ferroflow-store-writer[{path.name}]")
        except BaseException:
            conn.close()
            raise
        self.path = path
        self.durability = durability
        self.commit_interval = commit_interval
        self._pks = itertools.count((max_pk or 0) + 1)
        self._writer = writer
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
        with _open_lock:
            store = _open_stores.get(resolved)
            if store is None or store.closed:
                store = cls(resolved, commit_interval, durability)
                _open_stores[resolved] = store
            return store

    # -- writing (hot path) -------------------------------------------------------------------
    def new_pk(self) -> int:
        """The next integer pk; thread-safe, unique in this file across restarts."""
        return next(self._pks)

    def record_data(self, node: DataNode) -> int:
        """Assign ``node`` a pk and queue its row; a no-op for an already stored node."""
        pk = node._pk
        if pk is not None:
            return pk
        pk = node._pk = next(self._pks)
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
        self._append((OP_PROCESS, pk, uuid, kind_code, label, process_type, state_code, ctime, run))

    def update_process(self, pk: int, state: str, mtime: float, error: str | None = None) -> None:
        """Queue a state change of process ``pk`` (``error`` replaces the stored error text)."""
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
            with _open_lock:
                if _open_stores.get(self.path) is self:
                    del _open_stores[self.path]
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

    def _abandon_after_fork(self) -> None:
        """In a forked child: stop using the parent's connections and thread, write nothing."""
        self._closed = True
        self._append = _forked_append
        self._close_lock = threading.Lock()
        self._writer.abandon()
        self._reader.abandon()

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

    def runs(self) -> list[StoredNode]:
        """Top-level graph runs, newest first."""
        return self._reader.runs()

    def incoming(self, pks: Iterable[int], link_types: Iterable[str] | None = None) -> list[Link]:
        """Links into any of ``pks`` (all types unless ``link_types``)."""
        return self._reader.links(pks, incoming=True, link_types=link_types)

    def outgoing(self, pks: Iterable[int], link_types: Iterable[str] | None = None) -> list[Link]:
        """Links out of any of ``pks`` (all types unless ``link_types``)."""
        return self._reader.links(pks, incoming=False, link_types=link_types)


def _abandon_stores_in_child() -> None:
    global _open_lock
    _open_lock = threading.Lock()  # the parent may have held it while forking
    for store in list(_open_stores.values()):
        store._abandon_after_fork()
    _open_stores.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_abandon_stores_in_child)


@atexit.register
def _close_open_stores() -> None:
    """Flush and close every store still open when the interpreter exits."""
    with _open_lock:
        stores = list(_open_stores.values())
    for store in stores:
        try:
            store.close()
        except Exception:
            log.exception("closing provenance store %s at exit failed", store.path)

"""The background writer: one thread that turns queued rows into batched SQLite transactions.

Why a thread and a plain list:

* Recording provenance must not slow the workers. ``Store.record_*`` only builds a tuple and
  appends it to :attr:`BatchWriter.queue`; ``list.append`` is atomic under the GIL, so no lock is
  taken on the hot path and no worker ever waits for the disk.
* Every ``commit_interval`` seconds (or at once when :meth:`BatchWriter.flush` asks) the thread
  takes everything queued so far, serialises the values, and writes it all in **one**
  transaction with ``executemany``. Batching is what makes SQLite fast (provenance.md §6:
  1k-row batches run at half the speed of 10k-row batches).
* The queue is drained by *slicing and deleting a prefix* (``rows = q[:n]; del q[:n]``) rather than
  by swapping in a new list: a thread that looked up the old list just before a swap would append
  to a list nobody reads any more, and its row would be lost. Appends only ever land after the
  prefix, so the prefix trick cannot lose rows.
* ``flush()`` appends a marker holding a :class:`threading.Event`. Everything appended before the
  call sits before the marker in the queue, so once the writer has committed the batch holding the
  marker, all of those rows are on disk. This is correct with any number of threads recording and
  flushing at once, and needs no counter on the hot path.
* The SQL itself runs in Rust (``ferroflow._core.SqlWriter``): it reads the drained rows out of
  their tuples while attached, then writes the transaction *detached*, through the same SQLite
  library Python's ``sqlite3`` loaded (two copies of SQLite in one process would corrupt files).
  ``executemany`` re-takes the GIL for every row, and with busy workers that hand-off cost more
  than SQLite. Where the library cannot be found (no ``/proc/self/maps``) or
  ``FERROFLOW_PY_WRITER=1`` is set, the pure-Python path below does the same work.
* The thread never dies silently. A failing batch is rolled back and replayed row by row, so the
  good rows still land; each bad row's error is kept and raised (as :class:`StoreWriteError`) from
  the next ``flush()``/``close()``. Should the thread be gone anyway, ``flush()`` drains the queue
  itself.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import uuid as _uuid
from typing import Any

from .. import _core
from ..errors import StoreWriteError
from .values import UNSERIALISABLE, digest, encode, type_name

__all__ = [
    "OP_CALC",
    "OP_DATA",
    "OP_FLUSH",
    "OP_LINK",
    "OP_PROCESS",
    "OP_SQL",
    "OP_UPDATE",
    "BatchWriter",
]

log = logging.getLogger("ferroflow.store")

# Row layouts in the queue (first element is the op code):
OP_DATA = 0  # (OP_DATA, node: DataNode, ctime)
OP_PROCESS = 1  # (OP_PROCESS, pk, uuid, kind, label, process_type, state, ctime, run_pk)
OP_UPDATE = 2  # (OP_UPDATE, state, mtime, error, pk)
OP_LINK = 3  # (OP_LINK, src, dst, type, label)
OP_FLUSH = 4  # (OP_FLUSH, threading.Event)
# A whole finished fast-lane task, queued by the Rust workers (rust/py/src/fast.rs):
# (OP_CALC, pk, uuid16, label, process_type, ctime, mtime, run_pk, caller_pk, input_labels,
#  input_pks, out_pk, out_uuid16, value, out_label) -> a FINISHED calc node, its output data
# node, and its CALL_CALC, INPUT_CALC and CREATE links.
OP_CALC = 5
# A statement with parameters (None, int, float, str or bytes), run after the batch's nodes,
# updates and links in the same transaction: rare rows such as cache marks (``node.hash``,
# ``cached_from``) and the code digests of a run (``code`` table), so they need no op of their own.
OP_SQL = 6  # (OP_SQL, sql, params: tuple)

_NODE_SQL = (
    "INSERT INTO node(pk, uuid, kind, type, label, state, error, run_pk, ctime, mtime,"
    " codec, value, blob_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_SQL = "UPDATE node SET state = ?, mtime = ?, error = ? WHERE pk = ?"
# Recording the very same link twice is harmless, so it is idempotent.
_LINK_SQL = "INSERT OR IGNORE INTO link(src, dst, type, label) VALUES (?, ?, ?, ?)"
_BLOB_SQL = "INSERT OR IGNORE INTO blob(digest, size, codec, data) VALUES (?, ?, ?, ?)"
_BLOB_ID_SQL = "SELECT id FROM blob WHERE digest = ?"

_DATA_KIND = 0
_CALC_KIND = 1
_FINISHED = 2
_INPUT_CALC, _CREATE, _CALL_CALC = 0, 2, 4
_BLOB_COLUMN = 12  # index of blob_id in a node row; holds the digest until the blob is written

Row = tuple[Any, ...]


def _sqlite_library() -> str | None:
    """Path of the SQLite library this process loaded for Python's ``sqlite3``, if known."""
    if os.environ.get("FERROFLOW_PY_WRITER") == "1":
        return None
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").split(maxsplit=5)[-1]
                if "/libsqlite3" in path and os.path.exists(path):
                    return path
    except OSError:
        pass
    return None


def _sql_writer(conn: sqlite3.Connection) -> Any:
    """A Rust ``SqlWriter`` on the same file and durability as ``conn``, or None."""
    library = _sqlite_library()
    if library is None:
        return None
    path = next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "")
    if not path:
        return None  # an in-memory database: only this connection can see it
    synchronous = "FULL" if conn.execute("PRAGMA synchronous").fetchone()[0] >= 2 else "NORMAL"
    try:
        return _core.SqlWriter(library, path, synchronous, encode, type_name, digest)
    except RuntimeError as exc:
        log.warning("store writer falls back to Python's sqlite3: %s", exc)
        return None


def _sql_error(message: str) -> sqlite3.Error:
    """The ``sqlite3`` exception Python's module would have raised for ``message``."""
    if "constraint failed" in message:
        return sqlite3.IntegrityError(message)
    return sqlite3.DatabaseError(message)


class _Batch:
    """The rows of one drain, converted to SQL parameter tuples."""

    __slots__ = ("blobs", "links", "markers", "nodes", "statements", "updates")

    def __init__(self) -> None:
        self.nodes: list[Row] = []
        self.updates: list[Row] = []
        self.links: list[Row] = []
        self.statements: list[tuple[str, Row]] = []
        self.blobs: dict[bytes, tuple[str, bytes]] = {}
        self.markers: list[threading.Event] = []

    def __bool__(self) -> bool:
        return bool(self.nodes or self.updates or self.links or self.statements)


class BatchWriter:
    """Owns the write connection and the thread that commits queued rows in batches."""

    def __init__(self, conn: sqlite3.Connection, commit_interval: float, name: str) -> None:
        if not commit_interval > 0:
            raise ValueError(f"commit_interval must be > 0, not {commit_interval!r}")
        #: Rows waiting to be written. Producers only ever call ``queue.append``.
        self.queue: list[Row] = []
        self._conn = conn
        self._interval = commit_interval
        self._wake = threading.Event()
        self._stopping = False
        self._stopped = False
        self._drain_lock = threading.Lock()  # one drain at a time (thread or fallback)
        self._errors: list[tuple[str, BaseException]] = []
        self._sql = _sql_writer(conn)
        #: pks of data nodes written as the repr of a value that could not be serialised, in
        #: write order (the engine reports those of its run, naming task and socket).
        self.unserialisable: list[int] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- producer side ------------------------------------------------------------------------
    def flush(self, raise_errors: bool = True) -> None:
        """Block until every row appended before this call is committed; raise kept errors.

        ``raise_errors=False`` (used before reads) leaves the errors for the next real flush.
        """
        if not self._stopped:
            done = threading.Event()
            self.queue.append((OP_FLUSH, done))
            self._wake.set()
            while not done.wait(0.5):
                if not self._thread.is_alive():  # should not happen; never hang because of it
                    self._drain()
        if raise_errors:
            self.raise_errors()

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
        if self._sql is not None:
            self._sql.close()  # checkpoints too
        try:
            # Best effort and never waiting: with the 30 s busy timeout a reader's snapshot in
            # another process would stall close() and every other writer behind it.
            self._conn.execute("PRAGMA busy_timeout = 0")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:  # another process may hold a read snapshot
            log.debug("wal checkpoint at close failed: %s", exc)
        self._conn.close()

    def abandon(self) -> None:
        """Forked child: forget the queue and connection without touching either."""
        self._stopped = True
        self._errors = []
        self._drain_lock = threading.Lock()

    @property
    def busy(self) -> bool:
        """True while rows are queued or a batch is being written."""
        return bool(self.queue) or self._drain_lock.locked()

    def raise_errors(self) -> None:
        """Raise (once) a :class:`StoreWriteError` for the failures since the last report."""
        if not self._errors:
            return
        errors = self._errors[:]
        del self._errors[: len(errors)]
        messages = [message for message, _ in errors]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise StoreWriteError(
            f"provenance store: {len(errors)} row(s) could not be written: {messages[0]}{more}",
            messages,
        ) from errors[0][1]

    # -- writer thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()  # before draining: a flush() arriving now re-sets it
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
        if self._sql is not None:
            self._write_in_rust(rows)
            return
        batch = self._convert(rows)
        self.unserialisable.extend(
            row[0] for row in batch.nodes if row[2] == _DATA_KIND and row[10] == UNSERIALISABLE
        )
        try:
            if batch and self._stopped:
                self._fail("store closed", RuntimeError("rows recorded after close() dropped"))
            elif batch:
                self._commit(batch)
        finally:
            for marker in batch.markers:
                marker.set()

    def _write_in_rust(self, rows: list[Row]) -> None:
        markers: list[threading.Event] = []
        try:
            if self._stopped:
                markers = [row[1] for row in rows if row[0] == OP_FLUSH]
                if len(markers) < len(rows):
                    self._fail("store closed", RuntimeError("rows recorded after close() dropped"))
                return
            markers, errors, unserialisable = self._sql.write(rows)
            self.unserialisable.extend(unserialisable)
            for what, kind, message in errors:
                self._fail(
                    what, _sql_error(message) if kind == "sqlite" else _row_error(kind, message)
                )
        finally:
            for marker in markers:
                marker.set()

    def _fail(self, what: str, exc: BaseException) -> None:
        message = f"{what}: {type(exc).__name__}: {exc}"
        log.error("provenance store write failed: %s", message)
        self._errors.append((message, exc))

    def _convert(self, rows: list[Row]) -> _Batch:
        batch = _Batch()
        # A task that starts and ends within one batch (the common case) gets its final state
        # folded into its INSERT instead of a separate UPDATE: ~15 % fewer statements.
        new_process: dict[int, int] = {}  # pk -> index in batch.nodes
        for row in rows:
            op = row[0]
            try:
                if op == OP_CALC:
                    self._calc_rows(row, batch)
                elif op == OP_LINK:
                    batch.links.append(row[1:])
                elif op == OP_DATA:
                    batch.nodes.append(self._data_row(row[1], row[2], batch.blobs))
                elif op == OP_PROCESS:
                    _, pk, uuid, kind, label, process_type, state, ctime, run_pk = row
                    node_row = (
                        pk, _uuid_bytes(uuid), kind, process_type, label, state, None, run_pk,
                        ctime, None, None, None, None,
                    )  # fmt: skip
                    new_process[pk] = len(batch.nodes)  # only once the row is valid
                    batch.nodes.append(node_row)
                elif op == OP_UPDATE:
                    _, state, mtime, error, pk = row
                    index = new_process.get(pk)
                    if index is None:
                        batch.updates.append(row[1:])
                    else:
                        node = batch.nodes[index]
                        batch.nodes[index] = (
                            *node[:5],
                            state,
                            error,
                            *node[7:9],
                            mtime,
                            *node[10:],
                        )
                elif op == OP_SQL:
                    batch.statements.append((row[1], tuple(row[2])))
                elif op == OP_FLUSH:
                    batch.markers.append(row[1])
                else:
                    raise ValueError(f"unknown queued row {row!r}")
            except Exception as exc:
                self._fail(_describe(row), exc)
        return batch

    @classmethod
    def _calc_rows(cls, row: Row, batch: _Batch) -> None:
        (_, pk, uuid, label, process_type, ctime, mtime, run_pk, caller_pk, names, sources,
         out_pk, out_uuid, value, out_label) = row  # fmt: skip
        data = cls._value_row(out_pk, out_uuid, value, ctime, batch.blobs)
        batch.nodes.append(
            (pk, uuid, _CALC_KIND, process_type, label, _FINISHED, None, run_pk, ctime, mtime,
             None, None, None)
        )  # fmt: skip
        batch.nodes.append(data)
        links = batch.links
        links.append((caller_pk, pk, _CALL_CALC, label))
        for src, name in zip(sources, names, strict=True):
            links.append((src, pk, _INPUT_CALC, name))
        links.append((pk, out_pk, _CREATE, out_label))

    @classmethod
    def _data_row(cls, node: Any, ctime: float, blobs: dict[bytes, tuple[str, bytes]]) -> Row:
        return cls._value_row(node._pk, _uuid_bytes(node.uuid), node.value, ctime, blobs)

    @staticmethod
    def _value_row(
        pk: int, uuid: bytes, value: Any, ctime: float, blobs: dict[bytes, tuple[str, bytes]]
    ) -> Row:
        encoded = encode(value)
        if encoded.codec == UNSERIALISABLE:
            log.warning("value of data node pk=%s is not serialisable; stored its repr", pk)
        inline: str | bytes | None = None
        key: bytes | None = None
        if encoded.blob:
            payload = encoded.payload
            assert isinstance(payload, bytes)
            key = digest(encoded.codec, payload)
            blobs.setdefault(key, (encoded.codec, payload))
        else:
            inline = encoded.payload
        return (
            pk, uuid, _DATA_KIND, type_name(value), None, None, None,
            None, ctime, None, encoded.codec, inline, key,
        )  # fmt: skip

    def _commit(self, batch: _Batch) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            ids = {
                key: self._put_blob(key, codec, data) for key, (codec, data) in batch.blobs.items()
            }
            conn.executemany(_NODE_SQL, [_with_blob_id(row, ids) for row in batch.nodes])
            conn.executemany(_UPDATE_SQL, batch.updates)
            conn.executemany(_LINK_SQL, batch.links)
            for sql, params in batch.statements:
                conn.execute(sql, params)
            conn.execute("COMMIT")
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._commit_row_by_row(batch)

    def _put_blob(self, key: bytes, codec: str, data: bytes) -> int:
        conn = self._conn
        conn.execute(_BLOB_SQL, (key, len(data), codec, data))
        row = conn.execute(_BLOB_ID_SQL, (key,)).fetchone()
        return int(row[0])

    def _commit_row_by_row(self, batch: _Batch) -> None:
        """Replay a failed batch one statement at a time, keeping every row that can be kept."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            ids: dict[bytes, int] = {}
            for key, (codec, data) in batch.blobs.items():
                try:
                    ids[key] = self._put_blob(key, codec, data)
                except Exception as exc:
                    self._fail(f"blob {key.hex()[:16]}", exc)
            for row in batch.nodes:
                try:
                    conn.execute(_NODE_SQL, _with_blob_id(row, ids))
                except Exception as exc:
                    self._fail(f"node pk={row[0]}", exc)
            for row in batch.updates:
                try:
                    conn.execute(_UPDATE_SQL, row)
                except Exception as exc:
                    self._fail(f"update of pk={row[3]}", exc)
            for row in batch.links:
                try:
                    conn.execute(_LINK_SQL, row)
                except Exception as exc:
                    self._fail(f"link {row[0]}->{row[1]}", exc)
            for sql, params in batch.statements:
                try:
                    conn.execute(sql, params)
                except Exception as exc:
                    self._fail(f"statement {sql}", exc)
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            n = len(batch.nodes) + len(batch.updates) + len(batch.links)
            self._fail(f"batch of {n} rows lost", exc)


_ROW_ERRORS: dict[str, type[Exception]] = {
    "ValueError": ValueError,
    "TypeError": TypeError,
    "OverflowError": OverflowError,
    "AttributeError": AttributeError,
    "RuntimeError": RuntimeError,
}


def _row_error(kind: str, message: str) -> Exception:
    """The exception for a row the Rust writer could not read (``kind``: its type name)."""
    cls = _ROW_ERRORS.get(kind)
    return cls(message) if cls is not None else RuntimeError(f"{kind}: {message}")


def _with_blob_id(row: Row, ids: dict[bytes, int]) -> Row:
    key = row[_BLOB_COLUMN]
    if key is None:
        return row
    return (*row[:_BLOB_COLUMN], ids[key])


def _uuid_bytes(value: str) -> bytes:
    """16 bytes of a uuid string; the fast path covers the canonical form new_uuid() makes."""
    try:
        raw = bytes.fromhex(value.replace("-", ""))
    except (ValueError, AttributeError, TypeError):
        raw = b""
    return raw if len(raw) == 16 else _uuid.UUID(value).bytes


def _describe(row: Row) -> str:
    op = row[0]
    if op == OP_DATA:
        return f"data node pk={getattr(row[1], '_pk', '?')}"
    if op == OP_PROCESS:
        return f"process node pk={row[1]}"
    if op == OP_UPDATE:
        return f"update of pk={row[4]}"
    if op == OP_LINK:
        return f"link {row[1]}->{row[2]}"
    if op == OP_CALC:
        return f"task run '{row[3]}' pk={row[1]} and its output pk={row[11]}"
    if op == OP_SQL:
        return f"statement {row[1]}"
    return f"queued row {row!r}"

"""Reading the provenance store: :class:`StoredNode` and the read connection behind it.

The statements that read the graph (``node`` and ``link``) are :mod:`.graph_read`'s and
:mod:`.graph_find`'s, so that a second layout of a task run (``docs/packed-task-runs.md``) is
read in one place; this module wraps their rows in :class:`StoredNode` and keeps the connection.

Reads go through their own read-only SQLite connection, so they never contend with the writer
thread's transaction (WAL lets readers and one writer work at the same time). The connection is
shared by all threads of the process behind a lock; reads are short, so that is no bottleneck.

Before each read the store calls ``sync`` (``Store._sync``), which flushes queued rows when any
are pending: a run's nodes are visible as soon as the run returns, at the price of one commit
when something is still queued (nothing when the queue is empty).

Traversals (:meth:`StoredNode.ancestors`, :meth:`StoredNode.descendants`) are one recursive CTE
each (:func:`.graph_read.walk`). By default they follow only the *data provenance* links
``INPUT_CALC`` and ``CREATE``, as AiiDA's ``with_ancestors``/``with_descendants`` do: that plane
is a DAG and answers "what was this computed from" / "what was computed from this". Pass
``link_types=LINK_TYPES`` to walk the logical plane (``INPUT_WORK``, ``RETURN``, ``CALL_*``)
too; the CTE deduplicates, so its cycles (a workflow returning its own input) terminate.
"""

from __future__ import annotations

import sqlite3
import string
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import (
    AmbiguousNodeError,
    NodeNotFoundError,
    StoreClosedError,
    UnreadableValueError,
)
from ..model.extras import NodeBase
from ..model.vocabulary import Kind
from ..model.vocabulary import Link as LinkType
from . import graph_find, graph_read
from .annotations import EXTRAS_SQL, TEXT_SQL, read_extras
from .graph_read import DATA_PROVENANCE, LINK_TYPES, Link
from .node_record import NodeRecord, decode_node_columns, uuid_text
from .schema import CALL_LINKS
from .task_output import OUTPUT_SQL
from .values import BYTES, NPY, PICKLE_UNTRUSTED, UnserialisableValue, decode, npy_summary, shorten

__all__ = ["DATA_PROVENANCE", "LINK_TYPES", "Link", "Reader", "StoredNode", "uuid_text"]

_HEX = frozenset(string.hexdigits.lower())
_UNSET: Any = object()


class Reader:
    """The read connection and every query the reading API needs."""

    def __init__(self, path: Path, sync: Callable[[], None]) -> None:
        self.path = path
        self._sync = sync
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = self._connect()
        # query_committed's connections: borrowed from a free list (the lock is held only to
        # take or give back one, never during a query), a new one opened when all are lent.
        self._spare: list[sqlite3.Connection] = []

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(
            self.path.as_uri() + "?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )

    def close(self) -> None:
        """Close the connections not in use; a lent one is closed by its borrower when its
        query ends (closing it under a running query would crash SQLite)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            for conn in self._spare:
                conn.close()
            self._spare = []

    def abandon(self) -> list[sqlite3.Connection]:
        """Forked child: stop using the parent's connections without closing them (not ours);
        returns them, for the caller to keep referenced."""
        inherited = [c for c in (self._conn, *self._spare) if c is not None]
        self._lock = threading.Lock()
        self._conn = None
        self._spare = []
        return inherited

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run one read statement (after syncing pending writes) and return all rows."""
        self._sync()
        with self._lock:
            if self._conn is None:
                raise StoreClosedError(f"provenance store {self.path} is closed")
            return self._conn.execute(sql, params).fetchall()

    def query_committed(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Like :meth:`query` without syncing: sees only what the writer has committed.

        For the engine's hot reads (cache lookups in every task of a cached run): each call
        borrows a connection from a free list instead of holding the shared one's lock for the
        whole query, so workers read in parallel (SQLite runs without the GIL) and never hand a
        lock back and forth during a query (that cost a cache hit ~20 µs on 2 cores).
        """
        with self._lock:
            if self._conn is None:
                raise StoreClosedError(f"provenance store {self.path} is closed")
            conn = self._spare.pop() if self._spare else None
        if conn is None:
            conn = self._connect()
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            with self._lock:
                closed = self._conn is None
                if not closed:
                    self._spare.append(conn)
            if closed:
                conn.close()

    @staticmethod
    def decode_row(codec: str | None, inline: Any, blob: Any) -> Any:
        """The value of a node row's ``codec``, inline ``value`` and blob ``data``."""
        if codec is None:
            return None
        return decode(codec, blob if inline is None else inline)

    def _make(self, row: Sequence[Any]) -> StoredNode:
        return StoredNode(self, row)

    # -- nodes (the statements are graph_read's, over whichever layout holds the node) ---------
    def node(self, pk: int) -> StoredNode:
        row = graph_read.node_row(self.query, pk)
        if row is None:
            raise NodeNotFoundError(f"no node with pk={pk} in {self.path}")
        return self._make(row)

    def node_by_uuid(self, text: str) -> StoredNode:
        """Exact uuid (with or without dashes) or a unique prefix of its hex digits."""
        digits = text.strip().lower().replace("-", "")
        if not digits or len(digits) > 32 or not set(digits) <= _HEX:
            raise NodeNotFoundError(f"{text!r} is neither a pk nor a uuid (prefix)")
        rows = graph_read.node_rows_by_uuid(self.query, digits)
        if len(rows) > 1:
            raise AmbiguousNodeError(f"uuid prefix {text!r} matches more than one node")
        if not rows:
            raise NodeNotFoundError(f"no node with uuid {text!r} in {self.path}")
        return self._make(rows[0])

    def nodes(self, pks: Iterable[int]) -> dict[int, StoredNode]:
        """The stored nodes among ``pks``, keyed by pk (unknown pks are left out)."""
        return {pk: self._make(row) for pk, row in graph_read.node_rows(self.query, pks).items()}

    def find_runs(self, **filters: Any) -> list[StoredNode]:
        """Top-level runs matching :func:`graph_find.select_runs`'s filter values."""
        return [self._make(row) for row in graph_find.select_runs(self.query, **filters)]

    def find_nodes(self, **filters: Any) -> list[StoredNode]:
        """Nodes matching :func:`graph_find.select_nodes`'s filter values."""
        return [self._make(row) for row in graph_find.select_nodes(self.query, **filters)]

    def runs(self) -> list[StoredNode]:
        return [self._make(row) for row in graph_read.top_level_runs(self.query)]

    def value(self, pk: int) -> Any:
        parts = graph_read.value_parts_of(self.query, pk)
        return None if parts is None else self.decode_row(*parts)

    def blob_head(self, blob_id: int, size: int) -> tuple[str, int, bytes]:
        """Codec, total size and the first ``size`` bytes of a blob, without reading it all."""
        self._sync()
        with self._lock:
            conn = self._conn
            if conn is None:
                raise StoreClosedError(f"provenance store {self.path} is closed")
            row = conn.execute("SELECT codec, size FROM blob WHERE id = ?", (blob_id,)).fetchone()
            if row is None:
                raise NodeNotFoundError(f"no blob with id={blob_id} in {self.path}")
            if hasattr(conn, "blobopen"):  # Python >= 3.11: incremental I/O reads only the head
                with conn.blobopen("blob", "data", blob_id, readonly=True) as handle:
                    head = handle.read(size)
            else:  # substr() makes SQLite load the whole value; acceptable on old Pythons
                sql = "SELECT substr(data, 1, ?) FROM blob WHERE id = ?"
                head = bytes(conn.execute(sql, (size, blob_id)).fetchone()[0])
        return row[0], row[1], head

    # -- links --------------------------------------------------------------------------------
    def neighbours(
        self, pk: int, incoming: bool, link_types: Iterable[str] | None = None
    ) -> list[tuple[str, str, StoredNode]]:
        """``(link_type, label, node)`` for the links into (or out of) ``pk``."""
        return [
            (link_type, label, self._make(row))
            for link_type, label, row in graph_read.neighbours(self.query, pk, incoming, link_types)
        ]

    def links(
        self, pks: Iterable[int], incoming: bool, link_types: Iterable[str] | None = None
    ) -> list[Link]:
        """Every link into (``incoming``) or out of the nodes ``pks``, of the given types."""
        return graph_read.links(self.query, pks, incoming, link_types)

    def traverse(
        self,
        pk: int,
        backwards: bool,
        link_types: Iterable[str] | None = None,
        max_depth: int | None = None,
    ) -> list[StoredNode]:
        """Ancestors (``backwards``) or descendants of ``pk`` through ``link_types``, by pk."""
        rows = graph_read.walk(self.query, pk, backwards, link_types, max_depth)
        return [self._make(row) for row in rows]


class StoredNode(NodeRecord):
    """A read-only view of one stored node (data, task run or graph run).

    Scalar fields are read with the node; ``value`` and the link properties are queried when
    first used (``value`` is then cached). Two ``StoredNode`` objects are equal when they have
    the same uuid.
    """

    __slots__ = ("_reader", "_value")

    _reader: Reader
    _value: Any

    def __init__(self, reader: Reader, row: Sequence[Any]) -> None:
        NodeRecord.__init__(self, **decode_node_columns(row))
        object.__setattr__(self, "_reader", reader)
        object.__setattr__(self, "_value", _UNSET)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"StoredNode is read-only (cannot set {name!r})")

    # -- identity -----------------------------------------------------------------------------
    @property
    def is_data(self) -> bool:
        return self.kind == Kind.DATA

    @property
    def is_process(self) -> bool:
        return self.kind != Kind.DATA

    @property
    def process_type(self) -> str | None:
        """What ran (the task's qualified name); ``None`` for data nodes."""
        return None if self.kind == Kind.DATA else self.type

    @property
    def value(self) -> Any:
        """The stored value (deserialised on first access); ``None`` for process nodes."""
        if self.kind != Kind.DATA:
            return None
        if self._value is _UNSET:
            object.__setattr__(self, "_value", self._reader.value(self.pk))
        return self._value

    def value_summary(self, limit: int = 40) -> str:
        """A short text for the value, cheap even for large blobs (used by graph rendering)."""
        if self.kind != Kind.DATA:
            return ""
        if self.codec == PICKLE_UNTRUSTED:  # never unpickled, not even for a summary
            return shorten(f"<untrusted pickle: {self.type}>", limit)
        if self.blob_id is None:
            try:
                value = self.value
            except UnreadableValueError:  # a registered type cannot rebuild its stored data
                return shorten(f"<{self.type}: unreadable>", limit)
            text = value if isinstance(value, str) else repr(value)
            return shorten(text, limit)
        codec, size, head = self._reader.blob_head(self.blob_id, 4096)
        if codec == NPY:
            return npy_summary(head) or f"ndarray ({size} bytes)"
        if codec == BYTES:
            return f"bytes[{size}]"
        return f"{self.type} ({size} bytes)"

    @property
    def unserialisable(self) -> UnserialisableValue | None:
        """The placeholder if the value could not be serialised when stored, else ``None``."""
        value = self.value if self.codec == "unserialisable" else None
        return value if isinstance(value, UnserialisableValue) else None

    @property
    def cached_from(self) -> int | None:
        """For a task run that was a cache hit: the pk of the run whose results it reused."""
        fields = graph_read.cache_fields(self._reader.query, self.pk)
        return None if fields is None else fields[1]

    @property
    def user_label(self) -> str | None:
        """The ``label`` its task call's ``metadata=`` gave (AiiDA's ``ProcessNode.label``;
        ``label`` is the task's name in its graph), else None."""
        return self._process_text()[0]

    @property
    def description(self) -> str | None:
        """The ``description`` its task call's ``metadata=`` gave, else None."""
        return self._process_text()[1]

    def _process_text(self) -> tuple[str | None, str | None]:
        if self.kind == Kind.DATA:
            return None, None
        rows = self._reader.query(TEXT_SQL, (self.pk,))
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    @property
    def output(self) -> str | None:
        """What this task run printed and logged (stdout, stderr, log records, as written and
        bounded: :mod:`ferroflow.engine.capture`), or None if nothing was captured."""
        if self.kind == Kind.DATA:
            return None
        rows = self._reader.query(OUTPUT_SQL, (self.pk,))
        return str(rows[0][0]) if rows else None

    @property
    def base(self) -> NodeBase:
        """AiiDA's ``node.base``: ``node.base.extras.get('unit')``, ``.base.extras.all``
        (a data node's extras, from ``meta(extras=...)`` of the output that made it)."""
        return NodeBase(read_extras(self._reader.query(EXTRAS_SQL, (self.pk,))))

    # -- links --------------------------------------------------------------------------------
    @property
    def inputs(self) -> list[tuple[str, str, StoredNode]]:
        """Incoming links as ``(link_type, label, source node)``."""
        return self._reader.neighbours(self.pk, incoming=True)

    @property
    def outputs(self) -> list[tuple[str, str, StoredNode]]:
        """Outgoing links as ``(link_type, label, target node)``."""
        return self._reader.neighbours(self.pk, incoming=False)

    @property
    def creator(self) -> StoredNode | None:
        """The task run that created this data node (``CREATE``), if any."""
        found = self._reader.neighbours(self.pk, incoming=True, link_types=(LinkType.CREATE,))
        return found[0][2] if found else None

    @property
    def caller(self) -> StoredNode | None:
        """The graph run that called this process (``CALL_CALC``/``CALL_WORK``), if any."""
        found = self._reader.neighbours(self.pk, True, CALL_LINKS)
        return found[0][2] if found else None

    @property
    def called(self) -> list[StoredNode]:
        """The processes this graph run called, in pk order."""
        found = self._reader.neighbours(self.pk, False, CALL_LINKS)
        return sorted((node for _, _, node in found), key=lambda node: node.pk)

    @property
    def run(self) -> StoredNode | None:
        """The top-level graph run this process belongs to (``None`` for data nodes)."""
        return None if self.run_pk is None else self._reader.node(self.run_pk)

    def ancestors(
        self, link_types: Iterable[str] | None = None, max_depth: int | None = None
    ) -> list[StoredNode]:
        """Nodes this one derives from, by pk (data-provenance links unless ``link_types``)."""
        return self._reader.traverse(self.pk, True, link_types, max_depth)

    def descendants(
        self, link_types: Iterable[str] | None = None, max_depth: int | None = None
    ) -> list[StoredNode]:
        """Nodes derived from this one, by pk (data-provenance links unless ``link_types``)."""
        return self._reader.traverse(self.pk, False, link_types, max_depth)

    # -- dunder -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        if self.kind == Kind.DATA:
            return f"uuid: {self.uuid} (pk: {self.pk}) value: {self.value}"
        name = "TaskRun" if self.kind == Kind.CALC else "GraphRun"
        return f"<{name} pk={self.pk} label={self.label!r} state={self.state}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoredNode):
            return NotImplemented
        return self.uuid == other.uuid

    def __hash__(self) -> int:
        return hash(self.uuid)

"""One run's nodes and links, read as a consistent snapshot, in streams.

Every exporter reads through a :class:`RunSelection` instead of :class:`~ferroflow.store.StoredNode`
objects, for three reasons:

* **Consistency.** It opens its own read-only connection and holds one read transaction for the
  whole export, so a run that is still being written (or a second run landing meanwhile) cannot
  make the nodes and the links of one file disagree.
* **Streaming.** Rows come from SQLite cursors, in pk order, a few hundred at a time; nothing
  is loaded whole. Exporters that need per-node link lists (RO-Crate, PROV) read them from a
  second cursor sorted the same way and walk both together (:func:`groups`), so a run of a
  million nodes costs one pass per stream and memory proportional to one node's links.
* **Bounded SQL.** The members of the run are read once, by the store's set-reading layer
  (:func:`~ferroflow.store.graph_sets.select_run`), into two temporary tables (allowed on a
  read-only connection): ``sel_node``, the members' node rows (the run's process nodes and the
  data they used, created or returned), and ``sel_link``, the links among them. Every export's
  SQL reads only those, never the store's own node and link tables, so the store's layout can
  change under the layer (``docs/packed-task-runs.md``). They are filled at the first stream (a
  page that reads a few nodes by pk never pays for them) and kept in a temporary file, not in
  memory (``temp_store = FILE``): a run of 100,000 tasks holds ~45 MiB of them, which in
  memory would make an export's footprint grow with the run.

Only links whose two ends are both members are exported: a value made by an earlier run is
exported as an input of this run, without its creator.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from ..model.vocabulary import KIND_CODES, Kind
from ..store import NodeNotFoundError, Store
from ..store.graph_sets import (
    NODE_COLUMNS,
    SEL_LINK,
    SEL_NODE,
    link_codes,
    node_rows,
    select_run,
    uuid_of,
)
from ..store.node_record import NodeRecord, decode_node_columns, uuid_text
from ..store.schema import LINK_NAMES
from ..store.values import (
    BYTES,
    JSON,
    NPY,
    PICKLE,
    PICKLE_UNTRUSTED,
    UNSERIALISABLE,
    decode,
    npy_summary,
    shorten,
)

__all__ = [
    "Adjacent",
    "Joined",
    "LinkRow",
    "NodeRow",
    "RunSelection",
    "groups",
    "iso_time",
]

_FETCH = 512  # rows per cursor fetch

_NODE_COLUMNS = ", ".join(f"n.{column}" for column in NODE_COLUMNS)


@dataclass(frozen=True, slots=True, eq=False)
class NodeRow(NodeRecord):
    """One node row read for an export, with its payload and hash read in the same query.

    ``inline`` is the payload stored in the node row (``str`` for JSON text, ``bytes`` for a
    small pickle); ``blob_id`` points at the blob table otherwise (read it with
    :meth:`RunSelection.payload`).
    """

    inline: str | bytes | None
    hash: bytes | None
    cached_from: int | None


class Adjacent(NamedTuple):
    """A member's link to another member, seen from the member (``pk``): the link's type and
    label and the other end's pk, uuid, type, codec and blob id."""

    pk: int
    link_type: str
    label: str
    other_pk: int
    other_uuid: str
    other_type: str
    other_codec: str | None
    other_blob_id: int | None


class LinkRow(NamedTuple):
    """One link between members, with both ends' uuids and the target's ctime."""

    src: int
    dst: int
    type: str
    label: str
    src_uuid: str
    dst_uuid: str
    dst_ctime: float


def iso_time(ts: float | None) -> str | None:
    """ISO 8601 in UTC with microseconds (``2026-11-26T17:38:00.123456+00:00``)."""
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).isoformat()


def _node_row(row: tuple[Any, ...]) -> NodeRow:
    *record, inline, hash_, cached_from = row
    return NodeRow(
        **decode_node_columns(record),
        inline=inline,
        hash=None if hash_ is None else bytes(hash_),
        cached_from=cached_from,
    )


def _stream(cursor: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
    while True:
        rows = cursor.fetchmany(_FETCH)
        if not rows:
            return
        yield from rows


R = TypeVar("R", bound=tuple[Any, ...])


def groups(rows: Iterable[R]) -> Iterator[tuple[Any, list[R]]]:
    """``(key, rows)`` for consecutive rows sharing ``row[0]`` (rows sorted by it)."""
    key: Any = None
    bucket: list[R] = []
    for row in rows:
        if not bucket or row[0] != key:
            if bucket:
                yield key, bucket
            key, bucket = row[0], []
        bucket.append(row)
    if bucket:
        yield key, bucket


class Joined(Generic[R]):
    """Walks a grouped stream alongside a pk-ordered node stream: ``take(pk)`` returns the rows
    for ``pk`` (or ``[]``), skipping groups of smaller keys. Both streams must ascend, so the
    walk reads each row once: a merge join, with one group in memory at a time."""

    def __init__(self, rows: Iterable[R]) -> None:
        self._groups = groups(rows)
        self._head: tuple[Any, list[R]] | None = next(self._groups, None)

    def take(self, pk: int) -> list[R]:
        while self._head is not None and self._head[0] < pk:
            self._head = next(self._groups, None)
        if self._head is not None and self._head[0] == pk:
            rows = self._head[1]
            self._head = next(self._groups, None)
            return rows
        return []


class RunSelection:
    """A read-only snapshot of one top-level run: its nodes and the links among them.

    Use as a context manager. Raises :class:`~ferroflow.store.NodeNotFoundError` for an unknown
    pk and :class:`ValueError` for a node that is not a top-level graph run.
    """

    def __init__(self, store: Store, run_pk: int) -> None:
        store.flush()  # everything recorded so far is in the file before the snapshot starts
        self.path = store.path
        conn = sqlite3.connect(self.path.as_uri() + "?mode=ro", uri=True, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA temp_store = FILE")  # the member tables: memory stays flat
            conn.execute("BEGIN")  # one read snapshot for every stream of this export
            rows = node_rows(conn, (run_pk,))
            if not rows:
                raise NodeNotFoundError(f"no node with pk={run_pk} in {self.path}")
            root = _node_row(rows[0])
            if root.kind != Kind.WORK or root.run_pk != root.pk:
                where = f" (it belongs to run {root.run_pk})" if root.run_pk is not None else ""
                raise ValueError(
                    f"pk {run_pk} is a {root.kind} node, not a top-level graph run{where}; "
                    "`ferroflow runs list` shows the runs"
                )
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        self.root = root
        self._selected = False

    @property
    def imported(self) -> bool:
        """Whether the run came from ``ferroflow import`` (its names are someone else's)."""
        found = self.conn.execute(
            "SELECT 1 FROM imported_run WHERE run_pk = ?", (self.root.pk,)
        ).fetchone()
        return found is not None

    def _members(self) -> None:
        """Fill ``sel_node`` and ``sel_link`` at the first stream (same snapshot: the read
        transaction began with the root's row)."""
        if not self._selected:
            select_run(self.conn, self.root.pk)
            self._selected = True

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> RunSelection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- streams ------------------------------------------------------------------------------
    def rows(self, sql: str, params: Iterable[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Any read over the snapshot, streamed: ``sel_node`` holds the members' node rows and
        ``sel_link`` the links among them (``type`` as its code, see
        :func:`~ferroflow.store.graph_sets.link_codes`)."""
        self._members()
        return _stream(self.conn.execute(sql, tuple(params)))

    def nodes(self, kinds: Iterable[str] = tuple(KIND_CODES)) -> Iterator[NodeRow]:
        """Member nodes of the given kinds, by pk."""
        wanted = [KIND_CODES[kind] for kind in kinds]
        sql = (
            f"SELECT {_NODE_COLUMNS} FROM {SEL_NODE} n"
            f" WHERE n.kind IN ({', '.join('?' * len(wanted))}) ORDER BY n.pk"
        )
        return (_node_row(row) for row in self.rows(sql, wanted))

    def links(
        self, link_types: Iterable[str] | None = None, order: str = "src"
    ) -> Iterator[LinkRow]:
        """Links between members, of the given types (all by default).

        ``order`` ``"src"`` groups them by source pk, ``"dst"`` by target pk, ascending (within
        a group: by type, then the index's order), for :class:`Joined` walks. Every join is a
        ``CROSS JOIN``, which fixes SQLite's loop order: over the run's members in pk order,
        probing ``sel_link``'s index for each. So the rows stream out already ordered (no sort
        of the whole result).
        """
        codes = link_codes(link_types or LINK_NAMES.values())
        if order not in ("src", "dst"):
            raise ValueError(f"order must be 'src' or 'dst', not {order!r}")
        sql = (
            f"SELECT l.src, l.dst, l.type, l.label, ns.uuid, nd.uuid, nd.ctime FROM {SEL_NODE} a"
            f" CROSS JOIN {SEL_LINK} l ON l.{order} = a.pk"
            f" AND l.type IN ({', '.join('?' * len(codes))})"
            f" CROSS JOIN {SEL_NODE} ns ON ns.pk = l.src CROSS JOIN {SEL_NODE} nd ON nd.pk = l.dst"
            f" ORDER BY a.pk"
        )
        for src, dst, code, label, su, du, dst_ctime in self.rows(sql, codes):
            yield LinkRow(
                src, dst, LINK_NAMES[code], label, uuid_text(su), uuid_text(du), dst_ctime
            )

    def adjacent(self, side: str, link_types: Iterable[str]) -> Iterator[Adjacent]:
        """For each member in pk order, its links of ``link_types`` to other members: out of it
        (``side="src"``) or into it (``side="dst"``). Streams like :meth:`links`."""
        if side not in ("src", "dst"):
            raise ValueError(f"side must be 'src' or 'dst', not {side!r}")
        other = "dst" if side == "src" else "src"
        codes = link_codes(link_types)
        sql = (
            f"SELECT a.pk, l.type, l.label, o.pk, o.uuid, o.type, o.codec, o.blob_id"
            f" FROM {SEL_NODE} a CROSS JOIN {SEL_LINK} l ON l.{side} = a.pk"
            f" AND l.type IN ({', '.join('?' * len(codes))})"
            f" CROSS JOIN {SEL_NODE} o ON o.pk = l.{other} ORDER BY a.pk"
        )
        for pk, code, label, other_pk, raw, type_, codec, blob_id in self.rows(sql, codes):
            yield Adjacent(
                pk, LINK_NAMES[code], label, other_pk, uuid_text(raw), type_, codec, blob_id
            )

    def annotations(self) -> dict[int, dict[str, Any]]:
        """What members carry beside their row (rare, so read at once): a data node's
        ``extras``, a process's ``user_label`` and ``description`` (``store.annotations``)."""
        found: dict[int, dict[str, Any]] = {}
        sql = f"SELECT s.pk, e.key, e.value FROM {SEL_NODE} s CROSS JOIN extra e ON e.pk = s.pk"
        for pk, key, value in self.rows(sql):
            found.setdefault(pk, {}).setdefault("extras", {})[key] = json.loads(value)
        sql = f"SELECT s.pk, t.label, t.description FROM {SEL_NODE} s CROSS JOIN process_text t"
        for pk, label, description in self.rows(sql + " ON t.pk = s.pk"):
            found.setdefault(pk, {}).update(user_label=label, description=description)
        return found

    def outputs(self) -> Iterator[tuple[int, str, int]]:
        """``(pk, text, dropped)`` of members with captured output (``store.task_output``), by
        pk and streamed (unlike annotations, most tasks of a chatty run have some)."""
        sql = (
            f"SELECT s.pk, o.text, o.dropped FROM {SEL_NODE} s CROSS JOIN task_output o"
            " ON o.pk = s.pk ORDER BY s.pk"
        )
        return self.rows(sql)

    def nodes_by_pk(self, pks: Iterable[int]) -> dict[int, NodeRow]:
        """Nodes of the file with these pks (members or not; unknown pks are left out), read
        in chunks of a few hundred, for readers that pick nodes instead of streaming them all."""
        nodes = (_node_row(row) for row in node_rows(self.conn, pks))
        return {node.pk: node for node in nodes}

    def uuid_of(self, pk: int | None) -> str | None:
        """The uuid of any node of the file (``None`` for ``None`` or an unknown pk)."""
        if pk is None:
            return None
        raw = uuid_of(self.conn, pk)
        return None if raw is None else uuid_text(raw)

    def code(self) -> list[tuple[str, bytes]]:
        """``(process_type, code digest)`` of every task function the run used (its rows of
        the store's ``code`` table, what a restart computes missing cache keys from), by type."""
        sql = "SELECT type, digest FROM code WHERE run_pk = ? ORDER BY type"
        return [(type_, bytes(digest)) for type_, digest in self.rows(sql, (self.root.pk,))]

    # -- values -------------------------------------------------------------------------------
    def payload(self, node: NodeRow) -> str | bytes | None:
        """The stored payload of a data node: inline text/bytes, or the blob's bytes."""
        if node.blob_id is None:
            return node.inline
        row = self.conn.execute("SELECT data FROM blob WHERE id = ?", (node.blob_id,)).fetchone()
        if row is None:
            raise NodeNotFoundError(f"blob {node.blob_id} of node pk={node.pk} is missing")
        return bytes(row[0])

    def blob_size(self, node: NodeRow) -> int | None:
        if node.blob_id is None:
            return None
        row = self.conn.execute("SELECT size FROM blob WHERE id = ?", (node.blob_id,)).fetchone()
        return None if row is None else int(row[0])

    def summary(self, node: NodeRow, limit: int = 40) -> str:
        """A short text for a data node's value; never unpickles, reads only a blob's head."""
        codec = node.codec
        if codec == JSON and node.blob_id is None and node.inline is not None:
            value = decode(JSON, node.inline)
            return shorten(value if isinstance(value, str) else repr(value), limit)
        if codec in (PICKLE, PICKLE_UNTRUSTED) and node.blob_id is None:
            size = len(node.inline or b"")
            word = "untrusted pickle" if codec == PICKLE_UNTRUSTED else "pickle"
            return shorten(f"{node.type} ({word}, {size} bytes)", limit)
        if node.blob_id is not None:
            size = self.blob_size(node) or 0
            if codec == NPY:
                sql = "SELECT substr(data, 1, 4096) FROM blob WHERE id = ?"
                head = bytes(self.conn.execute(sql, (node.blob_id,)).fetchone()[0])
                return shorten(npy_summary(head) or f"ndarray ({size} bytes)", limit)
            if codec == BYTES:
                return f"bytes[{size}]"
            return shorten(f"{node.type} ({size} bytes)", limit)
        if codec == UNSERIALISABLE and node.inline is not None:  # a JSON record
            return shorten(repr(decode(codec, node.inline)), limit)
        return "" if codec is None else f"{node.type} ({codec})"


#: Integers beyond this lose precision in JSON readers that use doubles (JavaScript, jq).
MAX_EXACT_INT = 2**53


def json_scalar(text: str) -> Any:
    """A stored JSON value as a plain JSON scalar where readers take it exactly (bool, str,
    ints below 2**53, finite floats); containers, huge ints and nan/inf stay the stored text."""
    value = decode(JSON, text)
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and abs(value) < MAX_EXACT_INT:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return text

"""The packed half of the reading layer: the nodes and links a ``task_run`` row stands for.

Why a module of its own: a finished fast-lane task run is stored as one ``task_run`` row (its
calc node, its inline data nodes pk+1..pk+k and their links; ``docs/packed-task-runs.md``)
instead of node and link rows, and every function of :mod:`.graph_read`, :mod:`.graph_find`,
:mod:`.graph_sets` and :mod:`.graph_counts` must answer the same rows whichever form holds a
task. This module expands rows into exactly the node rows and links the node/link form holds
for the same task (``rust/py/src/sql_writer.rs``: ``add_calc``, ``data_row``), and finds rows
by the pks, uuids, callers and runs a question names, always through an index
(``task_run``'s rowid, its uuid, ``task_run_caller``, ``task_run_run``, ``input_ref``'s key),
never by scanning ``task_run`` for a point read.

The callers decide when to ask: a store without packed rows (every store before the packing
writer) answers :func:`has_packed` False with one B-tree descent, and then reads exactly as
before.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from ..model.vocabulary import KIND_CODES, LINK_CODES, Kind
from ..model.vocabulary import Link as LinkType
from .in_lists import chunks, marks

__all__ = [
    "LAST_PACKED_SQL",
    "ROW_COLUMNS",
    "Packed",
    "RawLink",
    "find_rows",
    "has_packed",
    "links_in",
    "links_out",
    "node_at",
    "nodes_at",
    "rows_by_uuid",
]

Query = Callable[[str, Sequence[Any]], list[Any]]
#: ``(src, dst, link code, label)``
RawLink = tuple[int, int, int, str]

_CALC = KIND_CODES[Kind.CALC]
_DATA = KIND_CODES[Kind.DATA]
CREATE = LINK_CODES[LinkType.CREATE]
INPUT_CALC = LINK_CODES[LinkType.INPUT_CALC]
CALL_CALC = LINK_CODES[LinkType.CALL_CALC]

#: the columns of ``task_run`` in :class:`Packed`'s order
ROW_COLUMNS = "pk, uuid, caller, run_pk, label, type, state, ctime, mtime, hash, inputs, nodes"
#: The last pk the highest packed row stands for (its last inline node): two rowid descents.
LAST_PACKED_SQL = (
    "SELECT pk + json_array_length(nodes) FROM task_run WHERE pk = (SELECT max(pk) FROM task_run)"
)
#: how many pks below a missed one a batched search looks for its row before point reads
_NEAR = 4


class Packed(NamedTuple):
    """One ``task_run`` row, decoded."""

    pk: int
    uuid: bytes
    caller: int
    run_pk: int
    label: str
    type: str
    state: int
    ctime: float
    mtime: float | None
    hash: bytes | None
    #: ``[label, src pk]`` of each INPUT_CALC link from a node outside the row
    inputs: list[list[Any]]
    #: ``[link code, label, type, codec, value]`` of inline node pk+i at index i-1
    nodes: list[list[Any]]

    @property
    def last(self) -> int:
        """The highest pk the row stands for."""
        return self.pk + len(self.nodes)

    def uuid_of(self, pk: int) -> bytes:
        """The uuid of node ``pk`` of the row (the calc node's or an inline one's)."""
        return bytes(self.uuid[:15]) + bytes([pk - self.pk])

    def node(self, pk: int, full: bool = False) -> tuple[Any, ...]:
        """Node ``pk``'s row: the columns of ``NODE_RECORD_COLUMNS`` (pk, uuid, kind, type,
        label, state, error, run_pk, ctime, mtime, codec, blob_id); ``full`` adds the value,
        the cache key and ``cached_from`` (``graph_sets.NODE_COLUMNS``)."""
        if pk == self.pk:
            head: tuple[Any, ...] = (pk, self.uuid, _CALC, self.type, self.label, self.state)
            row = (*head, None, self.run_pk, self.ctime, self.mtime, None, None)
            return (*row, None, self.hash, None) if full else row
        _, _, type_, codec, value = self.nodes[pk - self.pk - 1]
        row = (pk, self.uuid_of(pk), _DATA, type_, None, None, None, None, self.ctime, None)
        row = (*row, codec, None)
        return (*row, value, None, None) if full else row

    def links(self) -> list[RawLink]:
        """Every link the row stands for: its CALL, its INPUT_CALC links (from outside and
        from inline constants) and its CREATE links."""
        found: list[RawLink] = [(self.caller, self.pk, CALL_CALC, self.label)]
        found += [(src, self.pk, INPUT_CALC, label) for label, src in self.inputs]
        for i, (code, label, *_) in enumerate(self.nodes, 1):
            if code == CREATE:
                found.append((self.pk, self.pk + i, CREATE, label))
            else:
                found.append((self.pk + i, self.pk, code, label))
        return found


def decode(row: Sequence[Any]) -> Packed:
    """A ``task_run`` row (:data:`ROW_COLUMNS`) as :class:`Packed`."""
    pk, uuid, caller, run_pk, label, type_, state, ctime, mtime, key, inputs, nodes = row
    return Packed(
        pk,
        bytes(uuid),
        caller,
        run_pk,
        label,
        type_,
        state,
        ctime,
        mtime,
        None if key is None else bytes(key),
        json.loads(inputs),
        json.loads(nodes),
    )


def has_packed(query: Query) -> bool:
    """Whether the store holds any packed row (False for a file without the table)."""
    try:
        return query("SELECT max(pk) FROM task_run", ())[0][0] is not None
    except sqlite3.OperationalError:
        return False


def find_rows(query: Query, where: str, params: Sequence[Any]) -> list[Packed]:
    """The rows matching ``where`` (SQL over ``task_run``'s columns), by pk."""
    sql = f"SELECT {ROW_COLUMNS} FROM task_run WHERE {where} ORDER BY pk"
    return [decode(row) for row in query(sql, params)]


def called_by(n: int, columns: str, condition: str = "") -> str:
    """SQL selecting ``columns`` of the rows called by one of ``n`` pks (and meeting
    ``condition``); its parameters are the pks then the condition's, twice over.

    ``task_run_caller`` indexes only the rows a graph task called (``caller != run_pk``): a
    task its run called itself, every task of a flat graph, is found by ``task_run_run``
    instead, so writing such a row costs one index entry fewer (~0.25 µs of the writer's
    time per task, the bottleneck of a run with provenance)."""
    m = marks(n)
    extra = f" AND {condition}" if condition else ""
    return (
        f"SELECT {columns} FROM task_run WHERE caller IN ({m}) AND caller != run_pk{extra}"
        f" UNION ALL SELECT {columns} FROM task_run"
        f" WHERE run_pk IN ({m}) AND caller = run_pk{extra}"
    )


def rows_called_by(
    query: Query, pks: Sequence[int], condition: str = "", params: Sequence[Any] = ()
) -> list[Packed]:
    """The rows called by one of ``pks`` (at most an in-list's worth) that meet
    ``condition`` (its ``params``), by pk: see :func:`called_by`."""
    both = (*pks, *params)
    sql = called_by(len(pks), ROW_COLUMNS, condition) + " ORDER BY pk"
    return [decode(row) for row in query(sql, (*both, *both))]


def node_at(query: Query, pk: int) -> Packed | None:
    """The row that stands for node ``pk`` (its calc node or an inline one), or None: the
    highest row at or below ``pk`` (one rowid search), if ``pk`` is within its range."""
    try:
        rows = query(
            f"SELECT {ROW_COLUMNS} FROM task_run WHERE pk <= ? ORDER BY pk DESC LIMIT 1", (pk,)
        )
    except sqlite3.OperationalError:
        return None
    if not rows:
        return None
    row = decode(rows[0])
    return row if pk <= row.last else None


def nodes_at(query: Query, pks: Iterable[int]) -> dict[int, Packed]:
    """The rows that stand for the nodes ``pks`` (node rows are not looked at: ask for the
    pks the ``node`` table lacks), keyed by each found node pk. Per chunk: the rows of calc
    pks and of a few pks below each (inline nodes are mostly pk+1..pk+3), then a point read
    for each pk still unplaced."""
    wanted = sorted(set(pks))
    found: dict[int, Packed] = {}
    rows: dict[int, Packed] = {}
    for chunk in chunks(wanted):
        near = sorted({p - d for p in chunk for d in range(_NEAR + 1)})
        for part in chunks(near):
            for row in find_rows(query, f"pk IN ({marks(len(part))})", part):
                rows[row.pk] = row
        for p in chunk:
            place = _placed(rows, p)
            if place is None:
                place = node_at(query, p)
                if place is not None:
                    rows[place.pk] = place
            if place is not None:
                found[p] = place
    return found


def _placed(rows: dict[int, Packed], pk: int) -> Packed | None:
    for d in range(_NEAR + 1):
        row = rows.get(pk - d)
        if row is not None:
            return row if pk <= row.last else None
    return None


def rows_by_uuid(query: Query, low: bytes, high: bytes | None, limit: int) -> list[Packed]:
    """The rows whose nodes' uuids may lie in ``[low, high)``: a row's uuid has last byte 0,
    so the search starts at ``low`` with its last byte cleared (the uuid index), by uuid."""
    start = bytes(low[:15]) + b"\0"
    sql = f"SELECT {ROW_COLUMNS} FROM task_run WHERE uuid >= ?"
    params: list[Any] = [start]
    if high is not None:
        sql += " AND uuid < ?"
        params.append(high)
    return [decode(row) for row in query(sql + " ORDER BY uuid LIMIT ?", [*params, limit])]


def links_in(query: Query, rows: Iterable[tuple[int, Packed]], codes: set[int]) -> list[RawLink]:
    """The links of ``codes`` into the packed nodes ``rows`` (node pk, its row): a calc node's
    CALL and INPUT_CALC links, an inline output's CREATE."""
    found: list[RawLink] = []
    for pk, row in rows:
        found += [link for link in row.links() if link[1] == pk and link[2] in codes]
    return found


def links_out(
    query: Query, pks: Sequence[int], rows: Iterable[tuple[int, Packed]], codes: set[int]
) -> list[RawLink]:
    """The packed links of ``codes`` out of ``pks``: those of the packed nodes among them
    (``rows``: node pk, its row; a calc node's CREATE links, an inline constant's INPUT_CALC),
    the INPUT_CALC links into packed calc nodes from any of them (``input_ref``) and the CALL
    links from a caller among them into packed task runs (``task_run_caller``)."""
    found: list[RawLink] = []
    for pk, row in rows:
        found += [link for link in row.links() if link[0] == pk and link[2] in codes]
    for chunk in chunks(pks, distinct=True):
        if INPUT_CALC in codes:
            sql = f"SELECT src, dst, label FROM input_ref WHERE src IN ({marks(len(chunk))})"
            found += [(src, dst, INPUT_CALC, label) for src, dst, label in query(sql, chunk)]
        if CALL_CALC in codes:
            sql = called_by(len(chunk), "caller, pk, label")
            called = query(sql, (*chunk, *chunk))
            found += [(src, dst, CALL_CALC, label) for src, dst, label in called]
    return found

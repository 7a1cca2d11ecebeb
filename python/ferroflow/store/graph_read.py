"""Point reads and walks of the provenance graph: the one reader of the ``node`` and ``link``
tables for :class:`~ferroflow.store.StoredNode`, :mod:`ferroflow.query`, restarts, ``cache why``
and a run's captured output.

Why a layer: issue 20's provenance cost needs a second, packed form of a finished task run (one
``task_run`` row instead of three nodes and three links, ``docs/packed-task-runs.md``), and
SQLite cannot join a ``UNION ALL`` view of both forms fast enough (seconds). So every question
asked of the graph is a function here that takes *values* (pks, a run, link types, filter
values) and answers with plain rows (node rows in :data:`NODE_ROW_COLUMNS` order, :class:`Link`,
tuples); no caller is handed SQL text to join onto ``node`` or ``link``. Step 1 answers them
from today's tables, with the statements the callers used to run (the query plans and the
tests' outcomes are unchanged); step 2 answers the same functions from both forms without
touching a caller (:mod:`.packed_read` expands a packed row; a store without packed rows runs
the step-1 statements). The set readers (exports, pictures) have their own layer,
``graph_sets``; the writers are not readers and keep their SQL.

Every function takes ``query``, a callable that runs one read statement and returns its rows
(``Reader.query``: it syncs pending writes first); it is looked up by the caller at call time, so
a test that records a reader's statements sees these too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from ..model.vocabulary import KIND_CODES, STATE_CODES, Kind, State
from ..model.vocabulary import Link as LinkType
from . import packed_read as packed
from .in_lists import chunks, marks
from .node_record import NODE_RECORD_COLUMNS
from .schema import CALL_LINKS, LINK_CODES, LINK_NAMES, TOP_LEVEL_RUN, sql_codes

__all__ = [
    "DATA_PROVENANCE",
    "LINK_TYPES",
    "NODE_ROW_COLUMNS",
    "Link",
    "NodeRow",
    "Query",
    "cache_fields",
    "call_links_of_run",
    "captured_output_of_run",
    "count_nodes",
    "keyless_finished_tasks",
    "last_node_pk",
    "link_codes",
    "links",
    "links_touching",
    "neighbours",
    "node_row",
    "node_rows",
    "node_rows_by_uuid",
    "run_node_rows",
    "task_state_counts",
    "top_level_runs",
    "value_parts",
    "value_parts_of",
    "walk",
]

#: runs one read statement and returns its rows (``Reader.query``)
Query = Callable[[str, Sequence[Any]], list[Any]]
#: one node as a tuple of :data:`NODE_ROW_COLUMNS` (what ``decode_node_columns`` reads)
NodeRow = tuple[Any, ...]
#: the columns of a :data:`NodeRow`, in order: those of ``NodeRecord``
NODE_ROW_COLUMNS: tuple[str, ...] = NODE_RECORD_COLUMNS

#: Every link type, in schema order.
LINK_TYPES: tuple[str, ...] = tuple(LINK_CODES)
#: The links that form AiiDA's data-provenance DAG; the default for walks.
DATA_PROVENANCE: tuple[str, ...] = (LinkType.INPUT_CALC, LinkType.CREATE)

_COLUMNS = ", ".join(NODE_ROW_COLUMNS)


class Link(NamedTuple):
    """One stored link: ``src --type/label--> dst``."""

    src: int
    dst: int
    type: str
    label: str


def link_codes(link_types: Iterable[str] | None, default: Sequence[str]) -> list[int]:
    """The codes of ``link_types`` (``default`` when None); an unknown name is a ValueError."""
    names = default if link_types is None else list(link_types)
    try:
        return [LINK_CODES[name] for name in names]
    except KeyError as exc:
        raise ValueError(
            f"unknown link type {exc.args[0]!r}; expected one of {LINK_TYPES}"
        ) from None


# -- nodes ------------------------------------------------------------------------------------
def node_row(query: Query, pk: int) -> NodeRow | None:
    """Node ``pk``'s row, or None when there is none (the node table first, then the packed
    row whose range holds ``pk``)."""
    rows = query(f"SELECT {_COLUMNS} FROM node WHERE pk = ?", (pk,))
    if rows:
        return tuple(rows[0])
    row = packed.node_at(query, pk)
    return None if row is None else row.node(pk)


def node_rows(query: Query, pks: Iterable[int]) -> dict[int, NodeRow]:
    """The rows of the nodes among ``pks``, keyed by pk (unknown pks are left out)."""
    wanted = list(pks)
    found: dict[int, NodeRow] = {}
    for chunk in chunks(wanted, distinct=True):
        sql = f"SELECT {_COLUMNS} FROM node WHERE pk IN ({marks(len(chunk))})"
        for row in query(sql, chunk):
            found[row[0]] = tuple(row)
    missing = [pk for pk in dict.fromkeys(wanted) if pk not in found]
    if missing and packed.has_packed(query):
        for pk, row in packed.nodes_at(query, missing).items():
            found[pk] = row.node(pk)
    return found


def packed_nodes(query: Query, pks: Iterable[int]) -> dict[int, packed.Packed]:
    """The packed rows that stand for the nodes among ``pks`` that have no node row, keyed by
    node pk (empty, after one descent, in a store without packed rows)."""
    return _unstored(query, pks) if packed.has_packed(query) else {}


def _unstored(query: Query, pks: Iterable[int]) -> dict[int, packed.Packed]:
    wanted = list(dict.fromkeys(pks))
    present: set[int] = set()
    for chunk in chunks(wanted):
        sql = f"SELECT pk FROM node WHERE pk IN ({marks(len(chunk))})"
        present.update(pk for (pk,) in query(sql, chunk))
    return packed.nodes_at(query, [pk for pk in wanted if pk not in present])


def node_rows_by_uuid(query: Query, digits: str) -> list[NodeRow]:
    """The nodes whose uuid is ``digits`` (1 to 32 lower-case hex digits, checked by the
    caller): the one node of a whole uuid, else the first two of a prefix in uuid order (two
    say the prefix is ambiguous without reading every match)."""
    if len(digits) == 32:
        whole = bytes.fromhex(digits)
        rows = query(f"SELECT {_COLUMNS} FROM node WHERE uuid = ?", (whole,))
        if rows:
            return [tuple(row) for row in rows]
        found = packed.rows_by_uuid(query, whole, whole[:15] + b"\1", 1)
        return [
            row.node(row.pk + whole[15])
            for row in found
            if row.uuid[:15] == whole[:15] and whole[15] <= len(row.nodes)
        ]
    shift = 4 * (32 - len(digits))
    low = int(digits, 16) << shift
    high = (int(digits, 16) + 1) << shift
    params: list[Any] = [low.to_bytes(16, "big")]
    sql = f"SELECT {_COLUMNS} FROM node WHERE uuid >= ?"
    if high < 1 << 128:
        sql += " AND uuid < ?"
        params.append(high.to_bytes(16, "big"))
    nodes = [tuple(row) for row in query(sql + " LIMIT 2", params)]
    if not packed.has_packed(query):
        return nodes
    top = high.to_bytes(16, "big") if high < 1 << 128 else None
    for row in packed.rows_by_uuid(query, params[0], top, 3):
        for pk in range(row.pk, row.last + 1):
            if row.uuid_of(pk).hex().startswith(digits):
                nodes.append(row.node(pk))
    return sorted(nodes, key=lambda node: bytes(node[1]))[:2]


def top_level_runs(query: Query) -> list[NodeRow]:
    """Every top-level graph run, newest first (the partial index ``node_toplevel``)."""
    sql = f"SELECT {_COLUMNS} FROM node WHERE {TOP_LEVEL_RUN} ORDER BY ctime DESC, pk DESC"
    return [tuple(row) for row in query(sql, ())]


def cache_fields(query: Query, pk: int) -> tuple[bytes | None, int | None] | None:
    """Node ``pk``'s cache key and the pk of the task run whose results it reused (each None
    when it has none), or None when there is no such node."""
    rows = query("SELECT hash, cached_from FROM node WHERE pk = ?", (pk,))
    if not rows:
        row = packed.node_at(query, pk)
        if row is None:
            return None
        return (row.hash if pk == row.pk else None), None
    key, cached_from = rows[0]
    return (bytes(key) if key is not None else None), cached_from


def value_parts_of(query: Query, pk: int) -> tuple[str | None, Any, Any] | None:
    """Node ``pk``'s value as stored: its codec, inline value and blob bytes (``decode_row``'s
    arguments), or None when there is no such node."""
    rows = query(
        "SELECT n.codec, n.value, b.data FROM node n LEFT JOIN blob b ON b.id = n.blob_id"
        " WHERE n.pk = ?",
        (pk,),
    )
    if not rows:
        return value_parts(query, [pk]).get(pk)
    codec, inline, blob = rows[0]
    return codec, inline, blob


def value_parts(query: Query, pks: Iterable[int]) -> dict[int, tuple[str | None, Any, Any]]:
    """:func:`value_parts_of` for many nodes, keyed by pk (unknown pks are left out)."""
    wanted = list(pks)
    found: dict[int, tuple[str | None, Any, Any]] = {}
    for chunk in chunks(wanted, distinct=True):
        sql = (
            "SELECT n.pk, n.codec, n.value, b.data FROM node n"
            " LEFT JOIN blob b ON b.id = n.blob_id"
            f" WHERE n.pk IN ({marks(len(chunk))})"
        )
        for pk, codec, inline, blob in query(sql, chunk):
            found[pk] = (codec, inline, blob)
    missing = [pk for pk in dict.fromkeys(wanted) if pk not in found]
    if missing and packed.has_packed(query):
        for pk, row in packed.nodes_at(query, missing).items():
            found[pk] = (row.node(pk)[10], row.node(pk, full=True)[12], None)
    return found


# -- links ------------------------------------------------------------------------------------
def neighbours(
    query: Query, pk: int, incoming: bool, link_types: Iterable[str] | None = None
) -> list[tuple[str, str, NodeRow]]:
    """``(link_type, label, far node's row)`` for the links into (or out of) ``pk``, by link
    type then far pk."""
    codes = link_codes(link_types, LINK_TYPES)
    near, far = ("dst", "src") if incoming else ("src", "dst")
    columns = ", ".join(f"n.{column}" for column in NODE_ROW_COLUMNS)
    sql = (
        f"SELECT l.type, l.label, {columns} FROM link l JOIN node n ON n.pk = l.{far}"
        f" WHERE l.{near} = ? AND l.type IN ({marks(len(codes))}) ORDER BY l.type, n.pk"
    )
    if not packed.has_packed(query):
        return [(LINK_NAMES[row[0]], row[1], tuple(row[2:])) for row in query(sql, [pk, *codes])]
    # both forms: a link row's far end may be a packed node, so no join onto ``node``
    found = links(query, [pk], incoming, [LINK_NAMES[code] for code in codes])
    far_rows = node_rows(query, [link.src if incoming else link.dst for link in found])
    pairs = [(link, far_rows.get(link.src if incoming else link.dst)) for link in found]
    return sorted(
        ((link.type, link.label, row) for link, row in pairs if row is not None),
        key=lambda item: (LINK_CODES[item[0]], item[2][0]),
    )


def _packed_links(query: Query, pks: list[int], incoming: bool, codes: list[int]) -> list[Any]:
    """The links of ``codes`` into (or out of) ``pks`` that packed rows stand for."""
    if not packed.has_packed(query):
        return []
    rows = _unstored(query, pks)
    wanted = set(codes)
    if incoming:
        return packed.links_in(query, rows.items(), wanted)
    return packed.links_out(query, pks, rows.items(), wanted)


def links(
    query: Query, pks: Iterable[int], incoming: bool, link_types: Iterable[str] | None = None
) -> list[Link]:
    """Every link into (``incoming``) or out of the nodes ``pks``, of the given types (all
    when None); per chunk of pks by type, src, dst."""
    codes = link_codes(link_types, LINK_TYPES)
    near = "dst" if incoming else "src"
    out: list[Link] = []
    for chunk in chunks(pks, distinct=True):
        sql = (
            f"SELECT src, dst, type, label FROM link WHERE {near} IN ({marks(len(chunk))})"
            f" AND type IN ({marks(len(codes))}) ORDER BY type, src, dst"
        )
        rows = list(query(sql, [*chunk, *codes]))
        extra = _packed_links(query, chunk, incoming, codes)
        if extra:
            rows = sorted({*map(tuple, rows), *extra}, key=lambda r: (r[2], r[0], r[1], r[3]))
        out.extend(Link(src, dst, LINK_NAMES[code], label) for src, dst, code, label in rows)
    return out


def walk(
    query: Query,
    pk: int,
    backwards: bool,
    link_types: Iterable[str] | None = None,
    max_depth: int | None = None,
) -> list[NodeRow]:
    """The rows of the ancestors (``backwards``) or descendants of ``pk`` through
    ``link_types`` (data provenance when None), at most ``max_depth`` links away, by pk; ``pk``
    itself is left out (a cycle of the logical plane would reach it)."""
    codes = link_codes(link_types, DATA_PROVENANCE)
    if packed.has_packed(query):
        return _walk_both(query, pk, backwards, codes, max_depth)
    near, far = ("dst", "src") if backwards else ("src", "dst")
    types = f"type IN ({marks(len(codes))})"
    if max_depth is None:
        recursive = (
            f"WITH RECURSIVE walk(pk) AS ("
            f" SELECT {far} FROM link WHERE {near} = ? AND {types}"
            f" UNION SELECT l.{far} FROM link l JOIN walk w ON l.{near} = w.pk WHERE l.{types})"
        )
        params: list[Any] = [pk, *codes, *codes]
    else:
        if max_depth < 1:
            return []
        recursive = (
            f"WITH RECURSIVE walk(pk, depth) AS ("
            f" SELECT {far}, 1 FROM link WHERE {near} = ? AND {types}"
            f" UNION SELECT l.{far}, w.depth + 1 FROM link l JOIN walk w ON l.{near} = w.pk"
            f" WHERE l.{types} AND w.depth < ?)"
        )
        params = [pk, *codes, *codes, max_depth]
    sql = f"{recursive} SELECT {_COLUMNS} FROM node WHERE pk IN (SELECT pk FROM walk) AND pk != ?"
    return [tuple(row) for row in query(sql + " ORDER BY pk", [*params, pk])]


def _walk_both(
    query: Query, pk: int, backwards: bool, codes: list[int], max_depth: int | None
) -> list[NodeRow]:
    """:func:`walk` over both forms: level by level, one batch of link reads per level."""
    names = [LINK_NAMES[code] for code in codes]
    seen = {pk}
    reached: set[int] = set()
    frontier = [pk]
    depth = 0
    while frontier and (max_depth is None or depth < max_depth):
        depth += 1
        step = links(query, frontier, backwards, names)
        ends = {link.src if backwards else link.dst for link in step}
        reached |= ends
        frontier = sorted(ends - seen)
        seen |= ends
    rows = node_rows(query, reached - {pk})
    return [rows[key] for key in sorted(rows)]


def links_touching(
    query: Query, pks: Iterable[int], link_types: Iterable[str] | None = None
) -> list[Link]:
    """Every link with either end among ``pks`` (of the given types, all when None), each
    once, by src, dst, type, label: the links of a run's members, whichever way they point."""
    wanted = list(pks)
    types = None if link_types is None else list(link_types)
    found = set(links(query, wanted, True, types)) | set(links(query, wanted, False, types))
    return sorted(found, key=lambda link: (link.src, link.dst, LINK_CODES[link.type], link.label))


# -- counts and censuses ----------------------------------------------------------------------
def count_nodes(
    query: Query,
    *,
    kinds: Iterable[str] | None = None,
    states: Iterable[int] | None = None,
    run_pk: int | None = None,
    label_like: str | None = None,
) -> int:
    """How many nodes the store holds with every condition given: a kind among ``kinds``
    (names), a state among ``states`` (codes), recorded under top-level run ``run_pk`` (its
    processes; a run's data nodes have none), a label matching the ``LIKE`` pattern
    ``label_like``. No condition: every node."""
    where: list[str] = []
    params: list[Any] = []
    if kinds is not None:
        codes = [KIND_CODES[kind] for kind in kinds]
        where.append(f"kind IN ({marks(len(codes))})")
        params.extend(codes)
    kind_params = len(params)
    if states is not None:
        wanted = list(states)
        where.append(f"state IN ({marks(len(wanted))})")
        params.extend(wanted)
    if run_pk is not None:
        where.append("run_pk = ?")
        params.append(run_pk)
    if label_like is not None:
        where.append("label LIKE ?")
        params.append(label_like)
    sql = f"SELECT count(*) FROM node WHERE {' AND '.join(where) or '1'}"
    total = int(query(sql, params)[0][0])
    if not packed.has_packed(query):
        return total
    names = None if kinds is None else set(kinds)
    if names is None or Kind.CALC in names:  # the packed calc nodes: same columns, kind calc
        calc_where = where[1:] if kinds is not None else where
        calc_params = params[kind_params:]
        sql = f"SELECT count(*) FROM task_run WHERE {' AND '.join(calc_where) or '1'}"
        total += int(query(sql, calc_params)[0][0])
    no_filter = states is None and run_pk is None and label_like is None
    if no_filter and (names is None or Kind.DATA in names):  # inline data: no state/run/label
        sql = "SELECT coalesce(sum(json_array_length(nodes)), 0) FROM task_run"
        total += int(query(sql, ())[0][0])
    return total


def last_node_pk(query: Query) -> int | None:
    """The highest pk a node holds (None in an empty store)."""
    rows = query("SELECT max(pk) FROM node", ())
    top = None if not rows or rows[0][0] is None else int(rows[0][0])
    if packed.has_packed(query):
        last = query(
            packed.LAST_PACKED_SQL,
            (),
        )
        top = max(top or 0, int(last[0][0]))
    return top


# -- a run's processes ------------------------------------------------------------------------
_CALC = KIND_CODES[Kind.CALC]
_KEYLESS_SQL = (
    "SELECT n.pk, n.type, c.digest FROM node n"
    " JOIN code c ON c.run_pk = n.run_pk AND c.type = n.type"
    f" WHERE n.run_pk = ? AND n.kind = {_CALC}"
    f" AND n.state = {STATE_CODES[State.FINISHED]} AND n.hash IS NULL"
)
_STATE_COUNTS_SQL = "SELECT state, count(*) FROM node WHERE run_pk = ? AND kind = ? GROUP BY state"
_CAPTURED_SQL = (
    "SELECT n.pk, o.text, o.dropped FROM task_output o JOIN node n ON n.pk = o.pk"
    " WHERE n.run_pk = ? ORDER BY n.ctime, n.pk"
)
#: a run's packed task runs' output (keyed by the row's pk), with their start for the merge
_CAPTURED_PACKED_SQL = (
    "SELECT t.pk, o.text, o.dropped, t.ctime FROM task_run t JOIN task_output o ON o.pk = t.pk"
    " WHERE t.run_pk = ?"
)
_CAPTURED_NODES_SQL = (
    "SELECT n.pk, o.text, o.dropped, n.ctime FROM task_output o JOIN node n ON n.pk = o.pk"
    " WHERE n.run_pk = ?"
)
_CALLS_SQL = (
    "SELECT l.dst, l.src, n.label FROM node n JOIN link l ON l.dst = n.pk"
    f" WHERE n.run_pk = ? AND l.type IN ({sql_codes(LINK_CODES, CALL_LINKS)})"
)


def run_node_rows(query: Query, run_pk: int, kinds: Iterable[str] | None = None) -> list[NodeRow]:
    """The rows of the nodes recorded under top-level run ``run_pk`` (the run, its graph
    tasks, zones and task runs; its data nodes carry no run), of ``kinds`` (names; all when
    None), by pk (the ``node_run`` index)."""
    sql = f"SELECT {_COLUMNS} FROM node WHERE run_pk = ?"
    params: list[Any] = [run_pk]
    if kinds is not None:
        codes = [KIND_CODES[kind] for kind in kinds]
        sql += f" AND kind IN ({marks(len(codes))})"
        params.extend(codes)
    found = [tuple(row) for row in query(sql + " ORDER BY pk", params)]
    if (kinds is None or Kind.CALC in set(kinds)) and packed.has_packed(query):
        rows = packed.find_rows(query, "run_pk = ?", (run_pk,))
        found = sorted(found + [row.node(row.pk) for row in rows], key=lambda node: node[0])
    return found


def keyless_finished_tasks(query: Query, run_pk: int) -> list[tuple[int, str, bytes]]:
    """``(pk, process_type, recorded code digest)`` of run ``run_pk``'s FINISHED task runs
    without a cache key whose code digest the run recorded (what a restart can key)."""
    found = [(pk, ptype, digest) for pk, ptype, digest in query(_KEYLESS_SQL, (run_pk,))]
    if packed.has_packed(query):
        found += query(
            _KEYLESS_SQL.replace("FROM node n", "FROM task_run n").replace(
                f" AND n.kind = {_CALC}", ""
            ),
            (run_pk,),
        )
        found.sort()
    return [(pk, ptype, bytes(digest)) for pk, ptype, digest in found]


def task_state_counts(query: Query, run_pk: int) -> dict[int, int]:
    """How many task runs of run ``run_pk`` are in each state, by state code (the
    ``node_run`` index: one grouped count, no rows)."""
    counts = {state: n for state, n in query(_STATE_COUNTS_SQL, (run_pk, _CALC))}
    if packed.has_packed(query):
        sql = "SELECT state, count(*) FROM task_run WHERE run_pk = ? GROUP BY state"
        for state, n in query(sql, (run_pk,)):
            counts[state] = counts.get(state, 0) + n
    return counts


def captured_output_of_run(query: Query, run_pk: int) -> list[tuple[int, str, int]]:
    """``(pk, text, dropped)`` of every process of run ``run_pk`` that captured output, in the
    order they started (``task_output`` rows, ordered by their nodes)."""
    if not packed.has_packed(query):
        return [(pk, text, dropped) for pk, text, dropped in query(_CAPTURED_SQL, (run_pk,))]
    rows = query(_CAPTURED_NODES_SQL, (run_pk,)) + query(_CAPTURED_PACKED_SQL, (run_pk,))
    rows.sort(key=lambda row: (row[3], row[0]))  # (ctime, pk), as the node form's ORDER BY
    return [(pk, text, dropped) for pk, text, dropped, _ in rows]


def call_links_of_run(query: Query, run_pk: int) -> list[tuple[int, int, str]]:
    """``(callee, caller, callee's label)`` for every process of run ``run_pk`` that was
    called (``CALL_CALC``/``CALL_WORK`` into it)."""
    found = [(dst, src, label) for dst, src, label in query(_CALLS_SQL, (run_pk,))]
    if packed.has_packed(query):
        sql = "SELECT pk, caller, label FROM task_run WHERE run_pk = ?"
        found += [(dst, src, label) for dst, src, label in query(sql, (run_pk,))]
    return found

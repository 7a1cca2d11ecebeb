"""Sets of nodes and links for exports and pictures, read through one layout-aware layer.

Why a layer: a finished task run is to become one packed ``task_run`` row instead of node and
link rows (``docs/packed-task-runs.md``), and SQLite cannot join a ``UNION ALL`` view of both
forms efficiently. So no export or picture names the ``node`` and ``link`` tables; they ask
this module, whose functions take pks, run pks and link-type names and return plain rows, so
each can later be answered from both forms without changing its callers:

* :func:`select_run` fills two TEMP tables with one run's members, ``sel_node`` (the node
  table's columns) and ``sel_link`` (the links whose two ends are members, keyed and indexed as
  the ``link`` table is, so streams over them come out in the same order). An export is O(run)
  anyway; with packed rows this is where they are expanded, once, and the export's own SQL reads
  only these tables.
* :func:`links_at`, :func:`links_of` and the other walks read links of a few pks at a time,
  for bounded pictures and pages of big runs (:mod:`.graph_counts` has their aggregates).

Every function takes the caller's connection, so a reader keeps its one read snapshot.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from ..model.vocabulary import Kind
from . import graph_sets_packed as both
from . import packed_read as packed
from .in_lists import chunks, marks
from .node_record import NODE_RECORD_COLUMNS
from .reading import Link
from .schema import (
    CALL_LINKS,
    KIND_NAMES,
    LINK_CODES,
    LINK_NAMES,
    RUN_INPUTS_SQL,
    RUN_OUTPUTS_SQL,
    state_name,
)

__all__ = [
    "NODE_COLUMNS",
    "SEL_LINK",
    "SEL_NODE",
    "Side",
    "creators_of_returned",
    "link_codes",
    "links_at",
    "links_of",
    "node_heads",
    "node_rows",
    "returned_makers",
    "select_run",
    "uuid_of",
]

#: The temp table of a selection's nodes: the node table's columns (:data:`NODE_COLUMNS`).
SEL_NODE = "sel_node"
#: The temp table of the links among a selection's nodes: ``src, dst, type, label``, with
#: ``type`` the link's code (:data:`~.schema.LINK_CODES`), primary key ``(dst, type, label,
#: src)`` and an index on ``(src, type)``, as the ``link`` table.
SEL_LINK = "sel_link"
#: The columns of a node row a set reader gets: :data:`~.node_record.NODE_RECORD_COLUMNS`, then
#: the inline value, the cache key and the pk a cached result was copied from.
NODE_COLUMNS: tuple[str, ...] = (*NODE_RECORD_COLUMNS, "value", "hash", "cached_from")

#: Which end of a link a pk is: ``"dst"`` reads the links into it, ``"src"`` those out of it.
Side = Literal["src", "dst"]

_COLUMNS = ", ".join(NODE_COLUMNS)
_N_COLUMNS = ", ".join(f"n.{column}" for column in NODE_COLUMNS)


def _other(side: Side) -> Side:
    if side not in ("src", "dst"):
        raise ValueError(f"side must be 'src' or 'dst', not {side!r}")
    return "dst" if side == "src" else "src"


def link_codes(link_types: Iterable[str]) -> list[int]:
    """The stored codes of link-type names, for SQL over :data:`SEL_LINK`."""
    return [LINK_CODES[name] for name in link_types]


def _link(row: Sequence[Any]) -> Link:
    src, dst, code, label = row
    return Link(src, dst, LINK_NAMES[code], label)


# -- a run's members as temp tables -----------------------------------------------------------
def select_run(conn: sqlite3.Connection, run_pk: int) -> None:
    """Fill :data:`SEL_NODE` and :data:`SEL_LINK` with the members of the top-level run
    ``run_pk`` on ``conn`` (temp tables are allowed on a read-only connection; they take the
    run's size, so a caller sets ``temp_store`` to keep them in memory or in a file; call once
    per connection).

    The members are the run's process nodes (``run_pk`` is the run; the ``node_run`` index),
    the data they used (``INPUT_*`` into them) and the data they created or returned
    (``CREATE``/``RETURN`` out of them): data nodes are reached through links because their
    ``run_pk`` may be ``NULL`` (a run's inputs, or values of earlier runs). Only links whose two
    ends are members are selected: a value made by an earlier run is an input, without its
    creator.
    """
    conn.execute("CREATE TEMP TABLE sel_pk(pk INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO sel_pk SELECT pk FROM node WHERE run_pk = ?", (run_pk,))
    conn.execute(f"INSERT OR IGNORE INTO sel_pk {RUN_INPUTS_SQL}", (run_pk,))
    conn.execute(f"INSERT OR IGNORE INTO sel_pk {RUN_OUTPUTS_SQL}", (run_pk,))
    rows = both.add_members(conn, run_pk) if packed.has_packed(both.query_of(conn)) else None
    # Untyped columns (no affinity) keep every value as stored: text stays text, bytes bytes.
    columns = ", ".join("pk INTEGER PRIMARY KEY" if c == "pk" else c for c in NODE_COLUMNS)
    conn.execute(f"CREATE TEMP TABLE {SEL_NODE}({columns})")
    conn.execute(
        f"INSERT INTO {SEL_NODE} SELECT {_N_COLUMNS} FROM sel_pk s CROSS JOIN node n ON n.pk = s.pk"
    )
    conn.execute(
        f"CREATE TEMP TABLE {SEL_LINK}(src INTEGER NOT NULL, dst INTEGER NOT NULL,"
        " type INTEGER NOT NULL, label TEXT NOT NULL, PRIMARY KEY (dst, type, label, src))"
        " WITHOUT ROWID"
    )
    conn.execute(
        f"INSERT INTO {SEL_LINK} SELECT l.src, l.dst, l.type, l.label FROM sel_pk a"
        " CROSS JOIN link l ON l.dst = a.pk CROSS JOIN sel_pk b ON b.pk = l.src"
    )
    if rows is not None:
        both.add_rows_and_links(conn, rows, SEL_NODE, SEL_LINK)
    conn.execute(f"CREATE INDEX temp.sel_link_src ON {SEL_LINK}(src, type)")
    conn.execute("DROP TABLE sel_pk")


# -- nodes by pk ------------------------------------------------------------------------------
def node_rows(conn: sqlite3.Connection, pks: Iterable[int]) -> list[tuple[Any, ...]]:
    """The rows (:data:`NODE_COLUMNS`) of the nodes with these pks, in chunks; unknown pks are
    left out."""
    wanted = set(pks)  # read twice below: a generator would be empty for the packed half
    found: list[tuple[Any, ...]] = []
    for chunk in chunks(sorted(wanted)):
        sql = f"SELECT {_COLUMNS} FROM node WHERE pk IN ({marks(len(chunk))})"
        found += conn.execute(sql, chunk).fetchall()
    query = both.query_of(conn)
    if packed.has_packed(query):
        have = {row[0] for row in found}
        found += both.full_rows(query, [pk for pk in wanted if pk not in have]).values()
        found.sort(key=lambda row: row[0])
    return found


def uuid_of(conn: sqlite3.Connection, pk: int) -> bytes | None:
    """The 16 bytes of a node's uuid, or ``None`` for an unknown pk."""
    row = conn.execute("SELECT uuid FROM node WHERE pk = ?", (pk,)).fetchone()
    if row is None:
        packed_row = packed.node_at(both.query_of(conn), pk)
        return None if packed_row is None else packed_row.uuid_of(pk)
    return bytes(row[0])


def node_heads(
    conn: sqlite3.Connection, pks: Iterable[int]
) -> dict[int, tuple[str, str, str | None]]:
    """``{pk: (type, kind, state)}`` of the nodes with these pks (names; state ``None`` where
    none is stored): what a picture needs to place a node, without its value."""
    found: dict[int, tuple[str, str, str | None]] = {}
    pks_list = list(pks)
    for chunk in chunks(pks_list):
        sql = f"SELECT pk, type, kind, state FROM node WHERE pk IN ({marks(len(chunk))})"
        for pk, type_, kind, state in conn.execute(sql, chunk):
            found[pk] = (type_, KIND_NAMES[kind], None if state is None else state_name(state))
    for pk, row in both.full_rows(both.query_of(conn), pks_list).items():
        if pk not in found:
            _, _, kind, type_, _, state, *_ = row
            found[pk] = (type_, KIND_NAMES[kind], None if state is None else state_name(state))
    return found


# -- links of a few pks -----------------------------------------------------------------------
def links_at(
    conn: sqlite3.Connection,
    side: Side,
    pks: Iterable[int],
    link_types: Iterable[str],
    *,
    ordered: bool = False,
    limit: int | None = None,
) -> list[Link]:
    """The links of ``link_types`` at the ``side`` end of these pks (``"dst"``: into them).

    ``ordered`` sorts them by that end's pk, then label; ``limit`` stops after that many links
    in all. Read in chunks of a few hundred pks (one index search each).
    """
    _other(side)
    codes = link_codes(link_types)
    query = both.query_of(conn)
    if packed.has_packed(query):
        return _links_at_both(query, side, list(pks), codes, ordered, limit)
    found: list[Link] = []
    order = f" ORDER BY {side}, label" if ordered else ""
    for chunk in chunks(pks):
        left = None if limit is None else limit - len(found)
        if left is not None and left <= 0:
            break
        sql = (
            f"SELECT src, dst, type, label FROM link WHERE {side} IN ({marks(len(chunk))})"
            f" AND type IN ({marks(len(codes))}){order}"
        )
        params: list[int] = [*chunk, *codes]
        if left is not None:
            sql += " LIMIT ?"
            params.append(left)
        found += map(_link, conn.execute(sql, params))
    return found


def _links_at_both(
    query: both.Query,
    side: Side,
    pks: list[int],
    codes: list[int],
    ordered: bool,
    limit: int | None,
) -> list[Link]:
    found: list[Link] = []
    for chunk in chunks(pks):
        part = both.links_both(query, side, chunk, codes)
        # the order SQLite reads them in: by the link_src index (src, type, dst, label) or the
        # primary key (dst, type, label, src); ``ordered`` sorts that by the end, then label
        if side == "src":
            part.sort(key=lambda link: (link.src, LINK_CODES[link.type], link.dst, link.label))
        else:
            part.sort(key=lambda link: (link.dst, LINK_CODES[link.type], link.label, link.src))
        if ordered:
            part.sort(key=lambda link: (getattr(link, side), link.label))
        found += part
        if limit is not None and len(found) >= limit:
            return found[:limit]
    return found


def links_of(
    conn: sqlite3.Connection,
    side: Side,
    pk: int,
    link_types: Iterable[str],
    *,
    by: Literal["label", "other"] = "label",
    limit: int | None = None,
) -> list[Link]:
    """The first ``limit`` links of ``link_types`` at the ``side`` end of ``pk``, by label or by
    the other end's pk (``by="other"``): the first few of a node with many."""
    other = _other(side)
    codes = link_codes(link_types)
    query = both.query_of(conn)
    if packed.has_packed(query):
        found = both.links_both(query, side, [pk], codes)
        key = "label" if by == "label" else other
        found.sort(key=lambda link: (getattr(link, key), link.label))
        return found if limit is None else found[:limit]
    sql = (
        f"SELECT src, dst, type, label FROM link WHERE {side} = ?"
        f" AND type IN ({marks(len(codes))}) ORDER BY {'label' if by == 'label' else other}"
    )
    params: list[int] = [pk, *codes]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [_link(row) for row in conn.execute(sql, params)]


def calls_of_types(
    conn: sqlite3.Connection, parent: int, types: Sequence[str]
) -> list[tuple[Link, str]]:
    """The ``CALL_*`` links out of ``parent`` into processes of these process types, each with
    the called node's kind (``"calc"``/``"work"``)."""
    codes = link_codes(CALL_LINKS)
    sql = (
        "SELECT l.src, l.dst, l.type, l.label, n.kind FROM link l"
        " CROSS JOIN node n ON n.pk = l.dst"
        f" WHERE l.src = ? AND l.type IN ({marks(len(codes))})"
        f" AND n.type IN ({marks(len(types))})"
    )
    found = [
        (_link(row), KIND_NAMES[kind]) for *row, kind in conn.execute(sql, (parent, *codes, *types))
    ]
    query = both.query_of(conn)
    if packed.has_packed(query):
        where = f"type IN ({marks(len(types))})"
        for row in packed.rows_called_by(query, (parent,), where, types):
            found.append((both.call_link(parent, row), Kind.CALC))
        # in the link_src index's order, as the statement reads them
        found.sort(key=lambda item: (LINK_CODES[item[0].type], item[0].dst, item[0].label))
    return found


def creators_of_returned(conn: sqlite3.Connection, graph: int, limit: int) -> list[int]:
    """The pks of the processes that created what the graph run ``graph`` returned (at most
    ``limit`` of them; the creator of a returned input may sit in another run)."""
    sql = (
        "SELECT c.src FROM link r CROSS JOIN link c ON c.dst = r.dst AND c.type = ?"
        " WHERE r.src = ? AND r.type = ? LIMIT ?"
    )
    create, returned = LINK_CODES["CREATE"], LINK_CODES["RETURN"]
    query = both.query_of(conn)
    if packed.has_packed(query):
        return [link.src for _, link in _returned_creates(query, graph)][:limit]
    return [pk for (pk,) in conn.execute(sql, (create, graph, returned, limit))]


def _returned_creates(query: both.Query, graph: int) -> list[tuple[Link, Link]]:
    """``(RETURN link out of graph, CREATE link into its value)`` pairs, in both forms."""
    returned = sorted(
        both.links_both(query, "src", [graph], [LINK_CODES["RETURN"]]),
        key=lambda link: (link.dst, link.label),
    )
    creates: dict[int, list[Link]] = {}
    for link in both.links_both(query, "dst", [r.dst for r in returned], [LINK_CODES["CREATE"]]):
        creates.setdefault(link.dst, []).append(link)
    return [(r, c) for r in returned for c in sorted(creates.get(r.dst, []), key=_by_label)]


def _by_label(link: Link) -> tuple[str, int]:
    return link.label, link.src


def returned_makers(conn: sqlite3.Connection, graph: int, limit: int) -> list[Link]:
    """The ``CALL_*`` links from the graph run ``graph`` into the tasks it called that created
    what it returns (at most ``limit``)."""
    calls = link_codes(CALL_LINKS)
    sql = (
        "SELECT k.src, k.dst, k.type, k.label FROM link r"
        " CROSS JOIN link c ON c.dst = r.dst AND c.type = ?"
        f" CROSS JOIN link k ON k.dst = c.src AND k.type IN ({marks(len(calls))})"
        " WHERE r.src = ? AND r.type = ? AND k.src = r.src LIMIT ?"
    )
    params = (LINK_CODES["CREATE"], *calls, graph, LINK_CODES["RETURN"], limit)
    query = both.query_of(conn)
    if not packed.has_packed(query):
        return [_link(row) for row in conn.execute(sql, params)]
    found: list[Link] = []
    for _, create in _returned_creates(query, graph):
        into = both.links_both(query, "dst", [create.src], calls)
        found += sorted((k for k in into if k.src == graph), key=_by_label)
    return found[:limit]

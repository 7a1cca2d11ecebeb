"""The packed half of the set readers (:mod:`.graph_sets`, :mod:`.graph_counts`): what the
``task_run`` rows of a store add to a run's selection, to the links of a few pks and to their
counts.

Why apart: the set readers' statements over ``node`` and ``link`` stay exactly the ones they
ran before packed rows existed (their query plans are tested), and a store without packed rows
never reaches this module (:func:`~.packed_read.has_packed`, one B-tree descent). With packed
rows, each function here adds the rows and links the packed form stands for, expanded by
:mod:`.packed_read`, so every export and picture of a packed store is the one its node/link
form gives.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from . import graph_read
from . import packed_read as packed
from .graph_read import Link, Query
from .in_lists import marks
from .schema import LINK_CODES, LINK_NAMES

__all__ = [
    "Query",
    "add_members",
    "add_rows_and_links",
    "call_link",
    "full_rows",
    "links_both",
    "query_of",
]


def query_of(conn: sqlite3.Connection) -> Query:
    """The reading layer's ``query`` over ``conn`` (the caller's read snapshot)."""

    def query(sql: str, params: Sequence[Any]) -> list[Any]:
        return conn.execute(sql, tuple(params)).fetchall()

    return query


def full_rows(query: Query, pks: Iterable[int]) -> dict[int, tuple[Any, ...]]:
    """The full rows (``graph_sets.NODE_COLUMNS``) of the packed nodes among ``pks`` that
    have no node row, keyed by pk."""
    return {pk: row.node(pk, full=True) for pk, row in graph_read.packed_nodes(query, pks).items()}


def links_both(query: Query, side: str, pks: Sequence[int], codes: Sequence[int]) -> list[Link]:
    """The links of ``codes`` at the ``side`` end of ``pks`` in both forms (graph_read's)."""
    names = [LINK_NAMES[code] for code in codes]
    return graph_read.links(query, pks, side == "dst", names)


def add_members(conn: sqlite3.Connection, run_pk: int) -> list[packed.Packed]:
    """Add run ``run_pk``'s packed task runs to a selection's ``sel_pk`` (before its node
    rows are copied): their calc nodes, inline nodes and the inputs they used from outside
    their rows. Returns the rows, for :func:`add_rows_and_links`."""
    rows = packed.find_rows(query_of(conn), "run_pk = ?", (run_pk,))
    members = [pk for row in rows for pk in range(row.pk, row.last + 1)]
    members += [src for row in rows for _, src in row.inputs]
    conn.executemany("INSERT OR IGNORE INTO sel_pk(pk) VALUES (?)", [(pk,) for pk in members])
    return rows


def add_rows_and_links(
    conn: sqlite3.Connection, rows: list[packed.Packed], sel_node: str, sel_link: str
) -> None:
    """Complete a selection filled from the node/link form (``sel_pk`` still present): the
    members without a node row get their packed rows in ``sel_node``, and the links ``rows``
    stand for whose two ends are members go into ``sel_link``."""
    stored = {pk for (pk,) in conn.execute(f"SELECT pk FROM {sel_node}")}
    missing = [pk for (pk,) in conn.execute("SELECT pk FROM sel_pk") if pk not in stored]
    expanded = packed.nodes_at(query_of(conn), missing)
    values = [row.node(pk, full=True) for pk, row in sorted(expanded.items())]
    if values:
        conn.executemany(f"INSERT INTO {sel_node} VALUES ({marks(len(values[0]))})", values)
    chosen = {pk for (pk,) in conn.execute("SELECT pk FROM sel_pk")}
    links = [
        link for row in rows for link in row.links() if link[0] in chosen and link[1] in chosen
    ]
    conn.executemany(f"INSERT OR IGNORE INTO {sel_link} VALUES (?, ?, ?, ?)", links)


def call_link(parent: int, row: packed.Packed) -> Link:
    """The CALL_CALC link from ``parent`` into a packed task run."""
    return Link(parent, row.pk, LINK_NAMES[LINK_CODES["CALL_CALC"]], row.label)

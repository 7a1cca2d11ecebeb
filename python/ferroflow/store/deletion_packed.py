"""The packed half of deleting a run (:mod:`.deletion`): its ``task_run`` rows and the
``input_ref`` rows around them.

Why: a packed task run (``docs/packed-task-runs.md``) has no node or link rows, so the
deletion's statements, which follow links through the ``link`` table, would neither find its
data nor see another run's packed task that uses it. So the deletion fills a temporary
``plink`` table (keyed and indexed as ``link``) with the links the packed rows stand for
around the run, and each of its statements that follows links reads ``plink`` too: the same
members, refusals and counts as the node/link form of the same store. A data node that a
packed row of the run holds inline and that another run still uses is kept, as a node row of
its own (its row goes with the run).

The steps are named by marker statements in :mod:`.deletion`'s lists (:data:`PACKED_STEPS`),
so the order of the work stays readable in one place.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from . import packed_read as packed
from .in_lists import chunks, marks

__all__ = ["KEEP_INLINE", "PACKED_AROUND", "PACKED_OWN", "PACKED_STEPS", "packed_users"]

#: marker: ``plink`` gets every link of the run's own packed rows (before ``touched``)
PACKED_OWN = "-- packed: the links of the run's packed rows"
#: marker: ``plink`` gets the packed links at the run's data (after ``touched``)
PACKED_AROUND = "-- packed: the links of other packed rows at the run's data"
#: marker: inline nodes of the run's rows that other runs use become node rows (before the
#: rows are deleted)
KEEP_INLINE = "-- packed: keep the shared inline nodes"

_PLINK = "INSERT OR IGNORE INTO plink(src, dst, type, label) VALUES (?, ?, ?, ?)"
_NODE_COLUMNS = (
    "pk, uuid, kind, type, label, state, error, run_pk, ctime, mtime, codec, blob_id, value,"
    " hash, cached_from"
)


def _query(conn: sqlite3.Connection) -> packed.Query:
    def query(sql: str, params: Sequence[Any]) -> list[Any]:
        return conn.execute(sql, tuple(params)).fetchall()

    return query


def _own(conn: sqlite3.Connection, run_pk: int) -> None:
    rows = packed.find_rows(_query(conn), "run_pk = ?", (run_pk,))
    conn.executemany(_PLINK, [link for row in rows for link in row.links()])


def _around(conn: sqlite3.Connection, run_pk: int) -> None:
    touched = [pk for (pk,) in conn.execute("SELECT pk FROM touched")]
    query = _query(conn)
    for chunk in chunks(touched):
        sql = f"SELECT src, dst, label FROM input_ref WHERE src IN ({marks(len(chunk))})"
        conn.executemany(
            _PLINK, [(src, dst, packed.INPUT_CALC, label) for src, dst, label in query(sql, chunk)]
        )
        sql = f"SELECT pk FROM node WHERE pk IN ({marks(len(chunk))})"
        stored = {pk for (pk,) in query(sql, chunk)}
        others = packed.nodes_at(query, [pk for pk in chunk if pk not in stored])
        conn.executemany(
            _PLINK,
            [
                link
                for pk, row in others.items()
                if row.run_pk != run_pk
                for link in row.links()
                if pk in (link[0], link[1])
            ],
        )


def _keep_inline(conn: sqlite3.Connection, run_pk: int) -> None:
    kept = {pk for (pk,) in conn.execute("SELECT pk FROM shared")}
    rows = packed.find_rows(_query(conn), "run_pk = ?", (run_pk,))
    values = [
        row.node(pk, full=True)
        for row in rows
        for pk in range(row.pk + 1, row.last + 1)
        if pk in kept
    ]
    conn.executemany(f"INSERT INTO node({_NODE_COLUMNS}) VALUES ({marks(15)})", values)


#: what each marker statement does
PACKED_STEPS: dict[str, Callable[[sqlite3.Connection, int], None]] = {
    PACKED_OWN: _own,
    PACKED_AROUND: _around,
    KEEP_INLINE: _keep_inline,
}

# (run pk, data node of the run) for each other run's packed task run linked to a data node of
# the run it did not make: the packed half of deletion's _USERS_SQL
_PACKED_USERS_SQL = (
    "SELECT t.run_pk, s.pk FROM shared s CROSS JOIN plink l ON l.src = s.pk"
    " CROSS JOIN task_run t ON t.pk = l.dst"
    " WHERE NOT s.foreign_made AND t.pk NOT IN (SELECT pk FROM del_proc)"
    " UNION SELECT t.run_pk, s.pk FROM shared s CROSS JOIN plink l ON l.dst = s.pk"
    " CROSS JOIN task_run t ON t.pk = l.src"
    " WHERE NOT s.foreign_made AND t.pk NOT IN (SELECT pk FROM del_proc)"
)


def packed_users(conn: sqlite3.Connection) -> set[tuple[int, int]]:
    """``(run pk, data pk)`` of the other runs' packed task runs that use the run's data."""
    return set(conn.execute(_PACKED_USERS_SQL).fetchall())

"""Tasks of a run that never ran: skipped after a failure, or cancelled, kept so a stored failed
run can still show them.

AiiDA stores no node for a process that never started, and ferroflow's ``node`` table follows
it: a skipped task has no pk, no ctime, no links. Yet the page of a failed run must show what a
failure cost, so when a run ends, the engine records each task it skipped or cancelled (and
never started) as one row of the side table ``unrun_task`` (:mod:`.schema`): the graph run that
held it (the run, or a graph task's node), its name there, its ``process_type``, its state, and
what it waited on (the pks of process nodes, or the names of tasks of its graph that never
started either), which give the page its edges. No node is made, so
every reader of nodes and links sees the run as before. Additive (``CREATE TABLE IF NOT
EXISTS``): ``SCHEMA_VERSION`` stays 1; a file from before it reads as having no such rows.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, NamedTuple

from .rows import OP_SQL
from .schema import STATE_CODES, STATE_NAMES

__all__ = ["INSERT_UNRUN_SQL", "Unrun", "read_unrun", "unrun_counts", "unrun_row"]

INSERT_UNRUN_SQL = (
    "INSERT OR REPLACE INTO unrun_task(run_pk, parent_pk, label, type, state, after)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


class Unrun(NamedTuple):
    """One task of a run that never started."""

    parent_pk: int
    label: str
    type: str
    state: str
    #: what it waited on: process pks, or names of its graph's tasks that never started either
    after: list[int | str]


def unrun_row(
    run_pk: int,
    parent_pk: int,
    label: str,
    process_type: str,
    state: str,
    after: list[int | str],
) -> tuple[Any, ...]:
    """The queued row that records one task of run ``run_pk`` that never started."""
    values = (run_pk, parent_pk, label, process_type, STATE_CODES[state], json.dumps(after))
    return (OP_SQL, INSERT_UNRUN_SQL, values)


def _exists(conn: sqlite3.Connection) -> bool:
    """Whether the file has the table (one opened only for reading may predate it)."""
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'unrun_task'"
    return conn.execute(sql).fetchone() is not None


def read_unrun(conn: sqlite3.Connection, run_pk: int, limit: int) -> list[Unrun]:
    """At most ``limit`` of run ``run_pk``'s tasks that never started, in graph and name
    order."""
    if not _exists(conn):
        return []
    sql = (
        "SELECT parent_pk, label, type, state, after FROM unrun_task WHERE run_pk = ?"
        " ORDER BY parent_pk, label LIMIT ?"
    )
    return [
        Unrun(parent, label, kind, STATE_NAMES.get(state, "PLANNED"), json.loads(after))
        for parent, label, kind, state, after in conn.execute(sql, (run_pk, limit))
    ]


def unrun_counts(conn: sqlite3.Connection, run_pk: int) -> dict[str, int]:
    """How many of run ``run_pk``'s tasks never started, per state."""
    if not _exists(conn):
        return {}
    sql = "SELECT state, count(*) FROM unrun_task WHERE run_pk = ? GROUP BY state"
    return {STATE_NAMES.get(s, "PLANNED"): n for s, n in conn.execute(sql, (run_pk,))}

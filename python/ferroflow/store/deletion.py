"""Deleting a whole top-level run from the store (``ferroflow runs delete PK``).

A store grows with every run, and a broken or throw-away run stays in ``runs list`` and in
every cache lookup until it goes. What belongs to run ``R``:

* its process nodes (``run_pk = R``: the run, its nested graph runs and its task runs), with
  their cache keys (the ``hash`` column), labels (``process_text``), what they printed
  (``task_output``) and links;
* the data nodes they used, created or returned, and the constants its recipe names (a task
  that never ran has no link to its own), that *no process of another run* is linked to
  (their extras and the blobs no remaining node refers to go with them);
* its rows keyed by run: recipe, code digests, owner row, cancel request, import record.

What other runs may hold on to, and what a delete then does:

* a data node the run *made* (it created it, or it came in as one of its inputs) that another
  run's process also used (a restart of ``R`` takes ``R``'s inputs again) is **kept**;
* a task run of another run that reused one of ``R``'s results (a restart's cache hit) names
  its origin in ``cached_from``: that pointer is cleared (its own results stay, and it becomes
  the original of later hits).

Both change what another run's provenance shows, so either refuses the delete unless
``force``; data that another run made and ``R`` merely used is always kept, silently. A run
still PLANNED or RUNNING is always refused.

Everything happens in one ``BEGIN IMMEDIATE`` transaction on a connection of its own: the
checks and the deletes must see the same rows (another process may be adding runs to the file
at the time), and the writer's batches give no such guarantee. SQLite's lock serialises it
with every writer; afterwards the file passes ``PRAGMA integrity_check`` and the link rules.
The file does not shrink (SQLite reuses the freed pages; ``VACUUM`` returns them).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NodeNotFoundError, RunDeleteRefusedError
from ..model.vocabulary import KIND_CODES, LINK_CODES, STATE_CODES, Kind, Link, State
from .deletion_packed import KEEP_INLINE, PACKED_AROUND, PACKED_OWN, PACKED_STEPS, packed_users
from .schema import (
    IN_BLOB,
    INPUT_LINKS,
    OUTPUT_LINKS,
    REUSES_RESULTS,
    TOP_LEVEL_RUN,
    configure_connection,
    sql_codes,
)

__all__ = ["Deletion", "delete_run"]

_DATA = KIND_CODES[Kind.DATA]
_CREATE = LINK_CODES[Link.CREATE]
_IN_PROGRESS = (STATE_CODES[State.PLANNED], STATE_CODES[State.RUNNING])

# Temporary tables (in memory: temp_store) of one delete, filled in this order. A join starting
# from one is a ``CROSS JOIN``, which fixes SQLite's loop order: over the run's few rows, each
# looking up the link table's keys. SQLite has no statistics for a new temporary table, and
# left to itself it walked the whole ``link_src`` index once per statement.
_COLLECT = [
    "CREATE TEMP TABLE del_proc(pk INTEGER PRIMARY KEY)",
    f"INSERT INTO del_proc SELECT pk FROM node WHERE run_pk = :run AND kind != {_DATA}",
    # its packed task runs (docs/packed-task-runs.md), and their links and those of the
    # packed rows around its data (filled by deletion_packed between these statements)
    "INSERT INTO del_proc SELECT pk FROM task_run WHERE run_pk = :run",
    "CREATE TEMP TABLE plink(src INTEGER NOT NULL, dst INTEGER NOT NULL, type INTEGER NOT NULL,"
    " label TEXT NOT NULL, PRIMARY KEY (dst, type, label, src)) WITHOUT ROWID",
    "CREATE INDEX temp.plink_src ON plink(src, type)",
    PACKED_OWN,
    "CREATE TEMP TABLE touched(pk INTEGER PRIMARY KEY)",
    "INSERT OR IGNORE INTO touched SELECT l.src FROM del_proc p CROSS JOIN link l ON l.dst = p.pk"
    f" WHERE l.type IN ({sql_codes(LINK_CODES, INPUT_LINKS)})",
    "INSERT OR IGNORE INTO touched SELECT l.dst FROM del_proc p CROSS JOIN link l ON l.src = p.pk"
    f" WHERE l.type IN ({sql_codes(LINK_CODES, OUTPUT_LINKS)})",
    f"INSERT OR IGNORE INTO touched SELECT pk FROM node WHERE run_pk = :run AND kind = {_DATA}",
    "INSERT OR IGNORE INTO touched SELECT l.src FROM del_proc p CROSS JOIN plink l ON l.dst = p.pk"
    f" WHERE l.type IN ({sql_codes(LINK_CODES, INPUT_LINKS)})",
    "INSERT OR IGNORE INTO touched SELECT l.dst FROM del_proc p CROSS JOIN plink l ON l.src = p.pk"
    f" WHERE l.type IN ({sql_codes(LINK_CODES, OUTPUT_LINKS)})",
    # the constants its recipe names (store/recipe_bindings.py): one of a task that never ran
    # has no link, and would otherwise stay behind. Only bindings count, i.e. a one-key object
    # {"node": pk} among a task's inputs, the graph's outputs or its wg.ctx entries (version 3:
    # a value no task read is named there only): the same key in a socket's extras (the
    # user's words, in the specs and task options) names nothing to delete.
    "INSERT OR IGNORE INTO touched SELECT n.pk"
    " FROM (SELECT recipe FROM graph_recipe WHERE run_pk = :run AND json_valid(recipe)) r,"
    " json_tree(r.recipe) j JOIN node n ON n.pk = j.value"
    f" WHERE j.key = 'node' AND j.type = 'integer' AND n.kind = {_DATA}"
    "  AND (j.path = '$.outputs' OR j.path LIKE '$.outputs.%'"
    "   OR j.path = '$.context' OR j.path LIKE '$.context.%'"
    "   OR (j.path LIKE '$.tasks[%' AND substr(j.path, instr(j.path, ']') + 1) LIKE '.inputs%'))"
    "  AND (SELECT count(*) FROM json_each(r.recipe, j.path)) = 1",
    PACKED_AROUND,
    # data nodes linked to a process of another run: kept
    "CREATE TEMP TABLE shared(pk INTEGER PRIMARY KEY, foreign_made INTEGER NOT NULL)",
    "INSERT INTO shared SELECT t.pk, EXISTS (SELECT 1 FROM link l WHERE l.dst = t.pk"
    f"  AND l.type = {_CREATE} AND l.src NOT IN (SELECT pk FROM del_proc))"
    f" OR EXISTS (SELECT 1 FROM temp.plink l WHERE l.dst = t.pk AND l.type = {_CREATE}"
    "  AND l.src NOT IN (SELECT pk FROM del_proc))"
    " FROM touched t"
    " WHERE EXISTS (SELECT 1 FROM link l WHERE l.src = t.pk"
    "   AND l.dst NOT IN (SELECT pk FROM del_proc))"
    " OR EXISTS (SELECT 1 FROM link l WHERE l.dst = t.pk"
    "   AND l.src NOT IN (SELECT pk FROM del_proc))"
    " OR EXISTS (SELECT 1 FROM temp.plink l WHERE l.src = t.pk"
    "   AND l.dst NOT IN (SELECT pk FROM del_proc))"
    " OR EXISTS (SELECT 1 FROM temp.plink l WHERE l.dst = t.pk"
    "   AND l.src NOT IN (SELECT pk FROM del_proc))",
    "CREATE TEMP TABLE del_node(pk INTEGER PRIMARY KEY)",
    "INSERT INTO del_node SELECT pk FROM del_proc"
    " UNION SELECT pk FROM touched WHERE pk NOT IN (SELECT pk FROM shared)",
    "CREATE TEMP TABLE del_blob(id INTEGER PRIMARY KEY)",
    "INSERT OR IGNORE INTO del_blob SELECT blob_id FROM node"
    " WHERE pk IN (SELECT pk FROM del_node) AND blob_id IS NOT NULL",
]
# Other runs holding on to the run: (their run pk, data nodes of the run they use).
_USERS_SQL = (
    "SELECT run_pk, pk FROM ("
    " SELECT s.pk, n.run_pk FROM shared s CROSS JOIN link l ON l.src = s.pk"
    "  CROSS JOIN node n ON n.pk = l.dst"
    "  WHERE NOT s.foreign_made AND n.pk NOT IN (SELECT pk FROM del_proc)"
    " UNION ALL"
    " SELECT s.pk, n.run_pk FROM shared s CROSS JOIN link l ON l.dst = s.pk"
    "  CROSS JOIN node n ON n.pk = l.src"
    "  WHERE NOT s.foreign_made AND n.pk NOT IN (SELECT pk FROM del_proc)"
    ")"
)
# (their run pk, their task runs that reused a result of the run); each condition repeats its
# partial index's (``node_cached_from``, ``node_blob``) so SQLite searches it instead of scanning
_REUSERS_SQL = (
    f"SELECT run_pk, count(*) FROM node WHERE {REUSES_RESULTS}"
    " AND cached_from IN (SELECT pk FROM del_proc)"
    " AND pk NOT IN (SELECT pk FROM del_proc) GROUP BY run_pk"
)
_DELETE = [
    f"UPDATE node SET cached_from = NULL WHERE {REUSES_RESULTS}"
    " AND cached_from IN (SELECT pk FROM del_proc)",
    "UPDATE node SET run_pk = NULL WHERE pk IN (SELECT pk FROM shared) AND run_pk = :run",
    "DELETE FROM link WHERE dst IN (SELECT pk FROM del_node)",
    "DELETE FROM link WHERE src IN (SELECT pk FROM del_node)",
    "DELETE FROM extra WHERE pk IN (SELECT pk FROM del_node)",
    "DELETE FROM process_text WHERE pk IN (SELECT pk FROM del_proc)",
    "DELETE FROM task_output WHERE pk IN (SELECT pk FROM del_proc)",
    "DELETE FROM node WHERE pk IN (SELECT pk FROM del_node)",
    KEEP_INLINE,
    "DELETE FROM input_ref WHERE dst IN (SELECT pk FROM del_proc)",
    "DELETE FROM input_ref WHERE src IN (SELECT pk FROM del_node)",
    "DELETE FROM task_run WHERE run_pk = :run",
    "DELETE FROM blob WHERE id IN (SELECT id FROM del_blob"
    f" EXCEPT SELECT blob_id FROM node WHERE {IN_BLOB} AND blob_id IN (SELECT id FROM del_blob))",
    *(
        f"DELETE FROM {table} WHERE run_pk = :run"
        for table in (
            "code",
            "graph_recipe",
            "run_owner",
            "cancel_request",
            "imported_run",
            "unrun_task",
        )
    ),
]


@dataclass
class Deletion:
    """What :func:`delete_run` removed, and what it kept for other runs."""

    run_pk: int
    processes: int = 0
    data: int = 0
    blobs: int = 0
    #: data nodes kept: another run used them too
    kept: int = 0
    #: run pk -> how many of this run's data nodes it uses (kept)
    users: dict[int, int] = field(default_factory=dict)
    #: run pk -> how many of its task runs reused this run's results (no longer say so)
    reusers: dict[int, int] = field(default_factory=dict)

    def conflicts(self) -> str:
        """Why another run's provenance changes, in words; empty when it does not."""
        parts = []
        if self.users:
            n = sum(self.users.values())
            parts.append(f"run(s) {_pks(self.users)} use {n} of its data node(s)")
        if self.reusers:
            n = sum(self.reusers.values())
            parts.append(f"{n} task run(s) of run(s) {_pks(self.reusers)} reused its results")
        return "; ".join(parts)


def _pks(counts: dict[int, int]) -> str:
    return ", ".join(str(pk) for pk in sorted(counts))


def delete_run(path: Path, durability: str, run_pk: int, force: bool = False) -> Deletion:
    """Delete top-level run ``run_pk`` from the store file at ``path`` in one transaction
    (see the module docstring). Raises :class:`NodeNotFoundError` for no such run and
    :class:`RunDeleteRefusedError` for one in progress, or (unless ``force``) one that other
    runs hold on to; nothing is changed then."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        configure_connection(conn, durability)
        conn.execute("BEGIN IMMEDIATE")
        try:
            deletion = _delete(conn, run_pk, force)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return deletion
    finally:
        conn.close()


def _delete(conn: sqlite3.Connection, run_pk: int, force: bool) -> Deletion:
    row = conn.execute(
        f"SELECT state FROM node WHERE pk = ? AND {TOP_LEVEL_RUN}", (run_pk,)
    ).fetchone()
    if row is None:
        raise NodeNotFoundError(f"no top-level run with pk={run_pk}")
    if row[0] in _IN_PROGRESS:
        raise RunDeleteRefusedError(
            f"run {run_pk} is still in progress: cancel it first (ferroflow runs cancel {run_pk})"
        )
    params = {"run": run_pk}
    for statement in _COLLECT:
        if statement in PACKED_STEPS:
            PACKED_STEPS[statement](conn, run_pk)
        else:
            conn.execute(statement, params)
    deletion = Deletion(run_pk)
    pairs = set(conn.execute(_USERS_SQL).fetchall()) | packed_users(conn)
    for user, _ in sorted(pairs):
        deletion.users[user] = deletion.users.get(user, 0) + 1
    deletion.reusers = dict(conn.execute(_REUSERS_SQL).fetchall())
    if not force and (deletion.users or deletion.reusers):
        raise RunDeleteRefusedError(
            f"run {run_pk} is used by other runs: {deletion.conflicts()}; nothing was deleted "
            "(--force deletes it anyway, keeping those data nodes)"
        )
    (deletion.processes,) = conn.execute("SELECT count(*) FROM del_proc").fetchone()
    (nodes,) = conn.execute("SELECT count(*) FROM del_node").fetchone()
    deletion.data = nodes - deletion.processes
    (deletion.kept,) = conn.execute("SELECT count(*) FROM shared").fetchone()
    for statement in _DELETE:
        if statement in PACKED_STEPS:
            PACKED_STEPS[statement](conn, run_pk)
        else:
            conn.execute(statement, params)
    (remaining,) = conn.execute("SELECT count(*) FROM del_blob").fetchone()
    deletion.blobs = (
        remaining
        - conn.execute(
            "SELECT count(*) FROM blob WHERE id IN (SELECT id FROM del_blob)"
        ).fetchone()[0]
    )
    for table in ("del_blob", "del_node", "shared", "touched", "plink", "del_proc"):
        conn.execute(f"DROP TABLE temp.{table}")
    return deletion

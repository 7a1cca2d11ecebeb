"""What every store must satisfy, as plain SQL on the file (independent of the code under test):
SQLite's own ``PRAGMA integrity_check``, and AiiDA's link rules as ferroflow stores them, over
both forms of a task run (node/link rows, and packed ``task_run`` rows with their inline nodes).

Used by the import tests on stores an import was refused on, stores it succeeded on, and
stores only the engine wrote (so a rule here that a good store breaks fails those tests too).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from ferroflow.model.vocabulary import KIND_CODES, LINK_CODES, Kind, Link

_D, _C, _W = KIND_CODES[Kind.DATA], KIND_CODES[Kind.CALC], KIND_CODES[Kind.WORK]
#: (link type, kind of src, kind of dst) of every allowed link
ALLOWED = [
    (LINK_CODES[Link.INPUT_CALC], _D, _C),
    (LINK_CODES[Link.INPUT_WORK], _D, _W),
    (LINK_CODES[Link.CREATE], _C, _D),
    (LINK_CODES[Link.RETURN], _W, _D),
    (LINK_CODES[Link.CALL_CALC], _W, _C),
    (LINK_CODES[Link.CALL_WORK], _W, _W),
]
_VALUES = ", ".join(f"({t}, {s}, {d})" for t, s, d in ALLOWED)
_CALLS = f"{LINK_CODES[Link.CALL_CALC]}, {LINK_CODES[Link.CALL_WORK]}"

RULES: dict[str, str] = {
    "a link end is not a node": (
        "SELECT l.src, l.dst FROM link l WHERE NOT EXISTS (SELECT 1 FROM node WHERE pk = l.src)"
        " OR NOT EXISTS (SELECT 1 FROM node WHERE pk = l.dst)"
    ),
    "a link between the wrong kinds": (
        "SELECT l.src, l.dst, l.type FROM link l JOIN node s ON s.pk = l.src"
        " JOIN node d ON d.pk = l.dst"
        f" WHERE (l.type, s.kind, d.kind) NOT IN (VALUES {_VALUES})"
    ),
    "a data node with two creators": (
        f"SELECT dst FROM link WHERE type = {LINK_CODES[Link.CREATE]}"
        " GROUP BY dst HAVING count(*) > 1"
    ),
    "a process with two callers": (
        f"SELECT dst FROM link WHERE type IN ({_CALLS}) GROUP BY dst HAVING count(*) > 1"
    ),
    "a node of a run that is not there": (
        "SELECT pk FROM node n WHERE run_pk IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM node r WHERE r.pk = n.run_pk)"
    ),
    "a time out of range": (
        "SELECT pk FROM node WHERE NOT (ctime BETWEEN 0 AND 253402300799)"
        " OR (mtime IS NOT NULL AND NOT (mtime BETWEEN 0 AND 253402300799))"
    ),
    "a value in a blob that is not there": (
        "SELECT pk FROM node n WHERE blob_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM blob b WHERE b.id = n.blob_id)"
    ),
}


#: Rules of the packed form (``task_run``/``input_ref``, docs/packed-task-runs.md): a row and
#: the nodes it stands for overlap no node row and no other row, its uuid has last byte 0,
#: and ``input_ref`` holds exactly the rows' inputs from outside them.
PACKED_RULES: dict[str, str] = {
    "a packed row overlapping a node": (
        "SELECT t.pk, n.pk FROM task_run t JOIN node n"
        " ON n.pk BETWEEN t.pk AND t.pk + json_array_length(t.nodes)"
    ),
    "packed rows overlapping": (
        "SELECT a.pk, b.pk FROM task_run a JOIN task_run b"
        " ON b.pk > a.pk AND b.pk <= a.pk + json_array_length(a.nodes)"
    ),
    "a packed uuid whose last byte is not 0": (
        "SELECT pk FROM task_run WHERE length(uuid) != 16 OR substr(uuid, 16, 1) != x'00'"
    ),
    "an input of a packed row without its input_ref": (
        "SELECT t.pk, j.value FROM task_run t, json_each(t.inputs) j WHERE NOT EXISTS"
        " (SELECT 1 FROM input_ref r WHERE r.src = json_extract(j.value, '$[1]')"
        " AND r.dst = t.pk AND r.label = json_extract(j.value, '$[0]'))"
    ),
    "an input_ref without its packed row's input": (
        "SELECT r.src, r.dst FROM input_ref r WHERE NOT EXISTS (SELECT 1 FROM task_run t,"
        " json_each(t.inputs) j WHERE t.pk = r.dst AND json_extract(j.value, '$[1]') = r.src"
        " AND json_extract(j.value, '$[0]') = r.label)"
    ),
}
_LINK, _CREATE = LINK_CODES[Link.CALL_CALC], LINK_CODES[Link.CREATE]
# Both forms as two temp tables named as the node/link tables the rules read, so every rule
# above checks packed rows too (a store without packed rows is checked on its own tables).
_BOTH = [
    "CREATE TEMP TABLE tnode AS SELECT pk, kind, label, state, run_pk, ctime, mtime, blob_id"
    f" FROM node UNION ALL SELECT pk, {_C}, label, state, run_pk, ctime, mtime, NULL FROM task_run"
    f" UNION ALL SELECT t.pk + j.key + 1, {_D}, NULL, NULL, NULL, t.ctime, NULL, NULL"
    " FROM task_run t, json_each(t.nodes) j",
    "CREATE INDEX temp.tnode_pk ON tnode(pk)",
    "CREATE TEMP TABLE tlink AS SELECT src, dst, type, label FROM link"
    f" UNION ALL SELECT caller, pk, {_LINK}, label FROM task_run"
    f" UNION ALL SELECT json_extract(j.value, '$[1]'), t.pk, {LINK_CODES[Link.INPUT_CALC]},"
    " json_extract(j.value, '$[0]') FROM task_run t, json_each(t.inputs) j"
    f" UNION ALL SELECT CASE json_extract(j.value, '$[0]') WHEN {_CREATE} THEN t.pk"
    " ELSE t.pk + j.key + 1 END,"
    f" CASE json_extract(j.value, '$[0]') WHEN {_CREATE} THEN t.pk + j.key + 1 ELSE t.pk END,"
    " json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]')"
    " FROM task_run t, json_each(t.nodes) j",
    "CREATE INDEX temp.tlink_src ON tlink(src)",
    "CREATE INDEX temp.tlink_dst ON tlink(dst)",
]
_TABLE = re.compile(r"\b(FROM|JOIN)\s+(node|link)\b")


def both_forms(conn: sqlite3.Connection) -> bool:
    """Whether the store on ``conn`` holds packed rows; if so, fills the temp tables of both
    forms that :func:`on_both` points a rule at."""
    packed = (
        conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'task_run'").fetchone()
        and conn.execute("SELECT max(pk) FROM task_run").fetchone()[0] is not None
    )
    if packed:
        for statement in _BOTH:
            conn.execute(statement)
    return bool(packed)


def on_both(sql: str) -> str:
    """A rule over ``node``/``link`` rewritten over both forms (after :func:`both_forms`)."""
    return _TABLE.sub(r"\1 t\2", sql)


def violations(path: Path | str) -> list[str]:
    """Every broken rule, with up to three offending rows; empty for a good store."""
    conn = sqlite3.connect(path)
    try:
        found = []
        check = conn.execute("PRAGMA integrity_check").fetchall()
        if check != [("ok",)]:
            found.append(f"integrity_check: {check[:3]}")
        rules = dict(RULES)
        if both_forms(conn):
            rules = {rule: on_both(sql) for rule, sql in RULES.items()}
            rules.update(PACKED_RULES)
        for rule, sql in rules.items():
            rows = conn.execute(sql).fetchmany(3)
            if rows:
                found.append(f"{rule}: {rows}")
        return found
    finally:
        conn.close()


def snapshot(path: Path | str) -> dict[str, set[tuple[object, ...]]]:
    """Every row of the tables an import may add to, as sets (to compare before and after)."""
    conn = sqlite3.connect(path)
    try:
        return {
            table: set(conn.execute(f"SELECT * FROM {table}").fetchall())
            for table in ("node", "link", "blob", "code", "imported_run")
        }
    finally:
        conn.close()

"""What every store must satisfy, as plain SQL on the file (independent of the code under test):
SQLite's own ``PRAGMA integrity_check``, and AiiDA's link rules as ferroflow stores them.

Used by the import tests on stores an import was refused on, stores it succeeded on, and
stores only the engine wrote (so a rule here that a good store breaks fails those tests too).
"""

from __future__ import annotations

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


def violations(path: Path | str) -> list[str]:
    """Every broken rule, with up to three offending rows; empty for a good store."""
    conn = sqlite3.connect(path)
    try:
        found = []
        check = conn.execute("PRAGMA integrity_check").fetchall()
        if check != [("ok",)]:
            found.append(f"integrity_check: {check[:3]}")
        for rule, sql in RULES.items():
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

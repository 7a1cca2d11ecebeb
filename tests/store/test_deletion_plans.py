"""Deleting a run in a large store (issue 20): every statement of a deletion reads the node and
link tables through a key or an index, never a scan of the whole table, checked with SQLite's
``EXPLAIN QUERY PLAN`` on a small store (``benches/deletion.py`` times it at 1M tasks). What the
deletion keeps and removes is tested through the CLI in tests/cli/test_cli_runs.py."""

from __future__ import annotations

import re
import sqlite3

from ferroflow import load_profile
from ferroflow.store import deletion
from ferroflow.store.deletion_packed import _PACKED_USERS_SQL, PACKED_STEPS
from provenance_flows import run_howto

#: a scan of a stored table (by name or by the aliases the statements give them)
_STORED_SCAN = re.compile(r"\bSCAN (node|link|l|n|c)\b")


def _plan(conn: sqlite3.Connection, sql: str, params: dict[str, int]) -> str:
    rows = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return " / ".join(str(row[3]) for row in rows)


def test_every_statement_of_a_deletion_searches_instead_of_scanning() -> None:
    run_howto(4)
    pk = run_howto(4)
    path = load_profile().store.path
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert {"node_cached_from", "node_blob"} <= indexes
        conn.execute("BEGIN IMMEDIATE")
        params = {"run": pk}
        plans = {}
        for sql in deletion._COLLECT:  # run for real: the later statements read its tables
            if sql in PACKED_STEPS:  # a step of the packed half, in Python
                PACKED_STEPS[sql](conn, pk)
                continue
            plans[sql] = _plan(conn, sql, params)
            conn.execute(sql, params)
        later = (deletion._USERS_SQL, deletion._REUSERS_SQL, _PACKED_USERS_SQL, *deletion._DELETE)
        for sql in later:
            if sql not in PACKED_STEPS:
                plans[sql] = _plan(conn, sql, params)
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    scans = {sql: plan for sql, plan in plans.items() if _STORED_SCAN.search(plan)}
    assert not scans, scans
    joined = " ".join(plans.values())
    assert "node_cached_from" in joined and "node_blob" in joined, plans

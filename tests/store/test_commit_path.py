"""The writer keeps its statements prepared between batches (``Conn::cached`` in
``rust/py/src/sqlite.rs``): a small run's commit no longer compiles a dozen statements.

What must hold regardless: a statement kept prepared follows a schema change made by another
connection (SQLite re-prepares it; a stale one would skip a new index and corrupt it), more
distinct statements than the cache keeps are all still written, and a large value bound to a
kept statement is not held on to. Every test runs once per committer (tests/conftest.py).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from ferroflow.model.data import DataNode
from ferroflow.store import Store
from ferroflow.store.rows import OP_SQL

pytestmark = pytest.mark.usefixtures("writer")

_META_SQL = "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)"


def test_a_kept_statement_follows_an_index_another_connection_adds(tmp_path: Path) -> None:
    path = tmp_path / "prov.sqlite"
    store = Store.open(path)
    for i in range(20):
        store.record_data(DataNode(f"before {i}"))
    store.flush()  # the node INSERT is prepared (and kept) now
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE INDEX test_node_type ON node(type, pk)")
    other.close()
    pks = [store.record_data(DataNode(f"after {i}")) for i in range(20)]
    store.flush()
    store.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    indexed = check.execute(
        "SELECT pk FROM node INDEXED BY test_node_type WHERE type = 'str' AND pk >= ?",
        (pks[0],),
    ).fetchall()
    check.close()
    assert [pk for (pk,) in indexed] == pks  # the rows written after the change are indexed


def test_more_distinct_statements_than_the_cache_keeps_are_all_written(tmp_path: Path) -> None:
    path = tmp_path / "prov.sqlite"
    store = Store.open(path)
    texts = [f"{_META_SQL} -- statement {i}" for i in range(150)]  # 150 distinct statements
    for round_ in range(3):  # the second and third batches reuse what the first kept
        store.record_rows(
            (OP_SQL, sql, (f"test-{i}", f"round {round_}")) for i, sql in enumerate(texts)
        )
        store.flush()
        with sqlite3.connect(path) as check:
            rows = dict(check.execute("SELECT key, value FROM meta WHERE key LIKE 'test-%'"))
        check.close()
        assert rows == {f"test-{i}": f"round {round_}" for i in range(150)}
    store.close()


def test_a_kept_blob_statement_writes_a_large_value_then_a_small_one(tmp_path: Path) -> None:
    path = tmp_path / "prov.sqlite"
    store = Store.open(path)
    big = bytes(range(256)) * 40_000  # 10 MB: a blob row, bound to the kept blob statement
    big_pk = store.record_data(DataNode(big))
    store.flush()
    small_pk = store.record_data(DataNode(b"small"))
    store.flush()
    assert store.load_node(big_pk).value == big
    assert store.load_node(small_pk).value == b"small"
    store.close()

"""The writer keeps its statements prepared between batches (``Conn::cached`` in
``rust/py/src/sqlite.rs``): a small run's commit no longer compiles a dozen statements.

What must hold regardless: a statement kept prepared follows a schema change made by another
connection (SQLite re-prepares it; a stale one would skip a new index and corrupt it), more
distinct statements than the cache keeps are all still written, a kept blob statement
writes a large value and then a small one, and when ``run()`` returns every row of the run is
committed: a reader in another process sees them at once. Every test runs once per committer
(tests/conftest.py).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from ferroflow import get_current_profile
from ferroflow.demo import ScatterGatherSquare
from ferroflow.model.data import DataNode
from ferroflow.store import Store
from ferroflow.store.rows import OP_SQL
from ferroflow.store.schema import STATE_CODES
from ferroflow.store.writer import _Wake

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


# A reader in its own process: for each run pk read from stdin, it prints the run node's state
# code, how many process nodes the run has, how many data nodes they created, and how many
# RETURN links the run has (recorded last), each read at once (no retry, no wait), through
# the reading layer (tests/store/test_tests_read_through_layer.py).
_READER = """
import sqlite3, sys
from ferroflow.store import graph_read
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
query = lambda sql, params: conn.execute(sql, tuple(params)).fetchall()
for line in sys.stdin:
    pk = int(line)
    run = graph_read.node_row(query, pk)
    procs = [row[0] for row in graph_read.run_node_rows(query, pk)]
    counts = [
        len(procs),
        len(graph_read.links(query, procs, False, [sys.argv[2]])),
        len(graph_read.links(query, [pk], False, [sys.argv[3]])),
    ]
    print(run[5] if run else -1, *counts, flush=True)
"""


def test_when_run_returns_a_reader_in_another_process_sees_the_whole_run() -> None:
    store = get_current_profile().store
    ScatterGatherSquare.build(1).run()  # the store file exists, the statements are kept
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _READER,
            str(store.path),
            "CREATE",
            "RETURN",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdin is not None and reader.stdout is not None
    try:
        for n in (4, 4, 2, 7, 4):  # one commit per run, each through the kept statements
            wg = ScatterGatherSquare.build(n)
            wg.run()
            reader.stdin.write(f"{wg.pk}\n")
            reader.stdin.flush()
            state, processes, created, returned = map(int, reader.stdout.readline().split())
            assert state == STATE_CODES["FINISHED"]
            # the run, generate_numbers, the graph task, n squares and the sum; n numbers, n
            # squares and the sum created; the sum returned as the run's output
            assert (processes, created, returned) == (n + 4, 2 * n + 1, 1), f"n={n}"
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
        reader.stdout.close()


def test_the_writers_wake_up_is_kept_until_taken_and_counts_once() -> None:
    wake = _Wake()
    assert wake.wait(0) is False  # none pending
    wake.set()
    wake.set()  # a second one while one is pending: no error, no second wake-up
    assert wake.wait(0) is True
    assert wake.wait(0) is False
    setter = threading.Thread(target=wake.set)
    setter.start()
    setter.join()
    assert wake.wait(0) is True  # set by another thread while nobody waited: not lost

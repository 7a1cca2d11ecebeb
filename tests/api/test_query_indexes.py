"""Reads that stay fast in a large store (issue 20): which index each query walks, checked
with SQLite's own ``EXPLAIN QUERY PLAN`` on a small store, and that the answers are the same as
a scan's. Timings at 10M nodes are in ``benches/reads.py``, never asserted here."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from ferroflow import load_profile, task
from ferroflow.model.data import new_uuid
from ferroflow.query import find_nodes
from ferroflow.store import Store, StoredNode
from provenance_flows import run_howto, run_mixed

INDEX = "node_process_ctime"


@pytest.fixture
def store() -> Store:
    return load_profile().store


@contextmanager
def plans(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The query plans (one text per statement) of every read made inside the block."""
    seen: list[tuple[str, list[Any]]] = []
    query = store._reader.query

    def recording(sql: str, params: Any = ()) -> list[Any]:
        seen.append((sql, list(params)))
        return query(sql, params)

    found: list[str] = []
    with monkeypatch.context() as patch:
        patch.setattr(store._reader, "query", recording)
        yield found
    with sqlite3.connect(store.path) as conn:
        for sql, params in seen:
            rows = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            found.append(" / ".join(str(row[3]) for row in rows))
    conn.close()


def by_time(nodes: list[StoredNode]) -> list[int]:
    return [node.pk for node in sorted(nodes, key=lambda node: (node.ctime, node.pk))]


def test_process_listings_walk_the_time_index_and_answer_as_a_scan(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_howto(4)
    time.sleep(0.01)
    between = time.time()
    time.sleep(0.01)
    run_mixed()
    run_howto(2)
    every = find_nodes(store)
    processes = [node for node in every if node.is_process]
    calcs = [node for node in processes if node.kind == "calc"]
    assert len(every) > len(processes) > len(calcs) > 5
    assert any(n.state == "FAILED" and n.ctime >= between for n in processes)
    cases: list[tuple[dict[str, Any], list[int], bool]] = [
        ({"kind": "calc", "newest_first": True, "limit": 3}, by_time(calcs)[::-1][:3], True),
        ({"kind": "calc"}, by_time(calcs), True),
        (
            {"kind": "calc", "since": between},
            by_time([n for n in calcs if n.ctime >= between]),
            True,
        ),
        (
            {"kind": "work", "until": between},
            by_time([n for n in processes if n.kind == "work" and n.ctime < between]),
            True,
        ),
        (
            {"state": "FAILED", "since": between, "newest_first": True},
            by_time([n for n in processes if n.state == "FAILED" and n.ctime >= between])[::-1],
            True,
        ),
        # a name or a state may match nothing: a walk would read every entry and its row, so
        # without a time bound they scan
        ({"state": "KILLED"}, [], False),
        (
            {"state": "FAILED", "newest_first": True},
            by_time([n for n in processes if n.state == "FAILED"])[::-1],
            False,
        ),
        ({"task": "square"}, by_time([n for n in calcs if n.type.endswith(".square")]), False),
        (
            {"task": "square", "since": between},
            by_time([n for n in calcs if n.type.endswith(".square") and n.ctime >= between]),
            True,
        ),
        (
            {"run": first, "kind": "calc"},
            by_time([n for n in calcs if n.run_pk == first]),
            False,
        ),
        # data nodes are not in the index
        ({"kind": "data", "limit": 2}, by_time([n for n in every if n.is_data])[:2], False),
    ]
    for kwargs, expected, walks in cases:
        with plans(store, monkeypatch) as found:
            got = [node.pk for node in find_nodes(store, **kwargs)]
        assert got == expected, kwargs
        assert any(INDEX in plan for plan in found) is walks, (kwargs, found)
        if walks:  # in time order straight from the index: no sort of every match
            assert not any("TEMP B-TREE" in plan for plan in found), (kwargs, found)


def test_unfinished_tasks_are_searched_in_their_own_index_and_answer_as_a_scan(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state other than FINISHED (the failed tasks, of the store or of one run) searches
    ``node_unfinished``, which holds only unfinished process nodes; FINISHED still scans."""
    first = run_mixed()
    run_howto(2)
    second = run_mixed()
    processes = [node for node in find_nodes(store) if node.is_process]
    failed = [node for node in processes if node.state == "FAILED"]
    assert {node.run_pk for node in failed} == {first, second}
    cases: list[tuple[dict[str, Any], list[int], bool]] = [
        ({"state": "FAILED"}, by_time(failed), True),
        ({"state": ["FAILED", "KILLED"], "newest_first": True}, by_time(failed)[::-1], True),
        ({"state": "KILLED"}, [], True),
        (
            {"state": "FAILED", "run": second},
            by_time([n for n in failed if n.run_pk == second]),
            True,
        ),
        (
            {"state": "FAILED", "run": first, "kind": "calc"},
            by_time([n for n in failed if n.run_pk == first and n.kind == "calc"]),
            True,
        ),
        (
            {"state": "FINISHED", "kind": "calc"},
            by_time([n for n in processes if n.state == "FINISHED" and n.kind == "calc"]),
            False,
        ),
    ]
    for kwargs, expected, searches in cases:
        with plans(store, monkeypatch) as found:
            got = [node.pk for node in find_nodes(store, **kwargs)]
        assert got == expected, kwargs
        assert any("node_unfinished" in plan for plan in found) is searches, (kwargs, found)
        scans = any(plan.startswith("SCAN node") for plan in found)
        assert scans is not searches, (kwargs, found)


def test_a_store_written_before_the_index_gets_it_when_opened(tmp_path: Any) -> None:
    path = tmp_path / "older.sqlite"
    with Store.open(path) as older:
        pks = [older.new_pk() for _ in range(3)]
        for i, pk in enumerate(pks):
            older.record_process(pk, new_uuid(), "calc", f"t{i}", "m.t", "FINISHED", 10.0 + i, None)
    with sqlite3.connect(path) as conn:  # as an older ferroflow left it
        conn.execute(f"DROP INDEX {INDEX}")
    conn.close()

    with Store.open(path) as reopened:
        with sqlite3.connect(path) as conn:
            names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        conn.close()
        assert INDEX in names
        newest = find_nodes(reopened, kind="calc", newest_first=True, limit=2)
        assert [node.pk for node in newest] == pks[::-1][:2]


@task
def step(x: int) -> int:
    return x + 1


@task.graph
def deep_chain(n: int) -> Any:
    x = step(x=0).result
    for _ in range(n - 1):
        x = step(x=x).result
    return x


def test_ancestors_and_descendants_of_a_chain_25_tasks_deep(store: Store) -> None:
    """The recursive walk behind ``ancestors()``: every level of a deep chain, and only the
    data-provenance plane (no graph run, no CALL link) unless asked."""
    depth = 25
    wg = deep_chain.build(depth)
    wg.run()
    tasks = sorted(store.load_node(wg.pk).called, key=lambda node: node.pk)
    assert len(tasks) == depth
    tip = next(node for link, _, node in tasks[-1].outputs if link == "CREATE")
    assert tip.value == depth
    behind = tip.ancestors()
    # every task, every value between two of them, and the chain's first input (0)
    assert [n for n in behind if n.is_process] == tasks
    assert sorted(n.value for n in behind if n.is_data) == list(range(depth))
    assert len(behind) == 2 * depth
    # 20 levels of tasks are 40 links: the 20 nearest tasks and the inputs they used
    near = tip.ancestors(max_depth=40)
    assert [n for n in near if n.is_process] == tasks[-20:]
    assert sorted(n.value for n in near if n.is_data) == list(range(depth - 20, depth))
    # the other way: from the first input, every task and every value made after it
    source = next(n for n in behind if n.is_data and n.value == 0)
    ahead = source.descendants()
    assert [n for n in ahead if n.is_process] == tasks
    assert sorted(n.value for n in ahead if n.is_data) == list(range(1, depth + 1))
    # the logical plane adds the graph run that called the tasks and returned the tip
    logical = tip.ancestors(link_types=["INPUT_CALC", "CREATE", "CALL_CALC", "RETURN"])
    assert wg.pk in {n.pk for n in logical}

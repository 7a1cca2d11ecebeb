"""The query API: runs and nodes filtered by task, kind, state, run and time."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from ferroflow import load_profile
from ferroflow.query import find_nodes, find_runs, parse_time, task_counts
from ferroflow.store import Store, StoredNode
from provenance_flows import howto_counts, members, run_howto, run_mixed


@pytest.fixture
def store() -> Store:
    return load_profile().store


@pytest.fixture
def three_runs(store: Store) -> dict[str, object]:
    """A how-to run of 4, a mixed run with a failure, then a how-to run of 2, with a time
    stamp taken between the first and the second."""
    first = run_howto(4)
    time.sleep(0.01)
    between = time.time()
    time.sleep(0.01)
    mixed = run_mixed()
    last = run_howto(2)
    return {"first": first, "mixed": mixed, "last": last, "between": between}


def pks(nodes: list[StoredNode]) -> list[int]:
    return [node.pk for node in nodes]


def test_find_runs_newest_first_with_filters(store: Store, three_runs: dict) -> None:
    runs = find_runs(store)
    assert pks(runs) == [three_runs["last"], three_runs["mixed"], three_runs["first"]]
    assert all(isinstance(run, StoredNode) and run.kind == "work" for run in runs)
    assert pks(find_runs(store, limit=1)) == [three_runs["last"]]
    assert pks(find_runs(store, state="FAILED")) == [three_runs["mixed"]]
    assert pks(find_runs(store, state=["failed", "FINISHED"])) == pks(runs)
    assert pks(find_runs(store, label="ScatterGatherSquare")) == [
        three_runs["last"],
        three_runs["first"],
    ]
    assert pks(find_runs(store, label="ferroflow.demo.ScatterGatherSquare")) == pks(
        find_runs(store, label="Scatter*")
    )
    assert pks(find_runs(store, since=three_runs["between"])) == [
        three_runs["last"],
        three_runs["mixed"],
    ]
    assert pks(find_runs(store, until=three_runs["between"])) == [three_runs["first"]]
    assert find_runs(store, label="Nope") == []


def test_find_nodes_by_task_name_label_or_pattern(store: Store, three_runs: dict) -> None:
    squares = find_nodes(store, task="square")
    assert len(squares) == 4 + 2
    assert {node.label for node in squares} == {"square", "square1", "square2", "square3"}
    assert all(node.type == "ferroflow.demo.square" for node in squares)
    # Oldest first by creation time; parallel tasks may take their pks in another order.
    assert [(n.ctime, n.pk) for n in squares] == sorted((n.ctime, n.pk) for n in squares)
    assert pks(find_nodes(store, task="ferroflow.demo.square")) == pks(squares)
    assert pks(find_nodes(store, task="sq*")) == pks(squares)
    assert len(find_nodes(store, task="square3")) == 1  # a label
    assert find_nodes(store, task="quare") == []  # no substring matches
    newest = find_nodes(store, task="square", newest_first=True, limit=2)
    assert pks(newest) == pks(squares)[::-1][:2]


def test_find_nodes_of_a_run_by_kind_and_state(store: Store, three_runs: dict) -> None:
    run = three_runs["first"]
    expected = members(store, run)
    everything = find_nodes(store, run=run)
    assert {node.uuid for node in everything} == set(expected)
    data = find_nodes(store, run=run, kind="data")
    assert len(data) == howto_counts(4)["data"]
    assert (
        sum(node.value for node in data if node.creator and node.creator.label == "gather_and_sum")
        == 30
    )
    calcs = find_nodes(store, run=str(run), kind="task")  # a pk as text, and the kind alias
    assert {node.label for node in calcs} == {
        "generate_numbers",
        "gather_and_sum",
        "square",
        "square1",
        "square2",
        "square3",
    }
    graphs = find_nodes(store, run=store.load_node(run).uuid, kind="graph")  # by uuid
    assert {node.label for node in graphs} == {"ScatterGatherSquare", "ParallelSquare"}
    failed = find_nodes(store, state="FAILED")
    assert {node.label for node in failed} == {"boom", "Mixed"}
    assert "negative input" in next(n for n in failed if n.label == "boom").error
    assert pks(find_nodes(store, run=three_runs["mixed"], state="FAILED", kind="calc")) == [
        n.pk for n in failed if n.label == "boom"
    ]


def test_task_counts_of_a_run(store: Store, three_runs: dict) -> None:
    """One grouped count per run: what ``ferroflow runs cancel`` reports."""
    assert task_counts(store, run=three_runs["mixed"]) == {"FINISHED": 2, "FAILED": 1}
    calcs = howto_counts(2)["processes"] - 2  # without the run and its nested ParallelSquare
    assert task_counts(store, run=three_runs["last"]) == {"FINISHED": calcs}
    with pytest.raises(ValueError, match="not a top-level graph run"):
        task_counts(store, run=three_runs["last"] + 1)


def test_find_nodes_by_time(store: Store, three_runs: dict) -> None:
    later = find_nodes(store, since=three_runs["between"])
    earlier = find_nodes(store, until=three_runs["between"])
    assert len(later) + len(earlier) == len(find_nodes(store))
    assert {n.uuid for n in earlier} == set(members(store, three_runs["first"]))
    assert all(node.ctime >= three_runs["between"] for node in later)
    assert len(find_nodes(store, since="1h", kind="work")) == 5  # 2 + 1 + 2 graph runs
    assert find_nodes(store, until="1h") == []
    assert len(find_nodes(store, limit=3)) == 3
    assert find_nodes(store, limit=0) == []


def test_parse_time_forms() -> None:
    now = time.time()
    assert parse_time(12.5) == 12.5
    assert abs(parse_time("2h") - (now - 7200)) < 5
    assert abs(parse_time("90s") - (now - 90)) < 5
    assert (
        parse_time("2026-11-26T17:30:00Z")
        == dt.datetime(2026, 11, 26, 17, 30, tzinfo=dt.timezone.utc).timestamp()
    )
    assert parse_time("2026-11-26") == dt.datetime(2026, 11, 26).timestamp()
    assert parse_time(dt.date(2026, 11, 26)) == dt.datetime(2026, 11, 26).timestamp()
    assert parse_time("1795714986.5") == 1795714986.5
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time("last tuesday")
    with pytest.raises(TypeError):
        parse_time(True)


def test_bad_filters_are_refused(store: Store, three_runs: dict) -> None:
    parallel = next(n for n in store.load_node(three_runs["first"]).called if n.kind == "work")
    with pytest.raises(ValueError, match="not a top-level graph run"):
        find_nodes(store, run=parallel.pk)
    with pytest.raises(ValueError, match="unknown kind"):
        find_nodes(store, kind="value")
    with pytest.raises(ValueError, match="unknown state"):
        find_nodes(store, state="DONE")
    with pytest.raises(ValueError, match="no task name"):
        find_nodes(store, task="square", kind="data")
    with pytest.raises(ValueError, match="limit"):
        find_runs(store, limit=-1)


def test_the_current_profile_is_the_default(three_runs: dict) -> None:
    assert pks(find_runs())[0] == three_runs["last"]
    assert len(find_nodes(kind="data", run=three_runs["last"])) == howto_counts(2)["data"]

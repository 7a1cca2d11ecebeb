"""Tasks inside control-flow zones take the fast lane when they would outside one: a Map
key's body reading its item and constants, an If branch's plain tasks. A task that reads or
writes the graph's context, or waits for a zone, keeps the general runner. Both lanes must
store the same provenance and give the same results (``FERROFLOW_FAST_LANE=0`` forces the
general runner)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ferroflow import If, Map, While, task
from ferroflow.engine import zones
from ferroflow.model.graph import TaskNode
from ferroflow.workgraph import WorkGraph
from provenance_flows import run_provenance


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def total(**data: int) -> int:
    return sum(data.values())


def map_graph() -> WorkGraph:
    with WorkGraph("map_lanes") as wg:
        with Map({f"k{i}": i for i in range(6)}) as zone:
            a = add(x=zone.value, y=1).result  # the item and a constant
            b = add(x=a, y=zone.value).result  # another clone's output and the item
            zone.gather({"r": b})
        wg.outputs.result = total(data=zone.outputs.r).result
    return wg


def while_graph() -> WorkGraph:
    with WorkGraph("while_lanes") as wg:
        first = add(x=0, y=0).result
        wg.ctx.i = first
        (condition := wg.ctx.i < 4) << first
        with While(condition, max_iterations=10):
            step = add(x=wg.ctx.i, y=1).result  # reads the context
            wg.ctx.i = add(x=step, y=0).result  # writes it
            add(x=5, y=6)  # constants only
        wg.outputs.result = add(x=wg.ctx.i, y=100).result
    return wg


def if_graph() -> WorkGraph:
    with WorkGraph("if_lanes") as wg:
        first = add(x=1, y=1).result
        with If(first > 1):
            inner = add(x=first, y=10).result  # an output from outside the zone
            wg.outputs.result = add(x=inner, y=1).result
        after = add(x=first, y=3).result  # outside every zone, from a task outside too
        wg.outputs.after = after
    return wg


def _lanes(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[bool]]:
    """Record, for each clone a zone settles, whether it ran in the fast lane."""
    seen: dict[str, list[bool]] = {}
    settle = zones.ZoneRunner._settle

    def recording(self: Any, progress: Any, show: bool = True) -> list[TaskNode]:
        for clone in progress.clones:
            seen.setdefault(clone.name, []).append(clone.fast_box is not None)
        return settle(self, progress, show)

    monkeypatch.setattr(zones.ZoneRunner, "_settle", recording)
    return seen


def _run(monkeypatch: pytest.MonkeyPatch, fast: bool, make: Callable[[], WorkGraph]) -> WorkGraph:
    monkeypatch.setenv("FERROFLOW_FAST_LANE", "1" if fast else "0")
    wg = make()
    wg.run()
    assert wg.state == "FINISHED"
    return wg


def test_a_map_body_reading_its_item_takes_the_fast_lane(monkeypatch: pytest.MonkeyPatch) -> None:
    lanes = _lanes(monkeypatch)
    wg = _run(monkeypatch, True, map_graph)
    assert wg.outputs.result.value.value == sum(2 * i + 1 for i in range(6))
    assert len(lanes) == 12 and all(ran == [True] for ran in lanes.values()), lanes


def test_context_readers_and_writers_keep_the_general_runner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lanes = _lanes(monkeypatch)
    wg = _run(monkeypatch, True, while_graph)
    assert wg.outputs.result.value.value == 104
    assert lanes["add1"] == [False] * 4 and lanes["add2"] == [False] * 4, lanes
    assert lanes["add3"] == [True] * 4, lanes


def test_an_if_branch_reads_an_outer_fast_output_in_the_fast_lane(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lanes = _lanes(monkeypatch)
    wg = _run(monkeypatch, True, if_graph)
    assert wg.outputs.result.value.value == 13 and wg.outputs.after.value.value == 5
    assert lanes == {"add1": [True], "add2": [True]}, lanes
    assert wg.tasks["add3"].node.fast_box is not None  # outside the zone: as in any graph


@pytest.mark.parametrize("make", [map_graph, while_graph, if_graph])
def test_both_lanes_store_the_same_provenance_for_zones(
    monkeypatch: pytest.MonkeyPatch, make: Callable[[], WorkGraph]
) -> None:
    fast = _run(monkeypatch, True, make)
    slow = _run(monkeypatch, False, make)
    assert fast.outputs.result.value.value == slow.outputs.result.value.value
    assert fast.pk is not None and slow.pk is not None
    assert run_provenance(fast.pk) == run_provenance(slow.pk)

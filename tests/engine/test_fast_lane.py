"""The core's fast lane (rust/py/src/fast.rs) against the general Python runner.

Tasks with one output, no ``**kwargs`` and inputs that are constants or other fast tasks'
outputs run in Rust; everything else in Python. Both lanes must give the same results and the
same stored provenance; their failures are held to the same expectations with every other
backend's in tests/policies/test_failure_propagation.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from ferroflow import (
    DataNode,
    get_current_profile,
    task,
)
from ferroflow.workgraph import WorkGraph
from lane_flows import add, as_dict, as_node, fails_on_three, inc, split
from provenance_flows import run_provenance


@task.graph
def nested(x: int) -> Any:
    return inc(x=inc(x=x).result).result


@task.graph
def mixed(n: int) -> Any:
    total = inc(x=0).result
    for i in range(n):
        a = inc(x=i).result
        b = as_dict(x=a).result
        c = as_node(x=b).result
        parts = split(x=c)  # two outputs: general lane
        d = add(x=parts.lo, y=parts.hi).result  # inputs from a general-lane task
        e = nested(x=d).result  # a graph task consuming a fast output
        total = add(x=total, y=e).result
    return total


def _run(monkeypatch: pytest.MonkeyPatch, fast: bool, wg_factory: Any) -> WorkGraph:
    monkeypatch.setenv("FERROFLOW_FAST_LANE", "1" if fast else "0")
    wg = wg_factory()
    wg.run(raise_on_error=False)
    return wg


def test_fast_lane_is_used_for_eligible_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    wg = _run(monkeypatch, True, lambda: mixed.build(2))
    lanes = {t.path: t.node.fast_box is not None for t in wg.all_tasks()}
    assert lanes["mixed/inc"] and lanes["mixed/as_dict"] and lanes["mixed/as_node"]
    assert not lanes["mixed/split"] and not lanes["mixed/nested"]
    assert not lanes["mixed/add"], "inputs from a general-lane task take the general lane"
    off = _run(monkeypatch, False, lambda: mixed.build(2))
    assert not any(t.node.fast_box is not None for t in off.all_tasks())


def test_both_lanes_give_the_same_results_andrun_provenance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = _run(monkeypatch, True, lambda: mixed.build(3))
    slow = _run(monkeypatch, False, lambda: mixed.build(3))
    assert fast.state == slow.state == "FINISHED"
    assert fast.outputs.result.value == slow.outputs.result.value
    by_path = {t.path: t for t in slow.all_tasks()}
    for t in fast.all_tasks():
        other = by_path[t.path]
        assert t.state == other.state == "FINISHED", t.path
        assert {k: v.value for k, v in t.outputs.value.items() if isinstance(v, DataNode)} == {
            k: v.value for k, v in other.outputs.value.items() if isinstance(v, DataNode)
        }, t.path
        assert t.ctime is not None and t.mtime is not None and t.ctime <= t.mtime
        assert uuid.UUID(t.uuid).version == 7
    assert fast.pk is not None and slow.pk is not None
    assert run_provenance(fast.pk) == run_provenance(slow.pk)


def test_a_fast_output_is_one_node_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    wg = _run(monkeypatch, True, lambda: mixed.build(1))
    tasks = {t.path: t for t in wg.all_tasks()}
    made = tasks["mixed/as_node"].outputs["result"].value
    assert made is tasks["mixed/as_node"].outputs["result"].value, "materialised once"
    assert made.value == 1000 and made.pk is not None
    stored = get_current_profile().store.load_node(made.pk)
    assert stored.uuid == made.uuid and stored.value == 1000
    assert stored.creator is not None and stored.creator.pk == tasks["mixed/as_node"].pk
    # the general-lane consumer linked the very same node as its input
    split_inputs = {
        label: node.pk
        for label, link, node in stored_inputs(tasks["mixed/split"].pk)
        if link == "INPUT_CALC"
    }
    assert split_inputs == {"x": made.pk}


def stored_inputs(pk: int | None) -> Iterator[tuple[str, str, Any]]:
    assert pk is not None
    node = get_current_profile().store.load_node(pk)
    for link_type, label, other in node.inputs:
        yield label, link_type, other


def test_an_output_of_another_graph_is_refused_naming_both_tasks() -> None:
    from ferroflow import FerroflowError

    captured: dict[str, Any] = {}

    @task.graph
    def first() -> Any:
        captured["socket"] = inc(x=1).result
        return captured["socket"]

    @task.graph
    def second() -> Any:
        return add(x=captured["socket"], y=1).result

    first.build()  # built, never run: its task has no id in any run
    with pytest.raises(
        FerroflowError,
        match=r"task 'second/add' uses an output of task 'first/inc', "
        r"which belongs to another workflow \('first'\)",
    ):
        second.build()  # refused at build time (tests/model/test_runtime_checks.py)


@task.graph
def settles(n: int) -> Any:
    for i in range(n):
        inc(x=fails_on_three(x=i).result)  # x=3 fails, its consumer is skipped
    parts = split(x=1)  # the general lane
    return add(x=parts.lo, y=parts.hi).result


@pytest.mark.parametrize("provenance", [False, True])
def test_every_task_is_settled_and_only_stored_runs_keep_pks(provenance: bool) -> None:
    # The core sets the finished tasks' states (Run.settle_finished); the failed and skipped
    # ones are settled in Python. Without provenance no task keeps a pk, fast lane or not.
    wg = settles.build(5)
    wg.run(provenance=provenance, raise_on_error=False)
    states = {t.path: t.node.state for t in wg.all_tasks()}
    assert states["settles/fails_on_three3"] == "FAILED"
    assert states["settles/inc3"] == "SKIPPED"
    assert states["settles/split"] == states["settles/add"] == "FINISHED"
    others = {
        p: s for p, s in states.items() if p not in {"settles/fails_on_three3", "settles/inc3"}
    }
    assert set(others.values()) == {"FINISHED"}
    assert wg.state == "FAILED"
    nodes = [t.node for t in wg.all_tasks()]
    assert any(n.fast_box is not None for n in nodes) and any(n.fast_box is None for n in nodes)
    started = [n for n in nodes if n.name != "inc3"]
    if provenance:
        assert all(n.pk is not None for n in started)
    else:
        assert all(n.pk is None and n.out_pk is None for n in nodes)
    assert wg.tasks["inc2"].outputs["result"].value == 3


@task.graph
def wide(n: int) -> None:
    for i in range(n):
        inc(x=i)


def test_results_of_a_big_run_outlive_its_released_tasks() -> None:
    # Past 10,000 fast tasks the run hands their results to the nodes and frees the rest
    # (Run.results); every result, uuid and time must still be there, each its own.
    n = 10_050
    wg = wide.build(n)
    wg.run(provenance=False)
    nodes = [t.node for t in wg.all_tasks()]
    assert len(nodes) == n and all(node.fast_box is not None for node in nodes)
    assert sorted(node.outputs["result"].value for node in nodes) == list(range(1, n + 1))
    assert len({node.uuid for node in nodes}) == n
    assert all(node.ctime <= node.mtime for node in nodes)


def test_a_run_keeps_its_task_nodes_in_a_list_by_id_and_refuses_a_gap() -> None:
    """``Execution.tasks`` is indexed by the core's task id (8 B per task, not a dict's ~50):
    ``Run.submit`` appends each node at its id, and refuses a registry whose length is not the
    next id (a gap would make every later lookup name the wrong node)."""
    from ferroflow import _core
    from ferroflow.model.sockets import FutureSocket

    wg = WorkGraph("registry")
    first = wg.add_task(inc, x=1)
    wg.add_task(add, x=first.outputs.result, y=2)
    tasks = list(wg._graph.tasks)
    registry: list[Any] = []
    ids = _core.Run().submit(tasks, registry, None, object(), False, 0, DataNode, FutureSocket)
    assert ids == [0, 1]
    assert registry == tasks and [t.id for t in tasks] == [0, 1]
    with pytest.raises(RuntimeError, match="ids are not dense"):
        _core.Run().submit(tasks, [None], None, object(), False, 0, DataNode, FutureSocket)

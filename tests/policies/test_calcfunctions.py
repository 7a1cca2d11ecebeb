"""A ``@task.calcfunction`` runs alike on every backend: its body sees data nodes (never the
fast lane's plain values), what it returns is stored as values, its provenance is a task's."""

from __future__ import annotations

from collections import Counter

from ferroflow import DataNode, WorkGraph, get_current_profile
from ferroflow.query import find_nodes

from policies.backends import Backend


def test_a_calcfunction_sees_nodes_on_every_backend(backend: Backend) -> None:
    f = backend.flows
    with WorkGraph("calc") as wg:
        first = f.plus_one(x=1.0)
        summed = f.node_sum(x=first.result, y=0.5)
        f.plus_one(x=summed.total)
    backend.run(wg)
    assert summed.seen.value == "NodeArg NodeArg 2.0"
    total = summed.total.value
    assert type(total) is DataNode and type(total.value) is float and total.value == 2.5
    assert wg.tasks[-1].outputs.result.value == 3.5
    store = get_current_profile().store
    stored = store.load_node(total.pk)
    assert type(stored.value) is float and stored.value == 2.5
    run = find_nodes(run=wg.pk)
    assert Counter(n.kind for n in run) == Counter({"data": 6, "calc": 3, "work": 1})
    node_sum = next(n for n in run if n.label == "node_sum")
    assert node_sum.kind == "calc" and node_sum.state == "FINISHED"
    assert sorted((t, label) for t, label, _ in node_sum.inputs) == [
        ("CALL_CALC", "node_sum"),
        ("INPUT_CALC", "x"),
        ("INPUT_CALC", "y"),
    ]
    assert sorted((t, label) for t, label, _ in node_sum.outputs) == [
        ("CREATE", "seen"),
        ("CREATE", "total"),
    ]

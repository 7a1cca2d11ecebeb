"""An explicitly built WorkGraph (``add_task``, ``add_link``, ``with WorkGraph()``) runs on
every backend with the same values and the same stored provenance as one built by a body."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from ferroflow import WorkflowFailedError, WorkGraph, get_current_profile, namespace, task
from provenance_flows import run_provenance

from policies.backends import Backend


def test_an_explicit_graph_runs_like_a_built_one(backend: Backend) -> None:
    f = backend.flows
    wg = WorkGraph("explicit")
    first = wg.add_task(f.plus_one, x=1)
    second = wg.add_task(f.plus_one)
    wg.add_link(first.outputs.result, second.inputs.x)
    wg.outputs = {"result": second.outputs.result}
    backend.run(wg)
    assert wg.state == "FINISHED" and wg.outputs.result.value == 3

    @task.graph
    def explicit() -> Any:
        return f.plus_one(x=f.plus_one(x=1).result).result

    built = explicit.build()
    backend.run(built)
    assert wg.pk is not None and built.pk is not None
    # the same task runs, values and links; only the graph run's process type differs
    rename = {"workgraph:explicit": explicit.process_type}
    assert _renamed(run_provenance(wg.pk), rename) == run_provenance(built.pk)


def _renamed(provenance: Any, rename: dict[str, str]) -> Any:
    """``run_provenance`` output with the process types in ``rename`` replaced."""

    def fix(item: Any) -> Any:
        if isinstance(item, tuple):
            return tuple(fix(part) for part in item)
        return rename.get(item, item) if isinstance(item, str) else item

    nodes, links = provenance
    return (
        Counter({fix(key): n for key, n in nodes.items()}),
        Counter({fix(key): n for key, n in links.items()}),
    )


def test_a_failure_in_an_explicit_graph_skips_what_is_linked_to_it(backend: Backend) -> None:
    f = backend.flows
    with WorkGraph("fails") as wg:
        bad = f.raises(x=1)
        f.plus_one(x=bad.result)
        f.quick(x=2)
    with pytest.raises(WorkflowFailedError):
        backend.run(wg)
    assert [t.state for t in wg.tasks] == ["FAILED", "SKIPPED", "FINISHED"]


def test_graph_inputs_context_and_an_inner_workgraph_on_every_backend(backend: Backend) -> None:
    f = backend.flows
    with WorkGraph("inner", inputs=namespace(x=float)) as inner:
        inner.outputs.result = f.plus_one(x=inner.inputs.x).result
    with WorkGraph("outer", inputs=namespace(start=float)) as wg:
        wg.ctx.first = f.plus_one(x=wg.inputs.start).result
        wg.outputs.result = inner(inputs={"x": wg.ctx.first}).result
    backend.run(wg, inputs={"start": 1.0})
    assert wg.outputs.result.value == 3.0
    assert [t.state for t in wg.all_tasks()] == ["FINISHED"] * 3


def test_call_metadata_is_stored_alike_on_every_backend(backend: Backend) -> None:
    """A task given ``metadata=`` (which the fast lane cannot record) runs in the general
    runner: renamed, its label and description stored, its provenance as without it."""
    f = backend.flows
    with WorkGraph("described") as wg:
        first = f.plus_one(x=1.0, metadata={"call_link_label": "start", "label": "Start"})
        f.plus_one(x=first.result, metadata={"description": "then one more"})
    backend.run(wg)
    assert wg.tasks.plus_one.outputs.result.value == 3.0
    store = get_current_profile().store
    called = {n.label: n for n in store.load_node(wg.pk).called}
    assert (called["start"].user_label, called["start"].description) == ("Start", None)
    assert (called["plus_one"].user_label, called["plus_one"].description) == (
        None,
        "then one more",
    )

    with WorkGraph("described") as plain:
        second = f.plus_one(x=1.0)
        f.plus_one(x=second.result)
    backend.run(plain)
    assert plain.pk is not None and wg.pk is not None
    # the same nodes and links as without metadata, but for the task names
    rename = {"start": "plus_one", "plus_one": "plus_one1"}
    assert _renamed(run_provenance(wg.pk), rename) == run_provenance(plain.pk)

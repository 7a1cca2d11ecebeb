"""The writer's packed form (one ``task_run`` row per fast-lane task run, its output and plain
constants inline: ``docs/packed-task-runs.md``) stores exactly the provenance the node form
does: the same workflows, run once with ``FERROFLOW_PACKED=0`` and once with ``=1`` (each on a
store of its own), read back the same through the reading layer, whichever committer wrote
them. The nodes a script holds (a task's constant inputs, its output) are the stored ones."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ferroflow.profile as profile_module
import pytest
from ferroflow import WorkGraph, get_current_profile, load_node, task
from ferroflow.export.view import run_page
from ferroflow.query import find_nodes
from provenance_flows import run_howto, run_provenance


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def scale(x: float, y: float) -> float:
    return x * y


@task
def label(x: int, text: str) -> str:
    return f"{text}:{x}"


@task
def shaky(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


@task
def chatty(x: int) -> int:
    print(f"chatty {x}")
    return x


@task.graph
def talks(n: int) -> int:
    return add(x=chatty(x=n).result, y=chatty(x=n + 1).result).result


@task.graph
def scatter(n: int) -> dict[str, Any]:
    return {f"r{i}": add(x=i, y=1).result for i in range(n)}


@task.graph
def chain(n: int) -> int:
    value = add(x=0, y=1).result
    for i in range(n):
        value = add(x=value, y=i).result
    return value


@task.graph
def mixed(n: int) -> dict[str, Any]:
    """Strings with quotes and newlines, floats, None, a large int, a shared input."""
    first = add(x=n, y=2**40).result
    return {
        "text": label(x=first, text='a "quoted"\nline').result,
        "float": scale(x=1.5, y=0.1).result,
        "none": label(x=n, text="").result,
        "many": add(x=first, y=first).result,
    }


@task.graph
def partly_failing(n: int) -> dict[str, Any]:
    return {f"r{i}": add(x=shaky(x=i).result, y=1).result for i in range(n)}


def _ran(graph: Any, n: int, finished: bool = True) -> int:
    """Build ``graph`` for ``n``, run it; its pk (a run meant to fail must fail)."""
    wg = graph.build(n)
    wg.run(raise_on_error=finished)
    assert wg.pk is not None and (wg.state == "FINISHED") == finished
    return int(wg.pk)


def _explicit() -> int:
    with WorkGraph("explicit") as wg:
        total = add(x=1, y=2).result
        wg.outputs.total = add(x=total, y=3).result
    wg.run()
    assert wg.pk is not None
    return wg.pk


WORKFLOWS: dict[str, Callable[[], int]] = {
    "scatter": lambda: _ran(scatter, 6),
    "chain": lambda: _ran(chain, 5),
    "mixed": lambda: _ran(mixed, 3),
    "failing": lambda: _ran(partly_failing, 5, finished=False),
    "explicit": _explicit,
    "howto": run_howto,
}


def _in_store(
    monkeypatch: pytest.MonkeyPatch, home: Path, packed: str, make: Callable[[], int]
) -> tuple[Any, int, int]:
    """Run ``make`` on a fresh profile in ``home`` with ``FERROFLOW_PACKED=packed``: its
    provenance (pks described), its pk, and how many packed rows the store holds."""
    monkeypatch.setenv("FERROFLOW_HOME", str(home))
    monkeypatch.setenv("FERROFLOW_PACKED", packed)
    monkeypatch.setattr(profile_module, "_profiles", {})
    monkeypatch.setattr(profile_module, "_current", None)
    run_pk = make()
    described = run_provenance(run_pk)
    store = get_current_profile().store
    with sqlite3.connect(store.path) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM task_run").fetchone()
    conn.close()
    get_current_profile().close()
    return described, run_pk, rows


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_a_packed_run_reads_back_as_the_node_form_does(
    name: str, writer: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    nodes, _, none = _in_store(monkeypatch, tmp_path / "nodes", "0", WORKFLOWS[name])
    packed, _, rows = _in_store(monkeypatch, tmp_path / "packed", "1", WORKFLOWS[name])
    assert none == 0 and rows > 0  # each store was written in the form it was asked for
    assert packed == nodes


def test_a_finished_fast_tasks_constants_and_output_are_the_stored_nodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FERROFLOW_PACKED", "1")
    wg = scatter.build(3)
    wg.run()
    get_current_profile().store.flush()
    for name in ("add", "add1", "add2"):
        node = wg.tasks[name].node
        assert node.pk is not None
        stored = load_node(node.pk)
        held = {key: node.inputs[key] for key in ("x", "y")}
        inputs = {label: found for kind, label, found in stored.inputs if kind == "INPUT_CALC"}
        assert {k: (v.pk, v.uuid, v.value) for k, v in held.items()} == {
            k: (v.pk, v.uuid, v.value) for k, v in inputs.items()
        }
        assert {held["x"].pk, held["y"].pk} == {node.pk + 2, node.pk + 3}
        (output,) = [found for kind, _, found in stored.outputs if kind == "CREATE"]
        result = node.outputs["result"]
        assert (output.pk, output.uuid, output.value) == (result.pk, result.uuid, result.value)
        assert output.pk == node.pk + 1 and str(output.uuid)[:-2] == str(stored.uuid)[:-2]
        assert load_node(held["y"].pk).creator is None  # a constant: nothing created it


def test_packed_task_runs_are_found_by_the_queries_as_nodes_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FERROFLOW_PACKED", "1")
    wg = scatter.build(4)
    wg.run()
    found = find_nodes(kind="calc", run=wg.pk)
    assert Counter(n.label for n in found) == Counter(["add", "add1", "add2", "add3"])
    assert {n.state for n in found} == {"FINISHED"}


def _page_and_logs(
    monkeypatch: pytest.MonkeyPatch, home: Path, packed: str
) -> tuple[list[tuple[str, str | None, int]], list[tuple[str, str]], int]:
    """Run ``talks`` in ``home`` with ``FERROFLOW_PACKED=packed``: its page's tasks (path,
    output, timeline bars drawn for it), ``ferroflow logs``' rows, and the packed row count."""
    monkeypatch.setenv("FERROFLOW_HOME", str(home))
    monkeypatch.setenv("FERROFLOW_PACKED", packed)
    monkeypatch.setattr(profile_module, "_profiles", {})
    monkeypatch.setattr(profile_module, "_current", None)
    wg = talks.build(5)
    wg.run(max_workers=1)  # one at a time: both runs start their tasks in the same order
    store = get_current_profile().store
    assert wg.pk is not None
    page = run_page(store, wg.pk)
    timeline = page["timeline"]
    assert timeline is not None
    bars = Counter(str(bar[5]) for bar in timeline["bars"])  # [lane, start, end, state, id, path]
    tasks = [(t["path"], t.get("output"), bars[t["path"]]) for t in page["tasks"]]
    logs = [(o.path, o.text) for o in store.task_outputs(wg.pk)]
    with sqlite3.connect(store.path) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM task_run").fetchone()
    conn.close()
    get_current_profile().close()
    return tasks, logs, rows


def test_a_packed_runs_page_and_captured_output_read_as_the_node_forms(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The page of a stored run names a packed task by its path and shows what it printed, and
    ``ferroflow logs`` finds its output (keyed by the row's pk), as for the node form."""
    nodes = _page_and_logs(monkeypatch, tmp_path / "nodes", "0")
    packed = _page_and_logs(monkeypatch, tmp_path / "packed", "1")
    assert nodes[2] == 0 and packed[2] > 0
    assert nodes[1] == [("talks/chatty", "chatty 5\n"), ("talks/chatty1", "chatty 6\n")]
    assert packed[:2] == nodes[:2]
    assert {path for path, _, bars in packed[0] if bars} >= {"talks/chatty", "talks/add"}


@pytest.mark.parametrize("packed", ["1", "0"], ids=["packed", "node form"])
def test_numbered_tasks_are_stored_under_names_made_only_when_recorded(
    monkeypatch: pytest.MonkeyPatch, packed: str
) -> None:
    """A graph body's numbered fast tasks (``add``, ``add1``, ``add2``…) are stored under
    their names, yet the run keeps no name string per task: each label is made from the
    number when the task's provenance is queued, and the task node's name when first read
    (not when the graph's returned outputs are resolved either)."""
    monkeypatch.setenv("FERROFLOW_PACKED", packed)
    wg = scatter.build(4)
    wg.run()
    get_current_profile().store.flush()
    tasks = wg._graph.tasks
    assert [type(task._name) for task in tasks] == [str, int, int, int]
    stored = {(n.pk, n.label) for n in find_nodes(kind="calc", run=wg.pk)}
    names = ["add", "add1", "add2", "add3"]
    assert stored == {(task.pk, name) for task, name in zip(tasks, names, strict=True)}
    assert [task.name for task in tasks] == names

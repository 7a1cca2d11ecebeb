"""Continuing a finished explicit WorkGraph (F20, WorkGraph's "continue a finished workgraph"):
``WorkGraph.load(pk)`` rebuilds a graph built with ``add_task`` from the recipe its run stored,
the script renames it, edits inputs, adds tasks and graph inputs, and ``run()`` reuses every
finished task whose function and inputs did not change."""

from __future__ import annotations

import sqlite3
from typing import Any

import numpy as np
import pytest
from ferroflow import FerroflowError, WorkGraph, get_current_profile, namespace, task
from ferroflow.tasks.tests import add, multiply


@task
def scale(data: Any, factor: Any) -> Any:
    return {key: value * factor for key, value in data.items()}


@task
def total(values: Any) -> Any:
    return float(np.sum(values))


def _first_run() -> WorkGraph:
    with WorkGraph("to_be_continued", inputs=namespace(x=Any, y=Any)) as wg:
        the_sum = add(x=wg.inputs.x, y=wg.inputs.y).result
        wg.outputs.sum = the_sum
        wg.outputs.product = multiply(x=the_sum, y=3).result
    wg.run(inputs={"x": 1, "y": 2})
    return wg


def _input_pks(pk: int) -> dict[str, int]:
    run = get_current_profile().store.load_node(pk)
    return {label: node.pk for kind, label, node in run.inputs if kind == "INPUT_WORK"}


def test_a_loaded_explicit_graph_is_edited_and_rerun_reusing_what_did_not_change() -> None:
    first = _first_run()
    assert (first.outputs.sum.value.value, first.outputs.product.value.value) == (3, 9)
    with WorkGraph.load(first.pk) as wg:
        wg.name = "modified"
        assert wg.restart() is wg  # WorkGraph's spelling: the loaded run is already the base
        wg.tasks.multiply.inputs.y = 4
    wg.run()
    assert (wg.outputs.sum.value.value, wg.outputs.product.value.value) == (3, 12)
    assert wg.cached_tasks == ["modified/add"]  # multiply's input changed: it ran again
    assert wg.process_type == "workgraph:modified" and wg.pk != first.pk
    assert _input_pks(wg.pk) == _input_pks(first.pk)  # the same stored input nodes

    with WorkGraph.load(wg.pk) as more:
        more.name = "continued"
        more.add_input_spec("workgraph.any", name="z")
        new_sum = add(x=more.tasks.multiply.outputs.result, y=more.inputs.z).result
        more.outputs.new_sum = new_sum
    assert [t.name for t in more.tasks] == ["add", "multiply", "add1"]
    more.run(inputs={"z": 5})
    assert more.outputs.new_sum.value.value == 17
    assert sorted(more.cached_tasks) == ["continued/add", "continued/multiply"]


def test_constants_namespaces_ordering_and_outputs_survive_the_recipe() -> None:
    with WorkGraph("kinds") as wg:
        scaled = scale(data={"a": 1.5, "b": 2}, factor=2)
        total(values=np.arange(4.0))
        later = wg.add_task(add, name="later", x=[1], y=[2])
        later.waiting_on.add(wg.tasks.total)
        wg.outputs.scaled = scaled.result
    wg.run()
    again = WorkGraph.load(wg.pk)
    node = again.tasks.later.node
    assert [p.name for p in node.producers] == ["total"]  # the ">>" ordering is kept
    again.run()
    assert again.outputs.scaled.value.value == {"a": 3.0, "b": 4}
    assert again.tasks.total.outputs.result.value.value == 6.0
    assert again.tasks.later.outputs.result.value.value == [1, 2]
    assert sorted(again.cached_tasks) == ["kinds/later", "kinds/scale", "kinds/total"]


def test_a_task_whose_function_cannot_be_imported_is_named() -> None:
    @task
    def local(x: int) -> int:
        return x

    wg = WorkGraph("local_fn")
    wg.add_task(local, x=1)
    wg.run()
    with pytest.raises(FerroflowError, match=r"cannot rebuild task 'local' of run \d+"):
        WorkGraph.load(wg.pk)


def _store_file() -> str:
    store = get_current_profile().store
    store.flush()
    return str(store.path)


def test_a_run_without_a_recipe_or_with_a_damaged_one_is_refused_clearly() -> None:
    first = _first_run()
    path = _store_file()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE graph_recipe SET recipe = '{\"version\": 1}' WHERE run_pk = ?", (first.pk,)
        )
    with pytest.raises(FerroflowError, match="is malformed"):
        WorkGraph.load(first.pk)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM graph_recipe WHERE run_pk = ?", (first.pk,))
    with pytest.raises(FerroflowError, match="has no stored recipe"):
        WorkGraph.load(first.pk)


def test_a_built_graph_stores_no_recipe() -> None:
    @task.graph
    def body(x: int) -> Any:
        return add(x=x, y=1).result

    wg = body.build(x=1)
    wg.run()
    with sqlite3.connect(_store_file()) as conn:
        assert conn.execute("SELECT count(*) FROM graph_recipe").fetchone() == (0,)


def plain_double(x: int) -> int:
    return 2 * x


def test_plain_functions_and_unstored_constants_on_reload() -> None:
    wg = WorkGraph("plain")
    wg.add_task(plain_double, x=4)  # a plain function, made a task on the fly
    wg.run()
    again = WorkGraph.load(wg.pk)
    again.run()
    assert again.tasks.plain_double.outputs.result.value.value == 8

    import threading

    @task
    def keeps(lock: Any) -> int:
        return 1

    held = WorkGraph("unstored")
    held.add_task(keeps, lock=threading.Lock())  # a value the store cannot keep
    held.run(raise_on_error=False)
    with pytest.raises(FerroflowError, match=r"input 'lock'.*was not stored"):
        WorkGraph.load(held.pk)


def test_a_graph_name_the_store_cannot_keep_is_refused_when_set() -> None:
    wg = _first_run()
    loaded = WorkGraph.load(wg.pk)
    with pytest.raises(ValueError, match="surrogate"):
        loaded.name = "bad\udc80"

"""What the recipe of an explicitly built graph carries, so that ``WorkGraph.load`` (and so
``wg.restart()`` / ``ferroflow restart``) rebuilds the graph the user built, not a poorer one:
per-call ``metadata=``, the options of a task made inline (``add_task(task(retries=...)(f))``:
error handlers, retries, timeout, caching, executor, outputs), ``max_number_jobs``, the
declared graph inputs and outputs, and constants as references to their stored data nodes.
What cannot be carried is named, never dropped silently. Recipes written by an older
ferroflow (version 1) still load."""

from __future__ import annotations

import json
import sqlite3
import warnings
from typing import Any

import numpy as np
import pytest
from ferroflow import FerroflowError, WorkGraph, get_current_profile, namespace, task
from ferroflow.errors import NodeNotFoundError, TaskInputError
from ferroflow.model.own_inputs import wrapper_kind
from ferroflow.model.spec import Leaf, Namespace
from ferroflow.model.taskdef import CalcFunctionDef
from ferroflow.store.deletion import delete_run
from ferroflow.tasks.tests import add, multiply

# -- module-level functions: importable by name, as a recipe needs them -------------------------


def flaky(x: int) -> int:
    """Refuses a negative number: the error handler below makes it positive."""
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x


def make_positive(error: BaseException, inputs: dict[str, Any], bonus: int = 0) -> Any:
    return {"x": -inputs["x"] + bonus}


class Refused(Exception):
    """An exception class of this module, named in a recipe by module.qualname."""


def refuse_once(x: int) -> int:
    raise Refused(str(x))


def split(x: int) -> dict[str, int]:
    return {"low": x - 1, "high": x + 1}


@task(error_handlers={"flip": {"handler": lambda error, inputs: {"x": -inputs["x"]}}})
def guarded(x: int) -> int:
    """Decorated at module level: its lambda handler comes back with the handle itself."""
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x


def _store_file() -> str:
    store = get_current_profile().store
    store.flush()
    return str(store.path)


def _recipe(pk: int) -> dict[str, Any]:
    with sqlite3.connect(_store_file()) as conn:
        (text,) = conn.execute("SELECT recipe FROM graph_recipe WHERE run_pk = ?", (pk,)).fetchone()
    return dict(json.loads(text))


def _set_recipe(pk: int, recipe: dict[str, Any]) -> None:
    with sqlite3.connect(_store_file()) as conn:
        conn.execute(
            "UPDATE graph_recipe SET recipe = ? WHERE run_pk = ?", (json.dumps(recipe), pk)
        )


def _described(pk: int) -> tuple[str | None, str | None] | None:
    with sqlite3.connect(_store_file()) as conn:
        row = conn.execute(
            "SELECT label, description FROM process_text WHERE pk = ?", (pk,)
        ).fetchone()
    return None if row is None else (row[0], row[1])


# -- per-call metadata ------------------------------------------------------------------------


def test_a_task_label_and_description_come_back_and_are_stored_by_the_restart() -> None:
    wg = WorkGraph("described")
    wg.add_task(add, x=1, y=2, metadata={"label": "first sum", "description": "1 + 2"})
    wg.add_task(multiply, name="plain", x=2, y=3)
    wg.run()
    assert _described(wg.tasks.add.pk) == ("first sum", "1 + 2")
    again = WorkGraph.load(wg.pk)
    assert again.tasks.add.node.described() == ("first sum", "1 + 2")
    assert again.tasks.plain.node.described() is None
    again.run()
    assert _described(again.tasks.add.pk) == ("first sum", "1 + 2")
    assert _described(again.tasks.plain.pk) is None


# -- options of a task made inline: error handlers, retries, timeout, caching, executor -------


def test_the_options_and_error_handlers_of_an_inline_task_survive_a_restart() -> None:
    made = task(
        retries=2,
        retry_on=(Refused, KeyError),
        backoff=0.0,
        timeout=30,
        cache=False,
        version="v2",
        executor="local",
        error_handlers={
            "flip": {
                "handler": make_positive,
                "exceptions": ValueError,
                "max_retries": 2,
                "kwargs": {"bonus": 1},
            }
        },
    )(flaky)
    wg = WorkGraph("handled")
    wg.add_task(made, x=-3)
    wg.run()
    assert wg.tasks.flaky.outputs.result.value.value == 4  # the handler made it 3 + 1
    again = wg.restart()  # rebuilt from the recipe; cache=False: runs again, handler again
    handle = again.tasks.flaky.node.handle
    assert (handle.retries, handle.retry_on, handle.timeout) == (2, (Refused, KeyError), 30.0)
    assert (handle.cache, handle.version, handle.executor) == (False, "v2", "local")
    (flip,) = handle.error_handlers
    assert (flip.name, flip.handler, flip.exceptions) == ("flip", make_positive, (ValueError,))
    assert (flip.max_retries, flip.kwargs) == (2, {"bonus": 1})
    assert again.tasks.flaky.outputs.result.value.value == 4
    assert again.cached_tasks == []


def test_a_module_level_handle_comes_back_as_itself_lambda_handler_included() -> None:
    wg = WorkGraph("guarded")
    wg.add_task(guarded, x=-5)
    wg.run()
    again = WorkGraph.load(wg.pk)
    assert again.tasks.guarded.node.handle is guarded


def test_an_inline_task_with_renamed_outputs_keeps_them() -> None:
    made = task(outputs=["low", "high"])(split)
    wg = WorkGraph("outputs")
    parts = wg.add_task(made, x=5)
    wg.add_task(add, x=parts.outputs.low, y=parts.outputs.high)
    wg.run()
    again = WorkGraph.load(wg.pk)
    assert list(again.tasks.split.node.handle.outputs.fields) == ["low", "high"]
    again.run()
    assert again.tasks.add.outputs.result.value.value == 10


def node_sum(x: Any, y: Any) -> Any:
    """A calcfunction body: receives data nodes."""
    return x + y


def always(value: int) -> int:
    """A monitor's predicate: holds at once."""
    return value


def test_inline_calcfunction_monitor_and_python_job_tasks_are_made_again_of_their_kind() -> None:
    wg = WorkGraph("kinds_inline")
    summed = wg.add_task(task.calcfunction(node_sum), x=1, y=2)
    watched = wg.add_task(task.monitor(always), value=summed.outputs.result, interval=0.01)
    wg.add_task(task.pythonjob(flaky), x=watched.outputs.result, metadata={"options": {}})
    wg.run()
    assert watched.outputs.result.value.value == 3
    again = wg.restart()
    job = again.tasks.flaky.node.handle
    assert wrapper_kind(job.func) == "pythonjob" and job.metadata_keys == ("options",)
    assert again.tasks.flaky.outputs.result.value.value == 3
    calc = again.tasks.node_sum.node.handle
    assert isinstance(calc, CalcFunctionDef) and calc.func is node_sum
    monitor = again.tasks.always.node.handle
    assert wrapper_kind(monitor.func) == "monitor" and monitor.func.__wrapped__ is always
    assert monitor.cache is False and "interval" in monitor.inputs
    assert again.tasks.always.outputs.result.value.value == 3
    # a monitor is never cached; the others are, by their input values
    assert sorted(again.cached_tasks) == ["kinds_inline/flaky", "kinds_inline/node_sum"]


def test_a_handler_without_an_importable_name_is_named_when_loading() -> None:
    made = task(error_handlers={"flip": {"handler": lambda error, inputs: {"x": 1}}})(flaky)
    wg = WorkGraph("lambda_handler")
    wg.add_task(made, x=2)
    wg.run()
    with pytest.raises(
        FerroflowError,
        match=r"task 'flaky' of run \d+: error handler 'flip'.*'test_recipe_carries\..*<lambda>'",
    ):
        WorkGraph.load(wg.pk)

    def local_handler(error: BaseException, inputs: dict[str, Any]) -> Any:
        return None

    closure = task(error_handlers={"h": {"handler": local_handler}})(flaky)
    other = WorkGraph("closure_handler")
    other.add_task(closure, x=2)
    other.run()
    with pytest.raises(FerroflowError, match=r"task 'flaky' of run \d+: error handler 'h'"):
        WorkGraph.load(other.pk)


def test_an_exception_class_without_an_importable_name_is_named_when_loading() -> None:
    class Local(Exception):
        pass

    made = task(retries=1, retry_on=Local)(refuse_once)
    wg = WorkGraph("local_exception")
    wg.add_task(made, x=1)
    wg.run(raise_on_error=False)
    with pytest.raises(FerroflowError, match=r"task 'refuse_once' of run \d+: retry_on.*Local"):
        WorkGraph.load(wg.pk)


# -- max_number_jobs and the declared inputs and outputs ----------------------------------------


def test_max_number_jobs_comes_back() -> None:
    wg = WorkGraph("capped", max_number_jobs=2)
    wg.add_task(add, x=1, y=2)
    wg.run()
    assert WorkGraph.load(wg.pk).max_number_jobs == 2
    free = WorkGraph("free")
    free.add_task(add, x=1, y=2)
    free.run(max_number_jobs=3)  # the run's own cap, not the graph's
    assert WorkGraph.load(free.pk).max_number_jobs is None


def test_the_declared_input_and_output_specs_come_back_and_still_check() -> None:
    spec = namespace(x=int, y=(int, 0), more=namespace(z=float, w=(list[int] | None, None)))
    outputs = namespace(total=int)
    wg = WorkGraph("declared", inputs=spec, outputs=outputs)
    first = wg.add_task(add, x=wg.inputs.x, y=wg.inputs.y)
    wg.add_task(multiply, x=first.outputs.result, y=wg.inputs.more.z)
    wg.outputs.total = first.outputs.result
    wg.run(inputs={"x": 1, "y": 2, "more": {"z": 1.5}})
    again = WorkGraph.load(wg.pk)
    assert again._input_spec == spec and again._output_spec == outputs
    with pytest.raises(TaskInputError, match="x"):
        again.run(inputs={"x": "not an int"})  # the declared type is checked again


def test_a_namespace_fields_default_is_its_value_unless_given_and_after_a_reload() -> None:
    wg = WorkGraph("defaults", inputs=namespace(x=int, y=(int, 5)))
    wg.add_task(add, x=wg.inputs.x, y=wg.inputs.y)
    wg.run(inputs={"x": 1})
    assert wg.tasks.add.outputs.result.value.value == 6
    given = WorkGraph.load(wg.pk)
    given.run(inputs={"x": 1, "y": 2})  # a given value wins over the default
    assert given.tasks.add.outputs.result.value.value == 3
    again = WorkGraph.load(wg.pk)
    assert again._input_spec.fields["y"].default == 5
    again.run(inputs={"x": 2})
    assert again.tasks.add.outputs.result.value.value == 7


def test_inputs_added_with_add_input_spec_come_back() -> None:
    wg = WorkGraph("added")
    wg.add_input_spec("workgraph.int", name="z", required=False)
    wg.add_task(add, x=wg.inputs.z, y=1)
    wg.run(inputs={"z": 4})
    again = WorkGraph.load(wg.pk)
    assert again._added_inputs == {"z": Leaf(int, required=False)}
    again.run()
    assert again.tasks.add.outputs.result.value.value == 5


def test_a_type_without_an_importable_name_is_named_and_loosened_to_any() -> None:
    class Local:
        pass

    wg = WorkGraph("local_type", inputs=namespace(x=Any, obj=(Local, None)))
    wg.add_task(add, x=wg.inputs.x, y=1)
    wg.run(inputs={"x": 1})
    with pytest.warns(UserWarning, match=r"graph input 'obj'.*Local.*checked as Any"):
        again = WorkGraph.load(wg.pk)
    assert again._input_spec == Namespace({"x": Leaf(Any), "obj": Leaf(Any, required=False)})


# -- constants: stored once, as data nodes the recipe names -------------------------------------


@task
def total(values: Any) -> float:
    return float(np.sum(values))


@task
def boom() -> int:
    raise RuntimeError("boom")


def test_a_large_constant_is_stored_once() -> None:
    data = np.arange(200_000.0)  # 1.6 MB: the old recipe held it again, in base64
    wg = WorkGraph("big")
    wg.add_task(total, values=data)
    wg.run()
    recipe = _recipe(wg.pk)
    assert len(json.dumps(recipe)) < 1000
    (binding,) = recipe["tasks"][0]["inputs"].values()
    store = get_current_profile().store
    linked = {
        label: node.pk
        for kind, label, node in store.load_node(wg.tasks.total.pk).inputs
        if kind == "INPUT_CALC"
    }
    assert binding == {"node": linked["values"]}  # the task's own input node, by pk
    again = WorkGraph.load(wg.pk)
    again.run()
    assert again.tasks.total.outputs.result.value.value == float(data.sum())
    relinked = {
        label: node.pk
        for kind, label, node in store.load_node(again.tasks.total.pk).inputs
        if kind == "INPUT_CALC"
    }
    assert relinked["values"] != linked["values"]  # each run owns its constants' nodes,
    # and the array's bytes are stored once all the same
    blobs = {store.load_node(pk).blob_id for pk in (relinked["values"], linked["values"])}
    assert len(blobs) == 1 and None not in blobs


def test_a_constant_of_a_task_that_never_ran_is_kept_for_the_restart_and_deleted_with_the_run() -> (
    None
):
    wg = WorkGraph("never")
    first = wg.add_task(boom)
    later = wg.add_task(total, values=np.arange(10.0))
    later.waiting_on.add(first)
    wg.run(raise_on_error=False)
    assert wg.tasks.total.state == "SKIPPED"
    (binding,) = _recipe(wg.pk)["tasks"][1]["inputs"].values()
    store = get_current_profile().store
    kept = store.load_node(binding["node"])
    assert kept.is_data and list(kept.value) == list(range(10))
    again = WorkGraph.load(wg.pk)
    assert list(again.tasks.total.node.inputs["values"].value) == list(range(10))
    store.flush()
    delete_run(store.path, store.durability, wg.pk)
    with pytest.raises(NodeNotFoundError):
        store.load_node(binding["node"])


def test_a_constant_node_missing_from_the_store_is_named() -> None:
    wg = WorkGraph("missing")
    wg.add_task(add, x=1, y=2)
    wg.run()
    recipe = _recipe(wg.pk)
    recipe["tasks"][0]["inputs"]["x"] = {"node": 10**9}
    _set_recipe(wg.pk, recipe)
    with pytest.raises(FerroflowError, match=r"task 'add', input 'x'.*data node 1000000000"):
        WorkGraph.load(wg.pk)
    recipe["tasks"][0]["inputs"]["x"] = {"node": wg.pk}  # a process node, not a value
    _set_recipe(wg.pk, recipe)
    with pytest.raises(FerroflowError, match=r"task 'add', input 'x'.*not a data node"):
        WorkGraph.load(wg.pk)


# -- recipes written by an older ferroflow --------------------------------------------------------


def test_a_version_1_recipe_still_loads() -> None:
    """The text a store written before recipe version 2 holds: constants inline (JSON, and
    ``npy`` bytes in base64), no metadata, options, cap or specs."""
    wg = WorkGraph("old")
    first = wg.add_task(add, x=1, y=2)
    wg.add_task(total, values=np.arange(3.0)).waiting_on.add(first)
    wg.run()
    npy = (
        "b64:k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMs"
        "KSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoA"
        "AAAAAAAAAAAAAAAAAPA/AAAAAAAAAEA="
    )
    version_1 = {
        "version": 1,
        "name": "old",
        "tasks": [
            {
                "name": "add",
                "type": "ferroflow.tasks.tests.add",
                "inputs": {"x": {"value": ["json", "1"]}, "y": {"value": ["json", "2"]}},
                "after": [],
            },
            {
                "name": "total",
                "type": "test_recipe_carries.total",
                "inputs": {"values": {"value": ["npy", npy]}},
                "after": ["add"],
            },
        ],
        "outputs": {"ns": {}},
    }
    _set_recipe(wg.pk, version_1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about in an old recipe
        again = WorkGraph.load(wg.pk)
    assert [p.name for p in again.tasks.total.node.producers] == ["add"]
    assert again.max_number_jobs is None and again._input_spec is None
    again.run()
    assert again.tasks.total.outputs.result.value.value == 3.0
    assert sorted(again.cached_tasks) == ["old/add", "old/total"]


@task(retries=2, cache=False)
def retried(x: int) -> int:
    """A module-level handle with options of its own."""
    return x + 1


@task.calcfunction
def node_add(x: Any, y: Any) -> Any:
    """A module-level calcfunction: its body receives data nodes."""
    return x + y


def test_a_version_1_recipe_uses_the_imported_definitions_whole() -> None:
    """Version 1 recorded no options: a task's definition is the imported handle as it is (its
    retries, its kind), never a plain task made again from its function."""
    wg = WorkGraph("old_options")
    wg.add_task(retried, x=1)
    wg.add_task(node_add, x=2, y=3)
    wg.run()
    version_1 = {
        "version": 1,
        "name": "old_options",
        "tasks": [
            {
                "name": "retried",
                "type": "test_recipe_carries.retried",
                "inputs": {"x": {"value": ["json", "1"]}},
                "after": [],
            },
            {
                "name": "node_add",
                "type": "test_recipe_carries.node_add",
                "inputs": {"x": {"value": ["json", "2"]}, "y": {"value": ["json", "3"]}},
                "after": [],
            },
        ],
        "outputs": {"ns": {}},
    }
    _set_recipe(wg.pk, version_1)
    again = WorkGraph.load(wg.pk)
    assert again.tasks.retried.node.handle is retried
    assert again.tasks.node_add.node.handle is node_add
    again.run()
    assert again.tasks.node_add.outputs.result.value.value == 5
    assert again.tasks.retried.outputs.result.value.value == 2


def test_a_node_key_in_a_sockets_extras_is_not_a_constant_to_delete() -> None:
    """Deleting a run deletes the constants its recipe binds (``{"node": pk}`` among a task's
    inputs), not a pk that the same key holds in the user's words elsewhere in the recipe."""
    first = WorkGraph("first")  # its total never runs: the recipe alone holds the constant
    failed = first.add_task(refuse_once, x=1)
    first.add_task(total, values=np.arange(4.0)).waiting_on.add(failed)
    first.run(raise_on_error=False)
    assert first.tasks.total.state == "SKIPPED"
    kept = _recipe(first.pk)["tasks"][1]["inputs"]["values"]["node"]
    second = WorkGraph("second")
    second.add_task(add, x=1, y=2)
    second.run()
    recipe = _recipe(second.pk)
    recipe["tasks"][0].setdefault("options", {})["extras_probe"] = {"node": kept}
    recipe["added_inputs"] = {"probe": {"node": kept}}
    _set_recipe(second.pk, recipe)
    delete_run(get_current_profile().store.path, "normal", second.pk, force=True)
    assert get_current_profile().store.load_node(kept).value.tolist() == [0.0, 1.0, 2.0, 3.0]
    again = WorkGraph.load(first.pk)  # the first run's recipe still reads its constant
    assert again.tasks.total.inputs.values.value.value.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_a_damaged_graph_spec_is_refused_naming_it() -> None:
    wg = WorkGraph("specs", inputs=namespace(x=int))
    wg.add_task(add, x=wg.inputs.x, y=1)
    wg.run(inputs={"x": 1})
    recipe = _recipe(wg.pk)
    recipe["added_inputs"] = {
        "bad": {"leaf": {"generic": "builtins.int", "args": ["builtins.str"]}}
    }
    _set_recipe(wg.pk, recipe)
    with pytest.raises(FerroflowError, match=r"graph input spec 'bad' cannot be read"):
        WorkGraph.load(wg.pk)


def test_a_recipe_of_an_unknown_version_is_refused() -> None:
    wg = WorkGraph("future")
    wg.add_task(add, x=1, y=2)
    wg.run()
    recipe = _recipe(wg.pk)
    recipe["version"] = 99
    _set_recipe(wg.pk, recipe)
    with pytest.raises(FerroflowError, match="version 99; this ferroflow reads versions 1 to"):
        WorkGraph.load(wg.pk)


def test_damaged_task_options_are_refused_naming_the_task() -> None:
    wg = WorkGraph("damaged")
    wg.add_task(task(retries=1)(flaky), x=1)
    wg.run()
    recipe = _recipe(wg.pk)
    assert recipe["tasks"][0]["options"] == {"retries": 1}
    recipe["tasks"][0]["options"] = {"retries": "many"}
    _set_recipe(wg.pk, recipe)
    with pytest.raises(FerroflowError, match=r"task 'flaky' of run \d+ with its recorded"):
        WorkGraph.load(wg.pk)

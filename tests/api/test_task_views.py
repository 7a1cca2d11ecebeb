"""WorkGraph's task views (F1): ``wg.tasks`` by name, attribute and position, iterating over
tasks; a task's ``inputs``/``outputs`` socket namespaces whose ``.value`` is the data node."""

from __future__ import annotations

from typing import Any

import pytest
from ferroflow import DataNode, NotRunError, dynamic, namespace, task
from ferroflow.views import GraphTask


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def multiply(x: int, y: int) -> int:
    return x * y


@task(outputs=namespace(sum=int, parts=dynamic(int)))
def split(n: int) -> dict[str, Any]:
    return {"sum": n, "parts": {f"p{i}": 1 for i in range(n)}}


@task
def fail(x: int) -> int:
    raise ValueError(f"no {x}")


@task.graph
def add_multiply(x: int, y: int, z: int) -> Any:
    return multiply(x=add(x=x, y=y).result, y=z).result


@task.graph
def outer(n: int) -> Any:
    return add_multiply(x=n, y=1, z=2).result


def test_quick_start_reads_a_task_output_like_workgraph() -> None:
    wg = add_multiply.build(x=2, y=3, z=4)
    wg.run()
    node = wg.tasks.add.outputs.result.value
    assert isinstance(node, DataNode) and node.value == 5 and node.pk is not None
    assert wg.tasks["multiply"].outputs["result"].value.value == 20


def test_tasks_by_name_attribute_and_position_in_insertion_order() -> None:
    wg = add_multiply.build(x=2, y=3, z=4)
    assert wg.tasks.keys() == ["add", "multiply"]
    assert wg.tasks[0] == wg.tasks["add"] == wg.tasks.add
    assert wg.tasks[-1] == wg.tasks.multiply
    assert [t.name for t in wg.tasks] == ["add", "multiply"]  # iterating gives tasks
    assert "add" in wg.tasks and "nope" not in wg.tasks and len(wg.tasks) == 2
    with pytest.raises(IndexError, match="out of range: the graph has 2 task"):
        wg.tasks[2]
    with pytest.raises(AttributeError, match="no task named 'nope'; tasks: add, multiply"):
        wg.tasks.nope  # noqa: B018


def test_inputs_show_constants_and_linked_values() -> None:
    wg = add_multiply.build(x=2, y=3, z=4)
    assert wg.tasks.add.inputs.x.value.value == 2  # a constant is known before the run
    assert "x" not in dir(wg.tasks.multiply.inputs)  # linked: no value until add ran
    assert dir(wg.tasks.multiply.inputs) == ["y"]
    wg.run()
    linked = wg.tasks.multiply.inputs.x.value
    assert linked.value == 5 and linked.pk == wg.tasks.add.outputs.result.value.pk


def test_a_dynamic_output_namespace_iterates_its_sockets() -> None:
    @task.graph
    def g(n: int) -> Any:
        return split(n=n).sum

    wg = g.build(3)
    wg.run()
    parts = wg.tasks.split.outputs.parts
    assert [s._name for s in parts] == ["p0", "p1", "p2"]
    assert [s.value.value for s in parts] == [1, 1, 1]
    assert wg.tasks.split.outputs.sum.value == 3
    assert wg.tasks.split.get_output_names() == ["sum", "parts"]
    assert wg.tasks.split.get_input_names() == ["n"]


def test_process_is_the_stored_task_run() -> None:
    wg = add_multiply.build(x=2, y=3, z=4)
    assert wg.tasks.add.process is None  # not run yet
    wg.run()
    process = wg.tasks.add.process
    assert process.pk == wg.tasks.add.pk and process.state == "FINISHED"
    assert [label for kind, label, _ in process.inputs if kind == "INPUT_CALC"] == ["x", "y"]
    unrecorded = add_multiply.build(x=2, y=3, z=4)
    unrecorded.run(provenance=False)
    assert unrecorded.tasks.add.process is None


def test_nested_graph_tasks_are_views_too() -> None:
    wg = outer.build(1)
    wg.run()
    inner = wg.tasks.add_multiply
    assert isinstance(inner, GraphTask) and inner.is_graph
    assert inner.tasks[-1].path == "outer/add_multiply/multiply"
    assert inner.tasks.multiply.outputs.result.value == (1 + 1) * 2
    assert [t.path for t in wg.all_tasks()] == [
        "outer/add_multiply",
        "outer/add_multiply/add",
        "outer/add_multiply/multiply",
    ]


def test_a_failed_task_has_no_output_values_and_says_why() -> None:
    @task.graph
    def g() -> Any:
        return add(x=fail(x=1).result, y=1).result

    wg = g.build()
    wg.run(raise_on_error=False)
    assert wg.tasks.fail.state == "FAILED" and isinstance(wg.tasks.fail.error, ValueError)
    with pytest.raises(NotRunError, match="failed, was skipped or was cancelled"):
        wg.tasks.fail.outputs.result.value  # noqa: B018
    assert wg.tasks.add.state == "SKIPPED"

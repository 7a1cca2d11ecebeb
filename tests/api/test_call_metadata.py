"""Per-call ``metadata={'call_link_label', 'label', 'description'}`` as WorkGraph documents it
(F19, "Set task metadata"): ``call_link_label`` renames the task and its CALL link, ``label``
and ``description`` are stored with the task's process node and can be queried; ``metadata``
is no task input."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from ferroflow import WorkGraph, get_current_profile, namespace, task
from ferroflow.cli import main
from ferroflow.query import find_nodes


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def multiply(x: int, y: int) -> int:
    return x * y


@task.graph
def add_and_multiply(x: int, y: int, z: int) -> Any:
    total = add(
        x,
        y,
        metadata={
            "call_link_label": "my_add",
            "label": "AdditionStep",
            "description": "Compute x + y and store it as an intermediate result.",
        },
    ).result
    return multiply(
        total,
        z,
        metadata={
            "call_link_label": "my_multiply",
            "label": "MultiplicationStep",
            "description": "Multiply the sum by z to produce the final result.",
        },
    ).result


def _counts(run_pk: int) -> tuple[Counter[str], Counter[str]]:
    """Nodes of a run by kind (its data: what its processes used or made) and links by type."""
    store = get_current_profile().store
    nodes = find_nodes(run=run_pk)
    pks = [n.pk for n in nodes]
    links = store.outgoing(pks) + store.incoming(pks)
    unique = {(link.src, link.dst, link.type, link.label) for link in links}
    return Counter(n.kind for n in nodes), Counter(t for _, _, t, _ in unique)


def test_metadata_renames_tasks_and_stores_label_and_description() -> None:
    wg = add_and_multiply.build(x=1, y=2, z=3)
    assert [t.name for t in wg.tasks] == ["my_add", "my_multiply"]
    wg.run()
    assert wg.outputs.result.value == 9
    assert wg.tasks.my_multiply.outputs.result.value == 9
    run = get_current_profile().store.load_node(wg.pk)
    called = {node.label: node for node in run.called}
    assert set(called) == {"my_add", "my_multiply"}
    add_run = called["my_add"]
    assert add_run.user_label == "AdditionStep"
    assert add_run.description == "Compute x + y and store it as an intermediate result."
    assert add_run.caller == run
    assert [label for t, label, _ in add_run.inputs if t == "CALL_CALC"] == ["my_add"]
    # the same provenance as WorkGraph stores: one graph run calling two calculations, the
    # three graph inputs, the sum and the product
    nodes, links = _counts(wg.pk)
    assert nodes == Counter({"data": 5, "calc": 2, "work": 1})
    assert links == Counter(
        {"INPUT_WORK": 3, "CALL_CALC": 2, "INPUT_CALC": 4, "CREATE": 2, "RETURN": 1}
    )
    assert run.user_label is None and run.description is None


def test_processes_are_found_by_their_label() -> None:
    wg = add_and_multiply.build(x=1, y=2, z=3)
    wg.run()
    found = find_nodes(task="MultiplicationStep")
    assert [(n.label, n.user_label) for n in found] == [("my_multiply", "MultiplicationStep")]
    assert [n.label for n in find_nodes(task="*Step")] == ["my_add", "my_multiply"]
    assert find_nodes(task="my_add")[0].description.startswith("Compute x + y")


def test_runs_show_and_node_show_print_label_and_description(
    capsys: pytest.CaptureFixture[str],
) -> None:
    wg = add_and_multiply.build(x=1, y=2, z=3)
    wg.run()
    assert main(["runs", "show", str(wg.pk)]) == 0
    tree = capsys.readouterr().out
    assert "my_add 'AdditionStep' [task" in tree
    assert "Multiply the sum by z to produce the final result." in tree
    pk = find_nodes(task="my_multiply")[0].pk
    assert main(["node", "show", str(pk)]) == 0
    shown = capsys.readouterr().out
    assert "labelled MultiplicationStep" in shown and "about    Multiply the sum" in shown


def test_metadata_in_a_with_block_and_in_add_task() -> None:
    with WorkGraph("explicit_metadata") as wg:
        first = add(x=1, y=2, metadata={"call_link_label": "first_sum", "label": "First"})
        wg.add_task(
            multiply,
            x=first.result,
            y=5,
            metadata={"call_link_label": "scaled", "description": "times five"},
        )
    assert list(wg.tasks) == [wg.tasks.first_sum, wg.tasks.scaled]
    wg.run()
    assert wg.tasks.scaled.outputs.result.value == 15
    called = {n.label: n for n in get_current_profile().store.load_node(wg.pk).called}
    assert (called["first_sum"].user_label, called["first_sum"].description) == ("First", None)
    assert (called["scaled"].user_label, called["scaled"].description) == (None, "times five")


def test_label_and_description_without_a_new_name_keep_the_task_name() -> None:
    @task.graph
    def twice(x: int) -> Any:
        one = add(x, 1, metadata={"label": "first"}).result
        return add(one, 1, metadata={"description": "second"}).result

    wg = twice.build(x=1)
    wg.run()
    assert wg.outputs.result.value == 3
    called = {n.label: n for n in get_current_profile().store.load_node(wg.pk).called}
    assert called["add"].user_label == "first"
    assert called["add1"].description == "second"


@pytest.mark.parametrize("bad", ["_add", "add_", "my add", "a__b", "", "x/y", 7])
def test_a_call_link_label_that_cannot_label_a_link_is_refused(bad: object) -> None:
    @task.graph
    def labelled() -> Any:
        return add(1, 2, metadata={"call_link_label": bad}).result

    with pytest.raises(ValueError, match="invalid call_link_label") as info:
        labelled.build()
    assert "task 'labelled/add'" in str(info.value)
    with pytest.raises(ValueError, match="invalid call_link_label"):
        WorkGraph("w").add_task(add, x=1, y=2, metadata={"call_link_label": bad})


def test_misused_metadata_is_refused_clearly() -> None:
    @task.graph
    def twice_the_same() -> Any:
        add(1, 2, metadata={"call_link_label": "same"})
        return add(3, 4, metadata={"call_link_label": "same"}).result

    with pytest.raises(ValueError, match="already has a task named 'same'"):
        twice_the_same.build()

    @task.graph
    def unknown_key() -> Any:
        return add(1, 2, metadata={"lable": "typo"}).result

    with pytest.raises(ValueError, match="metadata key 'lable' is not supported"):
        unknown_key.build()

    @task.graph
    def not_a_dict() -> Any:
        return add(1, 2, metadata="my_add").result

    with pytest.raises(TypeError, match="metadata must be a dict"):
        not_a_dict.build()

    wg = WorkGraph("both_names")
    with pytest.raises(ValueError, match="both name the task"):
        wg.add_task(add, name="one", x=1, y=2, metadata={"call_link_label": "other"})
    # the same name twice is no conflict
    assert wg.add_task(add, name="one", x=1, y=2, metadata={"call_link_label": "one"}).name == (
        "one"
    )


def test_a_function_with_a_metadata_input_is_refused_at_decoration() -> None:
    def configure(x: int, metadata: dict[str, Any]) -> int:
        return x

    for decorate in (task, task.graph, task(retries=1)):
        with pytest.raises(ValueError, match="input named 'metadata' is reserved") as info:
            decorate(configure)
        assert "configure" in str(info.value) and "task_metadata" in str(info.value)

    def spread(**metadata: int) -> int:
        return 0

    with pytest.raises(ValueError, match="'metadata' is reserved"):
        task(spread)
    with pytest.raises(ValueError, match="'metadata' is reserved"):
        WorkGraph("plain").add_task(configure, x=1)


def test_metadata_on_graph_tasks_and_an_inner_workgraph() -> None:
    @task.graph
    def inner(x: int) -> Any:
        return add(x, 1).result

    with WorkGraph("child", inputs=namespace(x=int)) as child:
        child.outputs.result = multiply(x=child.inputs.x, y=2).result

    @task.graph
    def outer(x: int) -> Any:
        first = inner(x, metadata={"call_link_label": "step_one", "label": "Inner"}).result
        return child(inputs={"x": first}, metadata={"call_link_label": "step_two"}).result

    wg = outer.build(x=1)
    assert [t.name for t in wg.tasks] == ["step_one", "step_two"]
    wg.run()
    assert wg.outputs.result.value == 4
    called = {n.label: n for n in get_current_profile().store.load_node(wg.pk).called}
    assert called["step_one"].kind == "work" and called["step_one"].user_label == "Inner"
    assert called["step_two"].kind == "work" and called["step_two"].user_label is None

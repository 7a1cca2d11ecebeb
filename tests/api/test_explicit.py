"""Explicit construction as WorkGraph users write it (F2, F4): ``WorkGraph(name)``,
``add_task``, ``add_link``, input sockets set before the run, ``run(inputs=)``,
``with WorkGraph() as wg:``, ``waiting_on``, ``show()``; with WorkGraph's rules and clear
errors for misuse."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from ferroflow import (
    FerroflowError,
    TaskInputError,
    WorkflowFailedError,
    WorkGraph,
    dynamic,
    get_current_profile,
    namespace,
    task,
)
from ferroflow.store import graph_read


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def multiply(x: int, y: int = 10) -> int:
    return x * y


@task
def divide(x: int, y: int) -> float:
    return x / y


@task
def total(**values: int) -> int:
    return sum(values.values())


@task(outputs=dynamic(int))
def spread(n: int) -> dict[str, int]:
    return {f"v{i}": i for i in range(n)}


def _links(run_pk: int) -> Counter[str]:
    """Link types of every link that touches a node of the run."""
    store = get_current_profile().store
    store.flush()
    query = store._reader.query
    procs = [row[0] for row in graph_read.run_node_rows(query, run_pk)]
    return Counter(link.type for link in graph_read.links_touching(query, procs))


def test_the_quick_start_built_explicitly() -> None:
    wg = WorkGraph("add_multiply")
    add1 = wg.add_task(add, name="add1", x=2, y=3)
    wg.add_task(multiply, name="multiply1", x=add1.outputs.result, y=4)
    outputs = wg.run()
    assert outputs == {}  # no graph outputs were declared
    assert wg.state == "FINISHED"
    assert wg.tasks.multiply1.outputs.result.value.value == 20
    assert [t.state for t in wg.tasks] == ["FINISHED", "FINISHED"]
    assert wg.pk is not None
    run = get_current_profile().store.load_node(wg.pk)
    assert run.label == "add_multiply" and run.type == "workgraph:add_multiply"
    # what WorkGraph stores for it: a graph run calling two task runs; three input values
    # (2, 3, 4) and the result of add linked into multiply; each task creates its result
    assert _links(wg.pk) == Counter({"INPUT_CALC": 4, "CREATE": 2, "CALL_CALC": 2})


def test_default_names_count_up_and_explicit_names_are_checked() -> None:
    wg = WorkGraph()
    assert wg.name == "WorkGraph"
    assert [wg.add_task(add, x=1, y=1).name for _ in range(3)] == ["add", "add1", "add2"]
    with pytest.raises(ValueError, match="already has a task named 'add1'"):
        wg.add_task(add, name="add1")
    with pytest.raises(ValueError, match="reserved"):
        wg.add_task(add, name="graph_ctx")
    with pytest.raises(ValueError, match="without '/'"):
        wg.add_task(add, name="a/b")
    for label in ("my-add", "a.b", "_x", "x_", "a__b"):  # the name labels the CALL link
        with pytest.raises(ValueError, match=f"add_task: invalid name '{label}'"):
            wg.add_task(add, name=label, x=1, y=1)
    assert wg.add_task(add, name="my_add2", x=1, y=1).name == "my_add2"
    with pytest.raises(TaskInputError, match="unknown input 'z'"):
        wg.add_task(add, z=1)
    with pytest.raises(FerroflowError, match="no built-in task of that name"):
        wg.add_task("workgraph.no_such_task")


def test_a_plain_function_becomes_a_task() -> None:
    def square(x: int) -> int:
        return x * x

    wg = WorkGraph("plain")
    wg.add_task(square, x=7)
    wg.run()
    assert wg.tasks.square.outputs.result.value == 49


def test_add_link_and_input_sockets() -> None:
    wg = WorkGraph("linked")
    first = wg.add_task(add, x=1)
    second = wg.add_task(multiply)
    wg.add_link(first.outputs.result, second.inputs.x)
    first.inputs.y = 5  # an input socket is assignable before the run
    with pytest.raises(ValueError, match="already been set via a link from 'linked/add'"):
        second.inputs.x = 3
    with pytest.raises(ValueError, match="already linked to 'linked/add'; an input takes one"):
        wg.add_link(first.outputs.result, second.inputs.x)
    with pytest.raises(FerroflowError, match="would make a cycle"):
        wg.add_link(second.outputs.result, first.inputs.x)
    with pytest.raises(TypeError, match="source must be an output socket"):
        wg.add_link(3, second.inputs.y)
    with pytest.raises(TypeError, match="target must be a task's input socket"):
        wg.add_link(first.outputs.result, second.outputs.result)
    wg.run()
    assert second.outputs.result.value == (1 + 5) * 10  # y's default
    assert second.inputs.x.value.pk == first.outputs.result.value.pk


def test_links_into_a_dynamic_namespace_collect_one_entry_each() -> None:
    wg = WorkGraph("gather")
    parts = [wg.add_task(add, x=i, y=i) for i in range(3)]
    summed = wg.add_task(total)
    for part in parts:
        wg.add_link(part.outputs.result, summed.inputs.values)
    assert sorted(summed.node.inputs["values"]) == ["add1_result", "add2_result", "add_result"]
    wg.run()
    assert summed.outputs.result.value == 0 + 2 + 4


def test_run_inputs_set_task_inputs_and_a_missing_one_fails_before_running() -> None:
    wg = WorkGraph("later")
    wg.add_task(add, name="a")
    wg.add_task(multiply, name="m", x=wg.tasks.a.outputs.result)
    with pytest.raises(KeyError, match="'nope' names no input or task"):
        wg.run(inputs={"nope": {"x": 1}})
    wg.run(inputs={"a": {"x": 1, "y": 2}, "m": {"y": 3}})
    assert wg.tasks.m.outputs.result.value == 9

    missing = WorkGraph("missing")
    missing.add_task(add, name="a", x=1)
    runs_before = len(get_current_profile().store.runs())
    with pytest.raises(TaskInputError, match="task 'missing/a': missing required input 'y'"):
        missing.run()
    assert len(get_current_profile().store.runs()) == runs_before  # nothing started
    assert missing.state == "PLANNED"


def test_with_block_adds_task_calls_and_futures_have_values_after_the_run() -> None:
    with WorkGraph("block") as wg:
        s = add(x=1, y=2)
        p = multiply(x=s.result, y=10)
        wg.outputs = {"p": p.result, "parts": {"s": s.result}}
    with pytest.raises(FerroflowError, match="has no value"):
        p.result.value  # noqa: B018
    wg.run()
    assert p.result.value == 30 and s.result.value == 3
    assert wg.outputs.p.value == 30 and wg.outputs.parts.s.value == 3
    assert _links(wg.pk)["RETURN"] == 2
    with pytest.raises(FerroflowError, match="already run"):
        wg.run()
    with pytest.raises(FerroflowError, match="already run"):
        wg.add_task(add, x=1, y=1)


def test_a_namespace_future_iterates_after_the_run() -> None:
    with WorkGraph("iter") as wg:
        parts = spread(n=3)
    wg.run()
    assert [(s._name, s.value.value) for s in parts] == [("v0", 0), ("v1", 1), ("v2", 2)]


def test_waiting_on_orders_tasks_and_a_failure_skips_the_waiting_one() -> None:
    @task
    def fails() -> int:
        raise ValueError("no")

    wg = WorkGraph("order")
    bad = wg.add_task(fails)
    after = wg.add_task(add, x=1, y=1)
    after.waiting_on.add(bad)
    assert list(after.waiting_on) == ["fails"]
    other = wg.add_task(add, x=2, y=2)
    bad >> other
    with pytest.raises(WorkflowFailedError):
        wg.run()
    assert (after.state, other.state) == ("SKIPPED", "SKIPPED")


def test_show_prints_name_pk_and_state(capsys: pytest.CaptureFixture[str]) -> None:
    wg = WorkGraph("shown")
    wg.add_task(add, x=1, y=2)
    wg.run()
    wg.show()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["Name", "PK", "State"]
    assert lines[1].split() == ["add", str(wg.tasks.add.pk), "FINISHED"]


def test_an_explicit_graph_restarts_from_its_stored_recipe() -> None:
    wg = WorkGraph("once")
    first = wg.add_task(add, x=1, y=2)
    wg.add_task(divide, x=first.outputs.result, y=0)
    wg.run(raise_on_error=False)
    assert wg.tasks.divide.state == "FAILED"
    again = wg.restart(raise_on_error=False)  # rebuilt from the recipe, add reused
    assert again.cached_tasks == ["once/add"] and again.tasks.divide.state == "FAILED"

    @task
    def local() -> int:
        return 1

    inner = WorkGraph("local")
    inner.add_task(local)
    inner.run()
    with pytest.raises(FerroflowError, match="cannot rebuild task 'local'"):
        inner.restart()


def test_graph_level_inputs_and_outputs() -> None:
    wg = WorkGraph("sum_graph", inputs=namespace(x=int, y=int))
    first = wg.add_task(add, x=wg.inputs.x, y=wg.inputs.y)
    second = wg.add_task(multiply, x=first.outputs.result, y=wg.inputs.y)
    wg.outputs = {"sum": first.outputs.result, "product": second.outputs.result}
    wg.run(inputs={"x": 1, "y": 2})
    assert wg.outputs.sum.value == 3 and wg.outputs.product.value == 6
    # one data node per graph input, shared by the graph run and every task that took it
    assert wg.inputs.y.value == 2
    store = get_current_profile().store
    run = store.load_node(wg.pk)
    given = {label: node.pk for kind, label, node in run.inputs if kind == "INPUT_WORK"}
    assert set(given) == {"x", "y"}
    assert second.inputs.y.value.pk == given["y"] == first.inputs.y.value.pk
    assert _links(wg.pk) == Counter(
        {"INPUT_WORK": 2, "INPUT_CALC": 4, "CREATE": 2, "CALL_CALC": 2, "RETURN": 2}
    )


def test_graph_inputs_are_checked_before_anything_runs() -> None:
    declared = WorkGraph("declared", inputs=namespace(x=int))
    declared.add_task(add, x=declared.inputs.x, y=1)
    with pytest.raises(AttributeError, match="declares no input 'z'"):
        declared.inputs.z  # noqa: B018
    with pytest.raises(TaskInputError, match="expected int, got str 'no'"):
        declared.run(inputs={"x": "no"})
    with pytest.raises(TaskInputError, match="missing required input 'x'"):
        WorkGraph("again", inputs=namespace(x=int)).run()

    dynamic_inputs = WorkGraph("any")  # WorkGraph's default: any input name
    dynamic_inputs.add_task(add, x=dynamic_inputs.inputs.a, y=3)
    with pytest.raises(TaskInputError, match=r"graph input 'a' has no value; pass run\(inputs="):
        dynamic_inputs.run()
    assert dynamic_inputs.state == "PLANNED"


def test_add_input_spec_declares_a_graph_input_tasks_can_take() -> None:
    wg = WorkGraph("added", inputs=namespace(x=int))
    z = wg.add_input_spec("workgraph.int", name="z")
    wg.add_task(add, name="add1", x=wg.inputs.x, y=z)
    wg.add_output_spec(int, name="sum")
    wg.outputs.sum = wg.tasks.add1.outputs.result
    with pytest.raises(TaskInputError, match="input 'z': expected int, got str"):
        wg.run(inputs={"x": 1, "z": "5"})
    wg.run(inputs={"x": 1, "z": 5})
    assert wg.outputs.sum.value == 6
    run = get_current_profile().store.load_node(wg.pk)
    assert {label for kind, label, _ in run.inputs if kind == "INPUT_WORK"} == {"x", "z"}

    open_graph = WorkGraph("open")  # declared nothing: any name, plus the added one, checked
    open_graph.add_input_spec("workgraph.any", name="z")
    open_graph.add_task(add, x=open_graph.inputs.z, y=open_graph.inputs.w)
    with pytest.raises(TaskInputError, match="missing required input 'z'"):
        open_graph.run(inputs={"w": 1})
    open_graph.run(inputs={"w": 1, "z": 2})
    assert open_graph.tasks.add.outputs.result.value == 3


def test_add_input_spec_refuses_what_it_cannot_honour() -> None:
    wg = WorkGraph("bad", inputs=namespace(x=int))
    with pytest.raises(ValueError, match="already has an input 'x'"):
        wg.add_input_spec(int, name="x")
    with pytest.raises(ValueError, match=r"unknown socket identifier 'workgraph\.integer'"):
        wg.add_input_spec("workgraph.integer", name="y")
    with pytest.raises(ValueError, match=r"'a\.b' contains '\.'"):
        wg.add_input_spec(int, name="a.b")

    @task.graph
    def body(x: int) -> int:
        return add(x=x, y=1).result

    with pytest.raises(FerroflowError, match="are its function's"):
        body.build(x=1).add_input_spec(int, name="y")


def test_graph_inputs_and_outputs_set_by_attribute_and_nested() -> None:
    wg = WorkGraph(
        "nested_io",
        inputs=namespace(add=namespace(x=int, y=int), factor=int),
        outputs=namespace(sums=namespace(first=int), product=int),
    )
    wg.inputs.factor = 5  # a value for the run, replaceable by run(inputs=)
    first = wg.add_task(add, x=wg.inputs.add.x, y=wg.inputs.add.y)
    product = wg.add_task(multiply, x=first.outputs.result, y=wg.inputs.factor)
    wg.outputs.sums = {"first": first.outputs.result}
    wg.outputs.product = product.outputs.result
    with pytest.raises(AttributeError, match="input 'add' has no input 'z'; it has: x, y"):
        wg.inputs.add.z  # noqa: B018
    wg.run(inputs={"add": {"x": 1, "y": 2}})
    assert wg.outputs.sums.first.value == 3 and wg.outputs.product.value == 15
    given = get_current_profile().store.load_node(wg.pk).inputs
    assert sorted(label for kind, label, _ in given if kind == "INPUT_WORK") == [
        "add__x",
        "add__y",
        "factor",
    ]


def test_the_context_holds_values_and_sockets() -> None:
    wg = WorkGraph("context_example")
    wg.ctx = {"x": 2, "data.y": 3}
    wg.add_task(add, "add1", x=wg.ctx.x, y=wg.ctx.data.y)
    wg.ctx.sum = wg.tasks.add1.outputs.result
    wg.add_task(add, "add2", x=wg.ctx.x, y=wg.ctx.sum)
    wg.update_ctx({"data.sum2": wg.tasks.add2.outputs.result})
    wg.outputs.result = wg.ctx.data.sum2
    with pytest.raises(AttributeError, match="has no entry 'nope' yet"):
        wg.ctx.nope  # noqa: B018
    wg.run()
    assert wg.outputs.result.value == 2 + (2 + 3)
    # a value in the context is one data node, whoever reads it
    assert wg.tasks.add1.inputs.x.value.pk == wg.tasks.add2.inputs.x.value.pk
    # reading a socket from the context links the reader to its writer
    assert [p.name for p in wg.tasks.add2.node.producers] == ["add1"]


def test_get_context_and_set_context_tasks_read_and_write_the_context() -> None:
    # WorkGraph's node-graph spelling of wg.ctx (its "context" page): nothing stored for them
    wg = WorkGraph("context_gui_demo")
    wg.ctx = {"x": 2, "multiplier": 10}
    get_x = wg.add_task("workgraph.get_context", name="get_x", key="x")
    get_m = wg.add_task("workgraph.get_context", name="get_m", key="multiplier")
    add1 = wg.add_task(add, "add1", x=get_x.outputs.result, y=get_m.outputs.result)
    wg.add_task("workgraph.set_context", name="keep", key="final.sum", value=add1.outputs.result)
    again = wg.add_task("workgraph.get_context", key="final.sum")
    wg.add_task(multiply, "double", x=again.outputs["result"], y=2)
    unread = wg.add_task("workgraph.get_context", key="nope")  # WorkGraph reads at run time
    with pytest.raises(FerroflowError, match="has no entry 'nope' yet"):
        unread.outputs.result  # noqa: B018
    with pytest.raises(TypeError, match=r"unexpected input.*value"):
        wg.add_task("workgraph.get_context", key="x", value=3)
    with pytest.raises(TypeError, match="value= is missing"):
        wg.add_task("workgraph.set_context", key="y")
    with pytest.raises(TypeError, match="conditions= is missing"):
        wg.add_task("workgraph.if_zone")  # refused before anything is added
    wg.run()
    assert wg.tasks.add1.outputs.result.value == 12
    assert wg.tasks.double.outputs.result.value == 24
    assert list(wg.tasks.keys()) == ["add1", "double"]  # the context tasks store nothing
    assert wg.tasks.add1.inputs.x.value.pk == wg.ctx.x.pk  # the context's own data node
    assert _links(wg.pk) == Counter({"INPUT_CALC": 4, "CREATE": 2, "CALL_CALC": 2})


def _add_multiply() -> WorkGraph:
    with WorkGraph("inner", inputs=namespace(x=int, y=int, z=int)) as inner:
        the_sum = add(x=inner.inputs.x, y=inner.inputs.y).result
        inner.outputs.result = multiply(x=the_sum, y=inner.inputs.z).result
    return inner


def test_a_workgraph_is_a_task_of_another() -> None:
    with WorkGraph("outer", inputs=namespace(x=int)) as wg:
        seed = add(x=wg.inputs.x, y=1).result
        inner = _add_multiply()
        first = inner(inputs={"x": seed, "y": 2, "z": 3}).result
        second = wg.add_task(inner, name="again", x=first, y=0, z=10)
        wg.outputs.result = second.outputs.result
    wg.run(inputs={"x": 1})
    assert first.value == (1 + 1 + 2) * 3
    assert wg.outputs.result.value == (12 + 0) * 10
    store = get_current_profile().store
    run = store.load_node(wg.pk)
    called = {node.label: node for node in run.called}
    assert set(called) == {"add", "inner", "again"}
    assert called["inner"].kind == "work" and called["again"].kind == "work"
    assert sorted(n.label for n in called["again"].called) == ["add", "multiply"]
    assert [p.path for p in wg.tasks.again.tasks] == ["outer/again/add", "outer/again/multiply"]


def test_an_inner_graph_input_that_is_not_given_fails_its_task() -> None:
    with WorkGraph("outer_missing") as wg:
        _add_multiply()(inputs={"x": 1, "y": 2})
    with pytest.raises(WorkflowFailedError, match="graph input 'z' of 'inner' was not given"):
        wg.run()


@task.graph
def add_then(x: int, y: int) -> Any:
    return add(x=x, y=y).result


def test_a_finished_graph_is_continued_with_new_tasks() -> None:
    wg = add_then.build(1, 2)
    wg.run()
    with WorkGraph.load(wg.pk) as again:
        more = multiply(x=again.tasks.add.outputs.result, y=10)
    again.run()
    assert again.cached_tasks == ["add_then/add"]  # the finished task is reused, not rerun
    assert more.result.value == 30
    assert again.pk != wg.pk

"""``@task.calcfunction`` as WorkGraph documents it (F9): the body receives data nodes
(``x.value``; ``Int + Int`` is a node), returns nodes, plain values or a dict of them, its
outputs default to ``result``, and it is recorded as a calculation; a plain ``@task`` fed the
same node sees the plain value."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from ferroflow import DataNode, TaskInputError, WorkGraph, get_current_profile, namespace, orm, task
from ferroflow.query import find_nodes


@task.calcfunction
def add(x, y):  # type: ignore[no-untyped-def]
    return x + y


@task.calcfunction(outputs=namespace(sum=int, product=int))
def add_multiply(x, y):  # type: ignore[no-untyped-def]
    return {"sum": orm.Int(x + y), "product": orm.Int(x * y)}


@task.calcfunction()
def add_typed(x: orm.Int, y: orm.Float) -> orm.Float:  # type: ignore[valid-type]
    return orm.Float(x.value + y.value)


@task.calcfunction
def describe(x, y):  # type: ignore[no-untyped-def]
    total = x + y
    return f"{type(x).__name__}:{x.value} {type(total).__name__}:{total.value} {x < y}"


@task
def what_a_task_sees(x: Any) -> str:
    return type(x).__name__


def test_the_body_receives_data_nodes_and_returns_values() -> None:
    with WorkGraph("calcfunctions") as wg:
        summed = add(x=1, y=2)
        both = add_multiply(x=summed.result, y=3)
        typed = add_typed(x=orm.Int(3), y=orm.Int(4))
        seen = describe(x=2, y=5)
        plain = what_a_task_sees(x=orm.Int(3))
    wg.run()
    assert summed.result.value == 3 and type(summed.result.value.value) is int
    assert (both.sum.value, both.product.value) == (6, 9)
    assert typed.result.value.value == 7.0 and type(typed.result.value.value) is float
    assert seen.result.value == "NodeArg:2 NodeArg:7 True"
    assert plain.result.value == "int"  # a @task gets the plain value, as in WorkGraph
    store = get_current_profile().store
    for node in (summed.result.value, both.sum.value, typed.result.value):
        assert type(store.load_node(node.pk).value) is type(node.value)


def test_a_calcfunction_is_stored_as_a_calculation() -> None:
    wg = WorkGraph("stored")
    first = wg.add_task(add, x=1, y=2)
    wg.add_task(add_multiply, x=first.outputs.result, y=3)
    wg.run()
    assert wg.tasks.add_multiply.outputs.product.value == 9
    nodes = find_nodes(run=wg.pk)
    # as WorkGraph stores it: two calculations called by the graph run; x, y, their sum, 3,
    # and the two results
    assert Counter(n.kind for n in nodes) == Counter({"data": 6, "calc": 2, "work": 1})
    calc = next(n for n in nodes if n.label == "add_multiply")
    assert calc.process_type.endswith("add_multiply")
    assert sorted((t, label) for t, label, _ in calc.outputs) == [
        ("CREATE", "product"),
        ("CREATE", "sum"),
    ]
    assert sorted(label for t, label, _ in calc.inputs if t == "INPUT_CALC") == ["x", "y"]


def test_context_page_update_ctx_with_a_calcfunction() -> None:
    wg = WorkGraph(name="context_2")
    add1 = wg.add_task(add, "add1", x=2, y=3)
    wg.update_ctx({"sum": add1.outputs.result})
    wg.run()
    assert wg.tasks.add1.outputs.result.value == 5


@task.calcfunction
def total(**data):  # type: ignore[no-untyped-def]
    return sum((node for node in data.values()), start=orm.Int(0))


@task.calcfunction
def keys_of(values: dict[str, Any]) -> str:
    return type(values).__name__


def test_namespace_and_dict_inputs() -> None:
    @task.graph
    def sums() -> Any:
        return total(data={"a": 1, "b": 2, "c": 3}).result

    wg = sums.build()
    wg.run()
    assert wg.outputs.result.value == 6

    with WorkGraph("dict_value") as wg2:
        got = keys_of(values={"a": 1})
    wg2.run()
    assert got.result.value == "NodeArg"  # a dict value is one node (AiiDA's Dict)


def test_retries_and_handlers_call_the_body_with_nodes(tmp_path: Path) -> None:
    marks = tmp_path / "attempts"

    @task.calcfunction(retries=1)
    def flaky(x: int) -> Any:
        with marks.open("a") as log:
            log.write(type(x).__name__ + "\n")
        if len(marks.read_text().split()) < 2:
            raise ConnectionError("first attempt")
        return x * 2

    with WorkGraph("retried") as wg:
        doubled = flaky(x=21)
    wg.run()
    assert doubled.result.value == 42
    assert marks.read_text().split() == ["NodeArg", "NodeArg"]


def test_options_are_checked() -> None:
    with pytest.raises(TypeError, match=r"@task.calcfunction\(\) got an unexpected keyword"):
        task.calcfunction(max_depth=3)  # type: ignore[call-overload]

    @task.calcfunction(inputs=namespace(x=int), catalog="Math")
    def double(x):  # type: ignore[no-untyped-def]
        return x * 2

    assert double.catalog == "Math"

    @task.graph
    def mistyped() -> Any:
        return double(x="two").result

    with pytest.raises(TaskInputError, match="input 'x': expected int"):
        mistyped.build()
    with pytest.raises(TypeError, match="inputs declares 'z', which is no parameter"):
        task.calcfunction(inputs=namespace(z=int))(lambda x: x)
    with pytest.raises(ValueError, match="'metadata' is reserved"):
        task.calcfunction(lambda metadata: metadata)


def test_returned_nodes_inside_containers_are_stored_as_values() -> None:
    @task.calcfunction
    def pair(x):  # type: ignore[no-untyped-def]
        return [x, orm.Int(2), (x + 1, {"k": x})]

    with WorkGraph("containers") as wg:
        got = pair(x=1)
    wg.run()
    value = got.result.value.value
    assert value == [1, 2, (2, {"k": 1})]
    assert not any(isinstance(item, DataNode) for item in value)

"""Smaller WorkGraph spellings its users' scripts rely on: ``group`` (F7), ``outputs=[...]`` and
a bare ``-> namespace(...)`` (F11), ``f(data=ns)`` for ``def f(**data)`` (F12),
``get_process_summary`` (F16) and ``ferroflow.tasks.tests`` (F21)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from ferroflow import (
    FutureUsageError,
    TaskOutputError,
    WorkflowFailedError,
    WorkGraph,
    dynamic,
    group,
    namespace,
    task,
)
from ferroflow.collection import group as group_again
from ferroflow.orm import Bool, Dict, Float, Int, List, Str, load_node
from ferroflow.tasks.tests import add, multiply
from ferroflow.utils import get_process_summary
from ferroflow.utils.logging import set_aiida_loglevel

ORDER: list[str] = []


@task
def mark(tag: str) -> str:
    ORDER.append(tag)
    return tag


@task(outputs=["sum", "difference"])
def sum_diff(x: int, y: int) -> Any:
    return x + y, x - y


@task
def bare(x: int) -> namespace(sum=int, nested=namespace(diff=int)):  # type: ignore[valid-type]
    return {"sum": x + 1, "nested": {"diff": x - 1}}


@task(outputs=dynamic(int))
def gen(n: int) -> dict[str, int]:
    return {f"n_{i}": i for i in range(n)}


@task
def sum_all(**data: int) -> int:
    return sum(data.values())


def test_group_orders_tasks_together_and_returns_the_right_operand() -> None:
    ORDER.clear()

    @task.graph
    def g() -> Any:
        first, second = mark(tag="a"), mark(tag="b")
        last = mark(tag="c")
        assert (group(first, second) >> last) is last
        after = mark(tag="d")
        assert (after << group(last)) == group(last)  # << returns its right operand too
        return after.result

    wg = g.build()
    assert group is group_again
    wg.run(max_workers=1)
    assert ORDER[2:] == ["c", "d"] and sorted(ORDER[:2]) == ["a", "b"]
    assert [p.name for p in wg.tasks.mark2.node.producers] == ["mark", "mark1"]


def test_group_fans_out_and_works_with_task_views() -> None:
    wg = WorkGraph("fan")
    first = wg.add_task(mark, tag="a")
    later = [wg.add_task(mark, tag=t) for t in "bc"]
    first >> group(*later)
    assert all([p.name for p in t.node.producers] == ["mark"] for t in later)
    with pytest.raises(FutureUsageError, match=r"group\(\) takes task outputs"):
        group(3)


def test_outputs_as_a_list_of_names() -> None:
    @task.graph
    def g() -> Any:
        return sum_diff(x=5, y=3).difference

    wg = g.build()
    wg.run()
    assert wg.outputs.result.value == 2
    assert wg.tasks.sum_diff.outputs.sum.value == 8
    with pytest.raises(TypeError, match="outputs must be a namespace"):
        task(outputs="sum")(lambda: 1)
    with pytest.raises(ValueError, match="names a socket twice"):
        task(outputs=["a", "a"])(lambda: 1)


def test_a_tuple_of_the_wrong_length_fails_the_task() -> None:
    @task(outputs=["a", "b"])
    def three() -> Any:
        return 1, 2, 3

    @task.graph
    def g() -> Any:
        return three().a

    with pytest.raises(WorkflowFailedError) as info:
        g.build().run()
    assert isinstance(info.value.failed["g/three"], TaskOutputError)
    assert "tuple of 3 values for 2 declared outputs (a, b)" in str(info.value)


def test_a_bare_namespace_return_annotation_declares_the_outputs() -> None:
    @task.graph
    def g() -> Any:
        return bare(x=10).nested.diff

    wg = g.build()
    wg.run()
    assert wg.outputs.result.value == 9
    assert wg.tasks.bare.outputs.sum.value == 11


def test_a_namespace_fed_to_its_kwargs_is_spread_into_the_call() -> None:
    @task.graph
    def linked(n: int) -> Any:
        return sum_all(data=gen(n=n)).result

    @task.graph
    def literal() -> Any:
        return sum_all(data={"a": 1, "b": 2}).result

    wg = linked.build(4)
    wg.run()
    assert wg.outputs.result.value == 0 + 1 + 2 + 3  # called as sum_all(**{'n_0': 0, ...})
    assert sorted(wg.tasks.sum_all.inputs.data.value) == ["n_0", "n_1", "n_2", "n_3"]
    other = literal.build()
    other.run()
    assert other.outputs.result.value == 3


def test_get_process_summary_lists_nested_outputs_and_inputs() -> None:
    @task.graph
    def g() -> Any:
        return bare(x=10).sum

    wg = g.build()
    wg.run()
    pk = wg.tasks.bare.pk
    assert pk is not None
    out = wg.tasks.bare.outputs
    sum_pk, diff_pk = out.sum.value.pk, out.nested.diff.value.pk
    x_pk = wg.tasks.bare.inputs.x.value.pk
    # AiiDA's format_nested_links layout, as WorkGraph 0.9 prints it: namespaces first, members
    # indented, a rule two wider than each heading, a blank line before each table
    assert get_process_summary(pk) == (
        "\n\nOutputs    PK    Type\n"
        "---------  ----  ------\n"
        "nested\n"
        f"    diff   {diff_pk:<4}  Int\n"
        f"sum        {sum_pk:<4}  Int"
    )
    both = get_process_summary(pk, data=["inputs", "outputs"])
    assert both.startswith(
        f"\n\nInputs      PK  Type\n--------  ----  ------\nx         {x_pk:>4}  Int\n\n"
    )
    assert both.endswith(get_process_summary(pk))
    with pytest.raises(ValueError, match="takes 'inputs' and 'outputs'"):
        get_process_summary(pk, data=["links"])


def test_the_documentation_tasks_are_importable() -> None:
    wg = WorkGraph("doc")
    first = wg.add_task(add, x=2, y=3)
    wg.add_task(multiply, x=first.outputs.result, y=4)
    wg.run()
    assert wg.tasks.multiply.outputs.result.value == 20
    assert add.process_type == "ferroflow.tasks.tests.add"


def test_aiida_data_types_are_data_nodes_a_task_sees_as_values() -> None:
    seen: list[Any] = []

    @task
    def record(x: Any, d: Any, items: Any) -> int:
        seen.extend([type(x), type(d), type(items)])
        return int(x + d["a"] + sum(items))

    wg = WorkGraph("orm")
    wg.ctx = {"x": Int(2)}
    wg.add_task(record, x=wg.ctx.x, d=Dict({"a": 3}), items=List([1, 2]))
    wg.run()
    assert seen == [int, dict, list]
    assert wg.tasks.record.outputs.result.value == 8
    assert Int(2) + 1 == 3 and Float("1.5") == 1.5 and Str(7) == "7" and Bool(1) is not None
    assert Dict(a=1).get_dict() == {"a": 1} and List((1, 2)).get_list() == [1, 2]
    with pytest.raises(TypeError, match="get_dict"):
        Int(1).get_dict()
    stored = load_node(wg.tasks.record.outputs.result.value.pk)
    assert stored.value == 8


def test_set_aiida_loglevel_knows_aiidas_report_level() -> None:
    set_aiida_loglevel("REPORT")
    assert logging.getLogger("ferroflow").level == 23
    set_aiida_loglevel(logging.WARNING)
    assert logging.getLogger("ferroflow").level == logging.WARNING
    logging.getLogger("ferroflow").setLevel(logging.NOTSET)

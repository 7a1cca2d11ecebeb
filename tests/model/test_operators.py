"""Arithmetic and comparisons on futures add operator tasks, as in WorkGraph
(``s * 10`` → an ``op_mul`` task): values as Python computes them, WorkGraph's task names,
a namespace or a truth test still refused. The stored provenance is compared with WorkGraph's
in ``tests/api/test_workgraph_provenance.py`` (case ``operators``)."""

from __future__ import annotations

import operator
from typing import Any

import pytest
from ferroflow import FutureUsageError, WorkGraph, dynamic, namespace, task
from hypothesis import given, settings
from hypothesis import strategies as st


@task
def ident(x: Any) -> Any:
    return x


@task(outputs=dynamic(int))
def spread(n: int) -> dict[str, int]:
    return {f"k{i}": i for i in range(n)}


ARITHMETIC = ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow"]
COMPARISONS = ["lt", "le", "gt", "ge", "eq", "ne"]


@settings(max_examples=30, deadline=None)
@given(
    st.integers(min_value=-20, max_value=20).filter(bool),  # also a divisor (reflected)
    st.integers(min_value=1, max_value=6),
    st.sampled_from(ARITHMETIC + COMPARISONS),
)
def test_each_operator_computes_what_python_computes(a: int, b: int, name: str) -> None:
    op = getattr(operator, name)
    with WorkGraph("ops") as wg:
        left = ident(x=a).result
        wg.outputs.direct = op(left, b)  # socket OP value
        wg.outputs.both = op(left, ident(x=b).result)  # socket OP socket
        if name in ARITHMETIC:
            wg.outputs.reflected = op(b, left)  # value OP socket: __r<op>__
    wg.run()
    assert wg.outputs.direct.value.value == op(a, b)
    assert wg.outputs.both.value.value == op(a, b)
    if name in ARITHMETIC:
        assert wg.outputs.reflected.value.value == op(b, a)


def test_operator_tasks_are_named_as_workgraph_names_them_and_take_x_and_y() -> None:
    with WorkGraph("names") as wg:
        s = ident(x=3).result
        wg.outputs.a = s * 10
        wg.outputs.b = s * 2
        wg.outputs.c = 1 - s
    wg.run()
    assert list(wg.tasks.keys()) == ["ident", "op_mul", "op_mul1", "op_sub"]
    sub = wg.tasks.op_sub
    assert sub.inputs.x.value.value == 1 and sub.inputs.y.value.value == 3


def test_operators_in_a_graph_body_and_on_graph_inputs() -> None:
    @task.graph
    def body(n: int) -> Any:
        return ident(x=n).result ** 2 + 1

    wg = body.build(n=4)
    wg.run()
    assert wg.outputs.result.value == 17

    explicit = WorkGraph("inputs", inputs=namespace(x=int))
    explicit.outputs.double = explicit.inputs.x * 2
    explicit.outputs.is_big = explicit.inputs.x > 10
    explicit.run(inputs={"x": 21})
    assert explicit.outputs.double.value.value == 42
    assert explicit.outputs.is_big.value.value is True


def test_a_truth_test_or_a_whole_namespace_is_still_refused() -> None:
    with WorkGraph("refused") as wg:
        s = ident(x=1).result
        with pytest.raises(FutureUsageError, match="truth testing"):
            bool(s < 3)
        with pytest.raises(FutureUsageError, match=r"operator \+ \(on a namespace of outputs\)"):
            spread(n=2) + 1
        with pytest.raises(FutureUsageError, match="operator &"):
            s & s
        assert {s: "still a key"}[s] == "still a key"  # sockets keep identity hashing
    assert list(wg.tasks.keys()) == ["ident", "op_lt", "spread"]  # no task for refused ones


def test_a_failing_operator_fails_its_task_and_skips_what_uses_it() -> None:
    with WorkGraph("fails") as wg:
        zero = ident(x=0).result
        quotient = 1 / zero
        wg.outputs.after = ident(x=quotient).result
    wg.run(raise_on_error=False)
    assert wg.tasks.op_truediv.state == "FAILED"
    assert "ZeroDivisionError" in repr(wg.tasks.op_truediv.node.error)
    assert wg.tasks.ident1.state == "SKIPPED"


def test_operators_run_on_dask(client: Any) -> None:
    with WorkGraph("dask_ops") as wg:
        wg.outputs.result = (ident(x=6).result + 1) * 3
    wg.run(executor=client)
    assert wg.outputs.result.value.value == 21


def test_a_loaded_graph_finds_its_operator_tasks_again() -> None:
    with WorkGraph("reload_ops") as wg:
        wg.outputs.result = ident(x=2).result + 40
    wg.run()
    again = WorkGraph.load(wg.pk)
    again.run()
    assert again.outputs.result.value.value == 42
    assert sorted(again.cached_tasks) == ["reload_ops/ident", "reload_ops/op_add"]

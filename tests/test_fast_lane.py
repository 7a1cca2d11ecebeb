"""The core's fast lane (rust/py/src/fast.rs) against the general Python runner.

Tasks with one output, no ``**kwargs`` and inputs that are constants or other fast tasks'
outputs run in Rust; everything else in Python. Both lanes must give the same results, the
same failures and the same stored provenance.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from ferroflow import (
    DataNode,
    GraphContextError,
    WorkflowFailedError,
    get_current_profile,
    namespace,
    task,
)
from ferroflow.workgraph import WorkGraph
from lane_flows import add, as_dict, as_node, calls_a_task, fails_on_three, inc, split
from provenance_flows import run_provenance


@task.graph
def nested(x: int) -> Any:
    return inc(x=inc(x=x).result).result


@task.graph
def mixed(n: int) -> Any:
    total = inc(x=0).result
    for i in range(n):
        a = inc(x=i).result
        b = as_dict(x=a).result
        c = as_node(x=b).result
        parts = split(x=c)  # two outputs: general lane
        d = add(x=parts.lo, y=parts.hi).result  # inputs from a general-lane task
        e = nested(x=d).result  # a graph task consuming a fast output
        total = add(x=total, y=e).result
    return total


@task.graph
def with_failure(n: int) -> Any:
    outs = [fails_on_three(x=i).result for i in range(n)]
    return {"after": inc(x=outs[3]).result, "fine": inc(x=outs[0]).result}


def _run(monkeypatch: pytest.MonkeyPatch, fast: bool, wg_factory: Any) -> WorkGraph:
    monkeypatch.setenv("FERROFLOW_FAST_LANE", "1" if fast else "0")
    wg = wg_factory()
    wg.run(raise_on_error=False)
    return wg


def test_fast_lane_is_used_for_eligible_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    wg = _run(monkeypatch, True, lambda: mixed.build(2))
    lanes = {t.path: t.fast_box is not None for t in wg.all_tasks()}
    assert lanes["mixed/inc"] and lanes["mixed/as_dict"] and lanes["mixed/as_node"]
    assert not lanes["mixed/split"] and not lanes["mixed/nested"]
    assert not lanes["mixed/add"], "inputs from a general-lane task take the general lane"
    off = _run(monkeypatch, False, lambda: mixed.build(2))
    assert not any(t.fast_box is not None for t in off.all_tasks())


def test_both_lanes_give_the_same_results_andrun_provenance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = _run(monkeypatch, True, lambda: mixed.build(3))
    slow = _run(monkeypatch, False, lambda: mixed.build(3))
    assert fast.state == slow.state == "FINISHED"
    assert fast.outputs.result.value == slow.outputs.result.value
    by_path = {t.path: t for t in slow.all_tasks()}
    for t in fast.all_tasks():
        other = by_path[t.path]
        assert t.state == other.state == "FINISHED", t.path
        assert {k: v.value for k, v in (t.outputs or {}).items() if isinstance(v, DataNode)} == {
            k: v.value for k, v in (other.outputs or {}).items() if isinstance(v, DataNode)
        }, t.path
        assert t.ctime is not None and t.mtime is not None and t.ctime <= t.mtime
        assert uuid.UUID(t.uuid).version == 7
    assert fast.pk is not None and slow.pk is not None
    assert run_provenance(fast.pk) == run_provenance(slow.pk)


def test_a_fast_output_is_one_node_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    wg = _run(monkeypatch, True, lambda: mixed.build(1))
    tasks = {t.path: t for t in wg.all_tasks()}
    made = tasks["mixed/as_node"].outputs["result"]
    assert made is tasks["mixed/as_node"].outputs["result"], "materialised once"
    assert made.value == 1000 and made.pk is not None
    stored = get_current_profile().store.load_node(made.pk)
    assert stored.uuid == made.uuid and stored.value == 1000
    assert stored.creator is not None and stored.creator.pk == tasks["mixed/as_node"].pk
    # the general-lane consumer linked the very same node as its input
    split_inputs = {
        label: node.pk
        for label, link, node in stored_inputs(tasks["mixed/split"].pk)
        if link == "INPUT_CALC"
    }
    assert split_inputs == {"x": made.pk}


def stored_inputs(pk: int | None) -> Iterator[tuple[str, str, Any]]:
    assert pk is not None
    node = get_current_profile().store.load_node(pk)
    for link_type, label, other in node.inputs:
        yield label, link_type, other


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "general"])
def test_failure_in_either_lane(monkeypatch: pytest.MonkeyPatch, fast: bool) -> None:
    monkeypatch.setenv("FERROFLOW_FAST_LANE", "1" if fast else "0")
    wg = with_failure.build(5)
    with pytest.raises(WorkflowFailedError, match=r"fails_on_three3: ValueError: three is bad"):
        wg.run()
    tasks = {t.name: t for t in wg.all_tasks()}
    assert tasks["fails_on_three3"].state == "FAILED"
    assert isinstance(tasks["fails_on_three3"].error, ValueError)
    assert tasks["inc"].state == "SKIPPED", "the failed task's consumer is skipped"
    assert tasks["inc1"].state == "FINISHED" and tasks["inc1"].outputs["result"].value == 1
    failed = get_current_profile().store.load_node(tasks["fails_on_three3"].pk)
    assert failed.state == "FAILED" and "three is bad" in (failed.error or "")
    inputs = [(label, t, n.value) for t, label, n in failed.inputs if t == "INPUT_CALC"]
    assert inputs == [("x", "INPUT_CALC", 3)]
    assert failed.caller is not None and failed.caller.pk == wg.pk
    assert failed.outputs == []


def test_calling_a_task_inside_a_fast_task_body_is_refused() -> None:
    @task.graph
    def g() -> Any:
        return calls_a_task(x=1).result

    wg = g.build()
    with pytest.raises(WorkflowFailedError) as info:
        wg.run()
    (error,) = info.value.failed.values()
    assert isinstance(error, GraphContextError)
    assert re.search(r"inside the body of a running task", str(error))


def test_wrong_output_shape_fails_like_the_general_lane(monkeypatch: pytest.MonkeyPatch) -> None:
    @task
    def two(x: int) -> Annotated[dict, namespace(a=int, b=int)]:
        return {"a": x}  # missing 'b'

    @task.graph
    def g() -> Any:
        return two(x=1).a

    messages = []
    for fast in (True, False):
        monkeypatch.setenv("FERROFLOW_FAST_LANE", "1" if fast else "0")
        with pytest.raises(WorkflowFailedError) as info:
            g.build().run()
        messages.append(str(info.value))
    assert messages[0] == messages[1] and "missing required output(s) b" in messages[0]


class _Unpicklable:
    """Instances of a class defined in a function body cannot be pickled; this one refuses."""

    def __reduce__(self) -> Any:
        raise TypeError("this object refuses to be pickled")

    def __repr__(self) -> str:
        return "<unpicklable>"


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "general"])
def test_unserialisable_value_names_task_and_socket(
    monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    from ferroflow import ValueNotStoredError

    @task
    def make(x: int) -> Any:
        return _Unpicklable()

    @task.graph
    def g() -> Any:
        inc(x=1)
        return make(x=2).result

    monkeypatch.setenv("FERROFLOW_FAST_LANE", "1" if fast else "0")
    wg = g.build()
    with pytest.raises(ValueNotStoredError, match=r"task 'g/make', output 'result'") as info:
        wg.run()
    assert "refuses to be pickled" in str(info.value)
    assert list(info.value.values) == ["task 'g/make', output 'result'"]
    # the run completed and everything else is stored
    assert wg.state == "FINISHED"
    tasks = {t.name: t for t in wg.all_tasks()}
    stored = get_current_profile().store.load_node(tasks["inc"].outputs["result"].pk)
    assert stored.value == 2
    kept = get_current_profile().store.load_node(tasks["make"].outputs["result"].pk)
    assert kept.codec == "unserialisable" and kept.value.repr == "<unpicklable>"
    # raise_on_error=False: no exception, the explanation is on the execution
    wg2 = g.build()
    wg2.run(raise_on_error=False)
    assert wg2._execution is not None and list(wg2._execution.unstored) == [
        "task 'g/make', output 'result'"
    ]


def test_an_output_of_another_graph_is_refused_naming_both_tasks() -> None:
    from ferroflow import FerroflowError

    captured: dict[str, Any] = {}

    @task.graph
    def first() -> Any:
        captured["socket"] = inc(x=1).result
        return captured["socket"]

    @task.graph
    def second() -> Any:
        return add(x=captured["socket"], y=1).result

    first.build()  # built, never run: its task has no id in any run
    wg = second.build()
    with pytest.raises(
        FerroflowError,
        match=r"task 'second/add' uses an output of 'first/inc', "
        r"which is not part of this run",
    ):
        wg.run()

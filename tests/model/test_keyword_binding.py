"""The keyword-call fast path of task binding (``model/binding.py``, ``bind_keywords``) binds
exactly as the general path does: same bindings, producers, errors and task names.

Every task call in a graph body that passes its inputs by keyword takes that path; these cases
are the ones where it must hand a value to the general rules (a dict of sockets, a data node of
the wrong type, a subclass of the declared class) or word an error naming the right task.
"""

from __future__ import annotations

from typing import Any

import pytest
from ferroflow import TaskInputError, load_node, task
from ferroflow.model.data import DataNode
from ferroflow.model.graph import Graph, graph_context
from ferroflow.model.sockets import FutureSocket


@task
def ints(x: int, y: int = 0) -> int:
    return x + y


@task
def anything(x: Any) -> Any:
    return x


@task
def gather(data: dict[str, Any]) -> int:
    return sum(data.values())


def test_a_wrong_constant_names_the_task_the_call_would_add() -> None:
    graph = Graph("G")
    with graph_context(graph), pytest.raises(TaskInputError) as err:
        ints(x=1, y=2)
        ints(x=1, y=2)
        ints(x=1, y="two")
    assert "task 'G/ints2', input 'y'" in str(err.value)
    assert [t.name for t in graph.tasks] == ["ints", "ints1"]  # the refused call added none


def test_a_data_node_of_the_wrong_type_is_refused() -> None:
    graph = Graph("G")
    with graph_context(graph), pytest.raises(TaskInputError, match="input 'x'"):
        ints(x=DataNode("1"), y=0)


def test_values_of_a_subclass_and_plain_values_are_bound_as_data_nodes() -> None:
    graph = Graph("G")
    node = DataNode(5)
    with graph_context(graph):
        ints(x=True, y=node)  # bool fits int; a node of the right type stays that node
    inputs = graph.tasks[0].inputs
    assert type(inputs["x"]) is DataNode and inputs["x"].value is True
    assert inputs["y"] is node
    assert graph.tasks[0].producers == []


def test_a_missing_keyword_takes_the_defaults_of_the_general_path() -> None:
    graph = Graph("G")
    with graph_context(graph):
        ints(x=1)
    assert graph.tasks[0].inputs["y"].value == 0


def test_a_dict_of_sockets_is_bound_item_by_item_and_gives_producers() -> None:
    graph = Graph("G")
    with graph_context(graph):
        a = ints(x=1, y=1).result
        b = ints(x=2, y=2).result
        anything(x={"a": a, "b": b, "c": 3})
        gather(data={"a": a, "b": a})
    bindings = graph.tasks[2].inputs["x"]
    assert isinstance(bindings["a"], FutureSocket) and bindings["c"].value == 3
    assert graph.tasks[2].producers == graph.tasks[:2]
    assert graph.tasks[3].producers == graph.tasks[:1]


def test_one_producer_used_twice_is_one_producer() -> None:
    graph = Graph("G")
    with graph_context(graph):
        a = ints(x=1, y=1).result
        ints(x=a, y=a)
    assert graph.tasks[1].producers == [graph.tasks[0]]


def test_a_name_taken_by_hand_is_skipped_by_the_numbering() -> None:
    graph = Graph("G")
    with graph_context(graph):
        ints(x=1, y=1, metadata={"call_link_label": "ints1"})
        ints(x=1, y=1)
        ints(x=1, y=1)
    assert [t.name for t in graph.tasks] == ["ints1", "ints", "ints2"]


def test_a_dict_of_sockets_runs_as_one_dict_value() -> None:
    @task.graph
    def flow() -> Any:
        a = ints(x=1, y=1).result
        return gather(data={"a": a, "b": 5}).result

    wg = flow.build()
    wg.run(provenance=False)
    assert wg.outputs.result.value == 7


def test_ordering_one_task_leaves_the_others_without_producers() -> None:
    # tasks that use no output share one empty producer list: ``>>`` must not change it
    graph = Graph("G")
    with graph_context(graph):
        a = ints(x=1, y=1)
        b = ints(x=2, y=2)
        ints(x=3, y=3)
    a >> b
    assert graph.tasks[1].producers == [graph.tasks[0]]
    assert graph.tasks[0].producers == [] and graph.tasks[2].producers == []


def test_a_plain_constant_gets_one_data_node_on_first_use() -> None:
    graph = Graph("G")
    with graph_context(graph):
        ints(x=1, y=2)
    node = graph.tasks[0]
    first = node.inputs["x"]
    assert type(first) is DataNode and first.value == 1
    assert node.inputs["x"] is first  # made once, then kept


@pytest.mark.parametrize("provenance", [False, True])
def test_a_run_reads_plain_constants_and_records_their_nodes(provenance: bool) -> None:
    @task.graph
    def flow() -> Any:
        return ints(x=ints(x=1, y=2).result, y=3).result

    wg = flow.build()
    wg.run(provenance=provenance)
    assert wg.outputs.result.value == 6
    constant = wg.tasks["ints"].node.inputs["y"]
    assert constant.value == 2
    if provenance:  # the node in the task's inputs is the one stored
        assert constant.pk is not None
        assert load_node(constant.pk).value == 2
    else:
        assert constant.pk is None

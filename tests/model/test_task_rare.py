"""The rarely set fields of a task node (``model/task_rare.py``): ``error``, ``cached_from``,
``handlers`` and the run's uuid and times read as plain attributes, ``None`` until set, and a
node gets the record that keeps them only when one is set to something."""

from __future__ import annotations

from typing import Any

from ferroflow import task
from ferroflow.model.graph import Graph, TaskNode, graph_context


@task
def double(x: int) -> int:
    return 2 * x


@task
def broken(x: int) -> int:
    raise ValueError(f"broken on purpose: {x}")


def made(n: int = 3) -> list[TaskNode]:
    graph = Graph("G")
    with graph_context(graph):
        for i in range(n):
            double(x=i)
    return graph.tasks


def test_a_new_node_reads_none_and_keeps_no_record() -> None:
    node = made(1)[0]
    assert (node.error, node.cached_from, node.handlers) == (None, None, None)
    assert (node.uuid, node.ctime, node.mtime) == (None, None, None)
    node.error = None  # setting None to a field never set makes no record either
    node.cached_from = None
    assert node._rare is None
    assert not hasattr(node, "__dict__")  # still a slotted node


def test_each_field_keeps_its_own_value_per_node() -> None:
    first, second, _ = made()
    err = ValueError("x")
    first.error = err
    first.cached_from = 42
    handlers: Any = ("h",)
    second.handlers = handlers
    second.uuid = "0190a2b4-0000-7000-8000-000000000000"
    second.ctime, second.mtime = 1.5, 2.5
    assert first.error is err and first.cached_from == 42 and first.handlers is None
    assert first.uuid is None and first.ctime is None
    assert second.error is None and second.cached_from is None and second.handlers == ("h",)
    assert second.uuid == "0190a2b4-0000-7000-8000-000000000000"
    assert (second.ctime, second.mtime) == (1.5, 2.5)
    first.error = None  # cleared once set: reads None again
    assert first.error is None and first.cached_from == 42


def test_a_run_fills_them_for_the_tasks_that_need_them() -> None:
    @task.graph
    def mixed(n: int) -> None:
        for i in range(n):
            double(x=i)
        broken(x=n)

    wg = mixed.build(3)
    wg.run(raise_on_error=False)
    nodes = {t.name: t for t in wg._graph.tasks}
    failed = nodes["broken"]
    assert isinstance(failed.error, ValueError) and "broken on purpose: 3" in str(failed.error)
    fine = nodes["double1"]
    assert fine.error is None and fine.state == "FINISHED"
    assert fine.uuid is not None and fine.ctime is not None and fine.mtime >= fine.ctime

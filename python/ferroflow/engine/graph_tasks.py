"""Graph tasks at run time: a ``@task.graph`` body runs when its inputs are known, and the task
suspends in the core until the tasks it made are terminal."""

from __future__ import annotations

from typing import Any, Protocol

from ..errors import ChildTasksFailedError, RecursionDepthError
from ..model.body import run_body
from ..model.graph import Graph, TaskNode
from ..model.vocabulary import Link, State
from ..model.zones import inside_zone
from .cycles import refuse_cycles, returned_outer
from .resolve import resolve

__all__ = ["GraphTaskHost", "expand", "finish_graph_task"]


class GraphTaskHost(Protocol):
    """What graph tasks need of the run (:class:`~ferroflow.engine.execution.Execution`)."""

    graph_pks: dict[int, int]
    core: Any
    recorder: Any

    def failed(self, task: TaskNode, exc: BaseException) -> bool: ...
    def succeed(self, task: TaskNode, outputs: dict[str, Any]) -> bool: ...
    def submit_graph(self, graph: Graph) -> list[int]: ...
    def task_state(self, task: TaskNode) -> str: ...


def expand(execution: GraphTaskHost, task: TaskNode, inputs: dict[str, Any]) -> bool | list[int]:
    """Run a graph task's body now that its inputs are known and add the tasks it made to the
    live run; the graph task suspends until they (and any outer task whose outputs the body
    returns) are terminal, then :func:`finish_graph_task` settles it."""
    handle = task.handle
    max_depth = getattr(handle, "max_depth", 100)
    if task.depth + 1 > max_depth:
        return execution.failed(
            task,
            RecursionDepthError(
                f"graph task '{task.path}' would nest {task.depth + 1} graphs deep, past its "
                f"max_depth={max_depth}. Raise @task.graph(max_depth=...) or check the "
                f"recursion's stopping condition."
            ),
        )
    child = Graph(task.name, parent=task)
    child.max_number_jobs = getattr(handle, "max_number_jobs", None)
    child.inputs = inputs
    assert task.pk is not None
    execution.graph_pks[id(child)] = task.pk
    try:
        run_body(handle, child)  # type: ignore[arg-type]
        refuse_cycles(task, child, execution.core.state)
        task.child = child
        ids = execution.submit_graph(child)
    except BaseException as exc:
        task.child = None
        return execution.failed(task, exc)
    # A body may return outputs of tasks outside its expansion (futures it closed over):
    # the graph task finishes only once those are terminal too.
    ids.extend(t.id for t in returned_outer(child) if t.id is not None)
    if not ids:
        return finish_graph_task(execution, task)
    return ids


def finish_graph_task(execution: GraphTaskHost, task: TaskNode) -> bool:
    """A graph task's children are terminal: FINISHED with its body's outputs, or FAILED
    naming the children that did not finish."""
    child = task.child
    assert child is not None and task.pk is not None
    # (a zone's children are templates, settled by their zone)
    ran = [t for t in child.tasks if not inside_zone(t)]
    bad = [t for t in ran if execution.task_state(t) != State.FINISHED]
    if bad:
        listing = ", ".join(f"{t.name} ({execution.task_state(t)})" for t in bad)
        return execution.failed(
            task,
            ChildTasksFailedError(f"graph task '{task.path}' has failed children: {listing}"),
        )
    bad = [t for t in returned_outer(child) if execution.task_state(t) != State.FINISHED]
    if bad:
        listing = ", ".join(f"{t.path} ({execution.task_state(t)})" for t in bad)
        return execution.failed(
            task,
            ChildTasksFailedError(
                f"graph task '{task.path}' returns outputs of tasks that did not finish: {listing}"
            ),
        )
    try:
        outputs = resolve(child.outputs, f"graph '{task.path}' outputs")
    except BaseException as exc:
        return execution.failed(task, exc)
    execution.recorder.outputs_made(task.pk, outputs, Link.RETURN)
    return execution.succeed(task, outputs)

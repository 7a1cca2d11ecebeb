"""What a finished run tells its user: the root-cause failures, and the values kept only as a
repr, as one exception naming task and socket."""

from __future__ import annotations

from typing import Any, Protocol

from ..errors import (
    ChildTasksFailedError,
    FerroflowError,
    ValueNotStoredError,
    WorkflowFailedError,
)
from ..model.graph import Graph, TaskNode
from ..model.labels import flatten
from ..model.vocabulary import State

__all__ = ["RunOutcome", "explain_unstored", "failures", "raise_failures"]


class RunOutcome(Protocol):
    """What a report reads of a run that ended (an ``Execution``)."""

    graph: Graph
    #: its task nodes by core id
    tasks: list[TaskNode]
    state: str
    recording: bool
    #: "task 'path', output 'socket'" -> why its value is stored only as its repr
    unstored: dict[str, str]
    #: why the graph's outputs could not all be made, when every task finished
    output_error: FerroflowError | None


def explain_unstored(run: RunOutcome, values: dict[int, Any]) -> dict[str, str]:
    """Name the task and socket of each of this run's values stored only as a repr
    (``values``: their stored stand-ins by pk)."""
    pks = values.keys()
    where: dict[int, str] = {}
    for task in run.tasks:
        if task.out_pk in pks:
            where[task.out_pk] = f"task '{task.path}', output '{task.handle.single_output}'"
        elif task._outputs is not None:
            for label, node in flatten(task._outputs):
                if node._pk in pks:
                    where.setdefault(node._pk, f"task '{task.path}', output '{label}'")
    for label, node in flatten(run.graph.inputs):
        if node._pk in pks:
            where.setdefault(node._pk, f"graph '{run.graph.name}', input '{label}'")
    found: dict[str, str] = {}
    for pk, place in sorted(where.items()):
        value = values[pk]
        found[place] = f"{getattr(value, 'type', '?')}: {getattr(value, 'error', '')}"
    return found


def failures(run: RunOutcome) -> dict[str, BaseException]:
    """Root-cause failures by task path (graph tasks that failed only because their
    children did are left out: their children are listed)."""
    found: dict[str, BaseException] = {}
    for task in run.tasks:
        if task.state == State.FAILED and not isinstance(task.error, ChildTasksFailedError):
            found[task.path] = task.error or FerroflowError("failed")
    return found


def raise_failures(run: RunOutcome) -> None:
    # A FINISHED run is one whose every task finished (``Execution._settle``): nothing to
    # look for, and no pass over a million tasks at the end of every run.
    failed = {} if run.state == State.FINISHED else failures(run)
    if not failed and run.state == State.FINISHED:
        if run.unstored:
            lines = [f"  {place}: {why}" for place, why in run.unstored.items()]
            raise ValueNotStoredError(
                f"workflow '{run.graph.name}' finished, but {len(lines)} value(s) could "
                f"not be serialised for the provenance store and are stored only as their "
                f"repr (make them picklable, or return plain data / numpy arrays); every "
                f"result is in memory and every other value is stored:\n" + "\n".join(lines),
                dict(run.unstored),
            )
        return
    if not failed and run.output_error is not None:
        raise WorkflowFailedError(
            f"workflow '{run.graph.name}': every task finished, but its outputs could not "
            f"be made: {run.output_error}",
            {},
        ) from run.output_error
    skipped = sum(1 for t in run.tasks if t.state == State.SKIPPED)
    lines = [f"  {path}: {type(err).__name__}: {err}" for path, err in failed.items()]
    message = (
        f"{len(failed)} task(s) failed in workflow '{run.graph.name}'"
        f" ({skipped} dependent task(s) skipped)"
        + ("; finished results are stored:\n" if run.recording else ":\n")
        + "\n".join(lines)
    )
    first = next(iter(failed.values()), None)
    raise WorkflowFailedError(message, failed) from first

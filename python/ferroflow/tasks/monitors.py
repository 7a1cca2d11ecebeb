"""WorkGraph's built-in monitors (``aiida_workgraph.tasks.monitors``): wait for a moment, a
file, or a task of another run, then let what is ordered after them (``>>``) run. Each takes
``interval`` and ``timeout`` as every ``@task.monitor`` does (:mod:`ferroflow.model.monitor`)."""

from __future__ import annotations

import datetime
import os

from ..model.vocabulary import State
from ..profile import get_current_profile
from ..query import find_nodes
from ..task import task

__all__ = ["monitor_file", "monitor_task", "monitor_time"]

#: states after which a task does not change again
_TERMINAL = (State.FINISHED, State.FAILED, State.KILLED, State.CANCELLED)


@task.monitor
def monitor_file(filepath: str) -> bool:
    """True once a file exists at ``filepath``."""
    return os.path.exists(filepath)


@task.monitor
def monitor_time(time: str | datetime.datetime) -> bool:
    """True once the moment ``time`` (a datetime, or an ISO string such as
    ``"2025-07-30T12:00:00"``) has passed, in local time as ``datetime.now()`` reads it."""
    moment = datetime.datetime.fromisoformat(time) if isinstance(time, str) else time
    return datetime.datetime.now(moment.tzinfo) > moment


@task.monitor
def monitor_task(
    task_name: str, workgraph_pk: int | None = None, workgraph_name: str | None = None
) -> bool:
    """True once the task ``task_name`` of run ``workgraph_pk`` (or of the newest run named
    ``workgraph_name``) has ended: finished, or failed, killed or cancelled with its run
    ended (a failed attempt may still be retried while the run goes on)."""
    store = get_current_profile().store
    run = workgraph_pk
    if run is None:
        if workgraph_name is None:
            raise ValueError("monitor_task: give workgraph_pk or workgraph_name")
        runs = [r for r in store.runs() if r.label == workgraph_name]
        if not runs:
            return False
        run = max(runs, key=lambda r: r.pk).pk
    attempts = [
        node
        for node in find_nodes(store, run=run, kind="calc")
        if node.label == task_name or (node.label or "").startswith(f"{task_name}_attempt")
    ]
    if not attempts:
        return False
    last = max(attempts, key=lambda node: node.pk)  # a failed attempt may be retried
    if last.state == State.FINISHED:
        return True
    return last.state in _TERMINAL and store.load_node(run).state in _TERMINAL

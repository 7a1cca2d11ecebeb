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
    ``workgraph_name``) has ended: finished, failed, killed or cancelled."""
    store = get_current_profile().store
    run = workgraph_pk
    if run is None:
        if workgraph_name is None:
            raise ValueError("monitor_task: give workgraph_pk or workgraph_name")
        runs = [r for r in store.runs() if r.label == workgraph_name]
        if not runs:
            return False
        run = max(runs, key=lambda r: r.pk).pk
    tasks = find_nodes(store, run=run, task=task_name, kind="calc")
    return any(node.state in _TERMINAL for node in tasks if node.label == task_name)

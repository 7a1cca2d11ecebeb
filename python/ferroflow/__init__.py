"""ferroflow: Python workflows with a Rust core.

Write plain functions, mark them ``@task``, compose them in ``@task.graph`` functions, and
ferroflow runs the graph in parallel and records the provenance of every value::

    from ferroflow import task

    @task
    def square(x: int) -> int:
        return x * x

    @task.graph
    def squares(n: int) -> int:
        return square(x=n).result

    wg = squares.build(4)
    wg.run()
    print(wg.outputs.result.value)   # uuid: … (pk: …) value: 16
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import socket_spec as spec
from .errors import (
    ChildTasksFailedError,
    CorePanicError,
    FerroflowError,
    ForeignFutureError,
    FutureUsageError,
    GraphContextError,
    GraphReturnError,
    MaxIterationsError,
    NotRunError,
    PythonJobError,
    RecursionDepthError,
    RetryCancelledError,
    RunCancelledError,
    RunTimeoutError,
    StoreError,
    TaskInputError,
    TaskOutputError,
    TaskTimeoutError,
    ValueNotStoredError,
    WorkflowFailedError,
    ZoneError,
)
from .model import operators  # noqa: F401  (installs arithmetic and comparisons on futures)
from .model.data import DataNode
from .model.sockets import FutureSocket, group
from .model.spec import dynamic, meta, namespace, select
from .model.zones import If, Map, While, Zone
from .profile import Profile, get_current_profile, load_profile
from .store.serializers import RegisteredValue, register_serializer
from .task import GraphHandle, TaskHandle, task
from .version import __version__
from .workgraph import WorkGraph

if TYPE_CHECKING:
    from .store import StoredNode


def load_node(pk_or_uuid: int | str) -> StoredNode:
    """Load a stored node (data, task run or graph run) from the current profile."""
    return get_current_profile().store.load_node(pk_or_uuid)


__all__ = [
    "ChildTasksFailedError",
    "CorePanicError",
    "DataNode",
    "FerroflowError",
    "ForeignFutureError",
    "FutureSocket",
    "FutureUsageError",
    "GraphContextError",
    "GraphHandle",
    "GraphReturnError",
    "If",
    "Map",
    "MaxIterationsError",
    "NotRunError",
    "Profile",
    "PythonJobError",
    "RecursionDepthError",
    "RegisteredValue",
    "RetryCancelledError",
    "RunCancelledError",
    "RunTimeoutError",
    "StoreError",
    "TaskHandle",
    "TaskInputError",
    "TaskOutputError",
    "TaskTimeoutError",
    "ValueNotStoredError",
    "While",
    "WorkGraph",
    "WorkflowFailedError",
    "Zone",
    "ZoneError",
    "__version__",
    "dynamic",
    "get_current_profile",
    "group",
    "load_node",
    "load_profile",
    "meta",
    "namespace",
    "register_serializer",
    "select",
    "spec",
    "task",
]

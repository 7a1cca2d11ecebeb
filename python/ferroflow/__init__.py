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

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from .data import DataNode
from .errors import (
    CorePanicError,
    FerroflowError,
    FutureUsageError,
    GraphContextError,
    GraphReturnError,
    NotRunError,
    RecursionDepthError,
    RunTimeoutError,
    TaskInputError,
    TaskOutputError,
    TaskTimeoutError,
    ValueNotStoredError,
    WorkflowFailedError,
)
from .profile import Profile, get_current_profile, load_profile
from .sockets import FutureSocket
from .spec import dynamic, namespace
from .task import GraphHandle, TaskHandle, task
from .workgraph import WorkGraph

if TYPE_CHECKING:
    from .store import StoredNode

try:
    __version__ = version("ferroflow")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"


def load_node(pk_or_uuid: int | str) -> StoredNode:
    """Load a stored node (data, task run or graph run) from the current profile."""
    return get_current_profile().store.load_node(pk_or_uuid)


__all__ = [
    "CorePanicError",
    "DataNode",
    "FerroflowError",
    "FutureSocket",
    "FutureUsageError",
    "GraphContextError",
    "GraphHandle",
    "GraphReturnError",
    "NotRunError",
    "Profile",
    "RecursionDepthError",
    "RunTimeoutError",
    "TaskHandle",
    "TaskInputError",
    "TaskOutputError",
    "TaskTimeoutError",
    "ValueNotStoredError",
    "WorkGraph",
    "WorkflowFailedError",
    "__version__",
    "dynamic",
    "get_current_profile",
    "load_node",
    "load_profile",
    "namespace",
    "task",
]

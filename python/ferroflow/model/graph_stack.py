"""The "current graph" of each thread: where a task call in a graph body adds its task.

Graph bodies may nest (a graph task expands while another's body runs on another thread), so
each thread keeps a stack: the innermost graph is current, and ``None`` on top marks a running
task body, where calling a task is refused (:class:`~ferroflow.errors.GraphContextError`).
The graphs are typed ``Any`` here (this module sits below :mod:`.graph`, which re-exports these
functions typed with its ``Graph``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import ferroflow._core as _core

from ..errors import GraphContextError

__all__ = ["current_graph", "graph_context", "require_graph", "task_body"]

_local = threading.local()


def _stack() -> list[Any]:
    try:
        stack: list[Any] = _local.stack
    except AttributeError:
        stack = _local.stack = []
    return stack


def current_graph() -> Any:
    """The graph that task calls on this thread are added to, if any."""
    try:
        stack: list[Any] = _local.stack
    except AttributeError:
        return None
    return stack[-1] if stack else None


@contextlib.contextmanager
def graph_context(graph: Any) -> Iterator[None]:
    """Make ``graph`` current on this thread (``None`` marks a running task body)."""
    stack = _stack()
    stack.append(graph)
    try:
        yield
    finally:
        stack.pop()


class _TaskBody:
    """``with task_body():`` marks this thread as running a task body while the block runs: a
    task body is no graph, so calling a task there raises :class:`GraphContextError` instead of
    adding to an outer graph. Every backend wraps the user's function in it. A plain class, not
    a generator context manager: it wraps every general-lane call."""

    __slots__ = ()

    def __enter__(self) -> None:
        _stack().append(None)

    def __exit__(self, *exc: object) -> None:
        _stack().pop()


_TASK_BODY = _TaskBody()


def task_body() -> _TaskBody:
    """The context manager that marks a running task body (see :class:`_TaskBody`)."""
    return _TASK_BODY


def require_graph(label: str) -> Any:
    graph = current_graph()
    if graph is None:
        # (fast-lane task bodies run on a worker thread with an empty graph stack)
        inside_task = bool(_stack()) or _core.in_worker()
        where = "inside the body of a running task" if inside_task else "outside any graph"
        raise GraphContextError(
            f"task '{label}' was called {where}. Calling a task adds it to a graph: do it in a "
            f"@task.graph function (then .build() or call that graph). To run the plain "
            f"function, call {label}.func(...)."
        )
    return graph

"""Exceptions raised by ferroflow. Every message names the task (by path) and the socket.

Build-time mistakes raise as early as possible, at the call inside the graph body, so that a
wrong workflow never starts; run-time failures are collected and raised once the independent
work has finished and been stored.
"""

from __future__ import annotations

__all__ = [
    "CorePanicError",
    "FerroflowError",
    "FutureUsageError",
    "GraphContextError",
    "GraphReturnError",
    "NotRunError",
    "RecursionDepthError",
    "RetryCancelledError",
    "RunTimeoutError",
    "TaskInputError",
    "TaskOutputError",
    "TaskTimeoutError",
    "WorkflowFailedError",
]


class FerroflowError(Exception):
    """Base class of every ferroflow error."""


class FutureUsageError(FerroflowError, TypeError):
    """A future output was used as if its value were known at build time (iterated, tested
    for truth, measured, converted). Move that logic into a ``@task.graph``."""


class TaskInputError(FerroflowError, TypeError):
    """A task was called with an unknown input, without a required input, or with a concrete
    value of the wrong type."""


class GraphReturnError(FerroflowError, TypeError):
    """A graph body returned something that is not made of sockets (e.g. a value it computed
    itself, which would bypass provenance)."""


class GraphContextError(FerroflowError, RuntimeError):
    """A task was called outside a graph body, or inside a running task's body."""


class TaskOutputError(FerroflowError, ValueError):
    """A task's return value does not match its declared outputs (the task fails)."""


class TaskTimeoutError(FerroflowError, TimeoutError):
    """A task attempt ran longer than its ``@task(timeout=...)``: the task failed (or, with
    retries, the attempt did) and its dependents are skipped. A thread running a sync body
    cannot be stopped: it finishes in the background and its result is discarded; an async
    body is cancelled."""


class RetryCancelledError(FerroflowError):
    """A task's attempt failed and the run was cancelled (Ctrl-C, ``run(timeout=)``) while it
    waited for its next attempt: no further attempt was made, and the task is CANCELLED."""


class ValueNotStoredError(FerroflowError, ValueError):
    """Raised by ``WorkGraph.run()`` after a run in which some output values could not be
    serialised for the store (they are stored as their ``repr``). The run itself completed:
    every result is in memory and every other value is stored. ``values`` maps
    ``"task 'path', output 'socket'"`` to the reason."""

    def __init__(self, message: str, values: dict[str, str]) -> None:
        super().__init__(message)
        self.values = values


class RecursionDepthError(FerroflowError, RecursionError):
    """A graph task nested itself deeper than its ``max_depth``."""


class NotRunError(FerroflowError, RuntimeError):
    """Results were asked for before the workflow ran."""


class RunTimeoutError(FerroflowError, TimeoutError):
    """``run(timeout=...)`` expired: no task started afterwards, running bodies finished, every
    other task is CANCELLED, and every finished result is stored."""


class CorePanicError(FerroflowError, RuntimeError):
    """The Rust core panicked while handling a task (a bug in ferroflow, reported per task)."""


class WorkflowFailedError(FerroflowError, RuntimeError):
    """Raised by ``WorkGraph.run()`` when tasks failed. Independent tasks have finished and
    every finished result is stored. ``failed`` maps each failed task's path to its error."""

    def __init__(self, message: str, failed: dict[str, BaseException]) -> None:
        super().__init__(message)
        self.failed = failed

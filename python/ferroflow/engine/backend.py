"""Where a task's function runs, as the engine sees it: a backend per kind of place (threads of
this process, the run's event loop, a Dask cluster), made for one run by its executor
(:class:`~ferroflow.engine.execution.Executor`).

The engine resolves a task's inputs and records its start; then it hands the call to a backend
and returns what the backend returns to the core: ``True``/``False`` when the call ended on the
worker thread (local calls), :data:`PENDING` when it will end later (the backend reports through
the execution's completion calls, ``finished``/``failed``/``cancelled``, and ``Run.resolve``).
Backends decide retries with :class:`~ferroflow.engine.attempts.Attempts`, like the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Protocol

import ferroflow._core as _core

if TYPE_CHECKING:
    from ..model.graph import TaskNode

__all__ = ["CANCELLED", "CLOSED", "PENDING", "Backend", "Outcome"]

#: The runner's outcome for a call that ends later (the core's ``Outcome::Pending``): the task
#: stays RUNNING until its backend reports.
PENDING: Final = _core.PENDING
#: The runner's outcome for a task given up on because the run was cancelled (the core's
#: ``Outcome::Cancelled``): one that was waiting for its next attempt.
CANCELLED: Final = _core.CANCELLED

#: What a runner returns to the core: finished/failed, the ids a graph task waits for, or one
#: of :data:`PENDING` / :data:`CANCELLED`.
Outcome = bool | list[int] | str


class Backend(Protocol):
    """One run's use of a place where functions run."""

    def start(self) -> None:
        """Before the first task (connect, subscribe); may raise: the run then fails."""

    def submit(self, task: TaskNode, inputs: dict[str, Any]) -> Outcome:
        """Run ``task``'s function on ``inputs`` (its input data nodes), all its attempts."""

    def cancel(self) -> None:
        """The run was cancelled: abandon what is pending (called repeatedly)."""

    def close(self) -> None:
        """After the run (also after Ctrl-C): release threads and connections. Idempotent."""


class _Closed:
    """The backend of a run that has ended: nothing to cancel or close, nothing accepted."""

    def start(self) -> None:
        raise RuntimeError("the run has ended")

    def submit(self, task: TaskNode, inputs: dict[str, Any]) -> Outcome:
        raise RuntimeError("the run has ended")

    def cancel(self) -> None:
        """Nothing is pending any more."""

    def close(self) -> None:
        """Already closed."""


#: What a run's backends become once it has closed them.
CLOSED: Backend = _Closed()

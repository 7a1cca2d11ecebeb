"""Several executors in one run: each task's calls go to the executor it names
(``@task(executor="name")``), the rest to the run's default.

Every run's sync calls that leave the fast lane go through a :class:`RoutedSession`: it makes
each named executor's backend at the first task that needs it (so a Dask cluster that no task of
this run uses is never contacted) and records, as the ``executor`` extra of the task run, which
executor that was; ``ferroflow node show`` prints it. A run that uses anything but the local
thread pool (its default is not ``"local"``, or a task of its top-level graph names an executor)
records every task run's executor and the run's default (``record_all``), and takes no fast lane
(which calls functions in this process), so that every sync task is recorded. A plain local run
keeps its fast lane and records only the tasks sent elsewhere (one nested in a graph task).
``async def`` tasks always run on the run's event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..engine.backend import Backend, Outcome

if TYPE_CHECKING:
    from ..engine.execution import Execution, Executor
    from ..model.graph import TaskNode

__all__ = ["RoutedExecutor", "RoutedSession"]


class RoutedExecutor:
    """The run's ``default`` executor (called ``name``), and ``lookup`` for the executors
    tasks name (raises :class:`~ferroflow.errors.UnknownExecutorError` for an unknown one)."""

    def __init__(
        self,
        name: str,
        default: Executor,
        lookup: Callable[[str], Executor],
        record_all: bool = True,
    ) -> None:
        self.name = name
        self.default = default
        self.lookup = lookup
        #: record the executor of every task run (else only of those not on the default)
        self.record_all = record_all

    def session(self, execution: Execution) -> RoutedSession:
        return RoutedSession(execution, self)


class RoutedSession:
    """One run's backends, by executor name (see the module docstring)."""

    def __init__(self, execution: Execution, routes: RoutedExecutor) -> None:
        self._execution = execution
        self._routes = routes
        self._lock = threading.Lock()
        self._default = routes.default.session(execution)
        self._sessions: dict[str, Backend] = {routes.name: self._default}

    def start(self) -> None:
        self._default.start()
        execution = self._execution
        if self._routes.record_all:
            execution.recorder.executor(execution.pk, self._routes.name)

    def _session(self, name: str) -> Backend:
        """The run's backend of executor ``name``, made and started on first use."""
        with self._lock:
            session = self._sessions.get(name)
            if session is None:
                session = self._routes.lookup(name).session(self._execution)
                session.start()
                self._sessions[name] = session
            return session

    def submit(self, task: TaskNode, inputs: dict[str, Any]) -> Outcome:
        execution = self._execution
        routes = self._routes
        name = getattr(task.handle, "executor", None) or routes.name
        if name == routes.name:
            session = self._default
        else:
            try:
                session = self._session(name)
            except Exception as exc:  # an unknown name, a cluster that cannot be reached
                return execution.failed(task, exc)
        if routes.record_all or name != routes.name:
            assert task.pk is not None
            execution.recorder.executor(task.pk, name)
        return session.submit(task, inputs)

    def cancel(self) -> None:
        for session in list(self._sessions.values()):
            session.cancel()

    def close(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
        errors: list[BaseException] = []
        for session in sessions:
            try:
                session.close()
            except BaseException as exc:  # close the others all the same
                errors.append(exc)
        if errors:
            raise errors[0]

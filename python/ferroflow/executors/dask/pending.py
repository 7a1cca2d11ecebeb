"""The tasks a run has handed to Dask, and the one rule that keeps their outcomes exact.

A task is *claimed* by taking its entry out of :class:`Pending` under the lock; only the
claimer reports its outcome. A result can race with Ctrl-C abandoning the task, with its
deadline failing it, or arrive late from an attempt that timed out; the claim makes each of
them apply once or not at all. An entry is registered again (:meth:`Pending.release`) only to
wait for, or be sent for, another attempt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import distributed

from ...engine.attempts import Attempts

if TYPE_CHECKING:
    from ...engine.execution import Execution
    from ...model.graph import TaskNode

__all__ = ["Done", "Entry", "Pending", "Resolved", "makes_attempts"]

#: ``(task id, finished)`` pairs reported together with one ``Run.resolve_many``.
Resolved = list[tuple[int, bool]]


def makes_attempts(task: TaskNode) -> bool:
    """Whether ``task`` may need more than one attempt (retries, a timeout, error handlers):
    such a task is sent alone, so that a retry reruns nobody else."""
    handle = task.handle
    return (
        handle.retries > 0
        or handle.timeout is not None
        or bool(handle.error_handlers)
        or task.handlers is not None
    )


class Entry:
    """One calc task handed to Dask: its call (``func``, ``kwargs``, whose values may be on
    the cluster: ``has_refs``), then the chunk ``future`` and its position in it.

    A ``solo`` task (:func:`makes_attempts`) also uses ``inputs`` (for the next attempt's
    node), ``attempts``, ``changes`` (the inputs an error handler changed for the next attempt),
    ``waiting`` (True between a failed attempt and the next one), ``error`` (the last failed
    attempt's) and ``armed`` (the last attempt whose deadline runs; touched on the event loop
    only)."""

    __slots__ = (
        "armed",
        "attempts",
        "changes",
        "error",
        "func",
        "future",
        "has_refs",
        "id",
        "index",
        "inputs",
        "kwargs",
        "solo",
        "task",
        "waiting",
    )

    def __init__(
        self,
        task: TaskNode,
        id: int,
        func: Callable[..., Any],
        kwargs: dict[str, Any],
        has_refs: bool,
        inputs: dict[str, Any],
        solo: bool,
    ) -> None:
        self.task = task
        self.id = id
        self.func = func
        self.kwargs = kwargs
        self.has_refs = has_refs
        self.future: distributed.Future[Any] | None = None
        self.index = 0
        self.inputs = inputs
        self.solo = solo
        self.attempts = Attempts(task)
        self.changes: dict[str, Any] = {}
        self.waiting = False
        self.armed = 0
        self.error: BaseException | None = None

    @property
    def attempt(self) -> int:
        return self.attempts.attempt


#: An item of the collect queue: a chunk future, its entries, and its result (a list of
#: outcomes) or why there is none; or ``(None, [entry], wake)`` from a timer.
Done = tuple[distributed.Future[Any] | None, list[Entry], Any]


class Pending:
    """The entries of a run's tasks on Dask, by task id; and reporting claimed ones failed."""

    def __init__(self, execution: Execution) -> None:
        self.execution = execution
        self.core = execution.core
        self._lock = threading.Lock()
        self._entries: dict[int, Entry] = {}

    def add(self, entry: Entry) -> None:
        with self._lock:
            self._entries[entry.id] = entry

    def get(self, task_id: int) -> Entry | None:
        """The entry of ``task_id`` if it is registered (a look, not a claim)."""
        return self._entries.get(task_id)

    def live(self, entries: list[Entry]) -> list[Entry]:
        """Those of ``entries`` still registered (a look: the abandoned ones are dropped)."""
        registered = self._entries
        return [e for e in entries if e.id in registered]

    def claim_all(self) -> list[Entry]:
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        return entries

    def claim(
        self, chunk: list[Entry], future: distributed.Future[Any] | None = None
    ) -> list[Entry]:
        """The entries of ``chunk`` the caller now owns (not abandoned, not yet reported); with
        ``future``, only those whose current attempt it is (a late result of an attempt that
        timed out is not)."""
        registered = self._entries
        with self._lock:
            if future is None:
                return [e for e in chunk if registered.pop(e.id, None) is not None]
            return [
                e for e in chunk if e.future is future and registered.pop(e.id, None) is not None
            ]

    def claim_attempt(self, entry: Entry, attempt: int, waiting: bool) -> bool:
        """Claim ``entry`` if it is still at ``attempt`` and ``waiting`` (between attempts) or
        not (running): a timer's wake for an attempt that is over claims nothing."""
        with self._lock:
            mine = (
                self._entries.get(entry.id) is entry
                and entry.attempt == attempt
                and entry.waiting == waiting
            )
            if mine:
                del self._entries[entry.id]
        return mine

    def release(self, entry: Entry) -> bool:
        """Register a claimed entry again (it waits for another attempt or is sent again);
        False if the run was cancelled meanwhile: then no further attempt is made."""
        with self._lock:
            if self.core.cancelled:
                return False
            self._entries[entry.id] = entry
            return True

    def sent(
        self, futures: list[distributed.Future[Any] | None], chunks: list[list[Entry]]
    ) -> list[distributed.Future[Any]]:
        """Give each chunk's entries their future; returns the futures of chunks abandoned
        meanwhile (to cancel: :meth:`claim_all` saw no future for them)."""
        registered = self._entries
        dead = []
        with self._lock:
            for future, chunk in zip(futures, chunks, strict=True):
                if future is None:
                    continue
                alive = False
                for i, entry in enumerate(chunk):
                    entry.future = future
                    entry.index = i
                    alive = alive or registered.get(entry.id) is entry
                if not alive:
                    dead.append(future)
        return dead

    def failed(self, entry: Entry, exc: BaseException) -> bool:
        """Record a claimed task failed with ``exc``; False (for ``Run.resolve_many``)."""
        try:
            return self.execution.failed(entry.task, exc)
        except BaseException:  # the store may be closed; the task fails all the same
            return False

    def fail(self, entries: list[Entry], exc: BaseException) -> None:
        """Claim ``entries`` and report those claimed failed with ``exc`` (never leave a task
        pending for ever)."""
        mine = self.claim(entries)
        if mine:
            self.core.resolve_many([(e.id, self.failed(e, exc)) for e in mine])

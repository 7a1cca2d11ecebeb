"""The attempts of a task that makes its own on Dask (retries, a timeout, error handlers): the
waiting between and during them, and sending the next one.

Whether a failed attempt is tried again, and with which inputs, is
:class:`~ferroflow.engine.attempts.Attempts`' answer, as for every backend, for the exception
the call raised, restored with its remote traceback. One that could not be sent back arrives as
``RemoteTaskError``, retried only if ``retry_on`` covers it. A Dask-level error (``KilledWorker``
once a worker died ``distributed.scheduler.allowed-failures`` times, a cancellation nobody here
asked for) is not the call raising: it fails the task, never retried. What is Dask's own is the
waiting, done by timers on the client's event loop so that no thread waits:

* **backoff**: the task stays RUNNING in the core and registered as pending meanwhile, so a
  cancel finds it: it makes no further attempt and is CANCELLED with a ``RetryCancelledError``;
* **timeout**: a deadline per attempt, counted from when the call *starts on a worker* (the
  worker logs a Dask event, :data:`~.remote.ATTEMPT_STARTED`, to which the client subscribes),
  so that time queued on a busy cluster does not count; only where the subscription cannot be
  made it counts from the hand-off to Dask. Past it the attempt fails with
  ``TaskTimeoutError`` and its Dask future is cancelled; a call already running on a worker
  cannot be stopped, it finishes there and its result is not claimed.

A timer fires by putting a :class:`Wake` on the collect queue, so that the collect thread, which
reports every other outcome, reports this one too; a wake for an attempt that is over is stale
and claims nothing.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

import distributed

from ...engine.attempts import call_kwargs
from ...errors import TaskTimeoutError
from .fetch import Fetcher
from .pending import Done, Entry, Pending, Resolved
from .remote import ATTEMPT_STARTED

if TYPE_CHECKING:
    from ...engine.execution import Execution

__all__ = ["Retries", "Wake"]

#: Runs by token, for the attempt-started events (one subscription per client serves them all).
_runs: dict[str, Retries] = {}
_listening: weakref.WeakSet[distributed.Client] = weakref.WeakSet()
_listening_lock = threading.Lock()


def _on_attempt_started(event: tuple[float, Any]) -> None:
    """A worker started a timed attempt (on the client's event loop): arm its deadline."""
    try:
        run, task_id, attempt = event[1]
    except (TypeError, ValueError):  # not ours
        return
    retries = _runs.get(run)
    if retries is not None:
        retries.arm(task_id, attempt)


def _listen(client: distributed.Client) -> bool:
    """Subscribe ``client`` to the attempt-started events, once; False if it cannot be."""
    with _listening_lock:
        if client not in _listening:
            try:
                client.subscribe_topic(ATTEMPT_STARTED, _on_attempt_started)
            except Exception:
                return False
            _listening.add(client)
    return True


class Wake:
    """A timer's item on the collect queue: attempt ``attempt``'s deadline passed
    (``deadline``), or the backoff after it is over (not ``deadline``)."""

    __slots__ = ("attempt", "deadline")

    def __init__(self, deadline: bool, attempt: int) -> None:
        self.deadline = deadline
        self.attempt = attempt


@dataclass(eq=False)
class Retries:
    """One run's timers and further attempts, for its solo entries."""

    execution: Execution
    pending: Pending
    fetcher: Fetcher
    client: distributed.Client
    run: str
    to_send: SimpleQueue[Entry | None]
    done: SimpleQueue[Done | None]
    #: attempt-started events arrive (None: not asked yet; False: deadlines from hand-off)
    listening: bool | None = field(default=None, init=False)
    #: the event loop's timer handles; touched there only
    _timers: list[object] = field(default_factory=list, init=False)
    _stopping: bool = field(default=False, init=False)

    def start(self) -> None:
        _runs[self.run] = self

    def close(self) -> None:
        """Fire no more timers (the run is over)."""
        self._stopping = True
        _runs.pop(self.run, None)
        self.fetcher.loop.add_callback(self._drop_timers)

    # -- deadlines ------------------------------------------------------------------------
    def watch(self, entry: Entry) -> None:
        """Before ``entry`` is first sent: a timed task needs the attempt-started events."""
        if entry.task.handle.timeout is not None and self.listening is None:
            self.listening = _listen(self.client)

    def token(self, entry: Entry) -> list[Any] | None:
        """What the worker reports when ``entry``'s attempt starts, if it is timed and the
        events arrive."""
        if self.listening and entry.task.handle.timeout is not None:
            return [self.run, entry.id, entry.attempt]
        return None

    def sent(self, solo: list[Entry]) -> None:
        """``solo`` entries were handed to Dask: without start events, their deadlines run
        from now."""
        if self.listening:
            return
        for entry in solo:
            if entry.future is not None and entry.task.handle.timeout is not None:
                self.fetcher.loop.add_callback(self.arm, entry.id, entry.attempt)

    def arm(self, task_id: int, attempt: int) -> None:
        """Start attempt ``attempt``'s deadline (on the event loop, once per attempt)."""
        entry = self.pending.get(task_id)
        timeout = entry.task.handle.timeout if entry is not None else None
        if (
            entry is None
            or timeout is None
            or entry.attempt != attempt
            or entry.waiting
            or entry.armed >= attempt
            or self._stopping
        ):
            return
        entry.armed = attempt
        self._timers.append(
            self.fetcher.loop.call_later(
                timeout, self.done.put, (None, [entry], Wake(True, attempt))
            )
        )

    def _later(self, delay: float, entry: Entry, wake: Wake) -> None:
        """Put ``(None, [entry], wake)`` on the collect queue in ``delay`` seconds."""

        def schedule() -> None:
            if not self._stopping:
                self._timers.append(
                    self.fetcher.loop.call_later(delay, self.done.put, (None, [entry], wake))
                )

        self.fetcher.loop.add_callback(schedule)

    def _drop_timers(self) -> None:
        timers, self._timers = self._timers, []
        for handle in timers:
            self.fetcher.loop.remove_timeout(handle)

    # -- attempts (collect thread) --------------------------------------------------------
    def failed(self, entry: Entry, exc: BaseException, resolved: Resolved) -> None:
        """A claimed solo attempt raised ``exc`` (or timed out): if :class:`Attempts` gives it
        another, store this one FAILED and send the next after the backoff; else fail it."""
        task = entry.task
        try:
            changes = entry.attempts.after_failure(exc, call_kwargs(task, entry.inputs))
            if changes is None:
                resolved.append((entry.id, self.pending.failed(entry, exc)))
                return
            self.execution.attempt_failed(task, exc)
        except BaseException as other:  # an error handler raised, or the store is closed
            resolved.append((entry.id, self.pending.failed(entry, other)))
            return
        entry.changes = changes
        entry.error = exc
        entry.waiting = True
        entry.future = None
        if entry.attempts.backoff <= 0:
            self._resubmit(entry, resolved)
        elif self.pending.release(entry):
            self._later(entry.attempts.backoff, entry, Wake(False, entry.attempt))
        else:
            self.cancelled(entry)
            self.execution.core.abandon([entry.id])

    def cancelled(self, entry: Entry) -> None:
        """The run was cancelled while ``entry`` waited for its next attempt: none is made and
        the task is recorded CANCELLED with a ``RetryCancelledError``; the caller abandons it
        in the core (CANCELLED there too)."""
        assert entry.error is not None
        with contextlib.suppress(BaseException):  # the store may be closed: cancelled anyway
            self.execution.cancelled(entry.task, entry.attempts.cancelled(entry.error))

    def _resubmit(self, entry: Entry, resolved: Resolved) -> None:
        """Start and send the next attempt of a claimed, waiting entry (unless the run was
        cancelled)."""
        execution = self.execution
        if execution.cancel_requested:
            self.cancelled(entry)
            execution.core.abandon([entry.id])
            return
        label = entry.attempts.next(entry.changes, entry.inputs, entry.kwargs)
        entry.waiting = False
        try:
            execution.attempt_started(entry.task, entry.inputs, label)
        except BaseException as exc:
            resolved.append((entry.id, self.pending.failed(entry, exc)))
            return
        if self.pending.release(entry):
            self.to_send.put(entry)
        else:  # cancelled meanwhile: the new attempt's RUNNING node becomes CANCELLED
            execution.core.abandon([entry.id])

    def woken(self, entry: Entry, wake: Wake, resolved: Resolved) -> None:
        """A timer fired: a deadline passed, or a backoff is over (stale ones are ignored)."""
        # a deadline is for a running attempt, a backoff's end for a waiting one
        if not self.pending.claim_attempt(entry, wake.attempt, waiting=not wake.deadline):
            return
        if not wake.deadline:
            self._resubmit(entry, resolved)
            return
        future, entry.future = entry.future, None
        if future is not None:  # release it; a result that still comes is not claimed
            self.fetcher.cancel([future])
        task = entry.task
        self.failed(
            entry,
            TaskTimeoutError(
                f"task '{task.path}' ran past its timeout of {task.handle.timeout:g} s on Dask "
                f"and was failed; its result will be discarded (its Dask future is cancelled, "
                f"but a call already running on a worker cannot be stopped and finishes there)"
            ),
            resolved,
        )

"""One run's backend on a Dask cluster: :class:`DaskSession`, and the two threads it owns.

Pool threads queue calls (:meth:`DaskSession.submit` returns ``PENDING`` at once: the task
stays RUNNING until reported). The *submit* thread sends what they queued (:mod:`.chunks`); the
*collect* thread reports what the fetch loops (:mod:`.fetch`) and the timers (:mod:`.attempts`)
put on its queue: return values become output nodes and provenance through the execution's
completion calls, as after a local call, and a batch of outcomes is reported with one
``Run.resolve_many``. Both threads take everything queued at once, so a busy run pays one
message per batch, not per task; and both fail a batch they cannot handle rather than leave its
tasks pending for ever.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING, Any, TypeVar

import distributed

from ...engine.backend import PENDING, Outcome
from ...model.model_inputs import WithModels
from .attempts import Retries
from .chunks import Chunks
from .fetch import Fetcher, chunk_error
from .pending import Done, Entry, Pending, Resolved, makes_attempts
from .remote import restore
from .values import ClusterValues

if TYPE_CHECKING:
    from ...engine.execution import Execution
    from ...model.graph import TaskNode

__all__ = ["DaskSession"]

_T = TypeVar("_T")


def _drain(
    queue: SimpleQueue[_T | None],
    handle: Callable[[list[_T]], None],
    fail: Callable[[list[_T], BaseException], None],
) -> None:
    """A thread's loop: wait for an item, then take everything else queued too and ``handle``
    it all as one batch; if that raises, ``fail`` the batch. Returns at the ``None`` sentinel
    (``close``), after handling the batch taken before it."""
    while True:
        first = queue.get()
        if first is None:
            return
        batch = [first]
        stop = False
        while True:
            try:
                item = queue.get_nowait()
            except Empty:
                break
            if item is None:
                stop = True
                break
            batch.append(item)
        try:
            handle(batch)
        except BaseException as exc:  # never leave a task pending for ever
            fail(batch, exc)
        if stop:
            return


class DaskSession:
    """The bridge between one run and the cluster of ``client``."""

    def __init__(
        self,
        execution: Execution,
        client: distributed.Client,
        *,
        chunk_size: int = 1,
        inline_limit: int = 64 * 1024,
    ) -> None:
        self.client = client
        self.execution = execution
        self.core = execution.core
        run = execution.uuid.replace("-", "")[-12:]  # in Dask keys and attempt-started events
        self._to_send: SimpleQueue[Entry | None] = SimpleQueue()
        self._done: SimpleQueue[Done | None] = SimpleQueue()
        self._pending = Pending(execution)
        self._values = ClusterValues(client, inline_limit)
        self._fetcher = Fetcher(client, self._done)
        self._retries = Retries(
            execution, self._pending, self._fetcher, client, run, self._to_send, self._done
        )
        self._chunks = Chunks(client, chunk_size, run, self._pending, self._fetcher, self._retries)
        self._threads: list[threading.Thread] = []

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._chunks.start()
        for name, loop in (("submit", self._send_loop), ("collect", self._collect_loop)):
            thread = threading.Thread(target=loop, name=f"ferroflow-dask-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._fetcher.start()
        self._retries.start()

    def close(self) -> None:
        """Stop both threads and release the futures kept for the run (the run is over)."""
        self._retries.close()
        self._fetcher.stop()
        self._to_send.put(None)
        self._done.put(None)
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
        self._values.clear()

    def cancel(self) -> None:
        """The run was cancelled: abandon every task pending on Dask (the core marks them
        CANCELLED) and cancel their futures. Called by the core, repeatedly while any remain.
        A task waiting between attempts gets none: it is CANCELLED with a RetryCancelledError,
        as for a local task."""
        entries = self._pending.claim_all()
        if not entries:
            return
        waiting = [e for e in entries if e.waiting]  # between attempts: no further one
        if waiting:
            entries = [e for e in entries if not e.waiting]
            for e in waiting:
                self._retries.cancelled(e)
            self.core.abandon([e.id for e in waiting])
        self.core.abandon([e.id for e in entries])
        futures = list({e.future.key: e.future for e in entries if e.future is not None}.values())
        if futures:
            self._fetcher.cancel(futures)

    # -- pool threads ----------------------------------------------------------------------
    def submit(self, task: TaskNode, inputs: dict[str, Any]) -> Outcome:
        """Queue a calc task whose inputs are resolved (``inputs``: data nodes, or nested dicts
        of them); ``PENDING``, or False if the call could not even be prepared (a large input
        that could not be scattered)."""
        handle = task.handle
        try:
            kwargs, has_refs = self._values.kwargs(inputs)
        except BaseException as exc:
            return self.execution.failed(task, exc)
        if handle.var_kw:
            kwargs.update(kwargs.pop(handle.var_kw, {}))
        assert task.id is not None
        func = WithModels(handle.call, handle.model_inputs) if handle.model_inputs else handle.call
        entry = Entry(task, task.id, func, kwargs, has_refs, inputs, makes_attempts(task))
        self._retries.watch(entry)
        self._pending.add(entry)
        self._to_send.put(entry)
        return PENDING

    # -- the submit and collect threads ----------------------------------------------------
    def _send_loop(self) -> None:
        _drain(self._to_send, self._chunks.send, self._pending.fail)

    def _collect_loop(self) -> None:
        def fail(items: list[Done], exc: BaseException) -> None:
            self._pending.fail([e for _, chunk, _ in items for e in chunk], exc)

        _drain(self._done, self._collect, fail)

    def _collect(self, items: list[Done]) -> None:
        pending = self._pending
        resolved: Resolved = []
        try:
            for future, chunk, result in items:
                if future is None:  # a timer: a deadline passed or a backoff is over
                    self._retries.woken(chunk[0], result, resolved)
                    continue
                mine = pending.claim(chunk, future)
                if not mine:
                    continue
                if isinstance(result, BaseException):  # Dask-level: not retried
                    error = chunk_error(future, result)
                    resolved += [(e.id, pending.failed(e, error)) for e in mine]
                    continue
                for entry in mine:
                    outcome = result[entry.index]
                    if outcome[-1] is not None:  # what it printed: stored with this attempt
                        self.execution.capture.store_text(entry.task.pk, *outcome[-1])
                    if outcome[0]:
                        resolved.append((entry.id, self._finish(entry, outcome[1])))
                    elif entry.solo:
                        self._retries.failed(entry, restore(outcome), resolved)
                    else:
                        resolved.append((entry.id, pending.failed(entry, restore(outcome))))
        finally:  # whatever happened, what was claimed is reported
            if resolved:
                self.core.resolve_many(resolved)

    def _finish(self, entry: Entry, value: Any) -> bool:
        """Record a claimed task's return value as a local call's; True if it finished."""
        task = entry.task
        try:
            ok = self.execution.finished(task, value)
        except BaseException as exc:
            return self._pending.failed(entry, exc)
        if ok:
            self._values.keep(task, value, entry.future, entry.index)
        return ok

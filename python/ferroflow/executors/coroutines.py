"""``@task async def``: coroutine tasks run on one event loop per run, not on worker threads.

A pool worker runs the general runner (``Execution._run_task``) for an async task as for any
calc task: it records the process node, its ``CALL_CALC`` and ``INPUT_CALC`` links and builds
the keyword arguments, then hands the call to :meth:`AsyncTasks.submit` and returns
``"pending"`` (``Outcome::Pending``: the core keeps the task RUNNING, counted as running and
holding its ``max_number_jobs`` slot, until its outcome is reported). The worker is free at once,
so a thousand tasks awaiting I/O wait together on the loop and finish in about the time of one.

The loop runs on a thread of its own, started when the run's first async task is submitted and
stopped (and joined) when ``Execution.execute`` ends, also after Ctrl-C or a run timeout. When a
coroutine ends, the loop thread turns its value into output nodes and provenance with the code
a local call ends in (``Execution.finished`` / ``failed``) and reports the outcome with
``Run.resolve``: appends to the store's queue and a few atomic operations in the core, nothing
that waits. The one store call that may wait (``record_process``, under backpressure) starts a
retry attempt; it runs on the loop's default executor, off the loop thread.

What holds for sync tasks holds here:

* ``@task(timeout=s)``: the attempt is awaited for at most ``s`` seconds, then its coroutine is
  **cancelled** (unlike a sync body, which cannot be stopped) and, once it has handled the
  cancellation, the attempt fails with :class:`~ferroflow.errors.TaskTimeoutError`.
* ``retries`` / ``retry_on`` / ``backoff`` / ``error_handlers``: the same decision
  (:class:`~ferroflow.engine.attempts.Attempts`); every attempt is its own process node
  (labels ``name``,
  ``name_attempt2``, …; failed ones FAILED with their traceback); the backoff is an
  ``await asyncio.sleep``.
* Calling a task in a coroutine body raises ``GraphContextError`` ("inside the body of a running
  task"): the loop thread runs inside ``task_body()``. Building a graph inside a coroutine still
  works (``build`` pushes its graph and pops it again without awaiting).
* Cancellation (Ctrl-C, ``run(timeout=)``): ``Run.execute`` calls :meth:`AsyncTasks.cancel`,
  which abandons every pending async task in the core (CANCELLED, like tasks that never started)
  and cancels its coroutine; closing the loop cancels whatever else is left on it and waits up
  to :data:`CANCEL_GRACE` seconds for the coroutines to finish their ``finally`` blocks.

A task is *claimed* by removing it from :attr:`AsyncTasks._pending` under a lock; only the
claimer records and reports its outcome, so a coroutine ending while the run is cancelled is
applied once or not at all. Whatever goes wrong in the completion code, the task is failed and
reported (a task left pending would hang the run); a thread that ends with tasks still pending
fails them.

With a Dask executor (``run(executor=...)``) async tasks are not sent to the cluster: they run
here, on this loop, in the client process (where waiting on I/O costs nothing), and their
retries and timeouts apply. A coroutine that blocks (``time.sleep``, CPU work) blocks every async
task of the run: use ``await asyncio.to_thread(...)`` or a sync task for that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any

from ..engine.attempts import Attempts, call_kwargs
from ..engine.backend import PENDING, Outcome
from ..errors import FerroflowError, TaskTimeoutError
from ..model.graph import task_body
from ..model.vocabulary import State

if TYPE_CHECKING:
    from ..engine.execution import Execution
    from ..model.graph import TaskNode

__all__ = ["CANCEL_GRACE", "AsyncExecutor", "AsyncTasks"]

log = logging.getLogger("ferroflow.executors.coroutines")

#: Seconds the closing loop waits for cancelled coroutines to finish (``finally`` blocks that
#: await, e.g. closing a connection); a coroutine still running then is left to the loop's
#: garbage and logged.
CANCEL_GRACE = 5.0


class AsyncExecutor:
    """``@task async def`` tasks: each run gets its own event loop thread (:class:`AsyncTasks`)."""

    def session(self, execution: Execution) -> AsyncTasks:
        return AsyncTasks(execution)


class AsyncTasks:
    """One run's event loop thread and the async tasks pending on it (see the module
    docstring)."""

    def __init__(self, execution: Execution) -> None:
        self._execution = execution
        self._core = execution.core
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        #: task id -> task node: submitted and not yet claimed (any thread, under ``_lock``)
        self._pending: dict[int, TaskNode] = {}
        #: task id -> the asyncio task running it (loop thread only)
        self._running: dict[int, asyncio.Task[None]] = {}

    # -- runner side (pool worker threads) ----------------------------------------------------
    def start(self) -> None:
        """Nothing to do before the run: the loop starts with the first async task."""

    def submit(self, task: TaskNode, inputs: dict[str, Any]) -> Outcome:
        """Run ``task``'s coroutine function on the loop (``inputs``: its input data nodes,
        also for the links of retry attempts). Returns :data:`PENDING` for the runner to
        return, or False if the task had to be failed at once."""
        try:
            kwargs = call_kwargs(task, inputs)
        except Exception as exc:  # a declared model refused the values: this task fails
            return self._execution.failed(task, exc)
        task_id = task.id
        assert task_id is not None
        try:
            with self._lock:
                if self._closed:
                    raise FerroflowError("the run's event loop is already closed")
                loop = self._loop if self._loop is not None else self._start()
                self._pending[task_id] = task
            loop.call_soon_threadsafe(self._begin, task, inputs, kwargs)
        except BaseException as exc:
            with self._lock:
                self._pending.pop(task_id, None)
            return self._execution.failed(task, exc)
        return PENDING

    def _start(self) -> asyncio.AbstractEventLoop:
        """Start the loop thread (holding ``_lock``)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=self._main, args=(loop,), name="ferroflow-async", daemon=True
        )
        thread.start()
        self._loop, self._thread = loop, thread
        return loop

    # -- the run's side (the thread in Run.execute) -------------------------------------------
    def cancel(self) -> None:
        """The run was cancelled: abandon every pending async task (the core marks it and its
        dependents CANCELLED) and cancel its coroutine. Called repeatedly by ``Run.execute``
        while tasks run (a worker may submit one after the previous call)."""
        with self._lock:
            if not self._pending:
                return
            ids = list(self._pending)
            self._pending.clear()
            loop = self._loop
        self._core.abandon(ids)
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop has nothing left to cancel
                loop.call_soon_threadsafe(self._cancel_tasks, ids)

    def close(self) -> None:
        """Stop the loop after the run: cancel what is left on it, let cancelled coroutines
        finish (up to :data:`CANCEL_GRACE` s), close it and join its thread. Idempotent."""
        with self._lock:
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # already closed: its thread is ending
            loop.call_soon_threadsafe(loop.stop)
        thread.join(CANCEL_GRACE + 5.0)
        if thread.is_alive():
            log.warning(
                "the event loop of run '%s' did not stop: an async task blocks it (it is left "
                "running as a daemon thread)",
                self._execution.graph.name,
            )

    # -- the loop thread --------------------------------------------------------------------
    def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            with task_body():  # every coroutine on this loop is a task body
                loop.run_forever()
            leftover = asyncio.all_tasks(loop)
            for job in leftover:
                job.cancel()
            if leftover:
                loop.run_until_complete(asyncio.wait(leftover, timeout=CANCEL_GRACE))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        except BaseException:
            log.exception("the event loop of run '%s' failed", self._execution.graph.name)
        finally:
            asyncio.set_event_loop(None)
            loop.close()
            # Never leave a task pending: the run would wait for it for ever.
            with self._lock:
                orphans = list(self._pending.values())
                self._pending.clear()
            for task in orphans:
                self._conclude(task, FerroflowError(f"task '{task.path}': its event loop ended"))

    def _begin(self, task: TaskNode, inputs: dict[str, Any], kwargs: dict[str, Any]) -> None:
        task_id = task.id
        assert task_id is not None
        if task_id not in self._pending:
            return  # abandoned before it started
        try:
            job = asyncio.get_running_loop().create_task(self._run(task, inputs, kwargs))
        except BaseException as exc:
            self._report(task, False, exc)
            return
        self._running[task_id] = job
        job.add_done_callback(lambda job: self._ended(task, job))

    def _cancel_tasks(self, ids: list[int]) -> None:
        for task_id in ids:
            job = self._running.get(task_id)
            if job is not None:
                job.cancel()

    async def _run(self, task: TaskNode, inputs: dict[str, Any], kwargs: dict[str, Any]) -> None:
        """All attempts of one task, decided by :class:`~ferroflow.engine.attempts.Attempts`."""
        execution = self._execution
        attempts = Attempts(task)
        while True:
            try:
                # each attempt its own inputs: a failed one's mutation is not the next one's
                call = kwargs if attempts.attempt == 1 else call_kwargs(task, inputs)
                # this asyncio task's own context: what it (and tasks it starts) prints is its
                with execution.capture.attempt(task):
                    returned = await self._attempt(task, call)
            except asyncio.CancelledError:
                raise  # abandoned by a cancelled run (or cancelled by the body: see _ended)
            except BaseException as exc:
                try:
                    changes = attempts.after_failure(exc, call_kwargs(task, inputs))
                except BaseException as handler_exc:
                    self._report(task, False, handler_exc)
                    return
                if changes is None:
                    self._report(task, False, exc)
                    return
                execution.attempt_failed(task, exc)
                try:
                    if attempts.backoff:
                        await asyncio.sleep(attempts.backoff)  # a cancelled run cancels it
                except asyncio.CancelledError:
                    if execution.cancel_requested:  # the run gave up on it: record why
                        with contextlib.suppress(Exception):  # (the store may be closing)
                            execution.cancelled(task, attempts.cancelled(exc))
                    raise
                label = attempts.next(changes, inputs, kwargs)
                # off the loop thread: recording may wait for the store (backpressure)
                await asyncio.get_running_loop().run_in_executor(
                    None, execution.attempt_started, task, inputs, label
                )
                continue
            self._report(task, True, returned)
            return

    async def _attempt(self, task: TaskNode, kwargs: dict[str, Any]) -> Any:
        handle = task.handle
        timeout = handle.timeout
        if timeout is None:
            return await handle.call(**kwargs)
        # The body runs as a task of its own, so that a TimeoutError it raises itself is not
        # mistaken for the deadline (as asyncio.wait_for would on Python 3.10).
        body = asyncio.ensure_future(handle.call(**kwargs))
        try:
            done, _ = await asyncio.wait({body}, timeout=timeout)
        except asyncio.CancelledError:
            body.cancel()
            raise
        if done:
            return body.result()
        body.cancel()
        await asyncio.wait({body})  # until it has handled the cancellation (as wait_for does)
        if not body.cancelled():
            body.exception()  # retrieved: no "exception was never retrieved" later
        raise TaskTimeoutError(
            f"task '{task.path}' ran past its timeout of {timeout:g} s and was failed; its "
            f"coroutine was cancelled"
        )

    def _ended(self, task: TaskNode, job: asyncio.Task[None]) -> None:
        """Done callback of a task's asyncio task: a task it left unreported is failed."""
        task_id = task.id
        assert task_id is not None
        self._running.pop(task_id, None)
        if task_id not in self._pending:
            return
        if job.cancelled():
            error: BaseException = FerroflowError(
                f"async task '{task.path}' was cancelled (not by ferroflow: the coroutine "
                f"raised CancelledError)"
            )
        else:
            error = job.exception() or FerroflowError(f"task '{task.path}' reported nothing")
        self._report(task, False, error)

    def _report(self, task: TaskNode, succeeded: bool, value: Any) -> None:
        """Record a coroutine's outcome (its return value, or an exception) and report it to the
        core, if this thread claims the task."""
        task_id = task.id
        assert task_id is not None
        with self._lock:
            if self._pending.pop(task_id, None) is None:
                return  # abandoned: the run was cancelled
        self._conclude(task, value, succeeded)

    def _conclude(self, task: TaskNode, value: Any, succeeded: bool = False) -> None:
        """Record and report a claimed task; never raises, always reports."""
        ok = False
        try:
            if succeeded:
                ok = self._execution.finished(task, value)
            else:
                ok = self._execution.failed(task, value)
        except BaseException as exc:
            ok = False
            try:
                self._execution.failed(task, exc)
            except BaseException:  # e.g. the store is closed: the task fails all the same
                task.error, task.state = exc, State.FAILED
        finally:
            assert task.id is not None
            self._core.resolve(task.id, ok)

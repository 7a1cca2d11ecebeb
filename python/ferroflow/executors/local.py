"""Sync task functions on the engine's own worker threads: the call happens on the worker that
runs the task, so the runner returns the outcome at once (no round trip, no queue).

A task with retries, a timeout or error handlers makes its attempts here, in a loop driven by
:class:`~ferroflow.engine.attempts.Attempts`; its backoff waits on the run's cancel event, so
Ctrl-C or ``run(timeout=)`` stops a task waiting to retry at once.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..engine.attempts import Attempts, call_kwargs
from ..engine.backend import Outcome
from ..engine.run_capture import OFF, RunCapture
from ..errors import TaskTimeoutError
from ..model.graph import task_body

if TYPE_CHECKING:
    from ..engine.execution import Execution
    from ..model.graph import TaskNode

__all__ = ["LocalExecutor", "LocalThreads", "call_with_deadline"]


def call_with_deadline(
    task: TaskNode, timeout: float, kwargs: dict[str, Any], capture: RunCapture = OFF
) -> Any:
    """Call ``task``'s function on a helper thread and wait at most ``timeout`` seconds (the
    wait releases the GIL). Past it, raise :class:`TaskTimeoutError`: a thread cannot be
    killed, so the call finishes in the background and its result is discarded (what it
    prints after the deadline goes to the terminal: its capture is stored at the deadline)."""
    done = threading.Event()
    box: list[tuple[bool, Any]] = []
    func = task.handle.call
    captured = capture.new()

    def body() -> None:
        try:
            with task_body(), capture.into(captured):
                box.append((True, func(**kwargs)))
        except BaseException as exc:
            box.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=body, name=f"ferroflow {task.path}", daemon=True).start()
    in_time = done.wait(timeout)
    capture.store(task.pk, captured)
    if not in_time:
        raise TaskTimeoutError(
            f"task '{task.path}' ran past its timeout of {timeout:g} s and was failed; its "
            f"result will be discarded (the thread running it cannot be stopped and finishes "
            f"in the background)"
        )
    ok, value = box[0]
    if ok:
        return value
    raise value


class LocalExecutor:
    """The default: sync functions run on the engine's worker threads."""

    def session(self, execution: Execution) -> LocalThreads:
        return LocalThreads(execution)


class LocalThreads:
    """One run's local calls (see the module docstring)."""

    def __init__(self, execution: Execution) -> None:
        self._execution = execution
        self._cancelled = threading.Event()

    def start(self) -> None:
        """Nothing to start: the engine's pool is already running."""

    def submit(self, task: TaskNode, inputs: dict[str, Any]) -> Outcome:
        execution = self._execution
        try:
            kwargs = call_kwargs(task, inputs)
        except Exception as exc:  # a declared model refused the values: this task fails
            return execution.failed(task, exc)
        if task.handle.needs_runner or task.handlers is not None:
            return self._attempts(task, inputs, kwargs)
        try:
            with task_body(), execution.capture.attempt(task):
                returned = task.handle.call(**kwargs)
        except BaseException as exc:
            return execution.failed(task, exc)
        return execution.finished(task, returned)

    def _attempts(self, task: TaskNode, inputs: dict[str, Any], kwargs: dict[str, Any]) -> Outcome:
        """Every attempt of a task with ``@task(retries=..., timeout=..., error_handlers=...)``:
        each is its own process node, the first labelled ``name``, attempt k
        ``name_attempt<k>``; a failed one is stored FAILED with its error, and the task's node
        (``task.pk``) is the last attempt's."""
        execution = self._execution
        timeout = task.handle.timeout
        attempts = Attempts(task)
        while True:
            try:
                # each attempt its own inputs: a failed one's mutation is not the next one's
                call = kwargs if attempts.attempt == 1 else call_kwargs(task, inputs)
                if timeout is None:
                    with task_body(), execution.capture.attempt(task):
                        returned = task.handle.call(**call)
                else:
                    returned = call_with_deadline(task, timeout, call, execution.capture)
            except BaseException as exc:
                try:
                    changes = attempts.after_failure(exc, call_kwargs(task, inputs))
                except BaseException as handler_exc:
                    return execution.failed(task, handler_exc)
                if changes is None:
                    return execution.failed(task, exc)
                execution.attempt_failed(task, exc)
                if attempts.backoff:
                    self._cancelled.wait(attempts.backoff)  # cancelled while waiting: see below
                if self._cancelled.is_set() or execution.cancel_requested:
                    return execution.cancelled(task, attempts.cancelled(exc))
                execution.attempt_started(task, inputs, attempts.next(changes, inputs, kwargs))
                continue
            return execution.finished(task, returned)

    def cancel(self) -> None:
        self._cancelled.set()  # a task waiting to retry gives up at once

    def close(self) -> None:
        """Nothing to release: calls ran on the engine's workers."""

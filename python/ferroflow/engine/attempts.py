"""The attempt policy, written once: what happens after a task's call raised.

Every backend (local threads, the asyncio loop, Dask) drives one :class:`Attempts` per task
through the same decisions: ask the error handlers (in order), then ``retries``/``retry_on``;
apply the changed inputs; label the next attempt; word the error of a retry the run cancelled.
Nothing here records, sleeps or waits: the backend waits out :attr:`Attempts.backoff` its own
way (an event, ``asyncio.sleep``, a timer on Dask's loop) and reports through the execution's
completion calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import RetryCancelledError, TaskInputError
from ..model.data import DataNode
from ..model.isolation import isolate
from ..model.model_inputs import as_models
from ..model.outputs import unwrap

if TYPE_CHECKING:
    from ..model.graph import TaskNode

__all__ = ["Attempts", "call_kwargs"]


def call_kwargs(task: TaskNode, inputs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``task``'s function from its input data nodes (namespaces as
    plain dicts; a ``**kwargs`` input spread into the call), each the call's own
    (:func:`~ferroflow.model.isolation.isolate`: the nodes' values are never handed out)."""
    kwargs = {
        name: isolate(node.value if type(node) is DataNode else unwrap(node))
        for name, node in inputs.items()
    }
    for name, spec in task.handle.model_inputs.items():
        if name in kwargs:
            kwargs[name] = as_models(spec, kwargs[name])
    var_kw = task.handle.var_kw
    if var_kw:
        kwargs.update(kwargs.pop(var_kw, {}))
    return kwargs


class Attempts:
    """The attempts of one task: attempt 1 is labelled ``name``, attempt k ``name_attempt<k>``;
    each error handler changes inputs at most its ``max_retries`` times, and plain retries count
    only the attempts no handler paid for."""

    __slots__ = ("attempt", "backoff", "task", "used")

    def __init__(self, task: TaskNode) -> None:
        self.task = task
        self.attempt = 1
        #: seconds the backend waits before the next attempt
        self.backoff = task.handle.backoff
        #: error handler -> times it changed inputs
        self.used: dict[str, int] = {}

    def after_failure(self, exc: BaseException, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """Whether the attempt that raised ``exc`` (called with ``kwargs``) gets another try,
        and with which changed inputs (``{}``: unchanged); None: the task fails with ``exc``.
        Raises what a handler raised, or :class:`TaskInputError` / :class:`TypeError` for a
        handler's bad answer: the task fails with that."""
        task = self.task
        handle = task.handle
        handlers = handle.error_handlers if task.handlers is None else task.handlers
        for i, h in enumerate(handlers):
            counter = f"{i}:{h.name}"  # (a task's own handler and its graph's may share a name)
            if not isinstance(exc, h.exceptions) or self.used.get(counter, 0) >= h.max_retries:
                continue
            changes = h.handler(exc, dict(kwargs), **h.kwargs)
            if changes is None:
                continue
            if not isinstance(changes, dict):
                raise TypeError(
                    f"task '{task.path}': error handler '{h.name}' must return a dict of "
                    f"inputs to change or None, got {type(changes).__name__}"
                )
            unknown = [k for k in changes if k not in handle.inputs or k == handle.var_kw]
            if unknown:
                raise TaskInputError(
                    f"task '{task.path}': error handler '{h.name}' changed unknown input(s) "
                    f"{unknown}; the task's inputs are {sorted(handle.inputs)}"
                )
            self.used[counter] = self.used.get(counter, 0) + 1
            return dict(changes)
        retried = self.attempt - 1 - sum(self.used.values())  # attempts plain retries paid for
        if retried < handle.retries and isinstance(exc, handle.retry_on):
            return {}
        return None

    def next(self, changes: dict[str, Any], inputs: dict[str, Any], kwargs: dict[str, Any]) -> str:
        """Move to the next attempt with ``changes`` applied to ``inputs`` (new data nodes)
        and ``kwargs``; returns its label."""
        self.attempt += 1
        for name, value in changes.items():
            inputs[name] = DataNode(value)
            kwargs[name] = value
        return f"{self.task.name}_attempt{self.attempt}"

    def cancelled(self, exc: BaseException) -> RetryCancelledError:
        """The error of a task whose attempt failed with ``exc`` and whose run was cancelled
        while it waited for the next one."""
        return RetryCancelledError(
            f"task '{self.task.path}': the run was cancelled before attempt "
            f"{self.attempt + 1}; attempt {self.attempt} failed with "
            f"{type(exc).__name__}: {exc}"
        )

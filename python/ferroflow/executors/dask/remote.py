"""What runs on a Dask worker: a chunk of task calls, each failure caught and sent back as data.

One Dask task runs :func:`run_calls` on a :class:`Calls` chunk of one or more ferroflow task
calls, rather than each task function being submitted directly, because:

* **Failures are per call, not per chunk.** Each call's exception is caught here and returned
  with its traceback (``tblib``, which Dask itself uses), so one failing call neither fails its
  chunk-mates nor turns into a Dask-level error; :func:`restore` re-raises it on the client with
  the remote frames, and ferroflow's failure rules apply as for a local task.
* **Values from other tasks stay on the cluster.** A keyword argument may be a :class:`Ref` to
  one of the chunk's *dependencies* (Dask futures passed as the ``deps`` argument, which Dask
  resolves on the worker).
* **Dask does not look inside.** ``Calls`` is opaque to Dask's argument parsing on purpose: Dask
  walks lists and dicts in task arguments looking for futures, which would cost time for large
  keyword dicts and could misread user values.

* **Output is captured on the worker.** With the run's capture on (``Calls.capture``), what
  each call prints and logs is captured there (:mod:`ferroflow.engine.capture`) and travels
  back as the last element of its outcome; the client stores it with the task run. Output of
  an attempt the client gave up on (past its timeout) is lost with its result.

A chunk holding a timed call carries a ``started`` token, logged as a Dask event (topic
:data:`ATTEMPT_STARTED`) when the call starts, so that its deadline counts from then.

Workers import this module by its path when they unpickle a chunk: ``ferroflow`` must be
installed there, as any library whose functions the tasks use.
"""

from __future__ import annotations

import contextlib
import pickle
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from distributed import get_worker
from distributed.protocol.pickle import dumps, loads

from ...engine.capture import TaskCapture, capturing, install
from ...errors import RemoteTaskError
from ...model.graph import task_body
from ...model.isolation import isolate
from ..remote_traceback import with_remote_traceback

__all__ = ["ATTEMPT_STARTED", "Calls", "Ref", "RemoteTaskError", "run_calls"]

#: The Dask event topic on which a worker reports the start of a timed call.
ATTEMPT_STARTED = "ferroflow-attempt-started"

#: One call's result: ``(True, value, output)``, or ``(False, exception, traceback dict or None,
#: text, output)``; ``output`` is ``(captured text, characters dropped)`` or None.
Outcome = tuple[Any, ...]


class Ref:
    """A keyword argument whose value is dependency ``slot`` of the chunk: the value itself
    (``index`` None: a scattered constant) or call ``index``'s value in that dependency's chunk
    result (an output of an earlier task)."""

    __slots__ = ("index", "slot")

    def __init__(self, slot: int, index: int | None) -> None:
        self.slot = slot
        self.index = index

    def __reduce__(self) -> tuple[Any, ...]:
        return Ref, (self.slot, self.index)

    def __repr__(self) -> str:
        return f"Ref({self.slot}, {self.index})"


class Calls:
    """A chunk of calls ``(function, kwargs, has_refs)``, opaque to Dask's argument parsing;
    ``started``: a token to report (:data:`ATTEMPT_STARTED`) when the chunk starts, or None;
    ``capture``: capture what each call prints and logs.

    :meth:`freeze` pickles the calls on the client *before* the chunk goes to Dask: Dask
    serialises a submission on its event loop, where a function or value that does not pickle
    (a global lock, an open file) is only logged and the future never resolves, so the run
    would hang. Frozen, the failure is an exception in the sender, which fails the tasks with
    their names; the pickling is the same work Dask would have done.
    """

    __slots__ = ("buffers", "calls", "capture", "frozen", "started")

    def __init__(
        self,
        calls: list[tuple[Callable[..., Any], dict[str, Any], bool]],
        started: Any = None,
        capture: bool = False,
    ) -> None:
        self.calls = calls
        self.started = started
        self.capture = capture
        self.frozen: bytes | None = None
        self.buffers: list[pickle.PickleBuffer] = []

    def freeze(self) -> None:
        """Pickle the calls now (pickle, else cloudpickle, as Dask does); raises if they do
        not pickle. Large buffers (numpy arrays) stay out of band, as ``PickleBuffer``s that
        Dask's own pickling then sends without a copy, as it would have sent the arrays."""
        buffers: list[pickle.PickleBuffer] = []
        self.frozen = dumps(self.calls, buffer_callback=buffers.append)
        self.buffers = buffers

    def __reduce__(self) -> tuple[Any, ...]:
        if self.frozen is not None:
            return _thaw, (self.frozen, self.buffers, self.started, self.capture)
        return Calls, (self.calls, self.started, self.capture)

    def __len__(self) -> int:
        return len(self.calls)


def _thaw(frozen: bytes, buffers: list[Any], started: Any, capture: bool) -> Calls:
    return Calls(loads(frozen, buffers=buffers), started, capture)


def _fill(value: Any, deps: Sequence[Any]) -> Any:
    if type(value) is Ref:  # a value on this worker, shared by its calls: each its own
        dep = deps[value.slot]
        return isolate(dep if value.index is None else dep[value.index][1])
    if type(value) is dict:
        return {k: _fill(v, deps) for k, v in value.items()}
    return value


def failure(exc: BaseException, skip_frames: int = 0) -> Outcome:
    """``(False, exc, traceback dict, text)`` for an exception, made safe to send back."""
    tb = exc.__traceback__
    for _ in range(skip_frames):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    try:
        from tblib import Traceback

        tb_dict = Traceback(tb).to_dict() if tb is not None else None
    except Exception:  # tblib comes with distributed; without it the text still travels
        tb_dict = None
    try:  # as Dask will send it: pickle, or cloudpickle for classes defined in __main__
        import cloudpickle

        cloudpickle.loads(cloudpickle.dumps(exc))
    except Exception:  # e.g. an __init__ whose arguments differ from exc.args
        exc = RemoteTaskError(f"{type(exc).__qualname__}: {exc}")
    exc.__traceback__ = None
    return (False, exc, tb_dict, text)


def run_calls(chunk: Calls, deps: Sequence[Any] = ()) -> list[Outcome]:
    """Run every call of ``chunk`` (on a Dask worker) and return one outcome per call.

    A task body is no graph: calling a task inside it raises ``GraphContextError``, as locally.
    """
    if chunk.started is not None:
        _report_start(chunk.started)
    out: list[Outcome] = []
    if chunk.capture:
        install()
    with task_body():
        for func, kwargs, has_refs in chunk.calls:
            captured = TaskCapture() if chunk.capture else None
            try:
                if has_refs:
                    kwargs = {k: _fill(v, deps) for k, v in kwargs.items()}
                if captured is None:
                    value = func(**kwargs)
                else:
                    with capturing(captured):
                        value = func(**kwargs)
                out.append((True, value, _shipped(captured)))
            except BaseException as exc:
                # this frame is no part of the task
                out.append((*failure(exc, skip_frames=1), _shipped(captured)))
    return out


def _shipped(captured: TaskCapture | None) -> tuple[str, int] | None:
    """What a call printed and logged, as it travels back: ``(text, dropped)`` or None."""
    if not captured:
        return None
    captured.closed = True
    return captured.text(), captured.dropped


def _report_start(token: Any) -> None:
    """Tell the client (through the scheduler) that a timed call starts now."""
    with contextlib.suppress(Exception):  # not on a Dask worker: nobody waits for it
        get_worker().log_event(ATTEMPT_STARTED, token)


def restore(outcome: Outcome) -> BaseException:
    """The exception of a failed outcome, carrying the remote traceback (``tblib``) or, without
    it, the remote traceback text as its cause (as ``concurrent.futures`` does)."""
    return with_remote_traceback(outcome[1], outcome[2], outcome[3])

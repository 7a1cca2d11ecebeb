"""One run's output capture: whether it is on, and storing what each task attempt wrote with
its process node.

Every backend wraps each attempt of a task's function in :meth:`RunCapture.attempt` (the
local workers, the run's event loop; Dask captures on the worker with
:func:`~ferroflow.engine.capture.capturing` and ships the text back, stored with
:meth:`RunCapture.store_text`). Fast-lane tasks have no wrapper: the core names the task a worker
calls (``_core.current_fast_task``), the proxy asks :meth:`RunCapture.fast_buffer` for its
capture, and the lane calls :meth:`RunCapture.fast_done` after a call that printed, so a task
that prints nothing costs the lane two thread-local writes.

On by default; ``run(capture=False)``, or ``FERROFLOW_CAPTURE=0`` when ``run()`` is not told,
turns it off (output then goes straight to the terminal, as it would without ferroflow). A run
without provenance captures nothing: there is nowhere to keep it.
"""

from __future__ import annotations

import os
import threading
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from ..store.recorder import Recorder
from .capture import ACTIVE, TaskCapture, capturing, install

if TYPE_CHECKING:
    from ..model.graph import TaskNode

__all__ = ["ENV_VAR", "OFF", "RunCapture", "capture_wanted"]

#: Environment variable read when ``run(capture=None)``: ``0``/``false``/``off``/``no`` turn
#: capture off.
ENV_VAR = "FERROFLOW_CAPTURE"
_OFF = frozenset({"0", "false", "no", "off"})


def capture_wanted(capture: bool | None) -> bool:
    """``run()``'s ``capture`` argument, or (``None``) :data:`ENV_VAR`, default on."""
    if capture is not None:
        return bool(capture)
    return os.environ.get(ENV_VAR, "").strip().lower() not in _OFF


class RunCapture:
    """The captures of one run's task attempts (see the module docstring)."""

    def __init__(self, recorder: Recorder, enabled: bool) -> None:
        self.recorder = recorder
        self.enabled = enabled and recorder.recording
        self._fast: dict[int, TaskCapture] = {}
        self._lock = threading.Lock()
        if self.enabled:
            install()

    @property
    def fast(self) -> RunCapture | None:
        """What the fast lane's context holds: this, or None when capture is off."""
        return self if self.enabled else None

    def attempt(self, task: TaskNode) -> AbstractContextManager[object]:
        """``with capture.attempt(task):`` captures what this context writes while the block
        runs, and stores it with the process node ``task.pk`` names when the block ends (also
        when the call raised). A class, not a generator: it wraps every general-lane call."""
        return _Attempt(self, task) if self.enabled else _NOTHING

    def new(self) -> TaskCapture | None:
        """A capture for an attempt that runs elsewhere (:meth:`into` on its thread), or None
        when capture is off."""
        return TaskCapture() if self.enabled else None

    @staticmethod
    def into(capture: TaskCapture | None) -> AbstractContextManager[object]:
        """Send what this context writes to ``capture`` (None: nowhere new)."""
        return _NOTHING if capture is None else capturing(capture)

    def store(self, pk: int | None, capture: TaskCapture | None) -> None:
        """Keep ``capture``'s text with process node ``pk`` (nothing if it is empty); later
        writes to it go to the terminal."""
        if capture is None:
            return
        capture.closed = True
        if capture and pk is not None and self.enabled:
            self.recorder.task_output(pk, capture.text(), capture.dropped)

    def store_text(self, pk: int | None, text: str | None, dropped: int = 0) -> None:
        """Keep ``text`` captured elsewhere (a Dask worker) with process node ``pk``."""
        if text and pk is not None and self.enabled:
            self.recorder.task_output(pk, text, dropped)

    # -- the fast lane -------------------------------------------------------------------
    def fast_buffer(self, task_id: int) -> TaskCapture:
        """The capture of fast task ``task_id``, made at its first write."""
        capture = self._fast.get(task_id)
        if capture is None:
            with self._lock:
                capture = self._fast.setdefault(task_id, TaskCapture())
        return capture

    def fast_done(self, task_id: int, pk: int) -> None:
        """The fast lane's call of ``task_id`` (process node ``pk``) returned after writing."""
        with self._lock:
            capture = self._fast.pop(task_id, None)
        self.store(pk, capture)


class _Attempt:
    __slots__ = ("capture", "run", "task", "token")

    def __init__(self, run: RunCapture, task: TaskNode) -> None:
        self.run = run
        self.task = task
        self.capture = TaskCapture()

    def __enter__(self) -> TaskCapture:
        self.token = ACTIVE.set(self.capture)
        return self.capture

    def __exit__(self, *exc: object) -> None:
        ACTIVE.reset(self.token)
        self.run.store(self.task.pk, self.capture)


_NOTHING = nullcontext()

#: A run that captures nothing (``provenance=False`` or no run at all).
OFF = RunCapture(Recorder(), False)

"""Per-task capture of what a task's function prints and logs: the stream proxies, the bounded
buffer, and where a write goes.

A run's tasks execute at once on many worker threads (and async tasks on one event loop), so
redirecting ``sys.stdout`` per task cannot work: the streams are process-wide. Instead
:func:`install` puts a *proxy* on ``sys.stdout`` and ``sys.stderr`` once, and every write asks
where it belongs:

1. the context variable of the running task's capture (:func:`capturing`): set on the worker
   thread around a sync call, inside an async task's own context (each ``asyncio`` task has a
   copy of the context, so coroutines on one loop never mix), on a Dask worker around each call;
2. else, on a fast-lane worker, the core: the fast lane calls functions directly, with no
   Python wrapper, so ``_core.current_fast_task()`` reads the task that thread is calling (a
   thread-local the lane sets around each call when the run captures);
3. else the real stream, through the live progress display when one is drawing (so a line
   printed outside any task appears above the bar instead of tearing it).

``logging`` records a task emits (those its logger is enabled for) are captured too: a record
factory formats each record made while a capture is active into it, and handlers that write
to the terminal skip those records (a filter added by :func:`install`), so a line is neither
lost nor printed twice. Handlers writing elsewhere (a file) still get every record.

A capture keeps the first :data:`HEAD` and the last :data:`TAIL` characters of what was
written, with a ``… N characters dropped …`` line between, so a task printing in a loop for
hours costs bounded memory and store space. Threads a task body starts itself do not inherit
its context: their output goes to the terminal, as before.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TextIO

import ferroflow._core as _core

__all__ = [
    "ACTIVE",
    "HEAD",
    "TAIL",
    "LiveDisplay",
    "TaskCapture",
    "capturing",
    "current",
    "install",
    "live_display",
    "unwrap",
]

#: Characters a capture keeps from its start, and from its end; what lies between is dropped.
HEAD = 64 * 1024
TAIL = 64 * 1024

#: How a captured ``logging`` record reads.
_FORMAT = logging.Formatter("%(levelname)s %(name)s: %(message)s")


class TaskCapture:
    """What one attempt of one task wrote (stdout, stderr and log records, interleaved in the
    order written), bounded to its first :data:`HEAD` and last :data:`TAIL` characters.
    Writes may come from several threads (a body's own ``asyncio`` tasks), hence the lock."""

    __slots__ = ("_head", "_head_size", "_lock", "_tail", "_tail_size", "closed", "dropped")

    def __init__(self) -> None:
        self._head: list[str] = []
        self._head_size = 0
        self._tail: deque[str] = deque()
        self._tail_size = 0
        #: characters dropped between the head and the tail
        self.dropped = 0
        #: stored already: later writes (a timed-out body still running) go to the terminal
        self.closed = False
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            room = HEAD - self._head_size
            if room > 0:
                part = text[:room]
                self._head.append(part)
                self._head_size += len(part)
                text = text[room:]
                if not text:
                    return
            tail = self._tail
            tail.append(text)
            self._tail_size += len(text)
            while self._tail_size > TAIL:
                excess = self._tail_size - TAIL
                first = tail[0]
                if len(first) <= excess:
                    tail.popleft()
                    cut = len(first)
                else:
                    tail[0] = first[excess:]
                    cut = excess
                self._tail_size -= cut
                self.dropped += cut

    def __bool__(self) -> bool:
        return self._head_size > 0

    def text(self) -> str:
        """The kept text; a marker line stands where characters were dropped."""
        with self._lock:
            head = "".join(self._head)
            if not self.dropped:
                return head + "".join(self._tail)
            gap = "" if head.endswith("\n") else "\n"
            marker = f"{gap}… {self.dropped:,} characters dropped …\n"
            return head + marker + "".join(self._tail)


class FastBuffers(Protocol):
    """A run's captures of fast-lane tasks, by task id (``_core.current_fast_task`` names it)."""

    def fast_buffer(self, task_id: int) -> TaskCapture: ...


#: the capture of the task running in this context (None: none here, or a fast-lane task)
ACTIVE: contextvars.ContextVar[TaskCapture | None] = contextvars.ContextVar(
    "ferroflow_capture", default=None
)


def current() -> TaskCapture | None:
    """The capture that a write made here goes to, or None (the terminal)."""
    capture = ACTIVE.get()
    if capture is None:
        found = _core.current_fast_task()
        if found is not None:
            buffers, task_id = found
            capture = buffers.fast_buffer(task_id)
    if capture is not None and capture.closed:
        return None
    return capture


@contextmanager
def capturing(capture: TaskCapture) -> Iterator[TaskCapture]:
    """Send what this context writes (threads' and async tasks' contexts are their own) to
    ``capture`` while the block runs."""
    token = ACTIVE.set(capture)
    try:
        yield capture
    finally:
        ACTIVE.reset(token)


class LiveDisplay(Protocol):
    """A display that owns the terminal's last line (the progress bar): text printed outside
    tasks goes through :meth:`write_above` so it lands above the display."""

    def write_above(self, stream: TextIO, text: str) -> None: ...


_display: list[LiveDisplay] = []


@contextmanager
def live_display(display: LiveDisplay) -> Iterator[None]:
    """While the block runs, uncaptured writes to the proxied streams go through ``display``."""
    _display.append(display)
    try:
        yield
    finally:
        _display.remove(display)


class _Proxy:
    """``sys.stdout`` / ``sys.stderr`` while captures may run: each write goes to its task's
    capture, or to the real stream (see the module docstring). Everything else (``fileno``,
    ``isatty``, ``encoding``, ``buffer``) is the real stream's."""

    def __init__(self, real: TextIO) -> None:
        self.wrapped = real

    def write(self, text: str) -> int:
        capture = current()
        if capture is not None:
            capture.write(text)
        elif _display:
            _display[-1].write_above(self.wrapped, text)
        else:
            self.wrapped.write(text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if current() is None:
            self.wrapped.flush()

    def __getattr__(self, name: str) -> Any:
        if name == "wrapped":  # not set yet (a copy being made): no endless lookup
            raise AttributeError(name)
        return getattr(self.wrapped, name)


def unwrap(stream: TextIO) -> TextIO:
    """The real stream behind a proxy (what a display must draw on), else ``stream``."""
    while isinstance(stream, _Proxy):
        stream = stream.wrapped
    return stream


def _terminal(stream: Any) -> bool:
    """Whether a logging handler writing to ``stream`` shows on the terminal."""
    if isinstance(stream, _Proxy):
        return True
    if stream is None:
        return False
    return stream in (sys.__stdout__, sys.__stderr__, unwrap(sys.stdout), unwrap(sys.stderr))


class _NotCaptured(logging.Filter):
    """On terminal handlers: a record made while a task captures went to its capture, so the
    terminal does not show it as well."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "ferroflow_captured", False)


_NOT_CAPTURED = _NotCaptured()


class _RecordFactory:
    """Wraps the record factory: a record made while a task captures is formatted into the
    capture (only enabled records are made, so the logger's level holds)."""

    def __init__(self, inner: Callable[..., logging.LogRecord]) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        capture = current()
        if capture is not None:
            try:
                capture.write(_FORMAT.format(record) + "\n")
                record.ferroflow_captured = True
            except Exception:  # a record that does not format: logging reports it later
                pass
        return record


_install_lock = threading.Lock()


def _terminal_handlers() -> Iterator[logging.Handler]:
    loggers: list[Any] = [logging.root, *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if (
                isinstance(handler, logging.StreamHandler)
                and not isinstance(handler, logging.FileHandler)
                and _terminal(handler.stream)
            ):
                yield handler
    if logging.lastResort is not None:
        yield logging.lastResort


def install() -> None:
    """Put the proxies on ``sys.stdout``/``sys.stderr``, the record factory on ``logging`` and
    the filter on terminal handlers, where they are not yet (at every capturing run's start:
    something may have replaced them since). Outside captures nothing changes."""
    with _install_lock:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is not None and not isinstance(stream, _Proxy):
                setattr(sys, name, _Proxy(stream))
        if not isinstance(logging.getLogRecordFactory(), _RecordFactory):
            logging.setLogRecordFactory(_RecordFactory(logging.getLogRecordFactory()))
        for handler in list(_terminal_handlers()):
            if _NOT_CAPTURED not in handler.filters:
                handler.addFilter(_NOT_CAPTURED)

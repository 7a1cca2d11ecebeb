"""A worker process of the local process pool (:mod:`.processes`): it runs one task call at a
time, for as long as its parent keeps it.

Run as ``python -m ferroflow.executors.process_worker``. Its standard input carries the calls
and a private copy of its standard output the outcomes, each a message of an 8-byte length
and a pickle; fd 1 itself is pointed at standard error before any call, so that what a task
prints can never be read as an outcome (with the run's capture on, it is captured instead and
travels back with the outcome). Being a separate interpreter is the point: pure-Python task
bodies do not share a GIL, and a crash (``os._exit``, a segfault) ends only this process, whose
parent fails that one task and starts another worker.

A call is ``(function, kwargs, capture)``; its outcome ``(True, value, output)`` or ``(False,
exception or its text, traceback text, traceback dict, output)``, ``output`` being ``(captured
text, characters dropped)`` or None; the dict (``tblib``, where installed: it comes with Dask)
lets the parent give the exception its frames back, without this module's. An empty message
comes first, when the call starts, so that a deadline does not count the worker's start-up.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback
from typing import Any

from ..engine.capture import TaskCapture, capturing, install
from ..model.graph import task_body
from .framing import read_message, write_message
from .pythonjob_child import _dumps, _function, _round_trips

__all__ = ["main"]


def _tb_dict(tb: Any) -> dict[str, Any] | None:
    try:
        from tblib import Traceback
    except ImportError:
        return None
    try:
        return dict(Traceback(tb).to_dict()) if tb is not None else None
    except Exception:
        return None


def _call(sent: Any, kwargs: dict[str, Any], capture: bool) -> tuple[Any, ...]:
    captured = TaskCapture() if capture else None
    try:
        with task_body():
            if captured is None:
                value = _function(sent)(**kwargs)
            else:
                with capturing(captured):
                    value = _function(sent)(**kwargs)
        outcome: tuple[Any, ...] = (True, value)
    except BaseException as exc:  # the task's failure, sent back whole if it can be
        tb = exc.__traceback__
        tb = tb.tb_next if tb is not None and tb.tb_next is not None else tb  # not _call's frame
        trace = "".join(traceback.format_exception(type(exc), exc, tb))
        sendable = exc if _round_trips(exc) else f"{type(exc).__qualname__}: {exc}"
        outcome = (False, sendable, trace, _tb_dict(tb))
    output = None
    if captured:
        captured.closed = True
        output = (captured.text(), captured.dropped)
    return (*outcome, output)


def main() -> None:
    calls = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # prints go to stderr, never into the replies
    installed = False
    while True:
        message = read_message(calls)
        if message is None:
            return  # the parent closed the pool
        sent, kwargs, capture = pickle.loads(message)
        if capture and not installed:
            install()
            installed = True
        write_message(replies, b"")  # started: a timeout counts from now
        outcome = _call(sent, kwargs, capture)
        try:
            data = _dumps(outcome)
        except Exception as exc:  # a result that does not pickle
            text = f"{type(exc).__name__}: its result does not pickle: {exc}"
            data = pickle.dumps((False, text, "", None, outcome[-1]))
        write_message(replies, data)


if __name__ == "__main__":
    main()

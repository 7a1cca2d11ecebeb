"""Ctrl-C held back while the calling thread commits a batch of the store.

Why: :meth:`~.writer.BatchWriter.flush` commits on the calling thread when the writer thread
is idle (a small run's final flush, see :mod:`.writer`), which saves the two thread hand-offs
of a round trip to the writer. Python runs signal handlers in the main thread between
bytecodes, so a ``KeyboardInterrupt`` could land after the rows were taken off the queue and
before they were committed: they would be lost. The writer thread never runs a handler, so it
never had this problem. :func:`call_holding_interrupts` makes the calling thread as safe: while
it runs, the SIGINT handler only notes the signal, and the original handler is called once the
commit is done (Ctrl-C arrives one commit later, a fraction of a millisecond for a small run).
In any other thread the call runs as it is: only the main thread runs handlers.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

__all__ = ["call_holding_interrupts"]


def call_holding_interrupts(fn: Callable[[], None]) -> None:
    """Call ``fn``; a SIGINT arriving meanwhile is handled (raised) only after it returns."""
    if threading.current_thread() is not threading.main_thread():
        fn()
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):  # SIG_IGN / SIG_DFL: no Python handler can raise
        fn()
        return
    caught: list[tuple[int, FrameType | None]] = []

    def note(signum: int, frame: FrameType | None) -> None:
        caught.append((signum, frame))

    signal.signal(signal.SIGINT, note)
    try:
        fn()
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            previous(*caught[0])

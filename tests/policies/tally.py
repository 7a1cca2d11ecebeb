"""Counting, logging and gating through files, so that a task body tells the test what it did
wherever it ran: a worker thread, the run's event loop or a Dask worker process.

A *counter* counts calls (attempts of one task never overlap); a *log* keeps one JSON value a
line, in the order written; a *gate* is a file whose existence lets a waiting body return (the
test, or the ``backend`` fixture's teardown, creates it). Bodies waiting at a gate write
``"started"`` before and ``"left"`` after (also when cancelled) to the gate's log
(:func:`marks_of`), and ``"returned"`` only if the gate opened.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

#: Seconds a body waits at a closed gate before it gives up and returns anyway (no test needs a
#: body blocked that long; the limit only bounds a leak if a test forgot to open its gate).
GATE_LIMIT = 120.0
#: Seconds between two looks at a gate.
POLL = 0.01


def bump(counter: str) -> int:
    """Count one call in the file ``counter``; the count so far. The new count replaces the
    file whole (``os.replace``), so a test reading it meanwhile sees the old count or the new
    one, never the empty file a rewrite in place leaves for a moment."""
    path = Path(counter)
    n = count(path) + 1
    fresh = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}")
    fresh.write_text(str(n))
    os.replace(fresh, path)
    return n


def count(counter: str | Path) -> int:
    path = Path(counter)
    return int(path.read_text()) if path.exists() else 0


def note(log: str, value: Any) -> None:
    """Append ``value`` (JSON) to the file ``log``, one line (one write: O_APPEND keeps lines
    whole when two processes write at once)."""
    line = (json.dumps(value) + "\n").encode()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def notes(log: str | Path) -> list[Any]:
    """The values noted in ``log`` so far (a line still being written is not one yet)."""
    path = Path(log)
    if not path.exists():
        return []
    text = path.read_text()
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


def marks_of(gate: str | Path) -> str:
    """The log where bodies waiting at ``gate`` note ``started``, ``returned`` and ``left``."""
    return f"{gate}.marks"


def bodies_of(gate: str | Path) -> str:
    """The log where bodies waiting at ``gate`` note ``["at", pid]`` and ``["left", pid]``: the
    process each runs in, so a body whose worker process was stopped counts as gone."""
    return f"{gate}.bodies"


def still_at(gate: str | Path) -> list[int]:
    """The processes of bodies that came to ``gate`` and have not left it, leaving out those
    whose process no longer exists (a worker stopped at a timeout or a cancel)."""
    waiting: list[int] = []
    for what, pid in notes(bodies_of(gate)):
        if what == "at":
            waiting.append(pid)
        else:
            waiting.remove(pid)
    return [pid for pid in waiting if _alive(pid)]


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (the pool reaps a worker it stops, so none lingers)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def gate_open(gate: str) -> bool:
    return os.path.exists(gate)


def open_gate(gate: str | Path) -> None:
    Path(gate).touch()


def wait_for_gate(gate: str) -> bool:
    """Block until the file ``gate`` exists (True) or :data:`GATE_LIMIT` passed (False)."""
    end = time.monotonic() + GATE_LIMIT
    while not gate_open(gate):
        if time.monotonic() > end:
            return False
        time.sleep(POLL)
    return True


async def await_gate(gate: str) -> bool:
    """:func:`wait_for_gate` for a coroutine: the loop keeps running the others meanwhile."""
    import asyncio

    end = time.monotonic() + GATE_LIMIT
    while not gate_open(gate):
        if time.monotonic() > end:
            return False
        await asyncio.sleep(POLL)
    return True

"""Tasks that count their calls, for tests that must tell a task body that ran from one whose
stored result was reused (caching, restart, import). Each test module clears :data:`calls` in
an autouse fixture; the lock makes the count exact with workers calling at the same time."""

from __future__ import annotations

import threading
from collections import Counter

from ferroflow import task

#: How often each body ran, by task name.
calls: Counter[str] = Counter()
_lock = threading.Lock()


def called(name: str) -> None:
    with _lock:
        calls[name] += 1


@task
def add(x: int, y: int) -> int:
    called("add")
    return x + y


@task
def double(x: int) -> int:
    called("double")
    return 2 * x


@task
def gather(**values: int) -> int:
    called("gather")
    return sum(values.values())

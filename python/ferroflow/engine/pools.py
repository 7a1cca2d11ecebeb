"""Worker pools, started once and reused across runs.

Starting threads (and giving each its persistent Python thread state) costs far more than a
small graph's run, so pools are cached per size. A run that finds the pool busy (a run started
from inside a task, or from another thread) gets a private pool that is shut down afterwards.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import ferroflow._core as _core

__all__ = ["default_workers", "lease_pool"]

_lock = threading.Lock()
_idle: dict[int, _core.Pool] = {}
_all: list[_core.Pool] = []
_orphans: list[_core.Pool] = []  # pools inherited through fork: their threads do not exist


def default_workers() -> int:
    """One worker per core, or ``$FERROFLOW_WORKERS``."""
    env = os.environ.get("FERROFLOW_WORKERS")
    if env:
        return max(1, int(env))
    return os.cpu_count() or 1


@contextmanager
def lease_pool(workers: int | None = None) -> Iterator[_core.Pool]:
    """Borrow a pool of ``workers`` threads for the duration of one run."""
    size = workers if workers is not None else default_workers()
    if size < 1:
        raise ValueError(f"max_workers must be at least 1, got {size}")
    with _lock:
        pool = _idle.pop(size, None)
    temporary = False
    if pool is None:
        pool = _core.Pool(size)
        with _lock:
            if size in _idle or any(p.size == size for p in _all):
                temporary = True  # the cached one is busy: this one is private
            else:
                _all.append(pool)
    try:
        yield pool
    finally:
        if temporary:
            pool.shutdown()
        else:
            with _lock:
                _idle[size] = pool


def _shutdown_all() -> None:
    with _lock:
        pools = list(_all)
        _all.clear()
        _idle.clear()
    for pool in pools:
        pool.shutdown()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    _orphans.extend(_all)  # never join threads that only existed in the parent
    _all.clear()
    _idle.clear()


atexit.register(_shutdown_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

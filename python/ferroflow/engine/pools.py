"""Worker pools, started once and reused across runs.

Starting threads (and giving each its persistent Python thread state) costs far more than a
small graph's run, so pools are cached per size. A run that finds the pool busy (a run started
from inside a task, or from another thread) gets a private pool that is shut down afterwards.

Only the :data:`KEEP` most recently used sizes stay cached: runs with ever new ``max_workers``
would otherwise pile up a pool of threads per size (821 threads after 39 runs). A size outside
``1..MAX_WORKERS`` (``max_workers=`` or ``$FERROFLOW_WORKERS``) is refused with a message
saying so, before any thread starts: a million threads would not run a graph faster, they
would exhaust the process.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import ferroflow._core as _core

__all__ = ["KEEP", "MAX_WORKERS", "default_workers", "lease_pool"]

#: pool sizes kept warm between runs (the least recently used one beyond is shut down)
KEEP = 2
#: the most worker threads one pool may have (far beyond any core count this engine meets)
MAX_WORKERS = 1024

_lock = threading.Lock()
_idle: dict[int, _core.Pool] = {}
_all: list[_core.Pool] = []
_orphans: list[_core.Pool] = []  # pools inherited through fork: their threads do not exist


def _checked(workers: object, source: str) -> int:
    """``workers`` as a pool size, or ValueError naming ``source`` and the allowed range."""
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise ValueError(f"{source} must be a whole number of threads, got {workers!r}")
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(
            f"{source} must be between 1 and {MAX_WORKERS} worker threads, got {workers}"
        )
    return workers


def default_workers() -> int:
    """One worker per core (at most :data:`MAX_WORKERS`), or ``$FERROFLOW_WORKERS``."""
    env = os.environ.get("FERROFLOW_WORKERS")
    if env:
        try:
            value: object = int(env)
        except ValueError:
            value = env
        return _checked(value, "$FERROFLOW_WORKERS")
    return min(_cores(), MAX_WORKERS)


@cache
def _cores() -> int:
    """The machine's core count, read once: ``os.cpu_count`` reads ``/sys`` at each call, which
    every run without ``max_workers`` paid for."""
    return os.cpu_count() or 1


@contextmanager
def lease_pool(workers: int | None = None) -> Iterator[_core.Pool]:
    """Borrow a pool of ``workers`` threads for the duration of one run."""
    size = _checked(workers, "max_workers") if workers is not None else default_workers()
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
            _release(pool)


def _release(pool: _core.Pool) -> None:
    """Cache ``pool`` as its size's idle pool, and shut down the least recently used idle
    pools beyond :data:`KEEP` sizes."""
    retired: list[_core.Pool] = []
    with _lock:
        if not any(p is pool for p in _all):
            # forgotten meanwhile (a fork: its threads may be the parent's): never joined
            _orphans.append(pool)
        else:
            _all.remove(pool)
            _all.append(pool)  # most recently used last
            _idle[pool.size] = pool
            for old in list(_all):
                if len(_all) <= KEEP:
                    break
                if _idle.get(old.size) is old:  # idle: retire it (a busy one stays)
                    _all.remove(old)
                    del _idle[old.size]
                    retired.append(old)
    for old in retired:
        old.shutdown()


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

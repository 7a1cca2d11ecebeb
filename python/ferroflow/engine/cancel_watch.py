"""The watcher that lets ``ferroflow runs cancel PK`` stop a run of this process.

``runs cancel`` writes a row to the store's ``cancel_request`` table (:mod:`..store.cancels`).
One daemon thread per process reads that table every :data:`~..store.cancels.POLL_SECONDS`
while this process has runs in progress, and for a run asked to stop calls the same cancel
the core uses for Ctrl-C and ``run(timeout=)`` (``Run.cancel``): the run then ends CANCELLED
with its finished results stored, as after Ctrl-C.

Why one shared thread and not one per run: a run costs a dictionary entry to watch (many small
runs pay nothing measurable), the thread sleeps on a condition when nothing is watched, and one
read of the (tiny) table serves every run of a store. A read that fails (the store was closed
or its file is busy) is simply tried again at the next poll. After ``fork()`` the child starts
with nothing watched and no thread (the parent's thread does not exist there).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

from ..store import Store
from ..store.cancels import POLL_SECONDS

__all__ = ["watching"]

log = logging.getLogger("ferroflow.engine")


class _Watcher:
    """The runs of this process that can be cancelled from outside, and the thread that
    polls for their cancel requests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        #: (id of the store, run pk) -> (store, the run's cancel)
        self.runs: dict[tuple[int, int], tuple[Store, Callable[[], None]]] = {}
        self.thread: threading.Thread | None = None
        #: the thread waits on ``changed`` (nothing watched): only then does ``add`` notify
        self.idle = False

    def add(self, store: Store, run_pk: int, cancel: Callable[[], None]) -> tuple[int, int]:
        key = (id(store), run_pk)
        with self.lock:
            self.runs[key] = (store, cancel)
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._loop, name="ferroflow-cancel-watch", daemon=True
                )
                self.thread.start()
            if self.idle:
                self.changed.notify()
        return key

    def remove(self, key: tuple[int, int]) -> None:
        with self.lock:
            self.runs.pop(key, None)

    def _loop(self) -> None:
        while True:
            with self.lock:
                while not self.runs:
                    self.idle = True
                    self.changed.wait()
                self.idle = False
            # the first read after a poll period: a run shorter than that is never read for
            self.poll_once(wait=POLL_SECONDS)

    def poll_once(self, wait: float = 0.0) -> None:
        """Sleep ``wait`` seconds, then read the requests of every
        store with watched runs and cancel the runs asked to stop."""
        if wait:
            time.sleep(wait)
        with self.lock:
            watched = list(self.runs.items())
        stores = {id(store): store for _, (store, _) in watched}
        for store_id, store in stores.items():
            try:
                requested = store.cancel_requests()
            except Exception as exc:  # closed or busy: try again at the next poll
                log.debug("%s: could not read cancel requests: %s", store.path, exc)
                continue
            for key, (_, cancel) in watched:
                if key[0] == store_id and key[1] in requested:
                    with self.lock:
                        still = self.runs.pop(key, None) is not None
                    if still:
                        log.info("run %d: cancelled by `ferroflow runs cancel`", key[1])
                        cancel()


_watcher = _Watcher()


def _forget_after_fork() -> None:
    global _watcher
    _watcher = _Watcher()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


@contextlib.contextmanager
def watching(store: Store, run_pk: int, cancel: Callable[[], None]) -> Iterator[None]:
    """While the block runs, a cancel request for ``run_pk`` in ``store`` calls ``cancel``
    (within about :data:`POLL_SECONDS`)."""
    watcher = _watcher
    key = watcher.add(store, run_pk, cancel)
    try:
        yield
    finally:
        watcher.remove(key)

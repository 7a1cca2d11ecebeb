"""The stores this process has open, one per file.

Why a registry: two writers of one file in one process would only contend for its lock, so
``Store.open`` returns the instance already open for a path. A child made by ``os.fork()``
abandons what it inherited (the parent owns those connections and queued rows), and the
interpreter's exit closes, and so flushes, what is still open.

A store whose writer stopped on a fault of its file (:mod:`.faults`) is not handed out again:
it is closed and the file opened afresh. Closing it happens outside the registry's lock, since
closing leaves the registry (:func:`forget`) and the lock is not reentrant: holding it there
hung every later ``open`` of the path.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar, cast

__all__ = ["OpenStore", "forget", "get_or_open"]

log = logging.getLogger("ferroflow.store")


class OpenStore(Protocol):
    """What the registry needs of a store (``store.Store``, which imports this module)."""

    path: Path

    @property
    def closed(self) -> bool: ...

    @property
    def faulty(self) -> bool: ...

    def close(self) -> None: ...

    def abandon_faulty(self) -> None: ...

    def _abandon_after_fork(self) -> None: ...


S = TypeVar("S", bound=OpenStore)

_stores: dict[Path, OpenStore] = {}
_lock = threading.Lock()


def get_or_open(path: Path, make: Callable[[], S]) -> tuple[S, bool]:
    """The open store of resolved ``path``, or ``make()``'s, now registered; and whether it
    was made. One that stopped writing is closed first (its errors were raised already)."""
    while True:
        with _lock:
            store = _stores.get(path)
            if store is None or store.closed:
                made = _stores[path] = make()
                return made, True
            if not store.faulty:
                return cast(S, store), False  # (one class of store: the one that made it)
        with contextlib.suppress(Exception):
            store.abandon_faulty()


def forget(store: OpenStore) -> None:
    """``store`` is closing: ``open`` of its path makes a new one from now on."""
    with _lock:
        if _stores.get(store.path) is store:
            del _stores[store.path]


def _abandon_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # the parent may have held it while forking
    for store in list(_stores.values()):
        store._abandon_after_fork()
    _stores.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_abandon_in_child)


@atexit.register
def _close_all() -> None:
    """Flush and close every store still open when the interpreter exits."""
    with _lock:
        stores = list(_stores.values())
    for store in stores:
        try:
            store.close()
        except Exception:
            log.exception("closing provenance store %s at exit failed", store.path)

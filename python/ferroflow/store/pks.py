"""Handing out pks: blocks of consecutive pks reserved from the file's counter row, so pks are
unique in the file even when several processes write it at once (see ``store.py``'s module
docstring for the policy: block sizes, reserving ahead, giving the unused tail back)."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

from .. import _core
from ..errors import StoreClosedError, StoreError
from .checkpointer import WRITER_AUTOCHECKPOINT_PAGES
from .faults import busy_error
from .schema import configure_connection, release_pks, reserve_pks

__all__ = ["PkBlocks"]

log = logging.getLogger("ferroflow.store")

#: pk blocks: the first is _PK_BLOCK pks; a block that lasted less than _PK_GROW_WITHIN seconds
#: makes the following ones twice as large, up to _PK_BLOCK_MAX.
_PK_BLOCK = 4096
_PK_BLOCK_MAX = 1 << 20
_PK_GROW_WITHIN = 1.0


class _Reservation:
    """A block of pks being reserved by a helper thread (``block`` once ``done`` is set)."""

    __slots__ = ("block", "done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.block: tuple[int, int] | None = None
        self.error: BaseException | None = None


class PkBlocks:
    """The pk blocks of one open store. :attr:`stream` (Rust) hands out the current block's
    pks, one (``Store.new_pk``) or several consecutive ones (``reserve_pks``, a fast-lane
    task's) at a time; :meth:`_refill` switches blocks when it runs out."""

    def __init__(self, path: Path, durability: str) -> None:
        self.path = path
        self.durability = durability
        self._lock = threading.Lock()  # switching blocks
        self._conn: sqlite3.Connection | None = None  # opened by the first reservation
        self._conn_lock = threading.Lock()
        self._size = _PK_BLOCK  # size of the next block to reserve
        self._since = -1e9  # time.monotonic() when the last block was switched in
        self._spare: tuple[int, int] | None = None  # reserved ahead, not in use yet
        self._pending: _Reservation | None = None  # being reserved ahead
        self._top = 0  # end of the highest block this store reserved
        #: the block being handed out (Rust): ``take(n)`` gives ``n`` consecutive pks, to
        #: ``Store.new_pk`` and to the fast lane's submitter alike, so pks follow creation order
        self.stream = _core.PkStream(self._refill)
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the provenance store is closed; it hands out no more pks")

    def _refill(self, at_least: int) -> tuple[int, int]:
        """The stream ran out: the next block, of at least ``at_least`` pks (usually reserved
        ahead already); a block that lasted under a second makes the next ones larger."""
        with self._lock:
            self._check_open()
            now = time.monotonic()
            if now - self._since < _PK_GROW_WITHIN:
                self._size = min(2 * self._size, _PK_BLOCK_MAX)
            self._since = now
            return self._take(at_least)

    def _take(self, at_least: int) -> tuple[int, int]:
        """A fresh block of at least ``at_least`` pks; starts reserving the next one. Holds
        ``_pk_lock``."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.done.wait()
            if pending.block is not None:
                self._spare = pending.block
            else:
                log.warning("reserving pks ahead failed: %s", pending.error)
        spare = self._spare
        if spare is not None and spare[1] - spare[0] >= at_least:
            self._spare = None
            block = spare
        else:  # the first block, or a reserve_pks() larger than the spare: reserve it now
            block = self._reserve_block(max(at_least, self._size))
        if self._spare is None:
            reservation = self._pending = _Reservation()
            threading.Thread(
                target=self._reserve_ahead,
                args=(reservation, self._size),
                name=f"ferroflow-store-pks[{self.path.name}]",
                daemon=True,
            ).start()
        return block

    def _reserve_ahead(self, reservation: _Reservation, n: int) -> None:
        try:
            reservation.block = self._reserve_block(n)
        except BaseException as exc:
            reservation.error = exc
        finally:
            reservation.done.set()

    def _reserve_block(self, n: int) -> tuple[int, int]:
        """Reserve ``[first, first + n)`` in the file (one short IMMEDIATE transaction)."""
        with self._conn_lock:
            try:
                conn = self._conn
                if conn is None:
                    conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                    try:
                        configure_connection(conn, self.durability)
                        # a reservation commits here too: with SQLite's default it would copy
                        # the WAL (1,000 pages on) on this thread, in the way of a build waiting
                        # for its next block; the checkpointer thread does that (the backstop
                        # as the writer's, should it stop)
                        conn.execute(f"PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES}")
                    except BaseException:
                        conn.close()
                        raise
                    self._conn = conn
                first = reserve_pks(conn, n)
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    assert conn is not None  # (connecting never waits for the lock)
                    raise busy_error(self.path, conn, "could not reserve pks") from exc
                raise StoreError(f"{self.path}: could not reserve pks: {exc}") from exc
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: could not reserve pks: {exc}") from exc
            self._top = max(self._top, first + n)
            return first, first + n

    def _release(self) -> None:
        """At close: give back the unused pks at the top of the reserved range, if no other
        connection reserved after them, and close the pk connection."""
        with self._lock:
            pending, self._pending = self._pending, None
            if pending is not None:
                pending.done.wait()
                if pending.block is not None:
                    self._spare = pending.block
            unused = [self.stream.detach()]
            if self._spare is not None:
                unused.append(self._spare)
            self._spare = None
            with self._conn_lock:
                conn, self._conn = self._conn, None
                if conn is None:
                    return
                try:
                    low = top = self._top
                    changed = True
                    while changed:  # walk down through the contiguous unused tail
                        changed = False
                        for start, end in unused:
                            if start < end == low:
                                low, changed = start, True
                    if low < top:
                        conn.execute("PRAGMA busy_timeout = 1000")  # optional: never stall close
                        release_pks(conn, low, top)
                except sqlite3.Error as exc:  # only a gap is left
                    log.debug("giving back unused pks failed: %s", exc)
                finally:
                    conn.close()

    def close(self) -> None:
        """No more pks: give the unused tail back (when no other connection reserved after it)
        and close the pk connection."""
        self._closed = True
        self._release()

    def abandon(self) -> list[sqlite3.Connection]:
        """In a forked child: hand out nothing more; returns the parent's connection, to be
        kept referenced and never closed here."""
        self._closed = True
        self.stream.detach()
        self._lock = threading.Lock()
        self._conn_lock = threading.Lock()
        self._pending = None
        conn, self._conn = self._conn, None
        return [conn] if conn is not None else []

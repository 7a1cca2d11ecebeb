"""Handing out pks: blocks of consecutive pks reserved from the file's counter row, so pks are
unique in the file even when several processes write it at once (see ``store.py``'s module
docstring for the policy: block sizes, reserving ahead, giving the unused tail back)."""

from __future__ import annotations

import logging
import operator
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import StoreClosedError, StoreError
from .faults import busy_error
from .schema import configure_connection, release_pks, reserve_pks

__all__ = ["PkBlocks"]

log = logging.getLogger("ferroflow.store")

#: pk blocks: the first is _PK_BLOCK pks; a block that lasted less than _PK_GROW_WITHIN seconds
#: makes the following ones twice as large, up to _PK_BLOCK_MAX.
_PK_BLOCK = 4096
_PK_BLOCK_MAX = 1 << 20
_PK_GROW_WITHIN = 1.0
_NO_PKS: Iterator[int] = iter(())


class _Reservation:
    """A block of pks being reserved by a helper thread (``block`` once ``done`` is set)."""

    __slots__ = ("block", "done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.block: tuple[int, int] | None = None
        self.error: BaseException | None = None


class PkBlocks:
    """The pk blocks of one open store. ``iter`` hands out the current block's pks (the hot
    path: ``next(iter)``); :meth:`next_block` switches blocks, :meth:`reserve` serves
    ``Store.reserve_pks``."""

    def __init__(self, path: Path, durability: str) -> None:
        self.path = path
        self.durability = durability
        self.iter: Iterator[int] = _NO_PKS
        self._lock = threading.Lock()  # switching blocks, reserve()
        self._conn: sqlite3.Connection | None = None  # opened by the first reservation
        self._conn_lock = threading.Lock()
        self._size = _PK_BLOCK  # size of the next block to reserve
        self._iter_stop = 0  # end of the block ``iter`` hands out
        self._iter_since = -1e9  # time.monotonic() when it was switched in
        self._batch = [0, 0]  # reserve(): next free pk and end of its block
        self._batch_since = -1e9
        self._spare: tuple[int, int] | None = None  # reserved ahead, not in use yet
        self._pending: _Reservation | None = None  # being reserved ahead
        self._top = 0  # end of the highest block this store reserved
        self._closed = False

    def reserve(self, n: int) -> int:
        """Reserve ``n`` consecutive pks and return the first (``first .. first + n - 1``).

        For handing pks to a batch of tasks at once; thread-safe, and unique in the file like
        :meth:`new_pk` (the two draw from different blocks, so their pks interleave).
        """
        n = operator.index(n)
        if n < 1:
            raise ValueError(f"reserve_pks() needs n >= 1, not {n}")
        with self._lock:
            self._check_open()
            batch = self._batch
            first = batch[0]
            if batch[1] - first < n:
                now = time.monotonic()
                if now - self._batch_since < _PK_GROW_WITHIN:
                    self._size = min(2 * self._size, _PK_BLOCK_MAX)
                first, batch[1] = self._take(n)
                self._batch_since = now
            batch[0] = first + n
            return first

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the provenance store is closed; it hands out no more pks")

    def next_block(self) -> int:
        """new_pk() ran out of its block: switch to the next one (usually reserved already)."""
        with self._lock:
            self._check_open()
            try:  # another thread may have switched while this one waited for the lock
                return next(self.iter)
            except StopIteration:
                pass
            now = time.monotonic()
            if now - self._iter_since < _PK_GROW_WITHIN:
                self._size = min(2 * self._size, _PK_BLOCK_MAX)
            start, stop = self._take(1)
            pks = iter(range(start, stop))
            pk = next(pks)
            self._iter_stop = stop
            self._iter_since = now
            self.iter = pks
            return pk

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
            pks, self.iter = self.iter, _NO_PKS
            stop = self._iter_stop
            unused = [(stop - operator.length_hint(pks), stop), tuple(self._batch)]
            if self._spare is not None:
                unused.append(self._spare)
            self._spare = None
            self._batch = [0, 0]
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
        self.iter = _NO_PKS
        self._lock = threading.Lock()
        self._conn_lock = threading.Lock()
        self._pending = None
        conn, self._conn = self._conn, None
        return [conn] if conn is not None else []

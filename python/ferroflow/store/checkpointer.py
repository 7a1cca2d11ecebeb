"""WAL checkpoints on a thread and connection of their own, so that the store's writer never
pauses for one.

In WAL mode every commit appends pages to the ``-wal`` file; a *checkpoint* copies them into the
database file and syncs it, after which SQLite reuses the WAL from its start. By default the
connection that commits runs one whenever the WAL has passed 1,000 pages, in the middle of its
writing. With provenance on, the writer is what bounds a big run, and those checkpoints (a copy
of every page and two syncs each) were a tenth of its time and more of its waiting. The
:class:`Checkpointer` runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection once the
writer has committed :data:`ROWS_PER_CHECKPOINT` rows since the last one, or when
:data:`IDLE_SECONDS` passed with fewer committed: a passive checkpoint neither waits for nor
blocks the writer or any reader, in this process or another.

The writer keeps SQLite's own automatic checkpoint as a backstop, at
:data:`WRITER_AUTOCHECKPOINT_PAGES`. SQLite restarts the WAL from its start only once a
checkpoint has copied all of it, and a writer committing without pause leaves no moment for
that: the file grows until the writer pauses (between runs) or reaches that size, where the
writer's own checkpoint finds little left to copy.

What a checkpoint cannot do (a reader in another connection still reads older pages, the disk
is full) is never an error of the store: what it left is copied at the next wake, and the WAL
keeps every committed row meanwhile (``-wal`` is part of the store until a checkpoint has copied
it; SQLite reads through it). A checkpoint that *fails* (the file cannot grow: a full disk, an
I/O error) is logged once as a warning, since nothing else would say so until the WAL itself
can no longer grow and the writer reports the fault.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

__all__ = ["IDLE_SECONDS", "ROWS_PER_CHECKPOINT", "WRITER_AUTOCHECKPOINT_PAGES", "Checkpointer"]

log = logging.getLogger("ferroflow.store")

#: committed rows after which the checkpointer is woken (~2–4 MB of WAL for packed task runs)
ROWS_PER_CHECKPOINT = 10_000
#: how long the checkpointer waits before copying what fewer rows left in the WAL
IDLE_SECONDS = 1.0
#: the writer connection's ``wal_autocheckpoint`` (pages of 4 KiB: 64 MiB), SQLite's 1,000
#: being the default
WRITER_AUTOCHECKPOINT_PAGES = 16_384


class Checkpointer:
    """A daemon thread copying the WAL of the store at ``path`` into its database file."""

    def __init__(self, path: Path, name: str) -> None:
        # mode=rw: a store file deleted meanwhile is never made again, empty, by this thread
        self._uri = Path(path).resolve().as_uri() + "?mode=rw"
        self._pending = 0  # rows committed since the last checkpoint (a lost += only delays one)
        self._stopping = False
        self._wake = threading.Event()
        #: checkpoints run so far, and the error of the first that failed (tests read them)
        self.checkpoints = 0
        self.failed: str | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def committed(self, rows: int) -> None:
        """The writer committed ``rows`` rows (called on the writer's thread after a commit)."""
        self._pending += rows
        if self._pending >= ROWS_PER_CHECKPOINT:
            self._wake.set()

    def stop(self) -> None:
        """Stop the thread, after the checkpoint it may be running."""
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._uri, uri=True, isolation_level=None)
        except sqlite3.Error as exc:  # the writer's backstop checkpoints then
            log.debug("no checkpoint connection to %s: %s", self._uri, exc)
            return
        try:
            conn.execute("PRAGMA busy_timeout = 0")
            while True:
                self._wake.wait(IDLE_SECONDS)
                self._wake.clear()
                if self._stopping:
                    return
                if not self._pending:
                    continue
                self._pending = 0
                try:
                    ((_, frames, copied),) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    self.checkpoints += 1
                    if copied < frames:  # a reader's snapshot or newer commits: copy again
                        self._pending += 1
                except sqlite3.Error as exc:  # disk full, an I/O error
                    if self.failed is None:
                        self.failed = str(exc)
                        log.warning(
                            "%s: copying the WAL into the store file failed (%s); committed "
                            "rows stay safe in the -wal file, which grows until the disk has room",
                            self._uri.removesuffix("?mode=rw"),
                            exc,
                        )
                    else:
                        log.debug("wal checkpoint of %s failed: %s", self._uri, exc)
        finally:
            conn.close()

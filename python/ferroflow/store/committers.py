"""The two ways a batch of prepared rows is committed: in Rust through Python's own SQLite
library (detached), or with Python's ``sqlite3`` where that library cannot be proven to be
Python's.

Both take a ``_core.PreparedBatch`` and return the rows they could not write, each with the
exception Python's ``sqlite3`` would have raised, so that :mod:`.writer` reports failures the
same way whichever committed. A failing batch is rolled back and replayed one statement at a
time, so the good rows still land; a fault of the file itself (see :mod:`.faults`) loses the
batch whole instead.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any

from .. import _core
from . import schema
from .faults import is_fatal
from .rows import STATEMENTS

__all__ = ["Failures", "FfiCommitter", "PythonCommitter", "make_committer"]

log = logging.getLogger("ferroflow.store")

Row = tuple[Any, ...]
#: The FFI connection's page cache (KiB): it only appends, so the pages it rereads are the
#: right edges of the B-trees it inserts into. The store's 64 MiB (for reads) filled here too,
#: ~55 B per task at a million tasks; 16 MiB measured as fast (``benches/README.md``).
FFI_CACHE_KIB = 4_096
#: (what could not be written, why) for each row a commit left out.
Failures = list[tuple[str, BaseException]]

#: SQLite's default length limit (``SQLITE_MAX_LENGTH``), where Python cannot read the
#: connection's own (``Connection.getlimit`` is new in 3.11).
_DEFAULT_MAX_LENGTH = 1_000_000_000


def _sql_error(message: str) -> sqlite3.Error:
    """The ``sqlite3`` exception Python's module would have raised for ``message``."""
    if "constraint failed" in message:
        return sqlite3.IntegrityError(message)
    if "too big" in message:
        return sqlite3.DataError(message)
    return sqlite3.DatabaseError(message)


class FfiCommitter:
    """Commits in Rust, detached, through the SQLite library ``_sqlite3`` itself uses."""

    name = "ffi"

    def __init__(self, conn: _core.SqliteConnection) -> None:
        self._conn = conn

    def commit(self, batch: _core.PreparedBatch) -> Failures:
        return [(what, _sql_error(message)) for what, message in batch.commit(self._conn)]

    def max_length(self) -> int:
        """The longest string or blob, in bytes, the connection accepts."""
        return self._conn.limit_length()

    def limit_length(self, limit: int) -> None:
        self._conn.limit_length(limit)

    def close(self) -> None:
        self._conn.close()  # checkpoints too


class PythonCommitter:
    """Commits with Python's ``sqlite3`` on the store's write connection."""

    name = "python"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._max_length = _DEFAULT_MAX_LENGTH  # before 3.11: the limit cannot be read or set

    def max_length(self) -> int:
        """The longest string or blob, in bytes, the connection accepts."""
        if sys.version_info >= (3, 11):
            return self._conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH)
        return self._max_length

    def limit_length(self, limit: int) -> None:
        if sys.version_info >= (3, 11):
            self._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limit)
        else:
            self._max_length = min(limit, self._max_length)

    def commit(self, batch: _core.PreparedBatch) -> Failures:
        blobs, nodes, updates, links, statements = batch.params()
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            stored = [self._put_blob(blob) for blob in blobs]
            conn.executemany(STATEMENTS["node"], [_with_blob_id(row, stored) for row in nodes])
            conn.executemany(STATEMENTS["update"], updates)
            conn.executemany(STATEMENTS["link"], links)
            for sql, params in statements:
                conn.execute(sql, params)
            conn.execute("COMMIT")
            return []
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if is_fatal(str(exc)):  # the file's fault: the batch is lost whole (see .faults)
                return [(f"batch of {len(batch)} rows lost", exc)]
        # Replay one statement at a time, keeping every row that can be kept.
        failures: Failures = []
        missing: set[int] = set()  # nodes not written: links to them would dangle

        def run(what: str, sql: str, params: Row) -> None:
            try:
                conn.execute(sql, params)
            except Exception as exc:
                failures.append((what, exc))

        try:
            conn.execute("BEGIN IMMEDIATE")
            ids: list[int | None] = []
            for blob in blobs:
                try:
                    ids.append(self._put_blob(blob))
                except Exception as exc:
                    failures.append((f"blob {blob[0].hex()[:16]}", exc))
                    ids.append(None)
            for row in nodes:
                n = len(failures)
                try:
                    run(f"node pk={row[0]}", STATEMENTS["node"], _with_blob_id(row, ids))
                except LookupError as exc:
                    failures.append((f"node pk={row[0]}", exc))
                if len(failures) > n:
                    missing.add(row[0])
            for row in updates:
                run(f"update of pk={row[3]}", STATEMENTS["update"], row)
            for row in links:
                gone = [pk for pk in row[:2] if pk in missing]
                if gone:
                    failures.append(
                        (
                            f"link {row[0]}->{row[1]}",
                            LookupError(f"node pk={gone[0]} was not written"),
                        )
                    )
                    continue
                run(f"link {row[0]}->{row[1]}", STATEMENTS["link"], row)
            for sql, params in statements:
                run(f"statement {sql}", sql, params)
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failures.append((f"batch of {len(batch)} rows lost", exc))
        return failures

    def _put_blob(self, blob: tuple[bytes, int, str, bytes]) -> int:
        self._conn.execute(STATEMENTS["blob"], blob)
        return int(self._conn.execute(STATEMENTS["blob_id"], blob[:1]).fetchone()[0])

    def close(self) -> None:
        pass  # the connection is the writer's; it closes it


def _with_blob_id(row: Row, ids: Sequence[int | None]) -> Row:
    """A node row whose last column, the index of its blob in the batch, becomes the blob's id."""
    index = row[-1]
    if index is None:
        return row
    blob_id = ids[index]
    if blob_id is None:
        raise LookupError(f"blob of node pk={row[0]} was not stored")
    return (*row[:-1], blob_id)


def make_committer(
    conn: sqlite3.Connection, durability: str, pragmas: Sequence[str] = ()
) -> FfiCommitter | PythonCommitter:
    """The FFI committer where the SQLite library can be proven to be Python's, else Python's
    (on ``conn``); ``pragmas`` are run on the committing connection after the store's own."""

    def python() -> PythonCommitter:
        for pragma in pragmas:
            conn.execute(pragma)
        return PythonCommitter(conn)

    if os.environ.get("FERROFLOW_PY_WRITER") == "1":
        return python()
    path = next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "")
    if not path:
        return python()  # an in-memory database: only this connection sees it
    extension = getattr(sys.modules.get("_sqlite3"), "__file__", None)
    if extension is None:  # built into the interpreter: no library to find
        log.info("store writer commits through Python's sqlite3: _sqlite3 has no file")
        return python()
    major, minor, patch = sqlite3.sqlite_version_info
    version = major * 1_000_000 + minor * 1_000 + patch
    try:
        ffi = _core.SqliteConnection(
            extension,
            version,
            path,
            [
                *schema.connection_pragmas(durability),
                f"PRAGMA cache_size = -{FFI_CACHE_KIB}",
                *pragmas,
            ],
        )
    except RuntimeError as exc:
        log.info("store writer commits through Python's sqlite3: %s", exc)
        return python()
    return FfiCommitter(ffi)

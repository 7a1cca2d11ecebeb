"""Opening an AiiDA archive written by someone else, as hostile data.

An archive is a zip (:mod:`.aiida_format`) with a SQLite database inside, and both can be
crafted to do harm: a zip path like ``../../.bashrc``, a member that inflates to terabytes, a
database whose "tables" are views calling functions, a repository key that is a path. So:

* **Nothing is extracted by its own name.** Only three kinds of member are ever read, by names
  this module builds: ``metadata.json``, ``db.sqlite3`` and ``repo/<64 hex digits>`` (a key
  that is not 64 hex digits is refused, so it cannot be a path). The database is copied to a
  fixed name inside a private temporary directory, deleted afterwards; other members are read
  into memory.
* **Sizes are bounded by what is read, not what the zip claims.** Every member is read in
  chunks and refused (:class:`~ferroflow.errors.ImportFormatError`) as soon as it passes its
  limit (:data:`MAX_METADATA`, :data:`MAX_DB`, :data:`MAX_FILE`), so a zip bomb costs at most
  the limit; so is a zip with more than :data:`MAX_MEMBERS` members.
* **The database is only read.** It is opened read-only with ``trusted_schema`` off (no
  function in a view or trigger of the file runs), ``db_dbnode`` and ``db_dblink`` must be
  real tables with the columns read, and only plain ``SELECT`` s of those columns are run.
* **Checksums are checked.** A repository file must hash to its key.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any

from ..errors import ImportFormatError
from .aiida_format import DB_NAME, EXPORT_VERSION, META_NAME, REPO_PREFIX

__all__ = ["MAX_DB", "MAX_FILE", "MAX_MEMBERS", "MAX_METADATA", "Archive", "is_zip"]

MAX_METADATA = 1 << 20  # 1 MiB
MAX_DB = 4 << 30  # 4 GiB
MAX_FILE = 1 << 30  # 1 GiB per repository file
MAX_MEMBERS = 10_000_000
_CHUNK = 1 << 20
_KEY = re.compile(r"[0-9a-f]{64}")
_COLUMNS = {
    "db_dbnode": (
        "id", "uuid", "node_type", "process_type", "label", "description", "ctime", "mtime",
        "attributes", "extras", "repository_metadata",
    ),
    "db_dblink": ("input_id", "output_id", "label", "type"),
}  # fmt: skip


def is_zip(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` starts like a zip (an AiiDA archive) rather than a JSON export."""
    try:
        with open(path, "rb") as fp:
            return fp.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _copy(source: IO[bytes], target: IO[bytes], limit: int, what: str) -> None:
    copied = 0
    while chunk := source.read(_CHUNK):
        copied += len(chunk)
        if copied > limit:
            raise ImportFormatError(f"{what} is larger than {limit} bytes")
        target.write(chunk)


class Archive:
    """An open archive: ``metadata``, the read-only ``conn`` and :meth:`repo_file`.

    Use as a context manager (the temporary copy of the database is deleted on exit).
    """

    def __init__(self, path: str | Path) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ImportFormatError(f"not an AiiDA archive (a zip file): {exc}") from None
        self.tmp = Path(tempfile.mkdtemp(prefix="ferroflow-aiida-import-"))
        try:
            if len(self.zip.infolist()) > MAX_MEMBERS:
                raise ImportFormatError(f"the archive has more than {MAX_MEMBERS} members")
            self.metadata = self._metadata()
            self.conn = self._database()
        except BaseException:
            self.close()
            raise

    def _read(self, name: str, limit: int) -> bytes:
        try:
            with self.zip.open(name) as member:
                data = member.read(limit + 1)
        except KeyError:
            raise ImportFormatError(f"the archive has no {name}") from None
        except (
            zipfile.BadZipFile,
            OSError,
            ValueError,
            EOFError,
            RuntimeError,
            NotImplementedError,
        ) as exc:
            raise ImportFormatError(f"cannot read {name} from the archive: {exc}") from None
        if len(data) > limit:
            raise ImportFormatError(f"{name} is larger than {limit} bytes")
        return data

    def _metadata(self) -> dict[str, Any]:
        try:
            metadata = json.loads(self._read(META_NAME, MAX_METADATA))
        except (ValueError, RecursionError) as exc:
            raise ImportFormatError(f"{META_NAME} is not JSON: {exc}") from None
        if not isinstance(metadata, dict):
            raise ImportFormatError(f"{META_NAME} is not a JSON object")
        version = metadata.get("export_version")
        if version != EXPORT_VERSION:
            raise ImportFormatError(
                f"AiiDA archive version {version!r}; ferroflow reads {EXPORT_VERSION!r} "
                f"(`verdi archive migrate` converts an older archive)"
            )
        return metadata

    def _database(self) -> sqlite3.Connection:
        target = self.tmp / "archive.sqlite3"  # a fixed name: never the zip's own paths
        try:
            with self.zip.open(DB_NAME) as member, open(target, "wb") as fp:
                _copy(member, fp, MAX_DB, DB_NAME)
        except KeyError:
            raise ImportFormatError(f"the archive has no {DB_NAME}") from None
        except (zipfile.BadZipFile, ValueError, EOFError, RuntimeError, NotImplementedError) as exc:
            raise ImportFormatError(f"cannot read {DB_NAME} from the archive: {exc}") from None
        conn = sqlite3.connect(f"{target.as_uri()}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA trusted_schema = OFF")
            conn.execute("PRAGMA cell_size_check = ON")
            for table, columns in _COLUMNS.items():
                row = conn.execute(
                    "SELECT type FROM sqlite_master WHERE name = ?", (table,)
                ).fetchone()
                if row is None or row[0] != "table":
                    raise ImportFormatError(f"{DB_NAME} has no table {table}")
                found = {info[1] for info in conn.execute(f"PRAGMA table_info({table})")}
                missing = [column for column in columns if column not in found]
                if missing:
                    raise ImportFormatError(f"{DB_NAME}: {table} lacks {', '.join(missing)}")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise ImportFormatError(f"{DB_NAME} is not a readable SQLite database: {exc}") from None
        except BaseException:
            conn.close()
            raise
        return conn

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of ``db_dbnode`` or ``db_dblink`` (the columns of :data:`_COLUMNS`)."""
        columns = ", ".join(_COLUMNS[table])
        try:
            return self.conn.execute(f"SELECT {columns} FROM {table} ORDER BY id").fetchall()
        except sqlite3.DatabaseError as exc:
            raise ImportFormatError(f"{DB_NAME}: cannot read {table}: {exc}") from None

    def repo_file(self, key: Any, where: str) -> bytes:
        """The repository file ``key`` (its sha256), checked against its key."""
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ImportFormatError(f"{where}: repository key {key!r} is not a sha256 hex digest")
        data = self._read(REPO_PREFIX + key, MAX_FILE)
        if hashlib.sha256(data).hexdigest() != key:
            raise ImportFormatError(f"{where}: repository file {key} does not match its key")
        return data

    def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()
        self.zip.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

"""Files and folders only their owner can read, whatever the umask.

Why: the store holds every input and output of every run, and an export holds a run's; on a
shared machine a 0644 file is readable by every user. So ferroflow creates its profile folder,
its store (and with it SQLite's ``-wal``/``-shm`` files, which SQLite creates with the main
file's mode) and every file an export writes 0600, their folders 0700. The mode is given to
``os.open``/``mkdir`` and set again with ``chmod`` before any data is written, because the umask
can only take bits away and a permissive one (``000``) must not widen anything either. Files and
folders that already exist keep the mode their owner gave them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "create_private_file",
    "open_private",
    "private_dir",
    "replace_privately",
]

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` and its missing parents 0700; folders that exist are left as they are."""
    target = Path(path)
    missing: list[Path] = []
    current = target
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # another process made it first: its mode is its own
        os.chmod(folder, DIR_MODE)
    if not target.is_dir():
        raise NotADirectoryError(f"{target} is not a directory")
    return target


def open_private(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> IO[Any]:
    """``open(path, mode)`` for writing (``"w"``, ``"wb"``, ``"x"``, ``"xb"``) that creates or
    truncates the file 0600 before anything is written to it."""
    if mode not in ("w", "wb", "x", "xb"):
        raise ValueError(f"open_private writes: mode {mode!r} is not one of w, wb, x, xb")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    if mode.startswith("x"):
        flags |= os.O_EXCL
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode.replace("x", "w"), **kwargs)
    except BaseException:
        os.close(fd)
        raise


@contextmanager
def replace_privately(
    path: str | os.PathLike[str], mode: str = "w", **kwargs: Any
) -> Iterator[IO[Any]]:
    """Write ``path`` whole or not at all: the block writes a new 0600 file beside it, which
    replaces ``path`` when the block ends and is removed if it raises.

    The file beside it gets a fresh random name and is created exclusively (``mkstemp``), never
    opened by a name known in advance: whoever can write to the folder could otherwise plant a
    link at that name and have the export truncate and overwrite the file it points to. The
    rename replaces ``path`` itself, a link at ``path`` included, and never follows it.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"replace_privately writes: mode {mode!r} is not w or wb")
    target = Path(path)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    try:
        os.fchmod(fd, FILE_MODE)
        fp = os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise
    try:
        with fp:
            yield fp
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def create_private_file(path: str | os.PathLike[str]) -> bool:
    """Create an empty ``path`` 0600 unless it exists (then it is left alone); returns whether
    it was created. SQLite opens the file afterwards and keeps its mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return True

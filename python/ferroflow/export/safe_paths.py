"""File names an export builds from stored data, made safe and kept inside the target.

Why: a run may come from someone else's export file (``ferroflow import``), so a type name or
label in the store is data an attacker chose. An export that used it as a path could write
``../../evil.py`` next to the user's code. Every name a multi-file export (the RO-Crate) writes
is therefore built from ``[A-Za-z0-9._-]`` only, never starts with ``.`` or ``-``, is at most
:data:`MAX_NAME` characters, is unique in its folder (case-insensitively), and its resolved path
is checked to lie inside the target before the file is opened; zip entry names are relative,
``/``-separated and free of ``..``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO, Any

from ..errors import UnsafeExportPathError
from ..store.private import open_private, private_dir

__all__ = ["MAX_NAME", "TargetFolder", "check_arcname", "safe_name"]

#: Longest file name an export writes (well under every file system's 255 bytes).
MAX_NAME = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, suffix: str = "", fallback: str = "file") -> str:
    """``text`` as a file name: other characters become ``_``, no leading ``.``/``-``, at most
    :data:`MAX_NAME` characters with ``suffix`` (``.py``, say) kept."""
    if _UNSAFE.search(suffix) or len(suffix) >= MAX_NAME // 2:
        raise ValueError(f"unsafe suffix {suffix!r}")
    stem = _UNSAFE.sub("_", text).lstrip(".-")[: MAX_NAME - len(suffix)]
    return (stem or fallback) + suffix


def check_arcname(name: str) -> str:
    """``name`` if it is a safe zip entry name (relative, ``/``-separated, no ``..``)."""
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\0" in name
        or ":" in name
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise UnsafeExportPathError(f"refusing to write zip entry {name!r}")
    return name


class TargetFolder:
    """The folder an export writes into, handing out safe, unique, contained paths."""

    def __init__(self, root: Path) -> None:
        self.root = private_dir(root).resolve()
        self._taken: dict[str, set[str]] = {}

    def claim(self, folder: str, text: str, suffix: str = "") -> str:
        """A new relative path ``folder/<safe name of text><suffix>`` (``folder`` is one of the
        export's own fixed names), unique in ``folder``: ``name``, ``name-2``, …"""
        base = safe_name(text, suffix)
        stem = base[: len(base) - len(suffix)] if suffix else base
        taken = self._taken.setdefault(folder, set())
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            tail = f"-{n}{suffix}"
            name = stem[: MAX_NAME - len(tail)] + tail
        taken.add(name.lower())
        return f"{folder}/{name}" if folder else name

    def inside(self, relative: str) -> Path:
        """The path of ``relative`` under the root, refused unless it resolves inside it."""
        check_arcname(relative)
        path = (self.root / relative).resolve()
        if path == self.root or not path.is_relative_to(self.root):
            raise UnsafeExportPathError(f"refusing to write {relative!r} outside {self.root}")
        return path

    def folder(self, relative: str) -> Path:
        """Create the sub-folder ``relative`` (0700) and return it."""
        return private_dir(self.inside(relative))

    def open(self, relative: str, mode: str = "wb", **kwargs: Any) -> IO[Any]:
        """Open the new file ``relative`` for writing, 0600; refuses to replace a file."""
        return open_private(self.inside(relative), mode.replace("w", "x"), **kwargs)

"""Writing one big JSON document piece by piece.

The exports are single JSON documents (a file format people and tools expect), but a run can
hold millions of nodes, so they are never built as one Python object: the writers here emit
``{"key": …, "list": [item, item, …], "object": {"k": v, …}}`` one member or item at a time,
each encoded with :mod:`json` on its own. One item per line keeps files diff- and grep-friendly.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

__all__ = ["Container", "dumps"]

# ASCII output: a lone surrogate in a label or traceback cannot break writing the file as UTF-8.
_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def dumps(value: Any) -> str:
    """Compact, strict JSON (``NaN`` refused: callers put non-finite floats in strings)."""
    return _ENCODER.encode(value)


class Container:
    """A JSON object or array being written to ``fp``: call :meth:`add` (objects: ``key``
    and value; arrays: value) for each member, :meth:`open` for a nested container, then
    :meth:`close`. Members must be added in document order (one container open at a time)."""

    def __init__(self, fp: TextIO, array: bool = False, indent: int = 0) -> None:
        self._fp = fp
        self._array = array
        self._indent = indent
        self._empty = True
        fp.write("[" if array else "{")

    def _start(self, key: str | None) -> None:
        self._fp.write(("\n" if self._empty else ",\n") + " " * (self._indent + 1))
        self._empty = False
        if not self._array:
            if key is None:
                raise ValueError("a JSON object member needs a key")
            self._fp.write(dumps(key) + ": ")

    def add(self, value: Any, key: str | None = None) -> None:
        """Write one member (``key`` for objects) whose value is encoded in one go."""
        self._start(key)
        self._fp.write(dumps(value))

    def add_raw(self, text: str, key: str | None = None) -> None:
        """Write one member whose value is already JSON text."""
        self._start(key)
        self._fp.write(text)

    def open(self, key: str | None = None, array: bool = False) -> Container:
        """Start a nested object (or array) as the next member; close it before adding more."""
        self._start(key)
        return Container(self._fp, array, self._indent + 1)

    def close(self) -> None:
        end = "]" if self._array else "}"
        self._fp.write(end if self._empty else "\n" + " " * self._indent + end)

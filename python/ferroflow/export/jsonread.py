"""Reading one big JSON document piece by piece: the counterpart of :mod:`.jsonstream`.

An export of a million-node run is one JSON object whose ``nodes`` and ``links`` arrays hold
most of it. ``json.load`` would build every record as a dict before the importer turns it
into its own compact record, so an import needed several times the file's size in memory.
:func:`read_object` walks the top-level object itself and hands each item of the arrays named
in ``streams`` to a callback as soon as it is decoded, so only one record's dict is alive at a
time. Each value is decoded by :mod:`json`'s own decoder (``raw_decode``), so what is accepted
is exactly JSON; anything else raises ``ValueError`` with the offset, for the caller to word.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import IO, Any

__all__ = ["read_object"]

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"
_CHUNK = 1 << 16


class _Reader:
    """A text stream with a window of it in memory; values are decoded from the window."""

    def __init__(self, fp: IO[str]) -> None:
        self._fp = fp
        self._buf = ""
        self._pos = 0
        self._offset = 0  # of the window's start in the stream
        self._eof = False

    def _fill(self, want: int = _CHUNK) -> bool:
        """Read at least ``want`` more characters (fewer at the end); False at the end."""
        if self._eof:
            return False
        more = self._fp.read(want)
        self._offset += self._pos
        self._buf = self._buf[self._pos :] + more
        self._pos = 0
        if not more:
            self._eof = True
        return bool(more)

    def where(self) -> int:
        return self._offset + self._pos

    def peek(self) -> str:
        """The next character that is not whitespace ('' at the end), not consumed."""
        while True:
            buf, pos = self._buf, self._pos
            while pos < len(buf) and buf[pos] in _WHITESPACE:
                pos += 1
            self._pos = pos
            if pos < len(buf) or not self._fill():
                return buf[pos] if pos < len(buf) else ""

    def take(self, expected: str) -> None:
        if self.peek() != expected:
            raise ValueError(f"expected {expected!r} at offset {self.where()}")
        self._pos += 1

    def value(self) -> Any:
        """Decode the next JSON value, reading more of the stream until it is complete (the
        window doubles, so a huge value costs a few decodes, not one per chunk)."""
        self.peek()
        while True:
            try:
                found, end = _DECODER.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._fill(max(len(self._buf), _CHUNK)):
                    continue
                raise ValueError(f"{exc.msg} at offset {self._offset + exc.pos}") from None
            if end == len(self._buf) and self._fill():
                continue  # a number may go on in the next chunk ("12" of "1234")
            self._pos = end
            return found


def read_object(fp: IO[str], streams: dict[str, Callable[[Any, int], None]]) -> dict[str, Any]:
    """Read the JSON object in ``fp``: each item of a member named in ``streams`` (an array)
    goes to ``streams[name](item, index)`` (and the member is returned as ``[]``); the other
    members (a streamed name whose value is no array among them, for the caller to refuse)
    are returned as they are. Raises ``ValueError``, naming the offset, for what is not one
    JSON object."""
    reader = _Reader(fp)
    others: dict[str, Any] = {}
    seen: set[str] = set()
    reader.take("{")
    if reader.peek() == "}":
        reader.take("}")
    else:
        while True:
            key = reader.value()
            if not isinstance(key, str):
                raise ValueError(f"an object key must be a string, at offset {reader.where()}")
            if key in seen:  # (json.load would keep the last silently)
                raise ValueError(f"the key {key!r} appears twice (offset {reader.where()})")
            seen.add(key)
            reader.take(":")
            handle = streams.get(key)
            if handle is None or reader.peek() != "[":
                others[key] = reader.value()  # (a streamed name that is no array: the caller
            else:  # finds it among the others and refuses it)
                _items(reader, handle)
                others[key] = []  # its items went to the callback
            if reader.peek() == ",":
                reader.take(",")
                continue
            reader.take("}")
            break
    if reader.peek() != "":
        raise ValueError(f"extra data after the object at offset {reader.where()}")
    return others


def _items(reader: _Reader, handle: Callable[[Any, int], None]) -> None:
    reader.take("[")
    if reader.peek() == "]":
        reader.take("]")
        return
    index = 0
    while True:
        handle(reader.value(), index)
        index += 1
        if reader.peek() == ",":
            reader.take(",")
            continue
        reader.take("]")
        return

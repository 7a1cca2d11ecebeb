"""How the local process pool (:mod:`.processes`) and its workers (:mod:`.process_worker`)
talk over a pipe: each message an 8-byte length, then that many bytes (a pickle). Its own module
so that the pool does not import the worker's entry point."""

from __future__ import annotations

import struct
from typing import BinaryIO

__all__ = ["HEADER", "read_message", "write_message"]

#: each message's length, before its bytes
HEADER = struct.Struct("<Q")


def read_message(stream: BinaryIO) -> bytes | None:
    """The next message on ``stream``, or None at its end (the other side is gone)."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    data = stream.read(size)
    return data if len(data) == size else None


def write_message(stream: BinaryIO, data: bytes) -> None:
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()

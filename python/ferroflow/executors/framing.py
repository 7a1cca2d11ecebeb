"""How the local process pool (:mod:`.processes`) and its workers (:mod:`.process_worker`)
talk over a pipe: each message an 8-byte length, then that many bytes (a pickle). Its own module
so that the pool does not import the worker's entry point.

Both ends may be unbuffered pipes (the pool reads its workers' replies unbuffered, so that
``select`` on the pipe sees every byte not yet read: a buffered reader may already hold a reply
that ``select`` would wait for in vain), where one ``read`` or ``write`` can move fewer bytes
than asked: both functions loop until the whole message has moved. On a non-blocking pipe a
``read`` or ``write`` that would block returns None: both then wait for the pipe with ``select``
and go on, so a message is never cut short nor taken for the end of the stream."""

from __future__ import annotations

import selectors
import struct
from typing import BinaryIO

__all__ = ["HEADER", "read_message", "wait_for", "write_message"]

#: each message's length, before its bytes
HEADER = struct.Struct("<Q")


def wait_for(stream: BinaryIO, event: int, timeout: float | None = None) -> bool:
    """Wait until ``stream`` is ready for ``event`` (``selectors.EVENT_READ`` or
    ``EVENT_WRITE``); False if ``timeout`` seconds passed first. Through ``selectors`` (epoll
    here), not ``select.select``, which refuses a descriptor numbered 1024 or more."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, event)
        return bool(selector.select(timeout))


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    """``size`` bytes of ``stream``, or fewer if it ends first."""
    chunks = []
    while size:
        chunk = stream.read(size)
        if chunk is None:  # non-blocking and nothing to read yet: not the end
            wait_for(stream, selectors.EVENT_READ)
            continue
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_message(stream: BinaryIO) -> bytes | None:
    """The next message on ``stream``, or None at its end (the other side is gone)."""
    head = _read_exactly(stream, HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    data = _read_exactly(stream, size)
    return data if len(data) == size else None


def write_message(stream: BinaryIO, data: bytes) -> None:
    """Write one message whole (a raw pipe may take it in parts)."""
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        written = stream.write(view)
        if written is None:  # non-blocking and the pipe is full: nothing was written
            wait_for(stream, selectors.EVENT_WRITE)
            continue
        view = view[written:]
    stream.flush()

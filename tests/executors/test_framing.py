"""The process pool's messages over raw (unbuffered) pipes, where one ``read`` returns what has
arrived so far and one ``write`` may take part of what it is given: a message still arrives
whole (``ferroflow.executors.framing``)."""

from __future__ import annotations

import itertools
import os
import resource
import threading
import time
from typing import Any

from ferroflow.executors.framing import HEADER, read_message, write_message


def test_a_message_written_in_pieces_is_read_whole_from_a_raw_pipe() -> None:
    r, w = os.pipe()
    payload = bytes(range(256)) * 300  # 76,800 bytes: more than a pipe holds at once
    message = HEADER.pack(len(payload)) + payload

    def trickle() -> None:
        cuts = [0, 3, HEADER.size, 1000, 40_000, len(message)]  # the header split, then the body
        with os.fdopen(w, "wb", buffering=0) as out:
            for start, end in itertools.pairwise(cuts):
                out.write(message[start:end])
                time.sleep(0.05)

    writer = threading.Thread(target=trickle)
    writer.start()
    with os.fdopen(r, "rb", buffering=0) as raw:
        assert read_message(raw) == payload
        writer.join()
        assert read_message(raw) is None  # the writer closed: the end, not a message


class _Taking:
    """A raw stream that accepts at most ``limit`` bytes per ``write``, as a pipe may."""

    def __init__(self, limit: int) -> None:
        self.limit, self.data, self.flushed = limit, bytearray(), False

    def write(self, data: Any) -> int:
        part = bytes(data[: self.limit])
        self.data += part
        return len(part)

    def flush(self) -> None:
        self.flushed = True


def test_a_message_is_written_whole_to_a_stream_that_takes_it_in_parts() -> None:
    stream = _Taking(limit=7)
    write_message(stream, b"a message longer than one write")  # type: ignore[arg-type]
    assert bytes(stream.data) == HEADER.pack(31) + b"a message longer than one write"
    assert stream.flushed


def test_a_non_blocking_writer_waits_for_room_instead_of_dropping_the_rest() -> None:
    # A non-blocking raw write into a full pipe returns None (nothing written): the rest of a
    # message bigger than the pipe must wait for the reader, not be counted as sent.
    r, w = os.pipe()
    os.set_blocking(w, False)
    payload = os.urandom(1 << 20)  # 1 MiB: many times what a pipe holds

    def send() -> None:
        with os.fdopen(w, "wb", buffering=0) as out:
            write_message(out, payload)

    writer = threading.Thread(target=send)
    writer.start()
    with os.fdopen(r, "rb", buffering=0) as raw:
        assert read_message(raw) == payload
        writer.join()
        assert read_message(raw) is None


def test_a_non_blocking_reader_waits_for_a_message_instead_of_calling_it_the_end() -> None:
    # A non-blocking raw read of an empty pipe returns None: not the end of the stream.
    r, w = os.pipe()
    os.set_blocking(r, False)

    def send_later() -> None:
        time.sleep(0.2)
        with os.fdopen(w, "wb", buffering=0) as out:
            write_message(out, b"late")

    writer = threading.Thread(target=send_later)
    writer.start()
    with os.fdopen(r, "rb", buffering=0) as raw:
        assert read_message(raw) == b"late"
        writer.join()
        assert read_message(raw) is None


def test_a_non_blocking_pipe_numbered_past_1024_is_waited_for_too() -> None:
    # select.select() refuses descriptors >= 1024: a process with many files open (a big run's
    # pool, a notebook) gets such numbers for its workers' pipes.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2048, hard), hard))
    r, w = os.pipe()
    try:
        high_r, high_w = os.dup2(r, 1100), os.dup2(w, 1101)
    finally:
        os.close(r)
        os.close(w)
    os.set_blocking(high_r, False)
    os.set_blocking(high_w, False)
    payload = os.urandom(1 << 18)

    def send() -> None:
        with os.fdopen(high_w, "wb", buffering=0) as out:
            write_message(out, payload)

    writer = threading.Thread(target=send)
    writer.start()
    try:
        with os.fdopen(high_r, "rb", buffering=0) as raw:
            assert read_message(raw) == payload
    finally:
        writer.join()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

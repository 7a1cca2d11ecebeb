"""What the command line prints is text, never terminal control.

The commands that show stored runs print labels, errors, descriptions, task output and values,
and a run imported from someone else's file (``ferroflow import``) holds whatever that file
said. Printed raw, an escape sequence in a label would retitle the terminal, clear the screen or
hide text, and a carriage return would overwrite a line. So while such a command runs, its
standard output and error show every control character (C0 but tab and newline, DEL, C1) and
the bidirectional-override marks as a visible ``\\xNN`` / ``\\uNNNN`` escape. Binary output
(``export -f svg`` to standard output) goes through ``.buffer`` untouched; commands that run
workflows (``demo``, ``restart``) keep the real streams, whose progress display draws with
escape sequences of its own.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from typing import Any, TextIO

__all__ = ["terminal_safe_output", "visible"]

_CONTROLS = [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_VISIBLE = {c: f"\\x{c:02x}" for c in _CONTROLS} | {c: f"\\u{c:04x}" for c in _BIDI}


def visible(text: str) -> str:
    """``text`` with each control character written as its escape (tab and newline kept)."""
    return text.translate(_VISIBLE)


class _Visible(io.TextIOBase):
    """A text stream that writes :func:`visible` text to the stream it wraps."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(visible(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding

    @property
    def buffer(self) -> Any:
        """The wrapped stream's bytes: binary output is the user's file, not text to show."""
        return self._stream.buffer


@contextlib.contextmanager
def terminal_safe_output() -> Iterator[None]:
    """While the block runs, ``sys.stdout`` and ``sys.stderr`` print control characters as
    escapes (see the module docstring)."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Visible(out), _Visible(err)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        sys.stdout, sys.stderr = out, err

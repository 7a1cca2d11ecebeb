"""Exceptions raised by the provenance store.

They share :class:`StoreError` so callers can catch "anything the store complained about" in one
clause. :class:`NodeNotFoundError` also derives from :class:`KeyError`, because looking up an
unknown pk or uuid is a failed key lookup and ``except KeyError`` is what people write first.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousNodeError",
    "NodeNotFoundError",
    "SchemaVersionError",
    "StoreBusyError",
    "StoreClosedError",
    "StoreError",
    "StoreWriteError",
    "UntrustedValueError",
]


class StoreError(Exception):
    """Base class of every error raised by the provenance store."""


class NodeNotFoundError(StoreError, KeyError):
    """No node with the given pk or uuid exists in the store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "node not found"


class AmbiguousNodeError(StoreError, LookupError):
    """A uuid prefix matched more than one node."""


class StoreClosedError(StoreError, RuntimeError):
    """The store was used after :meth:`Store.close`."""


class StoreWriteError(StoreError):
    """Rows could not be written by the background writer.

    Raised by the next ``flush()`` or ``close()`` after the failure. ``__cause__`` is the first
    underlying exception and :attr:`messages` lists every failure since the last report.
    """

    def __init__(self, message: str, messages: list[str]) -> None:
        super().__init__(message)
        self.messages = messages


class SchemaVersionError(StoreError):
    """The file was written with a different, incompatible schema version."""


class StoreBusyError(StoreError):
    """Another connection (usually another process) held the file's write lock for longer than
    the busy timeout, so pks could not be reserved. Nothing was written or corrupted; retry, or
    find the process that keeps a long write transaction open."""


class UntrustedValueError(StoreError, ValueError):
    """A value stored as an untrusted pickle (imported without ``trust=True``) was read.

    Unpickling runs code chosen by whoever made the payload, so such values are kept as bytes and
    refused on reading; see :mod:`ferroflow.store.values` (codec ``pickle-untrusted``).
    """

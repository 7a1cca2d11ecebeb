"""Embedded SQLite provenance store: AiiDA-style nodes and links, written in batches.

* :class:`Store` - open/record/flush/close and the reading entry points (``store.py``)
* :class:`StoredNode`, :class:`Link` - read-only views of stored rows (``reading.py``)
* the graph's reads (nodes, links, walks, filters), the one reader of ``node`` and ``link``
  (``graph_read.py``, ``graph_find.py``)
* value codecs (``values.py``), the background writer (``writer.py``) and the rows it is queued
  (``rows.py``), the schema (``schema.py``)
"""

from ..errors import (
    AmbiguousNodeError,
    NodeNotFoundError,
    SchemaVersionError,
    StoreBusyError,
    StoreClosedError,
    StoreError,
    StoreLostError,
    StoreWriteError,
    UnreadableValueError,
    UntrustedValueError,
)
from .reading import DATA_PROVENANCE, LINK_TYPES, Link, StoredNode
from .schema import SCHEMA_VERSION, STATE_CODES
from .store import Store
from .values import UnserialisableValue

STATES: tuple[str, ...] = tuple(STATE_CODES)

__all__ = [
    "DATA_PROVENANCE",
    "LINK_TYPES",
    "SCHEMA_VERSION",
    "STATES",
    "AmbiguousNodeError",
    "Link",
    "NodeNotFoundError",
    "SchemaVersionError",
    "Store",
    "StoreBusyError",
    "StoreClosedError",
    "StoreError",
    "StoreLostError",
    "StoreWriteError",
    "StoredNode",
    "UnreadableValueError",
    "UnserialisableValue",
    "UntrustedValueError",
]

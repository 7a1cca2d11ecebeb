"""Cache keys in the store: marking a task run's key, and finding the original task run of a
key with its outputs (:meth:`~ferroflow.store.Store.cached`, :mod:`ferroflow.engine.caching`).

Why a module: a finished task run may be stored packed (one ``task_run`` row,
``docs/packed-task-runs.md``), whose ``hash`` column is its key, so both a lookup and a mark
read or write both forms; the node form keeps its one indexed statement.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from ..model.vocabulary import KIND_CODES, LINK_CODES, STATE_CODES, Kind, State

__all__ = ["mark", "original_outputs"]

Query = Callable[[str, Sequence[Any]], list[Any]]

_MARK_SQL = "UPDATE node SET hash = ?, cached_from = ? WHERE pk = ?"
# a packed task run (docs/packed-task-runs.md) is an original, never a hit: only its key
_MARK_PACKED_SQL = "UPDATE task_run SET hash = ? WHERE pk = ?"
# The original task run with a cache key (a hit's own node points to it with cached_from) and
# its CREATE outputs, in one indexed read: node_hash, then the link_src index.
_CACHED_SQL = (
    "SELECT o.pk, l.label, n.codec, n.value, b.data FROM"
    " (SELECT coalesce(cached_from, pk) AS pk FROM node WHERE hash = ?"
    f" AND kind = {KIND_CODES[Kind.CALC]} AND state = {STATE_CODES[State.FINISHED]}"
    "  ORDER BY cached_from IS NOT NULL, pk LIMIT 1) o"
    " LEFT JOIN link l ON l.src = o.pk AND l.type = ? LEFT JOIN node n ON n.pk = l.dst"
    " LEFT JOIN blob b ON b.id = n.blob_id ORDER BY l.label"
)
# The first packed original with the key (task_run_hash), and the first node-form original,
# to choose between them as _CACHED_SQL chooses among node rows (the lowest pk).
_CACHED_PACKED_SQL = (
    "SELECT pk, nodes FROM task_run WHERE hash = ?"
    f" AND state = {STATE_CODES[State.FINISHED]} ORDER BY pk LIMIT 1"
)
_ORIGINAL_SQL = (
    "SELECT pk FROM node WHERE hash = ? AND cached_from IS NULL"
    f" AND kind = {KIND_CODES[Kind.CALC]} AND state = {STATE_CODES[State.FINISHED]}"
    " ORDER BY pk LIMIT 1"
)


def mark(pk: int, key: bytes, cached_from: int | None) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements that record task run ``pk``'s cache key (and, for a hit, the pk it
    reused): a packed task run is an original, never a hit, so only its key is set."""
    rows: list[tuple[str, tuple[Any, ...]]] = [(_MARK_SQL, (key, cached_from, pk))]
    if cached_from is None:
        rows.append((_MARK_PACKED_SQL, (key, pk)))
    return rows


def original_outputs(query: Query, key: bytes) -> list[Any]:
    """``(pk, label, codec, inline, blob)`` of each CREATE output of the original task run
    with cache key ``key`` (one row of NULLs but the pk for one without outputs; none for no
    such run), by label: the lowest pk among the originals of both forms."""
    return _packed_original(query, key) or query(_CACHED_SQL, (key, LINK_CODES["CREATE"]))


def _packed_original(query: Query, key: bytes) -> list[tuple[Any, ...]]:
    """_CACHED_SQL's rows for the packed task run with cache key ``key`` when it is the
    original a lookup must choose (no node-form original with a lower pk); else none."""
    found = query(_CACHED_PACKED_SQL, (key,))
    if not found:
        return []
    pk, nodes = found[0]
    other = query(_ORIGINAL_SQL, (key,))
    if other and other[0][0] < pk:
        return []
    creates = sorted(
        (label, codec, value)
        for code, label, _, codec, value in json.loads(nodes)
        if code == LINK_CODES["CREATE"]
    )
    return [(pk, label, codec, value, None) for label, codec, value in creates] or [
        (pk, None, None, None, None)
    ]

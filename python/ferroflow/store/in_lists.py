"""``IN (?, ?, ...)`` lists for the reading layer: many pks asked in chunks, so that no
statement binds more parameters than SQLite allows (32,766 here; 999 on old builds)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["CHUNK", "chunks", "marks"]

#: pks per ``IN (...)`` list: well below SQLite's parameter limit, with room for a statement's
#: other parameters
CHUNK = 500


def marks(n: int) -> str:
    """``?, ?, ...``: ``n`` parameter marks."""
    return ", ".join("?" * n)


def chunks(pks: Iterable[int], size: int = CHUNK, distinct: bool = False) -> Iterator[list[int]]:
    """``pks`` in lists of at most ``size`` (``distinct``: each pk once, in first-seen order)."""
    items = list(dict.fromkeys(pks)) if distinct else list(pks)
    for start in range(0, len(items), size):
        yield items[start : start + size]

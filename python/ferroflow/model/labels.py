"""AiiDA link labels of nested namespaces: ``{"data": {"number_1": node}}`` is stored as one link
labelled ``data__number_1``. Flattening and unflattening are written once, here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .data import DataNode

__all__ = ["SEPARATOR", "flatten", "unflatten"]

#: joins the keys of a nested namespace into one link label
SEPARATOR = "__"


def flatten(tree: Any, prefix: str = "") -> Iterator[tuple[str, DataNode]]:
    """Leaves of a nested dict of data nodes with their link labels (``data__number_1``)."""
    if isinstance(tree, DataNode):
        yield prefix, tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from flatten(value, f"{prefix}{SEPARATOR}{key}" if prefix else str(key))


def unflatten(pairs: Iterable[tuple[str, Any]], single: str | None = None) -> dict[str, Any]:
    """Nested dict of data nodes from ``(link label, value)`` pairs; the label ``single`` (a
    task's one leaf output) is never split, whatever it contains."""
    tree: dict[str, Any] = {}
    for label, value in pairs:
        parts = [label] if label == single else label.split(SEPARATOR)
        where = tree
        for part in parts[:-1]:
            where = where.setdefault(part, {})
        where[parts[-1]] = DataNode(value)
    return tree

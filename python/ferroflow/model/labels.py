"""AiiDA link labels of nested namespaces: ``{"data": {"number_1": node}}`` is stored as one link
labelled ``data__number_1``. Flattening and unflattening are written once, here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .data import DataNode

__all__ = ["SEPARATOR", "flatten", "leaves", "nest", "unflatten"]

#: joins the keys of a nested namespace into one link label
SEPARATOR = "__"


def flatten(tree: Any, prefix: str = "") -> Iterator[tuple[str, DataNode]]:
    """Leaves of a nested dict of data nodes with their link labels (``data__number_1``)."""
    if isinstance(tree, DataNode):
        yield prefix, tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from flatten(value, f"{prefix}{SEPARATOR}{key}" if prefix else str(key))


def leaves(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf of a nested dict with its link label, whatever the leaf is: a task's input
    binding holds future sockets beside data nodes, which :func:`flatten` leaves out."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaves(value, f"{prefix}{SEPARATOR}{key}" if prefix else str(key))
    else:
        yield prefix, tree


def nest(pairs: Iterable[tuple[str, Any]], single: str | None = None) -> dict[str, Any]:
    """Nested dict of the items of ``(link label, item)`` pairs, items kept as they are (stored
    data nodes keep their uuid and pk); the label ``single`` (a task's one leaf output) is
    never split, whatever it contains."""
    tree: dict[str, Any] = {}
    for label, item in pairs:
        parts = [label] if label == single else label.split(SEPARATOR)
        where = tree
        for part in parts[:-1]:
            where = where.setdefault(part, {})
        where[parts[-1]] = item
    return tree


def unflatten(pairs: Iterable[tuple[str, Any]], single: str | None = None) -> dict[str, Any]:
    """Nested dict of new data nodes from ``(link label, value)`` pairs (see :func:`nest`)."""
    return nest(((label, DataNode(value)) for label, value in pairs), single)

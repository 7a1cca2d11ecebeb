"""AiiDA link labels of nested namespaces, and the one rule for namespace keys.

``{"data": {"number_1": node}}`` is stored as one link labelled ``data__number_1`` (AiiDA's
separator). A key the separator would split wrongly (one containing ``__``, or, inside a nested
label, one starting or ending with ``_``) is stored percent-escaped (``a%5F%5Fb``), as is any key
containing ``%``, so every key reads back exactly as it was written while ordinary labels keep
AiiDA's form. Flattening, unflattening and the key rule are written once, here.

The key rule, the same for inputs and outputs: a namespace key is a non-empty ``str`` (``1``
and ``"1"`` would otherwise meet as the same label), without ``.`` (it separates the levels of
a socket path such as ``data.x``; nest a dict instead) and without lone surrogates (the store
keeps UTF-8).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import unquote

from .data import DataNode
from .names import storable

__all__ = [
    "SEPARATOR",
    "flatten",
    "join_label",
    "key_problem",
    "leaves",
    "nest",
    "split_label",
    "unflatten",
]

#: joins the keys of a nested namespace into one link label
SEPARATOR = "__"


def key_problem(key: object) -> str | None:
    """Why ``key`` cannot name a socket in a namespace, or ``None`` when it can."""
    if not isinstance(key, str):
        return (
            f"namespace keys must be strings, got {type(key).__qualname__} {key!r}; "
            f"use str keys (1 and '1' would be the same socket)"
        )
    if not key:
        return "namespace keys must not be empty"
    if "." in key:
        return (
            f"namespace key {key!r} contains '.', which separates the levels of a socket path; "
            f"nest a dict instead ({{{key.split('.', 1)[0]!r}: {{...}}}})"
        )
    if not storable(key):
        return f"namespace key {key!r} contains a lone surrogate, which the store cannot keep"
    return None


def _escape(key: str, nested: bool) -> str:
    if "%" in key or SEPARATOR in key or (nested and (key[:1] == "_" or key[-1:] == "_")):
        return key.replace("%", "%25").replace("_", "%5F")
    return key


def join_label(keys: Sequence[str]) -> str:
    """The link label of a socket path (its keys from the outside in)."""
    if len(keys) == 1:  # every task's inputs and outputs pass here: no generator for one key
        key = str(keys[0])
        return key if "%" not in key and SEPARATOR not in key else _escape(key, False)
    return SEPARATOR.join(_escape(str(key), True) for key in keys)


def split_label(label: str) -> list[str]:
    """The keys of a link label, exactly as :func:`join_label` was given them."""
    return [unquote(part) if "%" in part else part for part in label.split(SEPARATOR)]


def flatten(tree: Any, path: Sequence[str] = ()) -> list[tuple[str, DataNode]]:
    """Leaves of a nested dict of data nodes with their link labels (``data__number_1``);
    ``path`` holds the keys of ``tree`` itself, if it has any."""
    if not path and type(tree) is dict:
        # The common case, a task's outputs or inputs: one data node per key, walked without
        # generators (this runs for every task of a recorded run), and so are namespaces.
        found: list[tuple[str, DataNode]] = []
        for key, value in tree.items():
            if type(value) is DataNode:
                found.append((join_label((key,)), value))
            elif isinstance(value, dict):
                _flatten_into(found, value, _escape(str(key), True))
            else:
                found += flatten(value, (key,))
        return found
    if path and isinstance(tree, dict):  # a namespace input, recorded under its name
        found = []
        _flatten_into(found, tree, SEPARATOR.join([_escape(str(key), True) for key in path]))
        return found
    return [(label, leaf) for label, leaf in leaves(tree, path) if isinstance(leaf, DataNode)]


def _flatten_into(found: list[tuple[str, DataNode]], tree: dict[Any, Any], prefix: str) -> None:
    """:func:`flatten` of a namespace ``tree`` whose keys so far make the label ``prefix``
    (escaped, one key or more), appended to ``found`` without the generators of
    :func:`leaves`: a recorded run's namespaces pass here (~4 µs of a small run's recording
    went to them), each key escaped once."""
    for key, value in tree.items():
        label = prefix + SEPARATOR + _escape(str(key), True)
        if type(value) is DataNode:
            found.append((label, value))
        elif isinstance(value, dict):
            _flatten_into(found, value, label)
        elif isinstance(value, DataNode):
            found.append((label, value))


def leaves(tree: Any, path: Sequence[str] = ()) -> Iterator[tuple[str, Any]]:
    """Every leaf of a nested dict with its link label, whatever the leaf is: a task's input
    binding holds future sockets beside data nodes, which :func:`flatten` leaves out.
    ``path`` holds the keys of ``tree`` itself, if it has any."""
    return _leaves(tree, list(path))


def _leaves(tree: Any, keys: list[str]) -> Iterator[tuple[str, Any]]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, [*keys, str(key)])
    else:
        yield join_label(keys), tree


def nest(pairs: Iterable[tuple[str, Any]], single: str | None = None) -> dict[str, Any]:
    """Nested dict of the items of ``(link label, item)`` pairs, items kept as they are (stored
    data nodes keep their uuid and pk); the label ``single`` (a task's one leaf output) is
    never split, whatever it contains."""
    tree: dict[str, Any] = {}
    for label, item in pairs:
        parts = [label] if label == single else split_label(label)
        where = tree
        for part in parts[:-1]:
            where = where.setdefault(part, {})
        where[parts[-1]] = item
    return tree


def unflatten(pairs: Iterable[tuple[str, Any]], single: str | None = None) -> dict[str, Any]:
    """Nested dict of new data nodes from ``(link label, value)`` pairs (see :func:`nest`)."""
    return nest(((label, DataNode(value)) for label, value in pairs), single)

"""AiiDA's data types as WorkGraph scripts use them (``from ferroflow.orm import Int``).

ferroflow keeps plain Python values in :class:`~ferroflow.DataNode`\\s, so each type here makes
a data node holding the converted value: ``Int(2)`` is a node whose ``.value`` is ``2``, which
compares like ``2`` and, as AiiDA's, computes new nodes (``(Int(2) + 3).value == 5``);
``Dict({...}).get_dict()`` and ``List([...]).get_list()`` return copies. A task fed one
receives the plain value, as a WorkGraph ``@task`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .model.calcfunction import NodeArg
from .model.data import DataNode
from .profile import get_current_profile
from .store import StoredNode

__all__ = ["Bool", "Dict", "Float", "Int", "List", "Str", "load_node"]


def Int(value: Any = 0) -> DataNode:
    """A data node holding ``int(value)``."""
    return NodeArg(int(value))


def Float(value: Any = 0.0) -> DataNode:
    """A data node holding ``float(value)``."""
    return NodeArg(float(value))


def Str(value: Any = "") -> DataNode:
    """A data node holding ``str(value)``."""
    return NodeArg(str(value))


def Bool(value: Any = False) -> DataNode:
    """A data node holding ``bool(value)``."""
    return NodeArg(bool(value))


def Dict(dict: Mapping[Any, Any] | None = None, **kwargs: Any) -> DataNode:
    """A data node holding a dict (AiiDA's ``Dict(dict={...})``)."""
    return NodeArg({**(dict or {}), **kwargs})


def List(list: Iterable[Any] | None = None) -> DataNode:
    """A data node holding a list (AiiDA's ``List(list=[...])``)."""
    return NodeArg([*(list or [])])


def load_node(pk_or_uuid: int | str) -> StoredNode:
    """A stored node of the current profile by pk or uuid."""
    return get_current_profile().store.load_node(pk_or_uuid)

"""Data nodes: the stored values that flow between tasks.

A :class:`DataNode` is what a task output becomes once it exists: a Python value with a global
``uuid`` and, once recorded in a profile's store, an integer ``pk``. The same node object is
handed to every consumer, so provenance never copies a value (AiiDA's "no copies" rule); the
*call* of a consumer gets its own copy of a mutable value (:mod:`.isolation`), so the node's value
stays the value as produced.

Inside a ``@task.graph`` body that runs at run time, inputs arrive as data nodes. They behave
like their values (comparison, arithmetic, ``int()``, iteration, indexing) so that plain Python
control flow works, while passing one to a task keeps the link to the original node.
"""

from __future__ import annotations

import operator
import os
import threading
from collections.abc import Callable
from typing import Any

import ferroflow._core as _core

from .extras import NodeBase

__all__ = ["RAW_CONSTANTS", "DataNode", "new_uuid"]

#: Constants a task's keyword call binds as they are, their data node made on first use
#: (``TaskNode.inputs`` in :mod:`.graph`): immutable scalars, checked by exact type.
RAW_CONSTANTS = frozenset({int, float, str, bool, type(None)})


def new_uuid() -> str:
    """Return a time-ordered UUID (version 7 layout) as a string.

    Time-ordered ids keep the store's uuid index append-mostly, which measured ~45 % faster
    inserts than random uuid4 (shared/design/provenance.md). Made in Rust (~0.1 µs, no
    syscall; the fast lane's workers make the same layout), see ``rust/py/src/uuid7.rs``.
    """
    return _core.new_uuid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_core.after_fork)


_uuid_lock = threading.Lock()


class DataNode:
    """A value with identity: ``uuid`` (global), ``pk`` (local to a store) and ``value``.

    ``repr`` follows AiiDA: ``uuid: <uuid> (pk: <pk>) value: <value>``. Equality and ordering
    compare the wrapped value, so ``node == 30`` holds for a node holding ``30``.
    """

    __slots__ = ("_extras", "_pk", "_uuid", "value")

    def __init__(self, value: Any, uuid: str | None = None, pk: int | None = None) -> None:
        self.value = value
        self._uuid = uuid
        self._pk = pk

    @property
    def uuid(self) -> str:
        """Global identity, created on first use: usually by the store's writer thread, so
        the workers that create nodes never pay for it."""
        u = self._uuid
        if u is None:
            with _uuid_lock:  # two threads must not hand out two different uuids
                u = self._uuid
                if u is None:
                    u = self._uuid = new_uuid()
        return u

    @property
    def pk(self) -> int | None:
        """Integer primary key in the profile's store; ``None`` until the node is stored."""
        return self._pk

    @property
    def is_stored(self) -> bool:
        return self._pk is not None

    @property
    def base(self) -> NodeBase:
        """AiiDA's ``node.base``: ``node.base.extras.get('unit')``, ``.base.extras.all``
        (set from ``meta(extras=...)`` of the output that made this node)."""
        return NodeBase(dict(getattr(self, "_extras", None) or {}))

    def set_extras(self, extras: dict[str, Any]) -> None:
        """Add ``extras`` to this node's (the engine's, when the task that made it finished)."""
        self._extras = {**(getattr(self, "_extras", None) or {}), **extras}

    def __repr__(self) -> str:
        return f"uuid: {self.uuid} (pk: {self._pk}) value: {self.value}"

    # Value semantics -------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if isinstance(other, DataNode):
            other = other.value
        result = self.value == other
        if isinstance(result, bool):
            return result
        try:  # numpy arrays and friends: element-wise equality collapses to "all equal"
            return bool(result.all())
        except AttributeError:
            return bool(result)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self.value)

    def __bool__(self) -> bool:
        return bool(self.value)

    def __int__(self) -> int:
        return int(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def __index__(self) -> int:
        return operator.index(self.value)

    def __len__(self) -> int:
        return len(self.value)

    def __iter__(self) -> Any:
        return iter(self.value)

    def __contains__(self, item: object) -> bool:
        return item in self.value

    def __getitem__(self, key: Any) -> Any:
        return self.value[key]

    # AiiDA's Dict and List accessors, for scripts written against them
    def get_dict(self) -> dict[Any, Any]:
        """A copy of a dict value (AiiDA's ``Dict.get_dict()``)."""
        if not isinstance(self.value, dict):
            raise TypeError(f"get_dict() on a node holding {type(self.value).__qualname__}")
        return dict(self.value)

    def get_list(self) -> list[Any]:
        """A copy of a list value (AiiDA's ``List.get_list()``)."""
        if not isinstance(self.value, list):
            raise TypeError(f"get_list() on a node holding {type(self.value).__qualname__}")
        return list(self.value)

    __str__ = __repr__  # print(node) and f"{node}" show the node, as AiiDA does

    def __format__(self, spec: str) -> str:
        return repr(self) if not spec else format(self.value, spec)

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        import numpy as np

        return np.asarray(self.value, dtype=dtype)


def _unwrap(x: Any) -> Any:
    return x.value if isinstance(x, DataNode) else x


def _binary(op: Callable[[Any, Any], Any]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    def forward(self: DataNode, other: Any) -> Any:
        return op(self.value, _unwrap(other))

    def reverse(self: DataNode, other: Any) -> Any:
        return op(_unwrap(other), self.value)

    return forward, reverse


for _name, _op in {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
    "pow": operator.pow,
    "matmul": operator.matmul,
}.items():
    _fwd, _rev = _binary(_op)
    setattr(DataNode, f"__{_name}__", _fwd)
    setattr(DataNode, f"__r{_name}__", _rev)

for _name, _op in {
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}.items():
    setattr(DataNode, f"__{_name}__", _binary(_op)[0])

for _name, _unary in {"neg": operator.neg, "pos": operator.pos, "abs": operator.abs}.items():
    setattr(DataNode, f"__{_name}__", lambda self, _op=_unary: _op(self.value))

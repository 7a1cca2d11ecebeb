"""``@task.calcfunction``: a task whose body sees data nodes, as an AiiDA calcfunction does.

A plain ``@task`` body receives plain values; a WorkGraph ``@task.calcfunction`` body receives
AiiDA data nodes (``x.value`` for the value, ``x + y`` another node) and returns nodes, plain
values or a dict of them. Every backend calls a task through its handle's ``call``; for a
calcfunction that is a :class:`CalcFunctionCall`, which wraps the values the backend passes
in :class:`NodeArg` nodes (namespaces as dicts of nodes) and turns what the body returns back
into plain values before the engine makes the output nodes. Being a picklable object of this
package, it runs the same on a Dask worker as on a local thread or the event loop; the Rust
fast lane, which calls functions with plain values, never runs a calcfunction.

The nodes a body sees are the call's own (their values are the call's copies,
:mod:`.isolation`), carrying no pk: the provenance (INPUT links to the stored input nodes,
CREATE links to new output nodes) is recorded by the engine as for any task.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from .data import DataNode
from .spec import Namespace, SocketSpec

__all__ = ["CalcFunctionCall", "NodeArg", "Shape", "plain", "shape_of"]


class NodeArg(DataNode):
    """A data node as AiiDA's behave in a script: a calcfunction's input node, or what
    ``ferroflow.orm.Int(2)`` makes. Arithmetic on it makes another node (AiiDA's ``Int + Int
    -> Int``), so ``return x + y`` and ``(Int(2) + Int(3)).value`` both work; comparisons stay
    bools. Bound to a task input it is a plain data node again."""

    __slots__ = ()


def _node_op(name: str) -> None:
    """``NodeArg.__<name>__``: DataNode's operator (on the values), its result a node."""
    on_values = getattr(DataNode, f"__{name}__")

    def op(self: NodeArg, *other: Any) -> NodeArg:
        return NodeArg(on_values(self, *other))

    setattr(NodeArg, f"__{name}__", op)


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"):
    _node_op(_name)
    _node_op(f"r{_name}")
for _name in ("neg", "pos", "abs"):
    _node_op(_name)


class Shape:
    """Which inputs of a calcfunction are namespaces (a dict of nodes) rather than one node:
    the socket specs reduced to what a worker needs (plain dicts, cheap to pickle)."""

    __slots__ = ("dynamic", "fields")

    def __init__(self, fields: dict[str, Shape | None], dynamic: Shape | None) -> None:
        self.fields = fields
        self.dynamic = dynamic

    def __reduce__(self) -> tuple[Any, ...]:
        return Shape, (self.fields, self.dynamic)


def shape_of(spec: SocketSpec | None) -> Shape | None:
    """None for a leaf (one node), a :class:`Shape` for a namespace."""
    if not isinstance(spec, Namespace):
        return None
    return Shape({k: shape_of(v) for k, v in spec.fields.items()}, shape_of(spec.dynamic))


def _as_nodes(shape: Shape | None, value: Any) -> Any:
    if shape is None or not isinstance(value, dict):
        return value if isinstance(value, DataNode) else NodeArg(value)
    return {
        key: _as_nodes(shape.fields.get(key, shape.dynamic), item) for key, item in value.items()
    }


def plain(value: Any) -> Any:
    """What a calcfunction returned, with every data node (also inside dicts, lists and
    tuples) replaced by its value: the engine makes the output nodes from values."""
    if isinstance(value, DataNode):
        return plain(value.value)
    kind = type(value)
    if kind is dict:
        return {key: plain(item) for key, item in value.items()}
    if kind is list:
        return [plain(item) for item in value]
    if kind is tuple:
        return tuple(plain(item) for item in value)
    return value


async def _plain_after(coroutine: Any) -> Any:
    return plain(await coroutine)


class CalcFunctionCall:
    """What the backends call for a ``@task.calcfunction``: ``func`` with its keyword
    arguments as nodes (``shapes``: by input name; ``spread``: the shape of a ``**kwargs``
    input, whose keys arrive as keywords of their own), its result as values."""

    __slots__ = ("func", "shapes", "spread")

    def __init__(
        self, func: Callable[..., Any], shapes: dict[str, Shape | None], spread: Shape | None
    ) -> None:
        self.func = func
        self.shapes = shapes
        self.spread = spread

    def __reduce__(self) -> tuple[Any, ...]:
        return CalcFunctionCall, (self.func, self.shapes, self.spread)

    def __call__(self, **kwargs: Any) -> Any:
        shapes, spread = self.shapes, self.spread
        nodes = {
            name: _as_nodes(
                shapes[name]
                if name in shapes
                else spread.fields.get(name, spread.dynamic)
                if spread is not None
                else None,
                value,
            )
            for name, value in kwargs.items()
        }
        returned = self.func(**nodes)
        if type(returned) is types.CoroutineType:  # an async def calcfunction
            return _plain_after(returned)
        return plain(returned)

"""Turning a task function's return value into output data nodes (WorkGraph's §1.5 rules).

One declared output (``result``) takes the value as is, or the ``result`` entry of a returned
dict that has one. Several outputs take a dict by key or a tuple by position; keys beyond the
fixed fields go to the dynamic part if there is one. Every leaf becomes its own data node, so a
dynamic namespace yields one stored node per key.
"""

from __future__ import annotations

import types
from typing import Any

from ..errors import TaskOutputError
from .data import DataNode
from .labels import key_problem
from .spec import DEFAULT_OUTPUT, Leaf, Namespace, SocketSpec
from .structured import fields_of
from .typecheck import type_matches

__all__ = ["has_extras", "output_extras", "parse_outputs", "refuse_coroutine", "unwrap"]


def _in(path: str) -> str:
    """``, output 'data'`` before a problem in a nested output; nothing at the top level."""
    return f", output '{path}'" if path else ""


def unwrap(binding: Any) -> Any:
    """Data nodes (possibly nested in dicts) → plain values, for calling a task function."""
    if isinstance(binding, DataNode):
        return binding.value
    if isinstance(binding, dict):
        return {k: unwrap(v) for k, v in binding.items()}
    return binding


def _node(where: str, path: str, spec: SocketSpec, value: Any) -> DataNode:
    # A task creates new data: returning an input node yields a new node with its value.
    raw = value.value if isinstance(value, DataNode) else value
    if isinstance(spec, Leaf) and not type_matches(spec.type, raw):
        shown = repr(raw)
        raise TaskOutputError(
            f"{where}, output '{path}': declared {spec.describe()}, but the function returned "
            f"{type(raw).__qualname__} {shown[:200]}{'...' if len(shown) > 200 else ''}. "
            f"Return a value of the declared type or change the annotation."
        )
    return DataNode(raw)


def refuse_coroutine(where: str, returned: Any) -> None:
    """A plain ``def`` task returned a coroutine (it called an ``async def`` without awaiting
    it): never a value to store. Closed here, so Python does not warn it was never awaited."""
    if type(returned) is types.CoroutineType:
        returned.close()
        raise TaskOutputError(
            f"{where} returned a coroutine ({returned.__qualname__}) instead of a value: its "
            f"function is a plain def that did not await it. Make the task `async def` and "
            f"`await` the call, or call a synchronous function."
        )


def _fill(where: str, path: str, spec: SocketSpec, value: Any) -> Any:
    if isinstance(spec, Namespace):
        if isinstance(value, DataNode):
            value = value.value
        split = fields_of(value)  # a dataclass / pydantic instance: one node per field
        if split is not None:
            value = split
        if not isinstance(value, dict):
            raise TaskOutputError(
                f"{where}: output '{path}' is a namespace {spec.describe()} but the function "
                f"returned {type(value).__qualname__} {value!r} for it; return a dict"
            )
        out: dict[str, Any] = {}
        for key, item in value.items():
            problem = key_problem(key)
            if problem is not None:
                raise TaskOutputError(f"{where}{_in(path)}: {problem}")
            child = spec.child(key)
            socket = f"{path}.{key}" if path else key
            if child is None:
                raise TaskOutputError(
                    f"{where}: returned unknown output '{socket}'; declared: "
                    f"{', '.join(spec.fields) or '<none>'} (make the namespace dynamic to "
                    f"accept any key)"
                )
            out[key] = _fill(where, socket, child, item)
        _check_required(where, path, spec, out)
        return out
    return _node(where, path, spec, value)


def _check_required(where: str, path: str, spec: Namespace, out: dict[str, Any]) -> None:
    missing = [
        k
        for k, s in spec.fields.items()
        if k not in out and (not isinstance(s, Leaf) or s.required)
    ]
    if missing:
        prefix = f"{path}." if path else ""
        raise TaskOutputError(
            f"{where}: missing required output(s) "
            f"{', '.join(prefix + m for m in missing)} in the returned value; return them, "
            f"or declare them optional as namespace(name=(type, default))"
        )


def parse_outputs(where: str, spec: Namespace, returned: Any) -> dict[str, Any]:
    """Nested dict of new data nodes for the declared outputs ``spec`` (each leaf's value
    checked against its declared type; a coroutine refused)."""
    refuse_coroutine(where, returned)
    fields = list(spec.fields)
    if not fields and spec.dynamic is None:
        return {}
    if fields == [DEFAULT_OUTPUT] and spec.dynamic is None and spec.model is None:
        if isinstance(returned, dict) and DEFAULT_OUTPUT in returned:
            returned = returned[DEFAULT_OUTPUT]
        return {DEFAULT_OUTPUT: _fill(where, DEFAULT_OUTPUT, spec.fields[DEFAULT_OUTPUT], returned)}
    split = fields_of(returned)  # a dataclass / pydantic instance: one output per field
    if split is not None:
        returned = split
    if isinstance(returned, tuple) and spec.dynamic is None:
        paired = spec.by_position(returned)
        if isinstance(paired, str):
            raise TaskOutputError(f"{where}: {paired}")
        return {name: _fill(where, name, child, value) for name, child, value in paired}
    if not isinstance(returned, dict):
        raise TaskOutputError(
            f"{where}: declares outputs {spec.describe()} but returned "
            f"{type(returned).__qualname__} {returned!r}; return a dict keyed by output name"
        )
    out = _fill(where, "", spec, returned)
    assert isinstance(out, dict)
    return out


def has_extras(spec: SocketSpec | None) -> bool:
    """Whether any leaf of an outputs spec carries ``meta(extras=...)``."""
    if isinstance(spec, Leaf):
        return bool(spec.extras)
    if isinstance(spec, Namespace):
        return has_extras(spec.dynamic) or any(has_extras(s) for s in spec.fields.values())
    return False


def output_extras(spec: SocketSpec | None, outputs: Any) -> list[tuple[DataNode, dict[str, Any]]]:
    """Each output data node whose socket declares ``meta(extras=...)``, with those extras
    (a dynamic namespace's item spec applies to every key)."""
    if isinstance(spec, Leaf):
        if spec.extras and isinstance(outputs, DataNode):
            return [(outputs, dict(spec.extras))]
        return []
    if not isinstance(spec, Namespace) or not isinstance(outputs, dict):
        return []
    found: list[tuple[DataNode, dict[str, Any]]] = []
    for key, item in outputs.items():
        found += output_extras(spec.child(key), item)
    return found

"""Socket specifications: what a task takes and returns, from ``typing.Annotated`` hints.

``namespace(a=int, data=dynamic(int))`` declares fixed fields (``a``) and nested dynamic
namespaces (``data``, whose keys are decided at run time, one stored node per key).
A plain return type (or none) means one output called ``result``; a function without any
``return <value>`` has no outputs, as in WorkGraph.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_OUTPUT",
    "Leaf",
    "Namespace",
    "SocketSpec",
    "dynamic",
    "input_specs",
    "namespace",
    "output_spec",
    "type_matches",
]

DEFAULT_OUTPUT = "result"


class SocketSpec:
    """Base class of socket specifications."""


@dataclass(frozen=True)
class Leaf(SocketSpec):
    """A single value of (optionally) a declared type."""

    type: Any = Any
    required: bool = True

    def describe(self) -> str:
        return _type_name(self.type)


@dataclass(frozen=True)
class Namespace(SocketSpec):
    """A group of sockets: fixed ``fields`` and, if ``dynamic`` is set, any other key whose
    items follow the ``dynamic`` spec."""

    fields: Mapping[str, SocketSpec] = field(default_factory=dict)
    dynamic: SocketSpec | None = None

    def child(self, name: str) -> SocketSpec | None:
        if name in self.fields:
            return self.fields[name]
        return self.dynamic

    def describe(self) -> str:
        parts = [f"{k}: {_describe(v)}" for k, v in self.fields.items()]
        if self.dynamic is not None:
            parts.append(f"*: {_describe(self.dynamic)}")
        return "namespace(" + ", ".join(parts) + ")"

    def by_position(self, values: tuple[Any, ...]) -> list[tuple[str, SocketSpec, Any]] | str:
        """Pair a returned tuple with the declared fields in order: ``(name, spec, value)``
        triples, or why they cannot be paired (the counts differ)."""
        if len(values) != len(self.fields):
            return (
                f"returned a tuple of {len(values)} values for {len(self.fields)} declared "
                f"outputs ({', '.join(self.fields)})"
            )
        return [
            (name, spec, value)
            for (name, spec), value in zip(self.fields.items(), values, strict=True)
        ]

    def __hash__(self) -> int:
        return hash((tuple(self.fields.items()), self.dynamic))


def _describe(spec: SocketSpec) -> str:
    return spec.describe() if isinstance(spec, (Leaf, Namespace)) else repr(spec)


def _as_spec(value: Any) -> SocketSpec:
    if isinstance(value, SocketSpec):
        return value
    if isinstance(value, tuple) and len(value) == 2:  # (type, default): optional field
        return Leaf(value[0], required=False)
    return _spec_from_hint(value)


def namespace(**fields: Any) -> Namespace:
    """A namespace with fixed fields; each field is a type, ``(type, default)`` or a spec."""
    return Namespace({name: _as_spec(v) for name, v in fields.items()})


def dynamic(item_type: Any = Any, **fixed: Any) -> Namespace:
    """A namespace accepting any key (items of ``item_type``), plus optional fixed fields."""
    return Namespace({name: _as_spec(v) for name, v in fixed.items()}, _as_spec(item_type))


def _spec_from_hint(hint: Any) -> SocketSpec:
    if isinstance(hint, SocketSpec):  # a bare ``-> namespace(...)`` annotation
        return hint
    if typing.get_origin(hint) is typing.Annotated:
        for meta in typing.get_args(hint)[1:]:
            if isinstance(meta, SocketSpec):
                return meta
        return Leaf(typing.get_args(hint)[0])
    if hint is inspect.Parameter.empty:
        return Leaf(Any)
    return Leaf(hint)


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception:  # unresolved forward references: fall back to the raw annotations
        return dict(getattr(func, "__annotations__", {}))


def input_specs(func: Callable[..., Any]) -> tuple[dict[str, SocketSpec], str | None]:
    """Input sockets from the signature, and the name of the ``**kwargs`` parameter if any
    (it becomes a dynamic namespace)."""
    hints = _hints(func)
    specs: dict[str, SocketSpec] = {}
    var_kw: str | None = None
    for name, param in inspect.signature(func).parameters.items():
        hint = hints.get(name, inspect.Parameter.empty)
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            var_kw = name
            item = _spec_from_hint(hint)
            specs[name] = item if isinstance(item, Namespace) else Namespace({}, item)
        elif param.kind is inspect.Parameter.VAR_POSITIONAL:
            raise TypeError(
                f"task {func.__qualname__}: *{name} is not supported; use a list input or **kwargs"
            )
        else:
            spec = _spec_from_hint(hint)
            if param.default is not inspect.Parameter.empty and isinstance(spec, Leaf):
                spec = Leaf(spec.type, required=False)
            specs[name] = spec
    return specs, var_kw


def _returns_value(func: Callable[..., Any]) -> bool:
    """True unless the source is available and has no top-level ``return <value>``."""
    try:
        source = textwrap.dedent(inspect.getsource(func))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return True
    fn = next(
        (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))),
        None,
    )
    if fn is None:
        return True

    class Finder(ast.NodeVisitor):
        found = False

        def visit_Return(self, node: ast.Return) -> None:
            if node.value is not None:
                self.found = True

        def visit_FunctionDef(self, node: ast.FunctionDef) -> None:  # nested: not ours
            return

        visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

        def visit_Lambda(self, node: ast.Lambda) -> None:
            return

    finder = Finder()
    for stmt in fn.body:
        finder.visit(stmt)
    return finder.found


def output_spec(func: Callable[..., Any]) -> Namespace:
    """The outputs namespace from the return annotation (see module docstring)."""
    hint = _hints(func).get("return", inspect.Parameter.empty)
    if hint is None or hint is type(None):
        return Namespace({})
    if hint is inspect.Parameter.empty:
        if not _returns_value(func):
            return Namespace({})
        return Namespace({DEFAULT_OUTPUT: Leaf(Any)})
    spec = _spec_from_hint(hint)
    if isinstance(spec, Namespace):
        return spec
    return Namespace({DEFAULT_OUTPUT: spec})


def _type_name(tp: Any) -> str:
    if tp is Any:
        return "Any"
    if isinstance(tp, type):
        return tp.__qualname__
    return str(tp).replace("typing.", "")


def type_matches(tp: Any, value: Any) -> bool:
    """Whether a concrete value fits an annotation. Unknown annotation kinds are accepted:
    the check exists to catch obvious mistakes early, not to be a type checker."""
    if tp is Any or tp is inspect.Parameter.empty:
        return True
    if type(tp) is type and isinstance(value, tp):  # fast path: plain classes
        return True
    origin = typing.get_origin(tp)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return any(type_matches(arg, value) for arg in typing.get_args(tp))
    if origin is typing.Annotated:
        return type_matches(typing.get_args(tp)[0], value)
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    target = origin if origin is not None else tp
    if not isinstance(target, type):
        return True
    if target is float and isinstance(value, int) and not isinstance(value, bool):
        return True  # PEP 484: int is acceptable where float is expected
    if target is complex and isinstance(value, (int, float)):
        return True
    try:
        if isinstance(value, target):
            return True
    except TypeError:
        return True
    # numpy scalars (np.int64 for int, np.float64 for float) are fine too
    try:
        import numpy as np

        if target is int and isinstance(value, np.integer):
            return True
        if target is float and isinstance(value, (np.floating, np.integer)):
            return True
    except ImportError:  # pragma: no cover - numpy is a runtime dependency
        pass
    return False

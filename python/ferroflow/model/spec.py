"""Socket specifications: what a task takes and returns, from ``typing.Annotated`` hints.

``namespace(a=int, data=dynamic(int))`` declares fixed fields (``a``) and nested dynamic
namespaces (``data``, whose keys are decided at run time, one stored node per key).
A plain return type (or none) means one output called ``result``; a function without any
``return <value>`` has no outputs, as in WorkGraph.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
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
    "SocketMeta",
    "SocketSpec",
    "dynamic",
    "input_specs",
    "meta",
    "namespace",
    "output_spec",
    "type_matches",
]

DEFAULT_OUTPUT = "result"


class SocketSpec:
    """Base class of socket specifications."""


@dataclass(frozen=True)
class Leaf(SocketSpec):
    """A single value of (optionally) a declared type; ``help`` and ``extras`` come from
    :func:`meta` (extras: set on an output's data node when its task finishes)."""

    type: Any = Any
    required: bool = True
    help: str | None = field(default=None, compare=False)
    extras: Mapping[str, Any] | None = field(default=None, compare=False)

    def describe(self) -> str:
        return _type_name(self.type)


@dataclass(frozen=True)
class SocketMeta:
    """WorkGraph's ``meta(...)`` in ``Annotated[type, meta(...)]`` (or a ``namespace`` field):
    ``help`` (a description), ``required`` (False: optional), ``extras`` (JSON-serialisable
    key/values set on the output's data node after the task finished: ``{'unit': 'eV'}``);
    ``is_metadata`` and ``dynamic`` are accepted as WorkGraph spells them and have no effect."""

    help: str | None = None
    required: bool | None = None
    is_metadata: bool = False
    dynamic: bool = False
    extras: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.extras is not None:
            if not isinstance(self.extras, Mapping) or not all(
                isinstance(k, str) for k in self.extras
            ):
                raise TypeError(f"meta(extras=...) must be a dict with str keys: {self.extras!r}")
            try:
                json.dumps(dict(self.extras))
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"meta(extras={self.extras!r}): extras are stored as JSON ({exc})"
                ) from None


def meta(
    *,
    help: str | None = None,
    required: bool | None = None,
    is_metadata: bool = False,
    dynamic: bool = False,
    extras: Mapping[str, Any] | None = None,
) -> SocketMeta:
    """Socket metadata for ``Annotated[...]``, as WorkGraph's ``socket_spec.meta``."""
    return SocketMeta(help, required, is_metadata, dynamic, extras)


def _with_meta(spec: SocketSpec, metas: list[SocketMeta]) -> SocketSpec:
    """``spec`` with what ``meta(...)`` entries say (for a leaf: help, required, extras)."""
    if not metas or not isinstance(spec, Leaf):
        return spec
    changes: dict[str, Any] = {}
    for m in metas:
        if m.help is not None:
            changes["help"] = m.help
        if m.required is not None:
            changes["required"] = m.required
        if m.extras is not None:
            changes["extras"] = {**(changes.get("extras") or spec.extras or {}), **m.extras}
    return dataclasses.replace(spec, **changes)


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
        args = typing.get_args(hint)
        metas = [m for m in args[1:] if isinstance(m, SocketMeta)]
        for spec in args[1:]:
            if isinstance(spec, SocketSpec):
                return _with_meta(spec, metas)
        return _with_meta(Leaf(args[0]), metas)
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
                spec = dataclasses.replace(spec, required=False)
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

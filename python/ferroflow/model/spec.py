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
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .labels import key_problem
from .names import storable
from .structured import is_leaf_model, model_fields
from .typecheck import type_name

__all__ = [
    "DEFAULT_OUTPUT",
    "NO_DEFAULT",
    "Leaf",
    "Namespace",
    "Select",
    "SocketMeta",
    "SocketSpec",
    "dynamic",
    "input_specs",
    "meta",
    "namespace",
    "output_spec",
    "select",
    "socket_spec_of",
]

DEFAULT_OUTPUT = "result"


class SocketSpec:
    """Base class of socket specifications."""


class _NoDefault:
    """The ``default`` of a leaf that has none (``None`` is a default like any other)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class Leaf(SocketSpec):
    """A single value of (optionally) a declared type; ``help`` and ``extras`` come from
    :func:`meta` (extras: set on an output's data node when its task finishes)."""

    type: Any = Any
    required: bool = True
    help: str | None = field(default=None, compare=False)
    extras: Mapping[str, Any] | None = field(default=None, compare=False)
    #: the value a namespace field declared ``(type, default)`` takes when not given
    default: Any = field(default=NO_DEFAULT, compare=False, repr=False)

    def describe(self) -> str:
        return type_name(self.type)

    def __class_getitem__(cls, tp: Any) -> Any:
        """``Leaf[Model]``: keep a model (dataclass, pydantic) one value, not a namespace."""
        return typing.Annotated[tp, cls(tp)]


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
                isinstance(k, str) and storable(k) for k in self.extras
            ):
                raise TypeError(
                    "meta(extras=...) must be a dict with str keys the store can keep (no lone"
                    f" surrogate): {self.extras!r}"
                )
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
    #: the dataclass, TypedDict or pydantic model this namespace has the shape of: a task
    #: declared with it receives an instance (:mod:`.structured`); None: a plain dict
    model: Any = None

    def __post_init__(self) -> None:
        # a declared key follows the rule of keys given at run time (``**{"a.b": int}`` or a
        # lone surrogate would otherwise fail only when the value arrives, or in the store)
        problem = next(filter(None, map(key_problem, self.fields)), None)
        if problem is not None:
            raise ValueError(problem)

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
        return hash((tuple(self.fields.items()), self.dynamic, self.model))


def _describe(spec: SocketSpec) -> str:
    return spec.describe() if isinstance(spec, (Leaf, Namespace)) else repr(spec)


def _spec_mapping(value: Any) -> Namespace | None:
    """A task's ``.inputs`` (a dict of socket specs) reused as a namespace, as in
    ``namespace(add1=add.inputs)``; None for anything else."""
    if (
        isinstance(value, Mapping)
        and value
        and all(isinstance(v, SocketSpec) for v in value.values())
    ):
        return Namespace(dict(value))
    return None


def _as_spec(value: Any) -> SocketSpec:
    if isinstance(value, SocketSpec):
        return value
    reused = _spec_mapping(value)
    if reused is not None:
        return reused
    if isinstance(value, tuple) and len(value) == 2:  # (type, default): optional field
        return Leaf(value[0], required=False, default=value[1])
    return _spec_from_hint(value)


def namespace(**fields: Any) -> Namespace:
    """A namespace with fixed fields; each field is a type, ``(type, default)`` or a spec."""
    return Namespace({name: _as_spec(v) for name, v in fields.items()})


def dynamic(item_type: Any = Any, **fixed: Any) -> Namespace:
    """A namespace accepting any key (items of ``item_type``), plus optional fixed fields."""
    return Namespace({name: _as_spec(v) for name, v in fixed.items()}, _as_spec(item_type))


#: WorkGraph's socket identifiers (``add_input_spec("workgraph.int", ...)``) and their types
_IDENTIFIERS: dict[str, Any] = {
    "workgraph.any": Any,
    "workgraph.int": int,
    "workgraph.float": float,
    "workgraph.string": str,
    "workgraph.bool": bool,
    "workgraph.list": list,
    "workgraph.dict": dict,
}


def socket_spec_of(where: str, spec: Any) -> SocketSpec:
    """A socket spec from what a user may name one by: a spec, a type, an annotation or a
    WorkGraph identifier (``"workgraph.any"``, ``"workgraph.namespace"``)."""
    if isinstance(spec, str):
        if spec == "workgraph.namespace":
            return Namespace({}, Leaf())
        if spec not in _IDENTIFIERS:
            raise ValueError(
                f"{where}: unknown socket identifier {spec!r}; known: "
                f"{', '.join([*_IDENTIFIERS, 'workgraph.namespace'])}, or pass a type"
            )
        return Leaf(_IDENTIFIERS[spec])
    return _as_spec(spec)


def _spec_from_hint(hint: Any) -> SocketSpec:
    if isinstance(hint, SocketSpec):  # a bare ``-> namespace(...)`` annotation
        return hint
    if typing.get_origin(hint) is typing.Annotated:
        base: SocketSpec | None = None
        args = typing.get_args(hint)
        metas = [m for m in args[1:] if isinstance(m, SocketMeta)]
        for meta in args[1:]:
            found = meta if isinstance(meta, SocketSpec) else _spec_mapping(meta)
            if found is not None:
                base = found
                break
        if base is None:
            base = _spec_from_hint(args[0])
        for meta in args[1:]:
            if isinstance(meta, Select):
                base = meta.apply(base)
        return _with_meta(base, metas)
    if hint is inspect.Parameter.empty:
        return Leaf(Any)
    if is_leaf_model(hint):
        return Leaf(hint)
    shape = model_fields(hint)
    if shape is not None:
        fields, extra = shape
        return Namespace(
            {name: _field_spec(tp, required) for name, (tp, required) in fields.items()},
            None if extra is None else _as_spec(extra),
            model=hint,
        )
    return Leaf(hint)


def _field_spec(hint: Any, required: bool) -> SocketSpec:
    spec = _spec_from_hint(hint)
    if not required and isinstance(spec, Leaf):
        return replace(spec, required=False)  # keeping its meta (help, extras)
    return spec


@dataclass(frozen=True)
class Select:
    """``select(...)`` in ``Annotated[dict, task.inputs, select(exclude="data.pw.x")]``:
    reuse another task's namespace minus or only some of its sockets (WorkGraph's
    ``socket_spec.select``). ``include`` / ``exclude`` take dotted paths, the ``*_prefix``
    forms filter top-level names by prefix, then ``rename`` and ``prefix`` change top-level
    names. A path or name that is not in the namespace is refused (WorkGraph ignores it, so a
    typo would silently keep the socket)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    include_prefix: tuple[str, ...] = ()
    exclude_prefix: tuple[str, ...] = ()
    rename: Mapping[str, str] = field(default_factory=dict)
    prefix: str = ""

    def __hash__(self) -> int:
        return hash((self.include, self.exclude, self.include_prefix, self.exclude_prefix))

    def apply(self, spec: SocketSpec) -> Namespace:
        if not isinstance(spec, Namespace):
            raise TypeError(f"select(...) reshapes a namespace, not {_describe(spec)}")
        top = list(spec.fields)
        include = [*self.include, *(k for k in top for p in self.include_prefix if k.startswith(p))]
        exclude = [*self.exclude, *(k for k in top for p in self.exclude_prefix if k.startswith(p))]
        if self.include or self.include_prefix:
            spec = _keep(spec, include, "")
        for path in exclude:
            spec = _drop(spec, path.split("."), path)
        fields = dict(spec.fields)
        for old in self.rename:
            if old not in fields:
                raise ValueError(f"select(rename=...): no socket '{old}' in {spec.describe()}")
        renamed: dict[str, SocketSpec] = {}
        for key, value in fields.items():
            name = self.prefix + self.rename.get(key, key)
            if name in renamed:  # two sockets would share a name (a swap is fine)
                raise ValueError(f"select(rename=..., prefix=...): two sockets named '{name}'")
            renamed[name] = value
        return replace(spec, fields=renamed, model=None)


def _keep(spec: Namespace, paths: list[str], where: str) -> Namespace:
    """Only the sockets named by dotted ``paths`` (all of a namespace a path stops at)."""
    kept: dict[str, SocketSpec] = {}
    heads: dict[str, list[str]] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        if head not in spec.fields:
            raise ValueError(f"select(include=...): no socket '{where}{head}' in {spec.describe()}")
        heads.setdefault(head, []).append(rest)
    for head, rests in heads.items():
        child = spec.fields[head]
        if "" in rests or not isinstance(child, Namespace):
            kept[head] = child
        else:
            kept[head] = _keep(child, rests, f"{where}{head}.")
    return replace(spec, fields=kept, model=None)


def _drop(spec: Namespace, parts: list[str], path: str) -> Namespace:
    head = parts[0]
    child = spec.fields.get(head)
    if child is None or (len(parts) > 1 and not isinstance(child, Namespace)):
        raise ValueError(f"select(exclude=...): no socket '{path}' to exclude")
    fields = dict(spec.fields)
    if len(parts) == 1:
        del fields[head]
    else:
        assert isinstance(child, Namespace)
        fields[head] = _drop(child, parts[1:], path)
    return replace(spec, fields=fields, model=None)


def _names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def select(
    include: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
    include_prefix: str | Iterable[str] | None = None,
    exclude_prefix: str | Iterable[str] | None = None,
    rename: Mapping[str, str] | None = None,
    prefix: str | None = None,
) -> Select:
    """Reshape a reused namespace inside ``Annotated[...]`` (see :class:`Select`)."""
    return Select(
        _names(include),
        _names(exclude),
        _names(include_prefix),
        _names(exclude_prefix),
        dict(rename or {}),
        prefix or "",
    )


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
        elif param.kind is inspect.Parameter.POSITIONAL_ONLY:
            # every input reaches the function by its socket name (as in WorkGraph, where such
            # a function fails at every call): refuse it here, not at the first run
            raise TypeError(
                f"task {func.__qualname__}: input '{name}' is positional-only (before '/'); "
                "task inputs are passed by name: remove the '/'"
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

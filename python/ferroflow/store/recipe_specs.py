"""Socket specs in a recipe: a graph's declared inputs and outputs, a task's own outputs.

A recipe is JSON, so a spec is written as data and its types by name: ``None`` for ``Any``,
``"module.qualname"`` for a class (``"None"`` for ``NoneType``), ``{"union": [...]}``,
``{"literal": [...]}`` (JSON scalars) and ``{"generic": origin, "args": [...]}``
(``list[int]``) for the parametrised forms, ``"..."`` for the ellipsis of ``tuple[int, ...]``,
and ``{"unnamed": repr}`` for what has no name (a ``TypeVar``, a forward reference). A leaf
is ``{"leaf": type}`` (with ``"optional": true``, ``"help"``, ``"extras"`` when set, and
``"default"`` for a namespace field's ``(type, default)`` whose default is JSON data: one that
is not, a ``(float, math.nan)`` or an object, is left out, and the field reloads optional), a
namespace ``{"fields": {...}}`` (with ``"dynamic"`` and ``"model"`` when set).

Reading resolves each name with the caller's ``resolve`` (the restart's import rules live
above the store). A type is only a check (:func:`~ferroflow.model.typecheck.type_matches`): one
that does not resolve to a class (a class defined inside a function, ``unnamed``) is read as
``Any``, and the caller is told, naming the socket, so it can warn; it never fails a load.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from typing import Any

from ..errors import FerroflowError
from ..model.spec import NO_DEFAULT, Leaf, Namespace, SocketSpec

__all__ = ["Resolve", "read_spec", "spec_json", "type_json"]

#: ``module.qualname`` -> the object it names, or None (the caller's import rules)
Resolve = Callable[[str], Any]

_SCALARS = (str, int, float, bool, type(None))


def type_json(tp: Any) -> Any:
    """``tp`` as recipe data (see the module docstring)."""
    if tp is Any:
        return None
    if tp is Ellipsis:
        return "..."
    if tp is None or tp is type(None):
        return "None"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        return {"union": [type_json(arg) for arg in args]}
    if origin is typing.Literal and all(type(arg) in _SCALARS for arg in args):
        return {"literal": list(args)}
    if isinstance(origin, type) and args:
        return {"generic": type_json(origin), "args": [type_json(arg) for arg in args]}
    if isinstance(tp, type) and origin is None:
        return f"{tp.__module__}.{tp.__qualname__}"
    return {"unnamed": repr(tp)}


def _is_json_data(value: Any) -> bool:
    """Whether ``value`` is plain JSON data (finite numbers, str keys) that reads back equal."""
    try:
        return bool(json.loads(json.dumps(value, allow_nan=False)) == value)
    except (TypeError, ValueError, RecursionError):
        return False


def spec_json(spec: SocketSpec) -> Any:
    """A socket spec as recipe data (see the module docstring)."""
    if isinstance(spec, Leaf):
        found: dict[str, Any] = {"leaf": type_json(spec.type)}
        if not spec.required:
            found["optional"] = True
        if spec.help is not None:
            found["help"] = spec.help
        if spec.extras:
            found["extras"] = dict(spec.extras)  # JSON already: meta() checks it
        if spec.default is not NO_DEFAULT and _is_json_data(spec.default):
            found["default"] = spec.default
        return found
    if isinstance(spec, Namespace):
        found = {"fields": {key: spec_json(child) for key, child in spec.fields.items()}}
        if spec.dynamic is not None:
            found["dynamic"] = spec_json(spec.dynamic)
        if spec.model is not None:
            found["model"] = type_json(spec.model)
        return found
    return {"unnamed": repr(spec)}


class _Reader:
    """Reads one spec, collecting the types it had to loosen to ``Any``."""

    def __init__(self, resolve: Resolve, loosened: list[str]) -> None:
        self.resolve = resolve
        self.loosened = loosened

    def type(self, where: str, data: Any) -> Any:
        missing: list[str] = []
        found = self._type(data, missing)
        if missing:
            self.loosened.append(
                f"{where}: its type {missing[0]} names no importable class, so it is checked as Any"
            )
            return Any
        return found

    def _type(self, data: Any, missing: list[str]) -> Any:
        """The type ``data`` names; a part that does not resolve is added to ``missing``."""
        if data is None:
            return Any
        if data == "...":
            return Ellipsis
        if data == "None":
            return type(None)
        if isinstance(data, str):
            found = self.resolve(data)
            if not isinstance(found, type):
                missing.append(repr(data))
                return Any
            return found
        if isinstance(data, dict) and len(data) == 1 and "union" in data:
            return typing.Union[tuple(self._type(arg, missing) for arg in data["union"])]  # noqa: UP007
        if isinstance(data, dict) and len(data) == 1 and "literal" in data:
            values = data["literal"]
            if not isinstance(values, list) or not all(type(v) in _SCALARS for v in values):
                raise FerroflowError(f"not a recipe Literal: {data!r}")
            return typing.Literal[tuple(values)]
        if isinstance(data, dict) and set(data) == {"generic", "args"}:
            origin = self._type(data["generic"], missing)
            args = tuple(self._type(arg, missing) for arg in data["args"])
            return Any if missing else origin[args]
        if isinstance(data, dict) and set(data) == {"unnamed"}:
            missing.append(str(data["unnamed"]))
            return Any
        raise FerroflowError(f"not a recipe type: {data!r}")

    def spec(self, where: str, data: Any, path: str = "") -> SocketSpec:
        """The spec ``data`` describes; ``where`` names the root ("graph input"), ``path`` the
        socket under it (dotted)."""
        here = f"{where} '{path}'" if path else where
        prefix = f"{path}." if path else ""
        if not isinstance(data, dict):
            raise FerroflowError(f"{here}: not a recipe socket spec: {data!r}")
        if "leaf" in data:
            extras = data.get("extras")
            if extras is not None:
                json.dumps(extras)  # JSON it was; a ValueError/TypeError is "malformed"
            default = data.get("default", NO_DEFAULT)
            if default is not NO_DEFAULT and not _is_json_data(default):
                raise FerroflowError(f"{here}: not a recipe default: {default!r}")
            return Leaf(
                self.type(here, data["leaf"]),
                required=not data.get("optional", False),
                help=None if data.get("help") is None else str(data["help"]),
                extras=None if extras is None else dict(extras),
                default=default,
            )
        if "fields" in data:
            fields = data["fields"]
            if not isinstance(fields, dict):
                raise FerroflowError(f"{here}: not a recipe namespace: {data!r}")
            dynamic = data.get("dynamic")
            model = data.get("model")
            return Namespace(
                {str(k): self.spec(where, v, f"{prefix}{k}") for k, v in fields.items()},
                None if dynamic is None else self.spec(where, dynamic, f"{prefix}*"),
                model=None if model is None else self._model(here, model),
            )
        if set(data) == {"unnamed"}:
            self.loosened.append(
                f"{here}: its spec {data['unnamed']} cannot be rebuilt, read as Any"
            )
            return Leaf()
        raise FerroflowError(f"{here}: not a recipe socket spec: {data!r}")

    def _model(self, where: str, data: Any) -> Any:
        found = self.type(where, data)
        if found is Any:
            return None  # a plain dict then, as the warning says
        return found


def read_spec(
    where: str, data: Any, resolve: Resolve, loosened: list[str], path: str = ""
) -> SocketSpec:
    """The socket spec recipe ``data`` describes (``where`` and the dotted ``path`` under it
    name it in messages); a type that does not resolve is read as ``Any`` and described in
    ``loosened``."""
    return _Reader(resolve, loosened).spec(where, data, path)

"""Run-time type checks: whether a value fits an annotation, and the fast path's exact class.

Declared types are checked when a value arrives at a socket at run time (a task's returned
value, an upstream task's value at an input), not only for constants at build time. Most values
are exactly of the declared class (an ``int`` for ``-> int``), so each socket gets that class
once, at decoration, and a value of exactly that type passes with one pointer compare (the fast
lane does it in Rust). Anything else gets the full, shallow check of
:func:`type_matches` (``float`` accepts ``int``, ``Optional`` accepts ``None``, a subclass
fits its base, ``list[int]`` checks only ``list``).
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

__all__ = ["Inexact", "exact_type", "type_matches", "type_name"]


class Inexact:
    """Never the type of a value: annotations such as ``int | str`` or ``Literal[...]``, which
    no single class fits exactly, always get the full check."""


def exact_type(tp: Any) -> type | None:
    """The class whose exact instances fit ``tp`` at a glance; None when any value fits
    (``Any``, ``object``, no annotation, or a form the check does not understand, such as an
    unresolved forward reference or a ``TypeVar``)."""
    if tp is Any or tp is inspect.Parameter.empty or tp is object:
        return None
    if type(tp) is type:
        return tp
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return exact_type(typing.get_args(tp)[0])
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        members = [exact_type(a) for a in typing.get_args(tp) if a is not type(None)]
        if any(m is None for m in members):
            return None  # Optional[Any], int | Any: anything fits
        return members[0] if len(members) == 1 else Inexact
    if origin is typing.Literal:
        return Inexact
    if isinstance(origin, type):
        return origin  # list[int] -> list: the check is shallow
    if isinstance(tp, type):
        return tp  # a class with a metaclass of its own (an ABC)
    return None


def type_name(tp: Any) -> str:
    """How messages name an annotation: a class by its qualified name, ``Any``, or the
    annotation without the ``typing.`` prefix."""
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

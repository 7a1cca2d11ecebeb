"""Run-time type checks' fast path: the one class whose exact instances fit an annotation.

Declared types are checked when a value arrives at a socket at run time (a task's returned
value, an upstream task's value at an input), not only for constants at build time. Most values
are exactly of the declared class (an ``int`` for ``-> int``), so each socket gets that class
once, at decoration, and a value of exactly that type passes with one pointer compare (the fast
lane does it in Rust). Anything else gets the full, shallow check of
:func:`.spec.type_matches` (``float`` accepts ``int``, ``Optional`` accepts ``None``, a subclass
fits its base, ``list[int]`` checks only ``list``).
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

__all__ = ["Inexact", "exact_type"]


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

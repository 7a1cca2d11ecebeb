"""Task functions that wrap a user's function and take inputs of their own (a monitor's
``interval`` and ``timeout``, a python job's ``computer``): the wrapper shows the user's
parameters plus those, as keyword inputs with defaults, so the task's sockets are read from it
as from any function. The wrapper also says which kind it is (:func:`wrapper_kind`), so a
recipe can wrap the user's function again when it rebuilds the task."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["with_own_inputs", "wrapper_kind"]

_KIND = "_ferroflow_wrapper"


def with_own_inputs(
    wrapper: Callable[..., Any],
    func: Callable[..., Any],
    own: Mapping[str, tuple[type, Any]],
    kind: str,
) -> Callable[..., Any]:
    """``wrapper`` with ``func``'s signature and annotations plus the keyword inputs ``own``
    (``name -> (type, default)``), placed before any ``**kwargs``, marked as a wrapper of
    ``kind`` (``"monitor"``, ``"pythonjob"``); returns ``wrapper``."""
    signature = inspect.signature(func)
    params = list(signature.parameters.values())
    var_kw = [p for p in params if p.kind is inspect.Parameter.VAR_KEYWORD]
    plain = [p for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD]
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
        for name, (_, default) in own.items()
    ]
    wrapper.__signature__ = signature.replace(parameters=[*plain, *extra, *var_kw])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {
        **func.__annotations__,
        **{name: tp for name, (tp, _) in own.items()},
    }
    setattr(wrapper, _KIND, kind)
    return wrapper


def wrapper_kind(func: Callable[..., Any]) -> str | None:
    """The kind :func:`with_own_inputs` marked ``func`` with; None for a user's function."""
    kind = getattr(func, _KIND, None)
    return kind if isinstance(kind, str) else None

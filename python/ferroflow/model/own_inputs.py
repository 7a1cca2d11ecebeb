"""Task functions that wrap a user's function and take inputs of their own (a monitor's
``interval`` and ``timeout``, a python job's ``computer``): the wrapper shows the user's
parameters plus those, as keyword inputs with defaults, so the task's sockets are read from it
as from any function."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["with_own_inputs"]


def with_own_inputs(
    wrapper: Callable[..., Any], func: Callable[..., Any], own: Mapping[str, tuple[type, Any]]
) -> Callable[..., Any]:
    """``wrapper`` with ``func``'s signature and annotations plus the keyword inputs ``own``
    (``name -> (type, default)``), placed before any ``**kwargs``; returns ``wrapper``."""
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
    return wrapper

"""Task inputs declared with a dataclass or pydantic model, at call time: the function gets an
instance of the model, rebuilt from the stored field values (see :mod:`.structured` for how a
model becomes a namespace of sockets)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .spec import Namespace, SocketSpec
from .structured import rebuild

__all__ = ["WithModels", "as_models", "has_model"]


def has_model(spec: SocketSpec) -> bool:
    """Whether a task declared with ``spec`` receives a model instance somewhere in it."""
    if not isinstance(spec, Namespace):
        return False
    if spec.model is not None:
        return True
    children = [*spec.fields.values(), *([spec.dynamic] if spec.dynamic is not None else [])]
    return any(has_model(child) for child in children)


def as_models(spec: SocketSpec, value: Any) -> Any:
    """The value a task function receives for stored ``value`` at an input declared ``spec``:
    the namespaces declared with a model class become instances of it (see
    :mod:`.structured`), everything else as it is."""
    if not isinstance(spec, Namespace) or not isinstance(value, dict):
        return value

    def child(key: str, item: Any) -> Any:
        sub = spec.child(key)
        return item if sub is None else as_models(sub, item)

    if spec.model is None:
        return {key: child(key, item) for key, item in value.items()}
    return rebuild(spec.model, value, child)


class WithModels:
    """A task function that rebuilds its model inputs before the call: what a backend that
    calls the function elsewhere (a Dask worker) ships instead of the bare function."""

    __slots__ = ("func", "specs")

    def __init__(self, func: Callable[..., Any], specs: dict[str, SocketSpec]) -> None:
        self.func = func
        self.specs = specs

    def __call__(self, **kwargs: Any) -> Any:
        for key, spec in self.specs.items():
            if key in kwargs:
                kwargs[key] = as_models(spec, kwargs[key])
        return self.func(**kwargs)

"""Dataclasses, ``TypedDict``\\ s and pydantic models as socket namespaces, as WorkGraph reads them.

A WorkGraph user annotates ``data: InputsModel`` or ``-> OutputsModel`` and gets one socket, and
one stored node, per field: the model is a *shape*, not a value. So such a class becomes a
:class:`~ferroflow.model.spec.Namespace` that remembers the class (``model``): a model instance
given to or returned through it is split into its fields (:func:`fields_of`), and a task whose
input is declared with a class gets an instance of that class back (:func:`rebuild`), built
from the stored field values.

Exceptions, as in WorkGraph: a pydantic model whose ``model_config`` says ``leaf: True``, and
any class wrapped as ``Leaf[Model]``, stay one value (one node). A pydantic model with
``extra: 'allow'`` also takes keys beyond its fields (``item_type`` in its config types them).
pydantic is not a dependency: a class counts as a pydantic model if it has ``model_fields``
and ``model_config``, the v2 API.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from typing import Any

__all__ = ["fields_of", "is_leaf_model", "model_fields", "rebuild"]


def _is_pydantic(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "model_fields") and hasattr(tp, "model_config")


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__total__")


def is_leaf_model(tp: Any) -> bool:
    """A pydantic model declared one value (``model_config = {'leaf': True}``)."""
    return _is_pydantic(tp) and bool(tp.model_config.get("leaf"))


def model_fields(tp: Any) -> tuple[dict[str, tuple[Any, bool]], Any] | None:
    """For a class that is a namespace shape: its fields as ``name -> (annotation, required)``
    and the type of extra keys (``None``: none allowed); ``None`` for any other type."""
    if _is_typeddict(tp):
        hints = typing.get_type_hints(tp, include_extras=True)
        required = getattr(tp, "__required_keys__", frozenset(hints))
        return {name: (hint, name in required) for name, hint in hints.items()}, None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp, include_extras=True)
        return {
            f.name: (
                hints.get(f.name, Any),
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            )
            for f in dataclasses.fields(tp)
            if f.init  # a field __init__ does not take is computed, not given
        }, None
    if _is_pydantic(tp) and not is_leaf_model(tp):
        fields = {
            name: (info.annotation if info.annotation is not None else Any, info.is_required())
            for name, info in tp.model_fields.items()
        }
        config = tp.model_config
        extra = config.get("item_type", Any) if config.get("extra") == "allow" else None
        return fields, extra
    return None


def fields_of(value: Any) -> dict[str, Any] | None:
    """A dataclass or pydantic model instance as a dict of its fields (one level: a nested
    model stays an instance, split in turn by its own namespace); ``None`` for other values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
    if _is_pydantic(type(value)):
        return dict(value)  # fields and, for extra='allow', the extra keys
    return None


def rebuild(model: Any, value: Any, child: Callable[[str, Any], Any]) -> Any:
    """The instance of ``model`` a task function receives for the stored field values
    ``value`` (``child(key, item)`` rebuilds nested ones first); a ``TypedDict`` is a dict."""
    if not isinstance(value, dict):
        return value
    items = {key: child(key, item) for key, item in value.items()}
    if _is_typeddict(model):
        return items
    return model(**items)

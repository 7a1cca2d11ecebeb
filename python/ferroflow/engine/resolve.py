"""Input bindings to data nodes: what a task's sockets point at once its producers ran."""

from __future__ import annotations

from typing import Any

from ..errors import TaskInputError
from ..model.sockets import FutureSocket

__all__ = ["resolve", "resolve_available"]


def _walk(outputs: dict[str, Any] | None, path: tuple[str, ...], where: str, producer: str) -> Any:
    node: Any = outputs
    for part in path:
        if not isinstance(node, dict) or part not in node:
            raise TaskInputError(
                f"{where}: task '{producer}' finished without producing output '{'.'.join(path)}'"
            )
        node = node[part]
    return node


def resolve(binding: Any, where: str) -> Any:
    """Input bindings → data nodes (nested dicts for namespaces)."""
    if isinstance(binding, FutureSocket):
        producer = binding._task
        return _walk(producer.outputs, binding._path, where, producer.path)
    if isinstance(binding, dict):
        return {k: resolve(v, f"{where}.{k}") for k, v in binding.items()}
    return binding


def resolve_available(binding: Any) -> Any:
    """Like :func:`resolve`, but leaves out the outputs that failed or skipped producers never
    made (``None`` for a socket that has no value)."""
    if isinstance(binding, FutureSocket):
        producer = binding._task
        try:
            return _walk(producer.outputs, binding._path, "", producer.path)
        except TaskInputError:
            return None
    if isinstance(binding, dict):
        found = {k: resolve_available(v) for k, v in binding.items()}
        return {k: v for k, v in found.items() if v is not None}
    return binding

"""Input bindings to data nodes: what a task's sockets point at once its producers ran."""

from __future__ import annotations

from typing import Any

from ..errors import TaskInputError
from ..model.context_read import ContextRead
from ..model.data import DataNode
from ..model.sockets import FutureSocket
from ..model.zones import zone_link

__all__ = ["resolve", "resolve_available"]


def _walk(outputs: dict[str, Any] | None, path: tuple[str, ...], where: str, producer: Any) -> Any:
    """The output at ``path`` of task node ``producer`` (whose path, and so its name, is made
    only for the error: a numbered task's name is made when first read)."""
    node: Any = outputs
    for part in path:
        if not isinstance(node, dict) or part not in node:
            raise TaskInputError(
                f"{where}: task '{producer.path}' finished without producing output"
                f" '{'.'.join(path)}'"
            )
        node = node[part]
    return node


def _untaken(producer: Any) -> bool:
    """A task of a zone branch that was not taken: its outputs read as ``None``."""
    link = zone_link(producer)
    return link is not None and link.untaken


def resolve(binding: Any, where: str) -> Any:
    """Input bindings → data nodes (nested dicts for namespaces); a context read gives the
    value a zone task last wrote under its key, else its entry's."""
    if isinstance(binding, FutureSocket):
        producer = binding._task
        if producer.outputs is None and _untaken(producer):
            return DataNode(None)
        return _walk(producer.outputs, binding._path, where, producer)
    if isinstance(binding, dict):
        return {k: resolve(v, f"{where}.{k}") for k, v in binding.items()}
    if type(binding) is ContextRead:
        runtime = binding.runtime
        if not runtime.zoned:
            return resolve(binding.entry, where)
        found = runtime.values.get(binding.key)
        return found if found is not None else resolve(_written(binding), where)
    return binding


def _written(read: ContextRead) -> Any:
    """What a read of a run-time context gets when no task has written its key in this run:
    its entry, unless a zone task wrote that (its branch was not taken, or the loop never
    ran), then what the key held before, back to the first entry no zone task wrote. Every
    writer of a run-time context records its value when it runs, so none of those ran."""
    entry, before = read.origin, read.runtime.before
    if not (isinstance(entry, FutureSocket) and id(entry) in before):
        return read.entry  # (a graph input's data node, when the run gave it)
    while isinstance(entry, FutureSocket) and id(entry) in before:
        entry = before[id(entry)]
    return entry


def resolve_available(binding: Any) -> Any:
    """Like :func:`resolve`, but leaves out the outputs that failed or skipped producers never
    made (``None`` for a socket that has no value)."""
    if type(binding) is ContextRead:
        runtime = binding.runtime
        if not runtime.zoned:
            return resolve_available(binding.entry)
        found = runtime.values.get(binding.key)
        return found if found is not None else resolve_available(_written(binding))
    if isinstance(binding, FutureSocket):
        producer = binding._task
        try:
            return _walk(producer.outputs, binding._path, "", producer)
        except TaskInputError:
            return None
    if isinstance(binding, dict):
        found = {k: resolve_available(v) for k, v in binding.items()}
        return {k: v for k, v in found.items() if v is not None}
    return binding

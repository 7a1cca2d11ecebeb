"""``wg.ctx``, WorkGraph's context: named values and sockets a script keeps beside its tasks.

A read links its reader to the task that wrote the entry when the script read it (WorkGraph
takes the value when the reader starts and creates no dependency; the two agree when a script
writes an entry before reading it, which ferroflow requires). What tasks inside zones write is
run-time state, as in WorkGraph: a read is a :class:`~ferroflow.model.context_read.ContextRead`
that resolves to the latest such value (a ``While`` body advancing ``wg.ctx.n``).
:mod:`ferroflow.builtin_tasks` has WorkGraph's ``get_context`` / ``set_context`` spellings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model.context_read import ContextRead, RuntimeContext
from .model.data import DataNode
from .model.sockets import FutureSocket, GraphInputSocket
from .model.zones import note_context_write
from .views.tasks import GraphTask

__all__ = ["Context"]


class Context:
    """``wg.ctx``: named values and sockets a script keeps beside its tasks (WorkGraph's
    context). ``wg.ctx.x = 2`` or ``= task.outputs.result`` writes; ``wg.ctx.x`` used as a
    task input reads: a value becomes one data node shared by every reader, a socket links
    the reader to the task that writes it. Dotted keys nest (``wg.ctx = {"data.y": 3}``)."""

    __slots__ = ("_entries", "_prefix", "_runtime", "_where")
    _entries: dict[str, Any]
    _where: str
    _runtime: RuntimeContext
    _prefix: str

    def __init__(
        self,
        where: str,
        entries: dict[str, Any] | None = None,
        runtime: RuntimeContext | None = None,
        prefix: str = "",
    ) -> None:
        object.__setattr__(self, "_where", where)
        object.__setattr__(self, "_entries", {} if entries is None else entries)
        #: what zone tasks write while the graph runs, shared by the nested groups
        object.__setattr__(self, "_runtime", runtime if runtime is not None else RuntimeContext())
        #: the dotted key of this group (``"data."``), empty at the top
        object.__setattr__(self, "_prefix", prefix)

    def _update(self, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            *outer, last = str(key).split(".")
            entries = self._entries
            for part in outer:
                inner = entries.get(part)
                if not isinstance(inner, dict):
                    inner = entries[part] = {}
                entries = inner
            previous = entries.get(last)
            entries[last] = found = _context_value(f"{self._where}.{key}", value)
            if note_context_write(self._runtime, f"{self._prefix}{key}", found):
                self._runtime.before[id(found)] = previous

    def __setattr__(self, name: str, value: Any) -> None:
        self._update({name: value})

    def _read(self, key: str) -> Any:
        """The entry under a dotted ``key`` (``"sum.add1"``): a socket, a data node, or a
        :class:`Context` of a nested group; AttributeError naming what exists otherwise."""
        found: Any = self
        for part in key.split("."):
            if not isinstance(found, Context):
                raise AttributeError(f"{self._where}: entry '{key}' is not a group at '{part}'")
            found = getattr(found, part)
        return found

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._entries:
            raise AttributeError(
                f"{self._where} has no entry '{name}' yet; entries: "
                f"{', '.join(self._entries) or '<none>'} (write it before a task reads it)"
            )
        found = self._entries[name]
        key = f"{self._prefix}{name}"
        if isinstance(found, dict):
            return Context(f"{self._where}.{name}", found, self._runtime, f"{key}.")
        return ContextRead(key, found, self._runtime)

    def __dir__(self) -> list[str]:
        return list(self._entries)

    def __repr__(self) -> str:
        return f"<{self._where}: {', '.join(self._entries) or 'empty'}>"


def _context_value(where: str, value: Any) -> Any:
    """What a context entry holds: sockets and data nodes as they are, a dict nested, any
    other value in one data node (so every reader shares it)."""
    if isinstance(value, GraphTask):
        return value.outputs
    if isinstance(value, Context):
        return value._entries
    if isinstance(value, dict):
        return {str(k): _context_value(f"{where}.{k}", v) for k, v in value.items()}
    if isinstance(value, (FutureSocket, DataNode, GraphInputSocket, ContextRead)):
        return value
    return DataNode(value)

"""WorkGraph's built-in tasks named by string in ``wg.add_task("workgraph.…", ...)``.

``workgraph.set_context`` (``key``, ``value``) writes a context entry and
``workgraph.get_context`` (``key``) reads one into ``.outputs.result``, for scripts written in
WorkGraph's node-graph style. WorkGraph stores nothing for either (no process node, no link of
their own), and neither does ferroflow: they act on ``wg.ctx`` when the graph is built, as
``wg.ctx.key = value`` and ``wg.ctx.key`` do (see :mod:`ferroflow.context`), so they are not
among ``wg.tasks``. The zones (``workgraph.if_zone``, ``while_zone``, ``map_zone``, ``zone``)
are :class:`ZoneTask`: tasks added with its ``add_task`` are the zone's children
(:mod:`ferroflow.model.zones`); ``workgraph.select`` is a task like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .context import Context
from .errors import FerroflowError
from .model.operators import select
from .model.taskdef import TaskDef
from .model.zones import ZONE_IDENTIFIERS

__all__ = ["BUILTIN_TASKS", "BuiltinTask", "ZoneTask", "builtin_task"]

#: the built-in identifiers that name an ordinary task
BUILTIN_TASKS: dict[str, TaskDef] = {"workgraph.select": select}


class ZoneTask:
    """A zone added in WorkGraph's node-graph style (``wg.add_task("workgraph.if_zone",
    conditions=...)``): ``zone.add_task(f, ...)`` adds a child; a Map's ``item``, ``gather``
    and ``outputs``, and the zone's ``name`` and ``state`` are the zone's own."""

    __slots__ = ("_block", "_owner")

    def __init__(self, owner: Any, block: Any) -> None:
        #: the WorkGraph whose ``add_task`` adds the children
        self._owner = owner
        self._block = block

    def add_task(self, identifier: Any, name: str | None = None, **inputs: Any) -> Any:
        with self._block:
            return self._owner.add_task(identifier, name, **inputs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._block, name)

    def __repr__(self) -> str:
        return repr(self._block)


class BuiltinOutputs:
    """``get_context``'s outputs: ``.result`` (also ``["result"]``) is the entry it read.

    An entry the context does not have when the task is added is an error only when
    ``.result`` is used (WorkGraph reads the context at run time, so a script may add a
    ``get_context`` it never wires to anything)."""

    __slots__ = ("_missing", "_result")

    def __init__(self, result: Any, missing: str | None = None) -> None:
        self._result = result
        self._missing = missing

    @property
    def result(self) -> Any:
        if self._missing is not None:
            raise FerroflowError(self._missing)
        return self._result

    def __getitem__(self, name: str) -> Any:
        if name != "result":
            raise KeyError(f"a context task has only the output 'result', not {name!r}")
        return self.result


class BuiltinTask:
    """What ``add_task("workgraph.get_context" | "workgraph.set_context", ...)`` returns."""

    __slots__ = ("identifier", "key", "name", "outputs")

    def __init__(
        self, identifier: str, name: str, key: str, result: Any, missing: str | None = None
    ) -> None:
        self.identifier = identifier
        self.name = name
        self.key = key
        self.outputs = BuiltinOutputs(result, missing)

    def __repr__(self) -> str:
        return f"<{self.identifier} '{self.name}' key={self.key!r}>"


def _key(where: str, inputs: dict[str, Any]) -> str:
    key = inputs.pop("key", None)
    if not isinstance(key, str) or not key:
        raise TypeError(f"{where}: key= must be the context entry's name (a str), got {key!r}")
    return key


def _set_context(ctx: Context, where: str, name: str, inputs: dict[str, Any]) -> BuiltinTask:
    key = _key(where, inputs)
    if "value" not in inputs:
        raise TypeError(f"{where}: value= is missing (the value or socket to keep under {key!r})")
    value = inputs.pop("value")
    ctx._update({key: value})
    return BuiltinTask("workgraph.set_context", name, key, None)


def _get_context(ctx: Context, where: str, name: str, inputs: dict[str, Any]) -> BuiltinTask:
    key = _key(where, inputs)
    try:
        found = ctx._read(key)
    except AttributeError as exc:
        missing = f"{where} '{name}': {exc}; write the entry before the task that reads it"
        return BuiltinTask("workgraph.get_context", name, key, None, missing)
    return BuiltinTask("workgraph.get_context", name, key, found)


_BUILTINS: dict[
    str, tuple[Callable[[Context, str, str, dict[str, Any]], BuiltinTask], set[str]]
] = {
    "workgraph.set_context": (_set_context, {"key", "value"}),
    "workgraph.get_context": (_get_context, {"key"}),
}


def builtin_task(
    ctx: Context, identifier: str, name: str | None, inputs: Mapping[str, Any]
) -> BuiltinTask:
    """Apply the built-in ``identifier`` to ``ctx`` now; refuse unknown identifiers and
    unexpected inputs by name."""
    where = f"add_task({identifier!r})"
    found = _BUILTINS.get(identifier)
    if found is None:
        raise FerroflowError(
            f"{where}: ferroflow has no built-in task of that name; it has "
            f"{', '.join([*_BUILTINS, *BUILTIN_TASKS, *ZONE_IDENTIFIERS])}; "
            f"pass a @task function otherwise"
        )
    make, takes = found
    unexpected = sorted(set(inputs) - takes)
    if unexpected:  # before anything is written to the context
        raise TypeError(
            f"{where}: unexpected input(s) {', '.join(unexpected)}; "
            f"it takes {', '.join(sorted(takes))}"
        )
    return make(ctx, where, name or identifier.rpartition(".")[2], dict(inputs))

"""A read of ``wg.ctx.key`` used as a task input, a condition or a graph output.

WorkGraph's context lives at run time: a task reads an entry when it starts, and a task inside
a zone (:mod:`ferroflow.model.zones`) that writes an entry changes what later readers see (a
``While`` body advancing ``wg.ctx.n``, two ``If`` branches each setting ``wg.ctx.result``).
ferroflow keeps its build-time rule for everything outside zones (a reader waits for, and reads,
the entry's writer at the time the script read it: deterministic, and what WorkGraph gives when
a script writes before it reads) and adds the run-time part only where zones write: a read
resolves to the latest value a zone task wrote under its key, else to what the entry held when
the script read it (:func:`ferroflow.engine.resolve.resolve`).
"""

from __future__ import annotations

from typing import Any

from ..errors import FutureUsageError

__all__ = ["ContextRead", "RuntimeContext", "write_context"]


class RuntimeContext:
    """The values tasks wrote into one graph's context while it runs, by dotted key (once a
    zone task writes it: :func:`~ferroflow.model.context_order.order_context_access` then
    sends every writer of the context to the general lane, which records its writes)."""

    __slots__ = ("before", "values", "zoned")

    def __init__(self) -> None:
        #: True once a task inside a zone writes an entry: only then do reads take run-time
        #: values (written by every writer as it finishes), as WorkGraph's do
        self.zoned = False
        self.values: dict[str, Any] = {}
        #: for an entry written by a zone task (by id): what the key held before, which a
        #: reader gets when that task never ran (its branch was not taken)
        self.before: dict[int, Any] = {}


class ContextRead:
    """``wg.ctx.key`` as a binding: the ``key``, the graph's :class:`RuntimeContext`, and
    ``entry``, what the context held when the script read it (a socket, a data node or a
    graph input socket), which also gives the dependency; ``origin`` is that entry as the
    script read it, before a clone's rewrite, which :attr:`RuntimeContext.before` knows."""

    __slots__ = ("entry", "key", "origin", "runtime")

    def __init__(
        self, key: str, entry: Any, runtime: RuntimeContext, origin: Any | None = None
    ) -> None:
        self.key = key
        self.entry = entry
        self.runtime = runtime
        self.origin = entry if origin is None else origin

    def with_entry(self, entry: Any) -> ContextRead:
        """The same read with its build-time entry replaced (a clone's socket, a graph
        input's data node); its ``origin`` stays the script's."""
        return ContextRead(self.key, entry, self.runtime, self.origin)

    def __getattr__(self, name: str) -> Any:
        """What the entry has: ``wg.ctx.x.pk`` of a data node, ``wg.ctx.data.y`` of a
        namespace socket (a build-time read of the part)."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.entry, name)

    def __getitem__(self, key: str) -> Any:
        return self.entry[key]

    def __bool__(self) -> bool:
        raise FutureUsageError(
            f"truth testing (if/while/and/or) on context entry '{self.key}': it has no value "
            f"while the graph is being built; use it as a task input or a zone condition "
            f"(with If(wg.ctx.{self.key} > 0): ..., with While(wg.ctx.{self.key} < 8): ...)"
        )

    def __iter__(self) -> Any:
        raise FutureUsageError(
            f"iterating context entry '{self.key}': it has no value while the graph is being "
            f"built; use a Map zone (with Map(wg.ctx.{self.key}) as item: ...)"
        )

    def __repr__(self) -> str:
        return f"<ctx.{self.key}: {self.entry!r}>"


def write_context(
    writes: list[tuple[RuntimeContext, str, tuple[str, ...]]], outputs: dict[str, Any]
) -> None:
    """A zone task finished with ``outputs``: the context entries it writes take its values."""
    for runtime, key, path in writes:
        node: Any = outputs
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            runtime.values[key] = node

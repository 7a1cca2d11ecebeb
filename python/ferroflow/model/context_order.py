"""Run-time context reads and writes in script order: who must wait for whom.

Once a task inside a zone writes ``wg.ctx.key``, every read of that key resolves at run time
to the latest value written (:mod:`ferroflow.model.context_read`), as WorkGraph's do. "Latest"
is only the script's meaning if conflicting accesses run in the order the script made them: a
condition reading ``wg.ctx.acc`` for one ``If`` must not run after a task inside a later ``If``
rewrote ``acc``, or the condition (and the provenance it records) would depend on which worker
was faster. So before a run, a task that writes an entry is made to wait (an ordering edge,
``>>``) for every earlier task that read it since the previous write, and for that previous
writer; reads after a write already wait for it, through the entry they read. The zone rules
(:mod:`ferroflow.model.zone_plan`) lift each edge to the level where both ends run: a writer in
one zone waits for the whole earlier zone that read the key.

"Earlier" is creation order: a writer counts as writing when it is created, so a task made
between ``t = f(...)`` and ``wg.ctx.key = t.result`` counts as reading after the write (no edge
is added there, as it could make a cycle). Edges are added only when the graph's context is a
run-time one; without zone writes, reads resolve to their build-time entry and need no order.
Every writer of a run-time context also takes the general lane, which records what it writes,
so a read always finds the latest write that ran (its entry's task may be of a branch not
taken, and a clone's rewritten entry no longer names the script's socket).
"""

from __future__ import annotations

from typing import Any

from ..errors import FerroflowError
from .context_read import ContextRead, RuntimeContext
from .graph import Graph, TaskNode
from .zones import zone_link

__all__ = ["order_context_access"]

#: a context entry of one graph's context: (id of its RuntimeContext, dotted key)
_Entry = tuple[int, str]


def _reads(binding: Any, found: dict[_Entry, RuntimeContext]) -> None:
    """Collect the context entries ``binding`` reads (at any depth) into ``found``."""
    kind = type(binding)
    if kind is ContextRead:
        found[(id(binding.runtime), binding.key)] = binding.runtime
        _reads(binding.entry, found)
    elif kind is dict:
        for value in binding.values():
            _reads(value, found)


def _conflict(one: str, other: str) -> bool:
    """Whether two dotted keys name overlapping entries (``data`` and ``data.y``)."""
    return one == other or one.startswith(f"{other}.") or other.startswith(f"{one}.")


def _encloses(outer: TaskNode, inner: TaskNode) -> bool:
    """Whether ``outer`` is a zone that holds ``inner`` (at any depth)."""
    link = zone_link(outer)
    return link is not None and link.zone is not None and link.zone.contains(inner)


def _wait(writer: TaskNode, before: TaskNode) -> None:
    if before is writer or writer.id is not None:
        return
    if _encloses(before, writer) or _encloses(writer, before):
        return  # a zone reading its own condition, a Map writing what its body reads
    if any(p is before for p in writer.producers):
        return
    try:
        writer.wait_for(before)
    except FerroflowError:
        return  # ``before`` already waits for the writer: they are ordered the other way


def order_context_access(graph: Graph) -> None:
    """Make each task of ``graph`` that writes a run-time context entry wait for the earlier
    readers of the entry since its previous write, and for that previous writer (see the
    module's docstring). Idempotent: the edges it adds are found again and skipped."""
    readers: dict[_Entry, list[TaskNode]] = {}
    last_writer: dict[_Entry, TaskNode] = {}
    runtimes: list[RuntimeContext] = []
    events: list[tuple[TaskNode, dict[_Entry, RuntimeContext], list[_Entry]]] = []
    for task in graph.tasks:
        read: dict[_Entry, RuntimeContext] = {}
        _reads(task._inputs, read)  # (not ``.inputs``: no data node made for a constant)
        link = zone_link(task)
        written = [(id(rt), key) for rt, key, _ in link.writes] if link is not None else []
        if link is not None:
            runtimes.extend(rt for rt, _, _ in link.writes)
        runtimes.extend(read.values())
        if read or written:
            events.append((task, read, written))
    if not any(runtime.zoned for runtime in runtimes):
        return
    for task, read, written in events:
        if written:
            task.fast_ok = False  # the general lane records its writes (the fast one cannot)
        for entry in read:
            readers.setdefault(entry, []).append(task)
        for runtime_id, key in written:
            for other in dict.fromkeys([*readers, *last_writer]):  # (in a stable order)
                if other[0] != runtime_id or not _conflict(other[1], key):
                    continue
                for reader in readers.pop(other, []):
                    _wait(task, reader)
                previous = last_writer.get(other)
                if previous is not None:
                    _wait(task, previous)
            last_writer[(runtime_id, key)] = task

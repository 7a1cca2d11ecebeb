"""How zones reach the core: what each task of a level waits for, and the clones of a body.

A *level* is a batch of tasks submitted together: a graph's tasks outside every zone, or the
clones one zone expansion made. Each task's build-time producers are *lifted* to the level: a
producer inside a zone of the level becomes that zone's task (so a task outside a zone waits
for the whole zone), a producer of the level stays, and a producer outside the level was
already terminal when the zone started (the zone waited for it) and is kept only if it was
submitted: a template of a branch not taken never was, and its outputs read as ``None``.
A zone task's own wiring is its inputs' (its conditions, a Map's source) plus that of every
task inside it, so it starts once everything its children use from outside is terminal.
"""

from __future__ import annotations

from typing import Any

from ..errors import FerroflowError, ZoneError
from .context_read import ContextRead
from .data import DataNode
from .graph import Graph, TaskNode, producers
from .sockets import FutureSocket
from .zones import MAP_ITEM, ZoneLink, ZoneSpec, zone_link

__all__ = ["check_zones", "clone_body", "clone_task", "level_order", "mirror", "rewrite"]


def _wiring(task: TaskNode) -> list[TaskNode]:
    """The build-time producers of ``task`` and, for a zone, of every task inside it (a cloned
    zone's templates read through its expansion's mapping)."""
    found = list(task.producers)
    link = zone_link(task)
    if link is not None and link.zone is not None:
        mapping = link.zone.mapping
        for inner in link.zone.descendants():
            found.extend(mapping.get(id(p), p) for p in inner.producers)
    return found


def _lift(producer: TaskNode, level: set[int], mapping: dict[int, TaskNode]) -> TaskNode | None:
    """``producer`` as this level sees it: itself or its clone, or the zone (or its clone)
    of this level that holds it; None when it is outside the level and never ran."""
    node = mapping.get(id(producer), producer)
    while id(node) not in level:
        link = zone_link(node)
        zone = link.parent if link is not None else None
        if zone is None:
            return producer if producer.id is not None else None
        node = mapping.get(id(zone.node), zone.node)
    return node


def level_order(
    tasks: list[TaskNode], mapping: dict[int, TaskNode] | None = None
) -> list[TaskNode]:
    """``tasks`` with their producers lifted to this level (see the module's docstring), each
    after those it waits for; ``mapping`` (template id -> clone) is the expansion the clones
    come from, through which a template nested in a zone of the level reaches that zone's
    clone. A zone that would wait for a task which waits for the zone is refused."""
    level = {id(t) for t in tasks}
    mapping = mapping or {}
    for task in tasks:
        lifted: list[TaskNode] = []
        direct = True  # every producer is itself at this level: nothing lifted to a zone
        for producer in _wiring(task):
            node = _lift(producer, level, mapping)
            direct = direct and node is producer
            if node is not None and node is not task and not any(n is node for n in lifted):
                lifted.append(node)
        task.producers = lifted
        # The fast lane waits for the tasks its input sockets name; a task that must also wait
        # for a zone (or reads a template that never ran) takes the general lane.
        task.fast_ok = task.fast_ok and direct
    order: list[TaskNode] = []
    state: dict[int, int] = {}  # 1: being visited, 2: placed
    for root in tasks:
        stack: list[tuple[TaskNode, bool]] = [(root, False)]
        while stack:
            node, placed = stack.pop()
            if placed:
                state[id(node)] = 2
                order.append(node)
                continue
            seen = state.get(id(node))
            if seen == 2:
                continue
            if seen == 1:
                raise FerroflowError(
                    f"task '{node.path}' and a zone wait for each other: a task outside a zone "
                    f"that uses a child's output waits for the whole zone, so it cannot also "
                    f"feed a task inside it"
                )
            state[id(node)] = 1
            stack.append((node, True))
            for producer in reversed(node.producers):
                if id(producer) in level and state.get(id(producer)) != 2:
                    if state.get(id(producer)) == 1:
                        raise FerroflowError(
                            f"tasks '{producer.path}' and '{node.path}' wait for each other "
                            f"through a zone: a task outside a zone that uses a child's output "
                            f"waits for the whole zone, so it cannot also feed a task inside it"
                        )
                    stack.append((producer, False))
    return order


def rewrite(binding: Any, mapping: dict[int, TaskNode]) -> Any:
    """``binding`` with every socket of a cloned template pointing at its clone; a socket of
    a Map's item (its key and value, known when the key's body is cloned) becomes that data
    node, so a body task that reads only the item and constants can take the fast lane."""
    kind = type(binding)
    if kind is FutureSocket:
        clone = mapping.get(id(binding._task))
        if clone is None:
            return binding
        known = _item_node(clone, binding._path)
        if known is not None:
            return known
        return FutureSocket(clone, binding._path, binding._spec)
    if kind is ContextRead:
        return binding.with_entry(rewrite(binding.entry, mapping))
    if kind is dict:
        return {k: rewrite(v, mapping) for k, v in binding.items()}
    return binding


def _item_node(node: TaskNode, path: tuple[str, ...]) -> DataNode | None:
    """The data node at ``path`` of a Map item stand-in (never run: its outputs are set when
    it is made), or None for any other task."""
    if node.handle is not MAP_ITEM or node.outputs is None:
        return None
    found: Any = node.outputs
    for key in path:
        if not isinstance(found, dict) or key not in found:
            return None
        found = found[key]
    return found if isinstance(found, DataNode) else None


def _fill(clone: TaskNode, template: TaskNode, mapping: dict[int, TaskNode]) -> None:
    clone.inputs = rewrite(template.inputs, mapping)
    clone.producers = []
    for producer in template.producers:
        mapped = mapping.get(id(producer), producer)
        if mapped.handle is MAP_ITEM:
            continue  # a Map's item never runs: nothing to wait for
        if not any(p is mapped for p in clone.producers):
            clone.producers.append(mapped)
    clone.handlers = template.handlers
    clone.describe(template.described())
    # As its template would outside a zone (level_order may still send it to the general
    # lane); a task writing the graph's context takes the general lane, which applies writes.
    clone.fast_ok = template.fast_ok and not _writes(template)


def clone_task(template: TaskNode, mapping: dict[int, TaskNode]) -> TaskNode:
    """A fresh run of ``template`` (its inputs read through ``mapping``), not yet submitted."""
    clone = TaskNode(template.handle, template.graph, template.name, {})
    _fill(clone, template, mapping)
    link = ZoneLink(None)
    link.template = template
    clone.zoned = link
    return clone


def clone_body(zone: ZoneSpec, mapping: dict[int, TaskNode], prefix: str = "") -> list[TaskNode]:
    """Clones of ``zone``'s children for one expansion (an If's run, a While's iteration, a
    Map's key), registered in ``mapping`` (template id -> clone) first so that clones refer to
    each other whatever order the templates were made in; a child zone's clone gets a zone of
    its own that shares ``mapping``."""
    templates = zone.children
    clones = [TaskNode(t.handle, t.graph, f"{prefix}{t.name}", {}) for t in templates]
    for template, clone in zip(templates, clones, strict=True):
        mapping[id(template)] = clone
    for template, clone in zip(templates, clones, strict=True):
        _fill(clone, template, mapping)
        source = zone_link(template)
        link = ZoneLink(zone)
        link.template = template
        if source is not None:
            link.writes = source.writes
            if source.zone is not None:
                inner = ZoneSpec(source.zone.kind, clone, zone)
                inner.children = source.zone.children
                inner.gathers = source.zone.gathers
                inner.item = source.zone.item
                inner.mapping = mapping
                inner.prefix = prefix
                link.zone = inner
        clone.zoned = link
    return clones


def mirror(template: TaskNode, clone: TaskNode) -> None:
    """The template shows its latest clone (state, pk, outputs, times, error), so the tasks
    outside that read it, ``wg.tasks`` and the pictures see the last run of the task."""
    template.outputs = clone.outputs
    template.state = clone.state
    template.pk = clone.pk
    template.uuid = clone.uuid
    template.ctime = clone.ctime
    template.mtime = clone.mtime
    template.error = clone.error


def _context_keys(binding: Any) -> set[str]:
    """The context keys ``binding`` reads (at any depth)."""
    if isinstance(binding, ContextRead):
        return {binding.key} | _context_keys(binding.entry)
    if isinstance(binding, dict):
        return set().union(*(_context_keys(v) for v in binding.values()))
    return set()


def _writes(task: TaskNode) -> list[tuple[Any, str, tuple[str, ...]]]:
    link = zone_link(task)
    return link.writes if link is not None else []


def check_zones(graph: Graph) -> None:
    """Refuse, before the run, a ``While`` that could never change its condition: one whose
    condition is a constant, is computed inside the loop, or reads no context entry a task of
    the loop writes (the loop state lives in the context, as in WorkGraph)."""
    for task in graph.tasks:
        link = zone_link(task)
        zone = link.zone if link is not None else None
        if zone is None or zone.kind != "while":
            continue
        where = f"While zone '{task.path}'"
        conditions = task.inputs.get("conditions")
        testers = producers(conditions)
        if not testers:
            raise ZoneError(
                f"{where}: its condition is a constant, so the loop could never stop (or never "
                f"start); test a task's output that reads the loop state, e.g. "
                f"While(wg.ctx.n < 8) with wg.ctx.n = ... inside the loop"
            )
        for tester in testers:
            if tester is task or zone.contains(tester):
                raise ZoneError(
                    f"{where}: its condition comes from task '{tester.path}' inside the loop; "
                    f"compute it before the While (e.g. wg.ctx.n < 8) and write the loop state "
                    f"with wg.ctx.n = ... inside"
                )
        written = {key for inner in zone.descendants() for _, key, _ in _writes(inner)}
        read = _context_keys(conditions).union(*(_context_keys(t.inputs) for t in testers))
        if not read & written:
            raise ZoneError(
                f"{where}: its condition reads no context entry that the loop writes "
                f"(it reads {', '.join(sorted(read)) or 'none'}; the loop writes "
                f"{', '.join(sorted(written)) or 'none'}), so it could never change; write the "
                f"loop state with wg.ctx.<key> = ... inside the While and test it"
            )

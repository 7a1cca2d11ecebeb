"""Control-flow zones, as WorkGraph users write them: ``If``, ``While``, ``Map`` and ``Zone``.

A zone is a task of the graph (``if_zone``, ``while_zone``, ``map_zone``, ``zone``, numbered when
repeated) whose children are the tasks created inside its ``with`` block (or added with
``zone.add_task`` in WorkGraph's node-graph style). The children are *templates*: they are
never submitted themselves. When the zone runs, the engine (:mod:`ferroflow.engine.zones`)
clones them (once for ``If`` / ``Zone``, once per iteration for ``While``, once per key for
``Map``) and submits the clones to the core, which suspends the zone until they are terminal;
afterwards each template mirrors its latest clone, so a task outside reading a child's output
reads the last iteration's value, as in WorkGraph.

WorkGraph's scheduling rules follow from how dependencies are lifted
(:mod:`ferroflow.model.zone_plan`): a zone waits for every task outside it that any of its
children uses, and a task outside waits for the whole zone when it uses one of its children. A
child of a branch not taken is SKIPPED and *untaken*: its outputs read as ``None`` downstream
and its dependents still run (a failure, unlike that, skips every dependent).
"""

from __future__ import annotations

import warnings
from typing import Any

from ..errors import FerroflowError
from .context_read import ContextRead, RuntimeContext
from .explicit import add_task
from .graph import Graph, TaskNode, current_graph, require_graph
from .sockets import FutureSocket, GraphInputSocket
from .spec import Leaf, Namespace
from .taskdef import TaskDef

__all__ = [
    "MAP_ITEM",
    "If",
    "Map",
    "While",
    "Zone",
    "ZoneDef",
    "ZoneLink",
    "ZoneSpec",
    "inside_zone",
    "note_context_write",
    "open_zone",
    "zone_block",
    "zone_link",
]

#: WorkGraph's default cap on a While's iterations
MAX_ITERATIONS = 10000


class ZoneDef(TaskDef):
    """The definition of a zone task: a graph-like task (it suspends while its children run)
    that records no process node of its own, as in WorkGraph."""

    is_graph = True
    is_zone = True


def _if_zone(conditions: Any = None, invert_condition: bool = False) -> None:
    """An If zone: its children run when ``conditions`` (all of them) are truthy."""


def _while_zone(conditions: Any = None, max_iterations: int = MAX_ITERATIONS) -> None:
    """A While zone: its children run again while ``conditions`` are truthy."""


def _map_zone(source: Any = None) -> None:
    """A Map zone: its children run once per key of ``source``."""


def _zone() -> None:
    """A plain zone: only WorkGraph's two scheduling rules."""


def _map_item(key: Any = None, value: Any = None) -> None:
    """The placeholder of a Map's current entry (``map_zone.item.key`` / ``.value``)."""


_GATHERED = Namespace({}, Namespace({}, Leaf()))

#: kind -> its zone task's definition
ZONE_DEFS: dict[str, ZoneDef] = {
    "if": ZoneDef(_if_zone, name="if_zone"),
    "while": ZoneDef(_while_zone, name="while_zone"),
    "map": ZoneDef(_map_zone, name="map_zone", outputs=_GATHERED),
    "zone": ZoneDef(_zone, name="zone"),
}
#: the definition of a Map's item stand-ins: never run, their outputs set to a key's key and
#: value when the key's body is cloned
MAP_ITEM = TaskDef(_map_item, name="map_item", outputs=["key", "value"])


class ZoneSpec:
    """What a zone is at build time: its kind, its task, its children (templates), a Map's
    item placeholder and gathered outputs; the engine adds its run-time state."""

    __slots__ = (
        "children",
        "gathers",
        "item",
        "kind",
        "mapping",
        "node",
        "parent",
        "prefix",
        "run",
    )

    def __init__(self, kind: str, node: TaskNode, parent: ZoneSpec | None) -> None:
        self.kind = kind
        self.node = node
        self.parent = parent
        self.children: list[TaskNode] = []
        self.gathers: dict[str, FutureSocket] = {}
        self.item: TaskNode | None = None
        #: template -> clone (by id) of the expansion this zone belongs to: a zone cloned
        #: inside another resolves its templates' references to the outer clones through it
        self.mapping: dict[int, TaskNode] = {}
        #: what the names of its clones start with (a Map key's ``data_0_``)
        self.prefix = ""
        #: the engine's state of this zone while it runs (:mod:`ferroflow.engine.zones`)
        self.run: Any = None

    def adopt(self, node: TaskNode) -> None:
        """Make ``node``, just added to the graph while this zone is open, its child. A child
        is a template that never runs itself; its ``fast_ok`` says whether its clones may take
        the fast lane (:func:`~ferroflow.model.zone_plan.level_order` decides)."""
        node.zoned = ZoneLink(self)
        self.children.append(node)

    def descendants(self) -> list[TaskNode]:
        """Every template inside this zone, nested zones' children included."""
        found: list[TaskNode] = []
        for child in self.children:
            found.append(child)
            inner = zone_link(child)
            if inner is not None and inner.zone is not None:
                found.extend(inner.zone.descendants())
        return found

    def contains(self, task: TaskNode) -> bool:
        link = zone_link(task)
        zone = link.parent if link is not None else None
        while zone is not None:
            if zone is self:
                return True
            zone = zone.parent
        return False


class ZoneLink:
    """A task's place among zones (the ``zoned`` slot of :class:`TaskNode`; absent on tasks
    that have nothing to do with zones): the zone it is a child of, the zone it *is*, the
    context entries it writes at run time, the template it was cloned from, and whether it is
    a child of a branch not taken."""

    __slots__ = ("parent", "template", "untaken", "writes", "zone")

    def __init__(self, parent: ZoneSpec | None, zone: ZoneSpec | None = None) -> None:
        self.parent = parent
        self.zone = zone
        self.writes: list[tuple[RuntimeContext, str, tuple[str, ...]]] = []
        self.template: TaskNode | None = None
        self.untaken = False


def zone_link(task: Any) -> ZoneLink | None:
    """``task``'s :class:`ZoneLink`, or None for a task outside every zone."""
    found: ZoneLink | None = getattr(task, "zoned", None)
    return found


def inside_zone(task: Any) -> bool:
    """Whether ``task`` is a child (a template) of a zone: its zone runs it, not its graph."""
    link = zone_link(task)
    return link is not None and link.parent is not None


def _stack(graph: Graph) -> list[ZoneSpec]:
    stack: list[ZoneSpec] | None = graph.zone_stack
    if stack is None:
        stack = graph.zone_stack = []
    return stack


def note_context_write(runtime: RuntimeContext, key: str, entry: Any) -> bool:
    """``wg.ctx.key = socket``: the socket's task writes the entry at run time, each time it
    (or a clone of it) finishes; True when that task is inside a zone, which makes the graph's
    context a run-time one (:mod:`ferroflow.model.context_read`)."""
    task = entry._task if isinstance(entry, FutureSocket) else None
    if not isinstance(task, TaskNode):
        return False
    link = zone_link(task)
    if link is None:
        link = task.zoned = ZoneLink(None)
    link.writes.append((runtime, key, entry._path))
    if link.parent is None:
        return False
    runtime.zoned = True
    return True


def _conditions(value: Any) -> Any:
    """A zone's ``conditions``: one socket (or value), or a list / dict of them, all of which
    must be truthy (bound as a dict so that each is resolved)."""
    if isinstance(value, (list, tuple)):
        return {str(i): item for i, item in enumerate(value)}
    return value


def open_zone(graph: Graph, kind: str, name: str | None, inputs: dict[str, Any]) -> ZoneSpec:
    """Add a zone task of ``kind`` to ``graph`` (a child of the zone open there, if any)."""
    handle = ZONE_DEFS[kind]
    limit = inputs.get("max_iterations", MAX_ITERATIONS)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"While: max_iterations must be an int of at least 1, got {limit!r}")
    if kind in ("if", "while") and "conditions" not in inputs:
        raise TypeError(f"{handle.name}: conditions= is missing (the socket it tests)")
    if "conditions" in inputs:
        inputs = {**inputs, "conditions": _conditions(inputs["conditions"])}
    node = add_task(graph, handle, name, inputs)
    graph.reordered = True  # lifted dependencies may point at later tasks: sort at submit
    parent = zone_link(node)
    zone = ZoneSpec(kind, node, parent.parent if parent is not None else None)
    if parent is None:
        node.zoned = ZoneLink(None, zone)
    else:
        parent.zone = zone
    node.fast_ok = False
    if kind == "map":
        item = TaskNode(MAP_ITEM, graph, "map_item", {})  # a placeholder: never run
        item.zoned = ZoneLink(zone)
        zone.item = item
    return zone


class _ZoneBlock:
    """What ``with If(...)`` / ``While`` / ``Map`` / ``Zone`` and
    ``wg.add_task("workgraph.if_zone", ...)`` give: tasks created inside the block (or with
    :meth:`add_task`) are the zone's children."""

    _kind = "zone"

    def __init__(self, graph: Graph | None = None, name: str | None = None, **inputs: Any):
        graph = graph or current_graph() or _graph_of(inputs) or require_graph(self._kind)
        self._graph = graph
        self._zone = open_zone(graph, self._kind, name, inputs)

    def __enter__(self) -> Any:
        _stack(self._graph).append(self._zone)
        return self

    def __exit__(self, *exc: object) -> None:
        stack = _stack(self._graph)
        if not stack or stack[-1] is not self._zone:
            raise FerroflowError(f"zone '{self.name}': zones must close in the order they opened")
        stack.pop()

    @property
    def name(self) -> str:
        return self._zone.node.name

    @property
    def state(self) -> str:
        return self._zone.node.state

    @property
    def children(self) -> list[str]:
        return [t.name for t in self._zone.children]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} zone '{self.name}' children={self.children}>"


def _graph_of(inputs: dict[str, Any]) -> Graph | None:
    for value in inputs.values():
        if isinstance(value, ContextRead):
            value = value.entry
        if isinstance(value, FutureSocket) and isinstance(value._task, TaskNode):
            return value._task.graph
        if isinstance(value, GraphInputSocket) and isinstance(value.owner, Graph):
            return value.owner
    return None


class Zone(_ZoneBlock):
    """``with Zone():``: its children start together once every task they use from outside
    is done, and a task outside that uses one of them waits for all of them."""

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)


class If(_ZoneBlock):
    """``with If(condition):`` (``invert_condition=True`` for "if not"): the children run when
    the condition's value is truthy; otherwise they are SKIPPED and read as ``None``."""

    _kind = "if"

    def __init__(
        self, conditions: Any, invert_condition: bool = False, *, name: str | None = None
    ) -> None:
        super().__init__(name=name, conditions=conditions, invert_condition=invert_condition)


class While(_ZoneBlock):
    """``with While(condition, max_iterations=10000):``: the children run again while the
    condition holds; the condition's task reruns after each iteration, so it must read what
    the body writes (``wg.ctx.n = ...`` inside, ``wg.ctx.n < 8`` as the condition)."""

    _kind = "while"

    def __init__(
        self, conditions: Any, max_iterations: int = MAX_ITERATIONS, *, name: str | None = None
    ) -> None:
        super().__init__(name=name, conditions=conditions, max_iterations=max_iterations)


class MapItem:
    """``map_zone.item``: ``.key`` and ``.value`` sockets of the current entry."""

    __slots__ = ("key", "value")

    def __init__(self, key: FutureSocket, value: FutureSocket) -> None:
        self.key = key
        self.value = value


class Map(_ZoneBlock):
    """``with Map(source) as map_zone:``: the children run once per key of ``source`` (a dict,
    or a task's dynamic namespace output), in parallel, as clones named ``<key>_<task>``.
    ``map_zone.item.value`` / ``.key`` (also ``map_zone.value`` / ``.key``) stand for the
    current entry; ``map_zone.gather({"result": socket})`` makes ``map_zone.outputs.result``
    the dict ``{key: value of socket in that key's clone}``."""

    _kind = "map"

    def __init__(self, source: Any, *, name: str | None = None) -> None:
        super().__init__(name=name, source=source)

    @property
    def item(self) -> MapItem:
        """WorkGraph 0.8's spelling: ``map_zone.item.value`` / ``.key`` (deprecated there in
        favour of ``map_zone.value`` / ``.key``, and here too)."""
        warnings.warn(
            "map_zone.item.value / .key is deprecated: use map_zone.value / map_zone.key",
            DeprecationWarning,
            stacklevel=2,
        )
        return MapItem(self._socket("key"), self._socket("value"))

    def _socket(self, name: str) -> FutureSocket:
        item = self._zone.item
        assert item is not None
        return FutureSocket(item, (name,), Leaf())

    @property
    def value(self) -> FutureSocket:
        """The current entry's value (in each key's clone of the body)."""
        return self._socket("value")

    @property
    def key(self) -> FutureSocket:
        """The current entry's key."""
        return self._socket("key")

    def gather(self, sockets: dict[str, Any]) -> None:
        """Declare zone outputs: ``{name: a socket of a task inside this Map}``."""
        for name, socket in sockets.items():
            if isinstance(socket, ContextRead):
                socket = socket.entry
            if not isinstance(socket, FutureSocket):
                raise TypeError(
                    f"Map zone '{self.name}': gather({name!r}: ...) takes an output socket of "
                    f"a task inside the zone, got {type(socket).__qualname__} {socket!r}"
                )
            task = socket._task
            if not isinstance(task, TaskNode) or not self._zone.contains(task):
                raise ValueError(
                    f"Map zone '{self.name}': gather({name!r}: {socket!r}) names a socket of "
                    f"task '{task.path}', which is outside the zone; gather outputs of tasks "
                    f"created inside the Map"
                )
            self._zone.gathers[name] = socket

    @property
    def outputs(self) -> FutureSocket:
        node = self._zone.node
        return FutureSocket(node, (), node.handle.outputs)


#: WorkGraph's node-graph identifiers of the zones
ZONE_IDENTIFIERS: dict[str, type[_ZoneBlock]] = {
    "workgraph.if_zone": If,
    "workgraph.while_zone": While,
    "workgraph.map_zone": Map,
    "workgraph.zone": Zone,
}


def zone_block(identifier: str, graph: Graph, name: str | None, inputs: dict[str, Any]) -> Any:
    """``wg.add_task("workgraph.if_zone", name=..., conditions=...)``: the zone, in ``graph``."""
    cls = ZONE_IDENTIFIERS[identifier]
    block = cls.__new__(cls)
    _ZoneBlock.__init__(block, graph, name, **inputs)
    return block

"""The build-time graph: task nodes and their dependencies (the "current graph" of each thread
is :mod:`.graph_stack`'s, re-exported here).

A :class:`Graph` is what one execution of a graph body produces: the top-level one from
``G.build(...)`` or a child one when a graph task expands at run time. Calling a task handle
while a graph is current adds a :class:`TaskNode` to it. Input bindings are nested dicts whose
leaves are :class:`DataNode` (a concrete value, stored on first use; a keyword call's plain
constant gets its node when first read, see :attr:`TaskNode.inputs`) or :class:`FutureSocket`
(another task's output): the sockets give the dependencies.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, cast

from ..errors import FerroflowError, ForeignFutureError
from ..model.vocabulary import State
from . import graph_stack
from .context_read import ContextRead
from .data import RAW_CONSTANTS, DataNode
from .graph_stack import task_body
from .sockets import NO_PRODUCERS, FutureSocket
from .task_names import TaskNames
from .task_rare import RareField, RareFields
from .taskdef import TaskDef

__all__ = [
    "Graph",
    "TaskNode",
    "current_graph",
    "graph_context",
    "producer",
    "producers",
    "require_graph",
    "task_body",
]


# The current graph of each thread (:mod:`.graph_stack`), typed with this module's Graph.
current_graph = cast("Callable[[], Graph | None]", graph_stack.current_graph)
graph_context = cast(
    "Callable[[Graph | None], AbstractContextManager[None]]", graph_stack.graph_context
)
require_graph = cast("Callable[[str], Graph]", graph_stack.require_graph)

_materialise_lock = threading.Lock()


def _uuid_text(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class TaskNode(RareFields):
    """One use of a task inside a graph: its handle, name, bindings and, after a run, its
    state, outputs (nested dict of data nodes) and error.

    A task the core ran in its fast lane keeps its result in the core until somebody asks:
    ``outputs``, ``uuid``, ``ctime`` and ``mtime`` are then made once from ``fast_box`` (the
    run, later its detached results) and ``out_pk`` (the output node's pk, ``pk + 1``). A
    million-task scatter so never builds a million output dicts nobody reads.

    The Rust core reads and writes the public slots ``fast_ok``, ``producers``, ``fast_box``
    and ``pk`` when it submits a graph (declared in ``_core.pyi`` as
    ``SubmittableTask``).
    """

    __slots__ = (
        "_inputs",
        "_name",
        "_raw",
        "fast_box",
        "fast_ok",
        "graph",
        "handle",
        "id",
        "pk",
        "producers",
        "state",
    )

    #: for a graph task that ran: its expanded child graph
    child: RareField[Graph] = RareField()

    def __init__(
        self,
        handle: TaskDef,
        graph: Graph,
        name: str | int,
        inputs: dict[str, Any],
        found: list[TaskNode] | None = None,
        raw: bool = False,
    ):
        """``name``: its name, or the number ``n`` of a numbered name (``f{n}`` for handle
        ``f``, see :attr:`name`); ``found``: its producers when the caller knows them (see
        :func:`producers`); ``raw``: ``inputs`` may hold plain constants (see :attr:`inputs`)."""
        self._rare = None  # error, cached_from, handlers, uuid, times: see .task_rare
        self.handle = handle
        self.graph = graph
        self._name = name
        self._inputs = inputs
        #: whether ``_inputs`` may hold plain constants not yet wrapped in data nodes (see
        #: :attr:`inputs`)
        self._raw = raw
        self.id: int | None = None  # id in the core's arena once the run knows the task
        self.state = State.PLANNED
        self.pk: int | None = None  # process node pk in the store
        #: tasks it waits for: those whose outputs it uses, and those ordered before it (``>>``);
        #: replaced, never changed in place (it may be the shared ``NO_PRODUCERS``)
        self.producers: list[TaskNode] = producers(inputs) if found is None else found
        #: whether it may take the fast lane: its definition allows it, it waits for no task
        #: without using its output (``>>``), and its graph gave it no error handlers
        self.fast_ok: bool = handle.fast_ok
        #: [the run, later its results] for a task in the fast lane; None in the general lane
        self.fast_box: list[Any] | None = None

    @property
    def out_pk(self) -> int | None:
        """A fast-lane task's output node pk: ``pk + 1``, reserved with ``pk`` when it was
        submitted with provenance (``submit.rs``); None otherwise. Derived, not kept: one int
        object fewer per task of a big scatter."""
        pk = self.pk
        return None if pk is None or self.fast_box is None else pk + 1

    @property
    def name(self) -> str:
        """Its name in its graph. A graph body's numbered task (``f1``, ``f2``…) keeps its
        number until the name is first read (then kept: the store's label is that same str,
        and one str per task is what the run with provenance keeps): a scatter so makes no
        name per task that nobody reads (~64 B and ~0.1 µs per task)."""
        name = self._name
        if isinstance(name, str):
            return name
        text = self._name = f"{self.handle.name}{name}"
        return text

    @property
    def inputs(self) -> dict[str, Any]:
        """Input bindings by name: data nodes, sockets, nested dicts of them for namespaces.

        A keyword call binds a plain constant (an exact ``int``, ``float``, ``str``, ``bool`` or
        None) as it is, and its data node is made on first use: here, or by the core when it
        records the constant (``submit.rs``). A scatter run without provenance so makes no
        data node for its constants unless somebody asks."""
        if self._raw:
            # A fast task that finished with provenance stored these constants inline (their
            # nodes are ``pk + 2`` … and their uuids its own with that last byte, as the writer
            # made them, ``submit.rs``): the nodes made here are those. One that failed, or has
            # not finished, gets fresh nodes (a failure records them as the general lane does).
            base = self.out_pk
            if base is not None and self._outputs is None and not self._materialise():
                base = None
            uuid = self.uuid if base is not None else None
            with _materialise_lock:  # one data node per constant, even if two threads ask
                if self._raw:
                    bound = self._inputs
                    at = 2
                    for name, value in bound.items():
                        if type(value) in RAW_CONSTANTS:
                            if base is None:
                                bound[name] = DataNode(value)
                            else:
                                own = None if uuid is None else f"{uuid[:-2]}{at:02x}"
                                bound[name] = DataNode(value, own, base - 1 + at)
                                at += 1
                    self._raw = False
        return self._inputs

    @inputs.setter
    def inputs(self, value: dict[str, Any]) -> None:
        self._inputs = value
        self._raw = False

    def describe(self, stored: tuple[str | None, str | None] | None) -> None:
        """Keep the ``label`` / ``description`` of a call's ``metadata=`` for the store (in the
        rare record: read it with :meth:`described`); such a task leaves the fast lane, whose
        single queued entry has no place for them."""
        if stored is not None:
            self._state().call_meta = stored
            self.fast_ok = False

    def described(self) -> tuple[str | None, str | None] | None:
        """``(label, description)`` its call's ``metadata=`` gave; None: none given."""
        rare = self._rare
        return None if rare is None else rare.call_meta

    def _materialise(self) -> bool:
        """Fetch a fast-lane task's result from the core (once); False if it has none."""
        box = self.fast_box
        if box is None:
            return False
        done = box[0].fast_done(self.id)
        if done is None:
            return False
        value, out_uuid, uuid, ctime, mtime = done
        key = self.handle.single_output
        assert key is not None  # a fast-lane task has exactly one leaf output
        with _materialise_lock:  # one DataNode per output, even if two threads ask at once
            if self._outputs is None:
                node = DataNode(value, _uuid_text(out_uuid), self.out_pk)
                self._outputs = {key: node}
                self._uuid = _uuid_text(uuid)
                self._ctime = ctime
                self._mtime = mtime
        return True

    @property
    def outputs(self) -> dict[str, Any] | None:
        """Output data nodes by socket name (nested for namespaces); None before it ran."""
        if self._outputs is None and self.fast_box is not None:
            self._materialise()
        return self._outputs

    @outputs.setter
    def outputs(self, value: dict[str, Any] | None) -> None:
        self._outputs = value

    @property
    def uuid(self) -> str | None:
        if self._uuid is None and self.fast_box is not None:
            self._materialise()
        return self._uuid

    @uuid.setter
    def uuid(self, value: str | None) -> None:
        self._uuid = value

    @property
    def ctime(self) -> float | None:
        if self._ctime is None and self.fast_box is not None:
            self._materialise()
        return self._ctime

    @ctime.setter
    def ctime(self, value: float | None) -> None:
        self._ctime = value

    @property
    def mtime(self) -> float | None:
        if self._mtime is None and self.fast_box is not None:
            self._materialise()
        return self._mtime

    @mtime.setter
    def mtime(self, value: float | None) -> None:
        self._mtime = value

    @property
    def path(self) -> str:
        return f"{self.graph.path}/{self.name}"

    @property
    def depth(self) -> int:
        """How many graph tasks deep its graph is (0: the top-level graph)."""
        return self.graph.depth

    @property
    def is_graph(self) -> bool:
        return bool(self.handle.is_graph)

    @property
    def tasks(self) -> dict[str, TaskNode]:
        """Tasks of the expanded child graph (graph tasks, after they ran)."""
        return dict(self.child.tasks_by_name) if self.child is not None else {}

    def __repr__(self) -> str:
        return f"<TaskNode {self.path} state={self.state}>"

    def wait_for(self, before: TaskNode) -> None:
        """Make this task wait for ``before`` to finish (no data flows); if ``before`` fails or is
        skipped, ``task`` is skipped, as for a data dependency. Refuses cycles."""
        if self is before:
            raise FerroflowError(f"task '{self.path}' cannot wait for itself ('>>' / '<<')")
        self._refuse_if_running(f"wait for '{before.path}'")
        self._refuse_cycle(before, f"ordering '{before.path}' >> '{self.path}'")
        if self._add_producer(before):
            self.fast_ok = False  # an ordering edge is no data: the fast lane has no place for it

    def set_input(self, name: str, binding: Any) -> None:
        """Give input ``name`` a binding after the task was added (explicit construction:
        ``add_link``, ``set_inputs``): its producers join the ones this task waits for."""
        self._refuse_if_running(f"change input '{name}'")
        for before in producers(binding):
            if before is self:
                raise FerroflowError(
                    f"task '{self.path}': input '{name}' cannot use the task's own output"
                )
            self._refuse_cycle(before, f"linking '{before.path}' into '{self.path}.{name}'")
        self.inputs[name] = binding
        for before in producers(binding):
            self._add_producer(before)

    def _refuse_if_running(self, what: str) -> None:
        if self.id is not None:
            raise FerroflowError(
                f"task '{self.path}' cannot {what}: it is already part of the running workflow; "
                f"wire tasks before the run"
            )

    def _refuse_cycle(self, before: TaskNode, what: str) -> None:
        """Raise if ``before`` already waits (through data or ordering) for this task."""
        stack = [before]
        seen: set[int] = set()
        while stack:
            node = stack.pop()
            if node is self:
                raise FerroflowError(
                    f"{what} would make a cycle: '{before.path}' already waits for "
                    f"'{self.path}', so neither could run"
                )
            if id(node) in seen or node.id is not None:  # submitted tasks cannot wait for it
                continue
            seen.add(id(node))
            stack.extend(node.producers)

    def _add_producer(self, before: TaskNode) -> bool:
        if any(p is before for p in self.producers):
            return False
        self.producers = [*self.producers, before]  # may be the shared NO_PRODUCERS
        self.graph.reordered = True  # ``before`` may come later in the graph: sort at submit
        return True


def producer(socket: FutureSocket) -> TaskNode:
    """The task whose outputs ``socket`` points into (sockets know it only as a
    :class:`~ferroflow.model.sockets.Producer`; in a graph it is always a task node)."""
    return cast(TaskNode, socket._task)


def producers(binding: Any) -> list[TaskNode]:
    """Distinct tasks whose outputs ``binding`` (a socket or nested dict) uses, in order."""
    # Every task of a build passes here: ``_task`` is read inline (no call to :func:`producer`)
    # and a flat binding with at most one producer (a chain) builds no dict.
    if isinstance(binding, FutureSocket):
        return [binding._task]  # type: ignore[list-item]
    if type(binding) is ContextRead:
        return producers(binding.entry)
    if not isinstance(binding, dict):
        return NO_PRODUCERS
    found: dict[int, TaskNode] | None = None
    first: TaskNode | None = None
    stack = [binding]
    while stack:
        for b in stack.pop().values():
            kind = type(b)
            if kind is FutureSocket:
                used: TaskNode = b._task
                if first is None:
                    first = used
                elif used is not first:
                    if found is None:
                        found = {id(first): first}
                    found.setdefault(id(used), used)
            elif kind is dict:
                stack.append(b)
            elif kind is ContextRead:
                stack.append({"": b.entry})
    if found is not None:
        return list(found.values())
    return NO_PRODUCERS if first is None else [first]


class Graph(TaskNames[TaskNode]):
    """Tasks added by one execution of a graph body, plus its inputs and returned sockets."""

    def __init__(self, name: str, parent: TaskNode | None = None) -> None:
        self.name = name
        self.parent = parent
        super().__init__()
        #: the distinct definitions of its tasks, by id, in first-use order (what a run asks of
        #: definitions, such as executors and code digests, is asked once per definition)
        self.handles: dict[int, TaskDef] = {}
        self._last_handle: TaskDef | None = None
        self.inputs: dict[str, Any] = {}
        self.outputs: dict[str, Any] | FutureSocket = {}  # a socket: a whole namespace
        self.depth = 0 if parent is None else parent.depth + 1
        self.path = name if parent is None else parent.path
        #: the top-level graph of the workflow this one belongs to (itself, or a graph task's
        #: expansion's root): a task's producers must share it
        self.root: Graph = self if parent is None else parent.graph.root
        self.max_number_jobs: int | None = None  # cap on this graph's tasks running at once
        self.reordered = False  # ``>>`` was used: a task may wait for a later one
        #: the zones open while tasks are added (``with If(...)``), innermost last; None
        #: until the graph has a zone (:mod:`ferroflow.model.zones`)
        self.zone_stack: list[Any] | None = None
        #: its graph tasks (and zones): work not known until they run (progress counts them)
        self.graph_nodes: list[TaskNode] = []

    def rename(self, name: str) -> None:
        """A top-level graph's new name, before it runs (``wg.name = ...``)."""
        self.name = name
        if self.parent is None:
            self.path = name

    def submit_order(self) -> list[TaskNode]:
        """The tasks, each after the tasks of this graph it waits for (creation order unless
        ``>>`` / ``<<`` made a task wait for a later one; cycles are refused when made)."""
        if not self.reordered:
            return self.tasks
        done: set[int] = set()
        order: list[TaskNode] = []
        for root in self.tasks:
            stack = [(root, False)]
            while stack:
                node, expanded = stack.pop()
                if expanded:
                    order.append(node)
                    continue
                if id(node) in done:
                    continue
                done.add(id(node))
                stack.append((node, True))
                stack += [(p, False) for p in reversed(node.producers) if p.graph is self]
        return order

    def add_next(
        self,
        handle: TaskDef,
        inputs: dict[str, Any],
        found: list[TaskNode] | None,
        raw: bool = False,
        name: str | None = None,
        n: int = 0,
    ) -> TaskNode:
        """Add a task under the name :meth:`next_name` gives, or under ``name`` with counter
        value ``n`` (see :meth:`add`); the hot path of a task call in a graph body: one method,
        no name tuple. ``found``: its producers, if known; ``raw``: ``inputs`` may hold plain
        constants (:attr:`TaskNode.inputs`)."""
        base = handle.name
        indexed = name is not None
        label: str | int = base if name is None else name
        if name is None:
            n = self._counts.get(base, 0)
            if n == 0:
                self._new_base(base)
            if self._clashing or self._by_name:
                label = f"{base}{n}" if n else base
                # Unless names may clash, no task left out of the index has this name (an
                # earlier one of this base has another number, no other base makes it).
                if self._clashing:
                    indexed = True
                    if label in self.tasks_by_name:
                        label, n = self.next_name(base)
                elif label in self._by_name:
                    label, n = self.next_name(base)
            elif n:
                label = n  # nothing to check it against: the name is made when read
        node = TaskNode(handle, self, label, inputs, found, raw)
        for used in node.producers:
            if used.graph.root is not self.root:
                raise ForeignFutureError(
                    f"task '{node.path}' uses an output of task '{used.path}', which belongs to "
                    f"another workflow ('{used.graph.root.name}'"
                    f"{', which already ran' if used.id is not None else ''}). A workflow "
                    f"cannot wire in another's tasks: pass the value it produced instead "
                    f"(for example the old run's `wg.outputs.result.value`), or build both "
                    f"tasks in one graph."
                )
        self._counts[base] = n + 1
        if indexed:  # named by its caller, or names may clash (see :mod:`.task_names`)
            self._index_one(node.name, node)
        self.tasks.append(node)
        if handle is not self._last_handle:  # a scatter: one compare per task
            self.handles.setdefault(id(handle), handle)
            self._last_handle = handle
        if handle.is_graph:
            self.graph_nodes.append(node)
        if self.zone_stack:
            self.zone_stack[-1].adopt(node)
        return node

    def add(
        self,
        handle: TaskDef,
        inputs: dict[str, Any],
        name: str,
        n: int,
        found: list[TaskNode] | None = None,
        raw: bool = False,
    ) -> TaskNode:
        """Add a task under ``name`` (from :meth:`next_name`, chosen before binding so that
        binding errors can name the task; ``n``: the counter value it gave); ``found``: its
        producers, if known; ``raw``: ``inputs`` may hold plain constants."""
        return self.add_next(handle, inputs, found, raw, name, n)

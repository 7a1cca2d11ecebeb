"""``wg.tasks``: the tasks of a workflow as a WorkGraph user reads them.

WorkGraph's task collection is looked up by name (``wg.tasks["add"]``), by attribute
(``wg.tasks.add``) and by position in insertion order (``wg.tasks[-1]``), and iterates over its
tasks. Each task shows its state, pk and socket namespaces: ``task.outputs.result.value`` is the
data node a finished task made, ``task.inputs.x.value`` the one it was given. The engine's
:class:`~ferroflow.model.graph.TaskNode` stays behind these views (``task.node``), so what a user
reads does not change when the engine's bookkeeping does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..model.explicit import set_value
from ..model.graph import TaskNode
from ..model.sockets import FutureSocket, socket_value
from .results import ResultSocket

__all__ = ["GraphTask", "InputSocket", "InputSockets", "TaskView", "WaitingOn"]

#: loads a stored node by pk (the workflow's store), for ``task.process``
Loader = Callable[[int], Any]


def _given(binding: Any) -> Any:
    """A task's inputs as data nodes: constants as they are, a linked socket as the node its
    producer made (left out while there is none)."""
    if isinstance(binding, FutureSocket):
        return socket_value(binding)
    if isinstance(binding, dict):
        found = {key: _given(value) for key, value in binding.items()}
        return {key: value for key, value in found.items() if value is not None}
    return binding


def _outputs_of(item: Any) -> Any:
    """The other side of ``>>`` / ``<<`` as sockets: a task view is its outputs namespace."""
    if isinstance(item, GraphTask):
        return item.outputs
    if isinstance(item, (list, tuple)):
        return [_outputs_of(part) for part in item]
    return item


class GraphTask:
    """One task of a workflow: ``name``, ``path``, ``state``, ``pk``, ``error``, its
    ``inputs``/``outputs`` socket namespaces, and for a graph task its own ``tasks``."""

    __slots__ = ("_load", "node")

    def __init__(self, node: TaskNode, load: Loader | None = None) -> None:
        #: the engine's task behind this view
        self.node = node
        self._load = load

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def path(self) -> str:
        """``outer/inner/name``: where the task sits in nested graphs."""
        return self.node.path

    @property
    def state(self) -> str:
        return self.node.state

    @property
    def pk(self) -> int | None:
        """The pk of its process node in the store (``None`` before it ran, or unstored)."""
        return self.node.pk

    @property
    def uuid(self) -> str | None:
        return self.node.uuid

    @property
    def ctime(self) -> float | None:
        return self.node.ctime

    @property
    def mtime(self) -> float | None:
        return self.node.mtime

    @property
    def error(self) -> BaseException | None:
        """The exception that failed it, if it failed."""
        return self.node.error

    @property
    def cached_from(self) -> int | None:
        """The pk of the stored task run whose results it reused (a cache hit), else None."""
        return self.node.cached_from

    @property
    def is_graph(self) -> bool:
        return self.node.is_graph

    @property
    def process(self) -> Any:
        """Its stored process node (:class:`~ferroflow.store.StoredNode`), or ``None`` when it
        has none (not run yet, or the run stored no provenance)."""
        pk = self.node.pk
        return None if pk is None or self._load is None else self._load(pk)

    @property
    def outputs(self) -> Any:
        """Its output sockets: link them to other tasks' inputs before the run; after it,
        ``.result.value`` is the data node the task made."""
        return FutureSocket(self.node, (), self.node.handle.outputs)

    @property
    def inputs(self) -> InputSockets:
        """Its input sockets: ``.x.value`` is the data node it was given (a linked input has
        one once its producer finished); ``task.inputs.x = 4`` sets one before the run."""
        return InputSockets(self.node)

    def set_inputs(self, values: Mapping[str, Any]) -> None:
        """Set inputs by name before the run (a socket as value links it), as WorkGraph's."""
        for name, value in values.items():
            set_value(self.node, name, value)

    @property
    def waiting_on(self) -> WaitingOn:
        """The tasks it waits for without using their outputs: ``task.waiting_on.add(other)``
        is ``other >> task``."""
        return WaitingOn(self.node)

    def __rshift__(self, other: Any) -> Any:
        self.outputs >> _outputs_of(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.outputs << _outputs_of(other)
        return other

    def __rrshift__(self, other: Any) -> GraphTask:
        _outputs_of(other) >> self.outputs
        return self

    def __rlshift__(self, other: Any) -> GraphTask:
        _outputs_of(other) << self.outputs
        return self

    @property
    def tasks(self) -> TaskView:
        """A graph task's own tasks (after its body ran); empty for a plain task."""
        return TaskView(self.node.tasks, self._load)

    def get_input_names(self) -> list[str]:
        return list(self.node.handle.inputs)

    def get_output_names(self) -> list[str]:
        return list(self.node.handle.outputs.fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GraphTask) and other.node is self.node

    def __hash__(self) -> int:
        return id(self.node)

    def __repr__(self) -> str:
        return f"<GraphTask {self.node.path} state={self.node.state}>"


class InputSocket(ResultSocket):
    """One input socket of a task: ``.value`` (the data node it was given), and the target of
    ``wg.add_link(source, task.inputs.x)``."""

    __slots__ = ("input_name", "task")

    def __init__(self, node: TaskNode, key: str) -> None:
        super().__init__(node.path, tuple(key.split(".")), lambda: _given(node.inputs))
        #: the task and its top-level input this socket belongs to
        self.task = node
        self.input_name = key.split(".", 1)[0]


class InputSockets:
    """A task's inputs as sockets: ``.x`` / ``["x"]``, ``.x.value``; assignable before the run
    unless a link feeds the input."""

    __slots__ = ("_node",)
    _node: TaskNode

    def __init__(self, node: TaskNode) -> None:
        object.__setattr__(self, "_node", node)

    def __getattr__(self, name: str) -> InputSocket:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, key: str) -> InputSocket:
        return InputSocket(self._node, key)

    def __setattr__(self, name: str, value: Any) -> None:
        set_value(self._node, name, value)

    def __setitem__(self, name: str, value: Any) -> None:
        set_value(self._node, name, value)

    def __iter__(self) -> Iterator[InputSocket]:
        return iter([self[name] for name in self._node.handle.inputs])

    def __dir__(self) -> list[str]:
        given = _given(self._node.inputs)
        return [name for name in self._node.handle.inputs if name in given]

    @property
    def value(self) -> dict[str, Any]:
        """Every input that has a value now, as data nodes."""
        found: dict[str, Any] = _given(self._node.inputs)
        return found

    def __repr__(self) -> str:
        return f"<inputs of {self._node.path}: {', '.join(self._node.handle.inputs)}>"


class WaitingOn:
    """``task.waiting_on``: ``add(other)`` (a task or a list of tasks) orders it first."""

    __slots__ = ("_node",)

    def __init__(self, node: TaskNode) -> None:
        self._node = node

    def add(self, before: GraphTask | list[GraphTask]) -> None:
        for task in before if isinstance(before, list) else [before]:
            self._node.wait_for(task.node)

    def __iter__(self) -> Iterator[str]:
        return iter([p.name for p in self._node.producers])


class TaskView:
    """``wg.tasks``: by name (``["square1"]``), attribute (``.square1``) or position
    (``[0]``, ``[-1]``, insertion order); iterating gives the tasks, as WorkGraph's does."""

    __slots__ = ("_load", "_tasks")

    def __init__(self, tasks: Mapping[str, TaskNode], load: Loader | None = None) -> None:
        self._tasks = tasks
        self._load = load

    def _view(self, node: TaskNode) -> GraphTask:
        return GraphTask(node, self._load)

    def __getitem__(self, key: str | int) -> GraphTask:
        if isinstance(key, int):
            names = list(self._tasks)
            try:
                return self._view(self._tasks[names[key]])
            except IndexError:
                raise IndexError(
                    f"task index {key} out of range: the graph has {len(names)} task(s)"
                ) from None
        try:
            return self._view(self._tasks[key])
        except KeyError:
            raise KeyError(
                f"no task named {key!r}; tasks: {', '.join(self._tasks) or '<none>'}"
            ) from None

    def __getattr__(self, name: str) -> GraphTask:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(str(exc)) from None

    def __iter__(self) -> Iterator[GraphTask]:
        return (self._view(node) for node in self._tasks.values())

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def __dir__(self) -> list[str]:
        return [*self._tasks, "keys", "values", "items"]

    def keys(self) -> list[str]:
        """Task names, in insertion order."""
        return list(self._tasks)

    def values(self) -> list[GraphTask]:
        return list(self)

    def items(self) -> list[tuple[str, GraphTask]]:
        return [(name, self._view(node)) for name, node in self._tasks.items()]

    def __repr__(self) -> str:
        return "TaskView(" + ", ".join(f"{n}={t.state}" for n, t in self._tasks.items()) + ")"

"""Future sockets: placeholders for task outputs that do not exist yet at build time.

Calling a task inside a graph body returns the namespace socket of its outputs. Attribute and
item access walk into it (``.result``, ``.data``, ``["a.b"]``); arithmetic and comparisons add
an operator task (:mod:`ferroflow.model.operators`); anything that needs the value itself
(iteration, truth, length, conversion) raises :class:`FutureUsageError` with a hint, instead of
WorkGraph's silent empty loop.

After the run the same socket reads what its task made, as WorkGraph's sockets do:
``socket.value`` is the data node (a dict of them for a namespace), and a namespace socket
iterates over the sockets of the keys it got.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn, Protocol, TypeVar

from ..errors import FutureUsageError, NotRunError
from .spec import Leaf, Namespace, SocketSpec

__all__ = [
    "NO_PRODUCERS",
    "FutureSocket",
    "GraphInputSocket",
    "Producer",
    "TaskGroup",
    "group",
    "socket_label",
    "socket_value",
]


class Producer(Protocol):
    """What a socket needs of the task whose outputs it points into (a graph's ``TaskNode``,
    see :func:`ferroflow.model.graph.producer`): names for messages, its outputs once it ran,
    and ordering for ``>>``."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def outputs(self) -> dict[str, Any] | None: ...

    def wait_for(self, before: Any) -> None: ...


#: The producer list of every task that uses no other task's output (most tasks of a scatter):
#: one shared empty list, never changed in place (a task given a producer gets a new list).
NO_PRODUCERS: list[Any] = []

_T = TypeVar("_T")

_VALUE_METHODS = frozenset({"items", "keys", "values", "get", "copy", "pop", "update"})


class FutureSocket:
    """An output socket of a task that has not run: ``task`` plus a ``path`` into its outputs."""

    __slots__ = ("_path", "_spec", "_task")

    def __init__(self, task: Producer, path: tuple[str, ...], spec: SocketSpec) -> None:
        self._task = task
        self._path = path
        self._spec = spec

    @property
    def _name(self) -> str:
        return self._path[-1] if self._path else "outputs"

    @property
    def _label(self) -> str:
        """``task.socket.path`` for messages."""
        return ".".join((self._task.name, *self._path)) if self._path else self._task.name

    def _child(self, name: str) -> FutureSocket:
        spec = self._spec
        if not isinstance(spec, Namespace):
            raise AttributeError(
                f"output '{self._label}' of task '{self._task.path}' is a single value and has "
                f"no sub-socket '{name}'"
            )
        child = spec.child(name)
        if child is None:
            available = ", ".join(spec.fields) or "<none>"
            raise AttributeError(
                f"task '{self._task.path}' has no output '{'.'.join((*self._path, name))}'. "
                f"Available: {available}. If '{name}' should exist, declare it in the return "
                f"annotation (namespace(...) or dynamic(...))."
            )
        return FutureSocket(self._task, (*self._path, name), child)

    # ``.result``, ``.data``, ``["a.b"]`` are typed ``Any``: a future stands in for a value of
    # the output's declared type, so it can be passed to any task input and returned from a
    # graph body annotated ``-> int`` (the how-to's style) without a type error (under
    # ``--strict``, turn off warn_return_any for graph-body modules, as pyproject.toml does for
    # the examples). At run time they return a FutureSocket.
    def __getattr__(self, name: str) -> Any:
        spec = self._spec
        if type(spec) is Namespace and name not in FutureSocket.__slots__ and name[:2] != "__":
            # the common ``.result``: one dict lookup; a declared output named ``items`` (or
            # ``keys``, ``get``...) is that output, not the misuse of a future as a dict
            child = spec.fields.get(name)
            if child is not None:
                return FutureSocket(self._task, (*self._path, name), child)
        if name.startswith("__") or name in FutureSocket.__slots__:
            raise AttributeError(name)
        if name in _VALUE_METHODS:
            self._refuse(f".{name}()")
        return self._child(name)

    def __getitem__(self, key: str) -> Any:
        if not isinstance(key, str):
            self._refuse(f"indexing with {key!r}")
        socket = self
        for part in key.split("."):
            socket = socket._child(part)
        return socket

    def _refuse(self, what: str) -> NoReturn:
        raise FutureUsageError(
            f"{what} on the future output '{self._label}' of task '{self._task.path}': its value "
            f"does not exist while the graph is being built. Move this code into a @task.graph "
            f"function that takes '{self._name}' as an input; its body runs when the value is "
            f"known."
        )

    @property
    def value(self) -> Any:
        """What the task made for this socket once it ran: a data node, or a dict of them for a
        namespace (an output named ``value`` is reached as ``socket["value"]``)."""
        found = socket_value(self)
        if found is None:
            raise NotRunError(
                f"output '{self._label}' of task '{self._task.path}' has no value: the task has "
                f"not run yet, or it failed, was skipped or was cancelled"
            )
        return found

    def __iter__(self) -> Iterator[FutureSocket]:
        found = socket_value(self)
        if not isinstance(found, dict):
            self._refuse("iterating")
        path = self._path
        return iter([FutureSocket(self._task, (*path, key), self._item(key)) for key in found])

    def _item(self, key: str) -> SocketSpec:
        spec = self._spec
        child = spec.child(key) if isinstance(spec, Namespace) else None
        return child if child is not None else Leaf()

    def __dir__(self) -> list[str]:
        found = socket_value(self)
        if isinstance(found, dict):
            return list(found)
        spec = self._spec
        return list(spec.fields) if isinstance(spec, Namespace) else []

    def __len__(self) -> NoReturn:
        self._refuse("len()")

    def __bool__(self) -> NoReturn:
        self._refuse("truth testing (if/while/and/or)")

    def __int__(self) -> NoReturn:
        self._refuse("int()")

    def __float__(self) -> NoReturn:
        self._refuse("float()")

    def __index__(self) -> NoReturn:
        self._refuse("using as an index")

    def __contains__(self, item: Any) -> NoReturn:
        self._refuse("'in'")

    def __array__(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse("numpy conversion")

    # Comparisons and arithmetic would silently give ``False`` or a TypeError without a hint
    # (WorkGraph turns them into hidden operator tasks): refuse them like the rest.
    def __eq__(self, other: object) -> NoReturn:
        self._refuse("comparing with (==)")

    def __ne__(self, other: object) -> NoReturn:
        self._refuse("comparing with (!=)")

    __hash__ = object.__hash__  # identity: sockets can still be dict keys and set members

    def __abs__(self) -> NoReturn:
        self._refuse("abs()")

    def __neg__(self) -> NoReturn:
        self._refuse("arithmetic (-)")

    def __pos__(self) -> NoReturn:
        self._refuse("arithmetic (+)")

    def __repr__(self) -> str:
        found = socket_value(self)  # after the run, what it holds (as WorkGraph prints it)
        return f"<FutureSocket {self._label}{'' if found is None else f': {found}'}>"

    # Ordering without data (WorkGraph's ``>>`` / ``<<``): ``a >> b`` and ``b << a`` make the
    # task of ``b`` wait for the task of ``a``; both return the right-hand side, so
    # ``a >> b >> c`` chains. Either side may be a list or tuple of sockets.
    def __rshift__(self, other: _T) -> _T:
        for later in _sockets(other, ">>"):
            later._task.wait_for(self._task)
        return other

    def __rrshift__(self, other: Any) -> FutureSocket:
        for earlier in _sockets(other, ">>"):
            self._task.wait_for(earlier._task)
        return self

    def __lshift__(self, other: _T) -> _T:
        for earlier in _sockets(other, "<<"):
            self._task.wait_for(earlier._task)
        return other

    def __rlshift__(self, other: Any) -> FutureSocket:
        for later in _sockets(other, "<<"):
            later._task.wait_for(self._task)
        return self


class TaskGroup(tuple[FutureSocket, ...]):
    """``group(a, b)``: tasks ordered together with ``>>`` / ``<<`` (WorkGraph's
    ``DependencyCollection``); ``group(a, b) >> c`` makes ``c`` wait for both and returns
    ``c``, so chains read left to right."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"group({', '.join(socket_label(s) for s in self)})"


def group(*items: Any) -> TaskGroup:
    """Group task outputs (a task call's result, one of its sockets, or a task view from
    ``wg.tasks``) so that ``>>`` and ``<<`` order them together."""
    sockets: list[FutureSocket] = []
    for item in items:
        outputs = item if isinstance(item, FutureSocket) else getattr(item, "outputs", None)
        if not isinstance(outputs, FutureSocket):
            raise FutureUsageError(
                f"group() takes task outputs (what a task call returns, or wg.tasks['name']), "
                f"got {type(item).__qualname__} {item!r}"
            )
        sockets.append(outputs)
    return TaskGroup(sockets)


def _sockets(value: Any, op: str) -> list[FutureSocket]:
    """The sockets of one side of ``>>`` / ``<<``: a socket, or a list or tuple of them."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if not isinstance(item, FutureSocket):
            raise FutureUsageError(
                f"'{op}' orders tasks: both sides must be task outputs (the value a task call "
                f"returns in a graph body, or one of its sockets), or lists of them; got "
                f"{type(item).__qualname__} {item!r}"
            )
    return items


def _refusing(what: str) -> Any:
    def refuse(self: FutureSocket, other: Any) -> NoReturn:
        self._refuse(what)

    return refuse


# Arithmetic and comparisons add operator tasks (:mod:`ferroflow.model.operators`); these have
# no task WorkGraph would make for them.
for _op, _symbol in {"matmul": "@", "and": "&", "or": "|", "xor": "^"}.items():
    setattr(FutureSocket, f"__{_op}__", _refusing(f"the operator {_symbol}"))
    setattr(FutureSocket, f"__r{_op}__", _refusing(f"the operator {_symbol}"))


class GraphInputSocket:
    """A graph-level input of an explicitly built graph (``wg.inputs.x``) before the run: tasks
    take it as an input like any socket; ``run(inputs={"x": value})`` makes its data node,
    which the graph run and every task that took it share."""

    __slots__ = ("graph", "name", "owner", "spec")

    def __init__(self, graph: str, name: str, spec: SocketSpec, owner: Any = None) -> None:
        #: the graph's name, and the input's dotted path in its inputs (``add.first.x``)
        self.graph = graph
        self.name = name
        self.spec = spec
        #: the graph itself, where an operator on this input outside a ``with`` block adds its
        #: task (:mod:`ferroflow.model.operators`)
        self.owner = owner

    def __getattr__(self, key: str) -> GraphInputSocket:
        """A nested input of a namespace input: ``wg.inputs.add.first.x``."""
        if key.startswith("_"):
            raise AttributeError(key)
        spec = self.spec
        child = spec.child(key) if isinstance(spec, Namespace) else None
        if child is None:
            raise AttributeError(
                f"graph '{self.graph}': input '{self.name}' has no input '{key}'"
                + (f"; it has: {', '.join(spec.fields)}" if isinstance(spec, Namespace) else "")
            )
        return GraphInputSocket(self.graph, f"{self.name}.{key}", child, self.owner)

    def given_in(self, inputs: dict[str, Any]) -> Any:
        """This input's value in ``inputs`` (nested dicts by input name), or ``None``."""
        found: Any = inputs
        for part in self.name.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        return found

    def __repr__(self) -> str:
        return f"<GraphInputSocket {self.graph}.inputs.{self.name}>"


# A socket's attributes are its task's outputs (``.result``, ``.data``), so what other modules
# read of a socket itself is offered by functions, not by attributes that could shadow one.
def socket_label(socket: FutureSocket) -> str:
    """``task.socket.path``, how messages and pictures name the output ``socket`` points at."""
    return socket._label


def socket_value(socket: FutureSocket) -> Any:
    """What ``socket`` points at in its task's outputs now: a data node, a dict of them for a
    namespace, or ``None`` while the task has not made it (or because it never will)."""
    node: Any = socket._task.outputs
    for part in socket._path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node

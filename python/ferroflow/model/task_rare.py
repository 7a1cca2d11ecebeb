"""The state of a task node that most tasks never get, kept out of the node until one does.

A task node is made for every call in a graph body, and most of them (a scatter's million)
never fail, are never served from the cache, get no error handlers of their graph, and run in
the fast lane, where their uuid and times stay in the core until somebody asks; few are graph
tasks (a child graph), sit in a control-flow zone or have a call's ``metadata=``, and a fast
task's outputs are made only when read. Ten slots of ``None`` per node (80 B, and the stores
per call) become one slot, ``_rare``, that holds a :class:`RareState` from the first time one
of them is set (a task the general lane ran gets one for its outputs). Reading them costs a
property call instead of a slot read, on paths that are not per task of a big scatter (errors,
cache hits, materialising a fast task's results).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast, overload

from .error_handlers import ErrorHandler

__all__ = ["RareField", "RareFields", "RareState"]

T = TypeVar("T")


class RareState:
    """The rarely set fields of one task node (see :class:`RareFields`)."""

    __slots__ = (
        "cached_from",
        "call_meta",
        "child",
        "ctime",
        "error",
        "handlers",
        "mtime",
        "outputs",
        "uuid",
        "zoned",
    )

    def __init__(self) -> None:
        # typed where the node declares them (``child``: a Graph; ``zoned``: a ZoneLink),
        # which this module cannot import (model.graph imports it)
        self.child: object = None
        self.zoned: object = None
        self.call_meta: tuple[str | None, str | None] | None = None
        self.outputs: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.cached_from: int | None = None
        self.handlers: tuple[ErrorHandler, ...] | None = None
        self.uuid: str | None = None
        self.ctime: float | None = None
        self.mtime: float | None = None


class RareField(Generic[T]):
    """A field of a task node kept in its :class:`RareState`, in the slot of the same name
    without a leading underscore: it reads None until set, and setting None on a node without
    a record makes none."""

    __slots__ = ("_slot",)

    def __init__(self) -> None:
        self._slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = name.lstrip("_")

    @overload
    def __get__(self, node: None, owner: type | None = None) -> RareField[T]: ...
    @overload
    def __get__(self, node: RareFields, owner: type | None = None) -> T | None: ...
    def __get__(
        self, node: RareFields | None, owner: type | None = None
    ) -> RareField[T] | T | None:
        if node is None:
            return self
        rare = node._rare
        return None if rare is None else cast("T | None", getattr(rare, self._slot))

    def __set__(self, node: RareFields, value: T | None) -> None:
        if value is not None or node._rare is not None:
            setattr(node._state(), self._slot, value)


class RareFields:
    """Base class of :class:`~.graph.TaskNode`: its rarely set fields, read as attributes
    (``None`` until set), stored in one :class:`RareState` made when the first is set."""

    __slots__ = ("_rare",)

    _rare: RareState | None

    def _state(self) -> RareState:
        rare = self._rare
        if rare is None:
            rare = self._rare = RareState()
        return rare

    #: why it failed (after a run); None if it did not
    error: RareField[BaseException] = RareField()
    #: pk of the task run whose stored results this one reused (a cache hit), else None
    cached_from: RareField[int] = RareField()
    #: its error handlers when its graph adds some (:mod:`.error_handlers`); None: just the
    #: handle's
    handlers: RareField[tuple[ErrorHandler, ...]] = RareField()
    # The stamps of a run, kept here once known (a fast task's are made from the core's when
    # first read: ``TaskNode.uuid`` and friends call its ``_materialise``).
    _uuid: RareField[str] = RareField()
    _ctime: RareField[float] = RareField()
    _mtime: RareField[float] = RareField()
    #: its output data nodes once known (``TaskNode.outputs`` reads them)
    _outputs: RareField[dict[str, Any]] = RareField()
    #: its place among control-flow zones (:class:`~ferroflow.model.zones.ZoneLink`); None
    #: outside every zone: read it with :func:`~ferroflow.model.zones.zone_link`
    zoned: RareField[Any] = RareField()

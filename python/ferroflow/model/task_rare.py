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

from typing import Any

from .error_handlers import ErrorHandler

__all__ = ["RareFields", "RareState"]


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
        # typed where TaskNode reads them (``child``: a Graph; ``zoned``: a ZoneLink), which
        # this module cannot import (model.graph imports it)
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

    @property
    def error(self) -> BaseException | None:
        """Why it failed (after a run); None if it did not."""
        rare = self._rare
        return None if rare is None else rare.error

    @error.setter
    def error(self, value: BaseException | None) -> None:
        if value is not None or self._rare is not None:
            self._state().error = value

    @property
    def cached_from(self) -> int | None:
        """pk of the task run whose stored results this one reused (a cache hit), else None."""
        rare = self._rare
        return None if rare is None else rare.cached_from

    @cached_from.setter
    def cached_from(self, value: int | None) -> None:
        if value is not None or self._rare is not None:
            self._state().cached_from = value

    @property
    def handlers(self) -> tuple[ErrorHandler, ...] | None:
        """Its error handlers when its graph adds some (:mod:`.error_handlers`); None: just
        the handle's."""
        rare = self._rare
        return None if rare is None else rare.handlers

    @handlers.setter
    def handlers(self, value: tuple[ErrorHandler, ...] | None) -> None:
        if value is not None or self._rare is not None:
            self._state().handlers = value

    # The stamps of a run, kept here once known (a fast task's are made from the core's when
    # first read: ``TaskNode.uuid`` and friends call its ``_materialise``).
    @property
    def _uuid(self) -> str | None:
        rare = self._rare
        return None if rare is None else rare.uuid

    @_uuid.setter
    def _uuid(self, value: str | None) -> None:
        if value is not None or self._rare is not None:
            self._state().uuid = value

    @property
    def _ctime(self) -> float | None:
        rare = self._rare
        return None if rare is None else rare.ctime

    @_ctime.setter
    def _ctime(self, value: float | None) -> None:
        if value is not None or self._rare is not None:
            self._state().ctime = value

    @property
    def _mtime(self) -> float | None:
        rare = self._rare
        return None if rare is None else rare.mtime

    @_mtime.setter
    def _mtime(self, value: float | None) -> None:
        if value is not None or self._rare is not None:
            self._state().mtime = value

    @property
    def _outputs(self) -> dict[str, Any] | None:
        """Its output data nodes once known (``TaskNode.outputs`` reads them)."""
        rare = self._rare
        return None if rare is None else rare.outputs

    @_outputs.setter
    def _outputs(self, value: dict[str, Any] | None) -> None:
        if value is not None or self._rare is not None:
            self._state().outputs = value

    @property
    def zoned(self) -> Any:
        """Its place among control-flow zones (:class:`~ferroflow.model.zones.ZoneLink`); None
        outside every zone: read it with :func:`~ferroflow.model.zones.zone_link`."""
        rare = self._rare
        return None if rare is None else rare.zoned

    @zoned.setter
    def zoned(self, value: Any) -> None:
        self._state().zoned = value

"""Zones at run time: the core runs a zone task like a graph task that suspends on its clones.

When the core finds a zone task ready (everything its children use from outside is terminal,
:mod:`ferroflow.model.zone_plan`), the runner calls :meth:`ZoneRunner.run`, which decides from
the zone's values and state what to add to the live run and returns those ids: the core then
suspends the zone and calls it again when they are all terminal. So every decision is one
step of the core's scheduling, and nothing polls:

* ``If`` / ``Zone``: condition false: the children are *untaken* (SKIPPED, read as ``None``)
  and the zone FINISHED. True: the body is cloned and submitted; on resume the zone FINISHES,
  or FAILS naming its children that did not finish.
* ``While``: a true condition submits one iteration's clones (each a task run of its own); on
  resume, a clone of the task that produces the condition reruns (it reads the context the
  body wrote, :mod:`ferroflow.model.context_read`); on resume again the condition is checked.
  A condition still true after ``max_iterations`` iterations fails the zone, naming it.
* ``Map``: once its source is known, one clone of the body per key (named ``<key>_<task>``),
  all submitted at once so they run in parallel; the gathered outputs become the zone's
  ``{name: {key: value}}`` outputs.

Zone tasks record no process node (as in WorkGraph); their clones record theirs, called by the
graph run like any task of the graph.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from ..errors import ChildTasksFailedError, MaxIterationsError, TaskInputError
from ..model.context_order import order_context_access
from ..model.data import DataNode
from ..model.graph import Graph, TaskNode, producers
from ..model.sockets import FutureSocket
from ..model.vocabulary import State
from ..model.zone_plan import check_zones, clone_body, clone_task, level_order, mirror
from ..model.zones import ZoneLink, ZoneSpec, inside_zone, zone_link
from .resolve import resolve

__all__ = ["ZoneHost", "ZoneRunner", "top_level"]


class ZoneHost(Protocol):
    """What zones need of the run (:class:`~ferroflow.engine.execution.Execution`)."""

    def failed(self, task: TaskNode, exc: BaseException) -> bool: ...
    def submit_tasks(
        self, tasks: list[TaskNode], graph: Graph, limited: bool = True
    ) -> list[int]: ...
    def task_state(self, task: TaskNode) -> str: ...
    def note_expandable(self, task: TaskNode) -> None: ...


class _Progress:
    """A zone's state between the core's calls: iterations run, what it is waiting for."""

    __slots__ = ("clones", "count", "keyed", "phase")

    def __init__(self) -> None:
        self.count = 0
        self.phase = "start"
        self.clones: list[TaskNode] = []
        #: a Map's keys, each with its clones' mapping (template id -> clone)
        self.keyed: list[tuple[str, dict[int, TaskNode]]] = []


def top_level(graph: Graph) -> list[TaskNode]:
    """The tasks of ``graph`` the run submits first: those outside every zone (zone tasks at
    the top included), lifted and ordered (:func:`~ferroflow.model.zone_plan.level_order`)."""
    check_zones(graph)
    order_context_access(graph)
    return level_order([task for task in graph.tasks if not inside_zone(task)])


def _value(node: Any) -> Any:
    if isinstance(node, DataNode):
        return node.value
    if isinstance(node, dict):
        return {k: _value(v) for k, v in node.items()}
    return node


class ZoneRunner:
    """Runs the zone tasks of one :class:`~ferroflow.engine.execution.Execution`."""

    def __init__(self, execution: ZoneHost) -> None:
        self.execution = execution

    def submit(self, tasks: list[TaskNode], limited: bool = True) -> list[int]:
        """Add a lifted, ordered level to the core: runs of plain tasks under the graph's
        concurrency limit, zone tasks outside it (a zone holding a slot while its children
        wait for one would deadlock a graph with ``max_number_jobs=1``)."""
        ids: list[int] = []
        batch: list[TaskNode] = []
        for task in tasks:
            link = zone_link(task)
            if task.handle.is_graph and link is not None and link.template is not None:
                self.execution.note_expandable(task)  # a clone: its graph does not list it
            if link is not None and link.zone is not None:
                ids += self.execution.submit_tasks(batch, task.graph, limited)
                ids += self.execution.submit_tasks([task], task.graph, False)
                batch = []
            else:
                batch.append(task)
        if batch:
            ids += self.execution.submit_tasks(batch, batch[0].graph, limited)
        return ids

    def run(self, task: TaskNode) -> bool | list[int]:
        link = zone_link(task)
        assert link is not None and link.zone is not None
        zone = link.zone
        if zone.run is None:
            zone.run = _Progress()
            task.state = State.RUNNING
            task.ctime = time.time()
        try:
            if zone.kind == "while":
                return self._while(task, zone, zone.run)
            if zone.kind == "map":
                return self._map(task, zone, zone.run)
            return self._once(task, zone, zone.run)
        except BaseException as exc:
            return self.execution.failed(task, exc)

    # -- the kinds ------------------------------------------------------------------------
    def _once(self, task: TaskNode, zone: ZoneSpec, progress: _Progress) -> bool | list[int]:
        if progress.phase == "start":
            if zone.kind == "if" and not self._condition(task, zone):
                self._untake(zone)
                return self._done(task)
            return self._expand(task, zone, progress)
        bad = self._settle(progress)
        if bad:
            return self._fail_children(task, bad)
        return self._done(task)

    def _while(self, task: TaskNode, zone: ZoneSpec, progress: _Progress) -> bool | list[int]:
        if progress.phase == "body":
            bad = self._settle(progress)
            if bad:
                return self._fail_children(task, bad)
            reruns = [clone_task(p, zone.mapping) for p in _condition_tasks(task)]
            progress.phase = "condition"
            progress.clones = reruns
            ids = self.submit(level_order(reruns, zone.mapping))
            if ids:
                return ids
        if progress.phase == "condition":
            bad = self._settle(progress)
            if bad:
                return self._fail_children(task, bad, "its condition")
        if not self._condition(task, zone):
            if progress.count == 0:
                self._untake(zone)
            else:
                for template in zone.descendants():
                    template.state = State.SKIPPED  # as WorkGraph leaves them, with the last
            return self._done(task)  # iteration's results still readable
        limit = _value(task.inputs.get("max_iterations"))
        if progress.count >= limit:
            raise MaxIterationsError(
                f"While zone '{task.path}': its condition still held after max_iterations="
                f"{limit} iterations; the loop stopped there (raise max_iterations, or check "
                f"that the body changes what the condition reads)"
            )
        progress.count += 1
        return self._expand(task, zone, progress)

    def _map(self, task: TaskNode, zone: ZoneSpec, progress: _Progress) -> bool | list[int]:
        if progress.phase == "start":
            source = resolve(task.inputs.get("source"), f"Map zone '{task.path}', input 'source'")
            entries = _entries(task, source)
            progress.phase = "body"
            progress.clones = []
            order: list[TaskNode] = []
            item = zone.item
            assert item is not None
            for key, node in entries.items():
                mapping = dict(zone.mapping)
                entry = TaskNode(item.handle, item.graph, f"{zone.prefix}{key}_map_item", {})
                entry.outputs = {"key": DataNode(key), "value": node}
                entry.state = State.FINISHED
                mapping[id(item)] = entry
                clones = clone_body(zone, mapping, f"{zone.prefix}{key}_")
                progress.clones += clones
                progress.keyed.append((key, mapping))
                order += level_order(clones, mapping)
            ids = self.submit(order)
            if ids:
                return ids
        bad = self._settle(progress, show=False)
        for template in zone.descendants():
            if template.state == State.PLANNED:
                template.state = State.FAILED if bad else State.FINISHED
        if bad:
            return self._fail_children(task, bad)
        outputs: dict[str, Any] = {}
        for name, socket in zone.gathers.items():
            gathered: dict[str, Any] = {}
            for key, mapping in progress.keyed:
                producer = mapping.get(id(socket._task), socket._task)
                found = resolve(
                    FutureSocket(producer, socket._path, socket._spec),
                    f"Map zone '{task.path}', gathered output '{name}'",
                )
                gathered[key] = found
            outputs[name] = gathered
        task.outputs = outputs
        return self._done(task)

    # -- steps ----------------------------------------------------------------------------
    def _expand(self, task: TaskNode, zone: ZoneSpec, progress: _Progress) -> bool | list[int]:
        """Clone the body into the zone's mapping and submit it; an empty body goes on to the
        next step at once (the core would have nothing to wait for).

        A While's next iteration first forgets the clones its nested zones made last time: a
        body task reading a child of an inner ``If`` must wait for this iteration's ``If`` (the
        template lifts to it), not find the last iteration's finished clone and start at once."""
        mapping = zone.mapping
        for template in zone.descendants():
            mapping.pop(id(template), None)
        clones = clone_body(zone, mapping, zone.prefix)
        progress.phase = "body"
        progress.clones = clones
        ids = self.submit(level_order(clones, zone.mapping))
        return ids if ids else self.run(task)

    def _settle(self, progress: _Progress, show: bool = True) -> list[TaskNode]:
        """The core's final states onto the clones, each template showing its latest clone
        (unless ``show`` is False: a Map's templates stand for all its keys); the clones that
        did not finish (and were not skipped as untaken)."""
        core_state = self.execution.task_state
        bad = []
        for clone in progress.clones:
            if clone.id is not None:
                clone.state = core_state(clone)
            link = zone_link(clone)
            if show and link is not None and link.template is not None:
                mirror(link.template, clone)
            if clone.state != State.FINISHED and not _untaken(clone):
                bad.append(clone)
        return bad

    def _condition(self, task: TaskNode, zone: ZoneSpec) -> bool:
        node = resolve(task.inputs.get("conditions"), f"zone '{task.path}', input 'conditions'")
        value = _value(node)
        held = all(value.values()) if isinstance(value, dict) else bool(value)
        if _value(task.inputs.get("invert_condition")):
            held = not held
        return held

    def _untake(self, zone: ZoneSpec) -> None:
        """A branch not taken: every task inside is SKIPPED and reads as ``None`` (in this
        expansion's mapping, so that other keys or iterations are not touched)."""
        for template in zone.descendants():
            stand_in = TaskNode(template.handle, template.graph, template.name, {})
            stand_in.state = State.SKIPPED
            stand_link = ZoneLink(zone)
            stand_link.untaken = True
            stand_in.zoned = stand_link
            link = zone_link(template)
            zone.mapping[id(template)] = stand_in
            if template.state == State.PLANNED:
                template.state = State.SKIPPED
                if link is not None:
                    link.untaken = True

    def _done(self, task: TaskNode) -> bool:
        task.state = State.FINISHED
        task.mtime = time.time()
        return True

    def _fail_children(self, task: TaskNode, bad: list[TaskNode], what: str = "") -> bool:
        listing = ", ".join(f"{t.name} ({t.state})" for t in bad)
        label = what or "children"
        return self.execution.failed(
            task,
            ChildTasksFailedError(f"zone '{task.path}' has {label} that did not finish: {listing}"),
        )


def _untaken(task: TaskNode) -> bool:
    link = zone_link(task)
    return link is not None and link.untaken


def _condition_tasks(task: TaskNode) -> list[TaskNode]:
    """The tasks whose outputs a While tests: they rerun before each further check."""
    return producers(task.inputs.get("conditions"))


def _entries(task: TaskNode, source: Any) -> dict[str, Any]:
    """A Map's source as ``{key: data node}``: a namespace output's nodes, or a dict value's
    items as new nodes."""
    if isinstance(source, DataNode):
        source = source.value
        if not isinstance(source, dict):
            raise TaskInputError(
                f"Map zone '{task.path}': its source must be a dict (or a task's namespace "
                f"output), got {type(source).__qualname__}"
            )
        return {str(k): v if isinstance(v, DataNode) else DataNode(v) for k, v in source.items()}
    if not isinstance(source, dict):
        raise TaskInputError(f"Map zone '{task.path}': its source is not a dict: {source!r}")
    return {str(k): v for k, v in source.items()}

"""The page of a workflow in memory: ``wg.to_html()``, before, during or after its run.

Reads a :class:`~.snapshot.GraphSnapshot` into a :class:`~.page_data.ViewBuilder` (the stored
run's reader is :mod:`ferroflow.export.view`; both make the same page):

* one nesting level at a time, the room shared between the level's graphs
  (:func:`~.page_data.share`), so a cut keeps the top levels;
* kept past the cut: the failed tasks, the tasks that never started (skipped, cancelled), the
  tasks that made the graph's outputs (their values, or before a run the tasks its output
  sockets point at), and the graphs holding them;
* a task's ports are its inputs and outputs, a value's source the task that made it;
* the timeline: every task that started, from its start (``ctime``) to its end (``mtime``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..model.data import DataNode
from ..model.graph import Graph, TaskNode, producer
from ..model.labels import flatten, leaves, split_label
from ..model.sockets import FutureSocket, socket_label, socket_value
from ..model.vocabulary import TERMINAL, State
from ..store.private import replace_privately
from ..store.recorder import error_text
from ..store.values import type_name
from .html import page_html
from .page_data import (
    MAX_FAILED,
    MAX_PORTS,
    MAX_TASKS,
    MAX_UNRUN,
    Page,
    Port,
    ViewBuilder,
    pick,
    share,
    summarise,
)
from .snapshot import GraphSnapshot
from .timeline import Span, Timeline, timeline

if TYPE_CHECKING:
    import os

__all__ = ["workgraph_html", "workgraph_page"]

_NOT_RUN = (State.SKIPPED, State.CANCELLED)


class _LiveReader:
    """Fills a :class:`ViewBuilder` from a workflow in memory (run or not)."""

    def __init__(self, builder: ViewBuilder) -> None:
        self.builder = builder
        self.ids: dict[int, int] = {}  # id(TaskNode) -> page id
        self.creators: dict[int, int] = {}  # id(DataNode) -> page id of the task that made it

    def ports(self, task: int, direction: str, binding: Any, default_source: int | None) -> None:
        """List the leaves of ``binding`` (inputs, or an outputs tree), labelled like the
        store's links; a socket shows what it points at, or that it has no value yet."""
        for label, leaf in leaves(binding):
            if isinstance(leaf, FutureSocket):
                source = self.ids.get(id(producer(leaf)))
                found = socket_value(leaf)
                if found is None:
                    port = _port(label, None, source, socket_label(leaf))
                    self.builder.port(task, direction, port)
                    self.flow(source, task, direction)
                    continue
                for sub, node in leaves(found, split_label(label)):
                    self.data_port(task, direction, sub, node, source)
            else:
                self.data_port(task, direction, label, leaf, default_source)

    def data_port(
        self, task: int, direction: str, label: str, node: Any, fallback: int | None
    ) -> None:
        if not isinstance(node, DataNode):  # not expected; shown rather than dropped
            self.builder.port(task, direction, _port(label, summarise(node), None, None))
            return
        source = self.creators.get(id(node), fallback)
        if direction == "outputs" and source == task:
            source = None
        port = _port(label, summarise(node.value), source, None)
        port["type"], port["pk"] = type_name(node.value), node.pk
        self.builder.port(task, direction, port)
        self.flow(source, task, direction)

    def flow(self, source: int | None, task: int, direction: str) -> None:
        if source is not None and direction == "inputs":
            self.builder.flow(source, task)


def _port(label: str, value: str | None, source: int | None, socket: str | None) -> Port:
    """A port with no stored value behind it."""
    return Port(label=label, value=value, type=None, pk=None, source=source, socket=socket)


def _add_live(
    builder: ViewBuilder,
    reader: _LiveReader,
    kept: list[tuple[int, TaskNode]],
    parent: int,
    tasks: list[tuple[TaskNode, bool]],
) -> list[tuple[int, Graph]]:
    """Add ``tasks`` (each with whether it is kept) under ``parent``; returns the expanded
    graphs among them."""
    below: list[tuple[int, Graph]] = []
    for t, keep in tasks:
        ident = builder.add(
            parent,
            t.name,
            graph=t.is_graph,
            state=t.state,
            pk=t.pk,
            uuid=t.uuid,
            type=t.handle.process_type,
            start=t.ctime,
            end=t.mtime,
            error=error_text(t.error) if t.error is not None else None,
            keep=keep,
        )
        if ident is None:
            continue
        reader.ids[id(t)] = ident
        kept.append((ident, t))
        if t.child is not None:
            below.append((ident, t.child))
    return below


def _kept(snapshot: GraphSnapshot) -> set[int]:
    """``id()`` of the tasks a page keeps past its limit: the failed tasks (at most
    :data:`MAX_FAILED`), the tasks that never started, skipped or cancelled (at most
    :data:`MAX_UNRUN`), the tasks that made the graph's first :data:`MAX_PORTS` outputs, and
    every graph task around them."""
    parents: dict[int, TaskNode] = {}
    makers: dict[int, TaskNode] = {}  # id(DataNode) -> the task that made it
    for t in snapshot.tasks:
        if t.child is not None:
            for c in t.child.tasks:
                parents[id(c)] = t
        elif snapshot.ran and t.outputs:
            for _, value in flatten(t.outputs):
                makers.setdefault(id(value), t)
    wanted = [t for t in snapshot.tasks if t.state == State.FAILED][:MAX_FAILED]
    wanted += [t for t in snapshot.tasks if t.state in _NOT_RUN and t.pk is None][:MAX_UNRUN]
    for _, leaf in list(leaves(snapshot.outputs or {}))[:MAX_PORTS]:
        made = producer(leaf) if isinstance(leaf, FutureSocket) else makers.get(id(leaf))
        if made is not None:
            wanted.append(made)
    found: set[int] = set()
    for t in wanted:
        node: TaskNode | None = t
        while node is not None and id(node) not in found:
            found.add(id(node))
            node = parents.get(id(node))
    return found


def _timeline(snapshot: GraphSnapshot, ids: dict[int, int]) -> Timeline | None:
    """Every task (not graph task) that started, as a bar."""
    spans = [
        Span(t.path, t.state, start, t.mtime if t.state in TERMINAL else None, ids.get(id(t)))
        for t in snapshot.tasks
        if not t.is_graph and (start := t.ctime) is not None
    ]
    return timeline(spans, time.time()) if spans else None


def workgraph_page(snapshot: GraphSnapshot, max_tasks: int = MAX_TASKS) -> Page:
    """The page data of a workflow in memory: its planned tasks before a run; every task of the
    run (expanded graph tasks' children included), states, values and errors after it."""
    builder = ViewBuilder(max_tasks)
    root = builder.add(
        -1,
        snapshot.name,
        graph=True,
        state=snapshot.state,
        pk=snapshot.pk,
        uuid=snapshot.uuid,
        type=snapshot.process_type,
    )
    assert root == 0
    reader = _LiveReader(builder)
    keep = _kept(snapshot)
    pending = len(keep)
    kept: list[tuple[int, TaskNode]] = []
    level: list[tuple[int, Graph]] = [(0, snapshot.graph)]
    while level:  # one nesting level at a time, the room shared between its graphs
        flags = [[id(t) in keep for t in graph.tasks] for _, graph in level]
        fits = share(builder.room(pending), [f.count(False) for f in flags])
        below: list[tuple[int, Graph]] = []
        for (parent, graph), marks, n in zip(level, flags, fits, strict=True):
            chosen = pick(graph.tasks, marks, n)
            pending -= marks.count(True)
            builder.tasks[parent]["hidden"] += len(graph.tasks) - len(chosen)
            below += _add_live(builder, reader, kept, parent, chosen)
        level = below
    for ident, t in kept:  # who made each value: calc tasks (graph tasks only return them)
        if not t.is_graph and t.outputs:
            for _, node in flatten(t.outputs):
                reader.creators.setdefault(id(node), ident)
    reader.ports(0, "inputs", snapshot.graph.inputs, None)
    reader.ports(0, "outputs", snapshot.outputs or {}, None)
    for ident, t in kept:
        reader.ports(ident, "inputs", t.inputs, None)
        if t.outputs:
            reader.ports(ident, "outputs", t.outputs, ident)
        for before in t.producers:
            source = reader.ids.get(id(before))
            if source is not None:
                builder.flow(source, ident)
    if not snapshot.ran:
        where = "WorkGraph in memory, not run yet"
    elif snapshot.pk is not None:
        where = f"WorkGraph in memory, run pk {snapshot.pk}"
    else:
        where = "WorkGraph in memory, run without provenance"
    return builder.page(
        where=where,
        counts=snapshot.counts,
        total=len(snapshot.tasks),
        timeline=_timeline(snapshot, reader.ids),
    )


def workgraph_html(
    snapshot: GraphSnapshot,
    path: str | os.PathLike[str] | None = None,
    max_tasks: int = MAX_TASKS,
) -> str:
    """The page of a workflow in memory as HTML, also written to ``path`` if given."""
    page = page_html(workgraph_page(snapshot, max_tasks))
    if path is not None:
        with replace_privately(path, "w", encoding="utf-8") as out:
            out.write(page)
    return page

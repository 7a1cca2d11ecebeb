"""Interactive, self-contained HTML pages of a workflow: ``wg.to_html()`` and ``ferroflow view``.

A page is one HTML file that opens offline, from disk or as an e-mail attachment: the graph
data is embedded as JSON and the renderer (``assets/view.js``, ``assets/view.css``: vanilla
JavaScript, no CDN, no framework) is inlined. The renderer lays the graph out itself, left to
right in layers, with nested graph tasks as boxes that collapse and expand; Graphviz is not
needed to write or to open a page. The mouse wheel zooms, dragging pans, clicking a task shows
its inputs and outputs (labels, value summaries, producing tasks), state, times and error in
the side panel, and ``page.html#select=<task path>`` opens the page with that task selected
(what the tests in headless Chromium use; clicking writes the fragment, so a link can be shared).

Both sources fill the same :class:`ViewBuilder`, so a workflow in memory (its
:class:`~.snapshot.GraphSnapshot`) and a run read back from the store
(:mod:`ferroflow.export.view`) produce the same page:

* tasks are identified by their path (``ScatterGatherSquare/ParallelSquare/square3``);
* an edge ``a -> b`` means "b used a value a made", drawn between the two tasks' ancestors that
  are siblings (the same rule as the DOT picture's producer edges, :mod:`.dot`), so each graph's
  layout only involves its own tasks;
* values are summarised (:data:`SUMMARY_CHARS`), never embedded whole, and a stored run never
  unpickles anything to draw it.

Big runs stay usable: at most :data:`MAX_TASKS` tasks are embedded (breadth first: the top
level, then one nesting level after another; the rest are counted), at most :data:`MAX_PORTS`
inputs and outputs are listed per task, and nested graphs start collapsed once expanding them
would show more than :data:`EXPAND_LIMIT` tasks.
"""

from __future__ import annotations

import json
import reprlib
import time
from collections import deque
from collections.abc import Iterable
from html import escape
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from ..model.data import DataNode
from ..model.graph import Graph, TaskNode, producer
from ..model.labels import flatten, leaves, split_label
from ..model.sockets import FutureSocket, socket_label, socket_value
from ..store.private import open_private
from ..store.recorder import error_text
from ..store.values import shorten, type_name
from .palette import STATE_COLOURS, css_variables
from .snapshot import GraphSnapshot

if TYPE_CHECKING:
    import os

__all__ = [
    "EXPAND_LIMIT",
    "MAX_PORTS",
    "MAX_TASKS",
    "SUMMARY_CHARS",
    "Page",
    "Port",
    "TaskEntry",
    "ViewBuilder",
    "page_html",
    "share",
    "summarise",
    "workgraph_html",
    "workgraph_page",
    "write_page",
]

MAX_TASKS = 5000  #: tasks embedded in one page (the rest are counted, not shown)
MAX_PORTS = 50  #: inputs and outputs listed per task
SUMMARY_CHARS = 80  #: length of a value's summary
EXPAND_LIMIT = 300  #: nested graphs start expanded while at most this many tasks show
ERROR_CHARS = 3000  #: the end of a traceback that is kept

_FORMAT = "ferroflow-view/1"
_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxdict, _repr.maxlist, _repr.maxtuple = 2, 6, 8, 8
_repr.maxset, _repr.maxfrozenset = 8, 8
_repr.maxstring, _repr.maxother, _repr.maxlong = SUMMARY_CHARS, SUMMARY_CHARS, SUMMARY_CHARS


class Port(TypedDict):
    """One input or output of a task as the page shows it.

    ``value`` is a summary (``None``: no value, e.g. the producer failed); ``source`` is the
    id of the task that created the value (or, for a value that does not exist yet, of the task
    that will); ``socket`` names an output that has no value yet (``square1.result``).
    """

    label: str
    value: str | None
    type: str | None
    pk: int | None
    source: int | None
    socket: str | None


class TaskEntry(TypedDict):
    """One task (``tasks[0]``: the top-level graph itself, with ``parent`` -1)."""

    id: int
    parent: int
    name: str
    path: str
    graph: bool
    state: str
    pk: int | None
    uuid: str | None
    type: str | None
    start: float | None
    duration: float | None
    error: str | None
    output: str | None  # the end of what it printed and logged (stored runs)
    inputs: list[Port]
    outputs: list[Port]
    more_inputs: int
    more_outputs: int
    children: list[int]
    hidden: int


class Page(TypedDict):
    """The JSON embedded in a page (``format`` names this layout)."""

    format: str
    title: str
    state: str
    where: str
    generated: str
    counts: dict[str, int]
    total: int
    shown: int
    colours: dict[str, str]
    tasks: list[TaskEntry]
    edges: list[list[int]]
    expanded: list[int]
    notes: list[str]


def summarise(value: Any) -> str:
    """A short, cheap text for a value in memory: containers and long reprs are cut, an array
    is described by dtype and shape (``ndarray float64 (3, 4)``), a ``repr`` that raises is
    named instead of breaking the page."""
    if isinstance(value, str):
        return shorten(value, SUMMARY_CHARS)
    if type(value).__name__ == "ndarray" and hasattr(value, "dtype"):
        return f"ndarray {value.dtype} {tuple(value.shape)}"
    try:
        text = _repr.repr(value)
    except Exception as exc:  # a user type whose __repr__ is broken
        text = f"<{type_name(value)}: repr failed: {type(exc).__name__}>"
    return shorten(text, SUMMARY_CHARS)


def share(room: int, sizes: list[int]) -> list[int]:
    """How many of each group's tasks fit in ``room``: small groups whole, the rest split
    evenly (a 2-task graph beside a 10,000-task one is shown complete)."""
    given = [0] * len(sizes)
    left = max(room, 0)
    for done, i in enumerate(sorted(range(len(sizes)), key=lambda i: sizes[i])):
        given[i] = min(sizes[i], left // (len(sizes) - done))
        left -= given[i]
    return given


def error_tail(text: str | None) -> str | None:
    """The end of a traceback (its message is last), at most :data:`ERROR_CHARS` long."""
    if not text or not text.strip():
        return None
    text = text.strip()
    return text if len(text) <= ERROR_CHARS else "…" + text[-ERROR_CHARS:]


class ViewBuilder:
    """Collects tasks, their ports and data-flow pairs, within the size limits, then makes the
    :class:`Page`: pairs become sibling edges and the initially expanded graphs are chosen.

    Add parents before their children (breadth first, so the limit keeps the top levels).
    """

    def __init__(self, max_tasks: int = MAX_TASKS) -> None:
        if max_tasks < 0:
            raise ValueError(f"max_tasks must be at least 0, got {max_tasks}")
        self.max_tasks = max_tasks
        self.tasks: list[TaskEntry] = []
        self.depth: list[int] = []
        self._pairs: set[tuple[int, int]] = set()

    def add(
        self,
        parent: int,
        name: str,
        *,
        graph: bool,
        state: str,
        pk: int | None = None,
        uuid: str | None = None,
        type: str | None = None,
        start: float | None = None,
        end: float | None = None,
        error: str | None = None,
    ) -> int | None:
        """Add a task under ``parent`` (-1: the top-level graph, first); ``None`` when the page
        is full (the parent then counts it as hidden)."""
        if parent >= 0 and len(self.tasks) > self.max_tasks:
            self.tasks[parent]["hidden"] += 1
            return None
        ident = len(self.tasks)
        path = name if parent < 0 else f"{self.tasks[parent]['path']}/{name}"
        duration = end - start if start is not None and end is not None else None
        self.tasks.append(
            TaskEntry(
                id=ident,
                parent=parent,
                name=name,
                path=path,
                graph=graph,
                state=state,
                pk=pk,
                uuid=uuid,
                type=type,
                start=start,
                duration=duration,
                error=error_tail(error),
                output=None,
                inputs=[],
                outputs=[],
                more_inputs=0,
                more_outputs=0,
                children=[],
                hidden=0,
            )
        )
        self.depth.append(0 if parent < 0 else self.depth[parent] + 1)
        if parent >= 0:
            self.tasks[parent]["children"].append(ident)
        return ident

    def port(self, task: int, direction: str, port: Port) -> None:
        """List ``port`` as an ``"inputs"`` or ``"outputs"`` entry of ``task`` (counted only,
        beyond :data:`MAX_PORTS`)."""
        entry = self.tasks[task]
        ports = entry["inputs"] if direction == "inputs" else entry["outputs"]
        if len(ports) < MAX_PORTS:
            ports.append(port)
        elif direction == "inputs":
            entry["more_inputs"] += 1
        else:
            entry["more_outputs"] += 1

    def flow(self, source: int, target: int) -> None:
        """``target`` used a value ``source`` made (the two may sit at any nesting level)."""
        if source != target:
            self._pairs.add((source, target))

    def _sibling_edge(self, a: int, b: int) -> tuple[int, int] | None:
        """The ancestors of ``a`` and ``b`` (themselves included) that share a parent; ``None``
        when one contains the other."""
        depth, tasks = self.depth, self.tasks
        while depth[a] > depth[b]:
            a = tasks[a]["parent"]
        while depth[b] > depth[a]:
            b = tasks[b]["parent"]
        if a == b:
            return None
        while tasks[a]["parent"] != tasks[b]["parent"]:
            a, b = tasks[a]["parent"], tasks[b]["parent"]
        return a, b

    def _expanded(self) -> list[int]:
        """Graph tasks to show open at first: breadth first, while the visible count stays
        within :data:`EXPAND_LIMIT` (small runs open completely)."""
        if not self.tasks:
            return []
        visible = len(self.tasks[0]["children"])
        queue = deque(self.tasks[0]["children"])
        opened: list[int] = []
        while queue:
            entry = self.tasks[queue.popleft()]
            kids = entry["children"]
            if not entry["graph"] or not kids or visible + len(kids) > EXPAND_LIMIT:
                continue
            visible += len(kids)
            opened.append(entry["id"])
            queue.extend(kids)
        return opened

    def page(
        self,
        *,
        where: str,
        counts: dict[str, int],
        total: int,
        notes: Iterable[str] = (),
    ) -> Page:
        """The finished page data (``counts``/``total``: over the whole run, shown or not)."""
        if not self.tasks:
            raise ValueError("a page needs its top-level graph: add it first")
        edges = sorted(
            {edge for a, b in self._pairs if (edge := self._sibling_edge(a, b)) is not None}
        )
        shown = len(self.tasks) - 1
        notes = list(notes)
        if shown < total:
            notes.append(
                f"Showing {shown} of {total} tasks (the first {self.max_tasks}, top levels "
                "first); boxes say how many tasks they hide."
            )
        root = self.tasks[0]
        return Page(
            format=_FORMAT,
            title=root["name"],
            state=root["state"],
            where=where,
            generated=time.strftime("%Y-%m-%d %H:%M:%S %z"),
            counts=counts,
            total=total,
            shown=shown,
            colours=dict(STATE_COLOURS),
            tasks=self.tasks,
            edges=[[a, b] for a, b in edges],
            expanded=self._expanded(),
            notes=notes,
        )


# -- the page ------------------------------------------------------------------------------------
def _asset(name: str) -> str:
    return (resources.files("ferroflow.views") / "assets" / name).read_text(encoding="utf-8")


def _script_json(data: Page) -> str:
    """JSON safe inside ``<script type="application/json">``: ``<``, ``>`` and ``&`` only occur
    in strings there, and their escapes keep ``</script>`` or ``<!--`` from ending the block."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_html(data: Page) -> str:
    """The complete HTML page for ``data``: styles, script and data inline, nothing fetched."""
    title = escape(f"{data['title']} · ferroflow")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ferroflow">
<title>{title}</title>
<style>
{css_variables()}{_asset("view.css")}
</style>
</head>
<body>
<header id="ff-header"><h1 id="ff-title"></h1><div id="ff-counts"></div>
<div id="ff-tools"><input id="ff-search" type="search" placeholder="find a task (Enter)"
aria-label="find a task"><button id="ff-fit" type="button">Fit</button><button id="ff-expand"
type="button">Expand all</button><button id="ff-collapse" type="button">Collapse all</button>
</div></header>
<main id="ff-main"><div id="ff-canvas"><svg id="ff-svg" xmlns="http://www.w3.org/2000/svg"
role="img" aria-label="workflow graph"></svg></div><aside id="ff-panel"></aside></main>
<noscript><p class="ff-noscript">This page draws the workflow with JavaScript; enable it to see
the graph.</p></noscript>
<script type="application/json" id="ff-data">{_script_json(data)}</script>
<script>
{_asset("view.js")}
</script>
</body>
</html>
"""


def write_page(data: Page, path: str | os.PathLike[str]) -> Path:
    """Write the page for ``data`` to ``path`` (UTF-8); returns the path."""
    with open_private(path, "w", encoding="utf-8") as out:  # 0600: values are in the page
        out.write(page_html(data))
    return Path(path)


# -- a workflow in memory ------------------------------------------------------------------------
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
    return Port(label=label, value=value, type=None, pk=None, source=source, socket=socket)


def _add_live(
    builder: ViewBuilder,
    reader: _LiveReader,
    kept: list[tuple[int, TaskNode]],
    parent: int,
    tasks: list[TaskNode],
) -> list[tuple[int, Graph]]:
    """Add ``tasks`` under ``parent``; returns the expanded graphs among them."""
    below: list[tuple[int, Graph]] = []
    for t in tasks:
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
        )
        if ident is None:
            continue
        reader.ids[id(t)] = ident
        kept.append((ident, t))
        if t.child is not None:
            below.append((ident, t.child))
    return below


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
    kept: list[tuple[int, TaskNode]] = []
    level: list[tuple[int, Graph]] = [(0, snapshot.graph)]
    while level:  # one nesting level at a time, the room shared between its graphs
        room = builder.max_tasks - (len(builder.tasks) - 1)
        fits = share(room, [len(graph.tasks) for _, graph in level])
        below: list[tuple[int, Graph]] = []
        for (parent, graph), n in zip(level, fits, strict=True):
            builder.tasks[parent]["hidden"] += len(graph.tasks) - n
            below += _add_live(builder, reader, kept, parent, graph.tasks[:n])
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
    return builder.page(where=where, counts=snapshot.counts, total=len(snapshot.tasks))


def workgraph_html(
    snapshot: GraphSnapshot,
    path: str | os.PathLike[str] | None = None,
    max_tasks: int = MAX_TASKS,
) -> str:
    """The page of a workflow in memory as HTML, also written to ``path`` if given."""
    page = page_html(workgraph_page(snapshot, max_tasks))
    if path is not None:
        with open_private(path, "w", encoding="utf-8") as out:
            out.write(page)
    return page

"""What a page of a workflow holds, and how it is filled within its size limits.

Both sources of a page, a workflow in memory (:mod:`.live_page`) and a run read back from the
store (:mod:`ferroflow.export.view`), fill the same :class:`ViewBuilder`, so they produce the
same :class:`Page` (JSON that :mod:`.html` embeds in the HTML):

* tasks are identified by their path (``ScatterGatherSquare/ParallelSquare/square3``);
* an edge ``a -> b`` means "b used a value a made", drawn between the two tasks' ancestors that
  are siblings (the same rule as the DOT picture's producer edges), so each graph's layout only
  involves its own tasks;
* values are summarised (:data:`SUMMARY_CHARS`), never embedded whole, and a stored run never
  unpickles anything to draw it.

Big runs stay usable: at most :data:`MAX_TASKS` tasks are embedded (breadth first: the top
level, then one nesting level after another), at most :data:`MAX_PORTS` inputs and outputs are
listed per task, and nested graphs start collapsed once expanding them would show more than
:data:`EXPAND_LIMIT` tasks. A cut never hides what a reader opens the page for: tasks added with
``keep=True`` are embedded past the limit, with the graphs around them. The readers keep that
way the failed tasks (at most :data:`MAX_FAILED`, each with its whole traceback up to
:data:`ERROR_CHARS`), the tasks that made the run's outputs, and the tasks that never started,
skipped after a failure or cancelled (at most :data:`MAX_UNRUN`); the page lists the failed
tasks first, and says what it left out, per state.
"""

from __future__ import annotations

import reprlib
import time
from collections import deque
from collections.abc import Iterable
from typing import Any, TypedDict

from ..model.vocabulary import State
from ..store.values import shorten, type_name
from .counts import ordered_counts
from .palette import STATE_COLOURS
from .timeline import Timeline

__all__ = [
    "ERROR_CHARS",
    "EXPAND_LIMIT",
    "MAX_FAILED",
    "MAX_PORTS",
    "MAX_TASKS",
    "MAX_UNRUN",
    "SUMMARY_CHARS",
    "Page",
    "Port",
    "TaskEntry",
    "ViewBuilder",
    "error_kept",
    "error_tail",
    "pick",
    "share",
    "summarise",
]

MAX_TASKS = 5000  #: tasks embedded in one page (the rest are counted, not shown)
MAX_PORTS = 50  #: inputs and outputs listed per task
SUMMARY_CHARS = 80  #: length of a value's summary
EXPAND_LIMIT = 300  #: nested graphs start expanded while at most this many tasks show
ERROR_CHARS = 20_000  #: a traceback is kept whole up to this length (head and tail beyond)
OUTPUT_CHARS = 3000  #: the end of what a task printed that is kept
MAX_FAILED = 500  #: failed tasks always kept (with their tracebacks); more are counted
MAX_UNRUN = 1000  #: skipped and cancelled tasks always kept; more are counted

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
    #: page ids of the failed tasks, listed first (tasks before graph tasks), and how many
    #: tasks failed in all (shown or not)
    failures: list[int]
    failed_total: int
    #: start and end of the run's tasks, in lanes (``None``: nothing started yet)
    timeline: Timeline | None


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


def error_tail(text: str | None, limit: int = OUTPUT_CHARS) -> str | None:
    """The end of a text (a traceback's message, a log's last lines), at most ``limit`` long."""
    if not text or not text.strip():
        return None
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def error_kept(text: str | None) -> str | None:
    """A whole traceback, or for one over :data:`ERROR_CHARS` its head and its tail (where the
    message is) with the count of what was cut between them."""
    if not text or not text.strip():
        return None
    text = text.strip()
    if len(text) <= ERROR_CHARS:
        return text
    half = ERROR_CHARS // 2
    cut = len(text) - 2 * half
    return f"{text[:half]}\n… {cut:,} characters of the traceback left out …\n{text[-half:]}"


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
        keep: bool = False,
    ) -> int | None:
        """Add a task under ``parent`` (-1: the top-level graph, first); ``None`` when the page
        is full (the parent then counts it as hidden), unless ``keep`` (added past the limit:
        a failed task, an output's maker, a skipped task of a stored failed run, or a graph
        around one)."""
        if not keep and parent >= 0 and len(self.tasks) > self.max_tasks:
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
                error=error_kept(error),
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

    def room(self, pending: int) -> int:
        """How many more tasks fit, ``pending`` kept tasks still to come aside (kept tasks
        count against the limit, and are added past it only when they alone exceed it)."""
        return self.max_tasks - (len(self.tasks) - 1) - pending

    def _failures(self) -> list[int]:
        failed = [t for t in self.tasks[1:] if t["state"] == State.FAILED]
        return [t["id"] for t in sorted(failed, key=lambda t: (t["graph"], t["id"]))]

    def _left_out(self, counts: dict[str, int], total: int) -> str | None:
        """``Left out 3,000 of 8,000 tasks (finished: 2,999, planned: 1) …``, or ``None``."""
        shown = len(self.tasks) - 1
        if shown >= total:
            return None
        seen: dict[str, int] = {}
        for t in self.tasks[1:]:
            seen[t["state"]] = seen.get(t["state"], 0) + 1
        missing = ordered_counts({s: n - seen.get(s, 0) for s, n in counts.items()})
        per_state = ", ".join(f"{state.lower()}: {n:,}" for state, n in missing.items())
        return (
            f"Left out {total - shown:,} of {total:,} tasks ({per_state}): the page "
            f"holds {self.max_tasks:,} (top levels first) plus every failed task, the tasks "
            "that made the outputs and the tasks that never started (skipped or cancelled); "
            "boxes say how many tasks they hide."
        )

    def page(
        self,
        *,
        where: str,
        counts: dict[str, int],
        total: int,
        notes: Iterable[str] = (),
        timeline: Timeline | None = None,
    ) -> Page:
        """The finished page data (``counts``/``total``: over the whole run, shown or not)."""
        if not self.tasks:
            raise ValueError("a page needs its top-level graph: add it first")
        edges = sorted(
            {edge for a, b in self._pairs if (edge := self._sibling_edge(a, b)) is not None}
        )
        shown = len(self.tasks) - 1
        notes = list(notes)
        failures = self._failures()
        failed_total = counts.get(State.FAILED, 0)
        if failed_total > len(failures):
            notes.append(
                f"{failed_total:,} tasks failed; the page lists {len(failures):,} of them "
                f"(at most {MAX_FAILED:,} are kept)."
            )
        if (left_out := self._left_out(counts, total)) is not None:
            notes.append(left_out)
        if timeline is not None and timeline["note"]:
            notes.append(timeline["note"])
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
            failures=failures,
            failed_total=failed_total,
            timeline=timeline,
        )


def pick(items: list[Any], kept: list[bool], n: int) -> list[tuple[Any, bool]]:
    """``items`` that go on the page, in their order: every kept one, and the first ``n`` of
    the others; each with whether it is kept."""
    chosen: list[tuple[Any, bool]] = []
    for item, keep in zip(items, kept, strict=True):
        if keep:
            chosen.append((item, True))
        elif n > 0:
            chosen.append((item, False))
            n -= 1
    return chosen

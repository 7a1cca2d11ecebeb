"""Which stored nodes a provenance picture draws, chosen with grouped SQL: a bounded plan.

A run of a million tasks must draw in seconds, so nothing here loads a node per task: the
calls of each graph run drawn are counted per task type and state in SQL (``GROUP BY`` over
the ``link_src`` index), and only the tasks that will be drawn one by one are ever read as
:class:`~ferroflow.store.StoredNode` objects. :mod:`.grouping` decides which groups are opened;
the rest are :class:`~.grouping.TaskGroup` boxes. Failed and killed tasks of the run and the
creators of what the root returns are found first (bounded ``LIMIT`` queries), with the graph
runs that called them, and always drawn.

Values are bounded too: each drawn task shows at most ``values_per_task`` inputs and as many
outputs, the rest counted in one :class:`ValueGroup` (``… 999,990 more outputs``), and the
whole picture at most ``2 × max_tasks`` values. Upstream history (``ancestor_depth``) and the
neighbourhood of a data node (:func:`plan_data`) stop when the room is used, and say so.

The plan is drawn by :func:`ferroflow.views.provenance.draw_plan` (Graphviz) and by the
Mermaid export; both read it, so they agree on what a bounded picture holds. It reads nodes and
links only through the store's set-reading layer (:mod:`ferroflow.store.graph_sets` for links
of a few pks, :mod:`ferroflow.store.graph_counts` for the counts), so it does not depend on how
the store lays them out.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..model.vocabulary import KIND_CODES, Kind, State
from ..model.vocabulary import Link as LinkType
from ..store import Link, Store, StoredNode
from ..store.graph_counts import call_counts, link_counts, process_pks_in_states
from ..store.graph_sets import (
    Side,
    calls_of_types,
    creators_of_returned,
    links_at,
    links_of,
    node_heads,
    returned_makers,
)
from ..store.schema import CALL_LINKS, INPUT_LINKS, OUTPUT_LINKS
from .grouping import PICTURE_MAX_TASKS, TaskGroup, caption, choose, pin_limit, short_type

__all__ = ["VALUES_PER_TASK", "ProvenancePlan", "ValueGroup", "plan_data", "plan_provenance"]

#: Inputs (and outputs) drawn per task before the rest are counted in one box.
VALUES_PER_TASK = 8
_CHUNK = 400
_CREATE = (LinkType.CREATE,)
_RETURN = (LinkType.RETURN,)
_DATA_LINKS = (LinkType.INPUT_CALC, LinkType.CREATE)
_FAILED = (State.FAILED, State.KILLED)
_WORK = KIND_CODES[Kind.WORK]


@dataclass(slots=True)
class ValueGroup:
    """The values of one task not drawn: ``count`` more ``inputs`` or ``outputs``."""

    ident: str
    process: int
    direction: str
    count: int


@dataclass(slots=True)
class ProvenancePlan:
    """What a bounded provenance picture draws: nodes one by one, the links between them,
    task boxes (``TaskGroup.parent`` is the calling graph run's pk), value boxes, caption."""

    nodes: dict[int, StoredNode]
    links: set[Link]
    groups: list[TaskGroup] = field(default_factory=list)
    values: list[ValueGroup] = field(default_factory=list)
    caption: str = ""


def _chunks(items: Iterable[int]) -> Iterator[list[int]]:
    items = list(items)
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _connect(store: Store) -> sqlite3.Connection:
    """A read-only connection holding one snapshot for the whole plan."""
    store.flush()
    conn = sqlite3.connect(store.path.as_uri() + "?mode=ro", uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("BEGIN")
    return conn


class _Planner:
    def __init__(self, store: Store, conn: sqlite3.Connection, max_tasks: int, per_task: int):
        self.store = store
        self.conn = conn
        self.max_tasks = max(1, max_tasks)
        self.per_task = max(1, per_task)
        self.room = self.max_tasks
        self.data_room = 2 * self.max_tasks
        self.procs: dict[int, int] = {}  # drawn process pk -> kind code
        self.data: set[int] = set()
        self.links: set[Link] = set()
        self.groups: list[TaskGroup] = []
        self.values: list[ValueGroup] = []
        self.failed = 0
        self.outputs = 0
        self.truncated = ""

    # -- tasks ---------------------------------------------------------------------------------
    def must_draw(self, root: StoredNode, depth: int | None) -> dict[int, Link]:
        """Failed/killed tasks under ``root`` and the creators of what it returns, with the
        graph runs between them and ``root``: ``{pk: CALL link into it}``."""
        if root.run_pk is None or not root.is_process:
            return {}
        cap = pin_limit(self.max_tasks)
        failed = set(process_pks_in_states(self.conn, root.run_pk, _FAILED, root.pk, cap))
        outputs = set(creators_of_returned(self.conn, root.pk, cap)) - failed
        wanted = failed | outputs
        callers: dict[int, Link] = {}
        frontier = {pk for pk in wanted if pk != root.pk}
        while frontier:
            found: set[int] = set()
            for chunk in _chunks(frontier):
                for link in links_at(self.conn, "dst", chunk, CALL_LINKS):
                    callers[link.dst] = link
                    if link.src != root.pk and link.src not in callers:
                        found.add(link.src)
            frontier = found
        kept: dict[int, Link] = {}
        for pk in {pk for pk in wanted if pk != root.pk}:
            chain: list[int] = []
            at: int | None = pk
            while at is not None and at != root.pk and at in callers:
                chain.append(at)
                at = callers[at].src
            if at == root.pk and (depth is None or len(chain) <= depth):
                kept.update((p, callers[p]) for p in chain)
        self.failed = len(failed & kept.keys())
        self.outputs = len(outputs & kept.keys())
        return kept

    def calls(self, root: StoredNode, depth: int | None) -> None:
        """Down from ``root`` one call level at a time, grouping what does not fit."""
        if not root.is_process:  # a value: only its history (upstream) is drawn
            self.data.add(root.pk)
            return
        must = self.must_draw(root, depth)
        self.procs[root.pk] = KIND_CODES[root.kind]
        self.room -= 1
        frontier = [root.pk] if root.kind == Kind.WORK else []
        level = 0
        while frontier and (depth is None or level < depth):
            level += 1
            inside = set(frontier)
            for pk, link in self._returned(frontier).items():
                if pk not in must:
                    must[pk] = link
                    self.outputs += 1
            here = {pk: link for pk, link in must.items() if link.src in inside}
            kinds = self._kinds(here)
            groups: dict[tuple[int, str], TaskGroup] = {}
            for parent, type_, kind, state, n in call_counts(self.conn, frontier):
                group = groups.get((parent, type_))
                if group is None:  # named when it becomes a box
                    group = TaskGroup("", parent, type_, short_type(type_), kind == Kind.WORK)
                    groups[(parent, type_)] = group
                group.add(state if state is not None else State.PLANNED, n)
            for pk, (type_, state) in kinds.items():  # drawn on their own: not in a box
                groups[(here[pk].src, type_)].add(state, -1)
            self.links.update(here.values())
            next_frontier = [pk for pk in here if self.procs.get(pk) == _WORK]
            self.room -= len(here)
            live = [(key, g) for key, g in groups.items() if g.total > 0]
            opened = choose([g.total for _, g in live], self.room, self.max_tasks)
            by_parent: dict[int, list[str]] = {}
            for (key, group), is_open in zip(live, opened, strict=True):
                if is_open:
                    by_parent.setdefault(key[0], []).append(key[1])
                else:
                    group.ident = f"G{len(self.groups) + 1}"
                    self.groups.append(group)
                    self.room -= 1
            for parent, types in by_parent.items():
                for link, kind in calls_of_types(self.conn, parent, types):
                    if link.dst not in self.procs:
                        self.procs[link.dst] = KIND_CODES[kind]
                        self.links.add(link)
                        self.room -= 1
                        if kind == Kind.WORK:
                            next_frontier.append(link.dst)
            frontier = next_frontier

    def _returned(self, graphs: list[int]) -> dict[int, Link]:
        """The tasks each graph run called that created what it returns: ``{pk: CALL link}``."""
        found: dict[int, Link] = {}
        cap = pin_limit(self.max_tasks)
        for graph in graphs:
            for link in returned_makers(self.conn, graph, cap):
                found[link.dst] = link
        return found

    def _kinds(self, here: dict[int, Link]) -> dict[int, tuple[str, str]]:
        found: dict[int, tuple[str, str]] = {}
        for chunk in _chunks(here):
            for pk, (type_, kind, state) in node_heads(self.conn, chunk).items():
                found[pk] = (type_, state if state is not None else State.PLANNED)
                self.procs.setdefault(pk, KIND_CODES[kind])
        return found

    # -- values --------------------------------------------------------------------------------
    def values_of(self, procs: list[int]) -> None:
        """Inputs and outputs of ``procs``, at most ``per_task`` each way per task."""
        sides: tuple[tuple[str, Side, tuple[str, ...]], ...] = (
            ("inputs", "dst", INPUT_LINKS),
            ("outputs", "src", OUTPUT_LINKS),
        )
        for direction, near, types in sides:
            few: list[int] = []
            for chunk in _chunks(procs):
                for pk, n in link_counts(self.conn, near, chunk, types):
                    if n <= self.per_task and n <= self.data_room:
                        few.append(pk)
                        self.data_room -= n
                    else:  # a graph's many outputs: drawn only through their pinned makers
                        many = direction == "outputs" and self.procs.get(pk) == _WORK
                        shown = 0 if many else min(self.per_task, max(0, self.data_room))
                        self.data_room -= shown
                        if shown:
                            first = links_of(self.conn, near, pk, types, limit=shown)
                            self._add_data(first, near)
                        ident = f"V{len(self.values) + 1}"
                        self.values.append(ValueGroup(ident, pk, direction, n))
            for chunk in _chunks(few):
                self._add_data(links_at(self.conn, near, chunk, types), near)

    def _add_data(self, links: list[Link], near: str) -> None:
        for link in links:
            self.links.add(link)
            self.data.add(link.src if near == "dst" else link.dst)

    def returns(self) -> None:
        """Links out of drawn graph runs into drawn values (a pinned task's output, returned
        by its graph, is drawn as its graph's output too)."""
        graphs = {pk for pk, kind in self.procs.items() if kind == _WORK}
        for chunk in _chunks(sorted(self.data)):
            returned = links_at(self.conn, "dst", chunk, _RETURN)
            self.links.update(link for link in returned if link.src in graphs)

    def upstream(self, generations: int | None) -> None:
        """Creators of drawn values made outside the picture, with their inputs."""
        created = {link.dst for link in self.links if link.type == LinkType.CREATE}
        frontier = sorted(pk for pk in self.data if pk not in created)
        level = 0
        while frontier and (generations is None or level < generations):
            level += 1
            if self.room <= 0:
                self.truncated = "Earlier history not drawn: the picture is full."
                return
            new: list[int] = []
            for chunk in _chunks(frontier):
                for link in links_at(self.conn, "dst", chunk, _CREATE):
                    self.links.add(link)
                    if link.src not in self.procs and self.room > 0:
                        self.procs[link.src] = KIND_CODES[Kind.CALC]
                        self.room -= 1
                        new.append(link.src)
            before = set(self.data)
            self.values_of(new)
            self.returns()
            created = {link.dst for link in self.links if link.type == LinkType.CREATE}
            frontier = sorted(pk for pk in self.data - before if pk not in created)

    def plan(self) -> ProvenancePlan:
        nodes = self.store.load_nodes([*self.procs, *sorted(self.data)])
        links = {link for link in self.links if link.src in nodes and link.dst in nodes}
        for box in self.values:  # ``count`` was the total: take away what is drawn
            near = "dst" if box.direction == "inputs" else "src"
            types = INPUT_LINKS if box.direction == "inputs" else OUTPUT_LINKS
            box.count -= sum(
                1 for link in links if getattr(link, near) == box.process and link.type in types
            )
        values = [box for box in self.values if box.count > 0]
        more = ""
        if values:
            n = sum(box.count for box in values)
            tasks = "1 task" if len(values) == 1 else f"{len(values):,} tasks"
            more = f"{n:,} more values of {tasks} are counted, not drawn."
        if self.truncated:
            more = f"{more} {self.truncated}".strip()
        text = caption(self.groups, self.max_tasks, self.failed, self.outputs, more)
        if not text and more:
            text = more
        return ProvenancePlan(nodes, links, self.groups, values, text)


def plan_provenance(
    store: Store,
    root_pk: int,
    ancestor_depth: int | None = None,
    descendant_depth: int | None = None,
    max_tasks: int = PICTURE_MAX_TASKS,
    values_per_task: int = VALUES_PER_TASK,
) -> ProvenancePlan:
    """The bounded provenance picture around the process ``root_pk`` (see the module
    docstring and :func:`ferroflow.views.provenance.build_provenance_graph`)."""
    root = store.load_node(root_pk)
    conn = _connect(store)
    try:
        planner = _Planner(store, conn, max_tasks, values_per_task)
        planner.calls(root, descendant_depth)
        planner.values_of(list(planner.procs))
        planner.returns()
        planner.upstream(ancestor_depth)
        return planner.plan()
    finally:
        conn.close()


def plan_data(
    store: Store,
    pk: int,
    ancestor_depth: int | None = None,
    descendant_depth: int | None = None,
    max_tasks: int = PICTURE_MAX_TASKS,
) -> ProvenancePlan:
    """The data-provenance neighbourhood of any node (``INPUT_CALC``/``CREATE`` hops back and
    forward), at most ``3 × max_tasks`` nodes, nearest hops first."""
    focus = store.load_node(pk)
    cap = 3 * max(1, max_tasks)
    seen = {focus.pk}
    links: set[Link] = set()
    full = False
    conn = _connect(store)
    try:
        walks: tuple[tuple[Side, Side, int | None], ...] = (
            ("dst", "src", ancestor_depth),
            ("src", "dst", descendant_depth),
        )
        for near, far, depth in walks:
            frontier, hop = [focus.pk], 0
            while frontier and (depth is None or hop < depth) and not full:
                hop += 1
                found: list[int] = []
                for chunk in _chunks(frontier):
                    left = cap - len(seen)
                    rows = links_at(conn, near, chunk, _DATA_LINKS, limit=left + 1)
                    for row in rows:
                        other = row.dst if far == "dst" else row.src
                        if other not in seen:
                            if len(seen) >= cap:
                                full = True
                                break
                            seen.add(other)
                            found.append(other)
                        links.add(row)
                    if full:
                        break
                frontier = found
    finally:
        conn.close()
    nodes = store.load_nodes(sorted(seen))
    note = f"Stopped at {cap:,} nodes (3 × max_tasks): more history is not drawn." if full else ""
    return ProvenancePlan(
        nodes, {ln for ln in links if ln.src in nodes and ln.dst in nodes}, caption=note
    )

"""The interactive HTML page of a stored run (``ferroflow view RUN``), read from the store.

The same page as :meth:`WorkGraph.to_html` (:mod:`ferroflow.views.html` makes it), built from
one :class:`~.selection.RunSelection` snapshot instead of objects in memory, so it works for
any run of any profile, finished, failed or still running, long after the process that ran it:

* tasks are the run's process nodes, found from the top-level run down through ``CALL_*``
  links, breadth first and at most ``max_tasks`` of them (one bounded query per graph, so a
  million-task run costs what the page shows, not what the run holds); their names are the
  links' labels, so paths read as in memory (``G/ParallelSquare/square3``);
* a task's inputs and outputs are its ``INPUT_*`` and ``CREATE``/``RETURN`` links, values
  summarised by :meth:`RunSelection.summary` (which never unpickles and reads only a blob's
  head);
* edges come from data flow: the ``CREATE`` link of each value a shown task used names the
  task that made it.

A cut keeps what the page is opened for (:mod:`ferroflow.views.page_data`): the failed
process nodes, the tasks that created the run's returned values, and the graphs around them are
read past ``max_tasks``. Skipped and cancelled tasks have no process node (as in AiiDA); the run
lists them in ``unrun_task`` (:mod:`ferroflow.store.unrun`), so a failed run's page shows them
too, with edges from what they waited on. The timeline is the one part that reads every task
run of the run (its ``ctime`` and ``mtime``, through the ``node_run`` index); SQLite samples
them past :data:`~ferroflow.views.timeline.MAX_BARS` rows, so only the bars reach Python.

Every read of nodes and links goes through the store's set-reading layer
(:mod:`ferroflow.store.graph_sets`, :mod:`ferroflow.store.graph_counts`), pks in and rows
out, so the page does not depend on how the store lays out its nodes and links.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

from ..model.vocabulary import TERMINAL, State
from ..model.vocabulary import Link as LinkType
from ..store import Store
from ..store.graph_counts import (
    count_task_runs,
    link_counts,
    process_pks_in_states,
    process_state_counts,
    task_spans,
)
from ..store.graph_sets import links_at, links_of
from ..store.schema import CALL_LINKS, INPUT_LINKS, OUTPUT_LINKS, STATE_CODES
from ..store.unrun import Unrun, read_unrun, unrun_counts
from ..views.counts import ordered_counts
from ..views.page_data import (
    MAX_FAILED,
    MAX_PORTS,
    MAX_TASKS,
    MAX_UNRUN,
    SUMMARY_CHARS,
    Page,
    Port,
    ViewBuilder,
    error_tail,
    pick,
    share,
)
from ..views.timeline import MAX_BARS, Span, Timeline, timeline
from .selection import NodeRow, RunSelection

__all__ = ["run_page"]

_CHUNK = 500
_CREATE = (LinkType.CREATE,)
_RETURN = (LinkType.RETURN,)


def _chunks(pks: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(pks), _CHUNK):
        yield pks[start : start + _CHUNK]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _add(
    builder: ViewBuilder, parent: int, name: str, node: NodeRow, keep: bool = False
) -> int | None:
    return builder.add(
        parent,
        name,
        graph=node.kind == "work",
        state=node.state or "PLANNED",
        pk=node.pk,
        uuid=node.uuid,
        type=node.type,
        start=node.ctime,
        end=node.mtime if node.state not in (None, "PLANNED", "RUNNING") else None,
        error=node.error,
        keep=keep,
    )


def _kept(sel: RunSelection, unrun: list[Unrun]) -> dict[int, set[int]]:
    """The process nodes kept past the limit, by the pk of the graph run holding them: the
    failed ones (at most :data:`MAX_FAILED`), the creators of the run's first
    :data:`MAX_PORTS` returned values, the graphs holding tasks that never started, and every
    graph run around those, up to the run."""
    root = sel.root.pk
    wanted = set(process_pks_in_states(sel.conn, root, (State.FAILED,), root, MAX_FAILED))
    returned = [ln.dst for ln in links_of(sel.conn, "src", root, _RETURN, limit=MAX_PORTS)]
    wanted.update(ln.src for ln in links_at(sel.conn, "dst", returned, _CREATE))
    wanted.update(u.parent_pk for u in unrun)
    wanted.discard(root)
    parent_of: dict[int, int] = {}
    frontier = sorted(wanted)
    while frontier:
        found: set[int] = set()
        for link in links_at(sel.conn, "dst", frontier, CALL_LINKS):
            child, parent = link.dst, link.src
            parent_of[child] = parent
            if parent != root and parent not in parent_of:
                found.add(parent)
        frontier = sorted(found - parent_of.keys())

    def reaches(pk: int) -> bool:  # a value made in another run has its maker elsewhere
        for _ in range(len(parent_of) + 1):  # CALL links form a tree; bounded all the same
            if pk == root or pk not in parent_of:
                break
            pk = parent_of[pk]
        return pk == root

    kept: dict[int, set[int]] = {}
    for child, parent in parent_of.items():
        if reaches(child):
            kept.setdefault(parent, set()).add(child)
    return kept


def _children(
    sel: RunSelection, parent: int, kept: set[int], n: int
) -> list[tuple[int, str, bool]]:
    """``(pk, name, kept)`` of the children of ``parent`` the page shows: the kept ones and
    the first ``n`` others, in pk order."""
    first = (
        links_of(sel.conn, "src", parent, CALL_LINKS, by="other", limit=n + len(kept)) if n else []
    )
    rows = [(ln.dst, ln.label) for ln in first]
    found = {dst for dst, _ in rows}
    missing = sorted(kept - found)
    calls = links_at(sel.conn, "dst", missing, CALL_LINKS)
    rows += [(ln.dst, ln.label) for ln in calls if ln.src == parent]
    rows.sort()
    chosen = pick(rows, [dst in kept for dst, _ in rows], n)
    return [(dst, label, keep) for (dst, label), keep in chosen]


def _tasks(
    sel: RunSelection, builder: ViewBuilder, kept: dict[int, set[int]], pending: int
) -> dict[int, int]:
    """Add the run's tasks one nesting level at a time, the room shared between the level's
    graphs as in memory (:func:`~ferroflow.views.page_data.share`), kept tasks past it;
    returns page ids by pk."""
    ids = {sel.root.pk: 0}
    level = [sel.root.pk]
    while level:
        counted = dict(link_counts(sel.conn, "src", level, CALL_LINKS))
        sizes = [counted.get(pk, 0) for pk in level]
        keeps = [kept.get(pk, set()) for pk in level]
        fits = share(builder.room(pending), [s - len(k) for s, k in zip(sizes, keeps, strict=True)])
        calls: list[tuple[int, int, str, bool]] = []  # (parent pk, child pk, name, kept)
        for parent, size, keep, n in zip(level, sizes, keeps, fits, strict=True):
            chosen = _children(sel, parent, keep, n)
            pending -= len(keep)
            builder.tasks[ids[parent]]["hidden"] += size - len(chosen)
            calls += [(parent, dst, label, k) for dst, label, k in chosen]
        nodes = sel.nodes_by_pk(child for _, child, _, _ in calls)
        level = []
        for parent, child, name, keep_it in calls:
            node = nodes.get(child)
            ident = None if node is None else _add(builder, ids[parent], name, node, keep_it)
            if ident is not None and node is not None:
                ids[child] = ident
                if node.kind == "work":
                    level.append(child)
    return ids


def _unrun(builder: ViewBuilder, ids: dict[int, int], unrun: list[Unrun]) -> None:
    """Add the tasks that never started under their graphs, with edges from what they
    waited on."""
    added: dict[tuple[int, str], int] = {}
    for u in unrun:
        parent = ids.get(u.parent_pk)
        if parent is None:
            continue
        ident = builder.add(parent, u.label, graph=False, state=u.state, type=u.type, keep=True)
        if ident is not None:
            added[(u.parent_pk, u.label)] = ident
    for u in unrun:
        ident = added.get((u.parent_pk, u.label))
        if ident is None:
            continue
        for before in u.after:
            source = (
                ids.get(before) if isinstance(before, int) else added.get((u.parent_pk, before))
            )
            if source is not None:
                builder.flow(source, ident)


def _ports(sel: RunSelection, builder: ViewBuilder, ids: dict[int, int]) -> None:
    """List inputs and outputs (values summarised, creators named) and record data flow."""
    listed: list[tuple[int, str, str, int]] = []  # (page id, direction, label, data pk)
    flows: list[tuple[int, int]] = []  # (consumer page id, data pk): every input, listed or not
    pks = sorted(ids)
    for chunk in _chunks(pks):
        for link in links_at(sel.conn, "dst", chunk, INPUT_LINKS, ordered=True):
            listed.append((ids[link.dst], "inputs", link.label, link.src))
            flows.append((ids[link.dst], link.src))
        for link in links_at(sel.conn, "src", chunk, OUTPUT_LINKS, ordered=True):
            listed.append((ids[link.src], "outputs", link.label, link.dst))
    data_pks = sorted({data for *_, data in listed})
    creators: dict[int, int] = {}  # data pk -> page id of the task that created it
    for link in links_at(sel.conn, "dst", data_pks, _CREATE):
        if link.src in ids:
            creators[link.dst] = ids[link.src]
    values = sel.nodes_by_pk(data_pks)
    summaries = {pk: sel.summary(node, SUMMARY_CHARS) for pk, node in values.items()}
    for task, direction, label, data in listed:
        source = creators.get(data)
        node = values.get(data)
        builder.port(
            task,
            direction,
            Port(
                label=label,
                value=summaries.get(data),
                type=node.type if node is not None else None,
                pk=data,
                source=None if source == task else source,
                socket=None,
            ),
        )
    for task, data in flows:
        if data in creators:
            builder.flow(creators[data], task)


def _outputs(sel: RunSelection, builder: ViewBuilder, ids: dict[int, int]) -> None:
    """The end of what each shown task printed and logged (``ferroflow logs`` has all)."""
    for chunk in _chunks(sorted(ids)):
        sql = f"SELECT pk, text FROM task_output WHERE pk IN ({_marks(len(chunk))})"
        for pk, text in sel.conn.execute(sql, chunk):
            builder.tasks[ids[pk]]["output"] = error_tail(text)


def _timeline(sel: RunSelection, builder: ViewBuilder, ids: dict[int, int]) -> Timeline | None:
    """Every task run's start and end; past :data:`MAX_BARS` rows, every k-th by start time
    (and every failed one), sampled by SQLite."""
    total = count_task_runs(sel.conn, sel.root.pk)
    if not total:
        return None
    step = math.ceil(total / MAX_BARS)
    spans = []
    for pk, label, stored, ctime, mtime in task_spans(sel.conn, sel.root.pk, step, State.FAILED):
        state = stored if stored in STATE_CODES else State.PLANNED
        ident = ids.get(pk)
        path = builder.tasks[ident]["path"] if ident is not None else (label or str(pk))
        spans.append(Span(path, state, ctime, mtime if state in TERMINAL else None, ident))
    return timeline(spans, time.time(), sampled=(total, step))


def run_page(store: Store, run_pk: int, max_tasks: int = MAX_TASKS) -> Page:
    """The page data of the stored top-level run ``run_pk`` (see the module docstring).

    Raises :class:`~ferroflow.store.NodeNotFoundError` for an unknown pk and
    :class:`ValueError` for a node that is not a top-level graph run.
    """
    builder = ViewBuilder(max_tasks)
    with RunSelection(store, run_pk) as sel:
        root = sel.root
        _add(builder, -1, root.label or root.type, root)
        unrun = read_unrun(sel.conn, run_pk, MAX_UNRUN)
        kept = _kept(sel, unrun)
        ids = _tasks(sel, builder, kept, sum(map(len, kept.values())) + len(unrun))
        _unrun(builder, ids, unrun)
        _ports(sel, builder, ids)
        _outputs(sel, builder, ids)
        found: dict[str, int] = unrun_counts(sel.conn, run_pk)
        for stored, n in process_state_counts(sel.conn, run_pk):
            state = stored if stored in STATE_CODES else State.PLANNED
            found[state] = found.get(state, 0) + n
        line = _timeline(sel, builder, ids)
    counts = ordered_counts(found)
    return builder.page(
        where=f"run pk {root.pk} in {store.path}",
        counts=counts,
        total=sum(counts.values()),
        timeline=line,
    )

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

Skipped and cancelled tasks have no process node in the store (as in AiiDA), so the page of a
failed or cancelled run lacks them; the in-memory page shows them.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..store import Store
from ..store.schema import LINK_CODES, STATE_NAMES
from ..views.counts import ordered_counts
from ..views.html import MAX_TASKS, SUMMARY_CHARS, Page, Port, ViewBuilder, error_tail, share
from .selection import NodeRow, RunSelection

__all__ = ["run_page"]

_CHUNK = 500
_CALLS = (LINK_CODES["CALL_CALC"], LINK_CODES["CALL_WORK"])
_INPUTS = (LINK_CODES["INPUT_CALC"], LINK_CODES["INPUT_WORK"])
_OUTPUTS = (LINK_CODES["CREATE"], LINK_CODES["RETURN"])
_CREATE = LINK_CODES["CREATE"]


def _chunks(pks: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(pks), _CHUNK):
        yield pks[start : start + _CHUNK]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _add(builder: ViewBuilder, parent: int, name: str, node: NodeRow) -> int | None:
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
    )


def _tasks(sel: RunSelection, builder: ViewBuilder) -> dict[int, int]:
    """Add the run's tasks one nesting level at a time, the room shared between the level's
    graphs as in memory (:func:`~ferroflow.views.html.share`); returns page ids by pk."""
    ids = {sel.root.pk: 0}
    level = [sel.root.pk]
    count = "SELECT count(*) FROM link WHERE src = ? AND type IN (?, ?)"
    children = "SELECT dst, label FROM link WHERE src = ? AND type IN (?, ?) ORDER BY dst LIMIT ?"
    while level:
        sizes = [sel.conn.execute(count, (pk, *_CALLS)).fetchone()[0] for pk in level]
        fits = share(builder.max_tasks - (len(builder.tasks) - 1), sizes)
        calls: list[tuple[int, int, str]] = []  # (parent pk, child pk, name)
        for parent, size, n in zip(level, sizes, fits, strict=True):
            builder.tasks[ids[parent]]["hidden"] += size - n
            rows = sel.conn.execute(children, (parent, *_CALLS, n)).fetchall() if n else []
            calls += [(parent, dst, label) for dst, label in rows]
        nodes = sel.nodes_by_pk(child for _, child, _ in calls)
        level = []
        for parent, child, name in calls:
            node = nodes.get(child)
            ident = None if node is None else _add(builder, ids[parent], name, node)
            if ident is not None and node is not None:
                ids[child] = ident
                if node.kind == "work":
                    level.append(child)
    return ids


def _ports(sel: RunSelection, builder: ViewBuilder, ids: dict[int, int]) -> None:
    """List inputs and outputs (values summarised, creators named) and record data flow."""
    listed: list[tuple[int, str, str, int]] = []  # (page id, direction, label, data pk)
    flows: list[tuple[int, int]] = []  # (consumer page id, data pk): every input, listed or not
    pks = sorted(ids)
    for chunk in _chunks(pks):
        marks = _marks(len(chunk))
        sql = (
            f"SELECT dst, label, src FROM link WHERE dst IN ({marks}) AND type IN (?, ?)"
            " ORDER BY dst, label"
        )
        for process, label, data in sel.conn.execute(sql, (*chunk, *_INPUTS)):
            listed.append((ids[process], "inputs", label, data))
            flows.append((ids[process], data))
        sql = (
            f"SELECT src, label, dst FROM link WHERE src IN ({marks}) AND type IN (?, ?)"
            " ORDER BY src, label"
        )
        for process, label, data in sel.conn.execute(sql, (*chunk, *_OUTPUTS)):
            listed.append((ids[process], "outputs", label, data))
    data_pks = sorted({data for *_, data in listed})
    creators: dict[int, int] = {}  # data pk -> page id of the task that created it
    for chunk in _chunks(data_pks):
        sql = f"SELECT dst, src FROM link WHERE dst IN ({_marks(len(chunk))}) AND type = ?"
        for data, creator in sel.conn.execute(sql, (*chunk, _CREATE)):
            if creator in ids:
                creators[data] = ids[creator]
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


def run_page(store: Store, run_pk: int, max_tasks: int = MAX_TASKS) -> Page:
    """The page data of the stored top-level run ``run_pk`` (see the module docstring).

    Raises :class:`~ferroflow.store.NodeNotFoundError` for an unknown pk and
    :class:`ValueError` for a node that is not a top-level graph run.
    """
    builder = ViewBuilder(max_tasks)
    with RunSelection(store, run_pk) as sel:
        root = sel.root
        _add(builder, -1, root.label or root.type, root)
        ids = _tasks(sel, builder)
        _ports(sel, builder, ids)
        _outputs(sel, builder, ids)
        sql = (
            "SELECT state, count(*) FROM node WHERE run_pk = ? AND kind != 0 AND pk != ?"
            " GROUP BY state"
        )
        found: dict[str, int] = {}
        for code, n in sel.conn.execute(sql, (run_pk, run_pk)):
            state = STATE_NAMES.get(code, "PLANNED")
            found[state] = found.get(state, 0) + n
    counts = ordered_counts(found)
    notes = []
    if root.state in ("FAILED", "CANCELLED", "KILLED"):
        notes.append("Skipped and cancelled tasks are not stored, so this page does not show them.")
    return builder.page(
        where=f"run pk {root.pk} in {store.path}",
        counts=counts,
        total=sum(counts.values()),
        notes=notes,
    )

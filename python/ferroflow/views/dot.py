"""The picture of a workflow in memory as Graphviz draws it: DOT text, SVG and the Jupyter HTML.

Tasks are filled by state, nested graphs are clusters outlined by state (drawn once: the
cluster is the graph task; edges into and out of it end at its border), and the title counts
tasks per state (``fan_out (FINISHED)`` / ``finished: 3``). Edges join a task to the tasks whose
values it used.

Every picture is bounded (:mod:`.grouping`): at most about ``max_tasks`` boxes, repeated tasks
of one graph run folded into one ``square × 100,000`` box counted per state, failed tasks and
the tasks behind a graph's outputs always drawn on their own, and the title says what was
grouped. So a million-task run draws as fast as a small one. Rendering needs the optional
``graphviz`` package and Graphviz's ``dot``; without them Jupyter shows the DOT text.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from html import escape

from ..model.graph import Graph, TaskNode, producers
from ..model.vocabulary import State
from .counts import counts_text
from .escaping import dot_text
from .grouping import (
    PICTURE_MAX_TASKS,
    TaskGroup,
    caption,
    caption_lines,
    choose,
    group_label,
    pin_limit,
    short_type,
)
from .palette import state_colour
from .snapshot import GraphSnapshot

__all__ = ["workgraph_dot", "workgraph_jupyter_html", "workgraph_svg"]

_PINNED_STATES = (State.FAILED, State.KILLED)


@dataclass(slots=True)
class _Choice:
    """Which tasks are drawn (by ``id``), which stand in a box, and the boxes per graph."""

    drawn: set[int] = field(default_factory=set)
    box_of: dict[int, TaskGroup] = field(default_factory=dict)
    boxes: dict[int, list[TaskGroup]] = field(default_factory=dict)  # by id(graph)
    groups: list[TaskGroup] = field(default_factory=list)
    failed: int = 0
    outputs: int = 0


def _pins(graph: Graph, cap: int) -> list[TaskNode]:
    """A graph's tasks always drawn: failed or killed ones, and those behind its outputs (at
    most ``cap`` of each)."""
    failed = [t for t in graph.tasks if t.state in _PINNED_STATES][:cap]
    outputs = [t for t in producers(graph.outputs) if t.graph is graph and t not in failed]
    return failed + outputs[:cap]


def _choose(top: Graph, max_tasks: int) -> _Choice:
    """Level by level down the nested graphs, as :mod:`.grouping` says."""
    choice = _Choice()
    room = max_tasks
    level = [top]
    while level:
        members: dict[tuple[int, str], tuple[TaskGroup, list[TaskNode]]] = {}
        opened_graphs: list[Graph] = []
        for graph in level:
            pins = _pins(graph, pin_limit(max_tasks))
            pinned = {id(t) for t in pins}
            choice.drawn |= pinned
            failed = sum(t.state in _PINNED_STATES for t in pins)
            choice.failed += failed
            choice.outputs += len(pins) - failed
            room -= len(pins)
            opened_graphs += [t.child for t in pins if t.child is not None and t.child.tasks]
            for t in graph.tasks:
                if id(t) in pinned:
                    continue
                kind = t.handle.process_type
                entry = members.get((id(graph), kind))
                if entry is None:
                    group = TaskGroup("", id(graph), kind, short_type(kind), t.child is not None)
                    entry = members[(id(graph), kind)] = (group, [])
                entry[0].add(t.state)
                entry[1].append(t)
        entries = list(members.items())
        sizes = [len(tasks) for _, (_, tasks) in entries]
        for ((graph_id, _), (group, tasks)), is_open in zip(
            entries, choose(sizes, room, max_tasks), strict=True
        ):
            if is_open:
                choice.drawn.update(id(t) for t in tasks)
                room -= len(tasks)
                opened_graphs += [t.child for t in tasks if t.child is not None and t.child.tasks]
            else:
                group.ident = f"g{len(choice.groups) + 1}"
                choice.groups.append(group)
                choice.boxes.setdefault(graph_id, []).append(group)
                choice.box_of.update((id(t), group) for t in tasks)
                room -= 1
        level = opened_graphs
    return choice


def workgraph_dot(snapshot: GraphSnapshot, max_tasks: int = PICTURE_MAX_TASKS) -> str:
    """The workflow's tasks and data links as DOT text (see the module docstring)."""
    choice = _choose(snapshot.graph, max(1, max_tasks))
    name = dot_text(snapshot.name)  # names are the user's: escaped wherever they go
    title = f"{name} ({snapshot.state})\\n{dot_text(counts_text(snapshot.counts))}"
    note = caption(choice.groups, max_tasks, choice.failed, choice.outputs)
    for line in caption_lines(note):
        title += f"\\n{dot_text(line)}"
    lines = [
        f'digraph "{name}" {{',
        '  rankdir=LR; compound=true; node [shape=box, style="rounded,filled", '
        "fontname=Helvetica];",
        f'  label="{title}"; labelloc=t; fontname=Helvetica;',
    ]
    edges: dict[tuple[str, str], str] = {}
    _emit(snapshot.graph, "  ", lines, choice, edges)
    lines += [f'  "{src}" -> "{dst}"{attrs};' for (src, dst), attrs in edges.items()]
    lines.append("}")
    return "\n".join(lines)


def _end(t: TaskNode, choice: _Choice) -> tuple[str, str] | None:
    """Where an edge to or from ``t`` ends: its node (a cluster's anchor), or its box, or the
    drawn graph task or box it is inside of; with the cluster an anchor stands for."""
    at: TaskNode | None = t
    while at is not None:
        if id(at) in choice.drawn:
            cluster = f"cluster_t{id(at)}" if at.child is not None and at.child.tasks else ""
            return f"t{id(at)}", cluster
        box = choice.box_of.get(id(at))
        if box is not None:
            return box.ident, ""
        at = at.graph.parent
    return None


def _edge(
    producer: TaskNode, consumer: TaskNode, choice: _Choice, edges: dict[tuple[str, str], str]
) -> None:
    src, dst = _end(producer, choice), _end(consumer, choice)
    if src is None or dst is None or src[0] == dst[0]:
        return
    attrs = []
    if src[1]:
        attrs.append(f'ltail="{src[1]}"')
    if dst[1]:
        attrs.append(f'lhead="{dst[1]}"')
    edges.setdefault((src[0], dst[0]), f" [{', '.join(attrs)}]" if attrs else "")


def _emit(
    graph: Graph, indent: str, lines: list[str], choice: _Choice, edges: dict[tuple[str, str], str]
) -> None:
    for t in graph.tasks:
        for producer in t.producers:
            _edge(producer, t, choice, edges)
        if id(t) not in choice.drawn:
            continue
        colour = state_colour(t.state)
        ident = f"t{id(t)}"
        name = dot_text(t.name)
        if t.child is not None and t.child.tasks:  # the cluster is the graph task: drawn once
            lines.append(f'{indent}subgraph "cluster_{ident}" {{')
            lines.append(
                f'{indent}  label="{name} ({t.state})"; style=dashed; color="{colour}"; penwidth=2;'
            )
            lines.append(f'{indent}  "{ident}" [shape=point, style=invis, width=0, label=""];')
            _emit(t.child, indent + "  ", lines, choice, edges)
            lines.append(f"{indent}}}")
        else:
            lines.append(f'{indent}"{ident}" [label="{name}\\n{t.state}", fillcolor="{colour}"];')
    for group in choice.boxes.get(id(graph), []):
        label = "\\n".join(dot_text(line) for line in group_label(group))
        colour = state_colour(max(group.counts, key=lambda s: group.counts[s]))
        lines.append(
            f'{indent}"{group.ident}" [label="{label}", shape=box3d, style=filled, '
            f'fillcolor="{colour}"];'
        )


def workgraph_svg(snapshot: GraphSnapshot, max_tasks: int = PICTURE_MAX_TASKS) -> str | None:
    """The picture laid out by ``dot`` as SVG; ``None`` when it cannot be drawn here (no
    ``dot``, no ``graphviz`` package, or ``dot`` failed)."""
    if shutil.which("dot") is None:
        return None
    try:
        import graphviz
    except ImportError:
        return None
    try:
        source = graphviz.Source(workgraph_dot(snapshot, max_tasks))
        return str(source.pipe(format="svg").decode())
    except Exception:  # a notebook's repr must not raise
        return None


def workgraph_jupyter_html(snapshot: GraphSnapshot) -> str:
    """Jupyter's HTML: the state counts in their colours above the SVG picture (the DOT text
    without Graphviz); big runs are grouped like every picture."""
    counts = snapshot.counts
    swatches = ", ".join(
        f'<span style="background:{state_colour(state)}; padding:0 4px">{state.lower()}: {n}</span>'
        for state, n in counts.items()
    )
    head = f"<b>WorkGraph {escape(snapshot.name)}</b> ({escape(snapshot.state)}; {swatches})"
    svg = workgraph_svg(snapshot)
    body = svg if svg is not None else f"<pre>{escape(workgraph_dot(snapshot))}</pre>"
    return f"<div>{head}<br/>{body}</div>"

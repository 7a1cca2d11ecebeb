"""Mermaid flowchart text of a run: a provenance picture that needs no Graphviz.

Mermaid renders natively on GitHub and GitLab, in MkDocs/Sphinx plugins and in JupyterLab ≥ 4.1
(provenance.md §4), so this is the picture to paste into a README, an issue or a notebook.
It mirrors the DOT picture's conventions: data nodes are green stadiums labelled
``Int (12)`` with the value below, task runs light-red and graph runs orange rectangles with
their state, edges labelled ``TYPE`` and the socket. Data-provenance links (``INPUT_CALC``,
``CREATE``) are solid; the logical ones (``INPUT_WORK``, ``RETURN``, ``CALL_*``) dotted.

Bounded like every picture (:mod:`ferroflow.views.grouping`): at most about ``max_tasks``
task boxes, repeated tasks grouped, read with grouped SQL
(:mod:`ferroflow.views.provenance_plan`), and always fewer than Mermaid's default 500 edges
(``maxEdges``; a chart with more is not drawn at all). A grouped chart ends with a
``caption`` node saying what was grouped.
"""

from __future__ import annotations

from typing import TextIO

from ..model.vocabulary import Kind
from ..store import Link, Store, StoredNode
from ..views.escaping import mermaid_text
from ..views.grouping import PICTURE_MAX_TASKS, group_label
from ..views.palette import CALC_FILL, DATA_FILL, WORK_FILL
from ..views.provenance import EDGE_STYLES, SUBLABEL_CHARS, data_class_name
from ..views.provenance_plan import ProvenancePlan, plan_provenance

__all__ = ["MERMAID_MAX_EDGES", "write_mermaid"]

#: Mermaid's default ``maxEdges``: a chart with more is not rendered at all.
MERMAID_MAX_EDGES = 500

_CLASSES = (
    f"    classDef data fill:{DATA_FILL},stroke-width:0px\n"
    f"    classDef calc fill:{CALC_FILL},stroke-width:0px\n"
    f"    classDef work fill:{WORK_FILL},stroke-width:0px\n"
)


def _node_line(node: StoredNode) -> str:
    if node.kind == Kind.DATA:
        title = f"{data_class_name(node.type)} ({node.pk})"
        summary = node.value_summary(SUBLABEL_CHARS)
        body = (
            f"{mermaid_text(title)}<br/>{mermaid_text(summary)}" if summary else mermaid_text(title)
        )
        return f'    N{node.pk}(["{body}"]):::data\n'
    title = f"{node.label or node.type} ({node.pk})"
    lines = [title, f"State: {(node.state or 'unknown').lower()}"]
    if node.error and node.error.strip():  # as the DOT picture: a traceback's message line
        lines.append(f"Error: {node.error.strip().splitlines()[-1][:SUBLABEL_CHARS]}")
    body = "<br/>".join(mermaid_text(line) for line in lines)
    return f'    N{node.pk}["{body}"]:::{node.kind}\n'


def _edge_count(plan: ProvenancePlan) -> int:
    calls = sum(1 for group in plan.groups if group.parent in plan.nodes)
    return len(plan.links) + calls + len(plan.values)


def _plan(store: Store, run_pk: int, max_tasks: int) -> ProvenancePlan:
    """The run's bounded plan, made smaller until its edges fit Mermaid's limit."""
    root = store.load_node(run_pk)
    if root.kind != Kind.WORK or root.run_pk != root.pk:
        where = f" (it belongs to run {root.run_pk})" if root.run_pk is not None else ""
        raise ValueError(f"pk {run_pk} is a {root.kind} node, not a top-level graph run{where}")
    plan = plan_provenance(store, run_pk, 0, None, max_tasks)
    while _edge_count(plan) >= MERMAID_MAX_EDGES and max_tasks > 1:
        max_tasks //= 2
        plan = plan_provenance(store, run_pk, 0, None, max_tasks)
    return plan


def write_mermaid(
    store: Store, run_pk: int, fp: TextIO, max_tasks: int = PICTURE_MAX_TASKS
) -> dict[str, int]:
    """Write the run ``run_pk`` as a Mermaid ``flowchart TD`` to ``fp``; returns counts.

    Bounded like every picture (:mod:`ferroflow.views.grouping`), and with fewer than
    :data:`MERMAID_MAX_EDGES` edges: the bound is halved until the chart fits."""
    plan = _plan(store, run_pk, max_tasks)
    counts = {"nodes": 0, "links": 0, "groups": len(plan.groups) + len(plan.values)}
    fp.write("flowchart TD\n")
    fp.write(_CLASSES)
    for pk in sorted(plan.nodes):
        fp.write(_node_line(plan.nodes[pk]))
        counts["nodes"] += 1
    for group in plan.groups:
        kind = "work" if group.graph else "calc"
        body = "<br/>".join(mermaid_text(line) for line in group_label(group))
        fp.write(f'    {group.ident}[["{body}"]]:::{kind}\n')
    for box in plan.values:
        text = mermaid_text(f"… {box.count:,} more {box.direction}")
        fp.write(f'    {box.ident}(["{text}"]):::data\n')
    edges = sorted(plan.links, key=lambda link: (link.src, link.dst, link.type, link.label))
    room = MERMAID_MAX_EDGES - 1 - (_edge_count(plan) - len(edges))
    for link in edges[: max(0, room)]:
        fp.write(_edge_line(link))
        counts["links"] += 1
    for group in plan.groups:
        if group.parent in plan.nodes:
            kind = "CALL_WORK" if group.graph else "CALL_CALC"
            label = mermaid_text(f"{kind}\n× {group.total:,}")
            fp.write(f'    N{group.parent} -.->|"{label}"| {group.ident}\n')
    for box in plan.values:
        ends = (box.ident, f"N{box.process}")
        src, dst = ends if box.direction == "inputs" else ends[::-1]
        fp.write(f"    {src} -.- {dst}\n")
    note = plan.caption
    if len(edges) > room:
        note += f" {len(edges) - room:,} links not drawn (Mermaid draws at most 500)."
    if note:
        fp.write(f'    caption["{mermaid_text(note.strip())}"]\n')
    return counts


def _edge_line(link: Link) -> str:
    arrow = "-->" if EDGE_STYLES[link.type] == "solid" else "-.->"  # no dashed kind
    label = mermaid_text(f"{link.type}\n{link.label}")
    return f'    N{link.src} {arrow}|"{label}"| N{link.dst}\n'

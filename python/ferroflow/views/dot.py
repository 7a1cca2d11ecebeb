"""The picture of a workflow in memory as Graphviz draws it: DOT text, SVG and the Jupyter HTML.

Tasks are filled by state, nested graphs are clusters outlined by state, and the title counts
tasks per state (``fan_out (FINISHED)`` / ``finished: 3``). Edges join a task to the tasks whose
values it used. Rendering needs the optional ``graphviz`` package and Graphviz's ``dot``; without
them, or above :data:`DRAW_LIMIT` tasks (where ``dot`` is slow), Jupyter shows the DOT text or a
summary instead, and the HTML page (:mod:`.html`) draws any size.
"""

from __future__ import annotations

import shutil
from html import escape

from ..model.graph import Graph
from .counts import counts_text
from .escaping import dot_text
from .palette import state_colour
from .snapshot import GraphSnapshot

__all__ = ["DRAW_LIMIT", "workgraph_dot", "workgraph_jupyter_html", "workgraph_svg"]

#: Above this many tasks Jupyter gets a summary, not a ``dot`` layout.
DRAW_LIMIT = 1000


def workgraph_dot(snapshot: GraphSnapshot) -> str:
    """The workflow's tasks and data links as DOT text (see the module docstring)."""
    name = dot_text(snapshot.name)  # names are the user's: escaped wherever they go
    title = f"{name} ({snapshot.state})\\n{dot_text(counts_text(snapshot.counts))}"
    lines = [
        f'digraph "{name}" {{',
        '  rankdir=LR; node [shape=box, style="rounded,filled", fontname=Helvetica];',
        f'  label="{title}"; labelloc=t; fontname=Helvetica;',
    ]
    _emit(snapshot.graph, "  ", lines)
    lines.append("}")
    return "\n".join(lines)


def _emit(graph: Graph, indent: str, lines: list[str]) -> None:
    for t in graph.tasks:
        colour = state_colour(t.state)
        ident = f"t{id(t)}"
        name = dot_text(t.name)
        label = f"{name}\\n{t.state}"
        if t.child is not None and t.child.tasks:
            lines.append(f'{indent}subgraph "cluster_{ident}" {{')
            lines.append(
                f'{indent}  label="{name} ({t.state})"; style=dashed; color="{colour}"; penwidth=2;'
            )
            _emit(t.child, indent + "  ", lines)
            lines.append(f"{indent}}}")
        lines.append(f'{indent}"{ident}" [label="{label}", fillcolor="{colour}"];')
        for producer in t.producers:
            lines.append(f'{indent}"t{id(producer)}" -> "{ident}";')


def workgraph_svg(snapshot: GraphSnapshot) -> str | None:
    """The picture laid out by ``dot`` as SVG; ``None`` when it cannot be drawn here (no
    ``dot``, no ``graphviz`` package, over :data:`DRAW_LIMIT` tasks, or ``dot`` failed)."""
    if shutil.which("dot") is None or len(snapshot.tasks) > DRAW_LIMIT:
        return None
    try:
        import graphviz
    except ImportError:
        return None
    try:
        return str(graphviz.Source(workgraph_dot(snapshot)).pipe(format="svg").decode())
    except Exception:  # a notebook's repr must not raise
        return None


def workgraph_jupyter_html(snapshot: GraphSnapshot) -> str:
    """Jupyter's HTML: the state counts in their colours above the SVG picture (the DOT text
    without Graphviz, a summary for big runs)."""
    counts = snapshot.counts
    swatches = ", ".join(
        f'<span style="background:{state_colour(state)}; padding:0 4px">{state.lower()}: {n}</span>'
        for state, n in counts.items()
    )
    head = f"<b>WorkGraph {escape(snapshot.name)}</b> ({escape(snapshot.state)}; {swatches})"
    total = sum(counts.values())
    if total > DRAW_LIMIT:
        body = (
            f"<i>{total} tasks: too many to draw here; "
            f"<code>wg.to_html('graph.html')</code> writes an interactive page.</i>"
        )
    else:
        svg = workgraph_svg(snapshot)
        body = svg if svg is not None else f"<pre>{escape(workgraph_dot(snapshot))}</pre>"
    return f"<div>{head}<br/>{body}</div>"

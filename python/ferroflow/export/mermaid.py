"""Mermaid flowchart text of a run: a provenance picture that needs no Graphviz.

Mermaid renders natively on GitHub and GitLab, in MkDocs/Sphinx plugins and in JupyterLab ≥ 4.1
(provenance.md §4), so this is the picture to paste into a README, an issue or a notebook.
It mirrors the DOT picture's conventions: data nodes are green stadiums labelled
``Int (12)`` with the value below, task runs light-red and graph runs orange rectangles with
their state, edges labelled ``TYPE`` and the socket. Data-provenance links (``INPUT_CALC``,
``CREATE``) are solid; the logical ones (``INPUT_WORK``, ``RETURN``, ``CALL_*``) dotted.

Written line by line from a :class:`~.selection.RunSelection` stream.
"""

from __future__ import annotations

from typing import TextIO

from ..store import Store
from ..views.escaping import mermaid_text
from ..views.palette import CALC_FILL, DATA_FILL, WORK_FILL
from ..views.provenance import EDGE_STYLES, SUBLABEL_CHARS, data_class_name
from .selection import NodeRow, RunSelection

__all__ = ["write_mermaid"]

_CLASSES = (
    f"    classDef data fill:{DATA_FILL},stroke-width:0px\n"
    f"    classDef calc fill:{CALC_FILL},stroke-width:0px\n"
    f"    classDef work fill:{WORK_FILL},stroke-width:0px\n"
)


def _node_line(sel: RunSelection, node: NodeRow) -> str:
    if node.kind == "data":
        title = f"{data_class_name(node.type)} ({node.pk})"
        summary = sel.summary(node, SUBLABEL_CHARS)
        body = (
            f"{mermaid_text(title)}<br/>{mermaid_text(summary)}" if summary else mermaid_text(title)
        )
        return f'    N{node.pk}(["{body}"]):::data\n'
    title = f"{node.label or node.type} ({node.pk})"
    state = f"State: {(node.state or 'unknown').lower()}"
    return f'    N{node.pk}["{mermaid_text(title)}<br/>{mermaid_text(state)}"]:::{node.kind}\n'


def write_mermaid(store: Store, run_pk: int, fp: TextIO) -> dict[str, int]:
    """Write the run ``run_pk`` as a Mermaid ``flowchart TD`` to ``fp``; returns counts."""
    counts = {"nodes": 0, "links": 0}
    with RunSelection(store, run_pk) as sel:
        fp.write("flowchart TD\n")
        fp.write(_CLASSES)
        for node in sel.nodes():
            fp.write(_node_line(sel, node))
            counts["nodes"] += 1
        for link in sel.links():
            arrow = "-->" if EDGE_STYLES[link.type] == "solid" else "-.->"  # no dashed kind
            label = mermaid_text(f"{link.type}\n{link.label}")
            fp.write(f'    N{link.src} {arrow}|"{label}"| N{link.dst}\n')
            counts["links"] += 1
    return counts

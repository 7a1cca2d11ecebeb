"""Provenance pictures in AiiDA's visual language, as a ``graphviz.Digraph``.

``build_provenance_graph(store, root_pk)`` draws a run the way ``verdi node graph generate`` and
aiida-workgraph's ``generate_provenance_graph`` do, in AiiDA's colours (:mod:`.palette`), so
AiiDA users read it at a glance:

* data nodes: filled green ellipses, labelled ``Int (12)`` with the value below;
* task runs (``calc``, AiiDA's CalcFunctionNode): light red rectangles;
* graph runs (``work``, AiiDA's WorkflowNode): orange rectangles;
  both labelled ``<label> (<pk>)`` with ``State: <state>`` below;
* edges labelled ``TYPE\\nlabel``: ``INPUT_CALC``/``CREATE`` solid, ``INPUT_WORK``/``RETURN``
  dashed, ``CALL_CALC``/``CALL_WORK`` dotted.

What is drawn: the root, the tasks it called (through ``CALL_*`` links, ``descendant_depth``
levels), the inputs and outputs of every process drawn, and upstream history: the task runs that
created drawn data which has no creator in the picture yet, with their inputs, for
``ancestor_depth`` generations. ``None`` means no limit for either, ``0`` draws none. Whatever
the depths, the picture is bounded (:mod:`.grouping`): at most about ``max_tasks`` task boxes,
repeated tasks of one graph run folded into a ``square × 99,999`` box (a 3-D box called by its
graph run), failed tasks and the tasks behind the outputs always drawn, values beyond 8 per task
counted in a dashed ``… more outputs`` ellipse, and a caption saying what was grouped. The
choice is made with grouped SQL by :mod:`.provenance_plan`, so a million-task run draws in
seconds.

Only the Python ``graphviz`` package is needed to *build* the graph, and it is imported lazily
(``pip install 'ferroflow[viz]'``). ``.source`` works without the ``dot`` binary; rendering
(``.pipe()``, ``.render()``, Jupyter display) needs it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import NotRunError
from ..model.vocabulary import Kind
from ..model.vocabulary import Link as LinkType
from ..store import Link, Store, StoredNode
from .escaping import dot_text
from .grouping import PICTURE_MAX_TASKS, caption_lines, group_label
from .palette import CALC_FILL, DATA_FILL, LINE, WORK_FILL
from .provenance_plan import ProvenancePlan, plan_provenance
from .snapshot import GraphSnapshot

if TYPE_CHECKING:
    import graphviz  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "EDGE_STYLES",
    "SUBLABEL_CHARS",
    "build_provenance_graph",
    "data_class_name",
    "draw",
    "draw_plan",
    "import_graphviz",
    "workgraph_provenance",
]

DATA_STYLE = {"shape": "ellipse", "style": "filled", "fillcolor": DATA_FILL, "penwidth": "0"}
CALC_STYLE = {"shape": "rectangle", "style": "filled", "fillcolor": CALC_FILL, "penwidth": "0"}
WORK_STYLE = {"shape": "rectangle", "style": "filled", "fillcolor": WORK_FILL, "penwidth": "0"}
#: How each link type is drawn: data provenance solid, a graph's own data dashed, calls dotted.
EDGE_STYLES = {
    LinkType.INPUT_CALC: "solid",
    LinkType.CREATE: "solid",
    LinkType.INPUT_WORK: "dashed",
    LinkType.RETURN: "dashed",
    LinkType.CALL_CALC: "dotted",
    LinkType.CALL_WORK: "dotted",
}

_DATA_CLASSES = {
    "int": "Int",
    "float": "Float",
    "str": "Str",
    "bool": "Bool",
    "dict": "Dict",
    "list": "List",
    "tuple": "Tuple",
    "set": "Set",
    "frozenset": "FrozenSet",
    "NoneType": "None",
    "bytes": "Bytes",
    "numpy.ndarray": "Array",
}
#: Length of a value's summary (and of an error's last line) under a node's label.
SUBLABEL_CHARS = 40


def import_graphviz() -> Any:
    """The ``graphviz`` module, or an :class:`ImportError` that says how to install it."""
    try:
        import graphviz
    except ImportError as exc:
        raise ImportError(
            "drawing provenance graphs needs the 'graphviz' Python package: "
            "pip install 'ferroflow[viz]' (rendering to SVG/PNG also needs Graphviz's 'dot')"
        ) from exc
    return graphviz


def data_class_name(type_name: str) -> str:
    """AiiDA-like class name of a value type: ``int`` -> ``Int``, ``a.b.Point`` -> ``Point``."""
    return _DATA_CLASSES.get(type_name) or type_name.rsplit(".", 1)[-1]


def _node_attrs(node: StoredNode) -> dict[str, str]:
    if node.kind == Kind.DATA:
        name = data_class_name(node.type)
        summary = node.value_summary(SUBLABEL_CHARS)
        sublabel = f"value: {summary}" if name in ("Int", "Float") else summary
        style = DATA_STYLE
    else:
        name = node.label or node.type
        state = (node.state or "unknown").lower()
        sublabel = f"State: {state}"
        if node.error and node.error.strip():
            last_line = node.error.strip().splitlines()[-1]  # a traceback's message line
            sublabel += f"\nError: {last_line[:SUBLABEL_CHARS]}"
        style = CALC_STYLE if node.kind == Kind.CALC else WORK_STYLE
    lines = [f"{name} ({node.pk})"]
    if sublabel:
        lines.extend(sublabel.split("\n"))
    return {**style, "label": "\\n".join(dot_text(line) for line in lines)}


def build_provenance_graph(
    store: Store,
    root_pk: int,
    ancestor_depth: int | None = None,
    descendant_depth: int | None = None,
    max_tasks: int = PICTURE_MAX_TASKS,
) -> graphviz.Digraph:
    """The provenance graph around ``root_pk`` (normally a graph run), see the module
    docstring, at most about ``max_tasks`` task boxes (:mod:`.grouping`).

    Raises :class:`~ferroflow.store.NodeNotFoundError` for an unknown ``root_pk`` and
    :class:`ImportError` if the ``graphviz`` package is missing.
    """
    gv = import_graphviz()
    plan = plan_provenance(store, root_pk, ancestor_depth, descendant_depth, max_tasks)
    graph = gv.Digraph(name=f"provenance_{root_pk}")
    draw_plan(graph, plan)
    return graph


def draw_plan(graph: Any, plan: ProvenancePlan) -> None:
    """Draw a bounded plan: its nodes and links (:func:`draw`), its task boxes (a 3-D box
    called by its graph run, dotted), its value boxes and its caption."""
    nohtml = import_graphviz().nohtml
    draw(graph, plan.nodes, plan.links)
    for group in plan.groups:
        style = WORK_STYLE if group.graph else CALC_STYLE
        label = "\\n".join(dot_text(line) for line in group_label(group))
        graph.node(
            group.ident, **{**style, "shape": "box3d", "penwidth": "1", "label": nohtml(label)}
        )
        if group.parent in plan.nodes:
            kind = "CALL_WORK" if group.graph else "CALL_CALC"
            graph.edge(
                f"N{group.parent}",
                group.ident,
                label=nohtml(f"{kind}\\n× {group.total:,}"),
                style=EDGE_STYLES[kind],
                color=LINE,
            )
    for box in plan.values:
        label = f"… {box.count:,} more {box.direction}"
        graph.node(box.ident, **{**DATA_STYLE, "style": "filled,dashed", "label": nohtml(label)})
        ends = (box.ident, f"N{box.process}")
        src, dst = ends if box.direction == "inputs" else ends[::-1]
        graph.edge(src, dst, style="dashed", color=LINE)
    if plan.caption:
        text = "\\n".join(dot_text(line) for line in caption_lines(plan.caption))
        graph.attr(label=nohtml(text), labelloc="b", fontsize="10")


def draw(graph: Any, nodes: dict[int, StoredNode], links: Iterable[Link]) -> None:
    """Add ``nodes`` (AiiDA shapes) and the ``links`` between them to a graphviz graph, in a
    stable order so the same provenance always gives the same DOT text. Labels are escaped
    (:func:`.escaping.dot_text`) and never HTML-like, whatever a stored name holds."""
    nohtml = import_graphviz().nohtml
    for pk in sorted(nodes):
        attrs = _node_attrs(nodes[pk])
        graph.node(f"N{pk}", **{**attrs, "label": nohtml(attrs["label"])})
    for link in sorted(links, key=lambda link: (link.src, link.dst, link.type, link.label)):
        if link.src in nodes and link.dst in nodes:
            graph.edge(
                f"N{link.src}",
                f"N{link.dst}",
                label=nohtml(f"{link.type}\\n{dot_text(link.label)}"),
                style=EDGE_STYLES[link.type],
                color=LINE,
            )


def workgraph_provenance(
    snapshot: GraphSnapshot,
    ancestor_depth: int | None = None,
    descendant_depth: int | None = None,
    max_tasks: int = PICTURE_MAX_TASKS,
) -> graphviz.Digraph:
    """The provenance picture of a workflow's stored run; :class:`NotRunError` when nothing was
    stored (not run yet, or run without provenance)."""
    if snapshot.pk is None or snapshot.store is None:
        raise NotRunError(
            f"WorkGraph '{snapshot.name}' has no provenance: it has not run yet (call wg.run()) "
            f"or ran with provenance=False"
        )
    return build_provenance_graph(
        snapshot.store, snapshot.pk, ancestor_depth, descendant_depth, max_tasks
    )

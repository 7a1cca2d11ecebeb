"""DOT / SVG / PNG pictures of stored provenance, in AiiDA's visual language.

Two entry points, both returning a ``graphviz.Digraph`` built by (or styled like)
:func:`ferroflow.views.provenance.build_provenance_graph`:

* :func:`run_graph` — a whole top-level run, nothing upstream of it (``export --format dot``);
* :func:`node_graph` — the neighbourhood of any node (``ferroflow graph PK``). For a process
  it is ``build_provenance_graph`` with the depth limits (what the process did, and upstream
  creators for ``ancestor_depth`` generations); for a data node, which has no calls to follow,
  it is the data-provenance DAG (``INPUT_CALC``/``CREATE``) around it: ``ancestor_depth`` link
  hops back (what it was computed from) and ``descendant_depth`` hops forward (what was
  computed from it). The focus node gets a bold border.

Both are bounded (:mod:`ferroflow.views.grouping`): at most about ``max_tasks`` task boxes,
repeated tasks of one graph run folded into one box, failed tasks and the tasks behind the
run's outputs always drawn, read with grouped SQL (:mod:`ferroflow.views.provenance_plan`), so
a million-task run draws in seconds.

:func:`render` turns a graph into SVG or PNG bytes with Graphviz's ``dot`` and says how to get
it when it is missing. DOT text needs only the Python ``graphviz`` package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..store import Store
from ..views.grouping import PICTURE_MAX_TASKS
from ..views.palette import LINE
from ..views.provenance import build_provenance_graph, draw_plan, import_graphviz
from ..views.provenance_plan import plan_data

if TYPE_CHECKING:
    import graphviz  # type: ignore[import-untyped, unused-ignore]

__all__ = ["RENDER_FORMATS", "node_graph", "render", "run_graph"]

#: Formats :func:`render` produces with ``dot``.
RENDER_FORMATS = ("svg", "png")


def run_graph(store: Store, run_pk: int, max_tasks: int = PICTURE_MAX_TASKS) -> graphviz.Digraph:
    """The picture of the top-level run ``run_pk``: its processes and their inputs/outputs,
    repeated tasks grouped beyond about ``max_tasks`` boxes (:mod:`ferroflow.views.grouping`)."""
    root = store.load_node(run_pk)
    if root.kind != "work" or root.run_pk != root.pk:
        raise ValueError(f"pk {run_pk} is a {root.kind} node, not a top-level graph run")
    return build_provenance_graph(store, run_pk, ancestor_depth=0, max_tasks=max_tasks)


def node_graph(
    store: Store,
    pk: int,
    ancestor_depth: int | None = None,
    descendant_depth: int | None = None,
    max_tasks: int = PICTURE_MAX_TASKS,
) -> graphviz.Digraph:
    """The provenance around node ``pk`` (see the module docstring); ``None`` = no limit to
    the depths, the picture is bounded by ``max_tasks`` anyway."""
    focus = store.load_node(pk)
    if focus.is_process:
        graph = build_provenance_graph(store, pk, ancestor_depth, descendant_depth, max_tasks)
    else:
        graph = import_graphviz().Digraph(name=f"provenance_{focus.pk}")
        draw_plan(graph, plan_data(store, pk, ancestor_depth, descendant_depth, max_tasks))
    graph.node(f"N{focus.pk}", penwidth="3", color=LINE)  # DOT merges repeated attributes
    return graph


def render(graph: graphviz.Digraph, fmt: str) -> bytes:
    """``graph`` laid out by ``dot`` as ``svg`` or ``png`` bytes."""
    if fmt not in RENDER_FORMATS:
        raise ValueError(f"cannot render {fmt!r}; expected one of {RENDER_FORMATS}")
    gv = import_graphviz()
    try:
        return bytes(graph.pipe(format=fmt))
    except gv.ExecutableNotFound as exc:
        raise RuntimeError(
            f"rendering {fmt.upper()} needs Graphviz's 'dot' program on PATH (e.g. "
            "`apt-get install graphviz`); DOT text (format 'dot') works without it"
        ) from exc

"""``WorkGraph``: a built graph you can run, inspect and draw."""

from __future__ import annotations

import html
import shutil
from typing import TYPE_CHECKING, Any

from .engine import Execution
from .errors import FerroflowError, NotRunError, RunTimeoutError
from .gc_tuning import relaxed_gc
from .graph import Graph, TaskNode
from .pools import lease_pool
from .views import ResultSocket, TaskView

if TYPE_CHECKING:
    import graphviz

    from .profile import Profile
    from .store import Store
    from .task import GraphHandle

__all__ = ["WorkGraph"]

_STATE_COLOURS = {
    "PLANNED": "#dddddd",
    "RUNNING": "#f2c46d",
    "FINISHED": "#8cd499",
    "FAILED": "#de707f",
    "SKIPPED": "#bbbbbb",
    "CANCELLED": "#999999",
}


class WorkGraph:
    """The graph a ``@task.graph`` body built. ``run()`` executes it once."""

    def __init__(self, graph: Graph, handle: GraphHandle) -> None:
        self._graph = graph
        self._handle = handle
        self._execution: Execution | None = None
        self._store: Store | None = None
        self.max_number_jobs = handle.max_number_jobs

    @property
    def name(self) -> str:
        return self._graph.name

    @property
    def tasks(self) -> TaskView:
        return TaskView(self._graph.tasks_by_name)

    @property
    def inputs(self) -> dict[str, Any]:
        return dict(self._graph.inputs)

    @property
    def outputs(self) -> ResultSocket:
        return ResultSocket(self.name, (), lambda: self._execution and self._execution.outputs)

    @property
    def state(self) -> str:
        return self._execution.state if self._execution is not None else "PLANNED"

    @property
    def pk(self) -> int | None:
        return self._execution.pk if self._execution is not None else None

    @property
    def uuid(self) -> str | None:
        return self._execution.uuid if self._execution is not None else None

    def all_tasks(self) -> list[TaskNode]:
        """Every task of the run, nested graph tasks' children included, in run order."""
        if self._execution is None:
            return list(self._graph.tasks)
        return [self._execution.tasks[i] for i in sorted(self._execution.tasks)]

    def run(
        self,
        *,
        profile: Profile | None = None,
        max_workers: int | None = None,
        timeout: float | None = None,
        raise_on_error: bool = True,
        provenance: bool = True,
        max_number_jobs: int | None = None,
    ) -> dict[str, Any]:
        """Execute the graph on a pool of worker threads and record its provenance.

        Returns the outputs as a nested dict of data nodes. If tasks fail, their dependents are
        skipped, independent tasks finish and are stored, and then :class:`WorkflowFailedError`
        is raised naming every failed task (unless ``raise_on_error=False``: then the outputs
        that were produced are returned, as WorkGraph does, and ``wg.outputs`` holds them).
        Ctrl-C or ``timeout`` cancel the run; finished results are stored either way.
        ``provenance=False`` records nothing (data nodes keep ``pk=None``).
        ``max_number_jobs`` (default: ``wg.max_number_jobs``, from ``@task.graph``) caps how
        many of this graph's tasks run at once; nested graphs use their own decorator's cap.
        """
        if self._execution is not None:
            raise FerroflowError(
                f"WorkGraph '{self.name}' has already run (pk {self.pk}); build a new one with "
                f"{self._handle.name}.build(...)"
            )
        from .profile import get_current_profile

        store: Any
        if provenance:
            store = (profile or get_current_profile()).store
            self._store = store
        else:
            from .store.null import NullStore

            store = NullStore()
        cap = max_number_jobs if max_number_jobs is not None else self.max_number_jobs
        if cap is not None and cap < 1:
            raise ValueError(f"max_number_jobs must be at least 1, got {cap}")
        self._graph.max_number_jobs = cap
        execution = Execution(self._graph, self._handle.process_type, store)
        self._execution = execution
        with lease_pool(max_workers) as pool, relaxed_gc():
            try:
                execution.execute(pool, timeout)
            except TimeoutError as exc:
                raise RunTimeoutError(
                    f"WorkGraph '{self.name}' was cancelled after its timeout of {timeout} s; "
                    f"finished results are stored (run pk {self.pk})"
                ) from exc
        if raise_on_error:
            execution.raise_failures()
        return execution.outputs or {}

    # -- pictures ---------------------------------------------------------------------------
    def generate_provenance_graph(
        self, ancestor_depth: int | None = None, descendant_depth: int | None = None
    ) -> graphviz.Digraph:
        """AiiDA-style provenance picture of this run (a ``graphviz.Digraph``)."""
        if self._execution is None or self._store is None:
            raise NotRunError(
                f"WorkGraph '{self.name}' has no provenance: it has not run yet (call wg.run()) "
                f"or ran with provenance=False"
            )
        from .provenance_graph import build_provenance_graph

        return build_provenance_graph(
            self._store,
            self._execution.pk,
            ancestor_depth=ancestor_depth,
            descendant_depth=descendant_depth,
        )

    def to_dot(self) -> str:
        """The workflow (tasks and data links) as Graphviz DOT text, states shown after a run."""
        lines = [
            f'digraph "{self.name}" {{',
            '  rankdir=LR; node [shape=box, style="rounded,filled", fontname=Helvetica];',
        ]

        def emit(graph: Graph, indent: str) -> None:
            for t in graph.tasks:
                colour = _STATE_COLOURS.get(t.state, "#dddddd")
                ident = f"t{id(t)}"
                label = f"{t.name}\\n{t.state}"
                if t.child is not None and t.child.tasks:
                    lines.append(f'{indent}subgraph "cluster_{ident}" {{')
                    lines.append(f'{indent}  label="{t.name} ({t.state})"; style=dashed;')
                    emit(t.child, indent + "  ")
                    lines.append(f"{indent}}}")
                lines.append(f'{indent}"{ident}" [label="{label}", fillcolor="{colour}"];')
                for producer in t.producers:
                    lines.append(f'{indent}"t{id(producer)}" -> "{ident}";')

        emit(self._graph, "  ")
        lines.append("}")
        return "\n".join(lines)

    def _svg(self) -> str | None:
        if shutil.which("dot") is None:
            return None
        try:
            import graphviz
        except ImportError:
            return None
        try:
            return str(graphviz.Source(self.to_dot()).pipe(format="svg").decode())
        except Exception:
            return None

    def _repr_svg_(self) -> str | None:
        return self._svg()

    def _repr_html_(self) -> str:
        svg = self._svg()
        counts: dict[str, int] = {}
        for t in self.all_tasks():
            counts[t.state] = counts.get(t.state, 0) + 1
        summary = ", ".join(f"{k.lower()}: {v}" for k, v in sorted(counts.items()))
        head = f"<b>WorkGraph {html.escape(self.name)}</b> ({html.escape(self.state)}; {summary})"
        body = svg if svg is not None else f"<pre>{html.escape(self.to_dot())}</pre>"
        return f"<div>{head}<br/>{body}</div>"

    def __repr__(self) -> str:
        return f"<WorkGraph {self.name} state={self.state} tasks={len(self._graph.tasks)}>"

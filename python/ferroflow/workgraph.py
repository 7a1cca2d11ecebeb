"""``WorkGraph``: a built graph you can run, inspect and draw."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from .construction import EXPLICIT_PREFIX, ExplicitConstruction, GraphInputs, GraphOutputs
from .context import Context
from .engine.cancel_watch import watching
from .engine.execution import Execution
from .engine.gc_tuning import relaxed_gc
from .engine.pools import lease_pool
from .engine.report import raise_failures
from .engine.run_capture import RunCapture, capture_wanted
from .errors import FerroflowError, NotRunError, RunCancelledError, RunTimeoutError
from .executors import executors_for
from .explicit_reload import load_explicit
from .model.binding import bind_inputs
from .model.body import run_body
from .model.graph import Graph, TaskNode
from .model.names import name_problem
from .model.spec import Namespace
from .model.taskdef import GraphDef
from .model.vocabulary import State
from .profile import get_current_profile
from .progress import show_progress
from .restart import check_not_running, fill_cache_keys, find_graph, stored_inputs
from .store import StoredNode
from .store.recipes import recipe_row, recipe_text
from .store.recorder import Recorder, StoreRecorder
from .views import GraphSnapshot, GraphTask, TaskView
from .views.dot import workgraph_dot, workgraph_jupyter_html, workgraph_svg
from .views.grouping import PICTURE_MAX_TASKS
from .views.live_page import workgraph_html
from .views.page_data import MAX_TASKS
from .views.provenance import workgraph_provenance

if TYPE_CHECKING:
    import graphviz

    from .profile import Profile
    from .store import Store, StoredNode

__all__ = ["WorkGraph"]


class WorkGraph(ExplicitConstruction):
    """A graph of tasks that ``run()`` executes once: built by a ``@task.graph`` body
    (``G.build(...)``), or explicitly, as WorkGraph users write it::

        wg = WorkGraph("add_multiply")
        add1 = wg.add_task(add, x=2, y=3)
        wg.add_task(multiply, x=add1.outputs.result, y=4)
        wg.run()

    (``with WorkGraph("name") as wg:`` makes task calls inside the block add to it).
    """

    def __init__(
        self,
        name: str = "WorkGraph",
        *,
        inputs: Namespace | None = None,
        outputs: Namespace | Mapping[str, Any] | None = None,
        max_number_jobs: int | None = None,
    ) -> None:
        problem = name_problem(name)
        if problem is not None:
            raise ValueError(f"a WorkGraph name {problem}")
        if inputs is not None and not isinstance(inputs, Namespace):
            raise TypeError(
                f"WorkGraph '{name}': inputs must be a namespace(...) of the graph's inputs, "
                f"got {inputs!r}"
            )
        self._setup(Graph(name), None, max_number_jobs)
        self._input_spec = inputs
        if isinstance(outputs, Namespace):
            self._output_spec = outputs  # declared; ``wg.outputs.x = socket`` fills them
        elif outputs is not None:
            self.outputs = outputs

    @classmethod
    def _built(cls, graph: Graph, handle: GraphDef) -> WorkGraph:
        """The WorkGraph of a ``@task.graph`` body that built ``graph``."""
        wg = cls.__new__(cls)
        wg._setup(graph, handle, handle.max_number_jobs)
        return wg

    def _setup(self, graph: Graph, handle: GraphDef | None, max_number_jobs: int | None) -> None:
        self._graph = graph
        #: the @task.graph it was built from; None for an explicit graph
        self._handle = handle
        self._context: Any = None
        self._input_spec = None
        self._output_spec = None
        self._task_def = None
        self._input_sockets = {}
        self._added_inputs = {}
        self._pending_inputs = {}
        self._ctx = Context(f"WorkGraph '{graph.name}' ctx")
        self._execution: Execution | None = None
        self._store: Store | None = None
        self._profile: Profile | None = None
        #: pk of the stored run this WorkGraph restarts (``WorkGraph.load``), else None
        self.restart_of: int | None = None
        #: (module now, module then) of a script's run restarted from a module (``load``)
        self.restart_alias: tuple[str, str] | None = None
        #: at most this many of the graph's tasks run at once (``run(max_number_jobs=)`` wins)
        self.max_number_jobs = max_number_jobs

    @classmethod
    def load(
        cls,
        run: int | str | StoredNode,
        *,
        profile: Profile | None = None,
        graph: GraphDef | None = None,
    ) -> WorkGraph:
        """Rebuild a stored run (pk, uuid or node) for a restart: its graph function (imported
        by name, or ``graph``) built with the run's stored inputs. ``run()`` on the result
        reuses the stored results of every task run that finished (by cache key) and runs the
        rest: failed, skipped, cancelled, interrupted (even by SIGKILL), or changed since (the
        function's source or inputs). See :mod:`ferroflow.restart`."""

        profile = profile or get_current_profile()
        store = profile.store
        store.reap_dead_runs()  # a run whose process died since the store opened: KILLED
        node = store.load_node(run.pk if isinstance(run, StoredNode) else run)
        if node.kind != "work" or node.run_pk != node.pk:
            raise FerroflowError(
                f"node pk {node.pk} is not a graph run (a {node.kind} node"
                f"{'' if node.kind == 'data' else ' inside run ' + str(node.run_pk)}); "
                f"pass the pk of a top-level run (ferroflow runs list)"
            )
        check_not_running(store, node.pk)
        if graph is None and node.type.startswith(EXPLICIT_PREFIX):
            explicit = cls(node.label or node.type[len(EXPLICIT_PREFIX) :])
            explicit.max_number_jobs = load_explicit(explicit, store, node)
            explicit.restart_of = node.pk
            explicit._profile = profile
            return explicit
        if graph is not None:
            handle = graph
        else:
            handle = find_graph(node.type, imported=store.imported(node.pk))
        wg = build(handle, **stored_inputs(store, node, handle))
        wg.restart_of = node.pk
        # A script's run stored its functions as __main__.*; restarted from elsewhere with
        # graph=module.G they are module.*: the restart looks their old keys up too.
        old_module, _, _ = node.type.rpartition(".")
        new_module = handle.func.__module__
        if old_module == "__main__" and new_module != "__main__":
            wg.restart_alias = (new_module, old_module)
        wg._profile = profile
        return wg

    def restart(self, **run_options: Any) -> WorkGraph:
        """Run this graph again in the same profile, reusing every task run of this one that
        finished; returns the new, finished WorkGraph (``run_options`` as for :meth:`run`).
        For a run that failed, was cancelled, or whose process was killed (then use
        ``WorkGraph.load(pk)`` in a new process).

        On a graph from ``WorkGraph.load`` that has not run, as in WorkGraph's "continue a
        finished workgraph": it already is the restart of the loaded run, so this returns it
        unchanged, to be edited and then ``run()``."""
        if self._execution is None and self.restart_of is not None:
            if run_options:
                self.run(**run_options)
            return self
        if self._execution is None:
            raise NotRunError(f"WorkGraph '{self.name}' has not run: there is nothing to restart")
        if self._store is None:
            raise NotRunError(
                f"WorkGraph '{self.name}' ran with provenance=False: nothing was stored to "
                f"restart from"
            )
        # an explicit graph is rebuilt from its stored recipe (graph=None)
        new = WorkGraph.load(self._execution.pk, profile=self._profile, graph=self._handle)
        new.run(**run_options)
        return new

    @property
    def cached_tasks(self) -> list[str]:
        """Paths of the tasks whose stored results were reused (cache hits) in this run."""
        if self._execution is None:
            return []
        return [t.path for t in self._execution.cache.hits]

    @property
    def name(self) -> str:
        return self._graph.name

    @name.setter
    def name(self, name: str) -> None:
        """Rename the graph before it runs (its run is stored under the new name)."""
        self._refuse_after_run("be renamed")
        problem = name_problem(name)
        if problem is not None:
            raise ValueError(f"a WorkGraph name {problem}")
        self._graph.rename(name)

    @property
    def tasks(self) -> TaskView:
        """The top-level tasks: ``wg.tasks["add"]``, ``wg.tasks.add``, ``wg.tasks[-1]``."""
        return TaskView(self._graph.tasks_by_name, self._process_node)

    def _process_node(self, pk: int) -> StoredNode | None:
        """A task's stored process node; None when this run stored nothing."""
        if self._store is None or self.pk is None:
            return None
        return self._store.load_node(pk)

    @property
    def inputs(self) -> GraphInputs:
        """The graph's inputs: ``wg.inputs.x`` (a data node, or before the run of an explicit
        graph a socket that tasks can take)."""
        return GraphInputs(self)

    @property
    def outputs(self) -> GraphOutputs:
        """The graph's outputs: ``wg.outputs.result.value`` after the run; for an explicit
        graph ``wg.outputs.sum = task.outputs.result`` declares one before it."""
        return GraphOutputs(
            self, lambda: self._execution.outputs if self._execution is not None else None
        )

    @outputs.setter
    def outputs(self, value: Mapping[str, Any]) -> None:
        self._set_outputs(value)

    @property
    def state(self) -> str:
        return self._execution.state if self._execution is not None else State.PLANNED

    @property
    def pk(self) -> int | None:
        """The stored run's pk; None before a run and for ``run(provenance=False)`` (nothing
        was stored: a number would name some other node of the store)."""
        execution = self._execution
        return execution.pk if execution is not None and execution.recording else None

    @property
    def uuid(self) -> str | None:
        return self._execution.uuid if self._execution is not None else None

    def all_tasks(self) -> list[GraphTask]:
        """Every task of the run, nested graph tasks' children included, in run order."""
        return [GraphTask(node, self._process_node) for node in self._task_nodes()]

    def _task_nodes(self) -> list[TaskNode]:
        if self._execution is None:
            return list(self._graph.tasks)
        return list(self._execution.tasks)  # (by core id: run order)

    def run(
        self,
        *,
        profile: Profile | None = None,
        max_workers: int | None = None,
        timeout: float | None = None,
        raise_on_error: bool = True,
        provenance: bool = True,
        max_number_jobs: int | None = None,
        progress: bool | None = None,
        executor: Any = None,
        cache: bool = False,
        inputs: Mapping[str, Any] | None = None,
        capture: bool | None = None,
    ) -> dict[str, Any]:
        """Execute the graph on a pool of worker threads and record its provenance.

        Returns the outputs as a nested dict of data nodes. If tasks fail, their dependents are
        skipped, independent tasks finish and are stored, and then :class:`WorkflowFailedError`
        is raised naming every failed task (unless ``raise_on_error=False``: then the outputs
        that were produced are returned, as WorkGraph does, and ``wg.outputs`` holds them).
        Ctrl-C or ``timeout`` cancel the run; finished results are stored either way.
        ``ferroflow runs cancel PK`` from another shell does the same within about a second
        and raises :class:`RunCancelledError` (see :mod:`ferroflow.engine.cancel_watch`).
        ``provenance=False`` records nothing (data nodes keep ``pk=None``).
        ``max_number_jobs`` (default: ``wg.max_number_jobs``, from ``@task.graph``) caps how
        many of this graph's tasks run at once; nested graphs use their own decorator's cap.
        ``progress``: show tasks done / failed / left, rate and ETA on standard error while it
        runs (``None``: on a terminal, for runs over 0.5 s, unless ``$FERROFLOW_PROGRESS=0``;
        ``True``: always; ``False``: never; see :mod:`ferroflow.progress`).
        ``executor``: where task functions run: ``"local"`` (the worker threads),
        ``"processes"`` (local worker processes, one per core), a name of the profile's
        executors, a ``distributed.Client``, a Dask scheduler address (``"tcp://host:8786"``) or a
        :class:`ferroflow.executors.DaskExecutor`; by default ``$FERROFLOW_EXECUTOR``, else the
        profile's ``executor`` setting, else local (see :mod:`ferroflow.executors`). On Dask,
        graph-task bodies and provenance stay in this process and ``max_workers`` threads
        submit the tasks.
        ``cache``: every calc task (except those with ``@task(cache=False)``) first looks for
        a finished run of the same function, source and input values in the store and reuses
        its results instead of running (``wg.cached_tasks`` lists them; see
        :mod:`ferroflow.engine.caching`). Tasks with ``@task(cache=True)`` do so in every run. A
        WorkGraph from :meth:`load` (a restart) always runs with caching on.
        ``inputs``: task inputs to set first, by task name (``{"add1": {"x": 1}}``); a task
        still missing a required input is refused before anything runs.
        ``capture``: keep what each task prints to stdout/stderr and logs with its task run in
        the store (``ferroflow logs PK``), instead of on the terminal (``None``: on unless
        ``$FERROFLOW_CAPTURE=0``; nothing is kept with ``provenance=False``; see
        :mod:`ferroflow.engine.capture`).
        """
        if self._execution is not None:
            raise FerroflowError(
                f"WorkGraph '{self.name}' has already run"
                f"{'' if self.pk is None else f' (pk {self.pk})'}; build a new one with "
                f"{'WorkGraph(...)' if self._handle is None else self._handle.name + '.build(...)'}"
            )

        self._apply_inputs(inputs)
        store: Any
        if self.restart_of is not None and not provenance:
            raise ValueError(
                f"WorkGraph '{self.name}' restarts run {self.restart_of}: it needs "
                f"the provenance store, so provenance=False is not possible"
            )
        if cache and not provenance:
            raise ValueError("run(cache=True) reuses stored results: it needs provenance=True")
        recorder: Recorder
        if provenance:
            profile = profile or self._profile or get_current_profile()
            store = profile.store
            self._store = store
            self._profile = profile
            if self.restart_of is not None:
                fill_cache_keys(store, self.restart_of)
                cache = True
            recorder = StoreRecorder(store)
        else:
            recorder = Recorder()  # records nothing
        executors = executors_for(
            executor,
            profile.executor if profile is not None else None,
            profile.executors if profile is not None else None,
            self._graph.handles.values(),
        )
        cap = max_number_jobs if max_number_jobs is not None else self.max_number_jobs
        if cap is not None and cap < 1:
            raise ValueError(f"max_number_jobs must be at least 1, got {cap}")
        self._graph.max_number_jobs = cap
        execution = Execution(self._graph, self.process_type, recorder, executors, cache=cache)
        execution.capture = RunCapture(recorder, capture_wanted(capture))
        # what WorkGraph.load needs to rebuild it, control-flow zones and wg.ctx included
        if provenance and self._handle is None:
            text = recipe_text(
                self._graph,
                store.record_data,
                max_number_jobs=self.max_number_jobs,
                inputs=self._input_spec,
                added_inputs=self._added_inputs,
                output_spec=self._output_spec,
                context=(self._ctx._entries, self._ctx._runtime),
            )
            store.record_rows([recipe_row(execution.pk, text)])
        execution.cache.alias = self.restart_alias
        self._execution = execution
        # `ferroflow runs cancel PK` from another shell cancels it as Ctrl-C does
        watch = (
            watching(store, execution.pk, execution.core.cancel) if provenance else nullcontext()
        )
        with lease_pool(max_workers) as pool, relaxed_gc():
            try:
                with watch, show_progress(execution.progress_counts, self.name, progress):
                    execution.execute(pool, timeout)
            except TimeoutError as exc:
                stored = (
                    f"finished results are stored (run pk {self.pk})"
                    if self.pk is not None
                    else "nothing was stored (provenance=False)"
                )
                raise RunTimeoutError(
                    f"WorkGraph '{self.name}' was cancelled after its timeout of {timeout} s; "
                    f"{stored}"
                ) from exc
        if execution.state == State.CANCELLED:
            raise RunCancelledError(
                f"WorkGraph '{self.name}' was cancelled by `ferroflow runs cancel {self.pk}`; "
                f"finished results are stored (`ferroflow restart {self.pk}` runs the rest)"
            )
        if raise_on_error:
            raise_failures(execution)
        return execution.outputs or {}

    # -- pictures ---------------------------------------------------------------------------
    def snapshot(self) -> GraphSnapshot:
        """What the pictures read: the graph, every task, the state, outputs and stored run."""
        execution = self._execution
        pk = self.pk
        return GraphSnapshot(
            name=self.name,
            process_type=self.process_type,
            state=self.state,
            graph=self._graph,
            tasks=tuple(self._task_nodes()),
            outputs=execution.outputs if execution is not None else self._graph.outputs,
            ran=execution is not None,
            pk=pk,
            store=self._store if pk is not None else None,
            uuid=self.uuid,
        )

    def generate_provenance_graph(
        self,
        ancestor_depth: int | None = None,
        descendant_depth: int | None = None,
        *,
        max_tasks: int = PICTURE_MAX_TASKS,
    ) -> graphviz.Digraph:
        """AiiDA-style provenance picture of this run (a ``graphviz.Digraph``), at most about
        ``max_tasks`` task boxes: repeated tasks of one graph run grouped into one box, failed
        tasks and the tasks behind the outputs drawn on their own."""
        return workgraph_provenance(self.snapshot(), ancestor_depth, descendant_depth, max_tasks)

    def to_dot(self, *, max_tasks: int = PICTURE_MAX_TASKS) -> str:
        """The workflow (tasks and data links) as Graphviz DOT text, states shown after a run:
        tasks filled by state, nested graphs as clusters outlined by state, and the title
        counting tasks per state (``fan_out (FINISHED)`` / ``finished: 3``). At most about
        ``max_tasks`` boxes: repeated tasks of one graph run become one ``square × 2,000``
        box (failed tasks and the outputs' tasks always drawn), and the title says so."""
        return workgraph_dot(self.snapshot(), max_tasks)

    def _repr_svg_(self) -> str | None:
        return workgraph_svg(self.snapshot())

    def _repr_html_(self) -> str:
        return workgraph_jupyter_html(self.snapshot())

    def to_html(
        self, path: str | os.PathLike[str] | None = None, *, max_tasks: int = MAX_TASKS
    ) -> str:
        """A self-contained interactive page of the graph (see :mod:`ferroflow.views.html`):
        pan and zoom, nested graphs that open and close, and a click on a task shows its
        inputs, outputs, state, times and error. Opens offline; needs no Graphviz.

        Writes it to ``path`` if given; returns the HTML either way. At most ``max_tasks``
        tasks are embedded (top levels first), values only as short summaries.
        """
        return workgraph_html(self.snapshot(), path, max_tasks)

    def __repr__(self) -> str:
        return f"<WorkGraph {self.name} state={self.state} tasks={len(self._graph.tasks)}>"


def build(handle: GraphDef, *args: Any, **kwargs: Any) -> WorkGraph:
    """Run the body of ``handle`` now with these inputs and return the resulting ``WorkGraph``
    (what ``G.build(...)`` does; a restart builds the stored run's graph function with it)."""
    graph = Graph(handle.name)
    graph.inputs = bind_inputs(handle.name, handle.func, handle.inputs, handle.var_kw, args, kwargs)
    with relaxed_gc():
        run_body(handle, graph)
    return WorkGraph._built(graph, handle)

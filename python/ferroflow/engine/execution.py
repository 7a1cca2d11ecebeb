"""One run of a graph: the runner the Rust workers call for every task off the fast lane.

The core decides *when* a task runs; this decides *what* that means: resolve its inputs, record
its start, hand the call to a backend (or, for a graph task, run its body and add the new tasks
to the live run), and settle every task's state at the end. The fast lane (``Run.submit`` picks
it, ``rust/py/src/fast.rs`` runs it) comes back here only for an exception
(:meth:`Execution._fast_fail`) or a returned dict or data node (:meth:`Execution._fast_odd`).
"""

from __future__ import annotations

import contextlib
import os
import time
import types
from dataclasses import dataclass
from typing import Any, Protocol

import ferroflow._core as _core

from ..errors import (
    CorePanicError,
    FerroflowError,
    RetryCancelledError,
)
from ..model.binding import check_arrived
from ..model.context_read import write_context
from ..model.data import DataNode, new_uuid
from ..model.graph import Graph, TaskNode
from ..model.isolation import isolate
from ..model.outputs import parse_outputs
from ..model.sockets import FutureSocket
from ..model.vocabulary import Link, State
from ..store.recorder import Recorder, error_text
from .backend import CANCELLED, CLOSED, Backend
from .caching import code_digest
from .graph_tasks import expand, finish_graph_task
from .report import explain_unstored
from .resolve import resolve, resolve_available
from .run_cache import RunCache
from .run_capture import OFF, RunCapture
from .unknown_work import count_unexpanded
from .zones import ZoneRunner, top_level

__all__ = ["Execution", "Executor", "Executors"]

#: returned values that :func:`parse_outputs` must see even for a task with one output (a dict
#: of outputs by name, a data node, a coroutine to refuse)
_NOT_RUN = frozenset({State.SKIPPED, State.CANCELLED})
_ODD = frozenset({dict, DataNode, types.CoroutineType})


class Executor(Protocol):
    """Makes the backend of one run."""

    def session(self, execution: Execution) -> Backend: ...


@dataclass(frozen=True)
class Executors:
    """The executors of a run: ``local`` for sync functions (unless ``remote`` is given),
    ``coroutines`` for ``async def`` tasks (always in this process), ``remote`` a cluster."""

    local: Executor
    coroutines: Executor
    remote: Executor | None = None


class Execution:
    """One run of a top-level graph."""

    def __init__(
        self,
        graph: Graph,
        process_type: str,
        recorder: Recorder,
        executors: Executors,
        cache: bool = False,
    ) -> None:
        self.graph = graph
        self.process_type = process_type
        self.recorder = recorder
        self.core = _core.Run()
        self.tasks: list[TaskNode] = []  # by core id (dense: see Run.submit)
        self.pk = recorder.new_pk()
        self.uuid = new_uuid()
        self.state = State.PLANNED
        self.graph_pks: dict[int, int] = {id(graph): self.pk}
        self.recording = recorder.recording
        #: run(cache=True) or a restart: every calc task without @task(cache=False) looks up
        #: its cache key first (and so takes the general runner, not the fast lane)
        self.cache_all = cache and self.recording
        #: cache keys, lookups and hits (``cache.hits``; ``cache.alias`` for a script's restart)
        self.cache = RunCache(recorder)
        self.capture: RunCapture = OFF  # what tasks print and log; run() sets it (run_capture.py)
        self._code_recorded: set[int] = set()  # id() of handles whose code digest is stored
        # Tasks on a cluster take the general runner: the fast lane calls functions here.
        self.fast_lane = (
            executors.remote is None
            and not self.cache_all
            and os.environ.get("FERROFLOW_FAST_LANE", "1") != "0"
        )
        #: where sync functions run: this process's workers, or a cluster
        self._calls: Backend = (executors.remote or executors.local).session(self)
        #: where ``async def`` functions run: the run's event loop, in this process
        self._coroutines: Backend = executors.coroutines.session(self)
        # Fast-lane task nodes read their results through this box: the live run while it
        # executes, the run's detached results afterwards (so nodes never keep the run alive).
        self._fast_box: list[Any] = [self.core]
        #: "task 'path', output 'socket'" -> why its value is stored only as its repr
        self.unstored: dict[str, str] = {}
        #: why the graph's outputs could not all be resolved, when every task finished
        self.output_error: FerroflowError | None = None
        #: the core's concurrency limit of each graph with ``max_number_jobs`` (by id)
        self._limits: dict[int, int] = {}
        #: runs the control-flow zones (If, While, Map) of the run's graphs
        self.zones = ZoneRunner(self)
        #: graph tasks and zones submitted so far: work not known until they expand
        self._graph_nodes: list[TaskNode] = []

    # -- set-up ----------------------------------------------------------------------------
    def submit_graph(self, graph: Graph) -> list[int]:
        """Add ``graph``'s tasks to the core, each in its lane (``rust/py/src/submit.rs``): a
        calc task with one leaf output, no ``**kwargs``, and inputs that are data nodes or the
        single outputs of fast tasks of this run takes the fast lane (its pks are reserved and
        its constant inputs recorded now); every other task the general lane, depending on its
        producers. A graph with zones submits its top level (:mod:`.zones`)."""
        # max_number_jobs: one core limit per graph instance, as in WorkGraph (nested graphs
        # have their own); every task of the graph counts, graph tasks included.
        if graph.max_number_jobs:
            self._limits[id(graph)] = self.core.add_limit(graph.max_number_jobs)
        if self.recording:
            self._record_code(graph)
        self._graph_nodes += graph.graph_nodes
        if graph.zone_stack is not None:
            return self.zones.submit(top_level(graph))
        return self.submit_tasks(graph.submit_order(), graph)

    def submit_tasks(self, tasks: list[TaskNode], graph: Graph, limited: bool = True) -> list[int]:
        """Add ``tasks`` of ``graph`` (ordered, producers first) to the core; ``limited``: under
        the graph's ``max_number_jobs``."""
        limit = self._limits.get(id(graph)) if limited else None
        try:
            return self.core.submit(
                tasks,
                self.tasks,
                self._fast_box if self.fast_lane else None,
                self.recorder,
                self.recording,
                self.graph_pks[id(graph)],
                DataNode,
                FutureSocket,
                limit,
            )
        except LookupError as exc:
            if len(exc.args) != 2 or not isinstance(exc.args[0], TaskNode):
                raise
            task, producer = exc.args
            what = f"task '{task.path}' uses an output of '{producer.path}'"
            raise FerroflowError(f"{what}, which is not part of this run") from None

    def _caller(self, task: TaskNode) -> tuple[int, int]:
        """``(run pk, caller pk)`` of ``task``: its top-level run and the graph run (the run, or
        a graph task) whose body made it."""
        return self.pk, self.graph_pks[id(task.graph)]

    def _record_code(self, graph: Graph) -> None:
        """Store the code digest of each task function ``graph`` uses (once per run), so that
        a restart can compute the cache keys of this run's tasks (:mod:`ferroflow.restart`)."""
        seen = self._code_recorded
        new = {key: h for key, h in graph.handles.items() if key not in seen}
        for key, handle in new.items():
            seen.add(key)
            if not handle.is_graph:
                self.recorder.code(self.pk, handle.process_type, code_digest(handle))

    def _fast_fail(self, task_id: int, exc: BaseException, ctime: float) -> bool:
        """A fast-lane task raised: record it as the general runner would, then fail it."""
        task = self.tasks[task_id]
        task.ctime = ctime
        task.uuid = new_uuid()
        if self.recording:
            assert task.pk is not None
            inputs = {name: resolve(b, "") for name, b in task.inputs.items()}
            self.recorder.process_started(task, task.name, self._caller(task), inputs)
        return self.failed(task, exc)

    def _fast_mistyped(self, task_id: int, name: str, value: Any) -> None:
        """A fast-lane task's input ``name`` got a value from another task that is not exactly
        of its declared type: raises if it does not fit it (the task then fails uncalled)."""
        check_arrived(self.tasks[task_id], name, value)

    def _fast_odd(self, task_id: int, returned: Any) -> Any:
        """A fast-lane task returned a dict, a data node, a coroutine or a value not exactly of
        its output's type: the output value WorkGraph's rules give, type-checked (raises
        :class:`TaskOutputError` like the general runner)."""
        task = self.tasks[task_id]
        handle = task.handle
        outputs = parse_outputs(f"task '{task.path}'", handle.outputs, returned)
        key = handle.single_output
        assert key is not None  # a fast-lane task has exactly one leaf output
        return outputs[key].value

    def execute(self, pool: _core.Pool, timeout: float | None) -> None:
        recorder = self.recorder
        unstored = recorder.unstored_mark()
        self.state = State.RUNNING
        try:
            recorder.run_started(
                self.pk, self.uuid, self.graph.name, self.process_type, self.graph.inputs
            )
            self.submit_graph(self.graph)
            self._calls.start()
            self._coroutines.start()
        except BaseException as exc:
            self._close_backends()
            self._abort(exc)
            raise
        queue, throttle, limit, packer = recorder.fast_lane()
        fast = _core.FastContext(
            fail=self._fast_fail,
            odd=self._fast_odd,
            mistyped=self._fast_mistyped,
            data_node=DataNode,
            isolate=isolate,
            queue=queue,
            run_pk=self.pk,
            throttle=throttle,
            queue_limit=limit,
            packer=packer,
            capture=self.capture.fast,
        )
        try:
            self.core.execute(pool, self._run_task, timeout, fast, on_cancel=self._on_cancel)
        except BaseException:
            self._close_backends()
            self._conclude(interrupted=True)
            raise
        self._close_backends()
        self._conclude(interrupted=self.core.cancelled)  # Run.cancel (`ferroflow runs cancel`)
        values = recorder.unstored_since(unstored)
        if values:
            self.unstored = explain_unstored(self, values)

    def _abort(self, exc: BaseException) -> None:
        """The run stopped before or while concluding (a wiring error found at submit, a
        cluster that cannot be reached, Ctrl-C): its node still gets an end state and its owner
        row goes, so it neither shows RUNNING for ever nor is refused a restart as "still
        running". Store errors are swallowed here: ``exc`` is what the caller raises."""
        self.state = State.CANCELLED if isinstance(exc, KeyboardInterrupt) else State.FAILED
        with contextlib.suppress(Exception):
            self.recorder.run_ended(self.pk, self.state, f"{type(exc).__name__}: {exc}")

    def _on_cancel(self) -> None:
        """The core cancelled the run (Ctrl-C, timeout): tasks waiting to retry stop waiting,
        and calls pending on Dask are abandoned."""
        self._calls.cancel()
        self._coroutines.cancel()

    def _close_backends(self) -> None:
        """Release the backends' threads and connections (pending coroutines are cancelled,
        the loop's thread joined)."""
        try:
            self._calls.close()
        finally:
            self._coroutines.close()
            # the backends refer back to this execution: without the cycle, a finished run's
            # task nodes are freed at once, not by a later full GC pass (many big graphs pay)
            self._calls = self._coroutines = CLOSED

    # -- the runner ------------------------------------------------------------------------
    def _run_task(self, task: TaskNode) -> bool | list[int] | str:
        if task.child is not None:
            return finish_graph_task(self, task)
        handle = task.handle
        is_graph = handle.is_graph
        if is_graph and handle.is_zone:
            return self.zones.run(task)
        recorder = self.recorder
        task.pk = recorder.new_pk()
        task.state = State.RUNNING
        task.ctime = time.time()
        task.uuid = new_uuid()
        # Hot path: inputs are mostly single data nodes or single sockets; labels for error
        # messages and nested namespaces take the general (slower) route only when needed.
        inputs: dict[str, Any] = {}
        node: Any  # a data node, or a nested dict of them for a namespace input
        typed = handle.fast_in_types  # inputs with a declared type: checked as values arrive
        try:
            for name, binding in task.inputs.items():
                if type(binding) is DataNode:
                    node = binding
                elif type(binding) is FutureSocket and len(binding._path) == 1:
                    outputs = binding._task.outputs
                    key = binding._path[0]
                    node = outputs[key] if outputs is not None and key in outputs else None
                    if node is None:
                        node = resolve(binding, f"task '{task.path}', input '{name}'")
                    wanted = typed.get(name) if typed else None
                    if (
                        wanted is not None
                        and type(node) is DataNode
                        and type(node.value) is not wanted
                    ):
                        check_arrived(task, name, node.value)
                else:
                    node = resolve(binding, f"task '{task.path}', input '{name}'")
                inputs[name] = node
        except BaseException as exc:
            failure: BaseException | None = exc
        else:
            failure = None
        try:  # a task whose inputs failed to resolve is recorded with those it got
            recorder.process_started(task, task.name, self._caller(task), inputs)
        except BaseException as exc:
            failure = failure or exc
        if failure is not None:
            return self.failed(task, failure)
        if is_graph:
            return expand(self, task, inputs)
        if handle.cache or (self.cache_all and handle.cache is None):
            reused = self.cache.lookup(task, inputs) if self.recording else None
            if reused is not None:
                return self.succeed(task, reused)
        if handle.is_async:  # the run's event loop awaits it, in this process
            return self._coroutines.submit(task, inputs)
        return self._calls.submit(task, inputs)

    # -- completion calls: how backends report (public, so no backend reaches inside) --------
    @property
    def cancel_requested(self) -> bool:
        """The run was cancelled (Ctrl-C, ``run(timeout=)``): make no further attempt."""
        return bool(self.core.cancelled)

    def attempt_failed(self, task: TaskNode, exc: BaseException) -> None:
        """An attempt of ``task`` raised ``exc`` and another will follow: store it FAILED."""
        assert task.pk is not None
        self.recorder.process_ended(task.pk, State.FAILED, time.time(), error_text(exc))

    def attempt_started(self, task: TaskNode, inputs: dict[str, Any], label: str) -> None:
        """A new process node for another attempt of ``task``, linked like the first."""
        recorder = self.recorder
        pk = task.pk = recorder.new_pk()
        task.ctime = time.time()
        task.uuid = new_uuid()
        # (a value an error handler changed is a new data node)
        recorder.process_started(task, label, self._caller(task), inputs)
        key = self.cache.key_of(task)
        if key is not None:
            recorder.cache_key(pk, key)  # the key of the task's original inputs

    def finished(self, task: TaskNode, returned: Any) -> bool:
        """A calc task's function returned ``returned`` (here, or on a Dask worker): make its
        output nodes, record them with their CREATE links, and finish the task (or fail it if
        the value does not fit the declared outputs)."""
        handle = task.handle
        kind = type(returned)
        wanted = handle.fast_out_type
        try:
            if (
                handle.single_output is not None
                and kind not in _ODD
                and (kind is wanted or wanted is None)
            ):
                outputs = {handle.single_output: DataNode(returned)}
            else:
                outputs = parse_outputs(f"task '{task.path}'", handle.outputs, returned)
        except BaseException as exc:
            return self.failed(task, exc)
        assert task.pk is not None
        self.recorder.outputs_made(task.pk, outputs, Link.CREATE)
        return self.succeed(task, outputs)

    def succeed(self, task: TaskNode, outputs: dict[str, Any]) -> bool:
        """``task`` made ``outputs``: FINISHED (its context writes, if a zone's, applied)."""
        task.outputs = outputs
        task.state = State.FINISHED
        task.mtime = time.time()
        zoned = getattr(task, "zoned", None)
        if zoned is not None and zoned.writes:
            write_context(zoned.writes, outputs)
        assert task.pk is not None
        self.recorder.output_extras(task, outputs)  # meta(extras=...) of its outputs
        self.recorder.process_ended(task.pk, State.FINISHED, task.mtime)
        return True

    def failed(self, task: TaskNode, exc: BaseException) -> bool:
        self._end(task, State.FAILED, exc, error_text(exc))
        return False

    def cancelled(self, task: TaskNode, exc: RetryCancelledError) -> str:
        """``task`` was waiting for its next attempt when the run was cancelled: it makes none
        and is CANCELLED (the runner's ``"cancelled"``), its last failure kept in ``exc``."""
        self._end(task, State.CANCELLED, exc, str(exc))
        return CANCELLED

    def _end(self, task: TaskNode, state: str, exc: BaseException, text: str) -> None:
        task.error = exc
        task.state = state
        task.mtime = time.time()
        if task.pk is not None:
            self.recorder.process_ended(task.pk, state, task.mtime, text)

    def progress_counts(self) -> dict[str, int]:
        """The core's per-state counts, and ``unexpanded`` (:mod:`.unknown_work`): sampled by
        the progress display."""
        counts: dict[str, int] = self.core.counts()
        counts["unexpanded"] = count_unexpanded(self._graph_nodes, self.core.state)
        return counts

    def note_expandable(self, task: TaskNode) -> None:
        """``task``, a graph task or zone that a zone cloned, is unknown work until it expands."""
        self._graph_nodes.append(task)

    def task_state(self, task: TaskNode) -> str:
        """The core's state of ``task``; PLANNED if it was never added to the run."""
        return self.core.state(task.id) if task.id is not None else State.PLANNED

    # -- after the run ---------------------------------------------------------------------
    def _conclude(self, interrupted: bool) -> None:
        try:
            self._settle(interrupted)
        except BaseException as exc:
            self._abort(exc)
            raise
        try:
            self.recorder.run_ended(self.pk, self.state)
        except FerroflowError:  # (StoreError) rows were lost: incomplete, never FINISHED
            self.state = State.FAILED
            raise

    def _record_not_run(self, ended: list[TaskNode]) -> None:
        """The tasks of ``ended`` (those that did not finish) that ended skipped or cancelled
        without starting: the store keeps them beside the nodes (:mod:`ferroflow.store.unrun`),
        so a stored failed run shows them."""
        unrun = [
            (
                self.graph_pks[id(t.graph)],
                t.name,
                t.handle.process_type,
                t.state,
                [
                    p.pk if p.pk is not None else p.name
                    for p in t.producers
                    if p.graph is t.graph or p.pk is not None
                ],
            )
            for t in ended
            if t.pk is None and t.state in _NOT_RUN and id(t.graph) in self.graph_pks
        ]
        if unrun and self.recording:
            self.recorder.tasks_not_run(self.pk, unrun)

    def _settle(self, interrupted: bool) -> None:
        """Every task's final state from the core (rows of tasks the core ended), the graph's
        outputs with their RETURN links, and the run's own state."""
        self._fast_box[0] = self.core.results()
        # The core sets the finished tasks' states (and, without provenance, drops the null
        # store's pks of the general lane's); the rest are settled here, one by one.
        others = self.core.settle_finished(self.tasks, not self.recording)
        panics = dict(self.core.panics())
        for task_id in others:
            task = self.tasks[task_id]
            state = self.core.state(task_id)
            if task_id in panics:
                task.error = CorePanicError(
                    f"the core panicked while running task '{task.path}': {panics[task_id]}"
                )
                state = State.FAILED
            elif state == task.state:
                continue
            if task.fast_box is not None and task.state == State.PLANNED:
                task.pk = None  # pks reserved at submit (out_pk too: pk + 1); it never started
            # The core decided this state (skipped, cancelled, or failed by a panic): a task
            # that had started (a graph task suspended at cancel time) gets its row updated too.
            if task.pk is not None and task.state == State.RUNNING:
                error = str(task.error) if task.error is not None else None
                self.recorder.process_ended(task.pk, state, time.time(), error)
            task.state = state
        self._record_not_run([self.tasks[i] for i in others])
        outputs: dict[str, Any] | None = None
        complete = False
        if not interrupted:
            try:
                outputs = resolve(self.graph.outputs, f"graph '{self.graph.name}' outputs")
                complete = True
            except FerroflowError as exc:
                # as WorkGraph does, keep the outputs that exist (their producers finished)
                self.output_error = exc
                outputs = resolve_available(self.graph.outputs)
        if outputs is not None:
            self.recorder.outputs_made(self.pk, outputs, Link.RETURN)
        self.outputs = outputs
        all_done = not others  # every other task ended FINISHED
        if interrupted:
            self.state = State.CANCELLED
        else:
            self.state = State.FINISHED if all_done and complete else State.FAILED

"""``@task`` and ``@task.graph``: turn plain functions into task handles.

Calling a handle inside a graph body adds a node to the current graph and returns the future
namespace of its outputs; the function itself runs later, on the engine's workers. A graph
handle's ``build(...)`` runs its body now, with concrete inputs, and returns a ``WorkGraph``.
Called inside another graph body, a graph handle becomes a graph task whose body runs at run
time and adds its tasks to the live run (dynamic expansion).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, overload

from .executors.pythonjob import in_own_process
from .model.binding import UNPLANNED, CallPlan, bind_inputs, bind_keywords, call_plan
from .model.call_metadata import RESERVED_INPUT, parse_call_metadata
from .model.graph import Graph, current_graph, require_graph
from .model.monitor import monitoring
from .model.sockets import FutureSocket
from .model.taskdef import (
    CalcFunctionDef,
    CalcFunctionOptions,
    GraphDef,
    GraphOptions,
    TaskDef,
    TaskOptions,
    check_options,
)
from .workgraph import WorkGraph, build

if TYPE_CHECKING:
    # Only for type checkers (mypy and pyright ship it): ``typing.Unpack`` for ``**kwargs`` is
    # Python 3.11+ (PEP 692 is 3.12), and typing_extensions is no runtime dependency.
    from typing_extensions import Unpack

__all__ = ["CalcFunctionHandle", "GraphHandle", "TaskHandle", "task"]


class TaskHandle(TaskDef):
    """A function turned into a task. ``handle(...)`` in a graph body adds a task node."""

    #: how its keyword calls are bound (:func:`~.model.binding.call_plan`), made at the first
    #: call (subclasses adjust their inputs after ``TaskDef.__init__``); None: never that way
    _plan: CallPlan | None = UNPLANNED

    def __call__(self, *args: Any, **kwargs: Any) -> FutureSocket:
        # Every task of a build passes here: the common keyword call is bound by the handle's
        # cached plan, and the task's label for messages is made only on an error path.
        graph = current_graph()
        if graph is None:
            graph = require_graph(self.name)  # raises
        plan = self._plan
        if plan is UNPLANNED:
            plan = self._plan = call_plan(self.func, self.inputs, self.var_kw)
        if plan is not None and not args:
            bound = bind_keywords(plan, kwargs, graph, self.name)
            if bound is not None:
                return FutureSocket(graph.add_next(self, *bound), (), self.outputs)
        if RESERVED_INPUT in kwargs:
            return self._described_call(graph, args, kwargs)
        name, n = graph.next_name(self.name)
        where = f"{graph.path}/{name}"
        bindings = bind_inputs(where, self.func, self.inputs, self.var_kw, args, kwargs)
        node = graph.add(self, bindings, name, n)
        return FutureSocket(node, (), self.outputs)

    def _described_call(
        self, graph: Graph, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> FutureSocket:
        """A call with WorkGraph's per-call ``metadata=`` (:mod:`.model.call_metadata`): its
        ``call_link_label`` names the task, its label and description are kept for the store.
        (Apart from :meth:`__call__`, which every task call in a graph body takes.)"""
        meta = parse_call_metadata(
            f"task '{graph.path}/{self.name}'", kwargs.pop(RESERVED_INPUT), self.metadata_keys
        )
        if meta.call_link_label is None:
            name, n = graph.next_name(self.name)
        else:
            name, n = graph.own_name(meta.call_link_label, self.name)
        where = f"{graph.path}/{name}"
        bindings = bind_inputs(where, self.func, self.inputs, self.var_kw, args, kwargs)
        node = graph.add(self, bindings, name, n)
        node.describe(meta.stored)
        return FutureSocket(node, (), self.outputs)


class GraphHandle(GraphDef, TaskHandle):
    """A ``@task.graph`` function: its body only wires tasks together. Called in another graph
    body it is a graph task (its body runs at run time); ``build(...)`` runs it now."""

    def build(self, *args: Any, **kwargs: Any) -> WorkGraph:
        """Run the body now with these inputs and return the resulting ``WorkGraph``."""
        return build(self, *args, **kwargs)

    def run(self, *args: Any, **kwargs: Any) -> WorkGraph:
        """``build(*args, **kwargs)`` then ``run()``; returns the finished ``WorkGraph``."""
        wg = self.build(*args, **kwargs)
        wg.run()
        return wg


class CalcFunctionHandle(CalcFunctionDef, TaskHandle):
    """A ``@task.calcfunction`` function: called in a graph body like a ``@task``; its body
    receives data nodes (``x.value``; ``x + y`` is a node) and may return nodes."""


class _TaskDecorator:
    """``@task``, ``@task(...)``, ``@task.graph`` and ``@task.graph(...)``."""

    @overload
    def __call__(self, func: Callable[..., Any], /) -> TaskHandle: ...

    @overload
    def __call__(
        self, func: None = None, /, **options: Unpack[TaskOptions]
    ) -> Callable[[Callable[..., Any]], TaskHandle]: ...

    def __call__(
        self, func: Callable[..., Any] | None = None, /, **options: Unpack[TaskOptions]
    ) -> TaskHandle | Callable[[Callable[..., Any]], TaskHandle]:
        """``retries``: retry a call that raised one of ``retry_on`` (default: any Exception)
        up to this many times, ``backoff`` seconds apart; every attempt is its own process
        node. ``timeout``: fail an attempt that runs longer than this many seconds with
        :class:`~ferroflow.errors.TaskTimeoutError` (its result is discarded).
        ``error_handlers``: WorkGraph-style handlers that change the inputs before another
        attempt (see :mod:`ferroflow.model.error_handlers`). ``cache``: reuse the stored results of
        an earlier run with the same function, source and input values (True), never (False),
        or as ``run(cache=...)`` says (None; see :mod:`ferroflow.engine.caching`); ``version``
        replaces the source text in the cache key. ``executor``: where its calls run, whatever
        the run's executor: a name from the profile's executors (``ferroflow executors list``),
        ``"local"``, ``"processes"`` or a Dask address (see :mod:`ferroflow.executors`)."""

        check_options("@task()", options, TaskOptions.__optional_keys__)

        def make(f: Callable[..., Any]) -> TaskHandle:
            return TaskHandle(f, **options)

        return make(func) if func is not None else make

    @overload
    def monitor(self, func: Callable[..., Any], /) -> TaskHandle: ...

    @overload
    def monitor(
        self, func: None = None, /, **options: Unpack[TaskOptions]
    ) -> Callable[[Callable[..., Any]], TaskHandle]: ...

    def monitor(
        self, func: Callable[..., Any] | None = None, /, **options: Unpack[TaskOptions]
    ) -> TaskHandle | Callable[[Callable[..., Any]], TaskHandle]:
        """WorkGraph's ``@task.monitor``: a task that calls the predicate until it returns
        something truthy, every ``interval`` seconds (an input, default 5), failing with
        ``TimeoutError`` after ``timeout`` seconds (default 3600); it waits on the run's event
        loop, holding no worker thread (:mod:`ferroflow.model.monitor`). Never cached unless
        ``cache=`` says so. Takes every ``@task`` option."""
        check_options("@task.monitor()", options, TaskOptions.__optional_keys__)

        def make(f: Callable[..., Any]) -> TaskHandle:
            label = str(options.get("name") or getattr(f, "__name__", repr(f)))
            chosen: dict[str, Any] = {"cache": False, **options}
            return TaskHandle(monitoring(f, label), **chosen)

        return make(func) if func is not None else make

    @overload
    def pythonjob(self, func: Callable[..., Any], /) -> TaskHandle: ...

    @overload
    def pythonjob(
        self, func: None = None, /, **options: Unpack[TaskOptions]
    ) -> Callable[[Callable[..., Any]], TaskHandle]: ...

    def pythonjob(
        self, func: Callable[..., Any] | None = None, /, **options: Unpack[TaskOptions]
    ) -> TaskHandle | Callable[[Callable[..., Any]], TaskHandle]:
        """WorkGraph's ``@task.pythonjob``: the function runs in a Python process of its own
        (:mod:`ferroflow.executors.pythonjob`), so a crash fails only its task; it takes a
        ``computer`` input (``"localhost"``) and ``metadata={"options": ...}``. Takes every
        ``@task`` option."""
        check_options("@task.pythonjob()", options, TaskOptions.__optional_keys__)

        def make(f: Callable[..., Any]) -> TaskHandle:
            label = str(options.get("name") or getattr(f, "__name__", repr(f)))
            handle = TaskHandle(in_own_process(f, label), **options)
            handle.metadata_keys = ("options",)
            return handle

        return make(func) if func is not None else make

    @overload
    def calcfunction(self, func: Callable[..., Any], /) -> CalcFunctionHandle: ...

    @overload
    def calcfunction(
        self, func: None = None, /, **options: Unpack[CalcFunctionOptions]
    ) -> Callable[[Callable[..., Any]], CalcFunctionHandle]: ...

    def calcfunction(
        self, func: Callable[..., Any] | None = None, /, **options: Unpack[CalcFunctionOptions]
    ) -> CalcFunctionHandle | Callable[[Callable[..., Any]], CalcFunctionHandle]:
        """WorkGraph's ``@task.calcfunction`` / ``@task.calcfunction(inputs=, outputs=,
        catalog=, error_handlers=, ...)``: a task whose body receives data nodes, as an AiiDA
        calcfunction's does, and may return nodes, plain values or a dict of them (stored as
        their values); its outputs default to ``result``. It is stored as a calculation like
        any ``@task``, and takes every ``@task`` option."""
        check_options("@task.calcfunction()", options, CalcFunctionOptions.__optional_keys__)

        def make(f: Callable[..., Any]) -> CalcFunctionHandle:
            return CalcFunctionHandle(f, **options)

        return make(func) if func is not None else make

    @overload
    def graph(self, func: Callable[..., Any], /) -> GraphHandle: ...

    @overload
    def graph(
        self, func: None = None, /, **options: Unpack[GraphOptions]
    ) -> Callable[[Callable[..., Any]], GraphHandle]: ...

    def graph(
        self, func: Callable[..., Any] | None = None, /, **options: Unpack[GraphOptions]
    ) -> GraphHandle | Callable[[Callable[..., Any]], GraphHandle]:
        check_options("@task.graph()", options, GraphOptions.__optional_keys__)

        def make(f: Callable[..., Any]) -> GraphHandle:
            return GraphHandle(f, **options)

        return make(func) if func is not None else make


task = _TaskDecorator()

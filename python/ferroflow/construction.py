"""WorkGraph's explicit construction API, as its users write it: ``add_task``, ``add_link``,
``with WorkGraph(...) as wg:``, ``wg.outputs = {...}``, ``run(inputs=...)`` and ``show()``.

:class:`~ferroflow.workgraph.WorkGraph` inherits these; the rules (incomplete inputs until the
run, one link per input, no cycles) live in :mod:`ferroflow.model.explicit`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .builtin_tasks import BUILTIN_TASKS, BuiltinTask, ZoneTask, builtin_task
from .context import Context
from .errors import FerroflowError
from .model.context_order import order_context_access
from .model.context_read import ContextRead
from .model.data import DataNode
from .model.explicit import add_task, complete, give_graph_inputs, link, set_value
from .model.graph import Graph, graph_context, require_graph
from .model.labels import key_problem
from .model.replay import graph_def
from .model.sockets import FutureSocket, GraphInputSocket
from .model.spec import Leaf, Namespace, SocketSpec, socket_spec_of
from .model.taskdef import GraphDef, TaskDef
from .model.zone_plan import check_zones
from .model.zones import ZONE_IDENTIFIERS, zone_block
from .views.results import ResultSocket
from .views.tasks import GraphTask, InputSocket

__all__ = ["EXPLICIT_PREFIX", "ExplicitConstruction", "GraphInputs", "GraphOutputs"]

#: the process type of an explicitly built graph's run is this plus its name
EXPLICIT_PREFIX = "workgraph:"


def _outputs(where: str, value: Any) -> Any:
    """Check a graph's outputs assignment: sockets, or nested dicts of them."""
    if isinstance(value, (FutureSocket, DataNode, ContextRead)):
        return value
    if isinstance(value, GraphTask):
        return value.outputs
    if isinstance(value, dict):
        for key in value:
            problem = key_problem(key)
            if problem is not None:
                raise ValueError(f"{where}: {problem}")
        return {key: _outputs(f"{where}.{key}", item) for key, item in value.items()}
    raise TypeError(
        f"{where}: a graph output must be a task's output socket (task.outputs.result) or a "
        f"dict of them, got {type(value).__qualname__} {value!r}"
    )


class GraphInputs:
    """``wg.inputs``: a graph's inputs by attribute or name. A built graph's are its data
    nodes; an explicit graph's are sockets tasks can take (``add_task(f, x=wg.inputs.x)``)
    until ``run(inputs={"x": ...})`` gives them values, then their data nodes."""

    __slots__ = ("_owner",)
    _owner: ExplicitConstruction

    def __init__(self, owner: ExplicitConstruction) -> None:
        object.__setattr__(self, "_owner", owner)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(str(exc)) from None

    def __getitem__(self, name: str) -> Any:
        return self._owner._graph_input(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __setitem__(self, name: str, value: Any) -> None:
        """``wg.inputs.x = 2``: the value the input gets when the graph runs (an explicit
        graph's; ``run(inputs=...)`` may still replace it)."""
        self._owner._graph_input(name)  # refuses an undeclared one
        self._owner._refuse_after_run("change its inputs")
        self._owner._pending_inputs[name] = value

    def __iter__(self) -> Any:
        return iter(self._owner._graph.inputs)

    def __repr__(self) -> str:
        return f"<inputs of WorkGraph '{self._owner._graph.name}'>"


class GraphOutputs(ResultSocket):
    """``wg.outputs``: ``wg.outputs.sum.value`` after the run; ``wg.outputs.sum = socket``
    (or ``wg.outputs["data.sum"] = socket``) before it declares a graph output."""

    __slots__ = ("_construction",)
    _construction: ExplicitConstruction

    def __init__(self, owner: ExplicitConstruction, get: Any) -> None:
        super().__init__(owner._graph.name, (), get)
        object.__setattr__(self, "_construction", owner)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def __setitem__(self, path: str, value: Any) -> None:
        self._construction._add_output(path, value)


class ExplicitConstruction:
    """The methods of a WorkGraph that add to it outside a ``@task.graph`` body."""

    _graph: Graph
    _handle: GraphDef | None
    _context: Any
    _execution: Any
    #: declared graph-level inputs of an explicit graph (None: any name, WorkGraph's default)
    _input_spec: Namespace | None
    #: declared graph-level outputs (informative: ``wg.outputs.x = socket`` fills them)
    _output_spec: Namespace | None
    #: this graph as a task of another (:meth:`_as_task`)
    _task_def: GraphDef | None
    _input_sockets: dict[str, GraphInputSocket]
    #: inputs declared by ``add_input_spec`` on a graph that declared no namespace of inputs
    _added_inputs: dict[str, SocketSpec]
    #: graph input values set with ``wg.inputs.x = value`` before the run
    _pending_inputs: dict[str, Any]
    _ctx: Context

    @property
    def ctx(self) -> Context:
        """The graph's context (see :class:`Context`)."""
        return self._ctx

    @ctx.setter
    def ctx(self, values: Mapping[str, Any]) -> None:
        """``wg.ctx = {"x": 2, "data.y": 3}`` replaces the context."""
        self._ctx = Context(f"WorkGraph '{self._graph.name}' ctx")
        self._ctx._update(values)

    def update_ctx(self, values: Mapping[str, Any]) -> None:
        """Write several context entries (dotted keys nest)."""
        self._ctx._update(values)

    def _as_task(self) -> GraphDef:
        """This graph as the definition of a task of another graph (made once)."""
        if self._handle is not None:
            return self._handle
        if self._execution is not None:
            raise FerroflowError(
                f"WorkGraph '{self._graph.name}' has already run; only a graph that has not run "
                f"can be used as a task of another"
            )
        if self._task_def is None:
            self._task_def = graph_def(self._graph, self._output_spec)
        return self._task_def

    def __call__(self, inputs: Mapping[str, Any] | None = None, **kwargs: Any) -> FutureSocket:
        """Inside another graph (a ``with`` block or a graph body): add this graph as a task,
        fed ``inputs`` (values or sockets, by graph input name); returns its outputs."""
        graph = require_graph(self._graph.name)
        handle = self._as_task()
        node = add_task(graph, handle, None, {**dict(inputs or {}), **kwargs})
        return FutureSocket(node, (), handle.outputs)

    def _add_output(self, path: str, value: Any) -> None:
        """``wg.outputs.sum = socket``: declare one (possibly nested) graph output."""
        self._refuse_after_run("change its outputs")
        outputs = self._graph.outputs
        if not isinstance(outputs, dict):
            outputs = self._graph.outputs = {}
        *outer, last = path.split(".")
        for part in outer:
            outputs = outputs.setdefault(part, {})
        outputs[last] = _outputs(f"WorkGraph '{self._graph.name}' output '{path}'", value)

    def _graph_input(self, name: str) -> Any:
        """A graph input: its data node once it has one, else (explicit graphs) its socket."""
        if name in self._graph.inputs:
            return self._graph.inputs[name]
        if self._handle is not None:
            raise KeyError(
                f"WorkGraph '{self._graph.name}' has no input '{name}'; inputs: "
                f"{', '.join(self._graph.inputs) or '<none>'}"
            )
        spec = self._input_spec
        child = Leaf() if spec is None else spec.child(name)
        if child is None:
            assert spec is not None
            raise KeyError(
                f"WorkGraph '{self._graph.name}' declares no input '{name}'; inputs: "
                f"{', '.join(spec.fields) or '<none>'}"
            )
        socket = self._input_sockets.get(name)
        if socket is None:
            socket = self._input_sockets[name] = GraphInputSocket(
                self._graph.name, name, child, self._graph
            )
        return socket

    def _process_node(self, pk: int) -> Any:
        raise NotImplementedError

    @property
    def process_type(self) -> str:
        """What the stored run names as its process: the ``@task.graph`` function's qualified
        name, or ``workgraph:<name>`` for an explicit graph (rebuilt from its stored recipe,
        :mod:`ferroflow.explicit_reload`)."""
        if self._handle is not None:
            return self._handle.process_type
        return f"{EXPLICIT_PREFIX}{self._graph.name}"

    def _refuse_after_run(self, what: str) -> None:
        if self._execution is not None:
            raise FerroflowError(
                f"WorkGraph '{self._graph.name}' has already run: it cannot {what}; build a new one"
            )

    def __enter__(self) -> Any:
        self._refuse_after_run("take new tasks")
        if self._context is not None:
            raise FerroflowError(f"WorkGraph '{self._graph.name}' is already open in a 'with'")
        self._context = graph_context(self._graph)
        self._context.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        context, self._context = self._context, None
        context.__exit__(None, None, None)

    def add_task(
        self,
        identifier: TaskDef | Callable[..., Any] | str,
        name: str | None = None,
        **inputs: Any,
    ) -> GraphTask | BuiltinTask | ZoneTask:
        """Add a call of a ``@task`` / ``@task.graph`` handle (or a plain function, made a task
        on the fly) named ``name`` (default: the function's name, numbered when repeated), with
        the inputs known so far: values, or sockets (``other.outputs.result``) that link."""
        self._refuse_after_run("take new tasks")
        if isinstance(identifier, str) and identifier in ZONE_IDENTIFIERS:
            return ZoneTask(self, zone_block(identifier, self._graph, name, dict(inputs)))
        if isinstance(identifier, str) and identifier in BUILTIN_TASKS:
            identifier = BUILTIN_TASKS[identifier]
        if isinstance(identifier, str):
            return builtin_task(self._ctx, identifier, name, inputs)
        if isinstance(identifier, ExplicitConstruction):
            handle: TaskDef = identifier._as_task()
        elif isinstance(identifier, TaskDef):
            handle = identifier
        elif callable(identifier):
            handle = TaskDef(identifier)
        else:
            raise TypeError(f"add_task: expected a task or a function, got {identifier!r}")
        node = add_task(self._graph, handle, name, inputs)
        return GraphTask(node, self._process_node)

    def add_input_spec(self, spec: Any, name: str, **options: Any) -> Any:
        """Declare one more graph input ``name`` (WorkGraph's ``add_input_spec``): ``spec`` is
        a type, a socket spec (``namespace(...)``) or a WorkGraph identifier such as
        ``"workgraph.any"`` or ``"workgraph.int"``; returns its socket, for tasks to take."""
        self._declare("input", spec, name, options)
        return self._graph_input(name)

    def add_output_spec(self, spec: Any, name: str, **options: Any) -> None:
        """Declare one more graph output ``name``; ``wg.outputs.<name> = socket`` fills it."""
        self._declare("output", spec, name, options)

    def _declare(self, side: str, spec: Any, name: str, options: Mapping[str, Any]) -> None:
        where = f"WorkGraph '{self._graph.name}': add_{side}_spec({spec!r}, name={name!r})"
        self._refuse_after_run(f"take new {side}s")
        if self._handle is not None:
            raise FerroflowError(
                f"{where}: the {side}s of a graph built from a @task.graph function are its "
                f"function's; add a parameter (or an output) to the function instead"
            )
        problem = key_problem(name) if isinstance(name, str) else "a name must be a str"
        if problem is not None:
            raise ValueError(f"{where}: {problem}")
        unknown = sorted(set(options) - {"help", "required"})
        if unknown:
            raise TypeError(f"{where}: unknown option(s) {', '.join(unknown)} (help, required)")
        child = socket_spec_of(where, spec)
        if isinstance(child, Leaf) and options.get("required") is False:
            child = Leaf(child.type, required=False)
        current = self._input_spec if side == "input" else self._output_spec
        taken = name in self._input_sockets if side == "input" and current is None else False
        if taken or (current is not None and name in current.fields):
            raise ValueError(f"{where}: the graph already has an {side} '{name}'")
        if side == "input" and current is None:
            # A graph that declared no inputs takes any name (WorkGraph's default) and still
            # does; the declared one keeps its spec on its socket (see _given_spec).
            self._input_sockets[name] = GraphInputSocket(self._graph.name, name, child, self._graph)
            self._added_inputs[name] = child
            return
        fields = {} if current is None else dict(current.fields)
        dynamic = Leaf() if current is None else current.dynamic
        declared = Namespace({**fields, name: child}, dynamic)
        if side == "input":
            self._input_spec = declared
        else:
            self._output_spec = declared

    def _given_spec(self) -> Namespace | None:
        """What ``run(inputs=)`` checks graph inputs against: the declared namespace, or for a
        graph that declared none, the inputs ``add_input_spec`` added and any other name."""
        if self._input_spec is not None or not self._added_inputs:
            return self._input_spec
        return Namespace(dict(self._added_inputs), Leaf())

    def add_link(self, source: Any, target: Any) -> None:
        """Link an output socket (``a.outputs.result``) to an input socket (``b.inputs.x``)."""
        self._refuse_after_run("take new links")
        if not isinstance(target, InputSocket):
            raise TypeError(
                f"add_link: the target must be a task's input socket (task.inputs.x), got "
                f"{type(target).__qualname__} {target!r}"
            )
        link(source, target.task, target.input_name)

    def _set_outputs(self, value: Mapping[str, Any]) -> None:
        """``wg.outputs = {"sum": add1.outputs.result}``: what the graph run returns."""
        self._refuse_after_run("change its outputs")
        if not isinstance(value, Mapping):
            raise TypeError(f"wg.outputs must be a dict of output sockets, got {value!r}")
        self._graph.outputs = _outputs(f"WorkGraph '{self._graph.name}' outputs", dict(value))

    def _apply_inputs(self, inputs: Mapping[str, Any] | None) -> None:
        """``run(inputs=...)``: a key naming a graph input gives it its value, a key naming a
        task sets that task's inputs (``{"add1": {"x": 1}}``), anything else is refused; then
        (for an explicit graph) every task must have all it needs."""
        # (read only when inputs are given: a run without any would index every task's name)
        tasks = self._graph.tasks_by_name if inputs else {}
        graph_inputs: dict[str, Any] = {}
        for key, values in (inputs or {}).items():
            if self._handle is None and self._is_graph_input(key):
                graph_inputs[key] = values
            elif key in tasks:
                if not isinstance(values, Mapping):
                    raise TypeError(
                        f"run(inputs=): the inputs of task '{key}' must be a dict, got {values!r}"
                    )
                for name, value in values.items():
                    set_value(tasks[key], name, value)
            else:
                raise KeyError(
                    f"run(inputs=): '{key}' names no input or task of WorkGraph "
                    f"'{self._graph.name}'; tasks: {', '.join(tasks) or '<none>'}"
                )
        if self._handle is None:
            give_graph_inputs(
                self._graph, self._given_spec(), {**self._pending_inputs, **graph_inputs}
            )
            complete(self._graph)
            if self._graph.zone_stack is not None:
                check_zones(self._graph)
                order_context_access(self._graph)  # before the recipe stores its edges
        elif inputs:
            complete(self._graph)

    def _is_graph_input(self, key: str) -> bool:
        spec = self._input_spec
        if spec is not None:
            return spec.child(key) is not None and (
                key in spec.fields or key not in self._graph.tasks_by_name
            )
        return key in self._input_sockets

    def show(self) -> None:
        """Print the tasks as a table: name, pk and state (WorkGraph's ``wg.show()``)."""
        rows = [(t.name, "" if t.pk is None else str(t.pk), t.state) for t in self._graph.tasks]
        width = max([len("Name"), *(len(name) for name, _, _ in rows)])
        print(f"{'Name':<{width}}  {'PK':>6}  State")
        for name, pk, state in rows:
            print(f"{name:<{width}}  {pk:>6}  {state}")

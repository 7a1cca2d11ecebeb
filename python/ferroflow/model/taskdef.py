"""Task definitions: what ``@task`` and ``@task.graph`` know about a function.

The options are validated once, here, at decoration time, with messages naming the task; the
input and output socket specs come from the signature. The engine reads a definition, never
re-checks it. The user-facing handles (:mod:`ferroflow.task`) subclass these to add calling
inside a graph body and ``build()``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict, cast

from .calcfunction import CalcFunctionCall, shape_of
from .call_metadata import RESERVED_INPUT
from .error_handlers import parse_error_handlers
from .labels import join_label, key_problem
from .model_inputs import has_model
from .names import name_problem, storable
from .outputs import has_extras
from .spec import Leaf, Namespace, SocketSpec, input_specs, output_spec
from .typecheck import exact_type

__all__ = [
    "CalcFunctionDef",
    "CalcFunctionOptions",
    "GraphDef",
    "GraphOptions",
    "TaskDef",
    "TaskOptions",
    "check_options",
]


class _HandleOptions(TypedDict, total=False):
    name: str | None
    outputs: Namespace | Sequence[str] | None


class TaskOptions(_HandleOptions, total=False):
    """The keyword options of ``@task(...)`` (documented there), passed on to
    :class:`TaskDef`, whose signature has their defaults."""

    retries: int
    retry_on: type[BaseException] | tuple[type[BaseException], ...]
    backoff: float
    timeout: float | None
    error_handlers: Mapping[str, Any] | None
    cache: bool | None
    version: str | int | None
    executor: str | None


class CalcFunctionOptions(TaskOptions, total=False):
    """``@task.calcfunction(...)``: the ``@task`` options, ``inputs=namespace(...)`` (specs
    of the function's parameters) and WorkGraph's ``catalog`` (a GUI group, kept unused)."""

    inputs: Namespace | None
    catalog: str | None


class GraphOptions(_HandleOptions, total=False):
    """The keyword options of ``@task.graph(...)``, passed on to :class:`GraphHandle`, whose
    signature has their defaults."""

    max_depth: int
    max_number_jobs: int | None
    error_handlers: Mapping[str, Any] | None


def check_options(where: str, options: Mapping[str, Any], known: frozenset[str]) -> None:
    """Fail at decoration time, naming it, on an option ``where`` does not have."""
    unknown = [key for key in options if key not in known]
    if unknown:
        raise TypeError(
            f"{where} got an unexpected keyword argument {unknown[0]!r} "
            f"(its options: {', '.join(sorted(known))})"
        )


def _check_function(func: Any) -> None:
    """Refuse, at decoration, what would run wrongly: a task is a plain function (or a bound
    method), named and with source, so its runs have a process type, a cache key and a code
    digest; a generator function would "finish" without its body running."""
    if isinstance(func, functools.partial) or (
        callable(func)
        and not inspect.isfunction(func)
        and not inspect.ismethod(func)
        and not inspect.isbuiltin(func)
    ):
        raise TypeError(
            f"@task needs a function, not {type(func).__qualname__} {func!r}: a partial or a "
            f"callable object has no name or source to record; wrap the call in a def"
        )
    if inspect.isgeneratorfunction(func):
        raise TypeError(
            f"task '{func.__name__}' ({func.__module__}.{func.__qualname__}) is a generator "
            f"function: calling it would only make a generator, not run its body. Return a "
            f"list (e.g. list(...) of what it yields) instead"
        )


class TaskDef:
    """A function turned into a task definition: its validated options and socket specs.
    The callable handles users get (``ferroflow.task.TaskHandle``) add calling and building."""

    is_graph = False
    #: True for a control-flow zone's task (:mod:`ferroflow.model.zones`)
    is_zone = False
    #: True when the task needs the general runner (retries or a timeout): no fast lane
    needs_runner = False
    #: True for an ``async def`` function: awaited on the run's event loop
    #: (``executors/coroutines.py``)
    is_async = False

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        outputs: Namespace | Sequence[str] | None = None,
        retries: int = 0,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
        backoff: float = 0.0,
        timeout: float | None = None,
        error_handlers: Mapping[str, Any] | None = None,
        cache: bool | None = None,
        version: str | int | None = None,
        inputs: Namespace | None = None,
        executor: str | None = None,
    ) -> None:
        _check_function(func)
        self.func = func
        #: what the backends call with the keyword arguments: the function, or for a
        #: calcfunction the wrapper that hands it data nodes (:mod:`.calcfunction`)
        self.call: Callable[..., Any] = func
        problem = None if name is None else name_problem(name)
        if problem is not None:
            raise ValueError(f"task {func.__name__!r}: name {problem}")
        self.name = name or func.__name__
        label = f"task '{self.name}'"
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"{label}: retries must be an int >= 0, got {retries!r}")
        on = retry_on if isinstance(retry_on, tuple) else (retry_on,)
        if not on or not all(isinstance(e, type) and issubclass(e, BaseException) for e in on):
            raise TypeError(
                f"{label}: retry_on must be an exception class or a tuple of them, got {retry_on!r}"
            )
        if not isinstance(backoff, (int, float)) or backoff < 0:
            raise ValueError(f"{label}: backoff must be a number of seconds >= 0, got {backoff!r}")
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
            raise ValueError(f"{label}: timeout must be a number of seconds > 0, got {timeout!r}")
        #: how many times a failed call is retried (so at most ``retries + 1`` attempts)
        self.retries = retries
        #: the exceptions that are retried; others fail the task at once
        self.retry_on: tuple[type[BaseException], ...] = on
        #: seconds to wait between attempts
        self.backoff = float(backoff)
        #: seconds one attempt may run before it fails with TaskTimeoutError
        self.timeout: float | None = None if timeout is None else float(timeout)
        #: error handlers that may change the inputs before another attempt
        self.error_handlers = parse_error_handlers(label, error_handlers)
        if cache is not None and not isinstance(cache, bool):
            raise TypeError(f"{label}: cache must be True, False or None, got {cache!r}")
        #: True: always reuse a stored result with the same cache key; False: never (e.g. a
        #: task that reads a clock or a random source); None: as the run says (run(cache=...))
        self.cache = cache
        if version is not None and not isinstance(version, (str, int)):
            raise TypeError(f"{label}: version must be a str or int, got {version!r}")
        #: replaces the source text in the cache key (bump it when a helper the task calls
        #: changed, or keep it when only comments changed)
        self.version = version
        if executor is not None and (not isinstance(executor, str) or not executor.strip()):
            raise TypeError(f"{label}: executor must be an executor's name, got {executor!r}")
        #: the executor its calls run on (a name of the profile's executors, "local",
        #: "processes", a Dask address); None: the run's (executors/routing.py)
        self.executor = executor
        self.needs_runner = (
            retries > 0 or timeout is not None or bool(self.error_handlers) or cache is True
        )
        if inspect.isasyncgenfunction(func):
            raise TypeError(f"{label}: an async generator function cannot be a task")
        if inspect.iscoroutinefunction(func):
            self.is_async = True
            self.needs_runner = True  # never the fast lane, which calls functions in Rust
        specs, self.var_kw = input_specs(func)
        self.inputs: dict[str, SocketSpec] = InputSpecs(specs)
        #: keys a call's ``metadata=`` may have beside WorkGraph's call_link_label, label and
        #: description (a python job's scheduler ``options``)
        self.metadata_keys: tuple[str, ...] = ()
        if inputs is not None:
            self.inputs.update(_inputs_option(label, inputs, self.inputs, self.var_kw))
        if RESERVED_INPUT in self.inputs:
            raise ValueError(
                f"{label} ({func.__module__}.{func.__qualname__}): an input named "
                f"'{RESERVED_INPUT}' is reserved: every task call takes metadata={{"
                f"'call_link_label': ..., 'label': ..., 'description': ...}}. Rename the "
                f"parameter (e.g. task_metadata)"
            )
        self.outputs: Namespace = (
            output_spec(func) if outputs is None else _outputs_option(label, outputs)
        )
        #: inputs declared with a dataclass / pydantic model: the call rebuilds an instance
        self.model_inputs: dict[str, SocketSpec] = {
            key: spec for key, spec in self.inputs.items() if has_model(spec)
        }
        #: whether an output declares ``meta(extras=...)``, set on its node when it finished
        self.output_extras = has_extras(self.outputs)
        self.process_type = f"{func.__module__}.{func.__qualname__}"
        if not (storable(self.name) and storable(self.process_type)):  # (the store's type)
            raise ValueError(
                f"task {self.name!r} ({self.process_type!r}): the function's name or module "
                "contains a lone surrogate, which the store cannot keep (it keeps UTF-8)"
            )
        # The common case "one leaf output": the engine wraps the return value directly.
        fields = self.outputs.fields
        only = next(iter(fields), None)
        self.single_output: str | None = (
            only
            if only is not None
            and len(fields) == 1
            and self.outputs.dynamic is None
            and isinstance(fields[only], Leaf)
            else None
        )
        #: the run-time type checks' fast path (:mod:`.typecheck`): the class whose exact
        #: instances fit the single output (None: no check) and each leaf input
        single = fields[self.single_output] if self.single_output is not None else None
        self.fast_out_type = exact_type(single.type) if isinstance(single, Leaf) else None
        self.fast_in_types: dict[str, type] = {}
        for key, spec in self.inputs.items():
            wanted = exact_type(spec.type) if isinstance(spec, Leaf) else None
            if wanted is not None and key != self.var_kw:
                self.fast_in_types[key] = wanted
        #: whether its calls may take the core's fast lane (called in Rust, provenance queued
        #: as one entry): one leaf output, no ``**kwargs``, nothing the general runner adds
        #: (retries, timeout, handlers, caching, a coroutine), not a graph
        self.fast_ok = (
            self.single_output is not None
            and not self.is_graph
            and self.var_kw is None
            and not self.needs_runner
            and not self.model_inputs  # the lane passes stored values as they are
            and not self.output_extras  # the lane's queued entry has no place for extras
            and self.executor is None  # the lane calls functions in this process
            # the lane stores argument names as link labels as they are
            and all(join_label((name,)) == name for name in (*self.inputs, self.single_output))
        )
        functools.update_wrapper(cast(Any, self), func)  # name, doc, module of the function

    def __repr__(self) -> str:
        kind = "GraphHandle" if self.is_graph else "TaskHandle"
        return f"<{kind} {self.name}>"


def _outputs_option(label: str, outputs: Namespace | Sequence[str]) -> Namespace:
    """``outputs=namespace(...)``, or WorkGraph's ``outputs=["sum", "difference"]`` (the same
    as ``namespace(sum=Any, difference=Any)``)."""
    if isinstance(outputs, Namespace):
        return outputs
    if isinstance(outputs, (list, tuple)) and all(isinstance(o, str) and o for o in outputs):
        problem = next(filter(None, map(key_problem, outputs)), None)
        if problem is not None:
            raise ValueError(f"{label}: outputs: {problem}")
        if len(set(outputs)) != len(outputs):
            raise ValueError(f"{label}: outputs names a socket twice: {list(outputs)}")
        return Namespace({name: Leaf(Any) for name in outputs})
    raise TypeError(
        f"{label}: outputs must be a namespace(...) or a list of output names, got {outputs!r}"
    )


def _inputs_option(
    label: str, inputs: Namespace, specs: dict[str, SocketSpec], var_kw: str | None
) -> dict[str, SocketSpec]:
    """``inputs=namespace(x=int, ...)``: declared specs for parameters of the function (their
    types, a namespace); a name the function has no parameter for is refused."""
    if not isinstance(inputs, Namespace):
        raise TypeError(f"{label}: inputs must be a namespace(...), got {inputs!r}")
    unknown = [name for name in inputs.fields if name not in specs or name == var_kw]
    if unknown:
        raise TypeError(
            f"{label}: inputs declares '{unknown[0]}', which is no parameter of the function "
            f"(its parameters: {', '.join(n for n in specs if n != var_kw) or '<none>'})"
        )
    return dict(inputs.fields)


class InputSpecs(dict[str, SocketSpec]):
    """A task's input sockets by name, also as attributes (``add.inputs.x``), as WorkGraph
    scripts reuse them: ``Annotated[dict, add.inputs.metadata]`` is the namespace every call's
    ``metadata=`` is."""

    def __getattr__(self, name: str) -> SocketSpec:
        if name in self:
            return self[name]
        if name == RESERVED_INPUT:
            return Namespace({}, Leaf())
        raise AttributeError(f"no input '{name}'; inputs: {', '.join(self) or '<none>'}")


class CalcFunctionDef(TaskDef):
    """A ``@task.calcfunction`` function's definition: as ``@task``, but its body receives
    data nodes and may return them (:class:`~.calcfunction.CalcFunctionCall`)."""

    def __init__(
        self, func: Callable[..., Any], *, catalog: str | None = None, **options: Any
    ) -> None:
        super().__init__(func, **options)
        if catalog is not None and not isinstance(catalog, str):
            raise TypeError(f"task '{self.name}': catalog must be a str, got {catalog!r}")
        #: WorkGraph's palette group for the GUI; kept, not used
        self.catalog = catalog
        spread = self.inputs.get(self.var_kw) if self.var_kw is not None else None
        self.call = CalcFunctionCall(
            func,
            {name: shape_of(spec) for name, spec in self.inputs.items() if name != self.var_kw},
            shape_of(spread),
        )
        self.fast_ok = False  # the fast lane calls the function with plain values


class GraphDef(TaskDef):
    """A ``@task.graph`` function's definition: its body only wires tasks together."""

    is_graph = True

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        outputs: Namespace | Sequence[str] | None = None,
        max_depth: int = 100,
        max_number_jobs: int | None = None,
        error_handlers: Mapping[str, Any] | None = None,
    ) -> None:
        if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(
                f"@task.graph '{name or func.__name__}' ({func.__module__}.{func.__qualname__}) "
                f"is an async function: a graph body only wires tasks together and runs "
                f"synchronously. Make it a plain def and await in @task async def tasks."
            )
        super().__init__(func, name=name, outputs=outputs)
        self.max_depth = max_depth
        self.max_number_jobs = max_number_jobs
        #: handlers for the tasks of this graph's body (each names the tasks it serves)
        self.child_error_handlers = parse_error_handlers(
            f"@task.graph '{self.name}'", error_handlers, for_graph=True
        )
        #: names of those handlers already warned about for naming no task of the body
        self.warned_handlers: set[str] = set()

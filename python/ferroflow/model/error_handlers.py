"""WorkGraph-style error handlers: change a task's inputs, then try it again.

``@task(error_handlers={"name": {"handler": fn, "exceptions": (E, ...), "max_retries": n,
"kwargs": {...}}})``. WorkGraph fires handlers on non-zero exit codes; a ferroflow task fails by
raising, so a handler matches **exception classes** instead (default: any ``Exception``).
WorkGraph's key for the function, ``"executor"``, is accepted as a synonym of ``"handler"``.

When an attempt raises, the handlers are tried in the order given: the first whose exceptions
match and that has been used fewer than its ``max_retries`` times is called as
``fn(error, inputs, **kwargs)``, where ``inputs`` maps the task's input names to their current
plain values. It returns a dict of inputs to change (``{}`` to try again unchanged), or
``None`` when it cannot help; then the next matching handler is asked, and after them the plain
``retries=`` of the task. Changed values become new data nodes, linked to the next attempt under
their socket names, so the provenance shows exactly what each attempt received.

**Graph level** (WorkGraph's ``WorkGraph(error_handlers=...)``): ``@task.graph(error_handlers=
{"name": {"tasks": ["square", "fetch*"], "handler": fn, ...}})`` serves the tasks of the
graph's body whose task name (``square1``) or function name (``square``) matches one of
``tasks`` (shell patterns allowed), after their own handlers. They are resolved per task when
the body has run (:func:`apply_graph_handlers`), so they hold for each expansion of a nested
graph too, and a task with one always takes the general runner.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

__all__ = ["ErrorHandler", "parse_error_handlers"]

_KEYS = {"handler", "executor", "exceptions", "max_retries", "kwargs"}


class ErrorHandler(NamedTuple):
    name: str
    handler: Callable[..., Mapping[str, Any] | None]
    exceptions: tuple[type[BaseException], ...]
    max_retries: int
    kwargs: dict[str, Any]
    #: graph-level handlers: patterns of the task names (or function names) they serve
    tasks: tuple[str, ...] = ()


def parse_error_handlers(
    label: str, spec: Mapping[str, Any] | None, for_graph: bool = False
) -> tuple[ErrorHandler, ...]:
    """Validate ``error_handlers=`` of ``label`` (``task 'name'``) at decoration time. A
    graph's handlers (``for_graph``) also need ``"tasks"``: the tasks of its body they serve."""
    if spec is None:
        return ()
    if not isinstance(spec, Mapping):
        raise TypeError(f"{label}: error_handlers must be a dict of name -> settings, got {spec!r}")
    keys = _KEYS | {"tasks"} if for_graph else _KEYS
    found: list[ErrorHandler] = []
    for name, entry in spec.items():
        where = f"{label}: error handler '{name}'"
        if not isinstance(entry, Mapping):
            raise TypeError(f"{where}: settings must be a dict, got {entry!r}")
        unknown = set(entry) - keys
        if unknown:
            hint = " ('tasks' is for @task.graph handlers)" if "tasks" in unknown else ""
            raise TypeError(
                f"{where}: unknown setting(s) {sorted(unknown)}; expected {sorted(keys)}{hint}"
            )
        tasks: tuple[str, ...] = ()
        if for_graph:
            raw = entry.get("tasks")
            tasks = (raw,) if isinstance(raw, str) else tuple(raw or ())
            if not tasks or not all(isinstance(t, str) and t for t in tasks):
                raise TypeError(
                    f"{where}: 'tasks' must name the tasks of the graph it serves (names or "
                    f"patterns like 'fetch*'), got {raw!r}"
                )
        fn = entry.get("handler", entry.get("executor"))
        if not callable(fn):
            raise TypeError(f"{where}: 'handler' must be a function, got {fn!r}")
        exceptions = entry.get("exceptions", Exception)
        exceptions = exceptions if isinstance(exceptions, tuple) else (exceptions,)
        if not exceptions or not all(
            isinstance(e, type) and issubclass(e, BaseException) for e in exceptions
        ):
            raise TypeError(
                f"{where}: 'exceptions' must be an exception class or a tuple of them, "
                f"got {entry.get('exceptions')!r}"
            )
        max_retries = entry.get("max_retries", 1)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 1:
            raise ValueError(f"{where}: 'max_retries' must be an int >= 1, got {max_retries!r}")
        kwargs = entry.get("kwargs", {})
        if not isinstance(kwargs, Mapping):
            raise TypeError(f"{where}: 'kwargs' must be a dict, got {kwargs!r}")
        found.append(ErrorHandler(str(name), fn, exceptions, max_retries, dict(kwargs), tasks))
    return tuple(found)

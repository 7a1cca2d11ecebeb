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


def parse_error_handlers(label: str, spec: Mapping[str, Any] | None) -> tuple[ErrorHandler, ...]:
    """Validate ``error_handlers=`` of ``label`` (``task 'name'``) at decoration time."""
    if spec is None:
        return ()
    if not isinstance(spec, Mapping):
        raise TypeError(f"{label}: error_handlers must be a dict of name -> settings, got {spec!r}")
    found: list[ErrorHandler] = []
    for name, entry in spec.items():
        where = f"{label}: error handler '{name}'"
        if not isinstance(entry, Mapping):
            raise TypeError(f"{where}: settings must be a dict, got {entry!r}")
        unknown = set(entry) - _KEYS
        if unknown:
            raise TypeError(
                f"{where}: unknown setting(s) {sorted(unknown)}; expected {sorted(_KEYS)}"
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
        found.append(ErrorHandler(str(name), fn, exceptions, max_retries, dict(kwargs)))
    return tuple(found)

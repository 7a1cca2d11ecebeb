"""Where a run's task functions execute: this process's worker threads, a pool of local
worker processes, or a Dask cluster.

``wg.run(executor=...)`` takes

* ``"local"``: the local pool of worker threads;
* ``"processes"``: a pool of local worker processes, one per core (:mod:`.processes`), for
  pure-Python task bodies that the GIL would serialise; ``"processes?processes=4"`` sets the
  number (or a :class:`ProcessExecutor`);
* a ``distributed.Client``: that client's cluster;
* a scheduler address, ``"tcp://host:8786"``: a client connected to it (made once per process);
  options may follow as a query, ``"tcp://host:8786?chunk_size=64"``;
* a :class:`DaskExecutor`, for options in code (``DaskExecutor(client, chunk_size=64)``);
* the name of one of the profile's executors (``ferroflow executors add NAME SPEC`` stores
  one of the strings above under a name).

``executor=None`` (the default) takes ``$FERROFLOW_EXECUTOR`` if set, else the profile's
``executor`` setting (``profile.configure(executor="processes")``), else ``"local"``: so a
script moves to a cluster without changing a line. ``@task(executor=NAME)`` sends one task's
calls elsewhere than the run's default; one run may use several executors (:mod:`.routing`).

Only :mod:`.dask` needs the optional ``distributed`` package (``pip install 'ferroflow[dask]'``);
it is imported when a Dask executor is first asked for, never for local runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from ..engine.execution import Executor, Executors
from ..errors import UnknownExecutorError
from .coroutines import AsyncExecutor
from .local import LocalExecutor
from .processes import ProcessExecutor
from .routing import RoutedExecutor

if TYPE_CHECKING:
    from ..model.taskdef import TaskDef

# (DaskExecutor is imported on first use, so star-imports need no 'distributed')
__all__ = [
    "ENV",
    "LOCAL",
    "PROCESSES",
    "ProcessExecutor",
    "check_executor_text",
    "executors_for",
    "parse_spec",
    "resolve_executor",
]

#: The environment variable naming the default executor.
ENV = "FERROFLOW_EXECUTOR"
LOCAL = "local"
PROCESSES = "processes"
#: the options each kind of executor takes in its query string
_OPTIONS = {LOCAL: set(), PROCESSES: {"processes"}, "dask": {"chunk_size", "inline_limit"}}


def __getattr__(name: str) -> Any:
    if name == "DaskExecutor":
        from .dask import DaskExecutor

        return DaskExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse_spec(text: str, where: str) -> tuple[str, str, dict[str, int]]:
    """``(kind, address, options)`` of an executor string: kind ``"local"``, ``"processes"``
    or ``"dask"`` (then ``address`` is the scheduler's)."""
    address, _, query = text.strip().partition("?")
    kind = address.lower() if address.lower() in (LOCAL, PROCESSES) else "dask"
    if kind == "dask" and "://" not in address and ":" not in address:
        raise ValueError(
            f"{where}: expected 'local', 'processes', a Dask scheduler address such as "
            f"'tcp://host:8786' or the name of one of the profile's executors "
            f"(ferroflow executors list), not {text!r}"
        )
    options: dict[str, int] = {}
    try:
        pairs = parse_qsl(query, strict_parsing=True) if query else []
    except ValueError:
        raise ValueError(f"{where}: cannot read the options {query!r} of {text!r}") from None
    known = _OPTIONS[kind]
    for key, value in pairs:
        if key not in known:
            raise ValueError(
                f"{where}: unknown option {key!r} in {text!r}; known: "
                f"{', '.join(sorted(known)) or 'none'}"
            )
        try:
            options[key] = int(value)
        except ValueError:
            raise ValueError(f"{where}: option {key!r} must be an integer, not {value!r}") from None
    return kind, address, options


def check_executor_text(text: object, where: str, names: Iterable[str] = ()) -> None:
    """Raise ``ValueError`` unless ``text`` is an executor string or one of ``names``."""
    if not isinstance(text, str):
        raise ValueError(f"{where}: 'executor' must be a string, not {text!r}")
    if text in names:
        return
    kind, _, _ = parse_spec(text, where)
    if kind == PROCESSES:  # (a Dask address is only read: checking it would connect)
        _make(text, where)


def _make(text: str, where: str) -> Executor:
    kind, address, options = parse_spec(text, where)
    if kind == LOCAL:
        return LocalExecutor()
    if kind == PROCESSES:
        try:
            return ProcessExecutor(options.get("processes"))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    from .dask import DaskExecutor

    return DaskExecutor(address, **options)


def _lookup(named: Mapping[str, str]) -> Any:
    """The executor of a name a task gives: the profile's, else an executor string."""

    def lookup(name: str) -> Executor:
        if name in named:
            return _make(named[name], f"the profile's executor '{name}'")
        try:
            return _make(name, f"executor {name!r}")
        except ValueError:
            raise UnknownExecutorError(
                f"no executor named {name!r}: the profile's executors are "
                f"{', '.join(sorted(named)) or 'none'} (ferroflow executors add {name} SPEC), "
                f"beside 'local', 'processes' and Dask addresses"
            ) from None

    return lookup


def resolve_executor(
    executor: Any, profile_setting: str | None = None, named: Mapping[str, str] | None = None
) -> tuple[str, Executor]:
    """The executor a run uses by default and the name it is recorded under.

    ``executor`` is what ``run()`` was given; None falls back to ``$FERROFLOW_EXECUTOR``, then
    to ``profile_setting`` (the profile's ``executor``), then to the local pool. A string may
    name one of ``named`` (the profile's executors: name -> executor string).
    """
    named = named or {}
    where = "run(executor=...)"
    if executor is None:
        env = os.environ.get(ENV, "").strip()
        if env:
            executor, where = env, f"${ENV}"
        elif profile_setting:
            executor, where = profile_setting, "the profile's 'executor' setting"
        else:
            return LOCAL, LocalExecutor()
    if isinstance(executor, str):
        if executor in named:
            return executor, _make(named[executor], f"the profile's executor '{executor}'")
        return executor.strip(), _make(executor, where)
    if isinstance(executor, (LocalExecutor, ProcessExecutor)):
        return (LOCAL if isinstance(executor, LocalExecutor) else PROCESSES), executor
    if "distributed" in sys.modules or type(executor).__module__.startswith("ferroflow."):
        from .dask import DaskExecutor

        if isinstance(executor, DaskExecutor):
            return "dask", executor
        import distributed

        if isinstance(executor, distributed.Client):
            return "dask", DaskExecutor(executor)
    raise TypeError(
        f"{where}: expected 'local', 'processes', a Dask scheduler address, the name of one of "
        f"the profile's executors, a distributed.Client, a DaskExecutor or a ProcessExecutor, "
        f"not {type(executor).__qualname__}"
    )


def executors_for(
    executor: Any,
    profile_setting: str | None = None,
    named: Mapping[str, str] | None = None,
    handles: Iterable[TaskDef] = (),
) -> Executors:
    """A run's executors: sync functions where :func:`resolve_executor` says, or where each
    of ``handles`` (the definitions of the graph's tasks) names; ``async def`` functions on the
    run's event loop."""
    name, default = resolve_executor(executor, profile_setting, named)
    routed = any(getattr(h, "executor", None) for h in handles)
    lookup = _lookup(named or {})
    if isinstance(default, LocalExecutor) and not routed:  # the plain local run: fast lane on
        return Executors(RoutedExecutor(name, default, lookup, record_all=False), AsyncExecutor())
    return Executors(LocalExecutor(), AsyncExecutor(), RoutedExecutor(name, default, lookup))

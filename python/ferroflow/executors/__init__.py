"""Where a run's task functions execute: this process's worker threads, or a Dask cluster.

``wg.run(executor=...)`` takes

* ``"local"``: the local pool of worker threads;
* a ``distributed.Client``: that client's cluster;
* a scheduler address, ``"tcp://host:8786"``: a client connected to it (made once per process);
  options may follow as a query, ``"tcp://host:8786?chunk_size=64"``;
* a :class:`DaskExecutor`, for options in code (``DaskExecutor(client, chunk_size=64)``).

``executor=None`` (the default) takes ``$FERROFLOW_EXECUTOR`` if set, else the profile's
``executor`` setting (``profile.configure(executor="tcp://host:8786")``), else ``"local"``: so a
script moves to a cluster without changing a line.

Only :mod:`.dask` needs the optional ``distributed`` package (``pip install 'ferroflow[dask]'``);
it is imported when a Dask executor is first asked for, never for local runs.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from ..engine.execution import Executors
from .coroutines import AsyncExecutor
from .local import LocalExecutor

if TYPE_CHECKING:
    from .dask import DaskExecutor

# (DaskExecutor is imported on first use, so star-imports need no 'distributed')
__all__ = ["ENV", "LOCAL", "check_executor_text", "executors_for", "resolve_executor"]

#: The environment variable naming the default executor.
ENV = "FERROFLOW_EXECUTOR"
LOCAL = "local"
_OPTIONS = {"chunk_size", "inline_limit"}


def __getattr__(name: str) -> Any:
    if name == "DaskExecutor":
        from .dask import DaskExecutor

        return DaskExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _parse(text: str, where: str) -> tuple[str, dict[str, int]] | None:
    """``(address, options)`` of an executor string, or None for ``"local"``."""
    text = text.strip()
    if text.lower() == LOCAL:
        return None
    address, _, query = text.partition("?")
    if not address:
        raise ValueError(
            f"{where}: expected 'local' or a Dask scheduler address such as "
            f"'tcp://host:8786', not {text!r}"
        )
    options: dict[str, int] = {}
    try:
        pairs = parse_qsl(query, strict_parsing=True) if query else []
    except ValueError:
        raise ValueError(f"{where}: cannot read the options {query!r} of {text!r}") from None
    for key, value in pairs:
        if key not in _OPTIONS:
            raise ValueError(
                f"{where}: unknown option {key!r} in {text!r}; known: {', '.join(sorted(_OPTIONS))}"
            )
        try:
            options[key] = int(value)
        except ValueError:
            raise ValueError(f"{where}: option {key!r} must be an integer, not {value!r}") from None
    return address, options


def check_executor_text(text: object, where: str) -> None:
    """Raise ``ValueError`` unless ``text`` is an executor string (for settings files)."""
    if not isinstance(text, str):
        raise ValueError(f"{where}: 'executor' must be a string, not {text!r}")
    _parse(text, where)


def resolve_executor(executor: Any, profile_setting: str | None = None) -> DaskExecutor | None:
    """The executor a run uses: a :class:`DaskExecutor`, or None for the local pool.

    ``executor`` is what ``run()`` was given; None falls back to ``$FERROFLOW_EXECUTOR``, then
    to ``profile_setting`` (the profile's ``executor``), then to the local pool.
    """
    where = "run(executor=...)"
    if executor is None:
        env = os.environ.get(ENV, "").strip()
        if env:
            executor, where = env, f"${ENV}"
        elif profile_setting:
            executor, where = profile_setting, "the profile's 'executor' setting"
        else:
            return None
    if isinstance(executor, str):
        parsed = _parse(executor, where)
        if parsed is None:
            return None
        from .dask import DaskExecutor

        address, options = parsed
        return DaskExecutor(address, **options)
    if "distributed" in sys.modules or type(executor).__module__.startswith("ferroflow."):
        from .dask import DaskExecutor

        if isinstance(executor, DaskExecutor):
            return executor
        import distributed

        if isinstance(executor, distributed.Client):
            return DaskExecutor(executor)
    raise TypeError(
        f"{where}: expected 'local', a Dask scheduler address, a distributed.Client or a "
        f"DaskExecutor, not {type(executor).__qualname__}"
    )


def executors_for(executor: Any, profile_setting: str | None = None) -> Executors:
    """A run's executors: sync functions locally or on the cluster :func:`resolve_executor`
    picks, ``async def`` functions on the run's event loop in this process."""
    return Executors(LocalExecutor(), AsyncExecutor(), resolve_executor(executor, profile_setting))

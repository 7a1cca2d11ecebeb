"""``@task.monitor``: a predicate polled until it holds, as WorkGraph's monitors are.

A monitor waits for something outside the graph (a time, a file, another run's task) and is
used for ordering: ``monitor_file(path) >> analyse(...)``. Its task calls the predicate with its
inputs until it returns something truthy (that value is its ``result``), sleeping ``interval``
seconds between calls, and fails with :class:`TimeoutError` after ``timeout`` seconds. The
wrapper is an ``async def``, so the task waits on the run's event loop with ``asyncio.sleep``:
it never holds a worker thread while it waits, and other tasks keep running. A predicate may be
``async def`` too. Monitors are never cached: what they watch changes.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Callable
from typing import Any

from .own_inputs import with_own_inputs

__all__ = ["DEFAULT_INTERVAL", "DEFAULT_TIMEOUT", "monitoring"]

#: WorkGraph's defaults: seconds between two calls of the predicate, and before giving up
DEFAULT_INTERVAL = 5.0
DEFAULT_TIMEOUT = 3600.0
_EXTRA = ("interval", "timeout")


def monitoring(predicate: Callable[..., Any], label: str) -> Callable[..., Any]:
    """The ``async`` task function polling ``predicate``: its parameters plus ``interval`` and
    ``timeout`` (keyword, with WorkGraph's defaults)."""
    signature = inspect.signature(predicate)
    taken = [name for name in _EXTRA if name in signature.parameters]
    if taken:
        raise TypeError(
            f"@task.monitor '{label}': the parameter(s) {', '.join(taken)} are the monitor's "
            f"own (seconds between checks, and before giving up); rename them"
        )
    is_async = inspect.iscoroutinefunction(predicate)

    @functools.wraps(predicate)
    async def poll(*args: Any, **kwargs: Any) -> Any:
        interval = float(kwargs.pop("interval", DEFAULT_INTERVAL))
        timeout = float(kwargs.pop("timeout", DEFAULT_TIMEOUT))
        deadline = time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        check = functools.partial(predicate, *args, **kwargs)
        while True:
            # a sync check runs on a helper thread: a slow one (a file system, a database)
            # must not stall the loop every async task of the run shares
            found = await check() if is_async else await loop.run_in_executor(None, check)
            if found:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"monitor '{label}' did not see its condition within {timeout:g} s"
                )
            await asyncio.sleep(min(interval, left))

    own = {"interval": (float, DEFAULT_INTERVAL), "timeout": (float, DEFAULT_TIMEOUT)}
    return with_own_inputs(poll, predicate, own, "monitor")

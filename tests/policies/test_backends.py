"""The ``backend`` fixture itself: each backend runs the tasks where it says, and the sync and
async flow modules define the same tasks (a suite passing on one and not the other must mean
the backends differ, not the tasks)."""

from __future__ import annotations

import inspect
import os
from typing import Any

from ferroflow import task
from ferroflow.task import TaskHandle

from policies import async_flows, flows
from policies.backends import Backend


def _handles(module: Any) -> dict[str, TaskHandle]:
    return {
        name: obj
        for name, obj in vars(module).items()
        if isinstance(obj, TaskHandle) and obj.func.__module__ == module.__name__
    }


def _options(handle: TaskHandle) -> tuple[Any, ...]:
    handlers = [
        (h.name, h.handler, h.exceptions, h.max_retries, h.kwargs) for h in handle.error_handlers
    ]
    return (
        handle.name,
        handle.retries,
        handle.retry_on,
        handle.backoff,
        handle.timeout,
        handlers,
        list(handle.inputs),
        handle.outputs,
        handle.func.__qualname__,
    )


def test_the_sync_and_async_flows_define_the_same_tasks() -> None:
    sync, coroutines = _handles(flows), _handles(async_flows)
    assert sync and sorted(sync) == sorted(coroutines)
    for name, handle in sync.items():
        other = coroutines[name]
        assert not handle.is_async and other.is_async, name
        assert inspect.iscoroutinefunction(other.func), name
        assert _options(handle) == _options(other), name


def test_each_backend_runs_the_tasks_where_it_says(backend: Backend) -> None:
    f = backend.flows

    @task.graph
    def g() -> Any:
        return f.where(x=1).result

    wg = g.build()
    backend.run(wg)
    pid, _, thread = wg.outputs.result.value.value.partition(":")
    on_this_process = int(pid) == os.getpid()
    assert on_this_process == (backend.name not in ("dask", "processes"))
    assert (thread == "ferroflow-async") == (backend.name == "async")
    assert (wg.tasks.where.node.fast_box is not None) == (backend.name == "fast")
    assert wg.tasks.where.node.handle is f.where

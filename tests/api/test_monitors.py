"""``@task.monitor`` (F8): a predicate polled until it holds, ordering what comes after it,
waiting on the event loop without holding a worker thread; WorkGraph's built-in monitors."""

from __future__ import annotations

import asyncio
import datetime
import os
from pathlib import Path
from typing import Any

import pytest
from ferroflow import WorkGraph, get_current_profile, group, task
from ferroflow.tasks.monitors import monitor_file, monitor_task, monitor_time

CALLS: list[str] = []


@task.monitor
def file_appears(filepath: str) -> bool:
    CALLS.append(filepath)
    Path(filepath + ".polled").touch()  # the monitor is waiting
    return os.path.exists(filepath)


@task.monitor
async def async_file_appears(filepath: str) -> Any:
    return os.path.exists(filepath) and Path(filepath).read_text()


@task
def write_file(filepath: str, content: Any) -> Any:
    Path(filepath).write_text(str(content))
    return content


@task
async def polled(filepath: str) -> bool:
    """True once the monitor has looked for ``filepath`` (waits on the event loop)."""
    for _ in range(1000):
        if os.path.exists(filepath + ".polled"):
            return True
        await asyncio.sleep(0.01)
    raise TimeoutError("the monitor never looked")


@task
def add(x: int, y: int) -> int:
    return x + y


def _times(wg: WorkGraph, name: str) -> tuple[float, float]:
    node = get_current_profile().store.load_node(wg.tasks[name].pk)
    return node.ctime, node.mtime


def test_a_monitor_waits_without_holding_the_only_worker_thread(tmp_path: Path) -> None:
    # One worker thread, and the file is written (on that thread) only once the monitor has
    # looked for it: if the waiting monitor held the thread, the writer could never run.
    target = str(tmp_path / "flag.txt")
    CALLS.clear()

    @task.graph
    def wait_for_file(filepath: str) -> int:
        write_file(filepath=filepath, content=polled(filepath=filepath).result)
        file_appears(filepath, interval=0.05, timeout=20) >> (the_sum := add(x=1, y=2).result)
        return the_sum

    wg = wait_for_file.build(filepath=target)
    wg.run(max_workers=1)
    assert wg.outputs.result.value == 3
    assert wg.tasks.file_appears.outputs.result.value.value is True
    assert CALLS and CALLS.count(target) == len(CALLS)  # polled until the file was there
    _, written = _times(wg, "write_file")
    _, seen = _times(wg, "file_appears")
    started, _ = _times(wg, "add")
    assert written <= seen <= started  # add waited for the monitor (>>), not the other way


def test_an_async_predicate_and_its_truthy_value_as_the_result(tmp_path: Path) -> None:
    target = tmp_path / "content.txt"
    target.write_text("hello")
    with WorkGraph("async_monitor") as wg:
        async_file_appears(filepath=str(target), interval=0.01)
    wg.run()
    assert wg.tasks.async_file_appears.outputs.result.value.value == "hello"


def test_a_monitor_that_never_sees_its_condition_times_out_and_skips_what_waits(
    tmp_path: Path,
) -> None:
    with WorkGraph("never") as wg:
        watcher = file_appears(filepath=str(tmp_path / "never.txt"), interval=0.02, timeout=0.2)
        watcher >> group(add(x=1, y=1))
    wg.run(raise_on_error=False)
    assert wg.tasks.file_appears.state == "FAILED"
    error = wg.tasks.file_appears.node.error
    assert isinstance(error, TimeoutError) and "within 0.2 s" in str(error)
    assert wg.tasks.add.state == "SKIPPED"


def test_monitor_parameters_of_its_own_are_refused() -> None:
    def clash(interval: int) -> bool:
        return True

    with pytest.raises(TypeError, match="interval are the monitor's own"):
        task.monitor(clash)


def test_the_built_in_monitors(tmp_path: Path) -> None:
    path = tmp_path / "there.txt"
    path.write_text("x")
    first = WorkGraph("first")
    first.add_task(add, name="target", x=1, y=2)
    first.run()
    moment = datetime.datetime.now() - datetime.timedelta(seconds=1)
    with WorkGraph("builtins") as wg:
        monitor_time(time=moment.isoformat(), interval=0.01)
        monitor_file(filepath=str(path), interval=0.01)
        monitor_task(task_name="target", workgraph_pk=first.pk, interval=0.01)
        monitor_task(task_name="target", workgraph_name="first", interval=0.01)
        monitor_task(task_name="missing", workgraph_name="first", interval=0.01, timeout=0.1)
    wg.run(raise_on_error=False)
    states = {t.name: t.state for t in wg.tasks}
    assert states == {
        "monitor_time": "FINISHED",
        "monitor_file": "FINISHED",
        "monitor_task": "FINISHED",
        "monitor_task1": "FINISHED",
        "monitor_task2": "FAILED",  # no such task: it timed out
    }
    assert not wg.tasks.monitor_time.node.cached_from  # monitors are never cached

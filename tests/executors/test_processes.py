"""The local process pool (``run(executor="processes")``) and several executors in one run
(``@task(executor=...)``, the profile's named executors), issue 19.

Task bodies run in worker processes; provenance stays here and must equal a local run's. A
worker that dies fails only its task; Ctrl-C and ``run(timeout=)`` stop the calls (the workers
running them are killed). Each task run records the executor that ran it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
from ferroflow import (
    RunCancelledError,
    RunTimeoutError,
    WorkflowFailedError,
    get_current_profile,
    load_node,
    task,
)
from ferroflow.errors import ProcessWorkerError, TaskTimeoutError, UnknownExecutorError
from ferroflow.executors import ProcessExecutor
from lane_flows import add, as_dict, as_node, fails_on_three, inc, split
from policies.backends import interrupt_when, when
from provenance_flows import run_provenance

# -- tasks -------------------------------------------------------------------------------------


@task
def whoami(x: int) -> int:
    return os.getpid()


@task(executor="procs")
def whoami_procs(x: int) -> int:
    return os.getpid()


@task(executor="cluster")
def whoami_cluster(x: int) -> int:
    return os.getpid()


@task(executor="nowhere")
def whoami_nowhere(x: int) -> int:
    return os.getpid()


@task
def total(**parts: int) -> int:
    return sum(parts.values())


@task
def crash_on_two(x: int) -> int:
    if x == 2:
        os._exit(3)
    return x * 10


@task
def sleep_here(path: str, seconds: float) -> int:
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)
    return 1


@task(timeout=0.5, retries=1)
def too_slow(path: str) -> int:
    with open(path, "a") as log:
        log.write(f"{os.getpid()}\n")
    time.sleep(30)
    return 1


@task.graph
def nested(x: int) -> Any:
    return inc(x=inc(x=x).result).result


@task.graph
def mixed(n: int) -> Any:
    """Single outputs, a dict and a data node returned, a namespace, a **kwargs gather, a
    nested graph task, constants and outputs as inputs."""
    acc = inc(x=0).result
    parts = {}
    for i in range(n):
        a = inc(x=i).result
        b = as_dict(x=a).result
        c = as_node(x=b).result
        halves = split(x=c)
        d = add(x=halves.lo, y=halves.hi).result
        parts[f"p{i}"] = nested(x=d).result
        acc = add(x=acc, y=parts[f"p{i}"]).result
    return total(**parts, acc=acc).result


@task.graph
def crashes(n: int) -> Any:
    outs = {f"x{i}": crash_on_two(x=i).result for i in range(n)}
    inc(x=outs["x2"])  # skipped: its input failed
    return total(**outs).result


@task.graph
def two_places(n: int) -> Any:
    here = {f"h{i}": whoami(x=i).result for i in range(n)}
    there = {f"p{i}": whoami_procs(x=i).result for i in range(n)}
    return total(**here, **there).result


def _executor_of(pk: int | None) -> Any:
    assert pk is not None
    get_current_profile().store.flush()
    return load_node(pk).base.extras.get("executor")


def _pids(wg: Any, prefix: str) -> set[int]:
    return {t.node.outputs["result"].value for t in wg.all_tasks() if t.name.startswith(prefix)}


# -- the pool ----------------------------------------------------------------------------------


def test_provenance_equals_a_local_run() -> None:
    local = mixed.build(3)
    local.run()
    pooled = mixed.build(3)
    pooled.run(executor="processes")
    assert pooled.state == local.state == "FINISHED"
    assert pooled.outputs.result.value == local.outputs.result.value
    assert local.pk is not None and pooled.pk is not None
    assert run_provenance(pooled.pk) == run_provenance(local.pk)
    # every calc task ran on the pool, and says so; the run records its default
    calcs = [t for t in pooled.all_tasks() if not t.node.handle.is_graph]
    assert calcs and all(_executor_of(t.node.pk) == "processes" for t in calcs)
    assert _executor_of(pooled.pk) == "processes"
    assert _executor_of(local.pk) is None, "a plain local run records nothing"


def test_bodies_run_in_worker_processes_chosen_by_env_and_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FERROFLOW_EXECUTOR", "processes")
    wg = two_places.build(3)
    get_current_profile().add_executor("procs", "processes?processes=2")
    wg.run()
    assert os.getpid() not in _pids(wg, "whoami"), "no body ran in this process"
    monkeypatch.delenv("FERROFLOW_EXECUTOR")
    get_current_profile().configure(executor="procs")  # a named executor as the default
    wg = two_places.build(2)
    wg.run()
    assert os.getpid() not in _pids(wg, "whoami")
    assert _executor_of(wg.pk) == "procs"


def test_a_worker_crash_fails_only_its_task() -> None:
    wg = crashes.build(5)
    with pytest.raises(WorkflowFailedError, match="crash_on_two2"):
        wg.run(executor=ProcessExecutor(2))
    tasks = {t.name: t for t in wg.all_tasks()}
    assert isinstance(tasks["crash_on_two2"].error, ProcessWorkerError)
    assert "exit code 3" in str(tasks["crash_on_two2"].error)
    assert tasks["crash_on_two2"].state == "FAILED"
    assert tasks["inc"].state == "SKIPPED"
    others = [tasks[f"crash_on_two{i}" if i else "crash_on_two"] for i in (0, 1, 3, 4)]
    assert [t.state for t in others] == ["FINISHED"] * 4
    assert [t.node.outputs["result"].value for t in others] == [0, 10, 30, 40]
    # the pool replaced the worker: the next run on it finishes
    again = mixed.build(2)
    again.run(executor=ProcessExecutor(2))
    assert again.state == "FINISHED"


def test_a_failure_comes_back_with_its_traceback() -> None:
    @task.graph
    def g() -> Any:
        return fails_on_three(x=3).result

    wg = g.build()
    with pytest.raises(WorkflowFailedError, match="three is bad"):
        wg.run(executor="processes")
    (t,) = wg.all_tasks()
    assert isinstance(t.error, ValueError)
    text = "".join(traceback.format_exception(t.error))
    assert "in fails_on_three" in text, "the worker's traceback"
    assert "process_worker" not in text, "without the worker's own frame"


@task
def chatty(x: int) -> int:
    print(f"printed by {x}")
    sys.stdout.flush()
    return x + 1


@pytest.mark.parametrize("capture", [True, False])
def test_what_a_body_prints_is_captured_or_goes_to_stderr(
    capture: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    """Captured, it is stored with the task run; not captured, it reaches this process's
    stderr and never the worker's replies (the run still gets its values)."""

    @task.graph
    def g() -> Any:
        return add(x=chatty(x=1).result, y=chatty(x=2).result).result

    wg = g.build()
    # a pool of its own: its workers start now, so their stderr is the one captured here
    wg.run(executor=f"processes?processes={3 if capture else 4}", capture=capture)
    assert wg.outputs.result.value == 5
    tasks = {t.name: t.node for t in wg.all_tasks()}
    get_current_profile().store.flush()
    stored = load_node(tasks["chatty1"].pk).output
    if capture:
        assert stored is not None and stored.strip() == "printed by 2"
    else:
        assert stored is None
        assert "printed by 2" in capfd.readouterr().err


_GUARD = threading.Lock()  # a module global no pickle can send


@task
def guarded(x: int) -> int:
    with _GUARD:
        return x + 1


def test_a_task_that_does_not_pickle_fails_named_while_the_rest_finishes() -> None:
    @task.graph
    def g() -> Any:
        inc(x=guarded(x=1).result)  # skipped
        return inc(x=2).result

    wg = g.build()
    with pytest.raises(WorkflowFailedError, match="cannot be sent to a worker process"):
        wg.run(executor="processes")
    states = {t.name: t.state for t in wg.all_tasks()}
    assert states == {"guarded": "FAILED", "inc": "SKIPPED", "inc1": "FINISHED"}


def test_a_timeout_stops_the_worker_and_retries(tmp_path: Path) -> None:
    log = tmp_path / "attempts"

    @task.graph
    def g() -> Any:
        return too_slow(path=str(log)).result

    wg = g.build()
    with pytest.raises(WorkflowFailedError, match="timeout"):
        wg.run(executor="processes")
    (t,) = wg.all_tasks()
    assert isinstance(t.error, TaskTimeoutError)
    pids = [int(p) for p in log.read_text().split()]
    assert len(pids) == 2, "one retry"
    for pid in pids:
        _wait_gone(pid)


def _wait_gone(pid: int, wait: float = 30.0) -> None:
    """Assert that process ``pid`` ends within ``wait`` seconds (it was killed, not left to
    sleep on)."""
    end = time.monotonic() + wait
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < end, f"worker {pid} still runs"
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["ctrl-c", "timeout", "runs-cancel"])
def test_cancel_stops_the_calls_in_the_pool(tmp_path: Path, how: str) -> None:
    started = tmp_path / "started"

    @task.graph
    def g() -> Any:
        return inc(x=sleep_here(path=str(started), seconds=120).result).result

    wg = g.build()
    if how == "ctrl-c":
        restore = interrupt_when(started.exists, after=0.2)
        try:
            with pytest.raises(KeyboardInterrupt):
                wg.run(executor="processes")
        finally:
            restore()
    elif how == "timeout":
        with pytest.raises(RunTimeoutError):
            wg.run(executor="processes", timeout=3)
    else:  # `ferroflow runs cancel PK` from another shell: a request in the store
        store = get_current_profile().store
        join = when(started.exists, lambda: store.request_cancel(wg.pk))
        try:
            with pytest.raises(RunCancelledError):
                wg.run(executor="processes")
        finally:
            join()
    assert started.exists()
    _wait_gone(int(started.read_text()))
    tasks = {t.name: t.state for t in wg.all_tasks()}
    assert tasks == {"sleep_here": "CANCELLED", "inc": "CANCELLED"}
    assert wg.state == "CANCELLED"
    get_current_profile().store.flush()
    assert load_node(wg.tasks.sleep_here.node.pk).state == "CANCELLED"
    assert load_node(wg.tasks.sleep_here.node.pk).outputs == [], "nothing came back"


# -- several executors in one run --------------------------------------------------------------


def test_threads_and_processes_in_one_run_each_task_recorded() -> None:
    get_current_profile().add_executor("procs", "processes?processes=2")
    wg = two_places.build(3)
    wg.run()  # the default: local threads
    assert _pids(wg, "whoami_procs").isdisjoint({os.getpid()})
    here = {t.node.outputs["result"].value for t in wg.all_tasks() if t.name.startswith("whoami")}
    assert os.getpid() in here, "the other tasks ran in this process"
    for t in wg.all_tasks():
        wanted = "procs" if t.name.startswith("whoami_procs") else "local"
        assert _executor_of(t.node.pk) == wanted, t.name
    assert _executor_of(wg.pk) == "local"


def test_a_task_nested_in_a_graph_task_of_a_local_run_goes_to_its_executor() -> None:
    """No top-level task names an executor: the run keeps its fast lane, and the task nested
    in a graph task that names one still runs there (only it records its executor)."""
    get_current_profile().add_executor("procs", "processes?processes=2")

    @task.graph
    def inner(x: int) -> Any:
        return add(x=whoami_procs(x=x).result, y=whoami(x=x).result).result

    @task.graph
    def outer() -> Any:
        return inner(x=inc(x=1).result).result

    wg = outer.build()
    wg.run()
    tasks = {t.name: t.node for t in wg.all_tasks()}
    assert tasks["whoami_procs"].outputs["result"].value != os.getpid()
    assert tasks["whoami"].outputs["result"].value == os.getpid()
    assert tasks["inc"].fast_box is not None, "the plain local run keeps its fast lane"
    assert _executor_of(tasks["whoami_procs"].pk) == "procs"
    assert _executor_of(tasks["whoami"].pk) is None
    assert _executor_of(wg.pk) is None


def test_local_threads_processes_and_dask_in_one_run(client: Any) -> None:
    profile = get_current_profile()
    profile.add_executor("cluster", client.scheduler.address)
    profile.add_executor("procs", "processes?processes=2")
    workers = set(client.run(os.getpid).values())

    @task.graph
    def g(n: int) -> Any:
        return total(
            **{f"h{i}": whoami(x=i).result for i in range(n)},
            **{f"p{i}": whoami_procs(x=i).result for i in range(n)},
            **{f"c{i}": whoami_cluster(x=i).result for i in range(n)},
        ).result

    wg = g.build(3)
    wg.run()  # the default: local threads
    assert _pids(wg, "whoami_cluster") <= workers
    pooled = _pids(wg, "whoami_procs")
    assert pooled and os.getpid() not in pooled and pooled.isdisjoint(workers)
    here = {t.node.outputs["result"].value for t in wg.all_tasks() if t.name.startswith("whoami")}
    assert os.getpid() in here - pooled - _pids(wg, "whoami_cluster")
    for t in wg.all_tasks():
        wanted = {"whoami_cluster": "cluster", "whoami_procs": "procs"}.get(
            t.name.rstrip("0123456789"), "local"
        )
        assert _executor_of(t.node.pk) == wanted, t.name
    assert _executor_of(wg.pk) == "local"


def test_an_unknown_executor_fails_its_task_naming_the_known_ones() -> None:
    get_current_profile().add_executor("procs", "processes")

    @task.graph
    def g() -> Any:
        return add(x=whoami_nowhere(x=1).result, y=whoami(x=2).result).result

    wg = g.build()
    with pytest.raises(WorkflowFailedError, match="no executor named 'nowhere'"):
        wg.run()
    tasks = {t.name: t for t in wg.all_tasks()}
    assert isinstance(tasks["whoami_nowhere"].error, UnknownExecutorError)
    assert "procs" in str(tasks["whoami_nowhere"].error)
    assert tasks["whoami"].state == "FINISHED"


def test_bad_executor_declarations_are_refused() -> None:
    profile = get_current_profile()
    with pytest.raises(ValueError, match="not 'local' or 'processes'"):
        profile.add_executor("processes", "local")
    with pytest.raises(ValueError, match="unknown option 'chunk_size'"):
        profile.add_executor("p", "processes?chunk_size=2")
    with pytest.raises(ValueError, match="processes must be a whole number from 1"):
        profile.add_executor("p", "processes?processes=0")
    with pytest.raises(ValueError, match="expected 'local', 'processes'"):
        profile.configure(executor="nosuchname")
    profile.add_executor("p", "processes")
    profile.configure(executor="p")
    with pytest.raises(ValueError, match="is the profile's default executor"):
        profile.remove_executor("p")
    with pytest.raises(TypeError, match="executor must be an executor's name"):
        task(executor=3)(lambda: 1)  # type: ignore[call-overload]

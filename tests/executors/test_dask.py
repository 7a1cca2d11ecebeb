"""Runs on a Dask cluster (``wg.run(executor=client)``, issue 6).

One ``LocalCluster`` of two worker processes serves the whole module. Graph-task bodies and
provenance stay in this process, leaf task functions run on the workers: results, failures,
SKIPPED/CANCELLED rules and the stored provenance must equal those of a local run, including
when a worker is killed mid-run (kept last: the cluster restarts that worker).
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed  # the 'dask' extra, part of the 'test' extra: missing means failing
import ferroflow.profile as profile_module
import numpy as np
import pytest
import test_dag_hypothesis as dag_suite  # tests/engine is on pytest's pythonpath
from ferroflow import (
    Profile,
    WorkflowFailedError,
    get_current_profile,
    load_profile,
    task,
)
from ferroflow.demo import ScatterGatherSquare
from ferroflow.executors import DaskExecutor
from ferroflow.executors.dask import chunks as dask_chunks
from ferroflow.testing import Workflow, evaluate, workflows
from hypothesis import given, settings
from hypothesis import strategies as st
from lane_flows import add, as_dict, as_node, fails_on_three, inc, split
from provenance_flows import run_provenance

# -- tasks -------------------------------------------------------------------------------------


@task
def whoami() -> int:
    return os.getpid()


@task
def total(**parts: int) -> int:
    return sum(parts.values())


@task
def nap(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x * 2


@task
def big(n: int) -> np.ndarray:  # type: ignore[type-arg]
    return np.arange(n, dtype=np.float64)


@task
def norm(a: np.ndarray, b: np.ndarray) -> float:  # type: ignore[type-arg]
    return float(np.dot(a, b))


@task
def fadd(x: float, y: float) -> float:  # (lane_flows.add takes ints: checked at run time)
    return x + y


_body_pids: list[int] = []


@task.graph
def nested(x: int) -> Any:
    _body_pids.append(os.getpid())
    return inc(x=inc(x=x).result).result


@task.graph
def mixed(n: int) -> Any:
    """Every kind of task: single outputs, a dict and a data node returned, a namespace, a
    **kwargs gather, a nested graph task, constants and outputs as inputs."""
    acc = inc(x=0).result
    parts = {}
    for i in range(n):
        a = inc(x=i).result
        b = as_dict(x=a).result
        c = as_node(x=b).result
        halves = split(x=c)
        d = add(x=halves.lo, y=halves.hi).result
        e = nested(x=d).result
        parts[f"p{i}"] = e
        acc = add(x=acc, y=e).result
    return total(**parts, acc=acc).result


@task.graph
def with_failure(n: int) -> Any:
    outs = {f"x{i}": fails_on_three(x=i).result for i in range(n)}
    inc(x=outs["x3"])  # skipped: its input failed
    inc(x=0)  # independent: finishes
    return total(**outs).result


@task.graph
def naps(n: int, seconds: float) -> Any:
    return total(**{f"x{i}": nap(x=i, seconds=seconds).result for i in range(n)}).result


@task.graph
def arrays(n: int, scale: np.ndarray) -> Any:  # type: ignore[type-arg]
    a = big(n=n).result
    return fadd(x=norm(a=a, b=a).result, y=norm(a=a, b=scale).result).result


# -- helpers -----------------------------------------------------------------------------------


def _states(wg: Any) -> dict[str, str]:
    return {t.path: t.state for t in wg.all_tasks()}


# -- the how-to and the three ways to point at a cluster ---------------------------------------


def test_howto_runs_on_dask(client: Any) -> None:
    wg = ScatterGatherSquare.build(4)
    wg.run(executor=client)
    assert wg.outputs.result.value == 30
    assert all(t.state == "FINISHED" for t in wg.all_tasks())
    assert not any(t.node.fast_box is not None for t in wg.all_tasks()), "no fast lane on Dask"


@task.graph
def where_am_i() -> Any:
    return whoami().result


def test_tasks_run_on_workers_and_graph_bodies_here(client: Any) -> None:
    @task.graph
    def where() -> Any:
        return total(a=whoami().result, b=nested(x=1).result).result

    _body_pids.clear()
    wg = where.build()
    wg.run(executor=client)
    worker_pids = set(client.run(os.getpid).values())
    (task_pid,) = (t.outputs["result"].value for t in wg.all_tasks() if t.name == "whoami")
    assert task_pid in worker_pids and task_pid != os.getpid()
    assert _body_pids == [os.getpid()], "graph bodies expand in the client"


def test_an_address_string_the_environment_or_the_profile(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = client.scheduler.address
    workers = set(client.run(os.getpid).values())

    def ran_on() -> int:
        wg = where_am_i.build()
        wg.run()
        return int(wg.outputs.result.value)

    assert ran_on() == os.getpid(), "local by default"
    monkeypatch.setenv("FERROFLOW_EXECUTOR", f"{address}?chunk_size=4")
    assert ran_on() in workers
    monkeypatch.delenv("FERROFLOW_EXECUTOR")
    profile = get_current_profile()
    profile.configure(executor=address)
    assert load_profile().executor == address
    assert ran_on() in workers
    monkeypatch.setenv("FERROFLOW_EXECUTOR", "local")  # the environment wins over the profile
    assert ran_on() == os.getpid()
    profile.configure(executor="local")
    assert profile.executor is None
    # and run(executor=...) wins over both
    monkeypatch.setenv("FERROFLOW_EXECUTOR", address)
    wg = ScatterGatherSquare.build(3)
    wg.run(executor="local")
    assert all(t.node.fast_box is not None for t in wg.all_tasks() if t.name.startswith("square"))


def test_bad_executor_settings_fail_early(tmp_path: Path) -> None:
    profile = load_profile()
    with pytest.raises(ValueError, match="unknown option 'bogus'"):
        profile.configure(executor="tcp://127.0.0.1:1?bogus=3")
    with pytest.raises(ValueError, match="'executor' must be a string"):
        profile.configure(executor=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected 'local', 'processes', a Dask scheduler address"):
        ScatterGatherSquare.build(2).run(executor=object())
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1"):
        DaskExecutor("tcp://127.0.0.1:1", chunk_size=0)


# -- same results, same provenance -------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 5])
def test_provenance_equals_a_local_run(client: Any, chunk_size: int) -> None:
    local = mixed.build(3)
    local.run()
    remote = mixed.build(3)
    remote.run(executor=DaskExecutor(client, chunk_size=chunk_size))
    assert remote.state == local.state == "FINISHED"
    assert remote.outputs.result.value == local.outputs.result.value
    by_path = {t.path: t for t in local.all_tasks()}
    for t in remote.all_tasks():
        other = by_path[t.path]
        assert t.state == other.state == "FINISHED", t.path
        assert t.ctime is not None and t.mtime is not None and t.ctime <= t.mtime
    assert remote.pk is not None and local.pk is not None
    assert run_provenance(remote.pk) == run_provenance(local.pk)


def test_a_failing_task_carries_its_remote_traceback(client: Any) -> None:
    """What is Dask's own in a failure (how a failure propagates, on every backend:
    tests/policies/test_failure_propagation.py): the exception comes back with the worker's
    traceback, without ferroflow's frame there, and the run stores what a local run stores."""
    wg = with_failure.build(5)
    with pytest.raises(WorkflowFailedError, match=r"fails_on_three3: ValueError: three is bad"):
        wg.run(executor=client)
    tasks = {t.name: t for t in wg.all_tasks()}
    error = tasks["fails_on_three3"].error
    assert isinstance(error, ValueError) and tasks["fails_on_three3"].state == "FAILED"
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    assert "in fails_on_three" in text and "raise ValueError" not in text.split("\n")[0]
    assert "run_calls" not in text, "ferroflow's worker frame is left out"
    # a local run of the same graph fails the same way and stores the same provenance
    local = with_failure.build(5)
    with pytest.raises(WorkflowFailedError):
        local.run()
    assert _states(local) == _states(wg)
    assert local.pk is not None and wg.pk is not None
    assert run_provenance(local.pk) == run_provenance(wg.pk)


_GUARD = threading.Lock()  # a module global no pickle can send


@task
def guarded(x: int) -> int:
    with _GUARD:
        return x + 1


@task.graph
def some_unsendable(n: int) -> int:
    fine = [inc(x=i).result for i in range(n)]
    bad = guarded(x=fine[0]).result
    inc(x=bad)  # its dependent: skipped, as after any failure
    return add(x=fine[0], y=fine[-1]).result


@pytest.mark.parametrize("chunk_size", [1, 8])
def test_a_task_that_cannot_be_pickled_fails_named_instead_of_hanging(
    client: Any, chunk_size: int
) -> None:
    """Dask serialises submissions on its event loop, where a pickling error is only logged and
    the future never resolves: the run hung. Frozen on the client, it fails just that task."""
    wg = some_unsendable.build(6)
    executor = DaskExecutor(client, chunk_size=chunk_size)
    with pytest.raises(WorkflowFailedError, match="guarded"):
        wg.run(executor=executor, timeout=60)
    tasks = {t.name: t for t in wg.all_tasks()}
    error = tasks["guarded"].error
    assert tasks["guarded"].state == "FAILED"
    assert "task 'some_unsendable/guarded' cannot be sent to the Dask workers" in str(error)
    assert "lock" in str(error)
    assert tasks["inc6"].state == "SKIPPED"
    assert [tasks[f"inc{i}" if i else "inc"].state for i in range(6)] == ["FINISHED"] * 6
    assert tasks["add"].outputs["result"].value == 1 + 6


def test_max_number_jobs_counts_tasks_pending_on_the_cluster(client: Any) -> None:
    wg = naps.build(4, 0.05)
    wg.run(executor=client, max_number_jobs=1, provenance=False)
    assert wg.outputs.result.value == 12
    spans = sorted((t.ctime or 0, t.mtime or 0) for t in wg.all_tasks())
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, "a task pending on Dask holds its slot until its result is in"


# -- large values and tiny tasks ---------------------------------------------------------------


def test_large_values_stay_on_the_cluster(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    placed: list[int] = []
    scattered: list[int] = []
    real_place, real_scatter = dask_chunks._place, distributed.Client.scatter

    def spy_place(value: Any, deps: list[Any], slots: dict[Any, int]) -> Any:
        out = real_place(value, deps, slots)
        placed.append(len(deps))
        return out

    def spy_scatter(self: Any, data: Any, **kwargs: Any) -> Any:
        scattered.append(1)
        return real_scatter(self, data, **kwargs)

    monkeypatch.setattr(dask_chunks, "_place", spy_place)
    monkeypatch.setattr(distributed.Client, "scatter", spy_scatter)
    n = 100_000  # 800 kB per array
    scale = np.full(n, 2.0)
    wg = arrays.build(n, scale)
    wg.run(executor=client)
    a = np.arange(n, dtype=np.float64)
    assert wg.outputs.result.value == float(a @ a + a @ scale)
    assert scattered == [1], "the large constant is sent once"
    assert placed, "the consumers got the produced array as a future"
    stored = get_current_profile().store
    (producer,) = (t for t in wg.all_tasks() if t.name == "big")
    node = producer.outputs["result"].value
    assert np.array_equal(stored.load_node(node.pk).value, a), "the store has every value"


def test_chunks_of_tiny_tasks(client: Any) -> None:
    wg = ScatterGatherSquare.build(60)
    wg.run(executor=DaskExecutor(client, chunk_size=16))
    assert wg.outputs.result.value == sum(i * i for i in range(1, 61))
    local = ScatterGatherSquare.build(60)
    local.run()
    assert wg.pk is not None and local.pk is not None
    assert run_provenance(wg.pk) == run_provenance(local.pk)


# -- the DAG property suite, on Dask -----------------------------------------------------------


@pytest.fixture(scope="module")
def dag_profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Profile]:
    home = tmp_path_factory.mktemp("ferroflow-home-dask")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FERROFLOW_HOME", str(home))
        mp.setattr(profile_module, "_profiles", {})
        mp.setattr(profile_module, "_current", None)
        prof = load_profile("dask-hypothesis")
        yield prof
        prof.close()


#: Workflows drawn when this module is collected, before any cluster runs: hypothesis refuses
#: a draw during which the global ``random`` changed, and Dask's threads use it at any time.
_DAG_CASES: list[tuple[Workflow, int]] = []


@settings(
    max_examples=int(os.environ.get("FERROFLOW_DASK_EXAMPLES", "8")),
    deadline=None,
    derandomize=True,
    database=None,
)
@given(workflows(), st.integers(1, 2))
def _draw_dag_cases(workflow: Workflow, n: int) -> None:
    _DAG_CASES.append((workflow, n))


_draw_dag_cases()


@pytest.mark.parametrize("case", range(len(_DAG_CASES)))
def test_dag_suite_on_dask(client: Any, dag_profile: Profile, case: int) -> None:
    """tests/engine/test_dag_hypothesis.py's reference property, every run on the cluster (through
    $FERROFLOW_EXECUTOR, which is how a script moves to a cluster unchanged), on workflows
    hypothesis drew (shrinking happens in the local suite, which checks the same property)."""
    workflow, n = _DAG_CASES[case]
    previous = os.environ.get("FERROFLOW_EXECUTOR")
    os.environ["FERROFLOW_EXECUTOR"] = client.scheduler.address
    try:
        dag_suite.test_equals_sequential_reference.hypothesis.inner_test(  # type: ignore[attr-defined]
            dag_profile, workflow, n
        )
        # leaf task bodies log their events on the workers, graph bodies here
        leaves = {tag for tag, r in evaluate(workflow).tasks.items() if r.kind != "graph"}
        assert not leaves & {tag for tag, _, _ in dag_suite._events}
    finally:
        if previous is None:
            del os.environ["FERROFLOW_EXECUTOR"]
        else:
            os.environ["FERROFLOW_EXECUTOR"] = previous


# -- last: a worker dies mid-run ---------------------------------------------------------------


def test_a_killed_worker_loses_no_result(client: Any) -> None:
    victim = min(client.run(os.getpid).values())
    wg = naps.build(12, 0.3)
    killer = threading.Timer(0.8, os.kill, (victim, signal.SIGKILL))
    killer.start()
    try:
        wg.run(executor=client)
    finally:
        killer.join()
    assert wg.outputs.result.value == sum(2 * i for i in range(12))
    assert set(_states(wg).values()) == {"FINISHED"}
    assert victim not in client.run(os.getpid).values(), "the worker did die mid-run"
    client.wait_for_workers(2, timeout=60)


def test_caching_and_restart_on_dask(client: Any) -> None:
    """The cache lookup happens in the client before a call is sent: a hit is never submitted
    (``_from_cache`` returns before ``remote.submit``), and a restart reuses what finished."""

    @task.graph
    def g(n: int) -> int:
        parts = {f"p{i}": inc(x=i) for i in range(n)}
        return total(**{k: v.result for k, v in parts.items()}, bad=fails_on_three(x=n).result)

    first = g.build(3)
    first.run(executor=client, cache=True, raise_on_error=False)
    assert first.state == "FAILED"  # fails_on_three(3): total is skipped
    again = g.build(3)
    again.run(executor=client, cache=True, raise_on_error=False)
    assert sorted(again.cached_tasks) == ["g/inc", "g/inc1", "g/inc2"]
    restarted = first.restart(executor=client, raise_on_error=False)
    assert sorted(restarted.cached_tasks) == ["g/inc", "g/inc1", "g/inc2"]
    assert restarted.tasks.fails_on_three.state == "FAILED"  # ran again, failed again

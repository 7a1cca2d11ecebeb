"""ferroflow on SLURM through Dask: the tasks of a run execute in Dask workers that are SLURM
jobs (``dask_jobqueue.SLURMCluster``, adaptive), on a real one-node cluster this machine runs
for the module (:mod:`slurm_cluster`; scripts/test.sh installs SLURM and munge). The results and
the provenance equal a local run's, and a worker job cancelled with ``scancel`` in the middle of
a run loses nothing: its tasks run again elsewhere and each finished result is stored once."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask_jobqueue
import distributed
import pytest
from ferroflow import WorkGraph, get_current_profile, task
from slurm_cluster import SlurmCluster, missing

TESTS = Path(__file__).resolve().parent.parent


@task
def square(x: int) -> int:
    time.sleep(0.05)
    return x * x


@task
def slow_square(x: int) -> int:
    time.sleep(0.4)
    return x * x


@task
def total(**values: int) -> int:
    return sum(values.values())


@task.graph
def scatter(n: int) -> int:
    return total(**{f"v{i}": square(x=i).result for i in range(n)}).result  # type: ignore[no-any-return]


@task.graph
def slow_scatter(n: int) -> int:
    return total(**{f"v{i}": slow_square(x=i).result for i in range(n)}).result  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    absent = missing()
    assert not absent, f"SLURM is not installed here ({', '.join(absent)}): run scripts/test.sh"
    with SlurmCluster(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def jobqueue(slurm: SlurmCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Dask cluster whose workers are SLURM jobs (one core each), scaling between 1 and 2."""
    logs = tmp_path_factory.mktemp("jobs")
    cluster = dask_jobqueue.SLURMCluster(
        cores=1,
        processes=1,
        memory="1GB",
        queue="debug",
        walltime="00:30:00",
        python=sys.executable,
        # the workers unpickle this module's task functions by name
        job_script_prologue=[f"export PYTHONPATH={TESTS}", f"export SLURM_CONF={slurm.conf}"],
        log_directory=str(logs),
        local_directory=str(logs),
        scheduler_options={"host": "127.0.0.1", "dashboard_address": ":0"},
    )
    cluster.adapt(minimum=1, maximum=2)
    client = distributed.Client(cluster)
    try:
        client.wait_for_workers(1, timeout=180)  # a job that never starts: an error, not a hang
        yield client
    finally:
        client.close()
        cluster.close()


def _provenance(wg: WorkGraph) -> tuple[Counter[tuple[str, str]], Counter[str], int]:
    """(task label and state counts, link types, the output value) of a stored run."""
    store = get_current_profile().store
    store.flush()
    run = store.load_node(wg.pk)
    called = [node for node in run.called]
    states = Counter((node.label.rstrip("0123456789"), node.state) for node in called)
    links: Counter[str] = Counter()
    for node in called:
        links.update(kind for kind, _, _ in node.inputs)
        links.update(kind for kind, _, _ in node.outputs)
    return states, links, wg.outputs.result.value.value


def test_a_scatter_runs_in_slurm_jobs_with_the_provenance_of_a_local_run(jobqueue: Any) -> None:
    local = scatter.build(12)
    local.run()
    on_slurm = scatter.build(12)
    on_slurm.run(executor=jobqueue)
    assert on_slurm.outputs.result.value.value == sum(i * i for i in range(12))
    assert _provenance(on_slurm) == _provenance(local)
    # the workers were SLURM jobs: the scheduler knows them by their job's name
    workers = jobqueue.scheduler_info()["workers"].values()
    assert workers and all("SLURMCluster" in w["id"] for w in workers)


def test_a_worker_job_cancelled_mid_run_loses_nothing(jobqueue: Any, slurm: SlurmCluster) -> None:
    jobqueue.cluster.adapt(minimum=2, maximum=2)
    jobqueue.wait_for_workers(2, timeout=120)
    n = 24
    wg = slow_scatter.build(n)
    failure: list[BaseException] = []

    def go() -> None:
        try:
            wg.run(executor=jobqueue)
        except BaseException as exc:  # reported below
            failure.append(exc)

    runner = threading.Thread(target=go)
    runner.start()
    deadline = time.monotonic() + 120
    while sum(t.state == "FINISHED" for t in wg.all_tasks()) < 4:
        assert time.monotonic() < deadline, "no task finished on the SLURM workers"
        time.sleep(0.1)
    jobs = slurm.jobs()
    assert len(jobs) == 2, jobs
    slurm.scancel(jobs[0])  # one worker job goes, with the tasks it was running
    runner.join(timeout=300)
    assert not runner.is_alive() and not failure, failure
    assert wg.outputs.result.value.value == sum(i * i for i in range(n))
    states, _, _ = _provenance(wg)
    # each task ran to one stored result: no task lost, none stored twice
    assert states[("slow_square", "FINISHED")] == n
    assert sum(count for (label, _), count in states.items() if label == "slow_square") == n
    assert jobs[0] not in slurm.jobs()
    jobqueue.cluster.adapt(minimum=1, maximum=2)

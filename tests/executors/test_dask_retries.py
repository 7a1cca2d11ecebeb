"""What is Dask's own in retries and timeouts (``@task(retries=, timeout=)`` with
``wg.run(executor=client)``, issue 8): a retried task goes alone in its chunk, an exception that
does not pickle comes back as RemoteTaskError, a deadline counts from the start on a worker.
The policies themselves run on every backend, Dask included, in tests/policies/.

Attempts may run in other processes, so the tasks count their calls in a file (``tmp_path``)
instead of a module-level counter.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import distributed
import pytest
from ferroflow import (
    WorkflowFailedError,
    load_node,
    task,
)
from ferroflow.errors import RemoteTaskError
from ferroflow.executors import DaskExecutor


def _bump(counter: str) -> int:
    """Count a call in the file ``counter`` (attempts of one task never overlap)."""
    path = Path(counter)
    n = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(n))
    return n


def _count(counter: Path) -> int:
    return int(counter.read_text()) if counter.exists() else 0


# -- tasks -------------------------------------------------------------------------------------


@task(retries=3, retry_on=ConnectionError)
def flaky(counter: str, x: int) -> int:
    n = _bump(counter)
    if n < 3:
        raise ConnectionError(f"attempt {n}: the cluster dropped the connection")
    return x * 10


@task
def counted(counter: str, x: int) -> int:
    _bump(counter)
    return x


@task
def plus_one(x: float) -> float:
    return x + 1


@task(timeout=0.6)
def brief(x: int) -> int:
    time.sleep(0.05)
    return x


class Unpicklable(Exception):
    def __init__(self, code: int, why: str) -> None:  # args differ: pickle cannot rebuild it
        super().__init__(f"{why} ({code})")


@task(retries=1, retry_on=ValueError)
def odd_error_not_retried(counter: str) -> int:
    _bump(counter)
    raise Unpicklable(7, "odd")


@task(retries=1)
def odd_error_retried(counter: str) -> int:
    _bump(counter)
    raise Unpicklable(7, "odd")


# -- helpers -----------------------------------------------------------------------------------


def _attempts(wg: Any, name: str) -> list[Any]:
    return [n for n in load_node(wg.pk).called if n.type.endswith(f".{name}")]


# -- retries -----------------------------------------------------------------------------------


def test_a_retried_task_goes_alone_in_its_chunk(
    client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Chunking is Dask's own: a retry reruns only the retried task, never its chunk-mates.
    (The retry policy itself, on every backend: tests/policies/test_retries.py.)"""
    flaky_calls = tmp_path / "flaky"
    others = [tmp_path / f"counted{i}" for i in range(6)]

    @task.graph
    def g(x: int) -> int:
        for i, path in enumerate(others):
            counted(counter=str(path), x=i)
        return plus_one(x=flaky(counter=str(flaky_calls), x=x).result).result

    wg = g.build(x=4)
    with caplog.at_level("WARNING", logger="ferroflow"):
        wg.run(executor=DaskExecutor(client, chunk_size=8))
    assert "not applied on Dask" not in caplog.text
    assert _count(flaky_calls) == 3
    assert [_count(p) for p in others] == [1] * 6, "chunk-mates are not rerun by a retry"
    assert wg.outputs.result.value == 41
    assert wg.tasks.flaky.state == "FINISHED" and wg.tasks.plus_one.state == "FINISHED"
    labels = [n.label for n in _attempts(wg, "flaky")]
    assert labels == ["flaky", "flaky_attempt2", "flaky_attempt3"]


def test_an_exception_that_does_not_pickle_is_retried_only_if_retry_on_covers_it(
    client: Any, tmp_path: Path
) -> None:
    not_retried, retried = tmp_path / "no", tmp_path / "yes"

    @task.graph
    def g() -> None:
        odd_error_not_retried(counter=str(not_retried))
        odd_error_retried(counter=str(retried))

    wg = g.build()
    with pytest.raises(WorkflowFailedError) as info:
        wg.run(executor=client)
    assert _count(not_retried) == 1, "retry_on=ValueError does not cover RemoteTaskError"
    assert _count(retried) == 2, "retry_on=Exception (the default) does"
    for error in info.value.failed.values():
        assert isinstance(error, RemoteTaskError) and "Unpicklable: odd (7)" in str(error)


# -- timeouts ----------------------------------------------------------------------------------


def test_the_deadline_counts_from_the_start_on_a_worker_not_time_queued(client: Any) -> None:
    # both worker threads are busy for 1.5 s: the timed call waits in Dask's queue longer than
    # its timeout (about 1.3 s, twice the timeout, so a slowed test thread cannot make the wait
    # look shorter than 0.6 s), then runs well within it
    busy = client.map(time.sleep, [1.5, 1.5], pure=False)
    time.sleep(0.2)  # both have started

    @task.graph
    def g() -> int:
        return brief(x=3).result

    wg = g.build()
    start = time.perf_counter()
    wg.run(executor=client)
    assert time.perf_counter() - start > 0.6, "the call did wait for a free worker"
    assert wg.outputs.result.value == 3
    distributed.wait(busy)

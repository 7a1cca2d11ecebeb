"""Worker pools across runs (ferroflow/engine/pools.py): runs with ever new ``max_workers``
do not pile up threads (it was 821 threads after 39 runs: a cached pool per size), and an
absurd ``max_workers`` or ``$FERROFLOW_WORKERS`` is refused with a clear message, never a hang
or a process out of threads."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from ferroflow import task
from ferroflow.engine import pools


@task
def double(x: int) -> int:
    return 2 * x


@task
def thread_name(x: int) -> str:
    return threading.current_thread().name  # registers the worker with ``threading``


@task.graph
def spread(n: int, named: bool) -> None:
    for i in range(n):
        (thread_name if named else double)(x=i)


def _os_threads() -> int:
    return len(os.listdir("/proc/self/task"))  # every thread of this process (Linux)


def test_runs_with_ever_new_max_workers_keep_threads_bounded() -> None:
    before_os, before_py = _os_threads(), threading.active_count()
    for workers in range(1, 40):
        spread.build(8, named=False).run(max_workers=workers, provenance=False)
        # at most KEEP pool sizes stay warm: the two largest so far, here the last two
        assert _os_threads() <= before_os + workers + (workers - 1) + 4, workers
    assert threading.active_count() <= before_py + 2
    # a run on a warm size still reuses its pool (no new threads)
    warm = _os_threads()
    spread.build(8, named=False).run(max_workers=39, provenance=False)
    assert _os_threads() == warm


def test_named_worker_threads_do_not_pile_up_either() -> None:
    before = _os_threads()
    for workers in (3, 5, 7, 9, 11, 13):
        wg = spread.build(4, named=True)
        wg.run(max_workers=workers, provenance=False)
        assert {t.state for t in wg.all_tasks()} == {"FINISHED"}
    assert _os_threads() <= before + 13 + 11 + 4


@pytest.mark.parametrize("workers", [0, -3, pools.MAX_WORKERS + 1, 10**9, True, 2.5, "4"])
def test_an_absurd_max_workers_is_refused_before_any_thread_starts(workers: Any) -> None:
    before = _os_threads()
    wg = spread.build(2, named=False)
    with pytest.raises(ValueError, match=r"max_workers must be") as caught:
        wg.run(max_workers=workers, provenance=False)
    assert repr(workers) in str(caught.value) or str(workers) in str(caught.value)
    assert _os_threads() <= before
    assert wg.state == "PLANNED"  # nothing ran


@pytest.mark.parametrize("env", ["0", "-1", "100000", "many", "2.5"])
def test_an_absurd_ferroflow_workers_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.setenv("FERROFLOW_WORKERS", env)
    with pytest.raises(ValueError, match=r"\$FERROFLOW_WORKERS must be .*" + env):
        spread.build(2, named=False).run(provenance=False)


def test_a_sensible_ferroflow_workers_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERROFLOW_WORKERS", "3")
    assert pools.default_workers() == 3
    with pools.lease_pool() as pool:
        assert pool.size == 3

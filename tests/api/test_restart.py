"""Restart: ``WorkGraph.load(run)`` / ``wg.restart()`` / ``ferroflow restart`` re-run a failed,
cancelled or SIGKILLed run, reusing every task run that finished (counted by side effects)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import restart_flows
from ferroflow import FerroflowError, WorkGraph, get_current_profile, task
from ferroflow.cli import main as cli_main
from ferroflow.model.vocabulary import Kind, Link
from ferroflow.store import graph_read
from ferroflow.store.graph_read import NODE_ROW_COLUMNS
from provenance_flows import committed_finished
from restart_flows import campaign, expected

TESTS = Path(__file__).resolve().parents[1]  # the shared helper modules


def _side(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


@pytest.fixture
def side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "side.txt"
    monkeypatch.setenv("FF_SIDE_FILE", str(path))
    return path


def test_restart_of_a_failed_run_reruns_only_what_did_not_finish(
    side: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FF_FAIL", "3,11")
    wg = campaign.build(3, 5)
    wg.run(raise_on_error=False)
    assert wg.state == "FAILED"
    first = _side(side)
    assert sorted(first) == [i for i in range(15) if i not in (3, 11)]
    side.unlink()
    monkeypatch.setenv("FF_FAIL", "")
    again = wg.restart()
    assert again.state == "FINISHED" and again.pk != wg.pk
    assert sorted(_side(side)) == [3, 11]  # only the failed tasks ran again
    assert again.outputs.result.value == expected(3, 5)
    # the shards whose tasks all finished still had their total task reused
    reused = Counter(path.rsplit("/", 1)[-1].rstrip("0123456789") for path in again.cached_tasks)
    assert reused == Counter({"work": 13, "total": 1})
    # the old run is untouched: still FAILED, its nodes unchanged
    store = get_current_profile().store
    assert store.load_node(wg.pk).state == "FAILED"
    # the restarted run reuses the stored input nodes themselves
    assert [n.pk for _, _, n in store.load_node(again.pk).inputs] == [
        n.pk for _, _, n in store.load_node(wg.pk).inputs
    ]


def test_load_in_a_new_session_and_cli_restart(
    side: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FF_FAIL", "2")
    wg = campaign.build(2, 3)
    wg.run(raise_on_error=False)
    side.unlink()
    monkeypatch.setenv("FF_FAIL", "")
    loaded = WorkGraph.load(wg.pk)
    assert loaded.restart_of == wg.pk and loaded.state == "PLANNED"
    # the CLI imports the graph by name and restarts the same stored run once more
    assert cli_main(["restart", str(wg.pk)]) == 0
    out = capsys.readouterr().out
    assert (
        f"restarted run {wg.pk} as run" in out
        and "6 of 9 task(s) reused stored results, 3 ran" in out
    )
    assert _side(side) == [2]
    loaded.run()  # the object from load() works too: the CLI's run finished task 2 by now
    assert loaded.outputs.result.value == expected(2, 3)
    assert len(loaded.cached_tasks) == 9 and _side(side) == [2]


def test_a_changed_function_reruns_on_restart(side: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    @task.graph
    def g(x: int) -> int:
        return restart_flows.work(i=x).result

    wg = g.build(4)
    wg.run()
    side.unlink()
    original = restart_flows.work
    monkeypatch.setattr(original, "_code_digest", b"\0" * 32)  # as if its source had changed
    again = WorkGraph.load(wg.pk, graph=g)
    again.run()
    assert _side(side) == [4] and again.cached_tasks == []


def test_load_refuses_what_it_cannot_restart() -> None:
    @task.graph
    def local_graph(x: int) -> int:
        return restart_flows.work(i=x).result

    wg = local_graph.build(1)
    wg.run()
    with pytest.raises(FerroflowError, match=r"cannot find the graph function .*local_graph"):
        WorkGraph.load(wg.pk)
    task_pk = wg.tasks.work.pk
    with pytest.raises(FerroflowError, match=f"node pk {task_pk} is not a graph run"):
        WorkGraph.load(task_pk)
    unrun = local_graph.build(1)
    with pytest.raises(FerroflowError, match="has not run"):
        unrun.restart()
    quiet = local_graph.build(1)
    quiet.run(provenance=False)
    with pytest.raises(FerroflowError, match="provenance=False"):
        quiet.restart()


def test_a_sigkilled_run_restarts_without_re_executing_finished_tasks(
    side: Path, ferroflow_home: Path
) -> None:
    shards, n = 4, 100  # 400 tasks of 10 ms on 2 workers: ~2 s, killed after ~1 s
    env = dict(os.environ, FF_TASK_SECONDS="0.01", PYTHONPATH=str(TESTS), FERROFLOW_PROGRESS="0")
    child = subprocess.Popen(
        # imported, not run as __main__: the graph's process_type must name an importable module
        [sys.executable, "-c", f"import restart_flows; restart_flows.main(['', {shards}, {n}])"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while len(_side(side)) < shards * n // 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        # most finished tasks on disk: wait for the writer's next commits (every 0.2 s) to hold
        # a quarter of all tasks, not for a fixed time that a loaded machine may not honour
        store_file = ferroflow_home / "default" / "provenance.sqlite"
        while (
            committed_finished(store_file, "work%") < shards * n // 4
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)
        assert child.poll() is None, "the child finished before it could be killed"
        store = get_current_profile().store
        (live,) = store.runs()
        assert live.state == "RUNNING" and store.reap_dead_runs() == []
        with pytest.raises(FerroflowError, match=rf"still running \(pid {child.pid} on this host"):
            WorkGraph.load(live.pk)  # restarting a live run would run its tasks twice
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
        if child.stdout is not None:
            child.stdout.close()
    executed_before = set(_side(side))
    assert 0 < len(executed_before) < shards * n
    # the store was open before the kill: reaping happens at the next open, or on demand
    assert store.reap_dead_runs() == [live.pk]
    run = store.load_node(live.pk)
    assert run.state == "KILLED" and f"pid {child.pid} " in (run.error or "")
    query = store._reader.query
    processes = graph_read.run_node_rows(query, run.pk, (Kind.CALC, Kind.WORK))
    states = Counter(row[NODE_ROW_COLUMNS.index("state")] for row in processes)
    assert not states.keys() & {0, 1}  # nothing left PLANNED or RUNNING
    columns = {name: i for i, name in enumerate(NODE_ROW_COLUMNS)}
    workers = [  # FINISHED task runs labelled work* (SQL's LIKE 'work%': any case)
        row[0]
        for row in processes
        if row[columns["kind"]] == 1
        and row[columns["state"]] == 2
        and str(row[columns["label"]]).lower().startswith("work")
    ]
    fed = graph_read.links(query, workers, True, (Link.INPUT_CALC,))
    values = graph_read.value_parts(query, [link.src for link in fed])
    finished = {int(values[link.src][1]) for link in fed}
    assert finished and finished <= executed_before
    side.unlink()

    again = WorkGraph.load(run.pk)
    again.run()
    executed_after = _side(side)
    assert again.outputs.result.value == expected(shards, n)
    # no task that finished (and was stored) before the kill ran again, and every other one ran
    assert not finished & set(executed_after)
    assert sorted(executed_after) == sorted(set(range(shards * n)) - finished)
    assert len(executed_after) == len(set(executed_after))


def test_a_script_run_restarted_by_module_name_reuses_what_finished(
    side: Path, ferroflow_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run as a script, the tasks are stored as ``__main__.work``; restarted with
    ``--graph restart_flows.campaign`` they are ``restart_flows.work``: the restart looks the
    finished ones up under their old name too, instead of running everything again."""
    env = dict(os.environ, FF_FAIL="4", PYTHONPATH=str(TESTS), FERROFLOW_PROGRESS="0")
    script = subprocess.run(
        [sys.executable, str(TESTS / "restart_flows.py"), "2", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert script.returncode != 0 and "task 4 was told to fail" in script.stderr
    assert sorted(_side(side)) == [0, 1, 2, 3, 5]
    run = get_current_profile().store.runs()[0]
    assert run.state == "FAILED" and run.type == "__main__.campaign"
    side.unlink()
    capsys.readouterr()
    # (the cause is fixed: FF_FAIL is not set here)
    assert cli_main(["restart", str(run.pk), "--graph", "restart_flows.campaign"]) == 0
    # reused: the 5 work tasks that finished and shard 0's total
    assert "6 of 9 task(s) reused stored results, 3 ran" in capsys.readouterr().out
    assert _side(side) == [4]  # of the bodies, only the one that had failed ran again

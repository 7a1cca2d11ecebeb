"""A run whose process died is shown KILLED, never RUNNING for ever (ferroflow.store.owners).

The SIGKILL end to end (a real run killed mid-way, then restarted) is in test_restart.py; here
the owner rows themselves: claimed and released by every run, reaped when the process is gone
(also when its pid was reused), left alone for a live process or another host, and an old
file's views learn the new state.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ferroflow import WorkGraph, get_current_profile, task
from ferroflow.data import new_uuid
from ferroflow.errors import FerroflowError
from ferroflow.store import Store
from ferroflow.store.owners import alive, this_process
from ferroflow.store.schema import STATE_CODES
from ferroflow.store.writer import OP_SQL


@task
def double(x: int) -> int:
    return 2 * x


@task.graph
def pair(x: int) -> int:
    return double(double(x).result).result


def owner_rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT run_pk, host, pid, token FROM run_owner").fetchall()


def fake_run(path: Path, host: str, pid: int, token: str) -> int:
    """A run node RUNNING with one RUNNING and one FINISHED task, claimed by ``pid``."""
    with Store.open(path) as store:
        run_pk, running, done = store.new_pk(), store.new_pk(), store.new_pk()
        now = time.time()
        store.record_process(run_pk, new_uuid(), "work", "g", "tests.g", "RUNNING", now, None)
        store.record_process(running, new_uuid(), "calc", "a", "tests.a", "RUNNING", now, run_pk)
        store.record_process(done, new_uuid(), "calc", "b", "tests.b", "FINISHED", now, run_pk)
        store._append(
            (OP_SQL, "INSERT INTO run_owner VALUES (?, ?, ?, ?)", (run_pk, host, pid, token))
        )
        store.flush()
    return run_pk


def states(path: Path, run_pk: int) -> dict[str, str]:
    names = {code: name for name, code in STATE_CODES.items()}
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT label, state FROM node WHERE run_pk = ?", (run_pk,))
        return {label: names[state] for label, state in rows}


def a_dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_run_claims_its_owner_row_and_releases_it_at_the_end() -> None:
    store = get_current_profile().store
    wg = pair.build(x=3)
    wg.run()
    assert wg.outputs.result.value == 12
    assert owner_rows(store.path) == []  # released in the batch that recorded the end
    assert store.run_owner(wg.pk) is None


def test_the_claim_is_there_while_the_run_is_running() -> None:
    seen: list[object] = []

    @task
    def look() -> int:
        store = get_current_profile().store
        store.flush()
        seen.extend(owner_rows(store.path))
        return 1

    @task.graph
    def watched() -> int:
        return look().result

    wg = watched.build()
    wg.run()
    host, pid, token = this_process()
    assert seen == [(wg.pk, host, pid, token)]


def test_a_dead_owner_is_reaped_at_open(tmp_path: Path) -> None:
    path = tmp_path / "prov.sqlite"
    host, _, _ = this_process()
    pid = a_dead_pid()
    run_pk = fake_run(path, host, pid, "")
    with Store.open(path) as store:  # opening reaps
        run = store.load_node(run_pk)
        assert run.state == "KILLED"
        assert run.error == f"the process running it (pid {pid} on {host}) ended before the run did"
    assert states(path, run_pk) == {"g": "KILLED", "a": "KILLED", "b": "FINISHED"}
    assert owner_rows(path) == []
    with sqlite3.connect(path) as conn:  # the view people use in the sqlite3 shell knows it
        assert conn.execute("SELECT state FROM node_view WHERE pk = ?", (run_pk,)).fetchone() == (
            "KILLED",
        )


def test_a_live_owner_and_another_hosts_owner_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "prov.sqlite"
    host, pid, token = this_process()
    mine = fake_run(path, host, pid, token)
    elsewhere = fake_run(path, "some-other-host", a_dead_pid(), "")
    with Store.open(path) as store:
        assert store.reap_dead_runs() == []
        assert store.run_owner(mine) == (host, pid, True)
        assert store.run_owner(elsewhere)[2] is None  # type: ignore[index]
    assert states(path, mine)["g"] == states(path, elsewhere)["g"] == "RUNNING"


def test_a_reused_pid_does_not_keep_a_dead_run_alive(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host, _, _ = this_process()
        assert alive(host, sleeper.pid, "") is True
        # the same pid with another start time: an older process that had the pid is dead
        assert alive(host, sleeper.pid, "some-boot:1") is False
        path = tmp_path / "prov.sqlite"
        run_pk = fake_run(path, host, sleeper.pid, "some-boot:1")
        with Store.open(path) as store:
            assert store.load_node(run_pk).state == "KILLED"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_restart_refuses_a_run_that_is_still_running(tmp_path: Path) -> None:
    store = get_current_profile().store
    wg = pair.build(x=1)
    wg.run()
    host, pid, token = this_process()  # pretend this process is still running it
    store._append((OP_SQL, "INSERT INTO run_owner VALUES (?, ?, ?, ?)", (wg.pk, host, pid, token)))
    store.flush()
    with pytest.raises(FerroflowError, match=rf"run {wg.pk} is still running \(pid {pid} on"):
        WorkGraph.load(wg.pk)
    store._append((OP_SQL, "UPDATE run_owner SET host = 'far' WHERE run_pk = ?", (wg.pk,)))
    store.flush()
    with pytest.warns(UserWarning, match="host 'far', which this process cannot check"):
        again = WorkGraph.load(wg.pk)
    again.run()
    assert again.outputs.result.value == 4

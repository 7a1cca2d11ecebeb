"""A run whose process died is shown KILLED, never RUNNING for ever (ferroflow.store.owners).

The SIGKILL end to end (a real run killed mid-way, then restarted) is in test_restart.py; here
the owner rows themselves: claimed and released by every run, reaped when the process is gone
(also when its pid was reused), left alone for a live process or another host, and an old
file's views learn the new state.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from ferroflow import WorkGraph, get_current_profile, load_profile, task
from ferroflow.cli import main as cli_main
from ferroflow.errors import FerroflowError
from ferroflow.model.data import new_uuid
from ferroflow.store import Store, graph_read, owners
from ferroflow.store.owners import alive, this_process
from ferroflow.store.rows import OP_SQL
from ferroflow.store.schema import STATE_CODES
from layer_query import file_query

# The owner rows are OP_SQL rows: every test here runs once per committer (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("writer")


@task
def double(x: int) -> int:
    return 2 * x


@task.graph
def pair(x: int) -> int:
    return double(double(x).result).result


def owner_rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT run_pk, host, pid, token FROM run_owner").fetchall()


def fake_run(path: Path, host: str, pid: int, token: str, now: float | None = None) -> int:
    """A run node RUNNING with one RUNNING and one FINISHED task, claimed by ``pid``, all
    started at ``now`` (default: now)."""
    with Store.open(path) as store:
        run_pk, running, done = store.new_pk(), store.new_pk(), store.new_pk()
        now = time.time() if now is None else now
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
    with file_query(path) as query:
        rows = graph_read.run_node_rows(query, run_pk)
    return {row[4]: names[row[5]] for row in rows}


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


def test_a_batch_holding_a_runs_claim_and_release_writes_neither() -> None:
    # a small run commits whole in one batch: its owner row would be inserted and deleted in
    # one transaction, so the writer leaves both statements out; a claim whose release is not
    # in the batch (the run goes on, or another run's release) is written
    store = get_current_profile().store
    me = this_process()

    def claim(pk: int) -> tuple[object, ...]:
        return (OP_SQL, owners.CLAIM_SQL, (pk, *me))

    def release(pk: int) -> tuple[object, ...]:
        return (OP_SQL, owners.RELEASE_SQL, (pk,))

    clear = (OP_SQL, "DELETE FROM cancel_request WHERE run_pk = ?", (7,))
    rows = [claim(7), claim(8), release(9), release(7), clear, release(7)]
    statements = store._writer._rows.prepare(rows).params()[4]
    assert statements == [
        (owners.CLAIM_SQL, (8, *me)),  # run 8 goes on: its claim is kept
        (owners.RELEASE_SQL, (9,)),  # claimed in an earlier batch: released
        ("DELETE FROM cancel_request WHERE run_pk = ?", (7,)),
        (owners.RELEASE_SQL, (7,)),  # a second release has no claim left to cancel
    ]
    reversed_ = store._writer._rows.prepare([release(5), claim(5)]).params()[4]
    assert reversed_ == [(owners.RELEASE_SQL, (5,)), (owners.CLAIM_SQL, (5, *me))]


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
        namespace, boot, _ = owners._token(sleeper.pid).split("|")  # type: ignore[union-attr]
        # the same pid with another start time: an older process that had the pid is dead
        older = f"{namespace}|{boot}|1"
        assert alive(host, sleeper.pid, older) is False
        # ... and after a reboot every pid is a new process
        assert alive(host, sleeper.pid, f"{namespace}|another-boot|1") is False
        # another pid namespace (a container with this host name): this process cannot tell
        assert alive(host, sleeper.pid, f"4026531000|{boot}|1") is None
        path = tmp_path / "prov.sqlite"
        run_pk = fake_run(path, host, sleeper.pid, older)
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


def test_a_run_that_fails_before_its_tasks_start_releases_its_claim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failure between the claim and the first task (a wiring error found at submit, a
    cluster that cannot be reached, Ctrl-C) still ends the run: FAILED with the error, no owner
    row left behind (the owner is this live process: nothing would ever reap it)."""
    from ferroflow.engine.execution import Execution

    def broken(self: Execution, graph: object) -> None:
        raise RuntimeError("the cluster is unreachable")

    store = get_current_profile().store
    wg = pair.build(x=2)
    with monkeypatch.context() as patch:  # (undo() would also undo conftest's FERROFLOW_HOME)
        patch.setattr(Execution, "submit_graph", broken)
        with pytest.raises(RuntimeError, match="unreachable"):
            wg.run()
    (run,) = store.runs()
    assert run.state == "FAILED" and "RuntimeError: the cluster is unreachable" in (run.error or "")
    assert owner_rows(store.path) == [] and store.run_owner(run.pk) is None
    again = WorkGraph.load(run.pk)  # not refused as "still running"
    again.run()
    assert again.outputs.result.value == 8


def test_a_zombie_owner_is_dead() -> None:
    """A killed child its parent has not waited for yet still has its /proc entry."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        host, _, _ = this_process()
        stat = Path(f"/proc/{child.pid}/stat")
        deadline = time.monotonic() + 30
        while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.01)
        assert alive(host, child.pid, "") is False
    finally:
        child.wait()


def test_a_failing_reap_never_keeps_a_store_from_opening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "prov.sqlite"
    host, _, _ = this_process()
    run_pk = fake_run(path, host, a_dead_pid(), "")
    with monkeypatch.context() as patch:
        patch.setattr(owners, "REAP_SQL", "UPDATE no_such_table SET a = ?, b = ?, c = ?, d = ?")
        with Store.open(path) as store:  # opens, says why it could not mark the run
            assert store.load_node(run_pk).state == "RUNNING"
            store.flush()  # the failed statement was reported at open, not left for the user
    assert "could not mark runs whose process died" in caplog.text
    with Store.open(path) as store:  # the owner row stayed: the next open marks it
        assert store.load_node(run_pk).state == "KILLED"


def test_the_cli_shows_a_killed_run_with_its_last_sign_of_life(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Reaped days later, the run still lasted as long as it wrote anything, and ``runs show``
    says why it is KILLED."""
    path = load_profile().store_path
    host, _, _ = this_process()
    pid = a_dead_pid()
    three_days_ago = time.time() - 3 * 86400
    run_pk = fake_run(path, host, pid, "", now=three_days_ago)
    assert cli_main(["runs", "list"]) == 0  # opening the store reaps
    row = next(line for line in capsys.readouterr().out.splitlines() if "KILLED" in line)
    assert row.split()[0] == str(run_pk) and " 0 µs  " in row  # not 259200 s
    assert row.split("  ")[-1].startswith(f"the process running it (pid {pid} on {host})")
    run = load_profile().store.load_node(run_pk)
    assert run.mtime == three_days_ago
    assert cli_main(["runs", "show", str(run_pk)]) == 0
    assert f"! the process running it (pid {pid} on {host})" in capsys.readouterr().out


def test_runs_list_names_the_process_of_a_running_run(capsys: pytest.CaptureFixture[str]) -> None:
    path = load_profile().store_path
    host, pid, token = this_process()
    mine = fake_run(path, host, pid, token)  # "running" in this very process
    far = fake_run(path, "far-host", 4242, "")
    assert cli_main(["runs", "list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert f"RUNNING (pid {pid})" in rows[str(mine)]
    assert "RUNNING (pid 4242 on far-host)" in rows[str(far)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_claims_with_its_own_pid_and_token() -> None:
    parent = this_process()  # kept for this process from here on
    assert this_process() == parent
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: report what it would claim with, then leave
        try:
            os.write(write, json.dumps(this_process()).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert child[1] == pid != parent[1]
    assert child[0] == parent[0]  # same host
    assert child[2] != parent[2]  # its own start time: the parent's token would keep it alive
    assert alive(*child) is False  # the child is gone (and waited for): its runs get reaped
    assert alive(*parent) is True


def test_a_token_that_could_not_be_read_is_read_again_next_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One failed read of /proc must not leave this process with an empty token for life: its
    runs would then look like another process's to ``alive`` once the read works again."""
    monkeypatch.setattr(owners, "_this", None)
    real = owners._token
    monkeypatch.setattr(owners, "_token", lambda pid: None)
    assert this_process()[2] == ""
    monkeypatch.setattr(owners, "_token", real)
    host, pid, token = this_process()
    assert token and token == real(os.getpid())
    assert alive(host, pid, token) is True

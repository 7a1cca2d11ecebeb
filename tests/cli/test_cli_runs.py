"""``ferroflow runs list / show / cancel / delete`` through the console script, in subprocesses:
the filters and the error column of ``list``, the restart command after an unsuccessful run,
``cancel`` of a run another process is running, and ``delete`` keeping other runs intact and
the store sound (``store_rules``: SQLite's integrity check and the link rules)."""

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ferroflow
import pytest
import store_rules
from ferroflow import load_profile
from ferroflow.model.data import new_uuid
from ferroflow.store import Store, graph_read
from ferroflow.store.owners import this_process
from ferroflow.store.rows import OP_SQL
from layer_query import conn_query

SCRIPT = Path(sys.executable).parent / "ferroflow"
TESTS = Path(__file__).resolve().parents[1]
#: this checkout's package first (the venv holds an installed copy), then the test helpers
PATH = os.pathsep.join([str(Path(ferroflow.__file__).parents[1]), str(TESTS)])


class CLI:
    """Runs the console script with a private FERROFLOW_HOME."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {
            **os.environ,
            "FERROFLOW_HOME": str(home),
            "PYTHONPATH": PATH,
            "FERROFLOW_PROGRESS": "0",
        }

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(SCRIPT), *args], capture_output=True, text=True, env=self.env, timeout=120
        )
        if ok:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc

    def python(self, code: str, **env: str) -> str:
        """Run ``code`` in a fresh interpreter on this home; its standard output."""
        made = subprocess.run(
            [sys.executable, "-c", code],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert made.returncode == 0, made.stderr
        return made.stdout

    @property
    def store(self) -> Path:
        return self.home / "default" / "provenance.sqlite"


MIXED = "import provenance_flows as f; from ferroflow import load_profile; load_profile(); "


def rows(out: str) -> list[list[str]]:
    """The table rows of ``runs list`` (two spaces between columns), without its footnote."""
    lines = out.split("\n\n")[0].splitlines()[2:]
    return [re.split(r"\s{2,}", line) for line in lines]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CLI]:
    """The demo's two runs (ParallelSquare, then ScatterGatherSquare), then a FAILED Mixed."""
    runner = CLI(tmp_path_factory.mktemp("runs_home"))
    runner("demo", "-n", "3")
    runner.python(MIXED + "print(f.run_mixed())")
    yield runner


def test_runs_list_filters_by_state_name_and_age(cli: CLI) -> None:
    every = rows(cli("runs", "list").stdout)
    assert [r[1] for r in every] == ["Mixed", "ScatterGatherSquare", "ParallelSquare"]
    failed = cli("runs", "list", "--state", "failed")  # any case
    assert [r[1:3] for r in rows(failed.stdout)] == [["Mixed", "FAILED"]]
    assert rows(failed.stdout)[0][-1] == "ValueError: negative input"  # the failed task's error
    assert failed.stdout.rstrip().endswith("reusing what finished: ferroflow restart PK")
    finished = cli("runs", "list", "--state", "Finished").stdout
    assert [r[1] for r in rows(finished)] == ["ScatterGatherSquare", "ParallelSquare"]
    assert "restart" not in finished and all(r[-1] == "-" or len(r) == 5 for r in rows(finished))
    both = cli("runs", "list", "--state", "finished,FAILED").stdout
    assert len(rows(both)) == 3
    assert [r[1] for r in rows(cli("runs", "list", "--name", "Square").stdout)] == [
        "ScatterGatherSquare",
        "ParallelSquare",
    ]
    assert [r[1] for r in rows(cli("runs", "list", "--name", "Scatter*").stdout)] == [
        "ScatterGatherSquare"
    ]
    assert rows(cli("runs", "list", "--name", "square").stdout) == []  # case-sensitive
    assert [r[1] for r in rows(cli("runs", "list", "--limit", "1").stdout)] == ["Mixed"]
    one = cli("runs", "list", "--state", "FINISHED", "--name", "Parallel").stdout
    assert [r[1] for r in rows(one)] == ["ParallelSquare"]
    assert len(rows(cli("runs", "list", "--since", "2h").stdout)) == 3
    assert len(rows(cli("runs", "list", "--since", "2000-01-01").stdout)) == 3
    tomorrow = (dt.datetime.now() + dt.timedelta(days=1)).isoformat(timespec="minutes")
    assert rows(cli("runs", "list", "--since", tomorrow).stdout) == []
    bad = cli("runs", "list", "--state", "DONE", ok=False)
    assert bad.returncode == 1 and "unknown state 'DONE'" in bad.stderr
    bad = cli("runs", "list", "--since", "yesterday", ok=False)
    assert bad.returncode == 1 and "cannot read 'yesterday' as a time" in bad.stderr


def test_runs_show_prints_the_restart_command_of_an_unsuccessful_run(cli: CLI) -> None:
    pks = {r[1]: r[0] for r in rows(cli("runs", "list").stdout)}
    shown = cli("--profile", "default", "runs", "show", pks["Mixed"]).stdout.splitlines()
    assert shown[0].startswith(f"Mixed [graph pk={pks['Mixed']}] FAILED")
    assert shown[-1] == (
        f"run it again, reusing what finished: ferroflow restart {pks['Mixed']} --profile default"
    )
    assert "restart" not in cli("runs", "show", pks["ParallelSquare"]).stdout


def test_the_restart_command_names_the_graph_where_a_restart_needs_it(tmp_path: Path) -> None:
    """A run started from a script is stored as ``__main__.campaign`` and an imported run's
    names are never imported unless given: the command shows ``--graph`` for both."""
    cli = CLI(tmp_path / "home")
    cli.python(MIXED + "print(f.run_mixed())")
    script = subprocess.run(
        [sys.executable, str(TESTS / "restart_flows.py"), "1", "2"],
        env={**cli.env, "FF_FAIL": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "WorkflowFailedError" in script.stderr
    pk = rows(cli("runs", "list", "--name", "campaign").stdout)[0][0]
    assert (
        cli("runs", "show", pk)
        .stdout.rstrip()
        .endswith(
            f"ferroflow restart {pk} --graph MODULE.campaign  (MODULE: the module name of the "
            "script that ran it)"
        )
    )
    mixed = rows(cli("runs", "list", "--name", "Mixed").stdout)[0][0]
    exported = tmp_path / "mixed.json"
    cli("export", mixed, "-o", str(exported))
    imported = re.search(
        r"imported run pk (\d+)",
        cli("--profile", "other", "--create", "import", str(exported)).stdout,
    )
    assert imported is not None
    shown = cli("--profile", "other", "runs", "show", imported.group(1)).stdout
    assert shown.rstrip().endswith(
        f"ferroflow restart {imported.group(1)} --profile other --graph provenance_flows.Mixed"
        "  (an imported run: check that this is the graph to run)"
    )


def _side(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def test_runs_cancel_stops_a_run_of_another_process(tmp_path: Path) -> None:
    """A graph of 24 one-second tasks on two workers, cancelled from another shell once two
    have finished: it ends CANCELLED, its finished results are stored (a restart reuses each
    and runs only the rest), and the process running it says why it stopped."""
    cli = CLI(tmp_path / "home")
    side = tmp_path / "side"
    child = subprocess.Popen(
        [sys.executable, "-c", "import restart_flows; restart_flows.main(['', 2, 12])"],
        env={**cli.env, "FF_TASK_SECONDS": "1", "FF_SIDE_FILE": str(side)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(_side(side)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        running = rows(cli("runs", "list", "--state", "running").stdout)
        assert len(running) == 1 and running[0][2].startswith(f"RUNNING (pid {child.pid})")
        pk = running[0][0]
        refused = cli("runs", "delete", pk, ok=False)
        assert refused.returncode == 1 and f"run {pk} is still in progress" in refused.stderr
        out = cli("runs", "cancel", pk, "--timeout", "60").stdout
        _, stderr = child.communicate(timeout=60)
    finally:
        child.kill()
        child.wait()
    assert out.rstrip().endswith(f"go on with: ferroflow restart {pk}")
    assert child.returncode == 1
    assert "RunCancelledError" in stderr and f"ferroflow runs cancel {pk}" in stderr
    ran = _side(side)
    assert 2 <= len(ran) < 24
    tree = cli("runs", "show", pk).stdout
    assert tree.startswith(f"campaign [graph pk={pk}] CANCELLED")
    finished = re.findall(r"\n +work\d* \[task pk=\d+\] FINISHED ", tree)
    assert len(finished) == len(ran)  # every body that ran has its result stored
    assert tree.rstrip().endswith(f"ferroflow restart {pk}")
    assert rows(cli("runs", "list").stdout)[0][2] == "CANCELLED"
    again = cli("runs", "cancel", pk, ok=False)
    assert again.returncode == 1 and f"run {pk} is not running: it is CANCELLED" in again.stderr
    cli.env["FF_SIDE_FILE"] = str(side)  # (and no FF_TASK_SECONDS: the rest runs at once)
    restarted = cli("restart", pk).stdout
    reused = tree.count(" FINISHED ")  # the tasks above, and a shard's sum if one finished
    assert out.startswith(f"run {pk} CANCELLED: tasks finished: {reused}\n")
    assert f": FINISHED; {reused} of 27 task(s) reused stored results" in restarted
    assert sorted(_side(side)) == list(range(24))  # each task body ran once in all


def _fake_running_run(path: Path, host: str, pid: int, token: str) -> int:
    """A run node RUNNING with a RUNNING task, claimed by process ``pid``."""
    with Store.open(path) as store:
        run_pk, task = store.new_pk(), store.new_pk()
        now = time.time()
        store.record_process(run_pk, new_uuid(), "work", "g", "tests.g", "RUNNING", now, None)
        store.record_process(task, new_uuid(), "calc", "a", "tests.a", "RUNNING", now, run_pk)
        row: Any = (OP_SQL, "INSERT INTO run_owner VALUES (?, ?, ?, ?)", (run_pk, host, pid, token))
        store.record_rows([row])
        store.flush()
    return run_pk


def test_runs_cancel_of_runs_it_cannot_cancel(tmp_path: Path, ferroflow_home: Path) -> None:
    """An unknown pk, a finished run, a task node, a run whose process died (marked KILLED
    when the store opens, and said so), and a run whose process never reads requests (the
    wait times out, the request stays)."""
    cli = CLI(ferroflow_home)
    cli("demo", "-n", "2")
    path = load_profile().store_path
    load_profile().close()
    host, pid, token = this_process()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed = _fake_running_run(path, host, dead.pid, "")
    deaf = _fake_running_run(path, host, pid, token)  # this test process: it never polls
    unknown = cli("runs", "cancel", "9999", ok=False)
    assert unknown.returncode == 1 and "no node with pk=9999" in unknown.stderr
    finished = cli("runs", "cancel", "1", ok=False)
    assert "error: run 1 is not running: it is FINISHED" in finished.stderr
    not_run = cli("runs", "cancel", "2", ok=False)
    assert not_run.returncode == 1 and "not a top-level run" in not_run.stderr
    gone = cli("runs", "cancel", str(killed), ok=False)
    assert gone.returncode == 1 and f"run {killed} is not running: it is KILLED: " in gone.stderr
    assert f"the process running it (pid {dead.pid} on {host}) ended" in gone.stderr
    waited = cli("runs", "cancel", str(deaf), "--timeout", "0.5", ok=False)
    assert waited.returncode == 1
    assert f"run {deaf} is still RUNNING after 0.5 s: the request stays" in waited.stderr
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT run_pk FROM cancel_request").fetchall() == [(deaf,)]


#: tables a delete takes rows from, and the columns that say which run or node a row is of
_TABLES = (
    *("node", "link", "task_run", "input_ref", "blob", "code", "graph_recipe", "process_text"),
    *("extra", "run_owner"),
)


def _snapshot(path: Path) -> dict[str, set[tuple[Any, ...]]]:
    with sqlite3.connect(path) as conn:
        return {t: set(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in _TABLES}


def _run_rows(path: Path, run_pk: int) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of one run: its process nodes, their links, the data nodes at their ends,
    its packed task runs with their ``input_ref`` rows, and its code digests."""
    with sqlite3.connect(path) as conn:
        procs = {r[0] for r in conn.execute("SELECT pk FROM node WHERE run_pk = ?", (run_pk,))}
        marks = ",".join("?" * len(procs))
        links = set(
            conn.execute(
                f"SELECT * FROM link WHERE src IN ({marks}) OR dst IN ({marks})", [*procs, *procs]
            ).fetchall()
        )
        pks = procs | {link[0] for link in links} | {link[1] for link in links}
        nodes = conn.execute(
            f"SELECT * FROM node WHERE pk IN ({','.join('?' * len(pks))})", sorted(pks)
        ).fetchall()
        code = conn.execute("SELECT * FROM code WHERE run_pk = ?", (run_pk,)).fetchall()
        packed = set(conn.execute("SELECT * FROM task_run WHERE run_pk = ?", (run_pk,)))
        packed |= set(
            conn.execute(
                "SELECT * FROM input_ref WHERE dst IN (SELECT pk FROM task_run WHERE run_pk = ?)",
                (run_pk,),
            )
        )
    return {"nodes": set(nodes), "links": links, "packed": packed, "code": set(code)}


def _without_cached_from(rows: set[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    return {row[:-1] for row in rows}  # cached_from is the node table's last column


def test_runs_delete_keeps_other_runs_and_the_store_sound(tmp_path: Path) -> None:
    cli = CLI(tmp_path / "home")
    cli("demo", "-n", "3")
    mixed = int(cli.python(MIXED + "print(f.run_mixed())").split()[-1])
    again = re.search(r"as run (\d+)", cli("restart", str(mixed), ok=False).stdout)
    assert again is not None
    restart = int(again.group(1))  # FAILED again, reusing make and norm from `mixed`
    pks = {r[1]: int(r[0]) for r in rows(cli("runs", "list").stdout) if r[1] != "Mixed"}
    parallel, scatter = pks["ParallelSquare"], pks["ScatterGatherSquare"]
    path = cli.store
    before = _snapshot(path)
    assert before["blob"]  # Mixed stores a large list as a blob; its restart shares it
    assert before["task_run"]  # the runs' fast-lane tasks are stored packed
    kept = {pk: _run_rows(path, pk) for pk in (scatter, mixed, restart)}

    refused = cli("runs", "delete", str(mixed), ok=False)
    assert refused.returncode == 1
    assert f"run {mixed} is used by other runs: run(s) {restart} use" in refused.stderr
    assert f"2 task run(s) of run(s) {restart} reused its results" in refused.stderr
    assert _snapshot(path) == before  # nothing changed

    out = cli("runs", "delete", str(parallel)).stdout
    assert out.startswith(f"deleted run {parallel} (ParallelSquare): 4 process node(s), 6 data")
    assert store_rules.violations(path) == []
    assert {pk: _run_rows(path, pk) for pk in kept} == kept  # the others are unchanged
    with sqlite3.connect(path) as conn:
        for table in ("node", "task_run", "code", "graph_recipe", "run_owner", "cancel_request"):
            sql = f"SELECT count(*) FROM {table} WHERE run_pk = ?"
            assert conn.execute(sql, (parallel,)).fetchone() == (0,), table
    gone = cli("runs", "show", str(parallel), ok=False)
    assert gone.returncode == 1 and f"no node with pk={parallel}" in gone.stderr

    forced = cli("runs", "delete", str(mixed), "--force").stdout.splitlines()
    assert forced[0].startswith(f"deleted run {mixed} (Mixed): 4 process node(s)")
    assert forced[1] == "kept 1 data node(s) that other runs use too"  # the input n
    assert forced[2].startswith(f"2 task run(s) of run(s) {restart} had reused its results")
    assert store_rules.violations(path) == []
    after = _run_rows(path, restart)
    assert after["links"] == kept[restart]["links"] and after["code"] == kept[restart]["code"]
    assert after["packed"] == kept[restart]["packed"]
    assert _without_cached_from(after["nodes"]) == _without_cached_from(kept[restart]["nodes"])
    assert _run_rows(path, scatter) == kept[scatter]
    assert all(row[-1] is None for row in after["nodes"])  # no origin named any more
    with sqlite3.connect(path) as conn:  # the blob the restart's value shares is kept
        assert conn.execute("SELECT count(*) FROM blob").fetchone() == (len(before["blob"]),)
    # the restart's stored values read back, and its results are still hits for the next
    exported = cli("export", str(restart), "--format", "json").stdout
    assert '"make"' in exported
    third = cli("restart", str(restart), ok=False).stdout
    assert ": FAILED; 2 of 3 task(s) reused stored results" in third
    newest = re.search(r"as run (\d+)", third)
    assert newest is not None

    done = cli("runs", "delete", str(restart), "--force").stdout
    assert done.startswith(f"deleted run {restart} (Mixed)")
    assert cli("runs", "delete", newest.group(1)).stdout.startswith("deleted run")
    assert store_rules.violations(path) == []
    assert _run_rows(path, scatter) == kept[scatter]
    with sqlite3.connect(path) as conn:  # nothing of the Mixed runs is left
        assert conn.execute("SELECT count(*) FROM blob").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM code").fetchone() == (len(kept[scatter]["code"]),)
    wrong = cli("runs", "delete", str(scatter + 1), ok=False)  # not a run: its input
    assert wrong.returncode == 1 and "not a top-level run" in wrong.stderr
    unknown = cli("runs", "delete", "9999", ok=False)
    assert unknown.returncode == 1 and "no node with pk=9999" in unknown.stderr


def test_restart_rebuilds_an_explicit_graph_with_its_handlers_labels_and_cap(
    tmp_path: Path,
) -> None:
    """``ferroflow restart`` of a graph built with ``add_task``: the inline task's error
    handler, its call's label and the graph's ``max_number_jobs`` come back from the recipe
    (without the handler the task, which must run again, would fail)."""
    cli = CLI(tmp_path / "home")
    old = cli.python("import recipe_flows as f; print(f.run_handled())").strip()
    out = cli("restart", old).stdout
    found = re.search(rf"restarted run {old} as run (\d+): FINISHED; 0 of 1 task", out)
    assert found is not None, out
    new = int(found.group(1))
    with sqlite3.connect(cli.store) as conn:
        procs = [row[0] for row in graph_read.run_node_rows(conn_query(conn), new)]
        labels = conn.execute(
            "SELECT DISTINCT label, description FROM process_text"
            f" WHERE pk IN ({','.join('?' * len(procs))})",
            procs,
        ).fetchall()
        (recipe,) = conn.execute(
            "SELECT recipe FROM graph_recipe WHERE run_pk = ?", (new,)
        ).fetchone()
    assert labels == [("flipped", "made positive")]
    assert '"max_number_jobs":1' in recipe


IMPORT_HOSTILE = """
import json, provenance_flows as f
from ferroflow import load_profile
from ferroflow.export import import_run
document = f.export_json(load_profile().store, f.run_howto())
root = next(n for n in document["nodes"] if n["uuid"] == document["run"])
root["label"] = "G\\x1b]0;owned\\x07\\x1b[2J\\r\\nfake  FINISHED  row\\u202e"
root["state"], root["error"] = "FAILED", "boom\\x1b[8m hidden"
path = f.write_json(document, __import__("pathlib").Path({out!r}))
print(import_run(load_profile("imp").store, path).run_pk)
"""


def test_stored_text_from_an_imported_file_never_reaches_the_terminal_raw(tmp_path: Path) -> None:
    runner = CLI(tmp_path / "home")
    run_pk = runner.python(IMPORT_HOSTILE.format(out=str(tmp_path / "run.json"))).strip()
    listed = runner("--profile", "imp", "runs", "list")
    shown = runner("--profile", "imp", "runs", "show", run_pk)
    node = runner("--profile", "imp", "node", "show", run_pk)
    for proc in (listed, shown, node):
        text = proc.stdout + proc.stderr
        assert not set(text) & {"\x1b", "\x07", "\r", "\u202e"}, text
        assert "\\x1b]0;owned\\x07" in text, text  # shown, as an escape
    _header, _rule, *table = listed.stdout.split("\n\n")[0].splitlines()
    assert len(table) == 1, table  # the label's line break made no row of its own
    assert table[0].startswith(f"{run_pk}  ") and "  FAILED  " in table[0]

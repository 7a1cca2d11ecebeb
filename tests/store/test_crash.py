"""Crash safety of the provenance store: SIGKILL a writing process at random moments, then check.

A child process (this file run as a script) runs a long campaign (234,001 small tasks, several
times the longest delay before a kill, so the kill lands mid-run where only the writer's periodic
commits save anything), with graph tasks nested three deep, full provenance, in its own
``FERROFLOW_HOME`` and the default ``commit_interval`` (0.2 s). Every leaf task appends
``"x time"`` to a side file with one ``write(2)`` per line just before it returns, so the parent
knows which tasks had finished when.
The parent kills the child with SIGKILL after a random delay, several times (each time a new child
writes to the same profile), and after each kill checks the store:

* SQLite's ``integrity_check`` and ``foreign_key_check`` pass, and ferroflow's ``Store`` opens it;
* AiiDA's link rules hold, checked in SQL: link types match the kinds of their ends, no link
  points to a missing node, one creator per datum, one caller per process, unique labels;
* every process stored FINISHED is complete: a finished calc has its ``CALL_CALC`` link and all
  its ``INPUT_CALC`` links (for ``total``: the sum of its stored inputs equals its stored
  result, so a missing input would show) and its ``CREATE`` links; a finished graph task has its
  caller, its ``INPUT_WORK`` links and a ``RETURN`` whose value is the sum it must be, and all
  the processes it called are finished;
* nothing is missing that finished more than :data:`MARGIN` seconds before the kill.

Finally a last child runs a campaign to completion in the same profile: it must succeed (a pk
collision would raise ``StoreWriteError``), and its pks are all above every pk written before.

The margin: a row is committed by the writer's next wake-up (``commit_interval`` = 0.2 s) plus
the time to convert and commit that batch; the store's backpressure (``Store.throttle``) keeps
batches small when the workers outrun the writer (without it the writer fell seconds behind
and this test failed). On the 2-core development VM the oldest missing task had finished at most
0.04 s before the kill (fast lane), 0.15 s with ``FERROFLOW_FAST_LANE=0``, and 0.52 s with that
and a CPU hog on both cores. MARGIN is 0.2 s + 1.0 s of slack for loaded CI machines. The child
is killed 0.15-0.3 s after it is ready (before its first batch commits: integrity only) once,
and MARGIN + 0.3-1.2 s after it three times, in random order (the seed is in the messages).
It runs once per committer (``writer``, tests/conftest.py): 15-25 s each on the 2-core VM.

Faults of the file rather than of the process, each in a child after a finished run: a full
disk (SQLite's ``max_page_count`` stands in for it: ``SQLITE_FULL`` as a full disk gives it,
deterministically and without root), a write the kernel refuses (``RLIMIT_FSIZE`` set from a
task on: ``EFBIG``, which SQLite reports as a disk I/O error), the store deleted mid-run, and
the store replaced mid-run by a copy (a backup restored). The run ends FAILED, never
FINISHED; ``ferroflow runs show`` says what was lost; the file passes ``store_rules``
(integrity, no dangling link, the link rules) and the completeness rules above; no finished
row is rewritten; a replacing file gets no row at all.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import time
import typing as t
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from ferroflow import dynamic, load_profile, task
from ferroflow.model.vocabulary import KIND_CODES, Kind, Link
from ferroflow.store import Store, graph_read, schema
from ferroflow.store.graph_read import Query
from layer_query import conn_query, file_query
from store_rules import PACKED_RULES, both_forms, on_both, snapshot, violations

COMMIT_INTERVAL = 0.2  # the default the child's profile uses
#: a fault test's child meets its fault at this many leaves run (whichever they are: nested
#: blocks expand in no fixed order, so a leaf's *value* may come late in the run, when what
#: is left to write is smaller than the file already is and a size limit is never reached)
FAULT_AT = 2000
MARGIN = COMMIT_INTERVAL + 1.0
LEAVES = 64  # per block (78 tasks: 64 leaves, 7 totals, 7 graph tasks)
LONG = 3000  # blocks in a killed child's campaign: 234,001 tasks, far longer than any kill's delay
SHORT = 40  # blocks in the last child's campaign
DEPTH = 2  # block → block → block → leaves: graph tasks nested three deep under the run

# -- the child's workflow --------------------------------------------------------------------------

_log_fd: int | None = None
#: (leaf input, what it does to the store file then) in a child of the fault tests
_fault: tuple[int, t.Callable[[], None]] | None = None
_leaves_run = itertools.count(1)  # (next() on it is atomic under the GIL)


@task
def leaf(x: int) -> int:
    if _log_fd is not None:
        os.write(_log_fd, f"{x} {time.time():.6f}\n".encode())
    if _fault is not None and next(_leaves_run) == _fault[0]:
        _fault[1]()
    return x


@task
def total(values: t.Annotated[dict, dynamic(int)]) -> int:
    return sum(values.values())


@task.graph
def block(base: int, n: int, depth: int) -> int:
    if depth == 0:
        return total(values={f"v{i}": leaf(x=base + i).result for i in range(n)}).result
    half = n // 2
    a = block(base=base, n=half, depth=depth - 1).result
    b = block(base=base + half, n=n - half, depth=depth - 1).result
    return total(values={"a": a, "b": b}).result


@task.graph
def campaign(base: int, blocks: int, n: int) -> int:
    parts = {f"b{k}": block(base=base + k * n, n=n, depth=DEPTH).result for k in range(int(blocks))}
    return total(values=parts).result


def child_main(log_path: str, child_id: int, runs: int, blocks: int) -> None:
    """Run campaigns of ``blocks`` blocks (``runs`` of them, or until killed when 0) on the
    current profile."""
    global _log_fd
    _log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    store = load_profile().store
    print("ready", store._writer.committer, flush=True)  # which committer writes here
    run = 0
    while runs == 0 or run < runs:
        base = child_id * 10**9 + run * 10**7
        wg = campaign.build(base, blocks, LEAVES)
        wg.run(max_workers=2)
        assert wg.outputs.result.value == sum(range(base, base + blocks * LEAVES))
        print(json.dumps({"run_pk": wg.pk}), flush=True)
        run += 1


def _limit_file_size(path: Path, room: int) -> None:
    """Once what is queued is on disk, let the WAL grow only ``room`` bytes more: the kernel
    refuses writes past that offset in any file of this process (EFBIG), as a failing disk
    would, and SQLite reports a disk I/O error.

    The WAL is emptied first (a TRUNCATE checkpoint), and the limit counts from there, not from
    the store file: how much of the run is in that file when the fault comes varies (graph
    tasks expand in no fixed order), and a file larger than what the rest of the run writes
    would put the limit out of reach. Nothing writes the store file itself until the run ends
    (:func:`fault_main` stops the checkpointer), so its size past the limit does not matter."""
    load_profile().store.flush()
    conn = sqlite3.connect(path, timeout=30)
    try:
        # a checkpoint the store's checkpointer is running makes this one busy at once (the
        # busy timeout only waits for readers and writers): try again once it is done
        for _ in range(500):
            ((busy, _, _),) = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            if not busy:
                break
            time.sleep(0.01)
    finally:
        conn.close()
    assert busy == 0, "the WAL could not be emptied before the fault"
    wal = os.path.getsize(f"{path}-wal")
    resource.setrlimit(resource.RLIMIT_FSIZE, (wal + room, resource.RLIM_INFINITY))


def fault_main(how: str, arg: str, blocks: int) -> None:
    """Run one campaign of ``blocks`` blocks while the store's file fails: ``full`` (SQLite's
    page limit ``arg`` stands in for the disk), ``write-error`` (from a task on, files may grow
    only ``arg`` bytes more), ``remove`` (a task deletes the file) or ``replace`` (a task puts
    the copy at ``arg`` in its place, as restoring a backup would). Prints what ``run()``
    raised and the run's state, as JSON."""
    global _fault
    if how == "full":
        schema.EXTRA_PRAGMAS = [f"PRAGMA max_page_count = {int(arg)}"]
    store = load_profile().store
    path = store.path
    if how == "write-error":
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not a signal that kills
        # The writer's own writes must meet the fault. The checkpointer would otherwise copy
        # the WAL into the file from time to time, so the file (and with it the limit) could
        # be larger than anything the rest of the run adds to the WAL; it would meet the fault
        # itself (committed rows stay safe in the WAL) and the run could finish untouched.
        checkpointer = store._writer._checkpointer
        assert checkpointer is not None
        checkpointer.stop()
        _fault = (FAULT_AT, lambda: _limit_file_size(path, int(arg)))
    elif how == "remove":
        _fault = (FAULT_AT, lambda: os.remove(path))
    elif how == "replace":
        _fault = (FAULT_AT, lambda: os.replace(arg, path))
    wg = campaign.build(0, blocks, LEAVES)
    try:
        wg.run(max_workers=2)
        raised = None
    except Exception as exc:
        raised = {"type": type(exc).__name__, "message": str(exc)}
    report = {"committer": store._writer.committer, "run_pk": wg.pk, "state": wg.state}
    print(json.dumps({**report, "raised": raised}), flush=True)


# -- checks --------------------------------------------------------------------------------------

# kinds: 0 data, 1 calc, 2 work; link types: 0 INPUT_CALC 1 INPUT_WORK 2 CREATE 3 RETURN
# 4 CALL_CALC 5 CALL_WORK; states: 1 RUNNING 2 FINISHED 6 KILLED
LINK_RULES = {
    "link from a missing node": "SELECT * FROM link WHERE src NOT IN (SELECT pk FROM node)",
    "link to a missing node": "SELECT * FROM link WHERE dst NOT IN (SELECT pk FROM node)",
    "link of a wrong kind": """
        SELECT l.* FROM link l JOIN node s ON s.pk = l.src JOIN node d ON d.pk = l.dst
        WHERE (s.kind, d.kind) != (CASE l.type WHEN 0 THEN 0 WHEN 1 THEN 0 WHEN 2 THEN 1
                                               WHEN 3 THEN 2 ELSE 2 END,
                                   CASE l.type WHEN 0 THEN 1 WHEN 1 THEN 2 WHEN 2 THEN 0
                                               WHEN 3 THEN 0 WHEN 4 THEN 1 WHEN 5 THEN 2 END)""",
    "unknown link type": "SELECT * FROM link WHERE type NOT BETWEEN 0 AND 5",
    "self link": "SELECT * FROM link WHERE src = dst",
    "datum with two creators": (
        "SELECT dst FROM link WHERE type = 2 GROUP BY dst HAVING count(*) > 1"
    ),
    "process with two callers": (
        "SELECT dst FROM link WHERE type IN (4, 5) GROUP BY dst HAVING count(*) > 1"
    ),
    "two inputs with one label": (
        "SELECT dst, label FROM link WHERE type IN (0, 1) GROUP BY dst, type, label"
        " HAVING count(*) > 1"
    ),
    "two outputs with one label": (
        "SELECT src, label FROM link WHERE type IN (2, 3) GROUP BY src, type, label"
        " HAVING count(*) > 1"
    ),
    "top-level run with a caller": """
        SELECT n.pk FROM node n JOIN link l ON l.dst = n.pk AND l.type IN (4, 5)
        WHERE n.kind = 2 AND n.run_pk = n.pk""",
    "finished process without a caller": """
        SELECT pk FROM node WHERE kind IN (1, 2) AND state = 2 AND run_pk != pk
        AND pk NOT IN (SELECT dst FROM link WHERE type IN (4, 5))""",
    "finished calc without outputs": """
        SELECT pk FROM node WHERE kind = 1 AND state = 2
        AND pk NOT IN (SELECT src FROM link WHERE type = 2)""",
    "finished graph without a result": """
        SELECT pk FROM node WHERE kind = 2 AND state = 2
        AND pk NOT IN (SELECT src FROM link WHERE type = 3 AND label = 'result')""",
    "finished graph calling an unfinished process": """
        SELECT p.pk, c.pk FROM link l JOIN node p ON p.pk = l.src JOIN node c ON c.pk = l.dst
        WHERE l.type IN (4, 5) AND p.state = 2 AND c.state != 2""",
    "process of a missing run": """
        SELECT n.pk FROM node n LEFT JOIN node r ON r.pk = n.run_pk
        WHERE n.kind IN (1, 2) AND (r.pk IS NULL OR r.kind != 2 OR r.run_pk != r.pk)""",
    "data node with a state or process without one": """
        SELECT pk FROM node WHERE (kind = 0) != (state IS NULL) OR kind NOT IN (0, 1, 2)""",
    "node in an unexpected state": "SELECT pk FROM node WHERE state NOT IN (1, 2, 6)",
    # 6 KILLED: set by the next process that opens the store, for the runs of a dead one
    "KILLED node in a run that was not killed": """
        SELECT n.pk FROM node n JOIN node r ON r.pk = n.run_pk
        WHERE n.state = 6 AND r.state != 6""",
    "run in progress without its owner row": """
        SELECT pk FROM node WHERE kind = 2 AND run_pk = pk AND state = 1
        AND pk NOT IN (SELECT run_pk FROM run_owner)""",
    "finished run still owned": """
        SELECT o.run_pk FROM run_owner o JOIN node n ON n.pk = o.run_pk WHERE n.state != 1""",
}


def finished(query: Query, kind: str) -> list[int]:
    """The pks of the FINISHED processes whose type ends in ``.{kind}`` (any case, as SQL's
    ``LIKE``), read through the reading layer: the processes of every top-level run (the link
    rules, checked first, say that every process belongs to one)."""
    return [
        row[0]
        for run in graph_read.top_level_runs(query)
        for row in graph_read.run_node_rows(query, run[0], (Kind.CALC, Kind.WORK))
        if row[5] == FINISHED and str(row[3]).lower().endswith(f".{kind}")
    ]


def ints(
    query: Query, processes: list[int], link_type: str, incoming: bool
) -> dict[int, dict[str, int]]:
    """``{process pk: {label: int value}}`` of the ``link_type`` data links into (or out of)
    ``processes``, for those that have any."""
    found: dict[int, dict[str, int]] = defaultdict(dict)
    links = graph_read.links(query, processes, incoming, (link_type,))
    values = graph_read.value_parts(query, [link.src if incoming else link.dst for link in links])
    for link in links:
        near, far = (link.dst, link.src) if incoming else (link.src, link.dst)
        found[near][link.label] = json.loads(values[far][1])
    return found


def broken(conn: sqlite3.Connection, link_rules: dict[str, str]) -> dict[str, list[t.Any]]:
    """The rows breaking each of ``link_rules`` on ``conn``; with packed task runs in the store,
    over both forms (``store_rules.both_forms``: a link into an inline node is not dangling),
    plus the packed rows' own rules."""
    rules = dict(link_rules)
    if both_forms(conn):
        rules = {rule: on_both(sql) for rule, sql in link_rules.items()} | PACKED_RULES
    return {rule: conn.execute(sql).fetchall() for rule, sql in rules.items()}


def check_store(path: Path, logs: list[tuple[Path, float | None]]) -> dict[str, int]:
    """Every check of the module docstring, given each child's side file and kill time (None:
    it ran to completion); returns counts for the caller's sanity checks."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        for rule, bad in broken(conn, LINK_RULES).items():
            assert not bad, f"{rule}: {bad[:5]}"
        query = conn_query(conn)
        leaves, totals, blocks = (finished(query, kind) for kind in ("leaf", "total", "block"))
        calls = dict.fromkeys(blocks, 0)
        for link in graph_read.links(query, blocks, False, (Link.CALL_CALC, Link.CALL_WORK)):
            calls[link.src] += 1
        leaf_in = ints(query, leaves, Link.INPUT_CALC, incoming=True)
        leaf_out = ints(query, leaves, Link.CREATE, incoming=False)
        total_in = ints(query, totals, Link.INPUT_CALC, incoming=True)
        total_out = ints(query, totals, Link.CREATE, incoming=False)
        block_in = ints(query, blocks, Link.INPUT_WORK, incoming=True)
        block_out = ints(query, blocks, Link.RETURN, incoming=False)
        counts = {}
        for name, code in sorted(KIND_CODES.items(), key=lambda item: item[1]):
            if n := graph_read.count_nodes(query, kinds=(name,)):
                counts[f"kind {code}"] = n
    # finished leaves: input x, output result = x
    assert leaf_in.keys() == leaf_out.keys()
    for pk, inputs in leaf_in.items():
        assert inputs == {"x": leaf_out[pk]["result"]}, pk
    # finished totals: all inputs there (their sum is the stored result)
    assert total_in.keys() == total_out.keys()
    for pk, inputs in total_in.items():
        assert sum(inputs.values()) == total_out[pk]["result"], (pk, inputs, total_out[pk])
    # finished graph tasks: their inputs, their result, their calls
    assert block_in.keys() == block_out.keys() == calls.keys()
    for pk, inputs in block_in.items():
        assert inputs.keys() == {"base", "n", "depth"}, (pk, inputs)
        base, n, depth = inputs["base"], inputs["n"], inputs["depth"]
        assert block_out[pk] == {"result": sum(range(base, base + n))}, pk
        assert calls[pk] == (n + 1 if depth == 0 else 3), pk
    # nothing that finished well before the kill is missing
    stored = {values["result"] for values in leaf_out.values()}
    logged: dict[int, float] = {}
    must: set[int] = set()
    lag = 0.0
    for log, t_kill in logs:
        mine: set[int] = set()
        for line in log.read_text().splitlines():
            x, _, when = line.partition(" ")
            logged[int(x)] = float(when)
            mine.add(int(x))
            if t_kill is None or float(when) < t_kill - MARGIN:
                must.add(int(x))
        missing = must - stored
        assert not missing, (
            f"{log.name}: {len(missing)} tasks finished more than {MARGIN} s before the kill are "
            f"not stored; the oldest {(t_kill or 0) - min(logged[x] for x in missing):.2f} s"
        )
        late = [logged[x] for x in mine - stored]
        if t_kill is not None and late:
            lag = max(lag, t_kill - min(late))
    assert stored <= logged.keys(), "stored leaves that never ran"
    with Store.open(path) as store:  # ferroflow opens it and reads it
        runs = store.runs()
        if leaf_out:
            node = store.load_node(min(leaf_out))
            assert node.state == "FINISHED" and node.caller is not None
            assert [(kind, label, n.value) for kind, label, n in node.outputs] == [
                ("CREATE", "result", leaf_out[node.pk]["result"])
            ]
    return {
        "checked": len(must),
        "finished leaves": len(stored),
        "runs": len(runs),
        "oldest missing, ms before the kill": round(lag * 1000),
        **counts,
    }


def test_sigkill_at_random_moments_leaves_a_consistent_store(tmp_path: Path, writer: str) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    delays = [rng.uniform(0.15, 0.3)] + [rng.uniform(MARGIN + 0.3, MARGIN + 1.2) for _ in range(3)]
    rng.shuffle(delays)
    env = child_env(tmp_path / "home")
    store_path = tmp_path / "home" / "default" / "provenance.sqlite"
    logs: list[tuple[Path, float | None]] = []
    checked = 0  # tasks whose presence was required

    def start(child_id: int, runs: int, blocks: int) -> subprocess.Popen[str]:
        log = tmp_path / f"leaves-{child_id}.txt"
        logs.append((log, None))
        with open(log.with_suffix(".err"), "w") as err:  # a file: a full pipe would block it
            proc = subprocess.Popen(
                [sys.executable, __file__, str(log), str(child_id), str(runs), str(blocks)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        if ready != f"ready {writer}\n":
            proc.kill()
            proc.communicate()
            raise AssertionError(f"child did not start: {ready!r} {stderr(child_id)}")
        return proc

    def stderr(child_id: int) -> str:
        return (tmp_path / f"leaves-{child_id}.err").read_text()

    for child_id, delay in enumerate(delays, 1):
        proc = start(child_id, runs=0, blocks=LONG)
        time.sleep(delay)
        t_kill = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        info = f"seed {seed}, kill {child_id} after {delay:.2f} s"
        assert proc.returncode == -signal.SIGKILL, f"{info}: child died early: {stderr(child_id)}"
        logs[-1] = (logs[-1][0], t_kill)
        counts = check_store(store_path, logs)
        print(info, counts)
        checked = counts["checked"]  # over all the kills so far

    assert checked > 500, "the completeness check was vacuous"  # ~30,000 on the 2-core VM
    with file_query(store_path) as query:
        max_pk_before = graph_read.last_node_pk(query)
        nodes_before = graph_read.count_nodes(query)
    assert max_pk_before is not None
    proc = start(len(delays) + 1, runs=1, blocks=SHORT)
    try:
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()  # (a no-op once it has exited)
    assert proc.returncode == 0, stderr(len(delays) + 1)
    run_pk = json.loads(out.splitlines()[-1])["run_pk"]
    counts = check_store(store_path, logs)  # everything of the last run is stored
    with file_query(store_path) as query:
        run_rows = graph_read.run_node_rows(query, run_pk)
        nodes_after = graph_read.count_nodes(query)
    run_pks = [row[0] for row in run_rows]
    states = sorted(Counter(row[5] for row in run_rows).items())
    tasks = SHORT * (LEAVES + 14) + 1  # the blocks' tasks and the top total
    assert states == [(2, tasks + 1)]  # every task and the run itself FINISHED
    with file_query(store_path) as query:
        left_running = graph_read.count_nodes(query, states=(schema.STATE_CODES["RUNNING"],))
        run_states = dict(Counter(row[5] for row in graph_read.top_level_runs(query)))
    # the last child reaped every run of the killed ones when it opened the store; a killed
    # child that finished a campaign before its kill left that run FINISHED (2), the rest are
    # KILLED (6)
    assert left_running == 0
    assert set(run_states) <= {2, 6} and run_states.get(6, 0) >= 1, run_states
    assert sum(run_states.values()) == counts["runs"]
    assert min(run_pks) > max_pk_before
    assert counts["runs"] >= len(delays)  # an early kill may precede its run's first commit
    # each task's output (one per task) plus the leaves' inputs and the graphs' literal inputs
    assert nodes_after > nodes_before + 2 * tasks


# -- faults of the file: disk full, the store removed or replaced mid-run -------------------------

# the rules above hold whatever the end of a run, but for the end states allowed (FAILED too)
COMPLETE_RULES = {r: sql for r, sql in LINK_RULES.items() if r != "node in an unexpected state"}
FINISHED = schema.STATE_CODES["FINISHED"]
UNFINISHED = (schema.STATE_CODES["PLANNED"], schema.STATE_CODES["RUNNING"])


def child_env(home: Path) -> dict[str, str]:
    """The environment of a child: its profile in ``home``, two workers, tests/ importable."""
    tests = str(Path(__file__).resolve().parents[1])
    paths = [tests, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {
        **os.environ,
        "FERROFLOW_HOME": str(home),
        "FERROFLOW_WORKERS": "2",
        "PYTHONPATH": os.pathsep.join(paths),
    }


def child(env: dict[str, str], *args: str) -> str:
    """Run this file as a child with ``args``; its stdout (it must exit 0)."""
    proc = subprocess.run(
        [sys.executable, __file__, *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def finished_run(env: dict[str, str], tmp_path: Path, blocks: int = 4) -> int:
    """A campaign run to completion by a child; its pk."""
    out = child(env, str(tmp_path / "leaves-ok.txt"), "7", "1", str(blocks))
    return int(json.loads(out.splitlines()[-1])["run_pk"])


def fault_run(env: dict[str, str], writer: str, how: str, arg: str) -> dict[str, t.Any]:
    """What a child's campaign met with the store file failing (:func:`fault_main`)."""
    out = child(env, "fault", how, arg, "200")
    report: dict[str, t.Any] = json.loads(out.splitlines()[-1])
    assert report["committer"] == writer
    return report


def rows(path: Path, sql: str, *params: object) -> list[tuple[t.Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def layer(path: Path, read: t.Callable[..., t.Any], *args: t.Any) -> t.Any:
    """``read(query, *args)``, a reading-layer function, over a connection of its own."""
    with file_query(path) as query:
        return read(query, *args)


def state_and_error(path: Path, pk: int) -> tuple[int | None, str | None]:
    """Node ``pk``'s state code and error text (it must exist)."""
    row = layer(path, graph_read.node_row, pk)
    assert row is not None, pk
    return row[5], row[6]


#: how the file fails -> what SQLite says
WRITE_FAULTS = {"full": "database or disk is full", "write-error": "disk I/O error"}


@pytest.mark.parametrize("how", list(WRITE_FAULTS))
def test_a_full_disk_or_a_write_error_fails_the_run_and_loses_nothing_finished(
    tmp_path: Path, writer: str, how: str
) -> None:
    env = child_env(tmp_path / "home")
    path = tmp_path / "home" / "default" / "provenance.sqlite"
    done = finished_run(env, tmp_path)
    before = snapshot(path)
    packed_before = {
        name: set(rows(path, f"SELECT * FROM {name}")) for name in ("task_run", "input_ref")
    }
    ((pages,),) = rows(path, "PRAGMA page_count")
    # A run of 15,600 tasks (~6 MB) meets the fault part way: the disk is full 2.4 MB on,
    # more than any first batch, or files can grow 100 kB more from its 2,000th leaf on.
    arg = str(pages + 600) if how == "full" else "100000"
    report = fault_run(env, writer, how, arg)
    said = WRITE_FAULTS[how]
    pk = report["run_pk"]
    assert report["state"] == "FAILED", report
    raised = report["raised"]
    assert raised["type"] == "StoreWriteError", raised
    assert said in raised["message"] and str(path) in raised["message"]
    assert "were not written" in raised["message"]
    # the store is consistent: SQLite's check, every link's ends, AiiDA's link rules; whatever
    # is stored FINISHED is complete
    assert violations(path) == []
    with sqlite3.connect(path) as conn:
        for rule, bad in broken(conn, COMPLETE_RULES).items():
            assert bad == [], rule
    conn.close()
    # finished rows were never rewritten: every row from before is there as it was, in either
    # form of a task run
    after = snapshot(path)
    for table in ("node", "link", "blob"):
        assert before[table] <= after[table], table
    for table in ("task_run", "input_ref"):
        assert packed_before[table] <= set(rows(path, f"SELECT * FROM {table}")), table
    assert (done, FINISHED) in [(row[0], row[5]) for row in layer(path, graph_read.top_level_runs)]
    # the run is FAILED with the reason, none of its tasks is left RUNNING, nothing owns it
    state, error = state_and_error(path, pk)
    if how == "write-error" and (state != schema.STATE_CODES["FAILED"] or error is None):
        # A file that may not grow at all (its WAL neither) takes the marking only where a
        # page is free: the state alone, or nothing. The marking is best effort (faults.py):
        # then the run is marked when the store is next opened, its process being gone.
        assert state in (schema.STATE_CODES["FAILED"], schema.STATE_CODES["RUNNING"])
        with Store.open(path) as store:
            store.reap_dead_runs()
        state, error = state_and_error(path, pk)
        assert state in (schema.STATE_CODES["FAILED"], schema.STATE_CODES["KILLED"])
    else:
        assert state == schema.STATE_CODES["FAILED"]
        assert said in error and "were not written" in error
    unfinished = (schema.STATE_CODES["PLANNED"], schema.STATE_CODES["RUNNING"])
    assert [
        row[0] for row in layer(path, graph_read.run_node_rows, pk) if row[5] in unfinished
    ] == []
    assert rows(path, "SELECT * FROM run_owner") == []
    assert layer(path, lambda query: graph_read.count_nodes(query, run_pk=pk)) < 15_600
    # `ferroflow runs show` says what was lost
    shown = subprocess.run(
        [sys.executable, "-m", "ferroflow", "runs", "show", str(pk)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    head, *rest = shown.stdout.splitlines()
    if error is not None and said in error:  # (where the faulty file took the reason)
        assert f"pk={pk}] FAILED" in head
        assert said in rest[0] and "rows" in rest[0] and "were not written" in rest[0]
    # with room again the store takes new runs
    again = finished_run(env, tmp_path)
    assert again > pk and violations(path) == []


def test_a_store_removed_mid_run_fails_the_run_and_writes_nowhere(
    tmp_path: Path, writer: str
) -> None:
    env = child_env(tmp_path / "home")
    path = tmp_path / "home" / "default" / "provenance.sqlite"
    finished_run(env, tmp_path)
    report = fault_run(env, writer, "remove", "")
    assert report["state"] == "FAILED"
    assert report["raised"]["type"] == "StoreLostError"
    assert f"{path}: the store file was deleted while open" in report["raised"]["message"]
    assert not path.exists()  # nothing made a new file with the run's remaining rows
    # the profile starts a new store, which only the next run is in
    again = finished_run(env, tmp_path)
    assert [row[0] for row in layer(path, graph_read.top_level_runs)] == [again]
    assert violations(path) == []


def test_a_store_replaced_mid_run_fails_the_run_and_leaves_the_new_file_alone(
    tmp_path: Path, writer: str
) -> None:
    env = child_env(tmp_path / "home")
    path = tmp_path / "home" / "default" / "provenance.sqlite"
    finished_run(env, tmp_path)
    backup = tmp_path / "backup.sqlite"
    source, copy = sqlite3.connect(path), sqlite3.connect(backup)
    source.backup(copy)
    source.close()
    copy.close()
    kept = snapshot(backup)
    report = fault_run(env, writer, "replace", str(backup))
    assert report["state"] == "FAILED"
    assert report["raised"]["type"] == "StoreLostError"
    message = report["raised"]["message"]
    assert f"{path}: the store file was replaced by another file while open" in message
    # the restored file is as it was: no row of the failed run, no finished row rewritten
    assert snapshot(path) == kept
    assert violations(path) == []
    assert layer(path, lambda query: graph_read.count_nodes(query, run_pk=report["run_pk"])) == 0


if __name__ == "__main__":
    if sys.argv[1] == "fault":
        fault_main(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        child_main(sys.argv[1], *map(int, sys.argv[2:]))

"""Several writers and readers on one provenance store; pk blocks; durability settings.

pks come from blocks reserved in the file's ``meta`` counter (``Store.new_pk``/``reserve_pks``),
so stores in different processes never hand out the same pk. Here: the counter's rules in one
process (two ``Store`` objects on one file stand for two processes, with tiny blocks so they
interleave), then two real processes running 2,000-task graphs on one profile at the same time
while a third reads, and the ``durability`` setting of stores and profiles.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import typing as t
from collections import Counter
from pathlib import Path

import ferroflow.profile as profile_module
import ferroflow.store.pks as pks_module
import pytest
from ferroflow import dynamic, load_profile, task
from ferroflow.model.data import DataNode, new_uuid
from ferroflow.model.vocabulary import Link
from ferroflow.store import Store, StoreClosedError, graph_read
from layer_query import conn_query, file_query
from store_rules import violations

# Every test here runs once per committer (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("writer")


def counter(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'next_pk'").fetchone()
    conn.close()
    return int(row[0])


def max_pk(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        value = conn.execute("SELECT max(pk) FROM node").fetchone()[0]
    conn.close()
    return int(value or 0)


# -- pk blocks in one process ------------------------------------------------------------------


def test_pks_come_from_reserved_blocks_and_unused_ones_are_given_back(tmp_path: Path) -> None:
    path = tmp_path / "prov.sqlite"
    store = Store.open(path)
    assert counter(path) == 1  # nothing reserved before the first pk is needed
    first = store.new_pk()
    assert first == 1
    assert counter(path) > pks_module._PK_BLOCK  # a block (and the next, ahead) reserved
    pks = [first] + [store.record_data(DataNode(i)) for i in range(10_000)]  # several blocks
    assert pks == list(range(1, 10_002))
    store.close()
    assert counter(path) == 10_002  # the unused tail went back: the next process goes on at 10002
    with Store.open(path) as again:
        assert again.new_pk() == 10_002
    assert counter(path) == 10_003


def test_reserve_pks_gives_consecutive_ranges_unique_across_threads(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "prov.sqlite")
    taken: list[list[int]] = [[] for _ in range(6)]

    def work(slot: int) -> None:
        for i in range(400):
            if slot % 2:
                n = 1 + (i * 37 + slot) % 300
                first = store.reserve_pks(n)
                taken[slot].extend(range(first, first + n))
            else:
                taken[slot].append(store.new_pk())

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [pk for pks in taken for pk in pks]
    assert len(every) == len(set(every)) > 3 * 400
    big = store.reserve_pks(100_000)  # larger than any block: reserved on its own
    assert not set(range(big, big + 100_000)) & set(every)
    assert store.new_pk() not in range(big, big + 100_000)
    with pytest.raises(ValueError, match="n >= 1"):
        store.reserve_pks(0)
    store.close()
    assert counter(tmp_path / "prov.sqlite") > max(every)
    with pytest.raises(StoreClosedError):
        store.new_pk()
    with pytest.raises(StoreClosedError):
        store.reserve_pks(3)


def test_two_stores_on_one_file_interleave_blocks_without_collisions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two Store objects on one file (as two processes would have) with 8-pk blocks."""
    monkeypatch.setattr(pks_module, "_PK_BLOCK", 8)
    monkeypatch.setattr(pks_module, "_PK_GROW_WITHIN", 0.0)  # keep the blocks tiny
    path = tmp_path / "prov.sqlite"
    a = Store(path.resolve(), 0.05, "normal")
    b = Store(path.resolve(), 0.05, "normal")
    got: dict[str, list[int]] = {"a": [], "b": []}
    for i in range(300):
        for name, store in (("a", a), ("b", b)):
            if i % 7 == 3:
                first = store.reserve_pks(5)
                got[name] += range(first, first + 5)
            else:
                got[name].append(store.record_data(DataNode(f"{name}{i}")))
    assert not set(got["a"]) & set(got["b"])
    assert len(set(got["a"] + got["b"])) == len(got["a"]) + len(got["b"])
    # the blocks really interleaved: each store's pks lie between the other's
    assert min(got["a"]) < max(got["b"]) and min(got["b"]) < max(got["a"])
    a.flush()
    b.flush()  # no StoreWriteError: no pk was written twice
    top = counter(path)
    holder, other = (a, b) if a._pks._top == top else (b, a)  # who reserved the last block
    assert other._pks._top < top
    other.close()  # someone reserved after its last block: its unused pks stay a gap
    assert counter(path) == top
    holder.close()  # it holds the top of the counter: its unused tail goes back
    assert max_pk(path) < counter(path) < top
    with sqlite3.connect(path) as conn:
        values = {v for (v,) in conn.execute("SELECT value FROM node")}
    conn.close()
    assert values == {json.dumps(f"{name}{i}") for name in "ab" for i in range(300) if i % 7 != 3}


def test_a_file_without_the_counter_or_with_a_lagging_one_opens(tmp_path: Path) -> None:
    """A v1 file from before the counter existed (or one an older ferroflow wrote nodes to after
    the counter) opens, and its new pks start above every stored pk."""
    path = tmp_path / "prov.sqlite"
    with Store.open(path) as store:
        old = [store.record_data(DataNode(i)) for i in range(20)]
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM meta WHERE key = 'next_pk'")
        conn.execute("INSERT INTO node(pk, uuid, kind, type, ctime) VALUES (500, x'01', 0, 'x', 0)")
    conn.close()
    with Store.open(path) as store:
        assert counter(path) >= 501  # seeded from max(pk) + 1 when opened
        fresh = store.record_data(DataNode("new"))
        assert fresh == 501
    with sqlite3.connect(path) as conn:  # an older writer went past the counter meanwhile
        conn.execute("INSERT INTO node(pk, uuid, kind, type, ctime) VALUES (900, x'02', 0, 'x', 0)")
    conn.close()
    with Store.open(path) as store:
        assert store.new_pk() == 901 and store.reserve_pks(10) > 901
        assert store.load_node(old[0]).value == 0
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        conn.close()


# -- two writing processes and a reader ---------------------------------------------------------

TASKS = 2000  # per writer: 1,999 `work` tasks and one `total`


@task
def work(x: int) -> int:
    time.sleep(0.001)  # ~1 s per 2,000 tasks on 2 workers: the two runs overlap
    return x + 1


@task
def total(values: t.Annotated[dict, dynamic(int)]) -> int:
    return sum(values.values())


@task.graph
def fan(base: int, n: int) -> int:
    return total(values={f"v{i}": work(x=base + i).result for i in range(int(n) - 1)}).result


def expected_total(base: int) -> int:
    return sum(x + 1 for x in range(base, base + TASKS - 1))


def writer_main(child_id: int) -> None:
    """Open the profile's store, wait for "go" on stdin, run one graph, print its pk."""
    profile = load_profile()
    assert profile.store is not None
    print("ready", flush=True)
    assert sys.stdin.readline() == "go\n"
    base = child_id * 10**6
    wg = fan.build(base, TASKS)
    wg.run(max_workers=2)
    assert wg.outputs.result.value == expected_total(base)
    print(json.dumps({"run_pk": wg.pk}), flush=True)


def reader_main(stop_file: str) -> None:
    """Read the store (ferroflow's API and a plain read-only connection) until told to stop."""
    store = Store.open(load_profile().store_path)
    raw = sqlite3.connect(store.path.as_uri() + "?mode=ro", uri=True)
    print("ready", flush=True)
    counts: list[int] = []
    finished_runs = 0
    while not os.path.exists(stop_file):
        counts.append(graph_read.count_nodes(conn_query(raw)))
        for run in store.runs():
            if run.state == "FINISHED":
                base = [n.value for _, label, n in run.inputs if label == "base"]
                result = [n.value for _, label, n in run.outputs if label == "result"]
                assert result == [expected_total(base[0])]
                finished_runs += 1
        some = store.load_nodes(range(1, 200))
        assert all(node.pk == pk for pk, node in some.items())
        time.sleep(0.01)
    assert counts == sorted(counts), "a reader saw the store shrink"
    raw.close()
    store.close()
    print(json.dumps({"reads": len(counts), "counts": len(set(counts))}), flush=True)


def run_checks(path: Path, run_pk: int) -> tuple[int, float, float, list[int]]:
    """Check one writer's run is complete; return its base input, start, end and pks."""
    with file_query(path) as query:
        run = graph_read.node_row(query, run_pk)
        assert run is not None
        ctime, mtime, state = run[8], run[9], run[5]

        def values(links: list[graph_read.Link], incoming: bool) -> list[int]:
            """The integer values at the far ends of ``links``, in their order."""
            parts = graph_read.value_parts(query, [ln.src if incoming else ln.dst for ln in links])
            return [int(parts[ln.src if incoming else ln.dst][1]) for ln in links]

        given = graph_read.links(query, [run_pk], True, (Link.INPUT_WORK,))
        (base,) = values([ln for ln in given if ln.label == "base"], incoming=True)
        rows = graph_read.run_node_rows(query, run_pk)
        pks = [row[0] for row in rows]
        states = sorted(Counter(row[5] for row in rows).items())
        assert states == [(2, TASKS + 1)]  # every task and the run FINISHED
        calls = graph_read.links(query, [run_pk], False, (Link.CALL_CALC,))
        assert len(calls) == TASKS
        works = []
        totals = []
        for row in rows:
            ins = values(graph_read.links(query, [row[0]], True, (Link.INPUT_CALC,)), True)
            outs = values(graph_read.links(query, [row[0]], False, (Link.CREATE,)), False)
            if str(row[4]).lower().startswith("work"):  # SQL's LIKE 'work%': any case
                works.extend((i, o) for i in ins for o in outs)
            if row[4] == "total":
                totals.append((sum(ins) if ins else None, outs[0] if outs else None))
        assert sorted(works) == [(x, x + 1) for x in range(base, base + TASKS - 1)]
        ((inputs, result),) = totals
        assert inputs == result == expected_total(base)
        out = graph_read.links(query, [run_pk], False, (Link.RETURN,))
        returned = values([ln for ln in out if ln.label == "result"], incoming=False)
        assert returned == [expected_total(base)]
    assert state == 2
    return base, ctime, mtime, pks


def test_two_processes_write_one_profile_at_once_while_a_third_reads(tmp_path: Path) -> None:
    # the children run this file, which imports the tests' helpers (layer_query, store_rules)
    tests = str(Path(__file__).resolve().parents[1])
    paths = [tests, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {
        **os.environ,
        "FERROFLOW_HOME": str(tmp_path / "home"),
        "FERROFLOW_WORKERS": "2",
        "PYTHONPATH": os.pathsep.join(paths),
    }
    stop = tmp_path / "stop"
    stderrs: dict[subprocess.Popen[str], Path] = {}

    def start(*args: str) -> subprocess.Popen[str]:
        # stderr goes to a file: a child blocked on a full pipe (while holding the store's write
        # lock) would stall the others
        with open(tmp_path / f"{'-'.join(args[:2])}.err".replace("/", "_"), "w") as err:
            proc = subprocess.Popen(
                [sys.executable, __file__, *args],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        stderrs[proc] = Path(err.name)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == "ready\n", (
            f"{args}: {line!r} {proc.communicate()} {stderrs[proc].read_text()}"
        )
        return proc

    children: list[subprocess.Popen[str]] = []
    try:
        children.append(start("write", "1"))
        children.append(start("write", "2"))
        children.append(start("read", str(stop)))
        *writers, reader = children
        for proc in writers:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()  # (communicate() closes it)
        outs = []
        for proc in writers:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, stderrs[proc].read_text()
            outs.append(json.loads(out.splitlines()[-1]))
        stop.touch()
        out, _ = reader.communicate(timeout=60)
        assert reader.returncode == 0, stderrs[reader].read_text()
    finally:
        for proc in children:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    reads = json.loads(out.splitlines()[-1])
    assert reads["reads"] > 10 and reads["counts"] > 2  # it read while the store grew

    path = tmp_path / "home" / "default" / "provenance.sqlite"
    # SQLite's integrity check, every link's ends exist, and AiiDA's link rules
    assert violations(path) == []
    (base_a, start_a, end_a, pks_a), (base_b, start_b, end_b, pks_b) = (
        run_checks(path, o["run_pk"]) for o in outs
    )
    assert {base_a, base_b} == {10**6, 2 * 10**6}
    assert start_a < end_b and start_b < end_a, "the two runs did not overlap"
    assert not set(pks_a) & set(pks_b)
    assert counter(path) > max_pk(path)


# -- durability --------------------------------------------------------------------------------


def synchronous(store: Store) -> int:
    """PRAGMA synchronous of the store's write connection (1 NORMAL, 2 FULL), read when idle."""
    store.flush()
    return int(store._writer._conn.execute("PRAGMA synchronous").fetchone()[0])


def test_store_durability_sets_synchronous_commits(tmp_path: Path) -> None:
    with Store.open(tmp_path / "normal.sqlite") as normal:
        assert normal.durability == "normal" and synchronous(normal) == 1
    with Store.open(tmp_path / "full.sqlite", durability="full") as full:
        assert full.durability == "full" and synchronous(full) == 2
        pk = full.new_pk()
        full.record_process(pk, new_uuid(), "work", "g", "tests.g", "RUNNING", time.time(), None)
        full.update_process(pk, "FINISHED", time.time())
        assert full.load_node(pk).state == "FINISHED"
        assert full._pks._conn is not None
        assert full._pks._conn.execute("PRAGMA synchronous").fetchone() == (2,)


def forget_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Like a new process: the next load_profile reads profile.json again."""
    for profile in profile_module._profiles.values():
        profile.close()
    monkeypatch.setattr(profile_module, "_profiles", {})
    monkeypatch.setattr(profile_module, "_current", None)


def test_a_profile_sets_durability_and_commit_interval(
    ferroflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = load_profile("safe")
    assert (profile.durability, profile.commit_interval) == ("normal", 0.2)
    first = profile.store
    assert first.durability == "normal"
    profile.configure(durability="full", commit_interval=0.05)
    assert first.closed  # reopened with the new settings on next use
    store = profile.store
    assert (store.durability, store.commit_interval, synchronous(store)) == ("full", 0.05, 2)
    config = json.loads((ferroflow_home / "safe" / "profile.json").read_text())
    assert config == {
        "name": "safe",
        "uuid": profile.uuid,
        "durability": "full",
        "commit_interval": 0.05,
    }
    wg = fan.build(0, 5)
    wg.run(profile=profile)
    assert wg.outputs.result.value == sum(x + 1 for x in range(4))

    forget_profiles(monkeypatch)  # another process loading the profile gets the same settings
    again = load_profile("safe")
    assert again is not profile and again.durability == "full" and again.commit_interval == 0.05
    assert again.store.durability == "full"
    assert again.store.load_node(wg.pk).state == "FINISHED"
    again.configure(durability="normal")
    assert synchronous(again.store) == 1
    assert json.loads((ferroflow_home / "safe" / "profile.json").read_text())["durability"] == (
        "normal"
    )


def test_bad_profile_settings_are_refused(
    ferroflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = load_profile("p")
    with pytest.raises(ValueError, match="durability"):
        profile.configure(durability="fast")
    with pytest.raises(ValueError, match="commit_interval"):
        profile.configure(commit_interval=0)
    assert json.loads((ferroflow_home / "p" / "profile.json").read_text()).keys() == {
        "name",
        "uuid",
    }
    config = ferroflow_home / "p" / "profile.json"
    config.write_text(json.dumps({"name": "p", "uuid": profile.uuid, "durability": "lazy"}))
    forget_profiles(monkeypatch)
    with pytest.raises(RuntimeError, match=r"corrupt profile file.*durability"):
        load_profile("p")


if __name__ == "__main__":
    if sys.argv[1] == "write":
        writer_main(int(sys.argv[2]))
    else:
        reader_main(sys.argv[2])

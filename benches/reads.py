"""Read latency in a large provenance store: is a node, its links and its history one lookup?

Target (issue 20): in a store of 10,000,000 nodes, ``load_node``, a task's inputs/outputs and
the ancestors of a node 20 levels deep each answer in ≤ 10 ms.

**The store** is built once, by the engine itself, so its layout is exactly what runs write:
no-op scatters of ``--batch`` tasks with provenance on (3 nodes per task: the calc node, its
input and its output; 3 links: ``CALL_CALC``, ``INPUT_CALC``, ``CREATE``), run until the store
holds ``--nodes`` nodes, then one no-op chain of ``--depth`` + 5 tasks for the deep ancestors
query. It is cached under ``benches/.data/reads-<nodes>/`` (git-ignored) and reused by later
runs; ``--rebuild`` builds it again.

**The reads**, each timed over ``--picks`` random picks (median and p99, ms; a fresh
``StoredNode`` each time, nothing cached between picks):

* ``ferroflow.load_node(pk)`` (through the current profile) and ``store.load_node(uuid)``;
* a task run's ``inputs`` and ``outputs`` (after loading it);
* a data node's ``creator`` and a task run's ``caller``;
* ``ancestors()`` of the chain's last output (2 × depth + 1 nodes behind it, ``depth`` tasks);
* ``descendants()`` of a scatter task's input (its task run and that run's output);
* the questions :mod:`ferroflow.query` answers (newest runs, a run's nodes, recent task runs,
  a task by name), each ``--repeat`` times (median and max);
* ``ferroflow node show PK`` as a subprocess (interpreter start-up and imports included), for
  reference, over ``--cli`` picks.

    python benches/reads.py [--nodes 10000000] [--batch 500000] [--picks 2000] [--cli 20]
                             [--repeat 5] [--rebuild]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ferroflow
from ferroflow.profile import load_profile
from ferroflow.query import find_nodes, find_runs, task_counts
from workloads import chain, scatter

DATA = Path(__file__).resolve().parent / ".data"
NODES_PER_TASK = 3


def _home(nodes: int) -> Path:
    return DATA / f"reads-{nodes}"


def _count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        n = int(conn.execute("SELECT count(*) FROM node").fetchone()[0])
    conn.close()
    return n


def build(nodes: int, batch: int, depth: int) -> tuple[Path, int]:
    """Fill the profile's store with scatters, then one chain; returns (store path, chain pk)."""
    profile = load_profile()
    path = profile.store_path
    chain_file = path.parent / "chain-pk"
    if chain_file.exists():
        return path, int(chain_file.read_text())
    have = _count(path) if path.exists() else 0
    while have < nodes:
        tasks = min(batch, max(1, (nodes - have) // NODES_PER_TASK))
        t0 = time.perf_counter()
        scatter.build(tasks).run(provenance=True)
        profile.store.flush()
        have = _count(path)
        print(f"  scatter {tasks:,}: {time.perf_counter() - t0:.1f} s, {have:,} nodes", flush=True)
    wg = chain.build(depth + 5)  # deeper than asked: the bench reads the node ``depth`` deep
    wg.run(provenance=True)
    profile.store.flush()
    assert wg.pk is not None
    chain_file.write_text(str(wg.pk))
    return path, wg.pk


def timed(picks: list[Any], read: Callable[[Any], object]) -> tuple[float, float]:
    """(median, p99) in ms of ``read(pick)`` over ``picks``."""
    times = []
    for pick in picks:
        t0 = time.perf_counter()
        read(pick)
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=500_000, help="tasks per scatter run")
    parser.add_argument("--depth", type=int, default=20, help="levels of the ancestors query")
    parser.add_argument("--picks", type=int, default=2000)
    parser.add_argument("--cli", type=int, default=20, help="`ferroflow node show` calls")
    parser.add_argument("--repeat", type=int, default=5, help="calls per query.py query")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    home = _home(args.nodes)
    if args.rebuild and home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    os.environ["FERROFLOW_HOME"] = str(home)
    t0 = time.perf_counter()
    path, chain_pk = build(args.nodes, args.batch, args.depth)
    built = time.perf_counter() - t0
    store = load_profile().store
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))

    rng = random.Random(0)
    with sqlite3.connect(path.as_uri() + "?mode=ro", uri=True) as conn:
        top = int(conn.execute("SELECT max(pk) FROM node").fetchone()[0])
        total = int(conn.execute("SELECT count(*) FROM node").fetchone()[0])
        calc_pks = [pk for pk in rng.sample(range(1, top + 1), min(args.picks * 3, top))]
        kinds = dict(
            conn.execute(f"SELECT pk, kind FROM node WHERE pk IN ({','.join(map(str, calc_pks))})")
        )
    conn.close()
    calcs = [pk for pk in calc_pks if kinds.get(pk) == 1][: args.picks]
    nodes = [pk for pk in calc_pks if pk in kinds][: args.picks]
    uuids = [store.load_node(pk).uuid for pk in nodes]
    datas = [pk for pk in calc_pks if kinds.get(pk) == 0][: args.picks]
    # a scatter task's input: the data node on its INPUT_CALC link
    sources = [store.load_node(pk).inputs for pk in calcs[: args.picks // 4]]
    inputs = [node.pk for links in sources for t, _, node in links if t == "INPUT_CALC"]
    # the output of the chain's task number ``depth``: ``depth`` tasks, ``depth - 1`` values
    # between them and the chain's first input behind it
    chain_tasks = sorted(store.load_node(chain_pk).called, key=lambda node: node.pk)
    deep_task = chain_tasks[args.depth - 1]
    tip = next(node.pk for t, _, node in deep_task.outputs if t == "CREATE")
    deep = store.load_node(tip).ancestors()
    assert len(deep) == 2 * args.depth, len(deep)
    assert sum(node.is_process for node in deep) == args.depth

    rows: list[tuple[str, tuple[float, float]]] = [
        ("`ferroflow.load_node(pk)`", timed(nodes, ferroflow.load_node)),
        ("`store.load_node(uuid)`", timed(uuids, store.load_node)),
        ("task run: load + `inputs`", timed(calcs, lambda pk: store.load_node(pk).inputs)),
        ("task run: load + `outputs`", timed(calcs, lambda pk: store.load_node(pk).outputs)),
        ("data node: load + `creator`", timed(datas, lambda pk: store.load_node(pk).creator)),
        ("task run: load + `caller`", timed(calcs, lambda pk: store.load_node(pk).caller)),
        (
            f"load + `ancestors()` of a node {args.depth} tasks deep ({len(deep)} nodes)",
            timed(range(min(args.picks, 500)), lambda _: store.load_node(tip).ancestors()),
        ),
        (
            "scatter input: load + `descendants()`",
            timed(inputs, lambda pk: store.load_node(pk).descendants()),
        ),
    ]
    cli = [sys.executable, "-m", "ferroflow", "node", "show"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    shown = calcs[: args.cli]
    rows.append(
        (
            "`ferroflow node show PK` (subprocess)",
            timed(
                shown,
                lambda pk: subprocess.run(
                    [*cli, str(pk)], env=env, check=True, capture_output=True
                ),
            ),
        )
    )
    runs = find_runs()
    big = next(run for run in runs if run.label == "scatter")  # the newest scatter
    queries: list[tuple[str, Callable[[], list[Any] | dict[str, int]]]] = [
        ("`find_runs(limit=5)`", lambda: find_runs(limit=5)),
        ("`find_nodes(run=<the chain>)`", lambda: find_nodes(run=chain_pk)),
        (
            "`find_nodes(run=<a scatter>, kind='calc', limit=10)`",
            lambda: find_nodes(run=big.pk, kind="calc", limit=10),
        ),
        ("`task_counts(run=<a scatter>)`", lambda: task_counts(run=big.pk)),
        (
            "`find_nodes(kind='calc', limit=20, newest_first=True)`",
            lambda: find_nodes(kind="calc", limit=20, newest_first=True),
        ),
        (
            "`find_nodes(kind='calc', since=<the newest scatter's start>, limit=20)`",
            lambda: find_nodes(kind="calc", since=big.ctime, limit=20),
        ),
        (
            "`find_nodes(task='noop', limit=20)` (a name no node has)",
            lambda: find_nodes(task="noop", limit=20),
        ),
        (
            "`find_nodes(task='noop_body', limit=20)` (every scatter task's)",
            lambda: find_nodes(task="noop_body", limit=20),
        ),
        (
            "`find_nodes(state='FAILED', limit=20)` (no node has it)",
            lambda: find_nodes(state="FAILED", limit=20),
        ),
    ]
    query_rows = [
        (name, timed(list(range(args.repeat)), lambda _, q=q: q())) for name, q in queries
    ]
    store.close()

    print(f"\nstore: {total:,} nodes, {size / 2**30:.2f} GiB on disk ({path})")
    if built > 1:
        print(f"built in {built:.0f} s")
    print(f"CPython {platform.python_version()}, SQLite {sqlite3.sqlite_version}\n")
    print("| read | median ms | p99 ms |\n|---|---|---|")
    for name, (median, p99) in rows:
        print(f"| {name} | {median:.3f} | {p99:.3f} |")
    print(
        f"\n| query (`ferroflow.query`), {args.repeat} calls | median ms | max ms |\n|---|---|---|"
    )
    for name, (median, worst) in query_rows:
        print(f"| {name} | {median:.3f} | {worst:.3f} |")


if __name__ == "__main__":
    main()

"""Provenance store throughput in rows/s, and the per-task cost of provenance in a run.

Two measurements, each printed as a markdown table:

1. **The store alone.** ``--tasks`` synthetic task runs recorded the way the engine's general
   runner records one, through ``Store.record_*`` from one thread: a process node (RUNNING,
   later updated to FINISHED), its ``CALL_CALC`` link, an input data node and its
   ``INPUT_CALC`` link, an output data node and its ``CREATE`` link: 3 nodes + 3 links = 6 rows
   per task (plus the state update, folded into the insert when both land in one batch). Process
   uuids come from ``ferroflow.model.data.new_uuid`` (time-ordered), data nodes get theirs the
   same way
   on the writer thread. The clock runs from the first ``record_*`` to the end of ``flush()``.
   Once for ``durability="normal"`` and once for ``"full"``.
2. **Provenance in a run.** A no-op scatter of ``--scatter`` tasks (as in ``overhead.py``),
   build + run, with ``run(provenance=False)`` and ``run(provenance=True)``, best of
   ``--repeat``; the difference is what recording costs per task. Once with the fast lane (the
   default) and once with ``FERROFLOW_FAST_LANE=0`` (every task through the Python runner).

    python benches/store_rows.py [--tasks 100000] [--scatter 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sqlite3
import tempfile
import time
from pathlib import Path

from bench_home import temporary_home

os.environ.setdefault("FERROFLOW_HOME", temporary_home())

from ferroflow.model.data import DataNode, new_uuid
from ferroflow.profile import load_profile
from ferroflow.store import Store
from workloads import scatter

ROWS_PER_TASK = 6  # 3 nodes + 3 links
NODES_PER_TASK = 3


def record_tasks(store: Store, n: int) -> None:
    """Record ``n`` task runs as the general runner does, under one graph run."""
    run = store.new_pk()
    now = time.time()
    store.record_process(run, new_uuid(), "work", "bench", "bench.graph", "RUNNING", now, None)
    for i in range(n):
        pk = store.new_pk()
        now = time.time()
        store.record_process(pk, new_uuid(), "calc", f"t{i}", "bench.task", "RUNNING", now, run)
        store.record_link(run, pk, "CALL_CALC", f"t{i}")
        source = store.record_data(DataNode(i))
        store.record_link(source, pk, "INPUT_CALC", "x")
        result = store.record_data(DataNode(i + 1))
        store.record_link(pk, result, "CREATE", "result")
        store.update_process(pk, "FINISHED", time.time())
    store.update_process(run, "FINISHED", time.time())


def store_throughput(n: int, durability: str, directory: Path) -> tuple[float, float]:
    """(seconds to record ``n`` tasks, seconds to record them and flush)."""
    path = Path(tempfile.mkdtemp(dir=directory)) / f"rows-{durability}.sqlite"  # a fresh file
    with Store.open(path, durability=durability) as store:
        store.new_pk()  # the first pk block is reserved outside the clock
        gc.collect()
        t0 = time.perf_counter()
        record_tasks(store, n)
        t1 = time.perf_counter()
        store.flush()
        t2 = time.perf_counter()
    with sqlite3.connect(path) as conn:
        nodes = conn.execute("SELECT count(*) FROM node").fetchone()[0]
        links = conn.execute("SELECT count(*) FROM link").fetchone()[0]
    conn.close()
    assert nodes == NODES_PER_TASK * n + 1 and links == (ROWS_PER_TASK - NODES_PER_TASK) * n
    return t1 - t0, t2 - t0


def rows_in(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        count = sum(
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("node", "link")
        )
    conn.close()
    return int(count)


def run_cost(n: int, provenance: bool) -> tuple[float, int]:
    """(build + run seconds per task, rows the run added to the store)."""
    path = load_profile().store_path
    before = rows_in(path)
    gc.collect()
    t0 = time.perf_counter()
    scatter.build(n).run(provenance=provenance)
    seconds = time.perf_counter() - t0
    return seconds / n, rows_in(path) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--scatter", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print(
        f"# {os.cpu_count()} cores, CPython {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; best of {args.repeat}\n"
    )
    header = (
        "| store alone: record + flush | tasks | rows | s | rows/s | nodes/s | µs per task "
        "| of which record µs |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    base = None
    with tempfile.TemporaryDirectory(prefix="ferroflow-rows-") as tmp:
        for durability in ("normal", "full"):
            record_s, total_s = min(
                (store_throughput(args.tasks, durability, Path(tmp)) for _ in range(args.repeat)),
                key=lambda c: c[1],
            )
            rows = ROWS_PER_TASK * args.tasks
            rate = rows / total_s
            base = base or rate
            ratio = "" if rate == base else f" ({rate / base:.2f}× normal)"
            print(
                f"| durability={durability} | {args.tasks:,} | {rows:,} | {total_s:.2f} "
                f"| {rate:,.0f}{ratio} | {NODES_PER_TASK * args.tasks / total_s:,.0f} "
                f"| {total_s / args.tasks * 1e6:.1f} | {record_s / args.tasks * 1e6:.1f} |"
            )

    print()
    header = (
        "| no-op scatter, build + run | tasks | prov off µs/task | prov on µs/task | on / off "
        "| provenance µs/task | rows/task | rows/s in the run |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    n = args.scatter
    saved = os.environ.get("FERROFLOW_FAST_LANE")
    for lane, env in (("fast lane", "1"), ("FERROFLOW_FAST_LANE=0", "0")):
        os.environ["FERROFLOW_FAST_LANE"] = env  # read by each run
        off = min(run_cost(n, False)[0] for _ in range(args.repeat))
        on, rows = min((run_cost(n, True) for _ in range(args.repeat)), key=lambda c: c[0])
        print(
            f"| {lane} | {n:,} | {off * 1e6:.2f} | {on * 1e6:.2f} | {on / off:.1f}× "
            f"| {(on - off) * 1e6:.2f} | {rows / n:.1f} | {rows / (on * n):,.0f} |"
        )
    if saved is None:
        del os.environ["FERROFLOW_FAST_LANE"]
    else:
        os.environ["FERROFLOW_FAST_LANE"] = saved


if __name__ == "__main__":
    main()

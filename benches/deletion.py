"""Deleting one small run from a large store, with and without the partial indexes that answer
"who reused this run's results" and "which of its blobs does someone else still hold".

    python benches/deletion.py [--tasks 1000000] [--runs 5]

Builds a store with the engine (one no-op scatter of ``--tasks`` tasks, provenance on: 3 nodes
per task), then for each of ``--runs`` rounds adds a small run (one task returning a list large
enough for the ``blob`` table) and deletes it with ``ferroflow.store.deletion.delete_run``,
alternating two plans of the same statements: as they are, and as they were planned before
(plain ``JOIN`` from the temporary tables, where SQLite chose to walk the whole ``link_src``
index, and ``NOT INDEXED`` on the three that ``node_cached_from`` and ``node_blob`` serve, so
each scans the node table). Prints the median and best milliseconds of each.
Never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from bench_home import temporary_home

os.environ.setdefault("FERROFLOW_HOME", temporary_home())

from ferroflow import load_profile, task
from ferroflow.store import deletion
from workloads import scatter

_INDEXED = (deletion._REUSERS_SQL, list(deletion._DELETE))


@task
def big(n: int) -> list[int]:
    return list(range(n))


@task.graph
def with_blob(n: int) -> object:
    return big(n=n).result


def _scanning(sql: str) -> str:
    """``sql`` planned as before the change: joins from a temporary table left to SQLite's
    choice of loop order, and the node table read ``NOT INDEXED`` where a partial index now
    serves it."""
    sql = sql.replace(" CROSS JOIN ", " JOIN ")
    if "cached_from" in sql or "DELETE FROM blob" in sql:
        return sql.replace("FROM node WHERE", "FROM node NOT INDEXED WHERE").replace(
            "UPDATE node SET", "UPDATE node NOT INDEXED SET"
        )
    return sql


def use_indexes(on: bool) -> None:
    reusers, statements = _INDEXED
    deletion._REUSERS_SQL = reusers if on else _scanning(reusers)
    deletion._DELETE = statements if on else [_scanning(sql) for sql in statements]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    store = load_profile().store
    t0 = time.perf_counter()
    scatter.build(args.tasks).run()
    store.flush()
    path = Path(store.path)
    print(f"# a store of {args.tasks:,} no-op tasks, built in {time.perf_counter() - t0:.0f} s")
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.runs):
        for indexed in (False, True):
            wg = with_blob.build(20_000)
            wg.run()
            store.flush()
            use_indexes(indexed)
            t = time.perf_counter()
            deletion.delete_run(path, "normal", int(wg.pk))
            times[indexed].append(time.perf_counter() - t)
    use_indexes(True)
    print("| delete a small run | median ms | best ms |")
    print("|---|---|---|")
    for indexed, values in times.items():
        name = "now: index searches" if indexed else "before: scans of link_src and node"
        print(f"| {name} | {statistics.median(values) * 1e3:.1f} | {min(values) * 1e3:.1f} |")


if __name__ == "__main__":
    main()

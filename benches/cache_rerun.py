"""What caching costs and saves: a scatter of n tasks run plainly, with caching (all misses:
keys computed and stored), again with caching (all hits: no body runs), and restarted.

    python benches/cache_rerun.py [--n 2000] [--sleep-ms 1]

Each task gets a distinct integer input and (with ``--sleep-ms``) sleeps that long, standing for
real work. Per-task microseconds and the ratio to the plain run are printed as a Markdown
table; ratios, not absolute times, are what to compare across machines. Provenance is on
throughout (caching needs the store).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

from bench_home import temporary_home

os.environ.setdefault("FERROFLOW_HOME", temporary_home())
os.environ.setdefault("FERROFLOW_PROGRESS", "0")

from ferroflow import WorkGraph, task

SLEEP = float(os.environ.get("FF_BENCH_SLEEP", "0"))


@task
def work(x: int) -> int:
    if SLEEP:
        time.sleep(SLEEP)
    return x + 1


@task.graph
def scatter(n: int) -> None:
    for i in range(n):
        work(x=i)


def timed(what: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    what()
    return time.perf_counter() - t0


def main() -> None:
    global SLEEP
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--sleep-ms", type=float, default=0.0)
    args = parser.parse_args()
    SLEEP = args.sleep_ms / 1e3
    n = args.n
    scatter.build(10).run()  # warm-up: pool and store
    plain = timed(lambda: scatter.build(n).run())
    first = scatter.build(n)
    miss = timed(lambda: first.run(cache=True))
    second = scatter.build(n)
    hit = timed(lambda: second.run(cache=True))
    assert len(second.cached_tasks) == n, "every task of the second run must be a cache hit"
    restart = timed(lambda: WorkGraph.load(first.pk).run())
    body = f"{args.sleep_ms:g} ms sleep" if args.sleep_ms else "no-op"
    print(f"| scatter n={n}, {body} bodies | µs/task | ÷ plain run |")
    print("|---|---|---|")
    for label, seconds in (
        ("plain run (provenance on)", plain),
        ("run(cache=True), all misses", miss),
        ("run(cache=True), all hits", hit),
        ("WorkGraph.load(run).run(), all hits", restart),
    ):
        print(f"| {label} | {seconds / n * 1e6:,.1f} | {seconds / plain:.2f} |")


if __name__ == "__main__":
    main()

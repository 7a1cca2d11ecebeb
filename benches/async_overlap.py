"""Async tasks wait together: N tasks each awaiting ``asyncio.sleep(s)`` vs one such task.

``@task async def`` bodies run on one event loop thread per run
(``ferroflow.executors.coroutines``), not
on the worker threads, so N concurrent awaits should take about as long as one. Printed: the
wall time of ``build + run`` for one task and for N, best and median of ``--repeat`` runs each
(alternating, so drifts of a noisy machine hit both alike), and the ratio of the medians; the
ideal is 1.0, the engine's per-task cost (~tens of µs each, recording provenance) adds to it.

    python benches/async_overlap.py                       # 1,000 tasks x sleep(0.1), 5 repeats
    python benches/async_overlap.py --tasks 10000 --sleep 0.5 --no-provenance

Never asserted in tests: speed is reported, not tested.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from bench_home import temporary_home

os.environ.setdefault("FERROFLOW_HOME", temporary_home())

from ferroflow import task


@task
async def wait(i: int, seconds: float) -> int:
    await asyncio.sleep(seconds)
    return i


@task.graph
def fan(n: int, seconds: float) -> None:
    for i in range(n):
        wait(i=i, seconds=seconds)


def timed(n: int, seconds: float, provenance: bool) -> float:
    start = time.perf_counter()
    wg = fan.build(n, seconds)
    wg.run(provenance=provenance, progress=False)
    elapsed = time.perf_counter() - start
    assert all(t.state == "FINISHED" for t in wg.tasks.values()), "a task did not finish"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--sleep", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-provenance", action="store_true")
    args = parser.parse_args()
    provenance = not args.no_provenance
    timed(10, 0.0, provenance)  # warm up: imports, pool, store
    ones: list[float] = []
    manys: list[float] = []
    for r in range(args.repeat):
        pair = [(ones, 1), (manys, args.tasks)]
        for into, n in pair if r % 2 == 0 else reversed(pair):
            into.append(timed(n, args.sleep, provenance))
    one, many = statistics.median(ones), statistics.median(manys)
    print(
        f"async_overlap: sleep {args.sleep:g} s, provenance {'on' if provenance else 'off'}, "
        f"{os.cpu_count()} cores, {args.repeat} repeats"
    )
    print(f"  1 task      : median {one * 1e3:8.1f} ms   best {min(ones) * 1e3:8.1f} ms")
    print(f"  {args.tasks:,} tasks: median {many * 1e3:8.1f} ms   best {min(manys) * 1e3:8.1f} ms")
    print(f"  ratio (medians) {many / one:.2f}x; {args.tasks} sequential sleeps would take "
          f"{args.tasks * args.sleep:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()

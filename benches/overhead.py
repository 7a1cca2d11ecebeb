"""Per-task overhead of ferroflow against a plain Python loop (and Dask, if installed).

Every workload calls the same no-op function; the plain loop's per-call time is the baseline
measured in the same process, so the printed ratios are comparable across noisy machines.

    python benches/overhead.py                 # 1k, 10k, 100k scatter; 100k chain
    python benches/overhead.py --sizes 1000 1000000 --chain 100000 --repeat 3

Never asserted in tests: speed is reported, not tested.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import time
from collections.abc import Callable
from typing import Any

from bench_home import temporary_home

os.environ.setdefault("FERROFLOW_HOME", temporary_home())

from workloads import chain, noop_body, scatter


def best_of(repeat: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(repeat))


def plain_loop(n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        noop_body(i)
    return (time.perf_counter() - t0) / n


def ferroflow_cost(
    graph: Any, n: int, provenance: bool, workers: int | None
) -> tuple[float, float]:
    """(build+run, run only) seconds per task."""
    gc.collect()
    t0 = time.perf_counter()
    wg = graph.build(n)
    t1 = time.perf_counter()
    wg.run(provenance=provenance, max_workers=workers)
    t2 = time.perf_counter()
    return (t2 - t0) / n, (t2 - t1) / n


def dask_cost(kind: str, n: int) -> float | None:
    try:
        import dask.threaded
    except ImportError:
        return None
    if kind == "scatter":
        graph: dict[Any, Any] = {("t", i): (noop_body, i) for i in range(n)}
        keys: list[Any] = list(graph)
    else:
        graph = {("t", 0): (noop_body, 0)}
        for i in range(1, n):
            graph[("t", i)] = (noop_body, ("t", i - 1))
        keys = [("t", n - 1)]
    t0 = time.perf_counter()
    dask.threaded.get(graph, keys)
    return (time.perf_counter() - t0) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--chain", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()

    print(f"# {os.cpu_count()} cores; workers={args.workers or 'default'}; best of {args.repeat}")
    header = (
        "| workload | loop µs | ff build+run µs (prov off) | ff run µs (prov off) | ratio off "
        "| ff build+run µs (prov on) | ratio on | dask threads µs | dask / ff run (off) "
        "| dask / ff(on) |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    workloads = [("scatter", scatter, n) for n in args.sizes] + [("chain", chain, args.chain)]
    for kind, graph, n in workloads:
        loop = best_of(args.repeat, lambda n=n: plain_loop(n))
        off = min(
            (ferroflow_cost(graph, n, False, args.workers) for _ in range(args.repeat)),
            key=lambda c: c[0],
        )
        on = min(
            (ferroflow_cost(graph, n, True, args.workers) for _ in range(args.repeat)),
            key=lambda c: c[0],
        )
        dask_s = None if args.no_dask or n > 200_000 else dask_cost(kind, n)
        dask_col = f"{dask_s * 1e6:.1f}" if dask_s else "not installed/skipped"
        ratio_col = f"{dask_s / on[0]:.1f}×" if dask_s else "-"
        run_col = f"{dask_s / off[1]:.1f}×" if dask_s else "-"
        print(
            f"| {kind} {n:,} | {loop * 1e6:.3f} | {off[0] * 1e6:.2f} | {off[1] * 1e6:.2f} "
            f"| {off[0] / loop:.0f}× | {on[0] * 1e6:.2f} | {on[0] / loop:.0f}× | {dask_col} "
            f"| {run_col} | {ratio_col} |"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {rss:.0f} MiB")


if __name__ == "__main__":
    main()

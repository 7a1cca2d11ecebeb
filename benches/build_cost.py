"""Build + run of a no-op scatter without provenance, in CPU time as well as wall time.

    python benches/build_cost.py --n 200000 --repeat 2

On a shared machine the wall time of ``overhead.py`` moves with the load beside it (×2 was
seen within minutes); the CPU time of the building thread (``time.thread_time``) and of the
process during the run (``time.process_time``, the workers included) moves much less, so an
old-vs-new comparison reads these, alternating the two trees in the same minutes. Prints the
best repeat (lowest build + run CPU time), µs per task. Never asserted in tests.
"""

from __future__ import annotations

import argparse
import gc
import os
import time

from bench_home import temporary_home

os.environ.setdefault("FERROFLOW_HOME", temporary_home())

from workloads import scatter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    n = args.n
    scatter.build(1000).run(provenance=False)  # warm: imports, the handle's call plan
    results = []
    for _ in range(args.repeat):
        gc.collect()
        w0, t0 = time.perf_counter(), time.thread_time()
        wg = scatter.build(n)
        t1, p1 = time.thread_time(), time.process_time()
        wg.run(provenance=False)
        p2, w2 = time.process_time(), time.perf_counter()
        results.append(((t1 - t0) / n * 1e6, (p2 - p1) / n * 1e6, (w2 - w0) / n * 1e6))
        del wg
    build, run, wall = min(results, key=lambda r: r[0] + r[1])
    print(
        f"scatter {n:,}, µs per task: build (CPU) {build:.2f}, run (CPU) {run:.2f}, "
        f"build + run (CPU) {build + run:.2f}, build + run (wall) {wall:.2f}"
    )


if __name__ == "__main__":
    main()

"""Pure-Python (GIL-bound) task bodies on the local thread pool, the local process pool and
Dask's local cluster of worker processes, in one command (issue 19).

The graph: ``--n`` independent tasks, each ``--work-ms`` milliseconds of pure-Python integer
arithmetic (calibrated here first, on one core), and one task summing their results; build +
run with full provenance. Threads share one GIL, so the thread pool runs the bodies one at a
time whatever the core count; the process pool (``run(executor="processes")``, one worker per
core) and Dask's ``LocalCluster(processes=True)`` run one per core. Each executor gets a
warm-up run first (the pool's workers and the cluster start once per process; the first
process-pool run's time, start-up included, is shown apart), then runs are interleaved and
medians compared, because the machine is shared and noisy: the load average before and after
is printed with the table.

    python benches/process_pool.py                    # n=200 x 20 ms, 3 repeats
    python benches/process_pool.py --n 400 --work-ms 10 --repeat 5 --no-dask

Never asserted in tests: speed is reported, not tested.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from bench_home import temporary_home

os.environ.setdefault("FERROFLOW_HOME", temporary_home())

from ferroflow import task


def spin_body(x: int, loops: int) -> int:
    """Pure-Python arithmetic: holds the GIL all the way."""
    acc = x
    for i in range(loops):
        acc = (acc * 31 + i) % 1_000_003
    return acc


def total_body(**parts: int) -> int:
    return sum(parts.values())


spin = task(spin_body)
total = task(total_body)


@task.graph
def scatter(n: int, loops: int) -> Any:
    return total(**{f"x{i}": spin(x=i, loops=loops).result for i in range(n)}).result


def calibrate(ms: float) -> int:
    """Loops of :func:`spin_body` that take ``ms`` milliseconds here (best of 5)."""
    loops = 100_000
    best = min(_timed(lambda: spin_body(1, loops)) for _ in range(5))
    return max(1, int(loops * ms / 1000 / best))


def _timed(call: Any) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def one_run(n: int, loops: int, executor: Any) -> float:
    def go() -> None:
        wg = scatter.build(n, loops)
        wg.run(executor=executor, progress=False)
        assert wg.state == "FINISHED"

    return _timed(go)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--work-ms", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()
    loops = calibrate(args.work_ms)
    executors: dict[str, Any] = {"thread pool (local)": "local"}
    cold = one_run(args.n, loops, "processes")  # starts the pool's workers
    executors[f"process pool ({cores} processes)"] = "processes"
    cluster = client = None
    if not args.no_dask:
        import distributed

        cluster = distributed.LocalCluster(
            n_workers=cores, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        client = distributed.Client(cluster)
        executors[f"Dask LocalCluster ({cores} worker processes)"] = client
    for executor in executors.values():
        one_run(args.n, loops, executor)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in executors}
    for _ in range(args.repeat):
        for name, executor in executors.items():
            times[name].append(one_run(args.n, loops, executor))
    if client is not None and cluster is not None:
        client.close()
        cluster.close()
    load_after = os.getloadavg()
    print(
        f"n={args.n} tasks x {args.work_ms:g} ms ({loops:,} loops each), {cores} cores, "
        f"repeat {args.repeat}; load average before {load_before[0]:.2f}, "
        f"after {load_after[0]:.2f}; the bodies alone, one after another: "
        f"{args.n * args.work_ms / 1000:.2f} s"
    )
    base = times["thread pool (local)"]
    print(
        "\n| executor | median s | best s | thread pool / this (medians) | (bests) |"
        "\n|---|---|---|---|---|"
    )
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"| {name} | {median:.3f} | {min(values):.3f} | "
            f"{statistics.median(base) / median:.2f}× | {min(base) / min(values):.2f}× |"
        )
    print(f"\nfirst process-pool run of this process (its workers start): {cold:.3f} s")


if __name__ == "__main__":
    main()

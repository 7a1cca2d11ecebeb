"""What ferroflow adds on top of Dask: the same scatter-sum graph through ferroflow-on-Dask and
through Dask's own ``client.map`` / ``client.submit``, on one ``LocalCluster``, in one command.

The graph: ``n`` independent tasks ``work(x=i)`` (each sleeps ``--work-ms`` milliseconds, 0: a
no-op) and one task summing their results. Dask alone submits all of it at once and fetches the
sum; ferroflow submits ready tasks in batches, fetches every result (its store records every
value) and records full provenance. Runs are interleaved and repeated, and medians compared,
because the machine is noisy; "ratio" is ferroflow / Dask ``client.map``.

    python benches/dask_overhead.py            # n=1000 no-op, n=200 x 1 ms, n=100 x 10 ms
    python benches/dask_overhead.py --n 2000 --work-ms 0 --chunks 1 16 64 --repeat 7

Needs ``pip install 'ferroflow[dask]'``. Never asserted in tests: speed is reported, not tested.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench_home import temporary_home

os.environ.setdefault("FERROFLOW_HOME", temporary_home())

from ferroflow import task


def work_body(x: int, ms: float) -> int:
    if ms:
        time.sleep(ms / 1000)
    return x * x


def total_body(**parts: int) -> int:
    return sum(parts.values())


def total_list(parts: list[int]) -> int:
    return sum(parts)


work = task(work_body)
total = task(total_body)


@task.graph
def scatter_sum(n: int, ms: float) -> Any:
    parts = {f"x{i}": work(x=i, ms=ms).result for i in range(n)}
    return total(**parts).result


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process: the client, and LocalCluster's scheduler)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 200, 100])
    parser.add_argument("--work-ms", type=float, nargs="+", default=[0, 1, 10])
    parser.add_argument("--chunks", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if len(args.n) != len(args.work_ms):
        parser.error("give one --n per --work-ms")

    from distributed import Client, LocalCluster
    from ferroflow.executors import DaskExecutor

    cluster = LocalCluster(
        n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = Client(cluster)
    executors = {c: DaskExecutor(client, chunk_size=c) for c in args.chunks}
    print(
        f"LocalCluster: {args.workers} worker processes x 1 thread, scheduler in this process; "
        f"{os.cpu_count()} cores; median of {args.repeat} interleaved runs"
    )
    print()
    print("| workload | runner | median s | per task µs | client+scheduler CPU s | ratio |")
    print("|---|---|---|---|---|---|")
    for n, ms in zip(args.n, args.work_ms, strict=True):
        expected = sum(i * i for i in range(n))

        def dask_map(n: int = n, ms: float = ms, expected: int = expected) -> None:
            parts = client.map(work_body, range(n), ms=ms, pure=False)
            assert client.submit(total_list, parts, pure=False).result() == expected

        def dask_submit(n: int = n, ms: float = ms, expected: int = expected) -> None:
            parts = [client.submit(work_body, i, ms=ms, pure=False) for i in range(n)]
            assert client.submit(total_list, parts, pure=False).result() == expected

        def ferroflow(
            executor: DaskExecutor, n: int = n, ms: float = ms, expected: int = expected
        ) -> None:
            wg = scatter_sum.build(n, ms)
            wg.run(executor=executor)
            assert wg.outputs.result.value == expected

        runners: dict[str, Callable[[], None]] = {
            "Dask client.map": dask_map,
            "Dask client.submit": dask_submit,
        }
        for chunk, executor in executors.items():
            runners[f"ferroflow chunk_size={chunk}"] = lambda e=executor: ferroflow(e)
        for fn in runners.values():  # warm up: workers import, functions get cached
            fn()
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in runners}
        for _ in range(args.repeat):
            for name, fn in runners.items():
                times[name].append(timed(fn))
        base = statistics.median(w for w, _ in times["Dask client.map"])
        for name, got in times.items():
            wall = statistics.median(w for w, _ in got)
            cpu = statistics.median(c for _, c in got)
            print(
                f"| {n} x {ms:g} ms | {name} | {wall:.3f} | {wall / (n + 1) * 1e6:.0f} | "
                f"{cpu:.3f} | {wall / base:.2f} |"
            )
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()

"""How the worker pool scales with cores: 1 ms GIL-releasing bodies on 1, 2, 4, … workers.

    python benches/scaling.py [--workers 1 2 4 8 16] [--tasks-per-worker 250] [--repeat 3]

Each cell is a fresh process running one scatter of ``n = tasks-per-worker × workers`` tasks
whose body is ``time.sleep(0.001)`` (the GIL released, as in I/O or a C extension), so the
ideal time is ``n × 1 ms ÷ workers`` whatever the worker count, and any growth is the
engine's. Engines: ferroflow (build + run, provenance on and off, ``max_workers=w``), Dask's
threaded scheduler (``dask.threaded.get``, ``num_workers=w``, its dict built inside the timing)
and ``concurrent.futures.ThreadPoolExecutor(w)``. Printed per engine and worker count: the best
wall time, the throughput relative to the same engine on one worker ("speed-up": the issue's
goal is ≥ 12× at 16 workers for ferroflow) and the fraction of the ideal. Worker counts above
the machine's cores are measured all the same (a 2-core machine shows the flat line the GIL
would give); the table says how many cores there were. Never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_home import temporary_home

HERE = Path(__file__).resolve().parent
ENGINES = ("ferroflow", "ferroflow-noprov", "dask-threads", "threads")
BODY_SECONDS = 0.001
MARKER = "SCALING_RESULT "


def _runner(engine: str, workers: int) -> Callable[[int], None]:
    """``run(n)``: one scatter of ``n`` sleeping tasks on ``workers`` workers of ``engine``."""
    import workloads as wl

    if engine in ("ferroflow", "ferroflow-noprov"):
        provenance = engine == "ferroflow"

        def ferroflow(n: int) -> None:
            wg = wl.sleep_scatter.build(n)
            wg.run(max_workers=workers, provenance=provenance)

        return ferroflow
    if engine == "dask-threads":
        from dask.threaded import get

        def dask(n: int) -> None:
            graph = {("t", i): (wl.sleep_body, i) for i in range(n)}
            get(graph, list(graph), num_workers=workers)

        return dask
    assert engine == "threads"
    pool = ThreadPoolExecutor(workers)

    def threads(n: int) -> None:
        for future in [pool.submit(wl.sleep_body, i) for i in range(n)]:
            future.result()

    return threads


def child(engine: str, workers: int, n: int, repeat: int) -> None:
    """Measure one cell and print its result line (run in a fresh process)."""
    os.environ.setdefault("FERROFLOW_HOME", temporary_home())
    sys.path.insert(0, str(HERE))
    run = _runner(engine, workers)
    run(workers)  # warm-up: pools, store, imports
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        run(n)
        best = min(best, time.perf_counter() - t0)
    print(MARKER + json.dumps({"seconds": best}), flush=True)


def measure(engine: str, workers: int, n: int, repeat: int) -> float | str:
    """The best seconds of one cell, or why it has none."""
    command = [sys.executable, __file__, "--child", engine, str(workers), str(n), str(repeat)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARKER):
            return float(json.loads(line[len(MARKER) :])["seconds"])
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return f"failed: {tail[:80]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--tasks-per-worker", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--child", nargs=4, metavar=("ENGINE", "WORKERS", "N", "REPEAT"))
    args = parser.parse_args()
    if args.child:
        engine, workers, n, repeat = args.child
        child(engine, int(workers), int(n), int(repeat))
        return
    print(
        f"# `python benches/scaling.py --workers {' '.join(map(str, args.workers))}"
        f" --tasks-per-worker {args.tasks_per_worker}`"
    )
    print(
        f"# {os.cpu_count()} cores ({platform.processor() or platform.machine()}),"
        f" CPython {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )
    print(
        "# cell: best wall s · speed-up over the same engine on 1 worker · fraction of ideal"
        f" (n × {BODY_SECONDS * 1e3:g} ms ÷ workers)"
    )
    print()
    print("| engine | " + " | ".join(f"{w} workers" for w in args.workers) + " |")
    print("|---|" + "---|" * len(args.workers))
    for engine in args.engines:
        cells = []
        base: float | None = None
        for workers in args.workers:
            n = args.tasks_per_worker * workers
            seconds = measure(engine, workers, n, args.repeat)
            if isinstance(seconds, str):
                cells.append(seconds)
                continue
            rate = n / seconds
            base = base if base is not None else rate
            ideal = n * BODY_SECONDS / workers
            cells.append(f"{seconds:.3f} s · {rate / base:.2f}× · {ideal / seconds:.0%}")
        print(f"| {engine} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

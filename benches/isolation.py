"""What value isolation costs (ferroflow/model/isolation.py): no-op tasks fed ints, one shared
list or dict, or one shared numpy array.

Every consumer of a mutable value gets its own copy (a pickle round trip), a numpy array a
read-only view, an int the object itself (the fast lane checks its exact type in Rust). Each
workload is one producer's value (or the loop's ints) read by ``n`` tasks; the run alone is
timed (µs per task, best of ``--repeat``), provenance off and on. Standalone on purpose: an
older wheel runs this same file, so the speed guard compares like with like:

    python benches/isolation.py --n 20000 --repeat 3

Never asserted in tests: speed is reported, not tested.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from typing import Any

from bench_home import temporary_home

os.environ.setdefault("FERROFLOW_HOME", temporary_home())

import numpy as np
from ferroflow import task


@task
def noop(x: Any) -> int:
    return 0


@task
def make_list() -> Any:
    return list(range(100))


@task
def make_dict() -> Any:
    return {f"k{i}": i for i in range(100)}


@task
def make_array() -> Any:
    return np.arange(100_000.0)


@task
def total(x: Any) -> float:
    return float(x.sum())


@task.graph
def ints(n: int) -> None:
    for i in range(n):
        noop(x=i)


def _fan(make: Any, reader: Any) -> Any:
    @task.graph
    def fan(n: int) -> None:
        shared = make().result
        for _ in range(n):
            reader(x=shared)

    return fan


WORKLOADS = {
    "int scatter (no-op)": ints,
    "list[100] to every task": _fan(make_list, noop),
    "dict[100] to every task": _fan(make_dict, noop),
    "array 100k float64 to every task (sum)": _fan(make_array, total),
}


def run_cost(graph: Any, n: int, provenance: bool) -> float:
    gc.collect()
    wg = graph.build(n)
    t0 = time.perf_counter()
    wg.run(provenance=provenance)
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"# n={args.n}; best of {args.repeat}; µs per task, run only")
    print("| workload | prov off | prov on |")
    print("|---|---|---|")
    for name, graph in WORKLOADS.items():
        off = min(run_cost(graph, args.n, False) for _ in range(args.repeat))
        on = min(run_cost(graph, args.n, True) for _ in range(args.repeat))
        print(f"| {name} | {off:.2f} | {on:.2f} |", flush=True)


if __name__ == "__main__":
    main()

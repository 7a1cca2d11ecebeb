"""Latency of small graphs: build + run the how-to's scatter-gather (n = 4) with provenance on.

    python benches/howto_latency.py [--runs 300]

Prints the median and best per-run time over many runs on a warm pool (the pool is started
once and reused, as in a hypothesis test suite or a notebook). WorkGraph's figure for the same
workload, 2.6 s, was measured on a 2-core VM (shared/design/workgraph-semantics.md §5.1).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("FERROFLOW_HOME", tempfile.mkdtemp(prefix="ferroflow-bench-"))

from ferroflow.demo import ScatterGatherSquare

WORKGRAPH_SECONDS = 2.6


def one(provenance: bool) -> float:
    t0 = time.perf_counter()
    wg = ScatterGatherSquare.build(4)
    wg.run(provenance=provenance)
    elapsed = time.perf_counter() - t0
    assert wg.outputs.result.value == 30
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    one(True)  # warm-up: starts the pool and opens the store
    print("| how-to n=4, build + run | median ms | best ms | WorkGraph / ferroflow |")
    print("|---|---|---|---|")
    for provenance in (True, False):
        times = [one(provenance) for _ in range(args.runs)]
        median = statistics.median(times)
        print(
            f"| provenance {'on' if provenance else 'off'} | {median * 1e3:.3f} "
            f"| {min(times) * 1e3:.3f} | {WORKGRAPH_SECONDS / median:,.0f}× |"
        )


if __name__ == "__main__":
    main()

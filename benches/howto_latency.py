"""Latency of small graphs: build + run the how-to's scatter-gather (n = 4) with provenance on.

    python benches/howto_latency.py [--runs 300]
    python benches/howto_latency.py --runs 300 --against /path/to/other/checkout [--rounds 5]

Prints the median and best per-run time over many runs on a warm pool (the pool is started
once and reused, as in a hypothesis test suite or a notebook). WorkGraph's figure for the same
workload, 2.6 s, was measured on a 2-core VM (shared/design/workgraph-semantics.md §5.1).

``--against DIR`` compares this checkout with another (its ``python/`` with a built
``_core``, e.g. an older commit unpacked with ``git archive``): the two alternate, one fresh
process and store each per round, so a noisy shared machine slows both alike; the table gives
the median of the rounds' medians and the best run of either side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_home import temporary_home

os.environ.setdefault("FERROFLOW_HOME", temporary_home())

from ferroflow.demo import ScatterGatherSquare

WORKGRAPH_SECONDS = 2.6


def one(provenance: bool) -> float:
    t0 = time.perf_counter()
    wg = ScatterGatherSquare.build(4)
    wg.run(provenance=provenance)
    elapsed = time.perf_counter() - t0
    assert wg.outputs.result.value == 30
    return elapsed


def measure(runs: int) -> dict[str, tuple[float, float]]:
    """(median, best) seconds per run, provenance on and off, after one warm-up run."""
    one(True)  # warm-up: starts the pool and opens the store
    result = {}
    for provenance in (True, False):
        times = [one(provenance) for _ in range(runs)]
        result["on" if provenance else "off"] = (statistics.median(times), min(times))
    return result


def against(other: Path, runs: int, rounds: int) -> None:
    """Alternate this checkout and ``other``, a fresh process and store each per round."""
    here = Path(__file__).resolve().parent.parent
    sides = {"this checkout": here, f"{other}": other.resolve()}
    got: dict[str, list[dict[str, tuple[float, float]]]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, root in sides.items():
            env = dict(os.environ)
            env["PYTHONPATH"] = str(root / "python")
            env["FERROFLOW_HOME"] = tempfile.mkdtemp(prefix="ferroflow-bench-")
            out = subprocess.run(
                [
                    sys.executable,
                    str(here / "benches" / "howto_latency.py"),
                    "--runs",
                    str(runs),
                    "--json",
                ],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            got[name].append(json.loads(out))
    print(f"{rounds} alternating rounds of {runs} runs each; median of the rounds' medians")
    print(
        "| how-to n=4, build + run | "
        + " | ".join(f"{name}: median ms | best ms" for name in sides)
        + " |"
    )
    print("|---|" + "---|---|" * len(sides))
    for mode in ("on", "off"):
        cells = []
        for name in sides:
            medians = [r[mode][0] for r in got[name]]
            best = min(r[mode][1] for r in got[name])
            cells.append(f"{statistics.median(medians) * 1e3:.3f} | {best * 1e3:.3f}")
        print(f"| provenance {mode} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--against", type=Path, help="another checkout to alternate with")
    parser.add_argument("--rounds", type=int, default=5, help="with --against")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.against is not None:
        against(args.against, args.runs, args.rounds)
        return
    result = measure(args.runs)
    if args.json:
        print(json.dumps(result))
        return
    print("| how-to n=4, build + run | median ms | best ms | WorkGraph / ferroflow |")
    print("|---|---|---|---|")
    for mode, (median, best) in result.items():
        print(
            f"| provenance {mode} | {median * 1e3:.3f} "
            f"| {best * 1e3:.3f} | {WORKGRAPH_SECONDS / median:,.0f}× |"
        )


if __name__ == "__main__":
    main()

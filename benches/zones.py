"""Zones at scale: a ``While`` loop of many iterations and a ``Map`` over many keys, ferroflow
beside AiiDA WorkGraph (at the sizes WorkGraph can run in minutes).

    python benches/zones.py                                   # ferroflow: While 10,000, Map 100,000
    python benches/zones.py --workgraph-while 20 --workgraph-map 50   # plus WorkGraph, same graphs
    python benches/zones.py --aiida-python /path/to/venv/bin/python ...

The graphs are written once against WorkGraph's API (as a gallery page would be) and built and
run by each library: the While body is one ``add`` writing the loop counter into the context and
its condition one ``op_lt`` task, so an iteration is two task runs; each Map key is one
``add`` clone, gathered and summed by one task after the zone. Both count build + run with full
provenance in their default store (ferroflow: its embedded SQLite; WorkGraph: a fresh
``verdi presto --no-broker`` profile). Reported: wall seconds and cost per iteration / per key,
best of ``--repeat``; the ratio compares per-iteration (per-key) costs measured in this command.
WorkGraph runs in its own virtualenv (``python benches/compare.py --setup-aiida`` makes
``benches/.venv-aiida``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def graphs(lib: Any) -> dict[str, Any]:
    """The two workloads, built with ``lib``'s ``task``, ``WorkGraph``, ``While``, ``Map``."""
    task, WorkGraph, While, Map = lib.task, lib.WorkGraph, lib.While, lib.Map

    @task
    def add(x, y):  # type: ignore[no-untyped-def]
        return x + y

    @task
    def total(**data):  # type: ignore[no-untyped-def]
        return sum(data.values())

    def while_loop(n: int) -> Any:
        with WorkGraph("while_bench") as wg:
            first = add(x=0, y=0).result
            wg.ctx.i = first
            (condition := wg.ctx.i < n) << first
            with While(condition, max_iterations=n + 1):
                wg.ctx.i = add(x=wg.ctx.i, y=1).result
            wg.outputs.result = add(x=wg.ctx.i, y=0).result
        wg.run()
        return wg.outputs.result.value.value

    def map_zone(n: int) -> Any:
        with WorkGraph("map_bench") as wg:
            with Map({f"k{i}": i for i in range(n)}) as zone:
                zone.gather({"r": add(x=zone.value, y=1).result})
            wg.outputs.result = total(data=zone.outputs.r).result
        wg.run()
        return wg.outputs.result.value.value

    return {"while": while_loop, "map": map_zone}


def expected(workload: str, n: int) -> int:
    return n if workload == "while" else sum(i + 1 for i in range(n))


def measure(lib: Any, workload: str, n: int, repeat: int) -> float:
    run = graphs(lib)[workload]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        got = run(n)
        best = min(best, time.perf_counter() - start)
        if got != expected(workload, n):
            raise AssertionError(f"{workload} n={n}: got {got}, expected {expected(workload, n)}")
    return best


def child(args: argparse.Namespace) -> None:
    """In the WorkGraph virtualenv: run one workload, print its best time as JSON."""
    from aiida import load_profile  # the aiida venv only

    load_profile()
    import aiida_workgraph as lib

    print(json.dumps({"seconds": measure(lib, args.workload, args.n, args.repeat)}))


def workgraph(python: Path, workload: str, n: int, repeat: int) -> float | None:
    from compare_workgraph import describe, profile_env

    if describe(python) is None:
        return None
    with profile_env(python) as env:
        done = subprocess.run(
            [str(python), __file__, "--child", workload, str(n), "--repeat", str(repeat)],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"WorkGraph {workload} n={n} failed: {done.stderr[-2000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "N"))
    parser.add_argument("--while-n", type=int, default=10_000)
    parser.add_argument("--map-n", type=int, default=100_000)
    parser.add_argument("--workgraph-while", type=int, default=0, help="0: skip WorkGraph")
    parser.add_argument("--workgraph-map", type=int, default=0, help="0: skip WorkGraph")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--aiida-python", type=Path, default=HERE / ".venv-aiida/bin/python")
    args = parser.parse_args()
    if args.child:
        args.workload, args.n = args.child[0], int(args.child[1])
        child(args)
        return
    import os
    import tempfile

    import ferroflow

    with tempfile.TemporaryDirectory() as home:
        os.environ["FERROFLOW_HOME"] = home  # a fresh store, as WorkGraph gets a fresh profile
        ferroflow.load_profile("bench")
        rows = []
        for workload, n, wg_n, unit in (
            ("while", args.while_n, args.workgraph_while, "iteration"),
            ("map", args.map_n, args.workgraph_map, "key"),
        ):
            ours = measure(ferroflow, workload, n, args.repeat)
            theirs = workgraph(args.aiida_python, workload, wg_n, 1) if wg_n else None
            per = ours / n * 1e6
            row = [f"{workload} ({unit}s)", f"{n:,}", f"{ours:.2f}", f"{per:.1f}"]
            if theirs is not None:
                their_per = theirs / wg_n * 1e6
                row += [
                    f"{wg_n:,}",
                    f"{theirs:.1f}",
                    f"{their_per:,.0f}",
                    f"{their_per / per:,.0f}×",
                ]
            else:
                row += ["–"] * 4
            rows.append(row)
    print(
        "| workload | ferroflow n | ferroflow s | ferroflow µs per | WorkGraph n | WorkGraph s "
        "| WorkGraph µs per | WorkGraph / ferroflow |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

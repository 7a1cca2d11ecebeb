"""Engine memory per task: resident memory added by building and running a no-op scatter.

    python benches/memory.py --n 1000000

Reads the current resident set size (``/proc/self/statm``) before building, after building and
after running, with provenance off and then on (fresh graph each time), and prints bytes per
task. The user's values here are the loop's ints (shared small ints below 257, 28-byte objects
above), so nearly all of it is engine state: task nodes, bindings, data nodes, the core's task
records and fast-lane slots. Never asserted in tests.
"""

from __future__ import annotations

import argparse
import gc
import os

from bench_home import temporary_home

os.environ.setdefault("FERROFLOW_HOME", temporary_home())

from workloads import scatter


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.n
    print(f"# no-op scatter of {n:,} tasks; bytes of resident memory per task")
    print("| provenance | after build | after run (graph and results alive) |")
    print("|---|---|---|")
    for provenance in (False, True):
        gc.collect()
        before = rss()
        wg = scatter.build(n)
        gc.collect()
        built = rss()
        wg.run(provenance=provenance)
        gc.collect()
        ran = rss()
        label = "on" if provenance else "off"
        print(f"| {label} | {(built - before) / n:.0f} B | {(ran - before) / n:.0f} B |")
        del wg
        gc.collect()


if __name__ == "__main__":
    main()

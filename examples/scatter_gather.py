"""Scatter-gather: square n numbers in parallel, then sum them, with full provenance.

The workflow of AiiDA WorkGraph's "Run tasks in parallel (Scatter-Gather)" how-to (its tasks
are defined in ``ferroflow.demo``; the README's quick start shows the code):

* ``generate_numbers(n)`` makes the numbers 1..n, as a *dynamic namespace* (one output per
  number, their names known only when it has run);
* ``ParallelSquare`` is a graph task: when the numbers exist, its body loops over them and adds
  one ``square`` task per number; these run in parallel on the worker threads;
* ``gather_and_sum`` adds the squares.

Every value and every task run is recorded in the profile's store.

Run: ``python examples/scatter_gather.py 10``
"""

from __future__ import annotations

import sys

from ferroflow import load_profile
from ferroflow.demo import ScatterGatherSquare


def main(n: int) -> int:
    profile = load_profile()  # the store: $FERROFLOW_HOME/default (~/.ferroflow by default)
    wg = ScatterGatherSquare.build(n)  # runs the graph body now: tasks wired, nothing computed
    wg.run()  # computes, in parallel, and stores the provenance
    total = wg.outputs.result.value  # a data node: .value, .pk, .uuid
    print(f"sum of squares 1..{n} = {total.value} (stored as pk {total.pk} in {profile.path})")
    # every task, including the n squares the graph task added while running
    for t in wg.all_tasks():
        print(f"  {t.path:<45} {t.state}")
    assert total == sum(i * i for i in range(1, n + 1))
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 4))

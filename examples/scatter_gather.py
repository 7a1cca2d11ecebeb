"""Scatter-gather: square n numbers in parallel, then sum them, with full provenance.

Run: ``python examples/scatter_gather.py 10``. The tasks are the ones of AiiDA WorkGraph's
scatter-gather how-to (see ``ferroflow.demo`` for their definitions).
"""

from __future__ import annotations

import sys

from ferroflow import load_profile
from ferroflow.demo import ScatterGatherSquare


def main(n: int) -> int:
    profile = load_profile()
    wg = ScatterGatherSquare.build(n)
    wg.run()
    total = wg.outputs.result.value
    print(f"sum of squares 1..{n} = {total.value} (stored as pk {total.pk} in {profile.path})")
    for t in wg.all_tasks():
        print(f"  {t.path:<45} {t.state}")
    assert total == sum(i * i for i in range(1, n + 1))
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 4))

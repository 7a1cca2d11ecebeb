"""One measurement of AiiDA WorkGraph for ``compare.py``; runs in ``benches/.venv-aiida``.

``python compare_workgraph_child.py WORKLOAD N`` with ``AIIDA_PATH`` pointing at a throw-away
presto profile (``compare_workgraph.profile_env``); the graphs are in
``compare_workgraph_flows.py``. Prints one ``COMPARE_RESULT`` line (``compare_child.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from aiida import load_profile
from compare_child import WARM_N, best_time, emit, emit_failure


def runner(workload: str) -> Callable[[int], None]:
    from compare_workgraph_flows import GRAPHS

    graph = GRAPHS[workload]

    def run(n: int) -> None:
        wg = graph.build(n)
        wg.run()
        if not (wg.process and wg.process.is_finished_ok):
            raise RuntimeError(f"WorkGraph {workload} n={n} did not finish ok")
        if workload == "howto":
            value = wg.outputs.result.value.value
            if value != sum(i * i for i in range(1, n + 1)):
                raise AssertionError(f"how-to n={n} gave {value!r}")

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description="one WorkGraph measurement of compare.py")
    parser.add_argument("workload", choices=sorted(WARM_N))
    parser.add_argument("n", type=int)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=3.0)
    args = parser.parse_args()
    try:
        load_profile()
        run = runner(args.workload)
        best, times = best_time(run, args.n, WARM_N[args.workload], args.repeat, args.budget)
        emit({"seconds": best, "times": times})
    except Exception as exc:
        emit_failure(exc)
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

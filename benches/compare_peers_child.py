"""One measurement of a workflow-tool peer (Parsl, jobflow, Prefect) for ``compare.py``.

``python compare_peers_child.py ENGINE WORKLOAD N [--workers W --repeat R --budget S]``, run by
``compare.py`` with the interpreter of that peer's virtualenv (``compare_peers.py``); imports
only the peer's own module (``compare_parsl.py``, ``compare_jobflow.py``, ``compare_prefect.py``)
and the standard-library helpers. Prints one ``COMPARE_RESULT`` line (``compare_child.py``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from compare_child import WARM_N, best_time, emit, emit_failure

#: engine → the module that builds its runs; every peer runs these workloads
MODULES = {
    "parsl-threads": "compare_parsl",
    "parsl-htex": "compare_parsl",
    "jobflow": "compare_jobflow",
    "prefect": "compare_prefect",
}
WORKLOADS = ("scatter", "chain", "howto", "nested")


def main() -> None:
    parser = argparse.ArgumentParser(description="one peer measurement of compare.py")
    parser.add_argument("engine", choices=sorted(MODULES))
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("n", type=int)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=3.0)
    args = parser.parse_args()
    try:
        module = importlib.import_module(MODULES[args.engine])
        run = module.make(args.engine, args.workload, args.workers)
        best, times = best_time(run, args.n, WARM_N[args.workload], args.repeat, args.budget)
        emit({"seconds": best, "times": times})
    except Exception as exc:
        emit_failure(exc)
    # after the result, untimed: stop what outlives this process (Parsl's interchange and worker
    # pool); then skip the interpreter's teardown, as compare_engines.py does
    close = getattr(sys.modules.get(MODULES[args.engine]), "close", None)
    if close is not None:
        try:
            close()
        except Exception as exc:  # the result is already out; say why on stderr only
            print(f"close: {type(exc).__name__}: {exc}", file=sys.stderr)
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

"""Timing and reporting inside one measurement process of ``compare.py`` (standard library only).

Every (engine, workload, n) runs in a fresh process, so that its peak RSS belongs to that
measurement alone and nothing (caches, pools, a growing store) leaks from earlier ones. Two kinds
of child use this module: ``compare_engines.py`` in ferroflow's environment, and
``compare_workgraph.py`` in the separate aiida-workgraph environment, which cannot import
ferroflow. Hence no third-party import here.

The child prints one line ``COMPARE_RESULT {json}`` on stdout; ``compare.py`` reads the last
such line and ignores everything else (AiiDA logs to the same streams).
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["MARKER", "WARM_N", "best_time", "emit", "emit_failure", "peak_rss_kib"]

MARKER = "COMPARE_RESULT "
#: the n of each workload's untimed warm-up run (every engine)
WARM_N = {"scatter": 10, "chain": 10, "howto": 4, "sleep": 2, "numpy": 2, "nested": 8}


def peak_rss_kib() -> int:
    """Peak resident set size of this process (and of any children it waited for), in KiB.

    Linux reports ``ru_maxrss`` in KiB. Dask's in-process cluster and thread pools live in this
    process; ``RUSAGE_CHILDREN`` covers helpers that were started and reaped.
    """
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children)


def best_time(
    run: Callable[[int], Any], n: int, warm_n: int, repeat: int, budget_s: float
) -> tuple[float, list[float]]:
    """Best wall time of ``run(n)`` over up to ``repeat`` runs, after one warm-up ``run(warm_n)``.

    The warm-up starts pools, opens stores and imports lazily loaded code, which a user pays once
    per session, not per workflow. Runs stop early once they have used ``budget_s`` in total (at
    least one timed run always happens), so large n runs once and small n gets the best of
    several: the minimum, because noise on a shared VM only ever adds time.
    """
    run(warm_n)
    times: list[float] = []
    while len(times) < repeat and (not times or sum(times) < budget_s):
        gc.collect()
        t0 = time.perf_counter()
        run(n)
        times.append(time.perf_counter() - t0)
    return min(times), times


def emit(record: dict[str, Any]) -> None:
    record.setdefault("peak_rss_kib", peak_rss_kib())
    sys.stdout.flush()
    print(MARKER + json.dumps(record), flush=True)


def emit_failure(exc: BaseException) -> None:
    """Report an exception as the result (the parent prints ``failed: <reason>``)."""
    traceback.print_exc(file=sys.stderr)
    reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
    emit({"error": reason})

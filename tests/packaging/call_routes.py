"""A fast-lane graph whose results show how keyword arguments reached each call.

Run as a script by tests/packaging/test_abi3.py, once per call route of rust/py/src/call.rs
(vectorcall, and the limited API's dict with ``FERROFLOW_LIMITED_CALL=1``): it prints one JSON
object with the route, whether every task took the fast lane, and every task's output.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

os.environ.setdefault("FERROFLOW_HOME", tempfile.mkdtemp(prefix="ferroflow-routes-"))
os.environ["FERROFLOW_FAST_LANE"] = "1"

from ferroflow import task
from ferroflow._core import call_route


@task
def two(a: int, b: int) -> int:
    return a * 10 + b


@task
def ten(
    a: int, b: int, c: int, d: int, e: int, f: int, g: int, h: int, i: int, j: list[int]
) -> str:
    # more arguments than the lane keeps on the stack (INLINE_ARGS = 8), one copied (a list)
    j.append(-1)
    return ",".join(str(v) for v in (a, b, c, d, e, f, g, h, i, *j))


@task
def fails(x: int) -> int:
    raise ValueError(f"refused {x}")


@task.graph
def flow(n: int) -> Any:
    first = two(a=n, b=2).result
    second = two(b=first, a=3).result
    shared = [7, 8]
    ten(a=1, b=2, c=3, d=4, e=5, f=6, g=7, h=8, i=second, j=shared)
    ten(a=9, b=8, c=7, d=6, e=5, f=4, g=3, h=2, i=1, j=shared)
    fails(x=n)
    return second


def main() -> None:
    wg = flow.build(4)
    wg.run(raise_on_error=False)
    tasks = [
        t for t in sorted(wg.all_tasks(), key=lambda t: t.path + str(t.pk)) if t.is_graph is False
    ]
    out: dict[str, Any] = {
        "route": call_route(),
        "general_lane": [t.path for t in tasks if t.node.fast_box is None],
        "results": sorted(
            str(t.outputs["result"].value.value) for t in tasks if t.state == "FINISHED"
        ),
        "failed": [f"{t.path}: {t.error!r}" for t in tasks if t.state == "FAILED"],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()

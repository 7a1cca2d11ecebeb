"""Pictures of a big run: how long each picture command takes (issue 18).

    python benches/pictures.py                 # 1,000,000 no-op tasks and one failing task
    python benches/pictures.py --n 20000

Builds the run with provenance in a temporary ``FERROFLOW_HOME`` (a ``@task.graph`` scatter of
no-op tasks, one failing task, the middle task's result returned), then times, in fresh
processes through the ``ferroflow`` console script, ``graph PK -f dot``, ``graph PK`` (SVG),
``export -f dot|svg|mermaid``, and in this process the workflow's own ``to_dot()`` and
``_repr_svg_()``. Every picture is bounded (``ferroflow.views.grouping``), so these stay
seconds whatever ``--n``; before issue 18 ``graph`` of 20,000 tasks did not return in 60 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

from ferroflow import namespace, task

SCRIPT = Path(sys.executable).parent / "ferroflow"


@task
def noop(x: int) -> int:
    return x


@task
def fails(x: int) -> int:
    raise ValueError("broken on purpose")


@task.graph
def Million(n: int) -> t.Annotated[dict, namespace(picked=int, failed=int)]:  # type: ignore[type-arg]
    results = [noop(x=i).result for i in range(n)]
    return {"picked": results[n // 2], "failed": fails(x=n).result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["FERROFLOW_HOME"] = home
        start = time.perf_counter()
        wg = Million.build(args.n)
        wg.run(raise_on_error=False)
        built = time.perf_counter() - start
        rows = [(f"build + run {args.n + 1:,} tasks (provenance on)", built)]
        out = Path(home) / "picture"
        for command in (
            ["graph", str(wg.pk), "-f", "dot"],
            ["graph", str(wg.pk), "-f", "svg"],
            ["export", str(wg.pk), "-f", "dot"],
            ["export", str(wg.pk), "-f", "svg"],
            ["export", str(wg.pk), "-f", "mermaid"],
        ):
            start = time.perf_counter()
            subprocess.run([str(SCRIPT), *command, "-o", str(out)], check=True, capture_output=True)
            rows.append((f"`ferroflow {' '.join(command)}`", time.perf_counter() - start))
        for name, draw in (("wg.to_dot()", wg.to_dot), ("wg._repr_svg_()", wg._repr_svg_)):
            start = time.perf_counter()
            draw()
            rows.append((name, time.perf_counter() - start))
    print(f"| {args.n + 1:,}-task run | seconds |\n|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")


if __name__ == "__main__":
    main()

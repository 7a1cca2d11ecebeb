"""Run the same workflow on a Dask cluster: ``wg.run(executor=client)``.

A parameter sweep: a damped oscillator is simulated for several damping ratios, each in its
own task, and the results are gathered into one table. Nothing in the workflow mentions
Dask: the graph is built as always, and ``run(executor=client)`` sends the task bodies to the
cluster's workers instead of local threads. Scheduling, failure handling and provenance stay
in this process (the store is written here, as for a local run).

Here the cluster is a ``LocalCluster`` (two worker processes on this machine); for a real
cluster, pass a ``Client`` connected to its scheduler (``Client("tcp://scheduler:8786")``).

Needs the ``distributed`` package (``pip install 'ferroflow[dask]'``) and a ferroflow with
the Dask executor; without them the script says what is missing and exits normally.

Run: ``python examples/dask_cluster.py``
"""

from __future__ import annotations

import inspect
import sys
import typing as t

import numpy as np
from ferroflow import WorkGraph, dynamic, load_profile, namespace, task


def where_am_i() -> str:
    """The Dask worker running the current task, or "local"."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "local"


@task
def oscillate(damping: float) -> t.Annotated[dict[str, t.Any], namespace(peak=float, worker=str)]:
    """Simulate x'' + 2ζx' + x = 0 from x=1 and return the last swing's peak amplitude."""
    dt, steps = 0.01, 5_000
    x, v = 1.0, 0.0
    trace = np.empty(steps)
    for i in range(steps):  # semi-implicit Euler: stable for this step size
        v += (-2 * damping * v - x) * dt
        x += v * dt
        trace[i] = x
    return {"peak": float(np.abs(trace[-1000:]).max()), "worker": where_am_i()}


@task
def table(peaks: t.Annotated[dict[str, float], dynamic(float)]) -> str:
    return "\n".join(f"  {key:<12} {peak:.3e}" for key, peak in peaks.items())


@task.graph
def sweep(
    dampings: list[float],
) -> t.Annotated[dict[str, t.Any], namespace(table=str, workers=dynamic(str))]:
    runs = {f"zeta_{z:g}".replace(".", "_"): oscillate(damping=z) for z in dampings}
    return {
        "table": table(peaks={key: run.peak for key, run in runs.items()}).result,
        "workers": {key: run.worker for key, run in runs.items()},
    }


def missing() -> str | None:
    """Why this example cannot run here, or None."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return "the 'distributed' package is not installed (pip install 'ferroflow[dask]')"
    if "executor" not in inspect.signature(WorkGraph.run).parameters:
        return "this ferroflow has no Dask executor yet (WorkGraph.run(executor=...))"
    return None


def main() -> int:
    reason = missing()
    if reason is not None:
        print(f"Dask example not run: {reason}")
        return 0
    from distributed import Client, LocalCluster

    load_profile()
    dampings = [0.0, 0.01, 0.05, 0.1, 0.2, 0.5]
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        wg = sweep.build(dampings)
        wg.run(executor=client)
    workers = {item.value.value for item in wg.outputs.workers}
    print(f"peak amplitude of the last swing, by damping ratio ({len(dampings)} tasks on "
          f"{len(workers)} Dask worker(s)):")  # fmt: skip
    print(wg.outputs.table.value.value)
    assert "local" not in workers, "the tasks should have run on the cluster"
    print(f"stored as run pk {wg.pk} in this machine's profile: ferroflow runs show {wg.pk}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The engines ``compare.py`` runs in ferroflow's environment, one workload at a time.

Each engine maps a workload name to ``run(n)``, which does the whole job a user would write for
that engine: build the graph (or submit the tasks) *and* run it to the last result. Pools and
clusters are started once before timing, as a user starts them once per session. All engines
call the same plain bodies from ``workloads.py``, so they do the same work per task:

* ``loop``: a plain Python loop calling the bodies (the floor: no engine at all);
* ``threads``: ``concurrent.futures.ThreadPoolExecutor(workers)``, ``submit`` + ``result``;
* ``dask-threads``: Dask's task-graph dict built for each run and computed by its threaded
  scheduler (``dask.threaded.get``, ``num_workers=workers``);
* ``dask-distributed``: ``distributed.LocalCluster(processes=False)``, i.e. scheduler and one
  worker with ``workers`` threads inside this process (so its peak RSS is all of Dask's);
  ``client.map``/``client.submit`` + ``gather``;
* ``ferroflow``: ``graph.build(n).run()`` with default settings, provenance on, into a fresh
  store (``$FERROFLOW_HOME`` is a temp directory set by ``compare.py``);
* ``ferroflow-noprov``: the same with ``run(provenance=False)``.

Dynamic fan-out (the how-to and ``nested``): ferroflow expands graph tasks at run time. The
thread pool and ``dask-threads`` cannot, so they compute the value that decides the fan-out
first and then build the rest (two steps; ``nested`` becomes one flattened tree of tasks, and
for the pool just the k³ leaves); ``dask-distributed`` passes the fan-out as a future and
expands it inside tasks with ``worker_client`` (genuinely nested submits).

Run by ``compare.py`` as ``python benches/compare_engines.py ENGINE WORKLOAD N [...]``; prints
one ``COMPARE_RESULT`` line (see ``compare_child.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import workloads as wl
from compare_child import WARM_N, best_time, emit, emit_failure

__all__ = ["ENGINES", "WORKLOADS", "expected_howto", "make_engine"]

Run = Callable[[int], None]

ENGINES = ("loop", "threads", "dask-threads", "dask-distributed", "ferroflow", "ferroflow-noprov")
WORKLOADS = ("scatter", "chain", "howto", "sleep", "numpy", "nested")

BODIES: dict[str, Callable[[int], Any]] = {
    "scatter": wl.noop_body,
    "sleep": wl.sleep_body,
    "numpy": wl.matmul_body,
}


def _howto_bodies() -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """The how-to's plain functions (generate_numbers, square, gather_and_sum), unwrapped."""
    from ferroflow import demo

    return demo.generate_numbers.func, demo.square.func, demo.gather_and_sum.func


def expected_howto(n: int) -> int:
    return sum(i * i for i in range(1, n + 1))


def _check(engine: str, n: int, total: Any) -> None:
    if total != expected_howto(n):
        raise AssertionError(f"{engine}: how-to n={n} gave {total!r}")


def _collect(children: list[Any]) -> int:
    """A node of dask-threads' flattened ``nested`` tree: waits for its children."""
    return len(children)


def _dd_level(k: int, depth: int) -> int:
    """One level of ``nested`` on Dask distributed: submits its k children from inside a task."""
    from distributed import worker_client

    with worker_client() as client:
        if depth == 1:
            futures = client.map(wl.noop_body, range(k), pure=False)
        else:
            futures = [client.submit(_dd_level, k, depth - 1, pure=False) for _ in range(k)]
        client.gather(futures)
    return k


# --- loop -----------------------------------------------------------------------------------


def _loop(workload: str) -> Run:
    if workload in BODIES:
        body = BODIES[workload]

        def scatter(n: int) -> None:
            for i in range(n):
                body(i)

        return scatter
    if workload == "chain":

        def chain(n: int) -> None:
            x = 0
            for _ in range(n):
                x = wl.noop_body(x)

        return chain
    if workload == "howto":
        gen, square, gather = _howto_bodies()

        def howto(n: int) -> None:
            data = gen(n)["data"]
            _check("loop", n, gather({key: square(value) for key, value in data.items()}))

        return howto
    assert workload == "nested"

    def nested(n: int) -> None:
        k = wl.fanout_body(n)
        for _ in range(k):
            for _ in range(k):
                for i in range(k):
                    wl.noop_body(i)

    return nested


# --- concurrent.futures ---------------------------------------------------------------------


def _threads(workload: str, workers: int) -> Run:
    pool = ThreadPoolExecutor(workers)

    def scatter_of(body: Callable[[int], Any]) -> Callable[[int], None]:
        def scatter(n: int) -> None:
            futures = [pool.submit(body, i) for i in range(n)]
            for future in futures:
                future.result()

        return scatter

    if workload in BODIES:
        return scatter_of(BODIES[workload])
    if workload == "chain":

        def chain(n: int) -> None:
            x = 0
            for _ in range(n):
                x = pool.submit(wl.noop_body, x).result()

        return chain
    if workload == "howto":
        gen, square, gather = _howto_bodies()

        def howto(n: int) -> None:
            data = pool.submit(gen, n).result()["data"]
            futures = {key: pool.submit(square, value) for key, value in data.items()}
            squares = {key: future.result() for key, future in futures.items()}
            _check("threads", n, pool.submit(gather, squares).result())

        return howto
    assert workload == "nested"
    leaves = scatter_of(wl.noop_body)

    def nested(n: int) -> None:  # flattened: a pool has no nesting
        k = pool.submit(wl.fanout_body, n).result()
        leaves(k**3)

    return nested


# --- Dask, threaded scheduler ---------------------------------------------------------------


def _dask_threads(workload: str, workers: int) -> Run:
    # Dask's low-level graph dict, run by ``dask.threaded.get``: its fastest path, linear in n.
    # (``dask.delayed`` + ``dask.compute`` on the same scatter cost 230 µs/task at n = 1,000
    # and 820 µs at 10,000 with dask 2026.8: its optimisation culls each of the n layers over
    # the whole graph. See README.md, "Against other engines".)
    from dask.threaded import get

    def compute(graph: dict[Any, Any], keys: Any) -> Any:
        return get(graph, keys, num_workers=workers)

    if workload in BODIES:
        body = BODIES[workload]

        def scatter(n: int) -> None:
            graph = {("t", i): (body, i) for i in range(n)}
            compute(graph, list(graph))

        return scatter
    if workload == "chain":

        def chain(n: int) -> None:
            graph: dict[Any, Any] = {("t", 0): (wl.noop_body, 0)}
            for i in range(1, n):
                graph[("t", i)] = (wl.noop_body, ("t", i - 1))
            compute(graph, ("t", n - 1))

        return chain
    if workload == "howto":
        gen, square, gather = _howto_bodies()

        def gather_list(names: list[str], values: list[int]) -> int:
            return int(gather(dict(zip(names, values, strict=True))))

        def howto(n: int) -> None:
            data = compute({"data": (gen, n)}, "data")["data"]  # the fan-out, needed to build
            graph: dict[Any, Any] = {("sq", key): (square, v) for key, v in data.items()}
            graph["sum"] = (gather_list, list(data), [("sq", key) for key in data])
            _check("dask-threads", n, compute(graph, "sum"))

        return howto
    assert workload == "nested"

    def nested(n: int) -> None:  # a flattened tree, built once k is known
        k = compute({"k": (wl.fanout_body, n)}, "k")
        graph: dict[Any, Any] = {}
        for a in range(k):
            for b in range(k):
                for i in range(k):
                    graph[("leaf", a, b, i)] = (wl.noop_body, i)
                graph[("leaves", a, b)] = (_collect, [("leaf", a, b, i) for i in range(k)])
            graph[("middle", a)] = (_collect, [("leaves", a, b) for b in range(k)])
        graph["top"] = (_collect, [("middle", a) for a in range(k)])
        compute(graph, "top")

    return nested


# --- Dask distributed, in-process LocalCluster ----------------------------------------------


def _dask_distributed(workload: str, workers: int) -> Run:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        processes=False, n_workers=1, threads_per_worker=workers, dashboard_address=None
    )
    client = Client(cluster)

    if workload in BODIES:
        body = BODIES[workload]

        def scatter(n: int) -> None:
            client.gather(client.map(body, range(n), pure=False))

        return scatter
    if workload == "chain":

        def chain(n: int) -> None:
            x = client.submit(wl.noop_body, 0, pure=False)
            for _ in range(n - 1):
                x = client.submit(wl.noop_body, x, pure=False)
            x.result()

        return chain
    if workload == "howto":
        gen, square, gather = _howto_bodies()

        def howto(n: int) -> None:
            data = client.submit(gen, n, pure=False).result()["data"]
            squares = {key: client.submit(square, v, pure=False) for key, v in data.items()}
            _check("dask-distributed", n, client.submit(gather, squares, pure=False).result())

        return howto
    assert workload == "nested"

    def nested(n: int) -> None:  # the fan-out is a future; levels submit their children
        k = client.submit(wl.fanout_body, n, pure=False)
        client.submit(_dd_level, k, 3, pure=False).result()

    return nested


# --- ferroflow ------------------------------------------------------------------------------


def _ferroflow(workload: str, provenance: bool) -> Run:
    from ferroflow.demo import ScatterGatherSquare

    graphs = {
        "scatter": wl.scatter,
        "chain": wl.chain,
        "howto": ScatterGatherSquare,
        "sleep": wl.sleep_scatter,
        "numpy": wl.matmul_scatter,
        "nested": wl.nested,
    }
    graph = graphs[workload]
    # default settings: run() as a user calls it; only the second row turns provenance off
    options: dict[str, Any] = {} if provenance else {"provenance": False}

    def run(n: int) -> None:
        wg = graph.build(n)
        wg.run(**options)
        if workload == "howto":
            _check("ferroflow", n, wg.outputs.result.value)

    return run


def make_engine(engine: str, workload: str, workers: int) -> Run:
    if engine == "loop":
        return _loop(workload)
    if engine == "threads":
        return _threads(workload, workers)
    if engine == "dask-threads":
        return _dask_threads(workload, workers)
    if engine == "dask-distributed":
        return _dask_distributed(workload, workers)
    if engine in ("ferroflow", "ferroflow-noprov"):
        return _ferroflow(workload, provenance=engine == "ferroflow")
    raise ValueError(f"unknown engine {engine!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description="one measurement of compare.py")
    parser.add_argument("engine", choices=ENGINES)
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("n", type=int)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=3.0)
    args = parser.parse_args()
    try:
        run = make_engine(args.engine, args.workload, args.workers)
        best, times = best_time(run, args.n, WARM_N[args.workload], args.repeat, args.budget)
        emit({"seconds": best, "times": times})
    except Exception as exc:
        emit_failure(exc)
    # skip interpreter teardown (a million-task graph, a cluster): it is not part of the result
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    # run as the importable module ``compare_engines`` (not ``__main__``), so that functions
    # handed to Dask resolve by their module name
    import compare_engines

    compare_engines.main()

"""Parsl as a peer of ``compare.py``: python apps on its ThreadPoolExecutor or local HTEX.

Runs in ``benches/.venv-parsl`` (``compare_peers.py``), called by ``compare_peers_child.py``.

* ``parsl-threads``: ``ThreadPoolExecutor(max_threads=workers)``: apps run in threads of the
  measuring process.
* ``parsl-htex``: ``HighThroughputExecutor`` with one block on a ``LocalProvider`` and
  ``max_workers_per_node=workers``: an interchange process and a worker pool of ``workers``
  processes on this machine, talking over ZeroMQ on 127.0.0.1 (Parsl's usual local setup). The
  peak RSS is the measuring process's own (the DataFlowKernel and the client side), not the
  workers'.

Dynamic fan-out (the how-to, ``nested``) uses Parsl's ``join_app``: an app that runs in the
DataFlowKernel's internal thread pool once its argument (the fan-out) is known and returns the
futures of the apps it launches, so the levels nest for real. The how-to's gather therefore gets
a list of squares (``gather_list``) rather than a dict. Monitoring is off (Parsl's default),
``run_dir`` is a temporary directory, and Parsl's file logging is not initialised.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import compare_peer_bodies as b
import parsl
from parsl.app.app import join_app, python_app
from parsl.config import Config
from parsl.executors import HighThroughputExecutor, ThreadPoolExecutor
from parsl.providers import LocalProvider

__all__ = ["close", "make"]

Run = Callable[[int], None]


def _config(engine: str, workers: int) -> Config:
    if engine == "parsl-threads":
        executor: Any = ThreadPoolExecutor(label="pool", max_threads=workers)
    else:
        executor = HighThroughputExecutor(
            label="pool",
            address="127.0.0.1",
            max_workers_per_node=workers,
            cores_per_worker=1,
            provider=LocalProvider(init_blocks=1, min_blocks=1, max_blocks=1),
            worker_logdir_root=tempfile.mkdtemp(prefix="ferroflow-compare-parsl-logs-"),
        )
    return Config(
        executors=[executor],
        run_dir=tempfile.mkdtemp(prefix="ferroflow-compare-parsl-"),
        strategy="none",
        initialize_logging=False,
        usage_tracking=0,
    )


def make(engine: str, workload: str, workers: int) -> Run:
    parsl.load(_config(engine, workers))
    app = {
        name: python_app(func, executors=["pool"])
        for name, func in {
            "noop": b.noop_body,
            "fanout": b.fanout_body,
            "square": b.square,
            "generate": b.generate_numbers,
            "gather": b.gather_list,
        }.items()
    }

    if workload == "scatter":

        def scatter(n: int) -> None:
            for future in [app["noop"](i) for i in range(n)]:
                future.result()

        return scatter
    if workload == "chain":

        def chain(n: int) -> None:
            x = app["noop"](0)
            for _ in range(n - 1):
                x = app["noop"](x)
            x.result()

        return chain
    if workload == "howto":

        @join_app
        def parallel_square(data: dict[str, dict[str, int]]) -> list[Any]:
            return [app["square"](value) for value in data["data"].values()]

        def howto(n: int) -> None:
            total = app["gather"](parallel_square(app["generate"](n))).result()
            if total != b.expected_howto(n):
                raise AssertionError(f"parsl how-to n={n} gave {total!r}")

        return howto
    assert workload == "nested", workload

    @join_app
    def level(k: int, depth: int) -> list[Any]:
        if depth == 1:
            return [app["noop"](i) for i in range(k)]
        return [level(k, depth - 1) for _ in range(k)]

    def nested(n: int) -> None:
        level(app["fanout"](n), 3).result()

    return nested


def close() -> None:
    """Stop the DataFlowKernel: HTEX's interchange and worker pool are separate processes."""
    parsl.dfk().cleanup()

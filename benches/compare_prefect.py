"""Prefect 3 as a peer of ``compare.py``: tasks in a flow, on Prefect's ephemeral local server.

Runs in ``benches/.venv-prefect`` (``compare_peers.py``), called by ``compare_peers_child.py``
with ``PREFECT_HOME`` a temporary directory (a fresh SQLite database) and no ``PREFECT_API_URL``,
so the first flow run starts Prefect's ephemeral API server on this machine, as a user's first
``python my_flow.py`` does; the warm-up run pays that start. Logging is quiet
(``PREFECT_LOGGING_LEVEL=ERROR``); every task and flow run is still recorded by the server, which
is Prefect's provenance.

Each run is one call of a ``@flow`` whose task runner is ``ThreadPoolTaskRunner(workers)``; the
bodies are ``@task``s (``cache_policy=NO_CACHE``: Prefect 3 would otherwise hash every input for
its cache key; ferroflow's default does not cache either). ``task.submit`` / ``task.map`` return
futures, which Prefect resolves inside arguments (the how-to's dict of squares). Dynamic fan-out:
the flow waits for the value that decides it and submits the rest (``nested``: each level is a
task that submits its children, and the flow waits on all of them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import compare_peer_bodies as b
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner

__all__ = ["make"]

Run = Callable[[int], None]

noop = task(b.noop_body, cache_policy=NO_CACHE)
fanout = task(b.fanout_body, cache_policy=NO_CACHE)
square = task(b.square, cache_policy=NO_CACHE)
generate_numbers = task(b.generate_numbers, cache_policy=NO_CACHE)
gather_and_sum = task(b.gather_and_sum, cache_policy=NO_CACHE)
collect = task(b.collect, cache_policy=NO_CACHE)


def make(engine: str, workload: str, workers: int) -> Run:
    del engine
    runner = ThreadPoolTaskRunner(max_workers=workers)

    if workload == "scatter":

        @flow(task_runner=runner)
        def scatter(n: int) -> None:
            wait(noop.map(range(n)))

        return scatter
    if workload == "chain":

        @flow(task_runner=runner)
        def chain(n: int) -> None:
            x: Any = noop.submit(0)
            for _ in range(n - 1):
                x = noop.submit(x)
            x.result()

        return chain
    if workload == "howto":

        @flow(task_runner=runner)
        def howto(n: int) -> None:
            data = generate_numbers.submit(n).result()["data"]
            squares = {key: square.submit(value) for key, value in data.items()}
            total = gather_and_sum.submit(squares).result()
            if total != b.expected_howto(n):
                raise AssertionError(f"prefect how-to n={n} gave {total!r}")

        return howto
    assert workload == "nested", workload

    @flow(task_runner=runner)
    def nested(n: int) -> None:  # a flattened tree, submitted once k is known
        k = fanout.submit(n).result()
        middles = []
        for _ in range(k):
            groups = [collect.submit(noop.map(range(k))) for _ in range(k)]
            middles.append(collect.submit(groups))
        collect.submit(middles).result()

    return nested

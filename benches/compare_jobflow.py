"""jobflow as a peer of ``compare.py``: ``run_locally`` with an in-memory store.

Runs in ``benches/.venv-jobflow`` (``compare_peers.py``), called by ``compare_peers_child.py``.
Each run builds a ``Flow`` of ``@job``-wrapped bodies and executes it with
``jobflow.managers.local.run_locally(flow, store=JobStore(MemoryStore()), log=False,
ensure_success=True)``: a fresh maggma ``MemoryStore`` (mongomock) per run, so every job's output
is stored as jobflow stores it, and no MongoDB or FireWorks. ``run_locally`` runs the jobs one
after another in this process (it has no worker pool: ``--workers`` does not apply).

Dynamic fan-out is jobflow's own: a job returns ``Response(replace=Flow(...))``, and the flow
replaces it at run time (the how-to's ``ParallelSquare``; each level of ``nested``), with later
jobs referring to the replaced job's output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import compare_peer_bodies as b
from jobflow import Flow, JobStore, Response, job
from jobflow.managers.local import run_locally
from maggma.stores import MemoryStore

__all__ = ["make"]

Run = Callable[[int], None]

noop = job(b.noop_body)
fanout = job(b.fanout_body)
square = job(b.square)
generate_numbers = job(b.generate_numbers)
gather_and_sum = job(b.gather_and_sum)


@job
def parallel_square(data: dict[str, dict[str, int]]) -> Response:
    jobs = {key: square(value) for key, value in data["data"].items()}
    return Response(
        replace=Flow(list(jobs.values()), output={k: j.output for k, j in jobs.items()})
    )


@job
def level(k: int, depth: int) -> Response:
    if depth == 1:
        return Response(replace=Flow([noop(i) for i in range(k)]))
    return Response(replace=Flow([level(k, depth - 1) for _ in range(k)]))


def _run(flow: Flow) -> dict[str, Any]:
    responses: dict[str, Any] = run_locally(
        flow, store=JobStore(MemoryStore()), log=False, ensure_success=True
    )
    return responses


def make(engine: str, workload: str, workers: int) -> Run:
    del engine, workers  # run_locally is sequential

    if workload == "scatter":
        return lambda n: _run(Flow([noop(i) for i in range(n)])) and None

    if workload == "chain":

        def chain(n: int) -> None:
            jobs = [noop(0)]
            for _ in range(n - 1):
                jobs.append(noop(jobs[-1].output))
            _run(Flow(jobs))

        return chain
    if workload == "howto":

        def howto(n: int) -> None:
            gen = generate_numbers(n)
            squares = parallel_square(gen.output)
            total = gather_and_sum(squares.output)
            responses = _run(Flow([gen, squares, total]))
            value = responses[total.uuid][1].output
            if value != b.expected_howto(n):
                raise AssertionError(f"jobflow how-to n={n} gave {value!r}")

        return howto
    assert workload == "nested", workload

    def nested(n: int) -> None:
        k = fanout(n)
        _run(Flow([k, level(k.output, 3)]))

    return nested

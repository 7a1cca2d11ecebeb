"""The workloads every benchmark here measures, defined once.

``noop_body`` is the plain function (the baseline a Python loop calls); ``noop`` is the same
function as a task; ``scatter(n)`` adds ``n`` independent no-op tasks, ``chain(n)`` ``n`` no-op
tasks each consuming the previous one's output. The scripts import this module as a sibling
(``python benches/<script>.py`` puts ``benches/`` first on ``sys.path``).

``compare.py`` (ferroflow against other engines) adds bodies with real work: ``sleep_body``
(1 ms ``time.sleep``: waiting, the GIL released) and ``matmul_body`` (a 256×256 matrix product:
computing, the GIL released inside BLAS), scattered by ``sleep_scatter``/``matmul_scatter``, and
``nested(n)``: graph tasks three levels deep whose fan-out ``k`` is a task's output, so each level
expands at run time into ``k`` children (``k**3`` no-op leaves). The peers call the same plain
bodies, so every engine does the same work per task.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from ferroflow import task

__all__ = [
    "MATMUL_SIZE",
    "chain",
    "fanout_body",
    "matmul",
    "matmul_body",
    "matmul_scatter",
    "nested",
    "noop",
    "noop_body",
    "scatter",
    "sleep",
    "sleep_body",
    "sleep_scatter",
]


def noop_body(x: int) -> int:
    return x


noop = task(noop_body)


@task.graph
def scatter(n: int) -> None:
    for i in range(n):
        noop(x=i)


@task.graph
def chain(n: int) -> Any:
    x = noop(x=0).result
    for _ in range(n - 1):
        x = noop(x=x).result
    return x


def sleep_body(x: int) -> int:
    time.sleep(0.001)
    return x


MATMUL_SIZE = 256
_rng = np.random.default_rng(0)
_A = _rng.random((MATMUL_SIZE, MATMUL_SIZE))
_B = _rng.random((MATMUL_SIZE, MATMUL_SIZE))


def matmul_body(x: int) -> float:
    # the operands are module constants, so no engine ships or stores a 512 KB array per task;
    # returning a float keeps the result (and its provenance row) as small as a no-op's
    return float((_A @ _B)[0, 0]) + x


def fanout_body(n: int) -> int:
    """The fan-out per level of ``nested``: the integer cube root of ``n``."""
    k = round(n ** (1 / 3))
    while k**3 > n:
        k -= 1
    while (k + 1) ** 3 <= n:
        k += 1
    return k


sleep = task(sleep_body)
matmul = task(matmul_body)
fanout = task(fanout_body)


@task.graph
def sleep_scatter(n: int) -> None:
    for i in range(n):
        sleep(x=i)


@task.graph
def matmul_scatter(n: int) -> None:
    for i in range(n):
        matmul(x=i)


@task.graph
def nested_leaves(k: int) -> None:
    for i in range(k):
        noop(x=i)


@task.graph
def nested_middle(k: int) -> None:
    for _ in range(k):
        nested_leaves(k=k)


@task.graph
def nested_top(k: int) -> None:
    for _ in range(k):
        nested_middle(k=k)


@task.graph
def nested(n: int) -> None:
    # ``k`` is a future here: nested_top's body runs once fanout has run, with k an int
    nested_top(k=fanout(n=n).result)

"""The no-op workloads every benchmark here measures, defined once.

``noop_body`` is the plain function (the baseline a Python loop calls); ``noop`` is the same
function as a task; ``scatter(n)`` adds ``n`` independent no-op tasks, ``chain(n)`` ``n`` no-op
tasks each consuming the previous one's output. The scripts import this module as a sibling
(``python benches/<script>.py`` puts ``benches/`` first on ``sys.path``).
"""

from __future__ import annotations

from typing import Any

from ferroflow import task

__all__ = ["chain", "noop", "noop_body", "scatter"]


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

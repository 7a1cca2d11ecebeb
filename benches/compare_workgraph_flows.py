"""The workloads of ``compare.py`` as AiiDA WorkGraph graphs; imported in ``benches/.venv-aiida``.

They mirror ``workloads.py`` and ``ferroflow.demo``: the how-to's code as published
(``tests/howto/scatter_gather.py`` is ferroflow's copy), and the same scatter, chain and
``nested`` graphs, with one change: ``range(int(k))``, because a WorkGraph graph task receives
``k`` as an AiiDA ``Int`` node, which ``range`` refuses.

Why a module of its own: WorkGraph pickles a task function defined in ``__main__`` by value,
with the globals it uses; ``matmul``'s two 256×256 operands then cost ~10 s per task (measured),
against ~0.6 s from an importable module, which is pickled by reference. No
``from __future__ import annotations``: WorkGraph evaluates the annotations (``namespace``,
``dynamic``) in this module's globals. Import it after ``load_profile()``: importing
aiida_workgraph needs an AiiDA config.
"""

import time
import typing as t

import numpy as np
from aiida_workgraph import dynamic, namespace, task

# --- the how-to, as published ---------------------------------------------------------------


@task
def square(x: int) -> int:
    """Square an integer."""
    return x * x


@task
def generate_numbers(
    n: int,
) -> t.Annotated[dict[str, int], namespace(data=dynamic(int))]:
    """Generate a dictionary of numbers from 1 to n."""
    return {"data": {f"number_{i + 1}": i + 1 for i in range(n)}}


@task.graph
def ParallelSquare(
    data: t.Annotated[dict[str, int], dynamic(int)],
) -> t.Annotated[dict, namespace(squares=dynamic(int))]:
    """Applies the square task to each number in the input data in parallel."""
    squares = {}
    for key, value in data.items():
        squares[key] = square(x=value).result
    return {"squares": squares}


@task
def gather_and_sum(data: t.Annotated[dict, dynamic(int)]) -> int:
    """Sums the values of a dictionary of integers."""
    return sum(data.values())


@task.graph
def ScatterGatherSquare(n: int) -> int:
    """A full scatter-gather workflow to generate numbers, square them in parallel, and sum the
    results."""
    data = generate_numbers(n=n).data
    squares = ParallelSquare(data=data).squares
    return gather_and_sum(data=squares).result


# --- workloads.py's bodies and graphs -------------------------------------------------------

_rng = np.random.default_rng(0)
_A = _rng.random((256, 256))
_B = _rng.random((256, 256))


@task
def noop(x: int) -> int:
    return x


@task
def sleep(x: int) -> int:
    time.sleep(0.001)
    return x


@task
def matmul(x: int) -> float:
    return float((_A @ _B)[0, 0]) + x


@task
def fanout(n: int) -> int:
    k = round(n ** (1 / 3))
    while k**3 > n:
        k -= 1
    while (k + 1) ** 3 <= n:
        k += 1
    return k


@task.graph
def scatter(n: int) -> None:
    for i in range(n):
        noop(x=i)


@task.graph
def sleep_scatter(n: int) -> None:
    for i in range(n):
        sleep(x=i)


@task.graph
def matmul_scatter(n: int) -> None:
    for i in range(n):
        matmul(x=i)


@task.graph
def chain(n: int) -> int:
    x = noop(x=0).result
    for _ in range(n - 1):
        x = noop(x=x).result
    return x


@task.graph
def nested_leaves(k: int) -> None:
    for i in range(int(k)):
        noop(x=i)


@task.graph
def nested_middle(k: int) -> None:
    for _ in range(int(k)):
        nested_leaves(k=k)


@task.graph
def nested_top(k: int) -> None:
    for _ in range(int(k)):
        nested_middle(k=k)


@task.graph
def nested(n: int) -> None:
    nested_top(k=fanout(n=n).result)


GRAPHS = {
    "scatter": scatter,
    "chain": chain,
    "howto": ScatterGatherSquare,
    "sleep": sleep_scatter,
    "numpy": matmul_scatter,
    "nested": nested,
}

"""The scatter-gather how-to as a ready-made demo (``ferroflow demo``).

The same code as AiiDA WorkGraph's "Run tasks in parallel (Scatter-Gather)" how-to, with the
imports pointed at ferroflow: generate n numbers, square each in its own task (in parallel,
inside a graph task that expands at run time), and sum the squares.
"""

from __future__ import annotations

import typing as t

from .model.spec import dynamic, namespace
from .task import task

__all__ = ["ParallelSquare", "ScatterGatherSquare", "gather_and_sum", "generate_numbers", "square"]


@task
def square(x: int) -> int:
    """Square an integer."""
    return x * x


@task
def generate_numbers(
    n: int,
) -> t.Annotated[dict[str, dict[str, int]], namespace(data=dynamic(int))]:
    """Generate a dictionary of numbers from 1 to n."""
    # (the how-to annotates dict[str, int]; the dict it returns holds a dict, as typed here)
    return {"data": {f"number_{i + 1}": i + 1 for i in range(n)}}


@task.graph
def ParallelSquare(
    data: t.Annotated[dict[str, int], dynamic(int)],
) -> t.Annotated[dict, namespace(squares=dynamic(int))]:  # type: ignore[type-arg]
    """Applies the square task to each number in the input data in parallel."""
    squares = {}
    for key, value in data.items():
        squares[key] = square(x=value).result
    return {"squares": squares}


@task
def gather_and_sum(data: t.Annotated[dict, dynamic(int)]) -> int:  # type: ignore[type-arg]
    """Sums the values of a dictionary of integers."""
    return sum(data.values())


@task.graph
def ScatterGatherSquare(n: int) -> int:
    """Generate numbers, square them in parallel, and sum the squares."""
    data = generate_numbers(n=n).data
    squares = ParallelSquare(data=data).squares
    return gather_and_sum(data=squares).result

"""Small tasks shared by the fast-lane tests and the Dask tests, which run the same graphs
(every kind of return value, a failure) on both."""

from __future__ import annotations

from typing import Annotated

from ferroflow import DataNode, namespace, task


@task
def inc(x: int) -> int:
    return x + 1


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def as_dict(x: int) -> int:
    return {"result": x * 10}  # type: ignore[return-value]


@task
def as_node(x: int) -> int:
    return DataNode(x * 100)  # type: ignore[return-value]


@task
def fails_on_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"three is bad (x={x})")
    return x


@task
def split(x: int) -> Annotated[dict[str, int], namespace(lo=int, hi=int)]:
    return {"lo": x, "hi": x + 1}

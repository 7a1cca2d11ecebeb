"""Tasks that mutate their inputs, for tests/engine/test_value_isolation.py: plain functions
(the ``fast``, ``general`` and ``dask`` backends) and the same as coroutine functions
(``async``). Module-level, so that Dask workers import them by name (``isolation_flows``).

Each ``*_after`` task takes an ``after`` input it ignores: it makes the reader run once the
mutator has finished, so a mutation that leaked would be seen."""

from __future__ import annotations

from typing import Any

from ferroflow import task


@task
def make_list() -> Any:
    return [1, 2, 3]


@task
def make_dict() -> Any:
    return {"a": 1, "b": 2}


@task
def make_nested() -> Any:
    return {"rows": [[1, 2], [3]], "meta": {"tags": ["x"]}}


@task
def make_array() -> Any:
    import numpy as np  # optional dependency of these tests only

    return np.arange(4.0)


def _mutate(x: Any) -> Any:
    """Changes its input in place, whatever its kind, and returns it."""
    if isinstance(x, list):
        x.append(99)
    elif isinstance(x, dict) and "rows" in x:
        x["rows"][0].append(99)
        x["meta"]["tags"].clear()
        x["new"] = True
    elif isinstance(x, dict):
        x["added"] = 99
    else:  # a numpy array
        x[0] = 99.0
    return x


def _seen(x: Any) -> str:
    return repr(x.tolist() if hasattr(x, "tolist") else x)


@task
def mutate(x: Any) -> Any:
    return _mutate(x)


@task
def seen_after(x: Any, after: Any) -> Any:
    """What this reader sees of its input once the mutator finished."""
    return _seen(x)


@task
async def amutate(x: Any) -> Any:
    return _mutate(x)


@task
async def aseen_after(x: Any, after: Any) -> Any:
    return _seen(x)


def _append_then_fail_once(x: list[int], log: str) -> int:
    """Appends to its input and writes the length it saw; the first attempt then fails."""
    x.append(0)
    with open(log, "a") as f:
        f.write(f"{len(x)}\n")
    with open(log) as f:
        if len(f.read().split()) == 1:
            raise ConnectionError("first attempt")
    return len(x)


@task(retries=1, retry_on=ConnectionError)
def retried(x: list[int], log: str) -> int:
    return _append_then_fail_once(x, log)


@task(retries=1, retry_on=ConnectionError)
async def aretried(x: list[int], log: str) -> int:
    return _append_then_fail_once(x, log)

"""The plain task bodies of ``compare.py``'s workflow-tool peers (standard library only).

Parsl, jobflow and Prefect run in their own virtualenvs (``compare_peers.py``), which have neither
ferroflow nor numpy, so they cannot import ``workloads.py`` or ``ferroflow.demo``. These are the
same bodies, copied: ``noop_body`` and ``fanout_body`` from ``workloads.py``, and the how-to's
``generate_numbers``/``square``/``gather_and_sum`` as published. They live in an importable
module (not the child's ``__main__``) so that Parsl's HighThroughputExecutor workers, separate
processes, receive them by reference.
"""

from __future__ import annotations

__all__ = [
    "collect",
    "expected_howto",
    "fanout_body",
    "gather_and_sum",
    "gather_list",
    "generate_numbers",
    "noop_body",
    "square",
]


def noop_body(x: int) -> int:
    return x


def fanout_body(n: int) -> int:
    """The fan-out per level of ``nested``: the integer cube root of ``n``."""
    k = round(n ** (1 / 3))
    while k**3 > n:
        k -= 1
    while (k + 1) ** 3 <= n:
        k += 1
    return k


def collect(children: list[int]) -> int:
    """A node of a flattened ``nested`` tree (Prefect): runs once its children have."""
    return len(children)


def square(x: int) -> int:
    """Square an integer."""
    return x * x


def generate_numbers(n: int) -> dict[str, dict[str, int]]:
    """Generate a dictionary of numbers from 1 to n."""
    return {"data": {f"number_{i + 1}": i + 1 for i in range(n)}}


def gather_and_sum(data: dict[str, int]) -> int:
    """Sums the values of a dictionary of integers."""
    return sum(data.values())


def gather_list(values: list[int]) -> int:
    """``gather_and_sum`` for an engine whose dynamic fan-out returns a list (Parsl join apps)."""
    return sum(values)


def expected_howto(n: int) -> int:
    return sum(i * i for i in range(1, n + 1))

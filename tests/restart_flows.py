"""Graphs for tests/test_restart.py, importable by name (a restart imports the graph function
by its process_type), and the child process that the SIGKILL test kills.

Every leaf task appends its input to the file named by ``$FF_SIDE_FILE`` (one ``write(2)``
per line, just before it returns), so a test knows which task bodies ran in which process.
:func:`main` (called by the SIGKILL test's child process) builds :func:`campaign`, prints
``ready`` and runs it.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ferroflow import task


def _note(value: int) -> None:
    path = os.environ.get("FF_SIDE_FILE")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{value}\n".encode())
        finally:
            os.close(fd)


@task
def work(i: int) -> int:
    time.sleep(float(os.environ.get("FF_TASK_SECONDS", "0")))
    if str(i) in os.environ.get("FF_FAIL", "").split(","):
        raise RuntimeError(f"task {i} was told to fail")
    _note(i)
    return i * i


@task
def total(**parts: int) -> int:
    return sum(parts.values())


@task.graph
def shard(start: int, n: int) -> int:
    parts = {f"p{i}": work(i=i).result for i in range(start, start + n)}
    return total(**parts).result


@task.graph
def campaign(shards: int, n: int) -> int:
    """``shards`` nested graphs of ``n`` tasks each, then a sum of their sums."""
    sums = {f"s{k}": shard(start=k * n, n=n).result for k in range(shards)}
    return total(**sums).result


def expected(shards: int, n: int) -> int:
    return sum(i * i for i in range(shards * n))


def main(argv: list[str]) -> Any:
    shards, n = int(argv[1]), int(argv[2])
    wg = campaign.build(shards, n)
    print("ready", flush=True)
    wg.run(max_workers=2)
    print("done", wg.pk, flush=True)


if __name__ == "__main__":  # run as a script, its functions are stored as __main__.*
    import sys

    main(sys.argv)

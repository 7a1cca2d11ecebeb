"""Where a small run's time goes: the how-to (n = 4) with provenance, its final commit timed.

    python benches/howto_phases.py [--runs 500]
    FERROFLOW_PACKED=0 python benches/howto_phases.py     # every task in node form

Times, per run, after 20 warm-up runs (medians, µs): the build, ``run()``, how long ``run()``
waits in its final flush, and inside the writer the row conversion (``prepare``) and the
commit; with the rows and WAL frames (pages written to ``-wal``) one commit makes, and what one
4 KiB ``pwrite`` beside the store costs on this file system (each WAL frame is two writes:
header and page). The writer's methods are wrapped in place, which adds ~1 µs each. Never
asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_home import temporary_home

os.environ.setdefault("FERROFLOW_HOME", temporary_home())

from ferroflow import get_current_profile
from ferroflow.demo import ScatterGatherSquare
from ferroflow.store import writer as writer_module

FRAME = 4096 + 24  # a WAL frame: a 4 KiB page and its header

times: dict[str, list[float]] = {}


def _timed(key: str, func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            times.setdefault(key, []).append(time.perf_counter() - t0)

    return wrapper


def _instrument() -> None:
    """Time ``flush`` (the caller's wait), the drain (prepare + commit) and the commit."""
    batch_writer = writer_module.BatchWriter
    batch_writer.flush = _timed("flush wait", batch_writer.flush)  # type: ignore[method-assign]
    drain = batch_writer._drain_locked

    def drain_counted(self: Any) -> None:
        if self.queue:
            times.setdefault("rows", []).append(len(self.queue))
            _timed("prepare + commit", drain)(self)

    batch_writer._drain_locked = drain_counted  # type: ignore[method-assign]
    committer = get_current_profile().store._writer._committer
    committer.commit = _timed("commit", committer.commit)  # type: ignore[method-assign]


def _pwrite_us(folder: Path, n: int = 5000) -> float:
    path = folder / "pwrite-probe.bin"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        page = b"x" * FRAME
        t0 = time.perf_counter()
        for i in range(n):
            os.pwrite(fd, page, i * FRAME)
        return (time.perf_counter() - t0) / n * 1e6
    finally:
        os.close(fd)
        path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args()
    store = get_current_profile().store
    _instrument()
    wal = Path(f"{store.path}-wal")
    for _ in range(20):
        ScatterGatherSquare.build(4).run()
    times.clear()
    frames = []
    for _ in range(args.runs):
        before = wal.stat().st_size if wal.exists() else 0
        t0 = time.perf_counter()
        wg = ScatterGatherSquare.build(4)
        t1 = time.perf_counter()
        wg.run()
        t2 = time.perf_counter()
        after = wal.stat().st_size
        if after > before:  # (a checkpointer's restart of the WAL is not counted)
            frames.append((after - before) / FRAME)
        times.setdefault("build", []).append(t1 - t0)
        times.setdefault("run()", []).append(t2 - t1)
        times.setdefault("build + run", []).append(t2 - t0)
    packed = os.environ.get("FERROFLOW_PACKED", "1") != "0"
    print(f"how-to n=4, provenance on, {args.runs} runs, task runs packed: {packed}")
    print("| phase | median µs |")
    print("|---|---|")
    for key in ("build", "run()", "flush wait", "prepare + commit", "commit", "build + run"):
        print(f"| {key} | {statistics.median(times[key]) * 1e6:.1f} |")
    print(f"| queue entries per commit | {statistics.median(times['rows']):.0f} |")
    print(f"| WAL frames per commit | {statistics.median(frames):.0f} |")
    print(f"| one 4 KiB pwrite beside the store | {_pwrite_us(store.path.parent):.1f} |")


if __name__ == "__main__":
    main()

"""What the live progress display costs a run: a no-op scatter with progress on vs off.

The display is a daemon thread that reads the Rust core's counters every 0.2 s (see
``ferroflow.progress``); this measures whether that slows the workers down, two ways:

* wall time of ``run()``, off and on, in pairs whose order alternates, so drifts of a noisy
  machine hit both sides alike; the medians and their ratio are printed;
* the display's own time (sampling and drawing, first and final frame included), which is the
  most it can take from the workers (they share the GIL with it): noise-free, unlike the ratio.

"On" draws to a terminal-like stream that discards its output (so the drawing code runs as it
would on a terminal: rich's bar when rich is installed, else the text line).

    python benches/progress_overhead.py                     # 100k tasks, provenance off, 5 pairs
    python benches/progress_overhead.py --tasks 100000 --repeat 7 --provenance
    python benches/progress_overhead.py --plain            # the text line instead of rich's bar

Provenance off is the default because it is the fastest engine, where a fixed cost would show
the most. Never asserted in tests: speed is reported, not tested. Target: ratio ≤ 1.02.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import statistics
import sys
import time

from bench_home import temporary_home

os.environ.setdefault("FERROFLOW_HOME", temporary_home())

import ferroflow.progress
from ferroflow.progress import ProgressDisplay, choose_mode
from workloads import scatter


class _NullTerminal(io.StringIO):
    """A stream that says it is a terminal and forgets what it is given."""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


class _Recorder(ProgressDisplay):
    """The run's display, kept so its ``draw_seconds`` can be read afterwards."""

    last: ProgressDisplay | None = None

    def start(self) -> None:
        _Recorder.last = self
        super().start()


def run_once(n: int, progress: bool, provenance: bool, workers: int | None) -> tuple[float, float]:
    """Seconds ``run()`` took for an ``n``-task scatter (the build is not timed), and the
    seconds its progress display spent sampling and drawing."""
    wg = scatter.build(n)
    gc.collect()
    saved = sys.stderr
    sys.stderr = _NullTerminal()
    _Recorder.last = None
    try:
        t0 = time.perf_counter()
        wg.run(progress=progress, provenance=provenance, max_workers=workers)
        wall = time.perf_counter() - t0
    finally:
        sys.stderr = saved
    return wall, _Recorder.last.draw_seconds if _Recorder.last is not None else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="off/on pairs")
    parser.add_argument("--provenance", action="store_true", help="record provenance too")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--plain", action="store_true", help="the text line, even with rich")
    args = parser.parse_args()
    if args.plain:
        ferroflow.progress._has_rich = lambda: False

    mode = choose_mode(True, _NullTerminal())
    print(
        f"# {os.cpu_count()} cores; {args.tasks:,} no-op tasks; provenance "
        f"{'on' if args.provenance else 'off'}; display mode {mode[0] if mode else None}; "
        f"{args.repeat} off/on pairs"
    )
    ferroflow.progress.ProgressDisplay = _Recorder  # type: ignore[misc]
    for progress in (False, True):  # warm up (imports, pool, rich)
        run_once(min(args.tasks, 10_000), progress, args.provenance, args.workers)
    off: list[float] = []
    on: list[float] = []
    drawing: list[float] = []
    for i in range(args.repeat):
        for progress in (False, True) if i % 2 == 0 else (True, False):
            wall, drawn = run_once(args.tasks, progress, args.provenance, args.workers)
            (on if progress else off).append(wall)
            if progress:
                drawing.append(drawn / wall)
    m_off, m_on = statistics.median(off), statistics.median(on)
    print("| progress | median run s | best run s | µs per task (median) |")
    print("|---|---|---|---|")
    for label, times in (("off", off), ("on", on)):
        med = statistics.median(times)
        print(f"| {label} | {med:.3f} | {min(times):.3f} | {med / args.tasks * 1e6:.2f} |")
    print(f"\nratio on/off (medians): {m_on / m_off:.3f}  (best: {min(on) / min(off):.3f})")
    print(
        f"display's own time (sampling + drawing) per run: median "
        f"{statistics.median(drawing) * 100:.2f} % of the run, max {max(drawing) * 100:.2f} %"
    )


if __name__ == "__main__":
    main()

"""Tables and the plot of ``compare.py``: turning measured cells into what a reader compares.

A table per workload: one row per engine, one column per n. Each measured cell reads
``per-task µs · ratio to ferroflow · peak RSS`` (e.g. ``21.7 µs · 1.00× · 52 MiB``); a cell that
was not measured says why (``not installed``, ``skipped: n > cap 10,000``, ``failed: <reason>``),
so no engine disappears silently. The last column is the growth of the per-task cost from the
smallest to the largest measured n: the headline, since a flat cost is what lets a workflow grow.
The plot draws the same per-task costs against n, log-log, one line per engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["Cell", "fmt_count", "plot", "table"]

REFERENCE = "ferroflow"


@dataclasses.dataclass
class Cell:
    """One (engine, workload, n): measured (``seconds`` set) or a reason it was not."""

    engine: str
    workload: str
    n: int
    seconds: float | None = None
    peak_rss_kib: int | None = None
    times: list[float] = dataclasses.field(default_factory=list)
    status: str = "ok"  # ok | not installed | skipped: … | failed: …

    @property
    def per_task_us(self) -> float | None:
        return None if self.seconds is None else self.seconds / self.n * 1e6

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "per_task_us": self.per_task_us}


def fmt_count(n: int) -> str:
    return f"{n:,}"


def fmt_us(us: float) -> str:
    """Three significant digits, no exponent: 0.0412, 1.58, 21.7, 236, 1,020, 480,000."""
    if us >= 100:
        return f"{us:,.0f}"
    if us >= 10:
        return f"{us:.1f}"
    if us >= 1:
        return f"{us:.2f}"
    return f"{us:.3g}"


def fmt_ratio(r: float) -> str:
    if r >= 100:
        return f"{r:,.0f}×"
    if r >= 10:
        return f"{r:.1f}×"
    if r >= 0.1:
        return f"{r:.2f}×"
    return f"{r:.2g}×"


def _cell_text(cell: Cell, reference: Cell | None) -> str:
    us = cell.per_task_us
    if us is None:
        return cell.status
    ref = None if reference is None else reference.per_task_us
    ratio = fmt_ratio(us / ref) if ref else "-"
    rss = f"{cell.peak_rss_kib / 1024:,.0f} MiB" if cell.peak_rss_kib else "-"
    return f"{fmt_us(us)} µs · {ratio} · {rss}"


def _growth(cells: Sequence[Cell]) -> str:
    measured = [c for c in cells if c.per_task_us is not None]
    if len(measured) < 2:
        return "-"
    first, last = measured[0], measured[-1]
    assert first.per_task_us is not None and last.per_task_us is not None
    span = f"{_short(first.n)}→{_short(last.n)}"
    return f"{fmt_ratio(last.per_task_us / first.per_task_us)} ({span})"


def _short(n: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size and n % (size // 10) == 0:
            return f"{n / size:g}{unit}"
    return f"{n:,}"


def table(title: str, engines: Sequence[str], sizes: Sequence[int], cells: dict[Any, Cell]) -> str:
    """Markdown table: ``cells[(engine, n)]``; ratios against the ``ferroflow`` row."""
    header = ["engine", *(f"n = {fmt_count(n)}" for n in sizes), "growth"]
    lines = [
        title,
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for engine in engines:
        row = [cells[(engine, n)] for n in sizes]
        texts = [_cell_text(c, cells.get((REFERENCE, c.n))) for c in row]
        lines.append("| " + " | ".join([engine, *texts, _growth(row)]) + " |")
    return "\n".join(lines)


#: fixed colours and styles, so an engine looks the same in every panel
STYLE = {
    "ferroflow": {"color": "#d62728", "lw": 2.4, "marker": "o"},
    "ferroflow-noprov": {"color": "#ff9896", "lw": 2.0, "marker": "o", "ls": "--"},
    "loop": {"color": "#7f7f7f", "lw": 1.2, "marker": "."},
    "threads": {"color": "#2ca02c", "lw": 1.2, "marker": "s"},
    "dask-threads": {"color": "#1f77b4", "lw": 1.2, "marker": "^"},
    "dask-distributed": {"color": "#17becf", "lw": 1.2, "marker": "v"},
    "workgraph": {"color": "#9467bd", "lw": 2.0, "marker": "D"},
}


def plot(
    panels: Sequence[tuple[str, Sequence[str], Sequence[int], dict[Any, Cell]]],
    out: Path,
    caption: str,
) -> list[Path] | str:
    """One log-log panel per workload; writes ``compare.png`` and ``compare.svg`` into ``out``.

    Returns the written paths, or the reason it did not plot.
    """
    try:
        import matplotlib
    except ImportError:
        return "plot skipped: matplotlib not installed"
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plt.rcParams["svg.fonttype"] = "none"  # text as text: a smaller, searchable SVG
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, (title, engines, sizes, cells) in zip(axes.flat, panels, strict=False):
        for engine in engines:
            points = [
                (n, cells[(engine, n)].per_task_us)
                for n in sizes
                if cells[(engine, n)].per_task_us is not None
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, label=engine, ms=4, **STYLE.get(engine, {}))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: _short(round(x))))
        ax.xaxis.set_minor_formatter(NullFormatter())
        low, high = ax.get_ylim()
        if high / low < 100:  # under two decades: label 1-2-5 steps, not 6×10²
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(
            FuncFormatter(lambda y, _: f"{y:,.0f}" if y >= 1 else f"{y:g}")
        )
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("n", fontsize=9)
        ax.set_ylabel("µs per task", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, which="major", alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles: dict[str, Any] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles), fontsize=9)
    fig.suptitle(caption, fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "compare.png", out / "compare.svg"]
    fig.savefig(paths[0], dpi=90)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths

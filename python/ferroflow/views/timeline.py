"""The timeline of a run: one bar per task from its start to its end, in lanes, as Dask's task
stream draws it, so a page shows when tasks ran, how many at once, and where the time went.

Neither a workflow in memory nor the store records which worker (thread or process) ran a
task, so lanes are not workers: tasks are laid out *greedily* from their start and end times
(each task, in start order, takes the lowest lane free at its start). The number of lanes is
then the run's peak concurrency as the times show it, and the page says how lanes were made
(:data:`GREEDY`).

A timeline is bounded like the rest of the page: at most :data:`MAX_BARS` bars. A bigger run
is *sampled*: every k-th task in start order, plus every failed task (always drawn), and the
page says how many of how many tasks the bars show; lanes of a sample understate concurrency,
which the note says too. Times are seconds from the first start (``origin``), so a page's JSON
stays small.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from typing import NamedTuple, TypedDict

from ..model.vocabulary import State

__all__ = ["GREEDY", "MAX_BARS", "Span", "Timeline", "timeline"]

MAX_BARS = 3000  #: bars drawn at most (a bigger run is sampled, and says so)
#: how lanes are made when nothing records which worker ran a task
GREEDY = (
    "lanes are laid out greedily from start and end times (the store does not record which "
    "worker ran a task)"
)


class Span(NamedTuple):
    """One task as the timeline sees it (``end`` ``None``: still running)."""

    path: str
    state: str
    start: float
    end: float | None
    task: int | None  # the page id of the task when the page shows it


class Timeline(TypedDict):
    """Bars as ``[lane, start, end, state, task id or -1, path]`` (times from ``origin``)."""

    origin: float | None
    end: float
    lanes: int
    bars: list[list[float | int | str]]
    total: int
    shown: int
    how: str
    note: str | None


def _sample(spans: list[Span], limit: int) -> tuple[list[Span], int]:
    """At most about ``limit`` spans: every k-th in start order, and every failed one."""
    if len(spans) <= limit:
        return spans, 1
    step = math.ceil(len(spans) / limit)
    kept = [s for i, s in enumerate(spans) if i % step == 0 or s.state == State.FAILED]
    return kept, step


def _lanes(spans: list[Span], now: float) -> tuple[list[int], int]:
    """Greedy lanes for ``spans`` (sorted by start): each takes the lowest lane free then."""
    busy: list[tuple[float, int]] = []  # (end, lane)
    free: list[int] = []
    lanes: list[int] = []
    count = 0
    for span in spans:
        while busy and busy[0][0] <= span.start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            lane = heapq.heappop(free)
        else:
            lane, count = count, count + 1
        end = span.end if span.end is not None else now
        heapq.heappush(busy, (max(end, span.start), lane))
        lanes.append(lane)
    return lanes, count


def timeline(
    spans: Iterable[Span],
    now: float,
    limit: int = MAX_BARS,
    *,
    sampled: tuple[int, int] | None = None,
) -> Timeline:
    """The timeline of ``spans`` (tasks that started; a running one ends ``now``), bounded to
    about ``limit`` bars. ``sampled=(total, step)``: ``spans`` already are every ``step``-th
    of ``total`` tasks (a store samples in SQL), so they are drawn as they are."""
    kept = sorted(spans, key=lambda s: (s.start, s.path))
    if sampled is None:
        total = len(kept)
        kept, step = _sample(kept, limit)
    else:
        total, step = sampled
    lanes, count = _lanes(kept, now)
    origin = kept[0].start if kept else None
    bars: list[list[float | int | str]] = []
    end = 0.0
    for lane, span in zip(lanes, kept, strict=True):
        assert origin is not None
        stop = (span.end if span.end is not None else now) - origin
        start = span.start - origin
        end = max(end, stop)
        task = -1 if span.task is None else span.task
        bars.append(
            [lane, round(start, 6), round(max(stop, start), 6), span.state, task, span.path]
        )
    note = None
    if step > 1:
        note = (
            f"The timeline shows {len(kept):,} of {total:,} tasks (one in every {step:,} by "
            "start time, and every failed task); lanes of a sample understate how many ran at "
            "once."
        )
    return Timeline(
        origin=origin,
        end=end,
        lanes=count,
        bars=bars,
        total=total,
        shown=len(kept),
        how=GREEDY,
        note=note,
    )

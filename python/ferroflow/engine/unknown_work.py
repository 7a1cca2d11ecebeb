"""Work a run cannot count yet, for the progress display: graph tasks and zones still to expand.

A graph task's body has not run (its tasks do not exist), a zone has not cloned its body, a
While may iterate again: until each is terminal or expanded, the run's total is a lower bound,
and an ETA computed from it would be wrong (it read 0.5 s with ~10 s left on nested graphs).
"""

from __future__ import annotations

from collections.abc import Callable

from ..model.graph import TaskNode
from ..model.vocabulary import TERMINAL
from ..model.zones import zone_link

__all__ = ["count_unexpanded"]


def count_unexpanded(nodes: list[TaskNode], state: Callable[[int], str]) -> int:
    """How many of ``nodes`` (the graph tasks and zones submitted so far) are not terminal and
    have not expanded (a While counts until it ends); ``state`` is the core's, by task id."""
    unknown = 0
    for task in nodes:
        if task.id is None or task.child is not None or state(task.id) in TERMINAL:
            continue
        link = zone_link(task)
        zone = link.zone if link is not None else None
        if zone is None or zone.kind == "while" or zone.run is None:
            unknown += 1
    return unknown

"""Which tasks a picture draws one by one, and which it folds into a box: the bound on every
picture.

Graphviz lays out a few hundred boxes in a second and tens of thousands never, and Mermaid
refuses more than 500 edges, so every picture of a workflow (the DOT/SVG of a graph in memory,
the provenance pictures and exports read from the store) draws at most about ``max_tasks``
task boxes (:data:`PICTURE_MAX_TASKS` unless told). The rule is the same everywhere:

* tasks are grouped by the graph run that called them and their task type: ``square`` called
  100,000 times by one graph is one group;
* a group is drawn task by task when it fits the room left and takes at most an eighth of the
  room (:func:`per_group`; so a 2,000-task scatter is one box at the default bound, and the
  picture keeps a sane aspect ratio); otherwise it becomes one box, ``square × 99,999`` with
  its tasks counted per state;
* failed (and killed) tasks and the tasks behind the graph's outputs are always drawn on their
  own, outside their group's box: what a user looks for first (up to :func:`pin_limit` of
  each per graph run; more are counted in their box, whose label counts tasks per state);
* a box's graph run is not opened: tasks below a grouped graph are in its count only;
* every picture that grouped something says so in its caption (:func:`caption`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

from .counts import ordered_counts

__all__ = [
    "PICTURE_MAX_TASKS",
    "TaskGroup",
    "caption",
    "caption_lines",
    "choose",
    "group_label",
    "per_group",
    "pin_limit",
    "short_type",
]

#: Default bound on task boxes in a picture (``--max-tasks`` / ``max_tasks=`` change it).
PICTURE_MAX_TASKS = 200


@dataclass(slots=True)
class TaskGroup:
    """One box standing for repeated tasks of one graph run: ``counts`` per state."""

    ident: str
    #: the graph run (a pk, or a task's id in memory) that called them
    parent: object
    #: the task type (``module.qualname``); ``name`` is what the box says
    type: str
    name: str
    graph: bool
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, state: str, n: int = 1) -> None:
        self.counts[state] = self.counts.get(state, 0) + n


def per_group(max_tasks: int) -> int:
    """The most tasks of one group drawn one by one: an eighth of the room, at least 1."""
    return max(1, max_tasks // 8)


def pin_limit(max_tasks: int) -> int:
    """The most failed tasks, and the most tasks behind the outputs, drawn on their own per
    graph run: 8 (fewer for a tiny bound), so a graph returning 100,000 values stays a picture."""
    return max(1, min(8, max_tasks // 8))


def choose(sizes: Sequence[int], room: int, max_tasks: int) -> list[bool]:
    """For groups of ``sizes`` tasks sharing ``room`` boxes: which are drawn task by task.

    Each group needs at least one box; the smallest groups are opened first while the room
    lasts and while a group is no bigger than :func:`per_group`."""
    left = room - len(sizes)
    limit = per_group(max_tasks)
    opened = [False] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: sizes[i]):
        size = sizes[i]
        if size <= limit and size - 1 <= left:
            opened[i] = True
            left -= size - 1
    return opened


def short_type(process_type: str) -> str:
    """``pkg.module.square`` -> ``square`` (what a box is named by)."""
    return process_type.rsplit(".", 1)[-1] or process_type


def group_label(group: TaskGroup) -> list[str]:
    """A box's lines: ``square × 99,999`` and ``finished: 99,998, failed: 1``."""
    counts = ordered_counts(group.counts)
    states = ", ".join(f"{state.lower()}: {n:,}" for state, n in counts.items())
    return [f"{group.name} × {group.total:,}", states]


def caption(
    groups: Sequence[TaskGroup], max_tasks: int, failed: int = 0, outputs: int = 0, more: str = ""
) -> str:
    """What a picture grouped, for its caption; ``""`` when it drew every task (``failed``
    and ``outputs``: how many failed tasks and tasks behind the outputs it kept apart)."""
    if not groups:
        return ""
    hidden = sum(g.total for g in groups)
    boxes = "1 box stands" if len(groups) == 1 else f"{len(groups)} boxes stand"
    text = (
        f"Grouped: {boxes} for {hidden:,} repeated tasks (task type × count, per graph run; "
        f"bound max_tasks={max_tasks:,}, --max-tasks on the command line)."
    )
    kept = [
        f"{n:,} {one if n == 1 else many}"
        for n, one, many in (
            (failed, "failed task", "failed tasks"),
            (outputs, "task behind the outputs", "tasks behind the outputs"),
        )
        if n
    ]
    if kept:
        text += f" Drawn on their own: {', '.join(kept)}."
    return text + (f" {more}" if more else "")


def caption_lines(text: str, width: int = 72) -> list[str]:
    """A caption cut into lines, so it does not stretch the picture sideways."""
    return textwrap.wrap(text, width)

"""A graph task's expansion must be able to finish: refuse one that waits for itself."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import FerroflowError
from ..model.graph import Graph, TaskNode, producers
from ..model.vocabulary import TERMINAL

__all__ = ["refuse_cycles", "returned_outer"]


def returned_outer(child: Graph) -> list[TaskNode]:
    """Tasks outside ``child`` whose outputs its body returned (the graph task waits for them
    too)."""
    return [t for t in producers(child.outputs) if t.graph is not child]


def refuse_cycles(task: TaskNode, child: Graph, state: Callable[[int], str]) -> None:
    """Raise if ``child`` uses (or returns) the output of an outer task that waits, through
    data links or enclosing graphs, for ``task`` itself: neither could ever finish. ``state``
    is the core's state of a task id (a terminal task waits for nothing)."""
    stack = [(p, p) for t in child.tasks for p in t.producers if p.graph is not child]
    stack += [(p, p) for p in returned_outer(child)]
    seen: set[int] = set()
    while stack:
        origin, node = stack.pop()
        if node is task:
            what = (
                "its own output"
                if origin is task
                else f"the output of '{origin.path}', which waits for it to finish (it "
                f"encloses the graph task or depends on it)"
            )
            raise FerroflowError(
                f"graph task '{task.path}' uses {what}: the run could never finish"
            )
        # (a task another worker's expansion has not submitted yet has no id: not terminal)
        done = node.id is not None and state(node.id) in TERMINAL
        if done or id(node) in seen:
            continue
        seen.add(id(node))
        stack += [(origin, p) for p in node.producers]
        if node.child is not None:
            stack += [(origin, t) for t in node.child.tasks]
            stack += [(origin, t) for t in returned_outer(node.child)]

"""What the pictures of a workflow in memory read: :class:`GraphSnapshot`.

A picture needs the graph as built, its tasks with their states and values, the run's outputs
and where the run was stored, nothing about how the run executes. ``WorkGraph.snapshot()``
copies exactly that into a frozen record, so the views depend on this record, not on the API
object or the engine behind it, and one picture's title, counts and boxes are drawn from the
same list of tasks even while the run goes on. The task nodes themselves are the live ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .counts import count_states

if TYPE_CHECKING:
    from ..model.graph import Graph, TaskNode
    from ..store import Store

__all__ = ["GraphSnapshot"]


@dataclass(frozen=True, slots=True)
class GraphSnapshot:
    """A workflow in memory as its pictures see it, before, during or after its run."""

    #: the graph's name and its function's ``module.qualname``
    name: str
    process_type: str
    #: the run's state (``PLANNED`` before it)
    state: str
    #: the top-level graph as built; after a run, graph tasks' ``child`` graphs hang below it
    graph: Graph
    #: every task of the run, nested graph tasks' children included, in run order (before a
    #: run: the top-level graph's tasks)
    tasks: tuple[TaskNode, ...]
    #: the graph's outputs: the run's data nodes after a run, the body's sockets before one
    outputs: Any
    #: whether the graph has run (or is running)
    ran: bool
    #: the stored run's pk and the store holding it; ``None`` before a run and for a run
    #: without provenance
    pk: int | None
    store: Store | None
    uuid: str | None

    @property
    def counts(self) -> dict[str, int]:
        """Tasks per state, in summary order."""
        return count_states(t.state for t in self.tasks)

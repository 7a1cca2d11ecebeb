"""Which input values travel inline with a call, and which stay on the cluster.

Sending a large value from the client to every consumer costs the client's bandwidth and
time; Dask can move it between workers instead (or run the consumer where it is). So a value
of at least ``inline_limit`` bytes (``dask.sizeof``) that a single-output task returned keeps
that task's Dask future for the rest of the run, and a large value without a future (a
constant, a namespace leaf) is scattered once; a consumer's call then carries an
:class:`OnCluster` placeholder. The store still records every value, so each result is fetched
to the client once. If the worker holding a kept value dies, Dask recomputes it from its task: a
non-deterministic function may then feed consumers a value other than the stored one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import distributed
from dask.sizeof import sizeof

from ...model.data import DataNode
from ...model.isolation import isolate

if TYPE_CHECKING:
    from ...model.graph import TaskNode

__all__ = ["SMALL", "ClusterValues", "OnCluster"]

#: Types whose values are always small enough to send inline (no ``sizeof`` call).
SMALL = frozenset({int, float, bool, complex, type(None)})


class OnCluster:
    """A keyword argument whose value is on the cluster: ``future`` (a scattered value,
    ``index`` None) or call ``index`` of the chunk ``future``. Becomes a :class:`remote.Ref`
    when its chunk is sent."""

    __slots__ = ("future", "index")

    def __init__(self, future: distributed.Future[Any], index: int | None) -> None:
        self.future = future
        self.index = index


class ClusterValues:
    """The values one run keeps on the cluster, by data node."""

    def __init__(self, client: distributed.Client, inline_limit: int) -> None:
        self._client = client
        self.inline_limit = inline_limit
        #: id(data node) -> (node, future, index); the node is held so that its id stays its own
        self._held: dict[int, tuple[DataNode, distributed.Future[Any], int | None]] = {}

    def kwargs(self, inputs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """What to send for a task's ``inputs`` (data nodes, or nested dicts of them), and
        whether any of it is on the cluster. Raises if a large value cannot be scattered."""
        refs = [False]
        kwargs = {
            name: self._arg(node, refs) if type(node) is DataNode else self._tree(node, refs)
            for name, node in inputs.items()
        }
        return kwargs, refs[0]

    def _tree(self, node: Any, refs: list[bool]) -> Any:
        if type(node) is DataNode:
            return self._arg(node, refs)
        if isinstance(node, dict):
            return {k: self._tree(v, refs) for k, v in node.items()}
        return node

    def _arg(self, node: DataNode, refs: list[bool]) -> Any:
        """What to send for an input node: its value, or a reference to it on the cluster."""
        held = self._held.get(id(node))
        if held is not None:
            refs[0] = True
            return OnCluster(held[1], held[2])
        value = node.value
        if type(value) in SMALL or sizeof(value) < self.inline_limit:
            # the call's own copy: calls of one chunk are pickled together, and pickle would
            # hand two of them one object
            return isolate(value)
        future = self._client.scatter(value, hash=False)
        held = self._held.setdefault(id(node), (node, future, None))
        refs[0] = True
        return OnCluster(held[1], held[2])

    def keep(
        self, task: TaskNode, value: Any, future: distributed.Future[Any] | None, index: int
    ) -> None:
        """``task`` finished with ``value``, call ``index`` of the chunk ``future``: keep the
        future for consumers if the value is its single output and large."""
        single = task.handle.single_output
        if single is None or type(value) in SMALL:
            return
        outputs = task.outputs
        node = outputs.get(single) if outputs is not None else None
        if (
            type(node) is DataNode
            and node.value is value
            and future is not None
            and sizeof(value) >= self.inline_limit
        ):
            self._held[id(node)] = (node, future, index)

    def clear(self) -> None:
        """Release every future kept (the run is over)."""
        self._held.clear()

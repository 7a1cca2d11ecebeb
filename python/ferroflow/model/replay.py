"""An explicitly built graph used as a task of another graph (WorkGraph's ``inner_wg(inputs=
{...})`` or ``wg.add_task(inner_wg)``).

The inner graph is a template: :func:`graph_def` turns it into a graph definition whose body,
run when the outer graph reaches it, adds a fresh copy of each template task to the child
graph, with the links between them, its ordering (``>>``), and its graph-level input sockets
replaced by the inputs the call gave. So the engine runs it as any ``@task.graph`` task:
its own process node, its tasks called by it, its outputs returned.
"""

from __future__ import annotations

from typing import Any

from ..errors import TaskInputError
from .explicit import add_task
from .graph import Graph, TaskNode, current_graph, producers
from .sockets import FutureSocket, GraphInputSocket
from .spec import Leaf, Namespace, SocketSpec
from .taskdef import GraphDef

__all__ = ["graph_def"]


def _spec_of(outputs: Any) -> SocketSpec:
    """The outputs namespace a template's assigned outputs describe."""
    if isinstance(outputs, dict):
        return Namespace({key: _spec_of(value) for key, value in outputs.items()})
    return Leaf()


def graph_def(template: Graph, output_spec: Namespace | None) -> GraphDef:
    """The definition of a graph task that replays ``template`` (see the module docstring)."""

    def body(**inputs: Any) -> Any:
        graph = current_graph()
        assert graph is not None  # a graph body always runs with its graph current
        copies: dict[int, TaskNode] = {}

        def mapped(binding: Any, where: str) -> Any:
            if isinstance(binding, FutureSocket):
                original = binding._task
                return FutureSocket(copies[id(original)], binding._path, binding._spec)
            if isinstance(binding, GraphInputSocket):
                found = binding.given_in(inputs)
                if found is None:
                    raise TaskInputError(
                        f"{where}: graph input '{binding.name}' of '{template.name}' was not "
                        f"given; pass it in inputs={{...}}"
                    )
                return found
            if isinstance(binding, dict):
                return {k: mapped(v, f"{where}.{k}") for k, v in binding.items()}
            return binding

        for node in template.submit_order():
            given = {
                key: mapped(value, f"task '{template.name}/{node.name}', input '{key}'")
                for key, value in node.inputs.items()
            }
            copy = add_task(graph, node.handle, node.name, given)
            copies[id(node)] = copy
            data = {id(p) for p in producers(node.inputs)}
            for before in node.producers:
                if id(before) not in data:
                    copy.wait_for(copies[id(before)])
        return mapped(template.outputs, f"graph '{template.name}' outputs")

    body.__name__ = body.__qualname__ = template.name
    outputs = output_spec if output_spec is not None else _spec_of(template.outputs)
    assert isinstance(outputs, Namespace)
    return GraphDef(body, name=template.name, outputs=outputs)

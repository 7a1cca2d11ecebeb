"""``WorkGraph.load`` of a graph built explicitly (``WorkGraph(...)``, ``add_task``): rebuilt
from the recipe its run stored (:mod:`ferroflow.store.recipes`), as WorkGraph's "continue a
finished workgraph" does.

Each task's function is imported by the ``module.qualname`` the recipe names, by
:func:`ferroflow.restart.import_object`'s rules (for a run that came from ``ferroflow import``,
only among modules this process already imported: importing runs code). The loaded graph's
inputs are the run's stored input nodes (same pks), and it is a restart of the run: ``run()``
reuses every finished task whose function and inputs are unchanged (see
:mod:`ferroflow.restart`). Before that run the script may edit it as any explicit graph: rename
it, set task inputs, add tasks, graph inputs and outputs.
"""

from __future__ import annotations

from typing import Any

from .construction import ExplicitConstruction
from .errors import FerroflowError
from .model.data import DataNode
from .model.explicit import set_value
from .model.graph import TaskNode
from .model.labels import nest
from .model.sockets import FutureSocket
from .model.taskdef import TaskDef
from .model.vocabulary import Link
from .restart import import_object
from .store import Store, StoredNode
from .store.recipes import read_recipe, stored_recipe
from .views.tasks import GraphTask

__all__ = ["load_explicit"]


def _bound(wg: ExplicitConstruction, nodes: dict[str, TaskNode], binding: Any) -> Any:
    """A recipe binding as ``add_task`` takes it: sockets, graph input sockets, values."""
    if isinstance(binding, dict):
        return {key: _bound(wg, nodes, item) for key, item in binding.items()}
    kind = binding[0]
    if kind == "value":
        return binding[1]
    if kind == "input":
        head, *rest = binding[1].split(".")
        socket = wg._graph_input(head)
        for part in rest:
            socket = getattr(socket, part)
        return socket
    _, task, path = binding
    source = nodes.get(task)
    if source is None:
        raise FerroflowError(f"the recipe links from task '{task}', which it does not have")
    found: Any = FutureSocket(source, (), source.handle.outputs)
    for part in path:
        found = found[part]
    return found


def load_explicit(wg: ExplicitConstruction, store: Store, run: StoredNode) -> None:
    """Fill the new, empty explicit WorkGraph ``wg`` with run ``run``'s graph."""
    text = stored_recipe(store, run.pk)
    if text is None:
        raise FerroflowError(
            f"run {run.pk} ('{run.label}') was built explicitly and has no stored recipe (its "
            f"graph has control-flow zones, which recipes do not describe yet; or it was "
            f"imported from another store, or stored before ferroflow kept recipes), so it "
            f"cannot be rebuilt; build the graph again instead"
        )
    recipe = read_recipe(run.pk, text)
    imported = store.imported(run.pk)
    nodes: dict[str, TaskNode] = {}
    for task in recipe["tasks"]:
        handle = import_object(task["type"], load=not imported)
        if callable(handle) and not isinstance(handle, TaskDef) and not imported:
            handle = TaskDef(handle)  # added as a plain function (add_task(f)), so again
        if not isinstance(handle, TaskDef):
            raise FerroflowError(
                f"cannot rebuild task '{task['name']}' of run {run.pk}: its function "
                f"'{task['type']}' is not importable by that name (a function defined inside "
                f"another, another process's __main__ script, a WorkGraph used as a task, or "
                f"a module not imported for a run imported from another store)"
            )
        added = wg.add_task(handle, name=task["name"])
        assert isinstance(added, GraphTask)  # a TaskDef makes a task
        nodes[task["name"]] = added.node
    for task in recipe["tasks"]:
        node = nodes[task["name"]]
        for key, binding in task["inputs"].items():
            set_value(node, key, _bound(wg, nodes, binding))
        for before in task["after"]:
            node.wait_for(nodes[before])
    outputs = _bound(wg, nodes, recipe["outputs"])
    if outputs:
        wg._graph.outputs = outputs
    given = [
        (label, DataNode(node.value, node.uuid, node.pk))
        for kind, label, node in run.inputs
        if kind == Link.INPUT_WORK
    ]
    wg._pending_inputs.update(nest(given))

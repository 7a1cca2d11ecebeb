"""Recipes of explicitly built graphs: how ``WorkGraph.load`` rebuilds one from the store.

A ``@task.graph`` run is rebuilt by calling its function with the stored inputs. A graph built
with ``WorkGraph(...)``, ``add_task`` and ``add_link`` has no function, so its run keeps a
recipe (table ``graph_recipe``, JSON), written when the run starts (a run killed later can
still be restarted). Version 3 holds

* ``name`` and ``max_number_jobs`` of the graph (``WorkGraph(max_number_jobs=)``, not a cap
  given to one ``run()``);
* ``inputs``: the declared namespace of graph inputs (``WorkGraph(inputs=...)``) or None,
  ``added_inputs``: inputs ``add_input_spec`` declared on a graph without one, and
  ``output_spec``: the declared outputs (socket specs, :mod:`.recipe_specs`);
* ``tasks``, in order: each task's name, the ``module.qualname`` of its function, its input
  bindings (:mod:`.recipe_bindings`), the tasks it waits for without using their outputs
  (``>>``), its call's ``metadata=`` label and description, and the options of its task
  definition that differ from the defaults (:mod:`.recipe_tasks`);
* ``outputs``: the graph's outputs, as bindings;
* its control-flow zones (``If``, ``While``, ``Map``, ``Zone``), on the tasks
  (:mod:`.recipe_zones`): which task is a zone and of which kind, which zone each task is a
  child of (nested zones included, in creation order), a Map's ``gather`` outputs, and the
  ``wg.ctx`` entries each task writes when it finishes; a Map's item and a ``wg.ctx`` read
  are bindings (:mod:`.recipe_bindings`), so a zone's conditions, ``invert_condition``,
  ``max_iterations`` and source are its inputs as any task's are;
* ``context``: the ``wg.ctx`` entries when the run started (initial values as data nodes,
  sockets as links), so a loaded graph's ``wg.ctx`` reads as the original's did.

A constant is the data node that holds it (``{"node": pk}``), stored when the recipe is
written, so a large array is in the store once; version 1 (before these fields) embedded
constants in the recipe and is still read; version 2 (before zones) is read as a graph
without zones. ``ferroflow runs delete`` removes the constants a
recipe names with its run, unless another run uses them (:mod:`.deletion`).

What cannot be carried is said, never dropped silently: an error handler or exception class
of a task made inline that has no importable name (a lambda, a closure) makes the load fail,
naming the task (the task would run differently without it); a socket type without one
(a class defined in a function) is read as ``Any`` with a warning naming the socket (a type
is only a check); a socket of a task of another graph, a read or a write of a context that
``wg.ctx = ...`` replaced and zone tasks write makes the load fail, naming the task and the
socket or entry.

The recipe is written only by a run of this store (``ferroflow import`` writes none), and read
back as data: a ``pickle`` constant is unpickled, as every stored value of a local run is, and
function, class and type names are imported by :mod:`ferroflow.restart`'s rules (by the
caller: the store names them, it never imports them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import FerroflowError
from ..model.context_read import RuntimeContext
from ..model.data import DataNode
from ..model.graph import Graph
from ..model.spec import Namespace, SocketSpec
from ..model.taskdef import TaskDef
from .recipe_bindings import BindingWriter, input_paths, read_binding
from .recipe_specs import spec_json
from .recipe_tasks import SignatureSpecs, handle_options, read_task, task_entry
from .recipe_zones import read_zone_fields, read_zones, zone_fields
from .rows import OP_SQL

if TYPE_CHECKING:
    from .store import Store

__all__ = ["RECIPE_VERSION", "read_recipe", "recipe_row", "recipe_text", "stored_recipe"]

RECIPE_VERSION = 3
#: the versions this ferroflow reads
_READS = (1, 2, 3)
_INSERT_SQL = "INSERT OR IGNORE INTO graph_recipe(run_pk, recipe) VALUES (?, ?)"


def recipe_text(
    graph: Graph,
    record_data: Callable[[DataNode], int],
    *,
    max_number_jobs: int | None = None,
    inputs: Namespace | None = None,
    added_inputs: dict[str, SocketSpec] | None = None,
    output_spec: Namespace | None = None,
    context: tuple[dict[str, Any], RuntimeContext] | None = None,
) -> str:
    """The recipe of an explicitly built top-level ``graph`` whose inputs were given;
    ``record_data`` stores a constant's data node (``Store.record_data``) and returns its pk;
    ``context``: the entries of its ``wg.ctx`` and their run-time part."""
    entries, runtime = context if context is not None else ({}, None)
    writer = BindingWriter(input_paths(graph.inputs), record_data, graph.tasks_by_name, runtime)
    cache: dict[int, tuple[TaskDef, dict[str, Any]]] = {}
    signatures: SignatureSpecs = {}

    def options(handle: TaskDef) -> dict[str, Any]:
        found = cache.get(id(handle))
        if found is None:  # (the handle is kept, so its id is not reused meanwhile)
            found = cache[id(handle)] = (handle, handle_options(handle, signatures))
        return found[1]

    recipe = {
        "version": RECIPE_VERSION,
        "name": graph.name,
        "max_number_jobs": max_number_jobs,
        "inputs": None if inputs is None else spec_json(inputs),
        "added_inputs": {key: spec_json(spec) for key, spec in (added_inputs or {}).items()},
        "output_spec": None if output_spec is None else spec_json(output_spec),
        "tasks": [
            {**task_entry(node, writer, options), **zone_fields(node, writer, runtime)}
            for node in graph.tasks
        ],
        "outputs": writer.binding(graph.outputs),
        "context": writer.binding(entries),
    }
    return json.dumps(recipe, ensure_ascii=True, separators=(",", ":"))


def recipe_row(run_pk: int, text: str) -> tuple[Any, ...]:
    """The writer row that stores run ``run_pk``'s recipe (``Store.record_rows``)."""
    return (OP_SQL, _INSERT_SQL, (run_pk, text))


def stored_recipe(store: Store, run_pk: int) -> str | None:
    """Run ``run_pk``'s recipe, or None (a ``@task.graph`` run, an imported run, or one
    stored before recipes were kept)."""
    rows = store._reader.query_committed(
        "SELECT recipe FROM graph_recipe WHERE run_pk = ?", (run_pk,)
    )
    return str(rows[0][0]) if rows else None


def _cap(value: Any) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise FerroflowError(f"max_number_jobs is not a count of tasks: {value!r}")


def read_recipe(run_pk: int, text: str) -> dict[str, Any]:
    """A stored recipe (version 1 to 3) as ``{"name", "max_number_jobs", "inputs",
    "added_inputs", "output_spec", "tasks", "outputs", "context"}``: tasks read by
    :func:`.recipe_tasks.read_task` with their zone part by
    :func:`.recipe_zones.read_zone_fields`, bindings by :func:`.recipe_bindings.read_binding`,
    specs left as data for :func:`.recipe_specs.read_spec` (what an older recipe lacks is
    empty)."""
    where = f"the recipe of run {run_pk}"
    try:
        recipe = json.loads(text)
        version = recipe.get("version")
        if version not in _READS:
            raise FerroflowError(
                f"{where} has version {version!r}; this ferroflow reads versions "
                f"{_READS[0]} to {_READS[-1]}"
            )
        added = recipe.get("added_inputs", {})
        if not isinstance(added, dict):
            raise FerroflowError(f"added_inputs is not a dict: {added!r}")
        tasks = [
            {**read_task(where, task), **read_zone_fields(where, str(task["name"]), task)}
            for task in recipe["tasks"]
        ]
        read_zones(where, tasks)
        context = read_binding(f"{where}, context", recipe.get("context", {"ns": {}}))
        if not isinstance(context, dict):
            raise FerroflowError(f"{where}: its context is not a namespace of entries")
        return {
            "name": str(recipe["name"]),
            "max_number_jobs": _cap(recipe.get("max_number_jobs")),
            "inputs": recipe.get("inputs"),
            "added_inputs": {str(key): spec for key, spec in added.items()},
            "output_spec": recipe.get("output_spec"),
            "tasks": tasks,
            "outputs": read_binding(f"{where}, outputs", recipe["outputs"]),
            "context": context,
        }
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise FerroflowError(f"{where} is malformed: {exc}") from None

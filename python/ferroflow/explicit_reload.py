"""``WorkGraph.load`` of a graph built explicitly (``WorkGraph(...)``, ``add_task``): rebuilt
from the recipe its run stored (:mod:`ferroflow.store.recipes`), as WorkGraph's "continue a
finished workgraph" does.

Each task's function is imported by the ``module.qualname`` the recipe names, by
:func:`ferroflow.restart.import_object`'s rules (for a run that came from ``ferroflow import``,
only among modules this process already imported: importing runs code); so are the error
handlers, exception classes and socket types a recipe names, and nothing else is imported. A
task definition made inline (``add_task(task(retries=2)(f))``) is made again with its
recorded options (:mod:`ferroflow.store.recipe_tasks`), and its call's ``metadata=`` label and
description come back. The graph's ``max_number_jobs`` and declared input and output specs
come back too. The loaded graph's inputs are the run's stored input nodes (same pks), its
constants the values of the data nodes the recipe names, and it is a restart of the run:
``run()`` reuses every finished task whose function and inputs are unchanged (see
:mod:`ferroflow.restart`). Before that run the script may edit it as any explicit graph:
rename it, set task inputs, add tasks, graph inputs and outputs.

Control-flow zones come back as the script made them (:func:`_add_zone_task`): each zone
task is opened again (``If``, ``While``, ``Map``, ``Zone``) and each child added while its
zone is the open one, in the recorded creation order, so nested zones nest again; then a
Map's gathered outputs, the ``wg.ctx`` writes of each task, the graph's ``wg.ctx`` entries
and its reads (with what a key held before a zone task wrote it) are wired again on the
rebuilt graph's own context. What a recipe marks as not carried is refused, naming the task
and the socket.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any, NoReturn

from .construction import ExplicitConstruction
from .errors import FerroflowError, NodeNotFoundError
from .executors.pythonjob import in_own_process
from .model.context_read import ContextRead
from .model.data import DataNode
from .model.explicit import set_value
from .model.graph import TaskNode
from .model.labels import nest
from .model.monitor import monitoring
from .model.own_inputs import wrapper_kind
from .model.sockets import FutureSocket
from .model.spec import Leaf, Namespace
from .model.taskdef import CalcFunctionDef, TaskDef
from .model.vocabulary import Kind, Link
from .model.zones import ZoneLink, ZoneSpec, open_zone, zone_link
from .restart import import_object
from .store import Store, StoredNode
from .store.recipe_specs import Resolve, read_spec
from .store.recipe_tasks import SignatureSpecs, handle_options, rebuild_options
from .store.recipes import read_recipe, stored_recipe
from .store.values import PICKLE_UNTRUSTED, UNSERIALISABLE
from .views.tasks import GraphTask

__all__ = ["load_explicit"]


class _Rebuild:
    """What rebuilding one run needs: the store, how names are imported, what was loosened."""

    def __init__(self, wg: ExplicitConstruction, store: Store, run: StoredNode) -> None:
        self.wg = wg
        self.store = store
        self.run = run
        imported = store.imported(run.pk)
        self.imported = imported
        self.resolve: Resolve = lambda name: import_object(name, load=not imported)
        self.loosened: list[str] = []
        self.nodes: dict[str, TaskNode] = {}
        self.handle_options: dict[int, tuple[TaskDef, dict[str, Any]]] = {}
        self.signatures: SignatureSpecs = {}
        #: the values of the constants' data nodes, by pk (:meth:`read_constants`)
        self.values: dict[int, Any] = {}
        #: the data node made again for each constant's pk: one node per stored one, so a
        #: value several tasks shared (a ``wg.ctx`` entry) is still one node
        self.made: dict[int, DataNode] = {}
        #: the zones made again, by the name of their task
        self.zones: dict[str, ZoneSpec] = {}

    def read_constants(self, where: str, binding: Any) -> None:
        """Read the constants ``binding`` names now, before any name of the recipe is
        imported: a recipe that cannot be rebuilt for its data imports no module by name."""
        if isinstance(binding, dict):
            for key, item in binding.items():
                self.read_constants(f"{where}.{key}", item)
        elif binding[0] == "ctx":
            for item in binding[2]:
                self.read_constants(where, item)
        elif binding[0] == "refused":
            self.refuse(where, binding[1])
        elif binding[0] == "node" and binding[1] not in self.values:
            self.values[binding[1]] = self._constant(where, binding[1])

    def refuse(self, where: str, why: str) -> NoReturn:
        """What the recipe says it could not carry: the load fails, naming it."""
        raise FerroflowError(
            f"run {self.run.pk}: {where} cannot be rebuilt: {why}; build the graph again instead"
        )

    def _constant(self, where: str, pk: int) -> Any:
        """The value of the stored data node ``pk`` a recipe names as a constant."""
        try:
            node = self.store.load_node(pk)
        except NodeNotFoundError:
            raise FerroflowError(
                f"{where}: the constant's data node {pk} is no longer in the store, so the "
                f"graph cannot be rebuilt; build the graph again"
            ) from None
        if node.kind != Kind.DATA:
            raise FerroflowError(f"{where}: the recipe names node {pk}, which is not a data node")
        if node.codec in (UNSERIALISABLE, PICKLE_UNTRUSTED):
            raise FerroflowError(
                f"{where}: the constant given there was not stored ({node.codec}), so the "
                f"graph cannot be rebuilt with it; build the graph again with the value"
            )
        return node.value

    def bound(self, where: str, binding: Any) -> Any:
        """A recipe binding as ``add_task`` takes it: sockets, graph input sockets, values."""
        if isinstance(binding, dict):
            return {key: self.bound(f"{where}.{key}", item) for key, item in binding.items()}
        kind = binding[0]
        if kind == "value":
            return binding[1]
        if kind == "node":
            # A new node of the same value: each run owns its constants (``runs delete`` of
            # one never breaks another's recipe); an array's bytes are stored once all the
            # same (the blob table is content-addressed), and the cache key is the value's.
            made = self.made.get(binding[1])
            if made is None:
                made = self.made[binding[1]] = DataNode(self.values[binding[1]])
            return made
        if kind == "refused":
            self.refuse(where, binding[1])
        if kind == "ctx":
            return self._context_read(where, binding[1], binding[2])
        if kind == "item":
            zone = self.zones.get(binding[1])
            if zone is None or zone.item is None:
                raise FerroflowError(f"{where}: the recipe names no Map zone '{binding[1]}'")
            return FutureSocket(zone.item, (binding[2],), Leaf())
        if kind == "input":
            head, *rest = binding[1].split(".")
            socket = self.wg._graph_input(head)
            for part in rest:
                socket = getattr(socket, part)
            return socket
        _, task, path = binding
        source = self.nodes.get(task)
        if source is None:
            raise FerroflowError(f"the recipe links from task '{task}', which it does not have")
        found: Any = FutureSocket(source, (), source.handle.outputs)
        for part in path:
            found = found[part]
        return found

    def _context_read(self, where: str, key: str, chain: list[Any]) -> ContextRead:
        """``wg.ctx.key`` read on the rebuilt graph's context: its entry, each entry after
        the first being what the key held before the one ahead of it was written (by a zone
        task, which a reader falls back on when that task's branch is not taken)."""
        runtime = self.wg._ctx._runtime
        entries = [self.bound(f"{where} (wg.ctx.{key})", item) for item in chain]
        for written, before in itertools.pairwise(entries):
            runtime.before[id(written)] = before
        return ContextRead(key, entries[0], runtime)

    def options(self, handle: TaskDef) -> dict[str, Any]:
        """:func:`handle_options` of an imported ``handle``, once per handle (many tasks
        share one, and reading its output spec may read its source)."""
        found = self.handle_options.get(id(handle))
        if found is None:
            options = handle_options(handle, self.signatures)
            found = self.handle_options[id(handle)] = (handle, options)
        return found[1]

    def handle(self, task: dict[str, Any]) -> TaskDef:
        """Task ``task``'s definition: the imported one if its options are those recorded,
        else made again from its function with them (``wg.add_task(task(...)(f))``)."""
        where = f"task '{task['name']}' of run {self.run.pk}"
        found = import_object(task["type"], load=not self.imported)
        options = task["options"]
        if isinstance(found, TaskDef) and (options is None or self.options(found) == options):
            return found  # (None: a version-1 recipe, which used the imported definition whole)
        options = options or {}
        if isinstance(found, TaskDef) and not found.is_graph:
            found = found.func  # made again with the recorded options, from its function
            if wrapper_kind(found) is not None:  # a monitor's or python job's: the user's
                found = getattr(found, "__wrapped__", found)  # function, wrapped again below
        elif isinstance(found, TaskDef) or self.imported:
            found = None  # a plain function named by someone else's file is not trusted
        if not callable(found):
            raise FerroflowError(
                f"cannot rebuild {where}: its function '{task['type']}' is not importable by "
                f"that name (a function defined inside another, another process's __main__ "
                f"script, a WorkGraph used as a task, or a module not imported for a run "
                f"imported from another store)"
            )
        try:
            return self._made(found, task["name"], where, options)
        except (KeyError, TypeError, ValueError) as exc:
            raise FerroflowError(
                f"cannot rebuild {where} with its recorded options: {exc}"
            ) from None

    def _made(self, func: Any, name: str, where: str, options: dict[str, Any]) -> TaskDef:
        """The definition ``options`` describe, made again of ``func``."""
        kind, kwargs = rebuild_options(where, options, self.resolve, self.loosened)
        label = str(kwargs.get("name") or getattr(func, "__name__", name))
        if kind == "calcfunction":
            return CalcFunctionDef(func, **kwargs)
        if kind == "monitor":
            return TaskDef(monitoring(func, label), **{"cache": False, **kwargs})
        if kind == "pythonjob":
            made = TaskDef(in_own_process(func, label), **kwargs)
            made.metadata_keys = ("options",)
            return made
        return TaskDef(func, **kwargs)

    def spec(self, where: str, data: Any, path: str = "") -> Any:
        if data is None:
            return None
        try:
            return read_spec(where, data, self.resolve, self.loosened, path)
        except FerroflowError:
            raise
        except (TypeError, KeyError, ValueError, IndexError, AttributeError) as exc:
            # a damaged spec (e.g. a generic of a class that takes no parameters): say where
            raise FerroflowError(
                f"run {self.run.pk}: the recipe's {where} spec{f' {path!r}' if path else ''} "
                f"cannot be read: {type(exc).__name__}: {exc}"
            ) from exc


def _add_zone_task(rebuild: _Rebuild, task: dict[str, Any]) -> TaskNode:
    """Add recipe task ``task`` to the rebuilt graph inside its zone (opened earlier: the
    recipe is in creation order), opening it as a zone again if it is one; a zone's inputs
    are set with every task's, once all tasks exist."""
    graph = rebuild.wg._graph
    parent = task["in"]
    graph.zone_stack = [rebuild.zones[parent]] if parent is not None else []
    try:
        zone = task["zone"]
        if zone is None:
            added = rebuild.wg.add_task(rebuild.handle(task), name=task["name"])
            assert isinstance(added, GraphTask)  # a TaskDef makes a task
            return added.node
        conditions = {"conditions": None} if zone["kind"] in ("if", "while") else {}
        spec = open_zone(graph, zone["kind"], task["name"], conditions)
        if spec.node.name != task["name"]:
            raise FerroflowError(
                f"run {rebuild.run.pk}: zone '{task['name']}' of the recipe is named twice"
            )
        spec.node.inputs.clear()  # (the placeholder condition: its inputs come below)
        rebuild.zones[task["name"]] = spec
        return spec.node
    finally:
        graph.zone_stack = []


def _wire_zone_part(rebuild: _Rebuild, task: dict[str, Any], node: TaskNode) -> None:
    """A Map's gathered outputs and the ``wg.ctx`` entries ``node`` writes, on the rebuilt
    graph's context."""
    where = f"task '{task['name']}' of run {rebuild.run.pk}"
    zone = task["zone"]
    if zone is not None:
        spec = rebuild.zones[task["name"]]
        for name, binding in zone["gather"].items():
            socket = rebuild.bound(f"{where}, gather '{name}'", binding)
            if not isinstance(socket, FutureSocket):
                raise FerroflowError(f"{where}: gather '{name}' is not a socket of a task")
            spec.gathers[name] = socket
    if task["writes"]:
        runtime = rebuild.wg._ctx._runtime
        link = zone_link(node)
        if link is None:
            link = node.zoned = ZoneLink(None)
        for key, path in task["writes"]:
            link.writes.append((runtime, key, path))
        if link.parent is not None:
            runtime.zoned = True


def _bind_again(node: TaskNode, name: str, value: Any) -> None:
    """Give ``node`` its stored binding ``value`` of input ``name`` back. One socket bound to a
    whole dynamic namespace (``total(data=zone.outputs.a)`` for ``def total(**data)``) is bound
    whole, as it was built: ``set_value`` would link it as one ``<task>_<socket>`` entry, as
    ``add_link`` does. A namespace built link by link is stored as a dict of its entries."""
    spec = node.handle.inputs.get(name)
    if isinstance(value, FutureSocket) and isinstance(spec, Namespace) and spec.dynamic is not None:
        node.set_input(name, value)
        return
    set_value(node, name, value)


def load_explicit(wg: ExplicitConstruction, store: Store, run: StoredNode) -> int | None:
    """Fill the new, empty explicit WorkGraph ``wg`` with run ``run``'s graph; returns the
    graph's ``max_number_jobs``."""
    text = stored_recipe(store, run.pk)
    if text is None:
        raise FerroflowError(
            f"run {run.pk} ('{run.label}') was built explicitly and has no stored recipe (it "
            f"was imported from another store, or stored before ferroflow kept recipes, or "
            f"before recipes described control-flow zones), so it cannot be rebuilt; build "
            f"the graph again instead"
        )
    recipe = read_recipe(run.pk, text)
    rebuild = _Rebuild(wg, store, run)
    for task in recipe["tasks"]:
        if task["refused"] is not None:
            rebuild.refuse(f"task '{task['name']}'", task["refused"])
        for key, binding in task["inputs"].items():
            rebuild.read_constants(f"task '{task['name']}', input '{key}'", binding)
        for key, binding in (task["zone"] or {}).get("gather", {}).items():
            rebuild.read_constants(f"task '{task['name']}', gather '{key}'", binding)
    rebuild.read_constants("the graph's outputs", recipe["outputs"])
    rebuild.read_constants("the graph's context", recipe["context"])
    inputs = rebuild.spec("graph input", recipe["inputs"])
    if isinstance(inputs, Namespace):
        wg._input_spec = inputs
    for name, data in recipe["added_inputs"].items():
        wg.add_input_spec(rebuild.spec("graph input", data, name), name)
    outputs_spec = rebuild.spec("graph output", recipe["output_spec"])
    if isinstance(outputs_spec, Namespace):
        wg._output_spec = outputs_spec
    nodes = rebuild.nodes
    zoned = any(task["zone"] is not None for task in recipe["tasks"])
    for task in recipe["tasks"]:
        if zoned:
            node = _add_zone_task(rebuild, task)
        else:
            added = wg.add_task(rebuild.handle(task), name=task["name"])
            assert isinstance(added, GraphTask)  # a TaskDef makes a task
            node = added.node
        node.describe(task["meta"])
        nodes[task["name"]] = node
    for task in recipe["tasks"]:
        node = nodes[task["name"]]
        for key, binding in task["inputs"].items():
            where = f"task '{task['name']}', input '{key}'"
            _bind_again(node, key, rebuild.bound(where, binding))
        for before in task["after"]:
            node.wait_for(nodes[before])
        _wire_zone_part(rebuild, task, node)
    outputs = rebuild.bound("the graph's outputs", recipe["outputs"])
    if outputs:
        wg._graph.outputs = outputs
    context = rebuild.bound("the graph's context", recipe["context"])
    if context:
        wg._ctx._entries.update(context)
    given = [
        (label, DataNode(node.value, node.uuid, node.pk))
        for kind, label, node in run.inputs
        if kind == Link.INPUT_WORK
    ]
    wg._pending_inputs.update(nest(given))
    for problem in rebuild.loosened:
        warnings.warn(f"WorkGraph.load({run.pk}): {problem}", UserWarning, stacklevel=3)
    cap: int | None = recipe["max_number_jobs"]
    return cap

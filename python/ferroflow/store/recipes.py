"""Recipes of explicitly built graphs: how ``WorkGraph.load`` rebuilds one from the store.

A ``@task.graph`` run is rebuilt by calling its function with the stored inputs. A graph built
with ``WorkGraph(...)``, ``add_task`` and ``add_link`` has no function, so its run keeps a
recipe (table ``graph_recipe``): its name, and for each task in order its name, the
``module.qualname`` of its function and its input bindings, the tasks it waits for without using
their outputs (``>>``), and the graph's outputs. A binding is one of

``{"link": [task, [path...]]}``
    an output socket of another task of the graph,
``{"input": "a.b"}``
    a graph-level input (its value is the run's stored input of that name),
``{"value": [codec, text]}``
    a constant, serialised as the store serialises values (:mod:`.values`; bytes payloads in
    base64),
``{"ns": {key: binding}}``
    a namespace of bindings.

The recipe is written only by a run of this store (``ferroflow import`` writes none), and read
back as data: a ``pickle`` constant is unpickled, as every stored value of a local run is, and
function names are imported by :mod:`ferroflow.restart`'s rules.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from ..errors import FerroflowError
from ..model.data import DataNode
from ..model.graph import Graph, TaskNode, producers
from ..model.sockets import FutureSocket, GraphInputSocket
from .rows import OP_SQL
from .values import PICKLE_UNTRUSTED, UNSERIALISABLE, decode, encode

if TYPE_CHECKING:
    from .store import Store

__all__ = ["RECIPE_VERSION", "read_recipe", "recipe_row", "recipe_text", "stored_recipe"]

RECIPE_VERSION = 1
_INSERT_SQL = "INSERT OR IGNORE INTO graph_recipe(run_pk, recipe) VALUES (?, ?)"


def _input_paths(inputs: Any, prefix: str = "") -> dict[int, str]:
    """``id(data node) -> dotted path`` of a graph's given inputs (one node per input, shared
    by every task that took it: that is how a task's binding is known to be a graph input)."""
    paths: dict[int, str] = {}
    if isinstance(inputs, dict):
        for key, value in inputs.items():
            paths.update(_input_paths(value, f"{prefix}{key}."))
    elif isinstance(inputs, DataNode):
        paths[id(inputs)] = prefix[:-1]
    return paths


def _value(value: Any) -> list[str]:
    encoded = encode(value)
    payload = encoded.payload
    text = payload if isinstance(payload, str) else "b64:" + base64.b64encode(payload).decode()
    return [encoded.codec, text]


def _binding(binding: Any, inputs: dict[int, str]) -> Any:
    if isinstance(binding, FutureSocket):
        return {"link": [binding._task.name, list(binding._path)]}
    if isinstance(binding, GraphInputSocket):
        return {"input": binding.name}
    if isinstance(binding, dict):
        return {"ns": {key: _binding(value, inputs) for key, value in binding.items()}}
    if isinstance(binding, DataNode):
        path = inputs.get(id(binding))
        return {"input": path} if path is not None else {"value": _value(binding.value)}
    return {"value": _value(binding)}


def _after(node: TaskNode) -> list[str]:
    used = {id(p) for p in producers(node.inputs)}
    return [p.name for p in node.producers if id(p) not in used]


def recipe_text(graph: Graph) -> str:
    """The recipe of an explicitly built top-level ``graph`` whose inputs were given."""
    inputs = _input_paths(graph.inputs)
    tasks = [
        {
            "name": node.name,
            "type": node.handle.process_type,
            "inputs": {key: _binding(b, inputs) for key, b in node.inputs.items()},
            "after": _after(node),
        }
        for node in graph.tasks
    ]
    outputs = _binding(graph.outputs, inputs)
    recipe = {"version": RECIPE_VERSION, "name": graph.name, "tasks": tasks, "outputs": outputs}
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


def _read_binding(where: str, binding: Any) -> Any:
    """A binding with its constants decoded: ``("link", task, path)``, ``("input", path)``,
    ``("value", value)`` or a dict of those."""
    if not isinstance(binding, dict) or len(binding) != 1:
        raise FerroflowError(f"{where}: not a recipe binding: {binding!r}")
    ((kind, body),) = binding.items()
    if kind == "link" and isinstance(body, list) and len(body) == 2:
        return ("link", str(body[0]), tuple(str(p) for p in body[1]))
    if kind == "input" and isinstance(body, str):
        return ("input", body)
    if kind == "value" and isinstance(body, list) and len(body) == 2:
        codec, text = body
        if codec in (UNSERIALISABLE, PICKLE_UNTRUSTED):
            raise FerroflowError(
                f"{where}: the constant given there was not stored ({codec}), so the graph "
                f"cannot be rebuilt with it; build the graph again with the value"
            )
        payload: str | bytes = base64.b64decode(text[4:]) if text.startswith("b64:") else str(text)
        return ("value", decode(str(codec), payload))
    if kind == "ns" and isinstance(body, dict):
        return {str(k): _read_binding(f"{where}.{k}", v) for k, v in body.items()}
    raise FerroflowError(f"{where}: not a recipe binding: {binding!r}")


def read_recipe(run_pk: int, text: str) -> dict[str, Any]:
    """A stored recipe as ``{"name", "tasks": [{"name", "type", "inputs", "after"}],
    "outputs"}`` with bindings read by :func:`_read_binding`."""
    where = f"the recipe of run {run_pk}"
    try:
        recipe = json.loads(text)
        if recipe.get("version") != RECIPE_VERSION:
            raise FerroflowError(
                f"{where} has version {recipe.get('version')!r}; this ferroflow reads "
                f"version {RECIPE_VERSION}"
            )
        tasks = [
            {
                "name": str(task["name"]),
                "type": str(task["type"]),
                "inputs": {
                    str(key): _read_binding(f"{where}, task {task['name']!r}, input {key!r}", b)
                    for key, b in task["inputs"].items()
                },
                "after": [str(name) for name in task["after"]],
            }
            for task in recipe["tasks"]
        ]
        return {
            "name": str(recipe["name"]),
            "tasks": tasks,
            "outputs": _read_binding(f"{where}, outputs", recipe["outputs"]),
        }
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise FerroflowError(f"{where} is malformed: {exc}") from None

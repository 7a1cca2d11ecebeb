"""Explicit construction: tasks, links and input values added to a graph by the user's own
calls (``wg.add_task``, ``wg.add_link``, ``task.inputs.x = 4``) instead of a graph body.

A body gives every input at the call; explicit construction gives them piece by piece, so a
task's inputs may be incomplete until the run: :func:`complete` then fills defaults and names
the first input still missing. Every change goes through the task node, which refuses cycles
and changes after the task was submitted.
"""

from __future__ import annotations

from typing import Any

from ..errors import FerroflowError, TaskInputError
from .binding import bind_given, bind_value, complete_inputs
from .call_metadata import RESERVED_INPUT, check_link_label, parse_call_metadata
from .context_read import ContextRead
from .data import DataNode
from .graph import Graph, TaskNode
from .names import name_problem
from .sockets import FutureSocket, GraphInputSocket
from .spec import NO_DEFAULT, Leaf, Namespace
from .taskdef import TaskDef

__all__ = ["add_task", "complete", "give_graph_inputs", "link", "set_value"]

#: names WorkGraph keeps for its built-in tasks
RESERVED = frozenset({"graph_inputs", "graph_outputs", "graph_ctx"})


def add_task(graph: Graph, handle: TaskDef, name: str | None, given: dict[str, Any]) -> TaskNode:
    """Add a call of ``handle`` named ``name`` (default: the ``call_link_label`` of a
    ``metadata=`` among ``given``, else the handle's name, numbered when repeated) with the
    inputs ``given`` so far."""
    given = dict(given)
    meta = parse_call_metadata(
        f"task '{graph.path}/{name or handle.name}'",
        given.pop(RESERVED_INPUT, None),
        handle.metadata_keys,
    )
    link = meta.call_link_label
    if link is not None and name is not None and name != link:
        raise ValueError(
            f"graph '{graph.path}': add_task got name={name!r} and metadata call_link_label "
            f"{link!r}; both name the task: give one of them"
        )
    name = name if name is not None else link
    if name is None:
        name, n = graph.next_name(handle.name)
    else:
        problem = name_problem(name)
        if problem is not None:
            raise ValueError(f"graph '{graph.path}': a task name {problem}")
        # as WorkGraph checks at build time: the name labels the task's CALL link
        check_link_label(f"graph '{graph.path}': add_task", name, "name")
        if name in RESERVED:
            raise ValueError(f"graph '{graph.path}': '{name}' is reserved for a built-in task")
        name, n = graph.own_name(name, handle.name)
    bound = bind_given(f"{graph.path}/{name}", handle.inputs, handle.var_kw, given)
    node = graph.add(handle, bound, name, n)
    node.describe(meta.stored)
    return node


def _top(node: TaskNode, name: str) -> str:
    if name not in node.handle.inputs:
        raise TaskInputError(
            f"task '{node.path}' has no input '{name}'; its inputs are: "
            f"{', '.join(node.handle.inputs) or '<none>'}"
        )
    return name


def link(source: FutureSocket, node: TaskNode, name: str) -> None:
    """Feed input ``name`` of ``node`` from the output socket ``source`` (WorkGraph's
    ``add_link``); an input takes one link, unless it is a dynamic namespace, which collects
    one entry per link, named ``<task>_<socket>`` after its source."""
    if not isinstance(source, FutureSocket):
        raise TypeError(
            f"add_link: the source must be an output socket (task.outputs.result), got "
            f"{type(source).__qualname__} {source!r}"
        )
    spec = node.handle.inputs.get(_top(node, name))
    current = node.inputs.get(name)
    if isinstance(spec, Namespace) and spec.dynamic is not None:
        entries = dict(current) if isinstance(current, dict) else {}
        key = "_".join((source._task.name, *source._path))  # add1_result, as WorkGraph names it
        if key in entries:
            raise ValueError(f"task '{node.path}': input '{name}.{key}' is already linked")
        entries[key] = source
        node.set_input(name, entries)
        return
    if isinstance(current, FutureSocket):
        raise ValueError(
            f"task '{node.path}': input '{name}' is already linked to "
            f"'{current._task.path}'; an input takes one link"
        )
    node.set_input(name, source)


def set_value(node: TaskNode, name: str, value: Any) -> None:
    """Give input ``name`` of ``node`` a value (or a socket, which links it)."""
    if isinstance(value, FutureSocket):
        link(value, node, name)
        return
    current = node.inputs.get(_top(node, name))
    if isinstance(current, FutureSocket):
        raise ValueError(
            f"task '{node.path}': input '{name}' has already been set via a link from "
            f"'{current._task.path}'"
        )
    bound = bind_given(node.path, node.handle.inputs, node.handle.var_kw, {name: value})
    node.set_input(name, bound[name])


def complete(graph: Graph) -> None:
    """Before the run: every task's defaults filled in, a missing required input refused."""
    for node in graph.tasks:
        if node.state != "PLANNED":
            raise FerroflowError(f"task '{node.path}' is {node.state}: the graph already ran")
        complete_inputs(node.path, node.handle.func, node.inputs)


def give_graph_inputs(graph: Graph, spec: Namespace | None, values: dict[str, Any]) -> None:
    """Before the run: make the data nodes of the graph-level inputs from ``values`` (checked
    against the declared ``spec``), and hand each to every task that took its socket."""
    for name, value in values.items():
        child = spec.child(name) if spec is not None else Leaf()
        if child is None:
            raise TaskInputError(
                f"graph '{graph.path}' has no input '{name}'; its inputs are: "
                f"{', '.join(spec.fields) if spec is not None else '<any>'}"
            )
        graph.inputs[name] = bind_value(graph.path, name, child, value)
    if spec is not None:
        for name, field in spec.fields.items():
            if (
                name not in graph.inputs
                and isinstance(field, Leaf)
                and field.default is not NO_DEFAULT
            ):
                graph.inputs[name] = DataNode(field.default)  # as declared: not type-checked
            if name not in graph.inputs and (not isinstance(field, Leaf) or field.required):
                raise TaskInputError(
                    f"graph '{graph.path}': missing required input '{name}'; pass "
                    f"run(inputs={{'{name}': ...}})"
                )
    for node in graph.tasks:
        node.inputs = {
            key: _given_input(graph, node, key, binding) for key, binding in node.inputs.items()
        }


def _given_input(graph: Graph, node: TaskNode, key: str, binding: Any) -> Any:
    if isinstance(binding, GraphInputSocket):
        found = binding.given_in(graph.inputs)
        if found is None:
            raise TaskInputError(
                f"task '{node.path}', input '{key}': graph input '{binding.name}' has no value; "
                f"pass run(inputs={{'{binding.name}': ...}})"
            )
        return found
    if isinstance(binding, dict):
        return {k: _given_input(graph, node, f"{key}.{k}", v) for k, v in binding.items()}
    if isinstance(binding, ContextRead) and isinstance(binding.entry, GraphInputSocket):
        return binding.with_entry(_given_input(graph, node, key, binding.entry))
    return binding

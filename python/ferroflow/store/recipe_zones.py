"""The control-flow zones of a recipe (version 3): which task is a zone, which zone each task
is a child of, and the context entries each task writes when it finishes.

A zone (``If``, ``While``, ``Map``, ``Zone``) is a task of the graph whose children are the
tasks created inside its block, so the recipe describes it on the tasks themselves, which are
in creation order (a zone before its children, an inner zone before its own):

``"zone": {"kind": kind}``
    on a zone's task (``if``, ``while``, ``map`` or ``zone``); its inputs (``conditions``,
    ``invert_condition``, ``max_iterations``, a Map's ``source``) are its bindings as for any
    task, and a Map's ``gather`` outputs are ``"gather": {name: binding}``;
``"in": zone``
    on a child: the name of the zone task it belongs to;
``"writes": [[key, [path...]], ...]``
    on a task that writes ``wg.ctx.key = task.outputs...`` (inside a zone, at run time:
    a ``While`` body advancing ``wg.ctx.n``; outside one too, as a run-time context reads
    every writer);
``"refused": why``
    on a task whose zone part cannot be carried (a write into a context that ``wg.ctx =
    ...`` replaced and zone tasks write): the load refuses it naming the task, so the graph
    never runs without it. (A write into a replaced context no zone task writes changes
    nothing a reader sees, so it is not recorded.)

A Map's item (``zone.key`` / ``zone.value``) and a ``wg.ctx`` read are bindings
(:mod:`.recipe_bindings`). :func:`read_zones` checks that every name points where it must (a
child's zone is an earlier zone task, a gathered socket is a task inside its Map), so a
damaged recipe fails on read, naming the run and what is wrong.
"""

from __future__ import annotations

from typing import Any

from ..errors import FerroflowError
from ..model.context_read import RuntimeContext
from ..model.graph import TaskNode
from ..model.zones import zone_link
from .recipe_bindings import BindingWriter, read_binding

__all__ = ["ZONE_KINDS", "read_zone_fields", "read_zones", "zone_fields"]

#: the zone kinds a recipe describes
ZONE_KINDS = ("if", "while", "map", "zone")


def zone_fields(
    node: TaskNode, writer: BindingWriter, runtime: RuntimeContext | None
) -> dict[str, Any]:
    """What the recipe adds to ``node``'s entry for zones: ``zone``, ``in``, ``writes``."""
    link = zone_link(node)
    if link is None:
        return {}
    found: dict[str, Any] = {}
    if link.parent is not None:
        found["in"] = link.parent.node.name
    zone = link.zone
    if zone is not None and zone.node is node:
        found["zone"] = {"kind": zone.kind}
        if zone.kind == "map":
            found["zone"]["gather"] = {
                name: writer.binding(socket) for name, socket in zone.gathers.items()
            }
    # A write into a context that ``wg.ctx = ...`` replaced changes nothing a task reads
    # unless zone tasks write that context too (only then do its reads take written values).
    writes = [w for w in link.writes if w[0] is runtime or w[0].zoned]
    if writes:
        found["writes"] = [[key, list(path)] for _, key, path in writes]
        foreign = [key for written, key, _ in writes if written is not runtime]
        if foreign:
            found["refused"] = (
                f"it writes context entry '{foreign[0]}' of a context that `wg.ctx = ...` "
                f"replaced (or of another graph), which zone tasks write"
            )
    return found


def read_zone_fields(where: str, name: str, task: dict[str, Any]) -> dict[str, Any]:
    """The zone part of one recipe task as ``{"zone": {"kind", "gather"} | None, "in": name
    | None, "writes": [(key, path)], "refused": why | None}`` (all empty before version 3)."""
    here = f"{where}, task {name!r}"
    zone = task.get("zone")
    read: dict[str, Any] | None = None
    if zone is not None:
        if not isinstance(zone, dict) or zone.get("kind") not in ZONE_KINDS:
            raise FerroflowError(
                f"{here}: not a zone (kind one of {', '.join(ZONE_KINDS)}): {zone!r}"
            )
        gather = zone.get("gather", {})
        if not isinstance(gather, dict) or (gather and zone["kind"] != "map"):
            raise FerroflowError(f"{here}: not the gathered outputs of a Map zone: {gather!r}")
        read = {
            "kind": zone["kind"],
            "gather": {
                str(key): read_binding(f"{here}, gather {key!r}", b) for key, b in gather.items()
            },
        }
    parent = task.get("in")
    if parent is not None and not isinstance(parent, str):
        raise FerroflowError(f"{here}: its zone is not a task name: {parent!r}")
    writes = task.get("writes", [])
    if not isinstance(writes, list) or not all(
        isinstance(w, list)
        and len(w) == 2
        and isinstance(w[0], str)
        and isinstance(w[1], list)
        and all(isinstance(p, str) for p in w[1])
        for w in writes
    ):
        raise FerroflowError(f"{here}: not a list of context writes [key, [path...]]: {writes!r}")
    refused = task.get("refused")
    return {
        "zone": read,
        "in": parent,
        "writes": [(key, tuple(path)) for key, path in writes],
        "refused": None if refused is None else str(refused),
    }


def _items(binding: Any) -> list[str]:
    """The Map zones whose item ``binding`` reads."""
    if isinstance(binding, dict):
        return [zone for item in binding.values() for zone in _items(item)]
    if binding[0] == "item":
        return [binding[1]]
    if binding[0] == "ctx":
        return [zone for item in binding[2] for zone in _items(item)]
    return []


def _links(binding: Any) -> list[str]:
    """The tasks whose outputs ``binding`` reads."""
    if isinstance(binding, dict):
        return [task for item in binding.values() for task in _links(item)]
    if binding[0] == "link":
        return [binding[1]]
    if binding[0] == "ctx":
        return [task for item in binding[2] for task in _links(item)]
    return []


def read_zones(where: str, tasks: list[dict[str, Any]]) -> None:
    """Check the zone part of recipe ``tasks`` as a whole (each read by
    :func:`read_zone_fields`): a child's zone is an earlier zone task, a Map item is read
    inside its Map, a gathered socket is a task inside the Map."""
    zones: dict[str, dict[str, Any]] = {}
    parents: dict[str, str | None] = {}
    for task in tasks:
        name = task["name"]
        here = f"{where}, task {name!r}"
        parent = task["in"]
        if parent is not None and parent not in zones:
            raise FerroflowError(
                f"{here}: its zone '{parent}' is not a zone task made before it in the recipe"
            )
        parents[name] = parent
        for key, binding in task["inputs"].items():
            for zone in _items(binding):
                if zones.get(zone, {}).get("kind") != "map" or not _within(parents, name, zone):
                    raise FerroflowError(
                        f"{here}, input {key!r}: it reads the item of '{zone}', which is not a "
                        f"Map zone it is inside"
                    )
        if task["zone"] is not None:
            zones[name] = task["zone"]
    for zone_name, described in zones.items():
        for key, binding in described["gather"].items():
            for used in _links(binding):
                if used not in parents or not _within(parents, used, zone_name):
                    raise FerroflowError(
                        f"{where}, Map zone {zone_name!r}, gather {key!r}: task '{used}' is not "
                        f"inside the zone"
                    )


def _within(parents: dict[str, str | None], task: str, zone: str) -> bool:
    """Whether ``task`` is inside ``zone`` (its child, or a child of a zone inside it)."""
    seen = 0
    found = parents.get(task)
    while found is not None and seen <= len(parents):
        if found == zone:
            return True
        found, seen = parents.get(found), seen + 1
    return False

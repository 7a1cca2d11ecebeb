"""Run by the aiida venv's python (never by pytest): reads an AiiDA profile through AiiDA's own
query API and prints what tests/export/test_aiida_archive.py compares, as JSON.

``python aiida_probe.py dump UUID...`` prints every node of the profile reachable from the
given ones: ``nodes`` (uuid -> class, process state, exit status, label, value) and ``links``
(``[src, dst, type, label]``). ``python aiida_probe.py make`` runs a small workfunction that
calls a calcfunction in the profile and prints the workfunction's uuid.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from aiida import load_profile, orm
from aiida.engine import calcfunction, workfunction


def value_of(node: orm.Node) -> Any:
    if isinstance(node, (orm.Int, orm.Float, orm.Str, orm.Bool)):
        return node.value
    if isinstance(node, orm.Dict):
        return node.get_dict()
    if isinstance(node, orm.List):
        return node.get_list()
    if type(node) is orm.ArrayData:
        return {name: node.get_array(name).tolist() for name in node.get_arraynames()}
    return None


def dump(uuids: list[str]) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    links: list[list[str]] = []
    todo = list(uuids)
    while todo:
        uuid = todo.pop()
        if uuid in nodes:
            continue
        node = orm.load_node(uuid)
        info: dict[str, Any] = {"class": type(node).__name__, "label": node.label}
        if isinstance(node, orm.ProcessNode):
            info["process_state"] = node.process_state.value if node.process_state else None
            info["exit_status"] = node.exit_status
            info["process_type"] = node.process_type
        else:
            info["value"] = value_of(node)
        nodes[uuid] = info
        for triple in node.base.links.get_incoming().all():
            links.append([triple.node.uuid, uuid, triple.link_type.value, triple.link_label])
            todo.append(triple.node.uuid)
        for triple in node.base.links.get_outgoing().all():
            todo.append(triple.node.uuid)
    return {"nodes": nodes, "links": sorted(links)}


@calcfunction
def add(x: orm.Int, y: orm.Int) -> orm.Int:
    return orm.Int(x.value + y.value)


@calcfunction
def describe(x: orm.Int) -> dict[str, Any]:
    return {"doubled": orm.List([x.value, x.value]), "info": orm.Dict({"x": x.value})}


@workfunction
def add_twice(x: orm.Int, y: orm.Int) -> orm.Int:
    first = add(x, y)
    describe(first)
    return add(first, y)


def main() -> None:
    load_profile()
    if sys.argv[1] == "dump":
        print(json.dumps(dump(sys.argv[2:])))
    elif sys.argv[1] == "make":
        _, node = add_twice.run_get_node(orm.Int(2), orm.Int(3))
        print(json.dumps({"uuid": node.uuid}))


if __name__ == "__main__":
    main()

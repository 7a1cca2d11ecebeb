"""Count what aiida-workgraph 0.9 stores for ``tests/reference/graphs.py``; writes
``tests/reference/workgraph_0.9.json``, which ``tests/api/test_workgraph_provenance.py`` holds
ferroflow to.

Run it in a virtualenv with aiida-workgraph (it brings aiida-core; no broker or daemon needed)::

    python -m venv /tmp/aiida && /tmp/aiida/bin/pip install "aiida-workgraph==0.9.0"
    AIIDA_PATH=/tmp/aiida-home /tmp/aiida/bin/verdi presto --no-broker
    AIIDA_PATH=/tmp/aiida-home /tmp/aiida/bin/python scripts/workgraph_reference.py

Counted per case, over the graph run and every process it called: process nodes by kind
(``work`` / ``calc``), the data nodes they touch, and links by AiiDA link type.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from aiida import load_profile, orm
from aiida_workgraph import If, Map, While, WorkGraph, dynamic, namespace, task
from aiida_workgraph.collection import group

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from reference.graphs import graphs  # noqa: E402


def counts(pk: int) -> dict[str, dict[str, int]]:
    nodes: dict[str, int] = {}
    links: dict[str, int] = {}
    data: set[int] = set()
    seen: set[int] = set()
    todo: list[Any] = [orm.load_node(pk)]
    while todo:
        process = todo.pop()
        if process.pk in seen:
            continue
        seen.add(process.pk)
        kind = "work" if isinstance(process, orm.WorkflowNode) else "calc"
        nodes[kind] = nodes.get(kind, 0) + 1
        for link in process.base.links.get_incoming().all():
            name = link.link_type.value.upper()
            if not name.startswith("CALL"):  # counted once, from the caller
                links[name] = links.get(name, 0) + 1
                data.add(link.node.pk)
        for link in process.base.links.get_outgoing().all():
            name = link.link_type.value.upper()
            links[name] = links.get(name, 0) + 1
            if name.startswith("CALL"):
                todo.append(link.node)
            else:
                data.add(link.node.pk)
    nodes["data"] = len(data)
    return {"nodes": nodes, "links": links}


def main() -> None:
    load_profile()
    found = {}
    for name, (build_and_run, _, _) in graphs(
        task, namespace, dynamic, WorkGraph, {"If": If, "While": While, "Map": Map, "group": group}
    ).items():
        found[name] = counts(build_and_run().pk)
    out = ROOT / "tests" / "reference" / "workgraph_0.9.json"
    out.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

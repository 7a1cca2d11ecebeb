"""ferroflow stores the provenance WorkGraph 0.9 stores for the same graphs.

``tests/reference/graphs.py`` is written once against WorkGraph's API; aiida-workgraph 0.9 ran
it (``scripts/workgraph_reference.py``) and its counts are in
``tests/reference/workgraph_0.9.json``: process nodes by kind, the data nodes they touch, links
by AiiDA type, over the run and every process it called. The one documented difference: WorkGraph
also links each constant a graph body gives a task to the graph run (an ``INPUT_WORK`` link
``tasks__<task>__<input>``); ferroflow links it to the task only.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from ferroflow import (
    If,
    Map,
    While,
    WorkGraph,
    dynamic,
    get_current_profile,
    group,
    namespace,
    task,
)
from ferroflow.model.vocabulary import KIND_CODES, LINK_CODES
from ferroflow.store import graph_read
from reference.graphs import graphs

REFERENCE = json.loads(
    (Path(__file__).resolve().parent.parent / "reference" / "workgraph_0.9.json").read_text()
)
CASES = graphs(
    task, namespace, dynamic, WorkGraph, {"If": If, "While": While, "Map": Map, "group": group}
)


def _counts(run_pk: int) -> dict[str, dict[str, int]]:
    """The counts ``scripts/workgraph_reference.py`` takes, from ferroflow's store."""
    store = get_current_profile().store
    store.flush()
    reader = store._reader
    kinds = {code: str(name) for name, code in KIND_CODES.items()}
    links_by = {code: str(name) for name, code in LINK_CODES.items()}
    processes = {
        row[0]: row[2] for row in graph_read.run_node_rows(reader.query, run_pk, ("calc", "work"))
    }
    nodes: dict[str, int] = {}
    for kind in processes.values():
        nodes[kinds[kind]] = nodes.get(kinds[kind], 0) + 1
    rows = [
        (link.src, link.dst, LINK_CODES[link.type])
        for link in graph_read.links_touching(reader.query, processes)
    ]
    links: dict[str, int] = {}
    data: set[int] = set()
    for src, dst, type_ in rows:
        links[links_by[type_]] = links.get(links_by[type_], 0) + 1
        data.update(pk for pk in (src, dst) if pk not in processes)
    nodes["data"] = len(data)
    return {"nodes": nodes, "links": links}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_graph_stores_what_workgraph_stores(case: str) -> None:
    build_and_run, constants, only_linked = CASES[case]
    wg: Any = build_and_run()
    assert wg.state == "FINISHED"
    expected = json.loads(json.dumps(REFERENCE[case]))
    if constants:
        expected["links"]["INPUT_WORK"] -= constants  # WorkGraph's extra links (module doc)
        expected["links"] = {k: n for k, n in expected["links"].items() if n}
    expected["nodes"]["data"] -= only_linked
    assert _counts(wg.pk) == expected


def test_every_reference_case_is_checked() -> None:
    assert sorted(CASES) == sorted(REFERENCE)

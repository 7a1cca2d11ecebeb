"""Tests of the AiiDA-style provenance picture (DOT source only: no `dot` binary needed)."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from ferroflow.model.data import DataNode, new_uuid
from ferroflow.store import NodeNotFoundError, Store
from ferroflow.views.provenance import build_provenance_graph, data_class_name


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "prov.sqlite", commit_interval=0.05)
    yield s
    s.close()


def process(
    store: Store, kind: str, label: str, run_pk: int | None, state: str = "FINISHED"
) -> int:
    pk = store.new_pk()
    store.record_process(pk, new_uuid(), kind, label, f"tests.{label}", state, time.time(), run_pk)
    return pk


def data(store: Store, value: object) -> int:
    return store.record_data(DataNode(value))


@pytest.fixture
def runs(store: Store) -> dict[str, int]:
    """An earlier run makes `n`; the second run (root) takes `n`, calls a nested graph, returns."""
    g: dict[str, int] = {}
    g["old_run"] = process(store, "work", "make_n", None)
    g["seed"] = data(store, 2)
    g["maker"] = process(store, "calc", "double", g["old_run"])
    store.record_link(g["old_run"], g["maker"], "CALL_CALC", "double")
    store.record_link(g["seed"], g["maker"], "INPUT_CALC", "x")
    g["n"] = data(store, 4)
    store.record_link(g["maker"], g["n"], "CREATE", "result")

    g["root"] = process(store, "work", "ScatterGather", None)
    store.record_link(g["n"], g["root"], "INPUT_WORK", "graph_inputs__n")
    g["gen"] = process(store, "calc", "generate", g["root"])
    store.record_link(g["root"], g["gen"], "CALL_CALC", "generate")
    store.record_link(g["n"], g["gen"], "INPUT_CALC", "n")
    g["arr"] = data(store, np.arange(4.0))
    store.record_link(g["gen"], g["arr"], "CREATE", "numbers")
    g["inner"] = process(store, "work", "ParallelSquare", g["root"])
    store.record_link(g["root"], g["inner"], "CALL_WORK", "ParallelSquare")
    store.record_link(g["arr"], g["inner"], "INPUT_WORK", "data")
    g["sq"] = process(store, "calc", "square", g["root"], state="FAILED")
    store.update_process(g["sq"], "FAILED", time.time(), "Traceback...\nValueError: bad")
    store.record_link(g["inner"], g["sq"], "CALL_CALC", "square")
    store.record_link(g["arr"], g["sq"], "INPUT_CALC", "x")
    g["label"] = data(store, "total")
    store.record_link(g["label"], g["sq"], "INPUT_CALC", "name")
    g["out"] = data(store, 30)
    store.record_link(g["sq"], g["out"], "CREATE", "result")
    store.record_link(g["inner"], g["out"], "RETURN", "squares")
    store.record_link(g["root"], g["out"], "RETURN", "result")
    return g


def node_ids(source: str) -> set[str]:
    return {
        line.split()[0]
        for line in source.splitlines()
        if line.startswith("\tN") and "->" not in line
    }


def test_full_graph_nodes_styles_and_edges(store: Store, runs: dict[str, int]) -> None:
    g = runs
    source = build_provenance_graph(store, g["root"]).source
    expected = {"root", "gen", "inner", "sq", "arr", "out", "n", "label", "maker", "seed"}
    assert node_ids(source) == {f"N{g[k]}" for k in expected}
    assert f"N{g['old_run']}" not in node_ids(source)  # upstream callers are not drawn
    assert f'N{g["n"]} [label="Int ({g["n"]})\\nvalue: 4" fillcolor="#8cd499"' in source
    assert f'label="Str ({g["label"]})\\ntotal"' in source
    assert f'label="Array ({g["arr"]})\\nndarray float64 (4,)"' in source
    assert f'label="generate ({g["gen"]})\\nState: finished" fillcolor="#de707f77"' in source
    assert f'label="ScatterGather ({g["root"]})\\nState: finished" fillcolor="#e38851"' in source
    assert f'label="square ({g["sq"]})\\nState: failed\\nError: ValueError: bad"' in source
    edges = {
        (g["n"], g["root"], "INPUT_WORK\\ngraph_inputs__n", "dashed"),
        (g["root"], g["gen"], "CALL_CALC\\ngenerate", "dotted"),
        (g["root"], g["inner"], "CALL_WORK\\nParallelSquare", "dotted"),
        (g["gen"], g["arr"], "CREATE\\nnumbers", "solid"),
        (g["arr"], g["sq"], "INPUT_CALC\\nx", "solid"),
        (g["inner"], g["out"], "RETURN\\nsquares", "dashed"),
        (g["root"], g["out"], "RETURN\\nresult", "dashed"),
        (g["maker"], g["n"], "CREATE\\nresult", "solid"),
        (g["seed"], g["maker"], "INPUT_CALC\\nx", "solid"),
    }
    for src, dst, label, style in edges:
        assert f'N{src} -> N{dst} [label="{label}" color=black style={style}]' in source
    assert source.count("->") == 14
    assert source.count("shape=ellipse") == 5
    assert source.count("shape=rectangle") == 5


def test_depth_limits(store: Store, runs: dict[str, int]) -> None:
    g = runs
    shallow = build_provenance_graph(store, g["root"], ancestor_depth=0, descendant_depth=1).source
    ids = node_ids(shallow)
    # one hop down: gen, inner and the returned `out`; plus the inputs of the drawn processes
    assert ids == {f"N{g[k]}" for k in ("root", "gen", "inner", "out", "n", "arr")}
    assert f"N{g['maker']}" not in ids and f"N{g['sq']}" not in ids
    one_up = node_ids(build_provenance_graph(store, g["root"], ancestor_depth=1).source)
    assert {f"N{g['maker']}", f"N{g['seed']}"} <= one_up


def test_graph_of_a_data_node_shows_its_history(store: Store, runs: dict[str, int]) -> None:
    g = runs
    ids = node_ids(build_provenance_graph(store, g["n"]).source)
    assert ids == {f"N{g['n']}", f"N{g['maker']}", f"N{g['seed']}"}


def test_labels_are_escaped(store: Store) -> None:
    run = process(store, "work", "wg", None)
    tricky = data(store, 'back\\slash "quoted"\nline')
    store.record_link(tricky, run, "INPUT_WORK", "x")
    source = build_provenance_graph(store, run).source
    assert 'back\\\\slash \\"quoted\\"\\nline' in source


def test_unknown_root(store: Store) -> None:
    with pytest.raises(NodeNotFoundError):
        build_provenance_graph(store, 12345)


def test_missing_graphviz_package(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    run = process(store, "work", "wg", None)
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(ImportError, match=r"pip install 'ferroflow\[viz\]'"):
        build_provenance_graph(store, run)


def test_data_class_names() -> None:
    assert data_class_name("int") == "Int"
    assert data_class_name("numpy.ndarray") == "Array"
    assert data_class_name("mypkg.models.Point") == "Point"


def test_renders_svg_with_dot(store: Store, runs: dict[str, int]) -> None:
    # scripts/test.sh installs Graphviz, so a missing `dot` fails here instead of skipping
    assert shutil.which("dot") is not None, "Graphviz 'dot' is needed (apt-get install graphviz)"
    svg = build_provenance_graph(store, runs["root"]).pipe(format="svg")
    assert svg.startswith(b"<?xml") and b"ScatterGather" in svg

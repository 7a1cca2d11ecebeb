"""Names, labels, types and values cannot inject DOT attributes or nodes, Mermaid statements or
HTML markup into a picture or page, whether they come from a workflow in memory or from an
imported hostile file (issue 17, "Security": a quote in a task name injected DOT attributes)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import graphviz
from ferroflow import load_profile, task
from ferroflow.export import export_run
from ferroflow.views.escaping import dot_text, mermaid_text
from provenance_flows import hostile_run

NAME = 'q"] [color=red]; x -> y [label="\\ %% evil\n]{<script>alert(1)-->|p|`t` &amp;\u2028z\\'
VALUE = NAME + "</script><!--"


@task(name=NAME)
def echo(text: str) -> str:
    return text


@task.graph(name=NAME + "G")
def Hostile(text: str) -> str:
    return echo(text=text).result


def _dot_counts(source: str) -> tuple[int, int]:
    """(nodes, edges) of DOT text as Graphviz parses it (fails on a syntax error)."""
    layout = json.loads(graphviz.Source(source).pipe(format="json0"))
    nodes = [o for o in layout.get("objects", []) if "nodes" not in o]
    return len(nodes), len(layout.get("edges", []))


def test_dot_text_and_mermaid_text_keep_text_inert() -> None:
    text = dot_text(NAME)
    assert re.search(r'(?<!\\)(\\\\)*"', text) is None  # every quote escaped
    assert "\n" not in text and "\u2028" not in text and not text.endswith("\\\\\\")
    label = mermaid_text(VALUE).replace("<br/>", "")
    assert not set('"<>|`%\n\u2028') & set(label)
    assert mermaid_text("a\nb").count("<br/>") == 1


def test_workgraph_pictures_escape_task_names_and_values() -> None:
    wg = Hostile.build(VALUE)
    dot = wg.to_dot()
    assert _dot_counts(dot) == (1, 0)  # one task, nothing injected
    assert "color=red" not in re.sub(r'"(\\.|[^"\\])*"', '""', dot)  # only inside strings
    wg.run()
    assert wg.outputs.result.value == VALUE
    assert _dot_counts(wg.to_dot()) == (1, 0)
    svg = wg._repr_svg_()
    assert svg is not None and "<script" not in svg and "&lt;script&gt;" in svg
    page = wg.to_html()
    assert page.count("<script") == 2  # the page's data block and its own script
    assert (
        "</script><!--"
        not in page.split('<script type="application/json"', 1)[1].split("</script>", 1)[0]
    )


def _run_of_hostile_names() -> tuple[Any, int, int, int]:
    wg = Hostile.build(VALUE)
    wg.run()
    store = load_profile().store
    assert wg.pk is not None
    buf = io.StringIO()
    counts = export_run(store, wg.pk, "mermaid", buf)
    return store, wg.pk, counts["nodes"], counts["links"]


def test_stored_run_pictures_escape_names_labels_and_values(tmp_path: Path) -> None:
    store, run_pk, n_nodes, n_links = _run_of_hostile_names()
    dot = tmp_path / "run.dot"
    export_run(store, run_pk, "dot", dot)
    assert _dot_counts(dot.read_text()) == (n_nodes, n_links)
    svg = tmp_path / "run.svg"
    export_run(store, run_pk, "svg", svg)
    text = svg.read_text()
    assert "<script" not in text and "&lt;script&gt;" in text

    buf = io.StringIO()
    export_run(store, run_pk, "mermaid", buf)
    lines = buf.getvalue().splitlines()
    node = re.compile(r'    N\d+(\(\["[^"|]*"\]\)|\["[^"|]*"\]):::(data|calc|work)')
    edge = re.compile(r'    N\d+ (-->|-\.->)\|"[^"|]*"\| N\d+')
    assert sum(bool(node.fullmatch(line)) for line in lines) == n_nodes
    assert sum(bool(edge.fullmatch(line)) for line in lines) == n_links
    assert len(lines) == 1 + 3 + n_nodes + n_links  # header, classes, nothing else


def test_stored_pictures_of_hostile_imported_types_escape_them(tmp_path: Path) -> None:
    victim = load_profile("victim").store
    hostile = '<b>x"] [shape=star]\n%%'
    run_pk = hostile_run(victim, tmp_path, hostile + ">", hostile + ">")
    buf = io.StringIO()
    counts = export_run(victim, run_pk, "mermaid", buf)
    dot = io.StringIO()
    export_run(victim, run_pk, "dot", dot)
    assert _dot_counts(dot.getvalue()) == (counts["nodes"], counts["links"])
    assert "shape=star" not in re.sub(r'"(\\.|[^"\\])*"', '""', dot.getvalue())
    assert "label=<" not in dot.getvalue()  # never an HTML-like label

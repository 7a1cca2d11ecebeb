"""Every picture is bounded: repeated tasks of one graph run fold into one box, failed tasks and
the tasks behind the outputs stay drawn, the picture says what it grouped, and ``max_tasks``
chooses the bound (issue 18). The million-task run is in tests/cli/test_cli_big_pictures.py."""

from __future__ import annotations

import io
import re
import subprocess
import typing as t
import xml.etree.ElementTree as ET

import pytest
from ferroflow import load_profile, namespace, task
from ferroflow.export import export_run
from ferroflow.export.dot import node_graph, run_graph
from ferroflow.views.grouping import choose, per_group
from ferroflow.workgraph import WorkGraph

N = 2030  # + the failing task: the 2,031-task run of the issue


@task
def noop(x: int, n: int) -> int:
    return x


@task
def fails(x: int) -> int:
    raise ValueError("broken on purpose")


@task.graph
def Wide(n: int) -> t.Annotated[dict, namespace(picked=int, failed=int)]:  # type: ignore[type-arg]
    results = [noop(x=i, n=n).result for i in range(n)]
    return {"picked": results[n // 2], "failed": fails(x=n).result}


@task.graph
def Inner(n: int, broken: bool) -> t.Annotated[dict, namespace(picked=int, failed=int)]:  # type: ignore[type-arg]
    results = [noop(x=i, n=n).result for i in range(n)]
    if broken:
        return {"picked": results[0], "failed": fails(x=results[1]).result}
    return {"picked": results[0], "failed": results[1]}


@task.graph
def Outer(n: int, broken: bool = True) -> int:
    return noop(x=Inner(n=n, broken=broken).picked, n=n).result


EDGE = re.compile(r"\s+\w+ (-->|-\.->|-\.-)[ |]")


def nodes_of(dot: str) -> list[str]:
    """Node statements of DOT text (``id [label=...``), clusters' invisible anchors left out."""
    return [
        line
        for line in dot.splitlines()
        if re.match(r'\s*"?\w+"? \[', line) and "style=invis" not in line and "->" not in line
    ]


def svg_size(svg: bytes | str) -> tuple[float, float]:
    root = ET.fromstring(svg)
    return float(root.get("width", "0").rstrip("pt")), float(root.get("height", "0").rstrip("pt"))


@pytest.fixture(scope="module")
def wide() -> WorkGraph:
    wg = Wide.build(N)
    wg.run(raise_on_error=False)
    assert len(wg.all_tasks()) == N + 1
    return wg


def test_the_rule_opens_small_groups_and_boxes_big_ones() -> None:
    assert per_group(200) == 25 and per_group(3) == 1
    assert choose([3, 2000, 1], 200, 200) == [True, False, True]
    assert choose([30, 30], 200, 200) == [False, False]  # over an eighth of the room each
    assert choose([30, 30], 1000, 1000) == [True, True]
    assert choose([5, 5], 6, 200) == [True, False]  # the room is shared: 5 + 1 box


def test_to_dot_of_a_2031_task_run_is_grouped_with_a_sane_shape(wide: WorkGraph) -> None:
    dot = wide.to_dot()
    boxes = nodes_of(dot)
    assert len(boxes) <= 200
    assert "noop × 2,029" in dot and "finished: 2,029" in dot
    assert re.search(r'label="fails\\nFAILED"', dot)  # the failure, on its own
    assert re.search(rf'label="noop{N // 2}\\nFINISHED"', dot)  # what the output came from
    assert "Grouped: 1 box stands for 2,029" in dot
    assert "1 failed task, 1 task behind the outputs" in dot
    svg = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=True)
    width, height = svg_size(svg.stdout)
    assert max(width / height, height / width) < 5, (width, height)  # was 147 × 32,766 px
    page = wide._repr_svg_()
    assert page is not None and "noop × 2,029" in page


def test_max_tasks_chooses_the_bound() -> None:
    wg = Wide.build(30)
    wg.run(raise_on_error=False)
    assert "Grouped" in wg.to_dot()  # 30 repeated tasks: over an eighth of 200
    every = wg.to_dot(max_tasks=1000)
    assert "Grouped" not in every and "×" not in every
    assert len(nodes_of(every)) == 31
    tight = wg.to_dot(max_tasks=2)
    assert "noop × 29" in tight and re.search(r'label="fails\\nFAILED"', tight)


def test_a_finished_graph_task_is_drawn_once() -> None:
    wg = Outer.build(3)
    wg.run(raise_on_error=False)
    dot = wg.to_dot()
    assert dot.count("Inner") == 1  # its cluster's label; no box beside it
    assert 'label="Inner (FAILED)"' in dot
    assert re.search(r'-> "t\d+" \[lhead="cluster_t\d+"\]|\[ltail="cluster_t\d+"\]', dot)


def test_a_failed_task_inside_a_grouped_nested_graph_is_drawn() -> None:
    wg = Outer.build(500)
    wg.run(raise_on_error=False)
    dot = wg.to_dot()
    assert re.search(r'label="fails\\nFAILED"', dot) and "noop × 499" in dot
    store = load_profile().store
    assert wg.pk is not None
    picture = run_graph(store, wg.pk).source
    assert len(re.findall(r'label="fails \(\d+\)\\nState: failed', picture)) == 1
    assert "noop × 500" in picture and "finished: 500" in picture  # a failed graph returns none
    assert "Inner (" in picture  # the graph run between the root and the failure


def test_the_tasks_behind_a_nested_graphs_outputs_are_drawn() -> None:
    wg = Outer.build(500, broken=False)
    wg.run()
    assert wg.pk is not None
    in_memory = wg.to_dot()
    assert "noop × 498" in in_memory  # noop and noop1 make Inner's outputs
    assert re.search(r'label="noop1\\nFINISHED"', in_memory)
    assert "3 tasks behind the outputs" in in_memory
    picture = run_graph(load_profile().store, wg.pk).source
    assert "noop × 498" in picture and "3 tasks behind the outputs" in picture
    assert re.search(r'label="noop1 \(\d+\)\\nState: finished', picture)


def test_stored_pictures_of_a_2031_task_run(wide: WorkGraph) -> None:
    store = wide.snapshot().store
    assert wide.pk is not None and store is not None
    dot = run_graph(store, wide.pk).source
    assert "noop × 2,029" in dot and "State: failed" in dot
    assert len(nodes_of(dot)) < 40  # the root, its input, 2 tasks with their values, 1 box
    assert "Grouped: 1 box stands for 2,029 repeated tasks" in dot
    shown = wide.generate_provenance_graph(max_tasks=20_000).source
    assert "×" not in shown and shown.count("State: finished") == N
    buf = io.StringIO()
    counts = export_run(store, wide.pk, "mermaid", buf)
    text = buf.getvalue()
    edges = [line for line in text.splitlines() if EDGE.match(line)]
    assert len(edges) == counts["links"] + counts["groups"] < 500
    assert "noop × 2,029" in text and "caption[" in text
    many = io.StringIO()
    export_run(store, wide.pk, "mermaid", many, max_tasks=5000)  # halved until it fits
    assert 0 < sum(bool(EDGE.match(line)) for line in many.getvalue().splitlines()) < 500
    svg = io.BytesIO()
    export_run(store, wide.pk, "svg", svg, max_tasks=10)
    width, height = svg_size(svg.getvalue())
    assert max(width / height, height / width) < 5, (width, height)


def test_a_value_used_by_thousands_of_tasks_draws_bounded(wide: WorkGraph) -> None:
    store = wide.snapshot().store
    assert wide.pk is not None and store is not None
    [n_pk] = [link.src for link in store.incoming([wide.pk]) if link.label == "n"]
    dot = node_graph(store, n_pk, max_tasks=20).source
    assert 20 < len(nodes_of(dot)) <= 61 and "Stopped at 60 nodes" in dot

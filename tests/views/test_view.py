"""Views: the Jupyter picture's states and counts, and the interactive HTML page
(``wg.to_html``, ``ferroflow view``), checked as data and in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import typing as t
from pathlib import Path
from typing import Any
from urllib.parse import quote

import ferroflow.views.html as html_view
import ferroflow.views.page_data as page_data
import ferroflow.views.palette as palette
import pytest
from browser import Browser, Element, dump_dom, parse_html
from ferroflow import dynamic, load_profile, namespace, task
from ferroflow.demo import ScatterGatherSquare
from ferroflow.export.view import run_page
from ferroflow.model.vocabulary import STATE_CODES
from ferroflow.views.counts import STATE_ORDER
from ferroflow.views.html import MAX_PORTS, SUMMARY_CHARS, Page, page_html, share, summarise
from ferroflow.views.live_page import workgraph_page
from provenance_flows import ARRAY_N, Mixed, Poisoned, run_howto

SCRIPT = Path(sys.executable).parent / "ferroflow"
SG = "ScatterGatherSquare"


def embedded(page: str) -> dict[str, Any]:
    """The JSON a page carries."""
    match = re.search(r'<script type="application/json" id="ff-data">(.*?)</script>', page, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def by_path(data: Page | dict[str, Any]) -> dict[str, Any]:
    return {entry["path"]: entry for entry in data["tasks"]}


def comparable(data: Page) -> dict[str, Any]:
    """What a live and a stored page must agree on (ids replaced by paths)."""
    paths = [entry["path"] for entry in data["tasks"]]

    def ports(entries: list[Any]) -> list[tuple[Any, ...]]:
        return [
            (
                p["label"],
                p["value"],
                p["type"],
                p["pk"],
                None if p["source"] is None else paths[p["source"]],
            )
            for p in entries
        ]

    return {
        "tasks": {
            e["path"]: (
                e["state"],
                e["graph"],
                e["pk"],
                e["uuid"],
                ports(e["inputs"]),
                ports(e["outputs"]),
            )
            for e in data["tasks"]
        },
        "edges": sorted((paths[a], paths[b]) for a, b in data["edges"]),
        "counts": data["counts"],
        "expanded": sorted(paths[i] for i in data["expanded"]),
    }


@task
def square(x: int) -> int:
    return x * x


@task
def fails(x: int) -> int:
    raise RuntimeError(f"cannot take {x}")


@task
def gather(data: t.Annotated[dict, dynamic(int)]) -> int:  # type: ignore[type-arg]
    return sum(data.values())


@task.graph
def Scatter(n: int) -> t.Annotated[dict, namespace(squares=dynamic(int))]:  # type: ignore[type-arg]
    return {"squares": {f"s{i}": square(x=i).result for i in range(n)}}


@task.graph
def Broken(n: int) -> int:
    return square(x=fails(x=n).result).result


@task.graph
def Lopsided(big: int, small: int) -> int:
    Scatter(n=small)
    return gather(data=Scatter(n=big).squares).result


# -- the Jupyter picture ---------------------------------------------------------------------------
def test_jupyter_picture_shows_states_and_counts() -> None:
    wg = Broken.build(2)
    assert 'label="Broken (PLANNED)\\nplanned: 2"' in wg.to_dot()
    wg.run(raise_on_error=False)
    dot = wg.to_dot()
    assert 'label="Broken (FAILED)\\nfailed: 1, skipped: 1"' in dot
    assert re.search(r'label="fails\\nFAILED", fillcolor="#de707f"', dot)
    assert re.search(r'label="square\\nSKIPPED", fillcolor="#bbbbbb"', dot)
    svg = wg._repr_svg_()
    assert svg is not None and "failed: 1, skipped: 1" in svg  # the title, drawn by dot
    page = wg._repr_html_()
    assert "failed: 1</span>, <span" in page and "skipped: 1" in page
    assert "#de707f" in page  # counts carry their state's colour

    nested = Lopsided.build(3, 1)
    nested.run()
    dot = nested.to_dot()
    assert 'label="Lopsided (FINISHED)\\nfinished: 7"' in dot
    assert dot.count('style=dashed; color="#8cd499"') == 2  # clusters outlined by state


def test_jupyter_picture_of_a_big_graph_is_grouped_not_refused() -> None:
    wg = Lopsided.build(60, 1)
    wg.run()
    assert "square × 52" in wg.to_dot()  # 8 behind the outputs drawn, 52 in one box
    page = wg._repr_html_()
    assert "<svg" in page and "square × 52" in page and "Grouped: 1 box" in page
    assert "<pre>" not in page


# -- the page's data -------------------------------------------------------------------------------
def test_live_and_stored_pages_agree() -> None:
    wg = ScatterGatherSquare.build(4)
    wg.run()
    assert wg.pk is not None
    live, stored = workgraph_page(wg.snapshot()), run_page(load_profile().store, wg.pk)
    assert comparable(live) == comparable(stored)
    tasks = by_path(live)
    assert list(tasks) == [
        SG,
        f"{SG}/generate_numbers",
        f"{SG}/ParallelSquare",
        f"{SG}/gather_and_sum",
        *(f"{SG}/ParallelSquare/square{i or ''}" for i in range(4)),
    ]
    assert live["counts"] == {"FINISHED": 7} and live["total"] == live["shown"] == 7
    # edges join siblings: generate -> ParallelSquare -> gather (no edge into the nested tasks)
    assert comparable(live)["edges"] == [
        (f"{SG}/ParallelSquare", f"{SG}/gather_and_sum"),
        (f"{SG}/generate_numbers", f"{SG}/ParallelSquare"),
    ]
    gather_inputs = comparable(live)["tasks"][f"{SG}/gather_and_sum"][4]
    assert [(label, value, source) for label, value, _, _, source in gather_inputs] == [
        (f"data__number_{i}", str(i * i), f"{SG}/ParallelSquare/square{'' if i == 1 else i - 1}")
        for i in range(1, 5)
    ]  # "from" names the task that made the value, even inside a nested graph
    sq = tasks[f"{SG}/ParallelSquare/square2"]
    assert sq["inputs"][0]["value"] == "3" and sq["outputs"][0]["value"] == "9"
    assert sq["duration"] is not None and sq["duration"] >= 0 and sq["start"] > 0
    assert tasks[SG]["outputs"][0]["value"] == "30"
    assert stored["where"].startswith(f"run pk {wg.pk} in ")


def test_page_before_a_run_shows_the_plan() -> None:
    data = workgraph_page(ScatterGatherSquare.build(2).snapshot())
    assert data["state"] == "PLANNED" and data["counts"] == {"PLANNED": 3}
    tasks = by_path(data)
    assert tasks[f"{SG}/ParallelSquare"]["children"] == []
    (inp,) = tasks[f"{SG}/ParallelSquare"]["inputs"]
    assert inp["value"] is None and inp["socket"] == "generate_numbers.data"
    assert data["tasks"][inp["source"]]["name"] == "generate_numbers"
    assert tasks[SG]["outputs"][0]["socket"] == "gather_and_sum.result"
    assert data["where"] == "WorkGraph in memory, not run yet"


def test_failed_runs_show_errors_and_what_was_skipped() -> None:
    wg = Broken.build(5)
    wg.run(raise_on_error=False)
    assert wg.pk is not None
    live, stored = workgraph_page(wg.snapshot()), run_page(load_profile().store, wg.pk)
    failed = by_path(live)["Broken/fails"]
    assert failed["state"] == "FAILED" and "RuntimeError: cannot take 5" in failed["error"]
    assert by_path(live)["Broken/square"]["state"] == "SKIPPED"
    assert by_path(live)["Broken/square"]["inputs"][0]["socket"] == "fails.result"
    # the store keeps no node for skipped tasks (as AiiDA), but lists them beside the nodes
    assert "RuntimeError: cannot take 5" in by_path(stored)["Broken/fails"]["error"]
    skipped = by_path(stored)["Broken/square"]
    assert skipped["state"] == "SKIPPED" and skipped["pk"] is None
    assert [stored["tasks"][a]["path"] for a, b in stored["edges"]] == ["Broken/fails"]
    assert stored["counts"] == live["counts"] == {"FAILED": 1, "SKIPPED": 1}
    assert [stored["tasks"][i]["path"] for i in stored["failures"]] == ["Broken/fails"]


def test_values_are_summaries_and_stored_pickles_are_never_loaded(tmp_path: Path) -> None:
    assert (
        summarise(list(range(10**6))).endswith("...]")
        and len(summarise("x" * 500)) == SUMMARY_CHARS
    )

    class Broken:
        def __repr__(self) -> str:
            raise ValueError("no")

    assert summarise(Broken()).startswith("<Broken instance at 0x")  # a broken repr is named
    wg = Mixed.build(ARRAY_N)
    wg.run(raise_on_error=False)
    assert wg.pk is not None
    for data in (workgraph_page(wg.snapshot()), run_page(load_profile().store, wg.pk)):
        made = {p["label"]: p for p in by_path(data)["Mixed/make"]["outputs"]}
        assert made["array"]["value"] == "ndarray float64 (3,)"
        assert len(made["big"]["value"]) <= SUMMARY_CHARS and made["big"]["type"] == "list"
        assert made["text"]["value"] == 'say "hi" <b>#1'
    stored = by_path(run_page(load_profile().store, wg.pk))["Mixed/make"]["outputs"]
    point = next(p for p in stored if p["label"] == "point")
    assert re.fullmatch(r"provenance_flows\.Point \(pickle, \d+ bytes\)", point["value"])
    marker = tmp_path / "unpickled"
    evil = Poisoned.build(str(marker))
    evil.run()
    assert evil.pk is not None
    run_page(load_profile().store, evil.pk)
    assert not marker.exists()


def test_big_runs_are_cut_fairly_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    assert share(10, [30, 2, 4]) == [4, 2, 4] and share(3, [5, 5]) == [1, 2]
    assert share(0, [3]) == [0] and share(100, [3, 4]) == [3, 4]
    wg = Lopsided.build(MAX_PORTS + 10, 2)
    wg.run()
    assert wg.pk is not None
    for data in (
        workgraph_page(wg.snapshot(), max_tasks=12),
        run_page(load_profile().store, wg.pk, 12),
    ):
        tasks = by_path(data)
        assert data["shown"] == 12 and data["total"] == 3 + 2 + MAX_PORTS + 10
        assert len(tasks["Lopsided/Scatter"]["children"]) == 2  # the small graph is whole
        big = tasks["Lopsided/Scatter1"]
        assert len(big["children"]) == 7 and big["hidden"] == MAX_PORTS + 3
        left = MAX_PORTS + 3
        assert any(
            f"Left out {left} of {left + 12} tasks (finished: {left})" in note
            for note in data["notes"]
        )
    for data in (workgraph_page(wg.snapshot()), run_page(load_profile().store, wg.pk)):
        summed = by_path(data)["Lopsided/gather"]
        assert len(summed["inputs"]) == MAX_PORTS and summed["more_inputs"] == 10
        assert len(by_path(data)["Lopsided/Scatter1"]["outputs"]) == MAX_PORTS
    # nested graphs start open only while few tasks show
    assert len(workgraph_page(wg.snapshot())["expanded"]) == 2
    monkeypatch.setattr(page_data, "EXPAND_LIMIT", 10)
    data = workgraph_page(wg.snapshot())
    assert [data["tasks"][i]["name"] for i in data["expanded"]] == ["Scatter"]


def test_page_is_self_contained_and_data_cannot_escape(tmp_path: Path) -> None:
    @task
    def shout(text: str) -> str:
        return "<img src=x onerror=window.pwned=2>&amp;<!--"

    @task.graph
    def Loud(text: str) -> str:
        return shout(text=text).result

    wg = Loud.build("</script><script>window.pwned=1</script>")
    wg.run()
    path = tmp_path / "loud.html"
    page = wg.to_html(path)
    assert path.read_text(encoding="utf-8") == page
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|@import|<link""", page)
    shout_entry = embedded(page)["tasks"][1]
    assert shout_entry["inputs"][0]["value"] == "</script><script>window.pwned=1</script>"
    dom = parse_html(dump_dom(path.as_uri() + "#select=" + quote("Loud/shout", safe="")))
    assert sum(1 for el in dom.iter() if el.tag == "script") == 2
    panel = dom.find(id="ff-panel")
    assert panel is not None and "<script>window.pwned=1</script>" in panel.text
    assert "<img src=x onerror=window.pwned=2>&amp;<!--" in panel.text
    assert not any(el.tag == "img" for el in dom.iter())


# -- colours ---------------------------------------------------------------------------------------
def test_the_page_takes_every_colour_from_the_palette() -> None:
    assets = Path(html_view.__file__).parent / "assets"
    css, js = (assets / "view.css").read_text(), (assets / "view.js").read_text()
    literal = re.compile(r"#[0-9a-fA-F]{3,8}\b|\b(?:rgb|hsl)a?\(")
    assert literal.findall(css) == [] and literal.findall(js) == []
    named = set(re.findall(r"var\(--ff-([\w-]+)\)", css))
    assert named and named <= set(palette.PAGE_COLOURS), named - set(palette.PAGE_COLOURS)
    page = page_html(workgraph_page(ScatterGatherSquare.build(2).snapshot()))
    assert palette.css_variables() in page
    assert embedded(page)["colours"] == palette.STATE_COLOURS


def test_every_state_has_a_colour_and_a_place_in_the_counts() -> None:
    """A state added to the vocabulary must be drawn and counted, not fall back to planned."""
    assert set(palette.STATE_COLOURS) == set(STATE_CODES)
    assert sorted(STATE_ORDER) == sorted(STATE_CODES)


# -- in the browser --------------------------------------------------------------------------------
def drawn(dom: Element) -> dict[str, str]:
    """Task path -> class of its SVG group, for every task drawn."""
    svg = dom.find(id="ff-svg")
    assert svg is not None
    return {
        el.attrs["data-path"]: el.attrs["class"] for el in svg.iter() if "data-path" in el.attrs
    }


def rows(panel: Element, direction: str) -> list[list[str]]:
    table = next(el for el in panel.iter() if el.attrs.get("class") == f"ff-ports ff-{direction}")
    return [
        [td.text for td in tr.children]
        for tr in table.iter()
        if tr.tag == "tr" and "data-label" in tr.attrs
    ]


def test_page_draws_every_task_and_opens_on_the_fragment(tmp_path: Path) -> None:
    wg = ScatterGatherSquare.build(4)
    wg.run()
    path = tmp_path / "run.html"
    wg.to_html(path)
    dom = parse_html(dump_dom(path.as_uri()))
    assert drawn(dom) == {
        f"{SG}/generate_numbers": "ff-node",
        f"{SG}/ParallelSquare": "ff-cluster",
        f"{SG}/gather_and_sum": "ff-node",
        **{f"{SG}/ParallelSquare/square{i or ''}": "ff-node" for i in range(4)},
    }
    svg = dom.find(id="ff-svg")
    assert svg is not None
    assert sum(1 for el in svg.iter() if el.attrs.get("class") == "ff-edge") == 2
    panel = dom.find(id="ff-panel")
    assert panel is not None and panel.attrs["data-selected"] == SG  # nothing selected: the run
    header = dom.find(id="ff-counts")
    assert header is not None and "finished 7" in header.text

    target = f"{SG}/ParallelSquare/square2"
    dom = parse_html(dump_dom(f"{path.as_uri()}#select={quote(target, safe='')}"))
    panel = dom.find(id="ff-panel")
    assert panel is not None and panel.attrs["data-selected"] == target
    assert "finished" in panel.text and "ferroflow.demo.square" in panel.text
    node = wg.tasks["ParallelSquare"].tasks["square2"]
    x_pk, result_pk = node.inputs["x"].value.pk, node.outputs["result"].value.pk
    assert rows(panel, "inputs") == [["x", "3", "int", str(x_pk), "generate_numbers"]]
    assert rows(panel, "outputs") == [["result", "9", "int", str(result_pk), ""]]
    selected = [p for p, cls in drawn(dom).items() if "ff-selected" in cls]
    assert selected == [target]


def scale(transform: str) -> float:
    """The zoom factor of the viewport's ``translate(…) scale(k)``."""
    found = re.search(r"scale\(([\d.e-]+)\)", transform)
    assert found is not None, transform
    return float(found.group(1))


def test_clicks_wheel_and_drag_in_a_real_browser(tmp_path: Path) -> None:
    pk = run_howto(4)
    path = tmp_path / "stored.html"
    path.write_text(page_html(run_page(load_profile().store, pk)), encoding="utf-8")
    transform = "document.getElementById('ff-viewport').getAttribute('transform')"
    selected = "document.getElementById('ff-panel').getAttribute('data-selected')"
    nodes = "document.querySelectorAll('#ff-svg .ff-node').length"
    with Browser() as browser:
        browser.open(path.as_uri())
        assert browser.evaluate(nodes) == 6
        fitted = browser.evaluate(transform)
        # a click on a task shows its inputs and outputs, and names it in the URL
        browser.click(*browser.centre(f'[data-path="{SG}/gather_and_sum"]'))
        assert browser.evaluate(selected) == f"{SG}/gather_and_sum"
        assert browser.evaluate("location.hash") == "#select=" + quote(
            f"{SG}/gather_and_sum", safe=""
        )
        panel = browser.evaluate("document.getElementById('ff-panel').textContent")
        assert "Inputs (4)" in panel and "Outputs (1)" in panel
        inputs = browser.evaluate(
            "[...document.querySelectorAll('.ff-inputs tbody tr')]"
            ".map(r => [...r.cells].map(c => c.textContent))"
        )
        assert [(r[0], r[1], r[4]) for r in inputs] == [
            (f"data__number_{i}", str(i * i), f"square{'' if i == 1 else i - 1}")
            for i in range(1, 5)
        ]
        # a link in the panel selects the task that made a value
        browser.click(*browser.centre(".ff-inputs tbody tr:nth-child(3) a"))
        square2 = f"{SG}/ParallelSquare/square2"
        assert browser.wait_for(selected, square2) == square2
        # the wheel zooms around the pointer; dragging the background pans and selects nothing
        before = browser.evaluate(transform)
        browser.wheel(400, 400, -240)
        zoomed = browser.evaluate(transform)
        assert scale(zoomed) > scale(before) * 1.2
        # the canvas's bottom left corner is background (the timeline sits below the canvas)
        bottom = browser.evaluate(
            "document.getElementById('ff-canvas').getBoundingClientRect().bottom"
        )
        browser.drag((30, bottom - 40), (230, bottom - 100))
        panned = browser.evaluate(transform)
        assert panned != zoomed and scale(panned) == scale(zoomed)
        assert browser.evaluate(selected) == square2
        # Fit shows the whole graph, within a margin; a click on the background selects the run
        browser.click(*browser.centre("#ff-fit"))
        assert browser.evaluate(transform) == fitted
        browser.click(8, bottom - 8)
        assert browser.evaluate(selected) == SG
        # the cluster's toggle collapses the nested graph; a double-click opens it again
        browser.click(
            *browser.centre(f'.ff-cluster[data-path="{SG}/ParallelSquare"] [data-toggle]')
        )
        assert browser.evaluate(nodes) == 3
        assert browser.evaluate(
            f"!!document.querySelector('.ff-node[data-path=\"{SG}/ParallelSquare\"]')"
        )
        browser.click(
            *browser.centre(f'.ff-node[data-path="{SG}/ParallelSquare"] .ff-box'), count=2
        )
        assert browser.evaluate(nodes) == 6
        # the search box finds a task by (part of) its path
        browser.click(*browser.centre("#ff-search"))
        browser.send("Input.insertText", text="square3")
        for kind in ("keyDown", "keyUp"):
            browser.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key="Enter",
                code="Enter",
                windowsVirtualKeyCode=13,
            )
        assert browser.evaluate(selected) == f"{SG}/ParallelSquare/square3"
        # selecting a task inside a collapsed graph opens it
        browser.evaluate("document.getElementById('ff-collapse').click()")
        assert browser.evaluate(nodes) == 3
        assert browser.evaluate(f"window.ferroflowView.select('{SG}/ParallelSquare/square1')")
        assert browser.evaluate(nodes) == 6
        assert (
            browser.evaluate("document.querySelector('.ff-selected').getAttribute('data-path')")
            == f"{SG}/ParallelSquare/square1"
        )


# -- the command line ------------------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=dict(os.environ), timeout=120
    )


def test_ferroflow_view_writes_the_page_of_a_stored_run(tmp_path: Path) -> None:
    assert SCRIPT.is_file(), f"console script missing: {SCRIPT} (pip install -e .)"
    help_text = cli("view", "--help")
    assert help_text.returncode == 0 and help_text.stdout.startswith("usage: ferroflow view")
    assert "--max-tasks" in help_text.stdout and "-o OUTPUT" in help_text.stdout
    demo = cli("demo", "-n", "3")
    assert demo.returncode == 0, demo.stderr
    run = re.search(r"runs show (\d+)", demo.stdout)
    assert run is not None
    out = tmp_path / "view.html"
    done = cli("view", run.group(1), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == f"wrote {out}"
    data = embedded(out.read_text(encoding="utf-8"))
    assert data["title"] == SG and data["counts"] == {"FINISHED": 6}
    printed = cli("view", run.group(1), "-o", "-").stdout
    assert printed.startswith("<!DOCTYPE html>") and embedded(printed)["tasks"] == data["tasks"]
    target = f"{SG}/gather_and_sum"
    dom = parse_html(dump_dom(f"{out.as_uri()}#select={quote(target, safe='')}"))
    panel = dom.find(id="ff-panel")
    assert panel is not None and panel.attrs["data-selected"] == target
    assert [r[1] for r in rows(panel, "inputs")] == ["1", "4", "9"]
    assert [r[:2] for r in rows(panel, "outputs")] == [["result", "14"]]
    assert len(drawn(dom)) == 6
    # mistakes are one line on stderr and status 1
    data_node = cli("view", str(data["tasks"][0]["outputs"][0]["pk"]))
    assert data_node.returncode == 1 and "not a top-level run" in data_node.stderr
    missing = cli("view", "99999")
    assert missing.returncode == 1 and missing.stderr.startswith("error: no node with pk=99999")
    assert cli("view", run.group(1), "--max-tasks", "-1").returncode == 1

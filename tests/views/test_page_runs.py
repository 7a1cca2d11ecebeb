"""The HTML page of big, failed and running runs (issue 18): what a page always keeps (failed
tasks with their tracebacks, the tasks behind the outputs, a stored failed run's skipped tasks),
its timeline, and ``ferroflow view --follow``. Pages come from the real ``ferroflow`` console
script and are checked in headless Chromium (tests/browser.py)."""

from __future__ import annotations

import itertools
import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import time
import typing as t
from pathlib import Path
from typing import Any
from urllib.parse import quote

from browser import Browser, Element, dump_dom, parse_html
from ferroflow import dynamic, load_profile, namespace, task
from ferroflow.export.view import run_page
from ferroflow.store import graph_read
from ferroflow.views.html import write_page
from ferroflow.views.live_page import workgraph_page
from ferroflow.views.page_data import ERROR_CHARS, MAX_TASKS, error_kept
from ferroflow.views.timeline import GREEDY, MAX_BARS, Span, timeline
from layer_query import file_query

SCRIPT = Path(sys.executable).parent / "ferroflow"
BAD = 7777


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=dict(os.environ), timeout=timeout
    )


def embedded(page: str) -> dict[str, Any]:
    """The JSON a page carries."""
    match = re.search(r'<script type="application/json" id="ff-data">(.*?)</script>', page, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def by_path(data: dict[str, Any]) -> dict[str, Any]:
    return {entry["path"]: entry for entry in data["tasks"]}


def drawn(dom: Element) -> dict[str, str]:
    """Task path -> class of its SVG group, for every task the graph draws."""
    svg = dom.find(id="ff-svg")
    assert svg is not None
    return {
        el.attrs["data-path"]: el.attrs["class"] for el in svg.iter() if "data-path" in el.attrs
    }


def view(run_pk: int, out: Path, *extra: str) -> dict[str, Any]:
    """``ferroflow view RUN -o out`` through the console script; the page's data."""
    done = cli("view", str(run_pk), "-o", str(out), *extra)
    assert done.returncode == 0, done.stderr
    return embedded(out.read_text(encoding="utf-8"))


@task
def square(x: int) -> int:
    if x == BAD:
        raise ValueError(f"bad input {x}")
    return x * x


@task
def gather(data: t.Annotated[dict, dynamic(int)]) -> int:  # type: ignore[type-arg]
    return sum(data.values())


@task.graph
def Wide(n: int) -> int:
    return gather(data={f"s{i}": square(x=i).result for i in range(n)}).result


@task
def double(x: int) -> int:
    return 2 * x


@task.graph
def Inner(n: int) -> t.Annotated[dict, namespace(total=int)]:  # type: ignore[type-arg]
    return {"total": gather(data={f"s{i}": double(x=i).result for i in range(n)}).result}


@task.graph
def Outer(n: int) -> int:
    return Inner(n=n).total  # type: ignore[no-any-return]


@task.graph
def Chain(x: int) -> int:
    return square(x=square(x=square(x=x).result).result).result


def test_an_8000_task_run_with_one_failure_shows_the_failed_task_and_its_traceback(
    tmp_path: Path,
) -> None:
    wg = Wide.build(8000)
    wg.run(raise_on_error=False)
    assert wg.pk is not None and wg.state == "FAILED"
    failed = f"Wide/square{BAD}"
    data = view(wg.pk, tmp_path / "wide.html")
    assert data["counts"] == {"FINISHED": 7999, "FAILED": 1, "SKIPPED": 1}
    assert data["shown"] == MAX_TASKS < data["total"] == 8001  # the failure sits past the cut
    tasks = by_path(data)
    assert [data["tasks"][i]["path"] for i in data["failures"]] == [failed]
    assert tasks[failed]["error"].startswith("Traceback (most recent call last):")
    assert tasks[failed]["error"].endswith(f"ValueError: bad input {BAD}")
    assert tasks["Wide/gather"]["state"] == "SKIPPED"  # what the failure cost is kept too
    left = [n for n in data["notes"] if n.startswith("Left out")]
    assert left == [left[0]] and left[0].startswith(
        "Left out 3,001 of 8,001 tasks (finished: 3,001)"
    )
    assert by_path(workgraph_page(wg.snapshot()))[failed]["error"] == tasks[failed]["error"]

    dom = parse_html(dump_dom((tmp_path / "wide.html").as_uri()))
    failures = dom.find(id="ff-failures")
    assert failures is not None and "hidden" not in failures.attrs
    listed = [el for el in failures.iter() if el.attrs.get("class") == "ff-failure"]
    assert [el.attrs["data-path"] for el in listed] == [failed]
    assert "1 failed task" in failures.text and f"ValueError: bad input {BAD}" in failures.text
    assert (
        "Traceback (most recent call last):" in listed[0].text
        and 'raise ValueError(f"bad' in listed[0].text
    )
    # the failures come before the graph on the page, and the graph draws the failed task
    body = dom.find(id="ff-main")
    assert body is not None and dom.iter().index(failures) < dom.iter().index(body)
    assert "ff-node" in drawn(dom)[failed]
    dom = parse_html(
        dump_dom(f"{(tmp_path / 'wide.html').as_uri()}#select={quote(failed, safe='')}")
    )
    panel = dom.find(id="ff-panel")
    assert panel is not None and panel.attrs["data-selected"] == failed and "failed" in panel.text


def test_a_20000_task_page_keeps_the_task_that_made_the_output(tmp_path: Path) -> None:
    wg = Outer.build(19_998)  # + Inner + gather: 20,000 tasks, the output made by the last
    wg.run()
    assert wg.pk is not None
    maker = "Outer/Inner/gather"
    for data in (view(wg.pk, tmp_path / "outer.html"), workgraph_page(wg.snapshot())):
        assert data["total"] == 20_000 and data["shown"] == MAX_TASKS
        tasks = by_path(data)
        (output,) = data["tasks"][0]["outputs"]
        assert output["value"] == str(sum(2 * i for i in range(19_998)))
        assert data["tasks"][output["source"]]["path"] == maker  # "made by" names it
        assert tasks[maker]["outputs"][0]["value"] == output["value"]
        assert tasks["Outer/Inner"]["hidden"] == 20_000 - MAX_TASKS
    dom = parse_html(
        dump_dom(f"{(tmp_path / 'outer.html').as_uri()}#select={quote(maker, safe='')}")
    )
    panel = dom.find(id="ff-panel")
    assert panel is not None and panel.attrs["data-selected"] == maker
    assert maker in drawn(dom)


def test_a_stored_failed_runs_page_lists_its_skipped_tasks(tmp_path: Path) -> None:
    wg = Chain.build(BAD)
    wg.run(raise_on_error=False)
    assert wg.pk is not None
    data = view(wg.pk, tmp_path / "chain.html")
    tasks = by_path(data)
    assert {p: e["state"] for p, e in tasks.items()} == {
        "Chain": "FAILED",
        "Chain/square": "FAILED",
        "Chain/square1": "SKIPPED",
        "Chain/square2": "SKIPPED",
    }
    assert data["counts"] == {"FAILED": 1, "SKIPPED": 2} == workgraph_page(wg.snapshot())["counts"]
    paths = [e["path"] for e in data["tasks"]]
    assert sorted((paths[a], paths[b]) for a, b in data["edges"]) == [
        ("Chain/square", "Chain/square1"),
        ("Chain/square1", "Chain/square2"),
    ]
    assert tasks["Chain/square1"]["type"] == f"{__name__}.square"
    dom = parse_html(dump_dom((tmp_path / "chain.html").as_uri()))
    assert set(drawn(dom)) == {"Chain/square", "Chain/square1", "Chain/square2"}
    counts = dom.find(id="ff-counts")
    assert counts is not None and "skipped 2" in counts.text
    # deleting the run deletes its list of tasks that never started
    assert cli("runs", "delete", str(wg.pk)).returncode == 0
    with sqlite3.connect(load_profile().store.path) as conn:
        assert conn.execute("SELECT count(*) FROM unrun_task").fetchone() == (0,)


@task
def nap(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x


@task.graph
def Naps(n: int, seconds: float) -> t.Annotated[dict, namespace(out=dynamic(int))]:  # type: ignore[type-arg]
    return {"out": {f"n{i}": nap(x=i, seconds=seconds).result for i in range(n)}}


def test_the_timeline_draws_a_bar_per_task_in_lanes(tmp_path: Path) -> None:
    wg = Naps.build(6, 0.2)
    wg.run()
    assert wg.pk is not None
    data = view(wg.pk, tmp_path / "naps.html")
    line = data["timeline"]
    assert line["total"] == line["shown"] == 6 and line["how"] == GREEDY
    assert sorted(bar[5] for bar in line["bars"]) == sorted(f"Naps/nap{i or ''}" for i in range(6))
    assert all(bar[2] - bar[1] >= 0.2 for bar in line["bars"])  # each slept 0.2 s
    # bars of one lane never overlap
    for lane in range(line["lanes"]):
        spans = sorted((b[1], b[2]) for b in line["bars"] if b[0] == lane)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    with Browser() as browser:
        browser.open((tmp_path / "naps.html").as_uri())
        bars = browser.evaluate(
            "Array.from(document.querySelectorAll('#ff-timeline-svg .ff-bar'))"
            ".map(b => [b.dataset.path, b.getBBox().width])"
        )
        assert sorted(p for p, _ in bars) == sorted(bar[5] for bar in line["bars"])
        assert all(width > 1 for _, width in bars)
        head = browser.evaluate("document.getElementById('ff-timeline-head').textContent")
        assert "6 tasks in" in head and "laid out greedily" in head
        browser.click(*browser.centre("#ff-timeline-svg .ff-bar[data-path='Naps/nap3']"))
        selected = "document.getElementById('ff-panel').dataset.selected"
        assert browser.wait_for(selected, "Naps/nap3") == "Naps/nap3"


def test_the_timeline_lays_out_lanes_greedily_and_samples_big_runs() -> None:
    spans = [
        Span("a", "FINISHED", 0.0, 2.0, 1),
        Span("b", "FINISHED", 1.0, 3.0, 2),
        Span("c", "FINISHED", 2.0, 4.0, None),  # starts as a ends: a's lane again
        Span("d", "RUNNING", 2.5, None, 4),  # runs until now
    ]
    line = timeline(spans, now=10.0)
    assert line["lanes"] == 3 and line["origin"] == 0.0 and line["end"] == 10.0
    assert line["bars"] == [
        [0, 0.0, 2.0, "FINISHED", 1, "a"],
        [1, 1.0, 3.0, "FINISHED", 2, "b"],
        [0, 2.0, 4.0, "FINISHED", -1, "c"],
        [2, 2.5, 10.0, "RUNNING", 4, "d"],
    ]
    many = [
        Span(f"t{i}", "FAILED" if i == 4 else "FINISHED", i, i + 0.5, None)
        for i in range(3 * MAX_BARS)
    ]
    line = timeline(many, now=0.0)
    assert line["total"] == 3 * MAX_BARS and line["shown"] == len(line["bars"]) == MAX_BARS + 1
    assert [b[5] for b in line["bars"] if b[3] == "FAILED"] == ["t4"]  # failures always drawn
    assert (
        line["note"] is not None and f"{MAX_BARS + 1:,} of {3 * MAX_BARS:,} tasks" in line["note"]
    )


RUNNER = """
import sys, time
from ferroflow import task


@task
def step(x: int) -> int:
    time.sleep(0.5)
    return x + 1


@task.graph
def Slow(x: int) -> int:
    for _ in range(8):
        x = step(x=x).result
    return x


Slow.build(0).run()
"""


def _running_run(store_path: Path, deadline: float) -> int:
    while time.monotonic() < deadline:
        if store_path.exists():
            with file_query(store_path, read_only=True) as query:
                runs = graph_read.top_level_runs(query)
            # oldest first, as the table scan found them (SQL's LIKE '%Slow': any case)
            slow = [row[0] for row in runs if str(row[3]).lower().endswith("slow")]
            if slow:
                return int(min(slow))
        time.sleep(0.05)
    raise AssertionError("the run did not start")


def test_follow_rewrites_the_page_while_the_run_goes_on_and_stops_at_its_end(
    tmp_path: Path,
) -> None:
    store_path = Path(load_profile().store.path)
    script = tmp_path / "slow_run.py"
    script.write_text(textwrap.dedent(RUNNER), encoding="utf-8")
    out = tmp_path / "live.html"
    deadline = time.monotonic() + 60
    run = subprocess.Popen([sys.executable, str(script)], env=dict(os.environ))
    follow = None
    try:
        pk = _running_run(store_path, deadline)
        follow = subprocess.Popen(
            [str(SCRIPT), "view", str(pk), "--follow", "-o", str(out)],
            env=dict(os.environ),
            stderr=subprocess.PIPE,
            text=True,
        )
        seen: list[dict[str, Any]] = []  # each distinct page written while the run went on
        while run.poll() is None and time.monotonic() < deadline:
            if out.exists():
                text = out.read_text(encoding="utf-8")
                data = embedded(text)
                if data["state"] == "RUNNING":
                    assert '<meta name="ferroflow-reload" content="2">' in text
                    if not seen or data["counts"] != seen[-1]["counts"]:
                        seen.append(data)
            time.sleep(0.1)
        assert run.wait(timeout=60) == 0
        assert len(seen) >= 2, seen  # the page changed as tasks finished
        done = [s["counts"].get("FINISHED", 0) for s in seen]
        assert done == sorted(done) and done[0] < done[-1]
        _, err = follow.communicate(timeout=30)  # it stops by itself once the run ended
        assert follow.returncode == 0, err
        assert err.splitlines()[-1] == f"wrote {out} (run finished)"
    finally:
        for proc in (run, follow):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()
    final = out.read_text(encoding="utf-8")
    assert '<meta name="ferroflow-reload"' not in final
    data = embedded(final)
    assert data["state"] == "FINISHED" and data["counts"] == {"FINISHED": 8}
    assert len(data["timeline"]["bars"]) == 8
    assert not list(tmp_path.glob(".live.html*"))  # no half-written file left behind
    assert "--follow" in cli("view", "--help").stdout
    refused = cli("view", str(pk), "--follow", "-o", "-")
    assert refused.returncode == 1 and "--follow rewrites a file" in refused.stderr


def test_a_page_of_a_running_run_reloads_itself(tmp_path: Path) -> None:
    wg = Naps.build(2, 0.0)
    wg.run()
    assert wg.pk is not None
    page = tmp_path / "page.html"
    write_page(run_page(load_profile().store, wg.pk), page, reload_every=1)
    with Browser() as browser:
        browser.open(page.as_uri() + "#select=" + quote("Naps/nap1", safe=""))
        assert browser.evaluate("document.getElementById('ff-live').textContent").startswith("live")
        browser.evaluate("window.ffMark = 1")
        # reloaded: the mark is gone, the selected task is the same
        assert browser.wait_for("window.ffMark === undefined && !!window.ferroflowView", True)
        assert (
            browser.wait_for("document.getElementById('ff-panel').dataset.selected", "Naps/nap1")
            == "Naps/nap1"
        )
    write_page(run_page(load_profile().store, wg.pk), page)
    assert '<meta name="ferroflow-reload"' not in page.read_text(encoding="utf-8")


def test_a_huge_traceback_keeps_its_head_and_its_message() -> None:
    assert error_kept("  short\n") == "short" and error_kept("") is None
    huge = "Traceback (most recent call last):\n" + "x" * (3 * ERROR_CHARS) + "\nKeyError: 'end'"
    kept = error_kept(huge)
    assert kept is not None and len(kept) < ERROR_CHARS + 100
    assert kept.startswith("Traceback (most recent call last):") and kept.endswith(
        "KeyError: 'end'"
    )
    assert f"… {len(huge) - ERROR_CHARS:,} characters of the traceback left out …" in kept

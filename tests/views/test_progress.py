"""The live progress display of ``WorkGraph.run()`` (``ferroflow.progress``).

Forced on (``progress=True``) it writes plain lines to a non-terminal stream, which is how
these tests read it; the terminal modes are exercised through a stream that claims to be a tty.
"""

from __future__ import annotations

import io
import re
import sys
import threading
import time
from collections.abc import Iterator

import ferroflow.progress as progress_module
import pytest
from ferroflow import RunTimeoutError, WorkflowFailedError, task
from ferroflow.demo import ScatterGatherSquare
from ferroflow.progress import ProgressDisplay, choose_mode, format_line

LINE = re.compile(
    r"^(?P<name>\w+): (?P<done>[\d,]+)/(?P<total>[\d,]+) done \| (?P<failed>[\d,]+) failed"
)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@task
def nap(x: int, pause: float) -> int:
    time.sleep(pause)
    return x


@task
def explode(x: int) -> int:
    raise ValueError(f"boom {x}")


@task.graph
def naps(n: int, pause: float) -> None:
    for i in range(n):
        nap(x=i, pause=pause)


@task.graph
def half_broken(n: int) -> None:
    for i in range(n):
        nap(x=i, pause=0.0)
    nap(x=explode(x=1).result, pause=0.0)  # skipped: its input never exists


class FakeTerminal(io.StringIO):
    """Captures what is written and says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The caller's FERROFLOW_PROGRESS must not change these tests."""
    monkeypatch.delenv(progress_module.ENV_VAR, raising=False)
    yield
    alive = [t.name for t in threading.enumerate() if t.name.startswith("ferroflow-progress")]
    assert alive == [], "the display thread outlived run()"


def parsed(text: str) -> list[dict[str, int | str]]:
    rows: list[dict[str, int | str]] = []
    for line in text.splitlines():
        match = LINE.match(line)
        assert match, f"not a progress line: {line!r}"
        rows.append(
            {
                "name": match["name"],
                "done": int(match["done"].replace(",", "")),
                "total": int(match["total"].replace(",", "")),
                "failed": int(match["failed"].replace(",", "")),
            }
        )
    return rows


def test_forced_progress_writes_done_and_total_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress_module, "LOG_INTERVAL", 0.05)
    wg = naps.build(40, 0.05)
    wg.run(progress=True, provenance=False, max_workers=2)
    captured = capsys.readouterr()
    assert captured.out == ""  # progress goes to standard error
    rows = parsed(captured.err)
    # ~1 s of sleeps sampled every 0.05 s, plus the final line: long enough that even a display
    # thread starved on a loaded machine draws at least once while the run goes on
    assert len(rows) >= 2, captured.err
    assert all(r["name"] == "naps" and r["total"] == 40 for r in rows)
    done = [r["done"] for r in rows]
    assert done == sorted(done)
    assert done[-1] == 40
    assert "tasks/s" in captured.err.splitlines()[-1]


def test_final_line_counts_tasks_added_at_run_time(capsys: pytest.CaptureFixture[str]) -> None:
    # ParallelSquare expands into n square tasks only while the run goes on
    wg = ScatterGatherSquare.build(6)
    wg.run(progress=True)
    last = parsed(capsys.readouterr().err)[-1]
    assert last["done"] == last["total"] == len(wg.all_tasks()) == 3 + 6
    assert last["failed"] == 0


def test_progress_false_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(progress_module.ENV_VAR, "1")
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    stream = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", stream)
    naps.build(5, 0.0).run(progress=False, provenance=False)
    assert stream.getvalue() == ""


def test_not_a_terminal_writes_nothing_by_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    naps.build(5, 0.0).run(provenance=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("value", ["0", "false", "off"])
def test_env_var_turns_it_off_on_a_terminal(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(progress_module.ENV_VAR, value)
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    stream = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", stream)
    naps.build(5, 0.01).run(provenance=False)
    assert stream.getvalue() == ""


def test_env_var_forces_it_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(progress_module.ENV_VAR, "1")
    naps.build(5, 0.0).run(provenance=False)
    rows = parsed(capsys.readouterr().err)
    assert rows[-1]["done"] == rows[-1]["total"] == 5


def test_explicit_argument_beats_env_var(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(progress_module.ENV_VAR, "0")
    naps.build(3, 0.0).run(progress=True, provenance=False)
    assert parsed(capsys.readouterr().err)[-1]["done"] == 3


def test_quick_runs_print_nothing_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # DELAY is 0.5 s; a loaded machine could stretch even this tiny run past it, so the test
    # uses a DELAY no run of five no-op tasks reaches (the display thread stops at once anyway)
    monkeypatch.setattr(progress_module, "DELAY", 60.0)
    stream = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", stream)
    naps.build(5, 0.0).run(provenance=False)  # over long before DELAY
    assert stream.getvalue() == ""


def test_plain_terminal_line_is_rewritten_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "_has_rich", lambda: False)
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    monkeypatch.setattr(progress_module, "INTERVAL", 0.02)
    stream = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", stream)
    naps.build(20, 0.05).run(provenance=False, max_workers=2)  # ~0.5 s: many samples
    text = stream.getvalue()
    assert text.startswith("\r") and text.endswith("\n")
    assert text.count("\n") == 1  # one line, redrawn with "\r"
    frames = [f.rstrip() for f in text.rstrip("\n").split("\r") if f]
    assert len(frames) >= 2
    assert parsed(frames[-1])[0]["done"] == 20


def test_rich_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    monkeypatch.setattr(progress_module, "INTERVAL", 0.02)
    stream = FakeTerminal()
    assert choose_mode(None, stream) == ("rich", False)
    monkeypatch.setattr(sys, "stderr", stream)
    # ~0.5 s of sleeps: not forced, the bar (and so its final state) is drawn only if a sample
    # is taken while the run goes on
    naps.build(10, 0.1).run(provenance=False, max_workers=2)
    text = ANSI.sub("", stream.getvalue())
    assert "naps" in text and "10/10 done" in text


def test_failed_and_skipped_tasks_are_counted(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(WorkflowFailedError):
        half_broken.build(3).run(progress=True, provenance=False)
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("half_broken: 3/5 done | 1 failed | 1 skipped |"), last


def test_cancelled_tasks_are_counted_after_a_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RunTimeoutError):
        naps.build(20, 0.05).run(progress=True, provenance=False, max_workers=1, timeout=0.1)
    last = capsys.readouterr().err.splitlines()[-1]
    assert re.search(r"\| \d+ cancelled \|", last), last
    assert last.endswith("| CANCELLED"), last  # a cancelled run says so


def test_a_cancelled_runs_rich_bar_is_not_drawn_full(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    with pytest.raises(RunTimeoutError):
        naps.build(40, 0.05).run(progress=True, provenance=False, max_workers=1, timeout=0.2)
    final = ANSI.sub("", terminal.getvalue()).splitlines()[-1]
    assert "CANCELLED" in final
    assert "━" * 20 not in final  # rich's full bar: 20 cells of done


@task.graph
def nested_naps(k: int, pause: float) -> None:
    for _ in range(k):
        naps(n=k, pause=pause)


def test_graph_tasks_not_expanded_yet_are_unknown_work_without_an_eta(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress_module, "LOG_INTERVAL", 0.02)
    wg = nested_naps.build(4, 0.03)
    wg.run(progress=True, provenance=False, max_workers=1)
    lines = capsys.readouterr().err.splitlines()
    early = [line for line in lines if "graphs to expand" in line]
    assert early, lines  # while graph tasks waited to expand, the line said so...
    assert all(line.endswith("ETA ?") for line in early)  # ... and gave no ETA
    assert not any("graphs to expand" in line for line in lines[-1:])


class BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("the terminal went away")


def test_a_broken_stream_never_breaks_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "LOG_INTERVAL", 0.01)
    monkeypatch.setattr(sys, "stderr", BrokenStream())
    wg = naps.build(10, 0.01)
    wg.run(progress=True, provenance=False)
    assert wg.state == "FINISHED"


def test_choose_mode() -> None:
    plain = io.StringIO()
    assert choose_mode(False, FakeTerminal()) is None
    assert choose_mode(None, plain) is None
    assert choose_mode(True, plain) == ("log", True)


def test_format_line() -> None:
    counts = {"total": 1000, "finished": 400, "failed": 2, "skipped": 0, "remaining": 598}
    assert format_line(counts, 2.0, 200.0) == (
        "400/1,000 done | 2 failed | 598 left | 200 tasks/s | ETA 3.0 s"
    )
    assert format_line(counts, 2.0, None, compact=True) == "400/1,000 done | 2 failed | ETA ?"
    done = {**counts, "finished": 998, "remaining": 0}
    assert format_line(done, 4.0, None, final=True) == (
        "998/1,000 done | 2 failed | 4.0 s, 250 tasks/s"
    )
    assert "1:15 min" in format_line(counts, 1.0, 598 / 75)
    # shown when the core's counts report running tasks
    assert "| 3 running | 598 left |" in format_line({**counts, "running": 3}, 2.0, 200.0)
    # graph tasks not expanded yet: the total is a lower bound, so no ETA
    unknown = format_line({**counts, "unexpanded": 3}, 2.0, 200.0)
    assert unknown.endswith("| 598 left + 3 graphs to expand | 200 tasks/s | ETA ?"), unknown


def test_display_used_directly() -> None:
    """Other front ends can drive the display with any counts source."""
    state = {"total": 4, "finished": 0, "failed": 0, "remaining": 4}
    stream = io.StringIO()
    with ProgressDisplay(lambda: state, "custom", stream=stream, interval=0.01) as display:
        for i in range(1, 5):
            time.sleep(0.03)
            state = {**state, "finished": i, "remaining": 4 - i}
    assert display.shown
    assert stream.getvalue().splitlines()[-1].startswith("custom: 4/4 done | 0 failed |")


class NotebookStream(io.StringIO):
    """Stands where ipykernel's OutStream stands in a notebook (no tty, a person watches)."""


NotebookStream.__module__ = "ipykernel.iostream"


def test_a_notebook_gets_a_widget(capsys: pytest.CaptureFixture[str]) -> None:
    stream = NotebookStream()
    assert choose_mode(None, stream) == ("widget", False)
    state = {"total": 4, "finished": 0, "failed": 0, "remaining": 4}
    with ProgressDisplay(
        lambda: state, "nb", stream=stream, mode="widget", interval=0.01
    ) as display:
        for i in range(1, 5):
            time.sleep(0.03)
            state = {**state, "finished": i, "remaining": 4 - i}
    bar, label = display._widget
    assert (bar.value, bar.max, bar.bar_style) == (4, 4, "success")
    assert label.value.startswith("4/4 done | 0 failed")
    assert stream.getvalue() == ""  # nothing drawn as text into the cell's stream
    # outside a kernel IPython's display() prints the widget's repr: it was displayed once
    assert capsys.readouterr().out.count("IntProgress") == 1


def test_a_notebook_widget_turns_red_on_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = NotebookStream()
    monkeypatch.setattr(sys, "stderr", stream)
    shown: list[ProgressDisplay] = []
    real = progress_module.ProgressDisplay

    def keep(*args: object, **kwargs: object) -> ProgressDisplay:
        shown.append(real(*args, **kwargs))  # type: ignore[arg-type]
        return shown[-1]

    monkeypatch.setattr(progress_module, "ProgressDisplay", keep)
    with pytest.raises(WorkflowFailedError):
        half_broken.build(3).run(progress=True, provenance=False)
    bar, label = shown[0]._widget
    assert bar.bar_style == "danger" and "1 failed" in label.value

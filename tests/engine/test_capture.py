"""Per-task capture of stdout, stderr and ``logging`` (``ferroflow.engine.capture``, issue 18):
concurrent tasks never mix, the text is bounded, capture can be turned off, every lane and
backend captures, a failed task keeps its output, and ``ferroflow logs`` shows it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from ferroflow import WorkGraph, task
from ferroflow.engine import capture as capture_module
from ferroflow.engine.capture import TaskCapture, install, live_display
from ferroflow.errors import ImportFormatError, WorkflowFailedError
from ferroflow.export import export_run, import_run
from ferroflow.export.view import run_page
from ferroflow.profile import load_profile
from ferroflow.progress import ProgressDisplay
from ferroflow.store import Store
from ferroflow.store.deletion import delete_run

SCRIPT = Path(sys.executable).parent / "ferroflow"
N = 8


@task
def chatty(x: int) -> int:
    for i in range(5):
        print(f"out {x}.{i}")
        print(f"err {x}.{i}", file=sys.stderr)
        logging.getLogger("chatty").warning("log %s.%s", x, i)
        time.sleep(0.002)  # let the other workers write in between
    return x


@task.graph
def scatter(n: int) -> Any:
    return [chatty(x=i).result for i in range(n)][-1]


def _outputs(wg: WorkGraph) -> dict[str, str | None]:
    store = wg._store
    assert store is not None
    store.flush()
    return {t.name: store.load_node(t.pk).output for t in wg.all_tasks() if t.pk is not None}


def _assert_own_lines(outputs: dict[str, str | None]) -> None:
    """Each task's text holds exactly its own 15 lines (5 each of stdout, stderr and logging),
    in the order written."""
    for name, text in outputs.items():
        x = 0 if name == "chatty" else int(name.removeprefix("chatty"))
        expected = "".join(
            f"out {x}.{i}\nerr {x}.{i}\nWARNING chatty: log {x}.{i}\n" for i in range(5)
        )
        assert text == expected, name


@pytest.mark.parametrize("lane", ["fast", "general"])
def test_concurrent_tasks_each_keep_their_own_output(
    lane: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FERROFLOW_FAST_LANE", "1" if lane == "fast" else "0")
    wg = scatter.build(n=N)
    wg.run(max_workers=4)
    assert {t.node.fast_box is not None for t in wg.all_tasks()} == {lane == "fast"}
    outputs = _outputs(wg)
    assert len(outputs) == N
    _assert_own_lines(outputs)
    seen = capsys.readouterr()
    assert "out 3.1" not in seen.out and "err 3.1" not in seen.err  # captured, not shown


@task
async def waiter(x: int) -> int:
    for i in range(3):
        print(f"async {x}.{i}")
        logging.getLogger("waiter").error("note %s.%s", x, i)
        await asyncio.sleep(0.005)  # every coroutine of the loop writes in between
    return x


@task.graph
def async_scatter(n: int) -> Any:
    return [waiter(x=i).result for i in range(n)][-1]


def test_async_tasks_on_one_loop_each_keep_their_own_output() -> None:
    wg = async_scatter.build(n=N)
    wg.run()
    for name, text in _outputs(wg).items():
        x = 0 if name == "waiter" else int(name.removeprefix("waiter"))
        assert text == "".join(f"async {x}.{i}\nERROR waiter: note {x}.{i}\n" for i in range(3))


def test_a_dask_run_ships_each_task_output_back(client: Any) -> None:
    wg = scatter.build(n=4)
    wg.run(executor=client)
    outputs = _outputs(wg)
    assert len(outputs) == 4
    _assert_own_lines(outputs)


def test_capture_keeps_head_and_tail_of_a_long_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture_module, "HEAD", 100)
    monkeypatch.setattr(capture_module, "TAIL", 100)

    @task
    def loud() -> int:
        for i in range(1000):
            print(f"line {i:04d}")
        return 0

    @task.graph
    def one() -> Any:
        return loud().result

    wg = one.build()
    wg.run()
    text = _outputs(wg)["loud"]
    assert text is not None
    head, marker, tail = text.partition("characters dropped …\n")
    assert marker and head.startswith("line 0000\nline 0001\n")
    written = 1000 * len("line 0000\n")
    assert f"… {written - 200:,} " in head  # exactly what is not kept
    assert tail.endswith("line 0998\nline 0999\n") and len(tail) == 100
    assert len(text) < 300


def test_task_capture_bounds_any_sequence_of_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture_module, "HEAD", 10)
    monkeypatch.setattr(capture_module, "TAIL", 7)
    cap = TaskCapture()
    written = ""
    for piece in ["abc", "defghijk", "", "lmnopqrstuvwxyz", "0", "123456789"]:
        cap.write(piece)
        written += piece
    assert cap.dropped == len(written) - 17
    assert cap.text() == f"{written[:10]}\n… {cap.dropped:,} characters dropped …\n{written[-7:]}"
    short = TaskCapture()
    short.write("fits")
    assert short.text() == "fits" and short.dropped == 0


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_capture_off_stores_nothing_and_prints_as_usual(
    how: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wg = scatter.build(n=2)
    if how == "argument":
        wg.run(capture=False)
    else:
        monkeypatch.setenv("FERROFLOW_CAPTURE", "0")
        wg.run()
    assert set(_outputs(wg).values()) == {None}
    assert "out 1.4" in capsys.readouterr().out
    store = wg._store
    assert store is not None
    assert store._reader.query("SELECT count(*) FROM task_output")[0][0] == 0


def test_deleting_a_run_deletes_what_its_tasks_printed() -> None:
    """``runs delete`` takes a run's captured output with it (packed task runs' too); another
    run's stays."""
    kept, gone = scatter.build(n=3), scatter.build(n=3)
    kept.run()
    gone.run()
    store = gone._store
    assert store is not None and gone.pk is not None and kept.pk is not None
    store.flush()
    assert len(store.task_outputs(gone.pk)) == 3 and len(store.task_outputs(kept.pk)) == 3
    pks = [t.pk for t in gone.all_tasks() if t.pk is not None]
    count = f"SELECT count(*) FROM task_output WHERE pk IN ({', '.join('?' * len(pks))})"
    assert store._reader.query(count, tuple(pks))[0][0] == 3
    delete_run(store.path, "normal", gone.pk)
    assert store._reader.query(count, tuple(pks))[0][0] == 0
    assert [o.text.count("out ") for o in store.task_outputs(kept.pk)] == [5, 5, 5]


@task
def breaks(x: int) -> int:
    print(f"about to fail on {x}")
    logging.getLogger("breaks").error("giving up")
    raise ValueError(f"bad {x}")


@task
def steady(x: int) -> int:
    print(f"steady {x}")
    return x


@task.graph
def failing(x: int) -> Any:
    steady(x=x)
    return breaks(x=x).result


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=dict(os.environ), timeout=120
    )
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def test_a_failed_task_keeps_its_output_beside_its_traceback() -> None:
    wg = failing.build(x=7)
    with pytest.raises(WorkflowFailedError):
        wg.run()
    store = wg._store
    assert store is not None
    store.flush()
    node = store.load_node(wg.tasks["breaks"].pk)
    assert node.state == "FAILED" and "ValueError: bad 7" in (node.error or "")
    assert node.output == "about to fail on 7\nERROR breaks: giving up\n"
    shown = _cli("node", "show", str(node.pk)).stdout
    assert "ValueError: bad 7" in shown and "  about to fail on 7" in shown
    assert _cli("logs", str(node.pk)).stdout == "about to fail on 7\nERROR breaks: giving up\n"


def test_ferroflow_logs_of_a_run_prefixes_each_task_in_run_order() -> None:
    wg = failing.build(x=3)
    wg.run(raise_on_error=False, max_workers=1)
    lines = _cli("logs", str(wg.pk)).stdout.splitlines()
    assert sorted(lines) == sorted(
        [
            "[failing/steady] steady 3",
            "[failing/breaks] about to fail on 3",
            "[failing/breaks] ERROR breaks: giving up",
        ]
    )
    started = {t.name: t.node.ctime for t in wg.all_tasks()}
    first = min(started, key=lambda name: started[name])
    assert lines[0].startswith(f"[failing/{first}]")


@task.graph
def inner(x: int) -> Any:
    return steady(x=x).result


@task.graph
def outer(x: int) -> Any:
    steady(x=x + 100)
    return inner(x=x).result


def test_logs_of_a_graph_task_show_only_the_tasks_under_it() -> None:
    wg = outer.build(x=1)
    wg.run()
    whole = _cli("logs", str(wg.pk)).stdout.splitlines()
    assert sorted(whole) == ["[outer/inner/steady] steady 1", "[outer/steady] steady 101"]
    assert _cli("logs", str(wg.tasks["inner"].pk)).stdout == "[outer/inner/steady] steady 1\n"


def test_logging_to_the_terminal_is_captured_once_and_not_shown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = logging.StreamHandler(sys.stderr)  # a script's basicConfig
    handler.setFormatter(logging.Formatter("TERMINAL %(message)s"))
    logging.root.addHandler(handler)
    try:
        wg = scatter.build(n=2)
        wg.run()
        logging.getLogger("outside").warning("after the run")
    finally:
        logging.root.removeHandler(handler)
    _assert_own_lines(_outputs(wg))  # each record once, in the capture's format
    err = capsys.readouterr().err
    assert "TERMINAL log" not in err and "TERMINAL after the run" in err


def test_coroutines_an_async_task_starts_print_into_its_output() -> None:
    @task
    async def spawner() -> int:
        async def child() -> None:
            print("from a child coroutine")

        await asyncio.gather(child(), child())
        return 0

    @task.graph
    def one() -> Any:
        return spawner().result

    wg = one.build()
    wg.run()
    assert _outputs(wg)["spawner"] == "from a child coroutine\n" * 2


def test_a_store_from_before_task_output_gets_the_table(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    Store.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE task_output")
    with Store.open(path) as store:
        assert store._reader.query("SELECT count(*) FROM task_output") == [(0,)]


def _bar(stream: io.StringIO) -> ProgressDisplay:
    display = ProgressDisplay(
        lambda: {"total": 10, "remaining": 4, "FINISHED": 6}, "demo", stream=stream, mode="line"
    )
    display._draw(final=False)
    return display


def test_text_printed_outside_tasks_goes_above_the_progress_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stderr", terminal)
    install()  # the proxy now stands in front of `terminal`
    display = _bar(terminal)
    bar = terminal.getvalue()
    assert bar.startswith("\rdemo: ") and "\n" not in bar
    with live_display(display):
        print("half a ", end="", file=sys.stderr)
        assert terminal.getvalue() == bar  # a partial line waits for its end
        print("line", file=sys.stderr)
        handler = logging.StreamHandler(sys.stderr)
        logger = logging.getLogger("outside")
        logger.addHandler(handler)
        try:
            logger.warning("logged")
        finally:
            logger.removeHandler(handler)
    after = terminal.getvalue()[len(bar) :]
    # the bar is blanked, the line written, the bar drawn again below it
    blank = "\r" + " " * len(bar.strip("\r")) + "\r"
    assert after == f"{blank}half a line\n{bar}{blank}logged\n{bar}"


def test_a_timed_out_task_keeps_what_it_printed_before_its_deadline() -> None:
    release = threading.Event()
    printed = threading.Event()

    @task(timeout=0.3)
    def slow() -> int:
        print("before the deadline")
        release.wait(5)
        print("after the deadline")
        printed.set()
        return 0

    @task.graph
    def one() -> Any:
        return slow().result

    wg = one.build()
    wg.run(raise_on_error=False)
    release.set()
    # the abandoned call prints before the test ends: a print racing pytest's teardown of its
    # captured stdout (a TextIOWrapper closed by another thread) could crash the interpreter
    assert printed.wait(5)
    assert _outputs(wg)["slow"] == "before the deadline\n"


@task.pythonjob
def child_job(x: int) -> int:
    print(f"child says {x}")
    print(f"child warns {x}", file=sys.stderr)
    return x


@task.graph
def job_graph(x: int) -> Any:
    return child_job(x=x).result


def test_a_python_jobs_child_output_is_kept_with_its_task() -> None:
    wg = job_graph.build(x=5)
    wg.run()
    assert _outputs(wg)["child_job"] == "child says 5\nchild warns 5\n"


def test_the_html_page_of_a_stored_run_shows_each_task_output() -> None:
    wg = failing.build(x=4)
    wg.run(raise_on_error=False)
    store = wg._store
    assert store is not None and wg.pk is not None
    page = run_page(store, wg.pk)
    shown = {t["name"]: t["output"] for t in page["tasks"]}
    assert shown["steady"] == "steady 4"
    assert shown["breaks"] == "about to fail on 4\nERROR breaks: giving up"
    assert shown["failing"] is None  # the run itself printed nothing


def test_each_attempt_of_a_retried_task_keeps_its_own_output() -> None:
    tries: list[int] = []

    @task(retries=1)
    def flaky() -> int:
        tries.append(1)
        print(f"attempt {len(tries)}")
        if len(tries) == 1:
            raise RuntimeError("first time")
        return 0

    @task.graph
    def one() -> Any:
        return flaky().result

    wg = one.build()
    wg.run()
    store = wg._store
    assert store is not None and wg.pk is not None
    runs = {n.label: n.output for n in store.load_node(wg.pk).called}
    assert runs == {"flaky": "attempt 1\n", "flaky_attempt2": "attempt 2\n"}


def test_export_and_import_keep_each_task_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capture_module, "HEAD", 20)
    monkeypatch.setattr(capture_module, "TAIL", 20)
    wg = failing.build(x=9)
    wg.run(raise_on_error=False)
    source = wg._store
    assert source is not None and wg.pk is not None
    path = tmp_path / "run.json"
    export_run(source, wg.pk, "json", path)
    records = json.loads(path.read_text())["nodes"]
    kept = {r["label"]: (r.get("output"), r.get("output_dropped")) for r in records}
    assert kept["steady"] == ("steady 9\n", None)
    assert kept["breaks"][1] == len("about to fail on 9\nERROR breaks: giving up\n") - 40
    target = load_profile("imported").store
    result = import_run(target, path)
    assert [(o.path, o.text) for o in target.task_outputs(result.run_pk)] == [
        (o.path, o.text) for o in source.task_outputs(wg.pk)
    ]
    with sqlite3.connect(target.path) as conn:
        dropped = conn.execute("SELECT dropped FROM task_output ORDER BY dropped").fetchall()
    assert dropped == [(0,), (kept["breaks"][1],)]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"output": "x"}, "only a process has an 'output'"),
        ({"output_dropped": 3}, "only a process has an 'output'"),
    ],
)
def test_an_import_refuses_output_on_a_data_node(
    change: dict[str, Any], match: str, tmp_path: Path
) -> None:
    wg = failing.build(x=1)
    wg.run(raise_on_error=False)
    assert wg._store is not None and wg.pk is not None
    path = tmp_path / "run.json"
    export_run(wg._store, wg.pk, "json", path)
    doc = json.loads(path.read_text())
    next(r for r in doc["nodes"] if r["kind"] == "data").update(change)
    path.write_text(json.dumps(doc))
    with pytest.raises(ImportFormatError, match=match):
        import_run(load_profile("other").store, path)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"output": 12}, "'output' must be a string"),
        ({"output": "x", "output_dropped": -1}, "'output_dropped' must be a count"),
        ({"output": "x", "output_dropped": True}, "'output_dropped' must be a count"),
    ],
)
def test_an_import_refuses_a_malformed_output(
    change: dict[str, Any], match: str, tmp_path: Path
) -> None:
    wg = failing.build(x=2)
    wg.run(raise_on_error=False)
    assert wg._store is not None and wg.pk is not None
    path = tmp_path / "run.json"
    export_run(wg._store, wg.pk, "json", path)
    doc = json.loads(path.read_text())
    next(r for r in doc["nodes"] if r["label"] == "steady").update(change)
    path.write_text(json.dumps(doc))
    with pytest.raises(ImportFormatError, match=match):
        import_run(load_profile("other").store, path)

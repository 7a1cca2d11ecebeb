"""Ctrl-C stops a run: no new task starts, finished results stay stored, KeyboardInterrupt
reaches the caller. Checked on a real subprocess receiving SIGINT mid-run. (How a cancelled run
ends, nested graph tasks included, on every backend: tests/policies/test_cancellation.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from ferroflow.store import Store
from provenance_flows import committed_finished

SCRIPT = textwrap.dedent(
    """
    import signal, sys, time
    from ferroflow import task

    # Ctrl-C must raise KeyboardInterrupt here even when this process inherited SIGINT
    # ignored (pytest started as a background job of a script ignores it, and so its children)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    @task
    def slow(x: int) -> int:
        time.sleep(0.02)
        return x

    @task.graph
    def many(n: int) -> None:
        for i in range(n):
            slow(x=i)

    wg = many.build(2000)
    print("start", flush=True)
    try:
        wg.run(max_workers=2)
    except KeyboardInterrupt:
        finished = sum(t.state == "FINISHED" for t in wg.all_tasks())
        cancelled = sum(t.state == "CANCELLED" for t in wg.all_tasks())
        print("interrupted", wg.pk, finished, cancelled, wg.state, flush=True)
        sys.exit(3)
    print("not interrupted", flush=True)
    """
)


def test_sigint_cancels_the_run_and_keeps_finished_results(tmp_path: Path) -> None:
    env = {**os.environ, "FERROFLOW_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "start"
    # wait until some tasks have finished (the store has one FINISHED), not for a fixed time: on
    # a loaded machine the child may not have finished any task yet after a fixed pause
    store_file = tmp_path / "default" / "provenance.sqlite"
    deadline = time.monotonic() + 60
    while committed_finished(store_file) == 0:
        assert time.monotonic() < deadline, "no task was stored FINISHED within 60 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)  # a hang detector, not a speed assertion
    assert proc.returncode == 3, out
    word, pk, finished, cancelled, state = out.split()
    assert word == "interrupted"
    assert state == "CANCELLED"
    assert 0 < int(finished) < 2000
    assert int(finished) + int(cancelled) == 2000
    with Store.open(store_file) as store:
        run = store.load_node(int(pk))
        assert run.state == "CANCELLED"
        stored = [node for node in run.called if node.state == "FINISHED"]
        assert len(stored) == int(finished)
        for node in stored:  # every finished task has its output node and CREATE link
            assert [label for link_type, label, _ in node.outputs if link_type == "CREATE"] == [
                "result"
            ]


WHILE_SCRIPT = textwrap.dedent(
    """
    import signal, sys, time
    from ferroflow import While, WorkGraph, task

    signal.signal(signal.SIGINT, signal.default_int_handler)

    @task
    def step(x: int) -> int:
        time.sleep(0.02)
        return x + 1

    with WorkGraph("long_while") as wg:
        wg.ctx.n = step(x=0).result
        with While(wg.ctx.n < 100_000, max_iterations=100_000):
            wg.ctx.n = step(x=wg.ctx.n).result
    print("start", flush=True)
    try:
        wg.run(max_workers=2)
    except KeyboardInterrupt:
        zone = wg.tasks["while_zone"].state
        print("interrupted", wg.pk, wg.state, zone, flush=True)
        sys.exit(3)
    print("not interrupted", flush=True)
    """
)


def test_sigint_inside_a_while_stops_the_loop(tmp_path: Path) -> None:
    env = {**os.environ, "FERROFLOW_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WHILE_SCRIPT], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "start"
    store_file = tmp_path / "default" / "provenance.sqlite"
    deadline = time.monotonic() + 60
    while committed_finished(store_file) < 3:  # some iterations are done
        assert time.monotonic() < deadline, "no iteration was stored FINISHED within 60 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)  # a hang detector, not a speed assertion
    assert proc.returncode == 3, out
    word, pk, state, zone = out.split()
    assert (word, state, zone) == ("interrupted", "CANCELLED", "CANCELLED")
    with Store.open(store_file) as store:
        run = store.load_node(int(pk))
        assert run.state == "CANCELLED"
        steps = [node for node in run.called if node.label in ("step", "step1")]
        finished = [node for node in steps if node.state == "FINISHED"]
        # each finished iteration is its own stored task run; none is left RUNNING
        assert 3 <= len(finished) < 100_000
        assert all(node.state in ("FINISHED", "CANCELLED") for node in steps)

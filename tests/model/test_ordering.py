"""Ordering without data: ``a >> b`` / ``b << a`` make b wait for a (WorkGraph's ``_wait``). A
failed ``a`` skips ``b`` on every backend: tests/policies/test_failure_propagation.py."""

from __future__ import annotations

import threading
import time

import pytest
from ferroflow import FerroflowError, FutureUsageError, task

_log: list[str] = []
_lock = threading.Lock()


@task
def step(tag: str, delay: float = 0.0) -> str:
    time.sleep(delay)
    with _lock:
        _log.append(tag)
    return tag


@pytest.fixture(autouse=True)
def _clear_log() -> None:
    _log.clear()


def test_rshift_makes_b_wait_for_a() -> None:
    @task.graph
    def g() -> None:
        a = step(tag="a", delay=0.2)
        b = step(tag="b")
        a >> b

    wg = g.build()
    wg.run(max_workers=4)
    assert _log == ["a", "b"]
    assert wg.tasks.step1.ctime >= wg.tasks.step.mtime


def test_chains_lists_and_lshift() -> None:
    @task.graph
    def g() -> None:
        a = step(tag="a", delay=0.15)
        b = step(tag="b", delay=0.05)
        c = step(tag="c")
        d = step(tag="d", delay=0.05)
        e = step(tag="e", delay=0.1)
        f = step(tag="f")
        right = [b, e]
        assert (a >> right) is right  # returns the right-hand side
        [b, e] >> c
        d << c
        f << d << a

    g.build().run(max_workers=8)
    pos = {tag: i for i, tag in enumerate(_log)}
    assert pos["a"] < pos["b"] < pos["c"] < pos["d"] < pos["f"]
    assert pos["a"] < pos["e"] < pos["c"]


def test_chain_returns_right_hand_side() -> None:
    @task.graph
    def g() -> None:
        a = step(tag="a", delay=0.05)
        b = step(tag="b", delay=0.05)
        c = step(tag="c")
        assert (a >> b >> c) is c

    g.build().run(max_workers=4)
    assert _log == ["a", "b", "c"]


def test_sockets_and_data_dependencies_combine() -> None:
    @task.graph
    def g() -> str:
        a = step(tag="a", delay=0.1)
        b = step(tag="b")
        c = step(tag=b.result)
        a.result >> c
        return c.result

    wg = g.build()
    wg.run(max_workers=4)
    assert _log[-1] == "b" and _log.index("a") < 2
    assert wg.outputs.result.value == "b"


def test_cycles_are_refused_at_build_time() -> None:
    @task.graph
    def g() -> None:
        a = step(tag="a")
        b = step(tag="b")
        c = step(tag="c")
        a >> b >> c
        c >> a

    with pytest.raises(FerroflowError, match=r"'g/step2' >> 'g/step'.*cycle"):
        g.build()

    @task.graph
    def data_cycle() -> None:
        a = step(tag="a")
        b = step(tag=a.result)
        b >> a

    with pytest.raises(FerroflowError, match=r"'data_cycle/step1' >> 'data_cycle/step'"):
        data_cycle.build()

    @task.graph
    def self_loop() -> None:
        a = step(tag="a")
        a >> a

    with pytest.raises(FerroflowError, match="cannot wait for itself"):
        self_loop.build()


def test_non_sockets_are_refused() -> None:
    @task.graph
    def g() -> None:
        a = step(tag="a")
        a >> 3

    with pytest.raises(FutureUsageError, match="'>>' orders tasks"):
        g.build()


def test_ordering_inside_a_nested_graph_on_an_outer_task() -> None:
    @task.graph
    def inner(tag: str) -> str:
        x = step(tag=tag)
        return x.result

    @task.graph
    def outer() -> str:
        a = step(tag="a", delay=0.15)
        n = inner(tag="n")
        a >> n
        return n.result

    wg = outer.build()
    wg.run(max_workers=4)
    assert _log == ["a", "n"]


@pytest.mark.parametrize("lane", ["1", "0"])
def test_both_lanes(lane: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERROFLOW_FAST_LANE", lane)

    @task.graph
    def g() -> None:
        prev = step(tag="0", delay=0.01)
        for i in range(1, 6):
            nxt = step(tag=str(i))
            prev >> nxt
            prev = nxt

    g.build().run(max_workers=8)
    assert _log == [str(i) for i in range(6)]

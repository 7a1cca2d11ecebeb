"""``max_number_jobs`` caps how many tasks of one graph instance run at once (WorkGraph's
semantics: per graph instance, nested graphs have their own cap)."""

from __future__ import annotations

import threading
import time
import typing as t

import pytest
from ferroflow import dynamic, namespace, task

_lock = threading.Lock()
_now: dict[str, int] = {}
_peak: dict[str, int] = {}


@task
def hold(group: str, x: int) -> int:
    """Counts how many bodies of `group` overlap; sleeps with the GIL released."""
    with _lock:
        _now[group] = _now.get(group, 0) + 1
        _peak[group] = max(_peak.get(group, 0), _now[group])
    time.sleep(0.02)
    with _lock:
        _now[group] -= 1
    return x


@task.graph
def fan(group: str, n: int) -> t.Annotated[dict, namespace(out=dynamic(int))]:
    return {"out": {f"k{i}": hold(group=group, x=i).result for i in range(n)}}


@task.graph(max_number_jobs=2)
def capped_inner(group: str, n: int) -> t.Annotated[dict, namespace(out=dynamic(int))]:
    return {"out": {f"k{i}": hold(group=group, x=i).result for i in range(n)}}


@task.graph
def two_capped(n: int) -> t.Annotated[dict, namespace(a=dynamic(int), b=dynamic(int))]:
    return {"a": capped_inner(group="a", n=n).out, "b": capped_inner(group="b", n=n).out}


def setup_function() -> None:
    _now.clear()
    _peak.clear()


@pytest.mark.parametrize("cap", [1, 3])
def test_run_level_cap(cap: int) -> None:
    wg = fan.build("top", 12)
    wg.run(max_workers=4, max_number_jobs=cap)
    assert sorted(node.value for node in wg.outputs.out.value.values()) == list(range(12))
    assert 1 <= _peak["top"] <= cap
    assert {t.state for t in wg.all_tasks()} == {"FINISHED"}


def test_cap_set_on_the_workgraph() -> None:
    wg = fan.build("wg", 8)
    wg.max_number_jobs = 1
    wg.run(max_workers=4)
    assert _peak["wg"] == 1


def test_each_nested_graph_instance_has_its_own_cap() -> None:
    wg = two_capped.build(6)
    wg.run(max_workers=4)
    assert [s.value.value for s in wg.outputs.a] == list(range(6))
    assert _peak["a"] <= 2 and _peak["b"] <= 2


def test_a_cap_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_number_jobs"):
        fan.build("bad", 1).run(max_number_jobs=0)

"""Graph-level error handlers (WorkGraph's ``WorkGraph(error_handlers=...)``) at build time and
with the cache: warnings for handlers that serve no task, decoration checks, cache reuse, the
fast lane without a handler. How handlers retry tasks, on every backend and in nested
expansions: tests/policies/test_error_handlers.py."""

from __future__ import annotations

import threading
import typing as t
import warnings
from typing import Any

import pytest
from ferroflow import WorkflowFailedError, namespace, task

calls: list[tuple[str, float]] = []
_lock = threading.Lock()


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()


def smaller(error: BaseException, inputs: dict[str, Any], factor: float = 2) -> dict[str, Any]:
    return {"step": inputs["step"] / factor}


@task
def relax(x: float, step: float) -> float:
    """Unstable for steps above 0.1 (stands for an SCF that does not converge)."""
    with _lock:
        calls.append(("relax", step))
    if step > 0.1:
        raise ArithmeticError(f"step {step} does not converge")
    return x + step


@task
def anneal(x: float, step: float) -> float:
    with _lock:
        calls.append(("anneal", step))
    if step > 0.1:
        raise ArithmeticError(f"step {step} does not converge")
    return x - step


HANDLERS = {
    "smaller_step": {
        "tasks": ["relax*"],
        "handler": smaller,
        "exceptions": ArithmeticError,
        "max_retries": 3,
        "kwargs": {"factor": 4},
    }
}


@task.graph(error_handlers=HANDLERS)
def study(step: float) -> t.Annotated[dict, namespace(relaxed=float, again=float, annealed=float)]:  # type: ignore[type-arg]
    return {
        "relaxed": relax(x=1.0, step=step).result,
        "again": relax(x=2.0, step=step).result,
        "annealed": anneal(x=1.0, step=step).result,
    }


def test_a_handler_for_tasks_the_graph_does_not_have_is_named() -> None:
    @task.graph(error_handlers={"typo": {**HANDLERS["smaller_step"], "tasks": "relx"}})
    def g(step: float) -> float:
        return relax(x=0.0, step=step).result

    with pytest.warns(UserWarning, match=r"error handler 'typo' serves tasks \['relx'\].*relax"):
        g.build(0.01)
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        g.build(0.02)
    assert again == []  # once per graph function and handler, not per build or expansion


@task.graph(error_handlers={"never": {**HANDLERS["smaller_step"], "tasks": "nothing"}})
def countdown(n: float) -> float:  # relax returns floats: declared so (checked at run time)
    if n == 0:
        return n  # the base case makes no task: not warned about
    return countdown(n=relax(x=n - 1, step=0.0).result).result


def test_a_recursive_graph_warns_once_not_per_expansion() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        wg = countdown.build(6)
        wg.run()
    assert [str(w.message) for w in seen if "never" in str(w.message)] == [
        "@task.graph 'countdown': error handler 'never' serves tasks ['nothing'], but its body "
        "made no such task (it made: relax)"
    ]
    assert seen[0].filename == __file__  # points at the graph function


def test_tasks_retried_by_a_graph_handler_are_reused_from_the_cache() -> None:
    wg = study.build(0.5)
    wg.run(raise_on_error=False, cache=True)
    calls.clear()
    again = study.build(0.5)
    again.run(raise_on_error=False, cache=True)
    assert sorted(again.cached_tasks) == ["study/relax", "study/relax1"]
    assert [name for name, _ in calls] == ["anneal"]  # failed before: runs (and fails) again


def test_bad_graph_handlers_are_refused_at_decoration_time() -> None:
    with pytest.raises(TypeError, match=r"@task.graph 'g': error handler 'h': 'tasks' must name"):

        @task.graph(error_handlers={"h": {"handler": smaller}})
        def g() -> None: ...

    with pytest.raises(TypeError, match=r"unknown setting\(s\) \['tasks'\].*for @task.graph"):

        @task(error_handlers={"h": {"handler": smaller, "tasks": ["x"]}})
        def t() -> None: ...


def test_without_the_graph_handler_the_same_tasks_take_the_fast_lane_and_fail() -> None:
    @task.graph
    def plain(step: float) -> float:
        return relax(x=0.0, step=step).result

    wg = plain.build(0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no handler, no warning)
        with pytest.raises(WorkflowFailedError, match="does not converge"):
            wg.run()
    assert [s for _, s in calls] == [0.5]

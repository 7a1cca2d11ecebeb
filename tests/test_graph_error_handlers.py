"""Graph-level error handlers (WorkGraph's ``WorkGraph(error_handlers=...)``): a
``@task.graph`` names the tasks of its body a handler serves; they are retried with changed
inputs like tasks with handlers of their own, locally, on nested expansions and on Dask."""

from __future__ import annotations

import threading
import typing as t
import warnings
from typing import Any

import pytest
from ferroflow import WorkflowFailedError, dynamic, load_node, namespace, task

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


def test_the_graph_handler_serves_the_tasks_it_names_and_no_others() -> None:
    wg = study.build(0.5)
    wg.run(raise_on_error=False, max_workers=1)
    assert wg.tasks.relax.state == wg.tasks.relax1.state == "FINISHED"
    assert wg.outputs.relaxed.value.value == 1.0 + 0.5 / 16
    assert wg.outputs.again.value.value == 2.0 + 0.5 / 16
    assert wg.tasks.anneal.state == "FAILED"  # not named: no handler, no retry
    assert sorted(s for name, s in calls if name == "relax") == sorted([0.5, 0.125, 0.5 / 16] * 2)
    assert [s for name, s in calls if name == "anneal"] == [0.5]
    # each attempt is stored with the input it got
    attempts = [n for n in load_node(wg.pk).called if n.label and n.label.startswith("relax_")]
    assert {n.label for n in attempts} == {"relax_attempt2", "relax_attempt3"}


def test_a_task_whose_own_handler_declines_falls_back_to_the_graph_handler() -> None:
    @task(error_handlers={"never": {"handler": lambda e, i: None}})
    def relax_own(x: float, step: float) -> float:
        return relax.func(x, step)

    @task.graph(error_handlers=HANDLERS)
    def g(step: float) -> float:
        return relax_own(x=0.0, step=step).result

    wg = g.build(0.2)
    wg.run()
    assert wg.outputs.result.value.value == 0.05
    assert [s for _, s in calls] == [0.2, 0.05]


@task.graph(error_handlers=HANDLERS)
def inner(step: float) -> float:
    return relax(x=0.0, step=step).result


@task.graph
def outer(steps: list[float]) -> t.Annotated[dict, dynamic(float)]:  # type: ignore[type-arg]
    return {f"s{i}": inner(step=s).result for i, s in enumerate(steps)}


def test_each_expansion_of_a_nested_graph_gets_its_handlers() -> None:
    wg = outer.build([0.05, 0.4, 0.8])
    wg.run()
    values = {s._name: s.value.value for s in wg.outputs}
    assert values == {"s0": 0.05, "s1": 0.4 / 4, "s2": 0.8 / 16}
    assert sorted(s for _, s in calls) == sorted([0.05, 0.4, 0.1, 0.8, 0.2, 0.05])


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
def countdown(n: int) -> int:
    if n == 0:
        return n  # the base case makes no task: not warned about
    return countdown(n=relax(x=n - 1, step=0.0).result).result  # type: ignore[arg-type]


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


def test_a_graph_handler_sharing_a_name_with_the_tasks_own_has_its_own_count() -> None:
    @task(error_handlers={"s": {"handler": smaller, "exceptions": ArithmeticError}})
    def relax_s(x: float, step: float) -> float:
        return relax.func(x, step)

    graph_s = {**HANDLERS["smaller_step"], "tasks": "relax_s", "max_retries": 2}

    @task.graph(error_handlers={"s": graph_s})
    def g(step: float) -> float:
        return relax_s(x=0.0, step=step).result

    # its own "s" halves once (1.6), then the graph's "s" quarters twice: 0.4, 0.1 (one count
    # for both would have stopped at 0.4)
    wg = g.build(3.2)
    wg.run()
    assert [s for _, s in calls] == [3.2, 1.6, 0.4, 0.1]
    assert wg.outputs.result.value.value == 0.1


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


@task
def relax_remote(x: float, step: float) -> float:
    """``relax`` for Dask workers: no module globals (a lock does not pickle)."""
    if step > 0.1:
        raise ArithmeticError(f"step {step} does not converge")
    return x + step


@task.graph(error_handlers=HANDLERS)
def remote_study(step: float) -> t.Annotated[dict, namespace(relaxed=float, plain=float)]:  # type: ignore[type-arg]
    return {
        "relaxed": relax_remote(x=1.0, step=step).result,
        "plain": relax_remote(x=1.0, step=0.01).result,
    }


def test_graph_handlers_on_dask(client: Any) -> None:
    wg = remote_study.build(0.5)
    wg.run(executor=client)
    assert wg.outputs.relaxed.value.value == 1.0 + 0.5 / 16
    assert wg.outputs.plain.value.value == 1.01
    labels = sorted(n.label or "" for n in load_node(wg.pk).called)
    assert labels == [
        "relax_remote",
        "relax_remote1",
        "relax_remote_attempt2",
        "relax_remote_attempt3",
    ]

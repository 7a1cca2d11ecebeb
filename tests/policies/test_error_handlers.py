"""Error handlers on every backend: a task's own ``@task(error_handlers=...)`` and its graph's
``@task.graph(error_handlers=...)`` change inputs and try again, in order, each within its
``max_retries``, without using up the task's plain ``retries``; each attempt is stored with the
inputs it got; a handler's bad answer fails the task with an error naming task, handler and
input, and a handler that raises fails it with that error."""

from __future__ import annotations

import typing as t
from typing import Any

import pytest
from ferroflow import TaskInputError, WorkflowFailedError, dynamic, load_node, namespace, task

from policies.backends import Backend
from policies.tally import count, notes

Studied = t.Annotated[dict, namespace(relaxed=float, again=float, annealed=float)]  # type: ignore[type-arg]


def _stored_inputs(node: Any) -> dict[str, Any]:
    return {label: src for lt, label, src in node.inputs if lt == "INPUT_CALC"}


# -- a task's own handlers ---------------------------------------------------------------------


def test_a_handler_changes_an_input_until_the_task_succeeds(backend: Backend) -> None:
    f = backend.flows
    log = backend.path("steps")

    @task.graph
    def g(x: float, step: float) -> float:
        return f.plus_one(x=f.integrate(log=log, x=x, step=step).result).result

    wg = g.build(1.0, 0.8)
    backend.run(wg)
    assert notes(log) == [0.8, 0.4, 0.2, 0.1]
    assert wg.outputs.result.value == 2.1
    assert wg.tasks.integrate.state == wg.tasks.plus_one.state == "FINISHED"
    # every attempt is stored with the step it got: the provenance shows the fixes
    attempts = [n for n in load_node(wg.pk).called if n.type.endswith(".integrate")]
    assert [n.label for n in attempts] == [
        "integrate",
        "integrate_attempt2",
        "integrate_attempt3",
        "integrate_attempt4",
    ]
    assert [n.state for n in attempts] == ["FAILED", "FAILED", "FAILED", "FINISHED"]
    assert [_stored_inputs(n)["step"].value for n in attempts] == [0.8, 0.4, 0.2, 0.1]
    x_pks = {_stored_inputs(n)["x"].pk for n in attempts}
    assert len(x_pks) == 1, "the unchanged input is the same data node for every attempt"
    assert "step 0.8 is too large" in (attempts[0].error or "")
    assert "Traceback" in (attempts[0].error or "")
    assert wg.tasks.integrate.pk == attempts[3].pk


def test_max_retries_bounds_a_handler(backend: Backend) -> None:
    f = backend.flows
    log = backend.path("steps")

    @task.graph
    def g(x: float, step: float) -> float:
        return f.plus_one(x=f.integrate(log=log, x=x, step=step).result).result

    wg = g.build(1.0, 1.6)
    with pytest.raises(WorkflowFailedError, match=r"step 0\.2 is too large") as info:
        backend.run(wg)
    assert notes(log) == [1.6, 0.8, 0.4, 0.2], "three fixes, then the handler is spent"
    assert isinstance(info.value.failed["g/integrate"], ArithmeticError)
    assert wg.tasks.integrate.state == "FAILED" and wg.tasks.plus_one.state == "SKIPPED"
    stored = [n.state for n in load_node(wg.pk).called if n.type.endswith(".integrate")]
    assert stored == ["FAILED"] * 4


def test_handlers_are_asked_in_order_and_may_decline(backend: Backend) -> None:
    f = backend.flows
    log = backend.path("asked")

    @task.graph
    def g(value: float) -> float:
        return f.check(log=log, value=value).result

    wg = g.build(500.0)
    backend.run(wg)
    assert wg.outputs.result.value == 0.5
    # the KeyError handler is not asked, "declines" says None, "units" fixes
    assert notes(log) == ["asked", "fixed"]
    labels = [n.label for n in load_node(wg.pk).called]
    assert labels == ["check", "check_attempt2"], "a declining handler costs no attempt"


def test_a_handler_changing_an_unknown_input_fails_the_task_naming_it(backend: Backend) -> None:
    f = backend.flows

    @task.graph
    def g(x: int) -> int:
        return f.plus_one(x=f.fragile(x=x).result).result

    wg = g.build(1)
    with pytest.raises(WorkflowFailedError) as info:
        backend.run(wg)
    (error,) = info.value.failed.values()
    assert isinstance(error, TaskInputError)
    assert str(error) == (
        "task 'g/fragile': error handler 'bad' changed unknown input(s) ['nope']; the task's "
        "inputs are ['x']"
    )
    assert wg.tasks.fragile.state == "FAILED" and wg.tasks.plus_one.state == "SKIPPED"
    stored = load_node(wg.tasks.fragile.pk)
    assert stored.label == "fragile" and stored.state == "FAILED"
    assert "TaskInputError" in (stored.error or "")


def test_a_handler_that_raises_fails_the_task_with_its_error_and_no_retry(
    backend: Backend,
) -> None:
    f = backend.flows
    calls = backend.path("calls")

    @task.graph
    def g(x: int) -> int:
        return f.plus_one(x=f.handled_by_a_broken_handler(counter=calls, x=x).result).result

    wg = g.build(1)
    with pytest.raises(WorkflowFailedError, match="g/handled_by_a_broken_handler: LookupError"):
        backend.run(wg)
    error = wg.tasks.handled_by_a_broken_handler.error
    assert type(error) is LookupError and str(error) == "the handler broke on: x=1 is bad"
    assert count(calls) == 1, "its retries=3 are not tried once a handler raised"
    assert wg.tasks.handled_by_a_broken_handler.state == "FAILED"
    assert wg.tasks.plus_one.state == "SKIPPED"
    (stored,) = load_node(wg.pk).called
    assert stored.label == "handled_by_a_broken_handler" and stored.state == "FAILED"
    text = stored.error or ""
    assert text.rstrip().endswith("LookupError: the handler broke on: x=1 is bad")
    assert "in breaks" in text, "the handler's traceback is stored"


def test_a_handler_answering_neither_a_dict_nor_none_fails_the_task_naming_it(
    backend: Backend,
) -> None:
    f = backend.flows

    @task.graph
    def g(x: int) -> int:
        return f.plus_one(x=f.handled_by_a_list(x=x).result).result

    wg = g.build(1)
    with pytest.raises(WorkflowFailedError) as info:
        backend.run(wg)
    message = (
        "task 'g/handled_by_a_list': error handler 'odd' must return a dict of inputs to "
        "change or None, got list"
    )
    (error,) = info.value.failed.values()
    assert type(error) is TypeError and str(error) == message
    assert wg.tasks.handled_by_a_list.state == "FAILED" and wg.tasks.plus_one.state == "SKIPPED"
    (stored,) = load_node(wg.pk).called
    assert stored.state == "FAILED" and message in (stored.error or "")


def test_fixes_by_a_handler_do_not_use_up_plain_retries(backend: Backend) -> None:
    f = backend.flows
    log = backend.path("xs")

    @task.graph
    def g(x: int) -> int:
        return f.keeps_failing(log=log, x=x).result

    wg = g.build(1)
    with pytest.raises(WorkflowFailedError, match="x=2 fails too"):
        backend.run(wg)
    # attempt 2 is the handler's fix (x=2), attempt 3 the one plain retry (retries=1), with the
    # fixed input
    assert notes(log) == [1, 2, 2]
    attempts = [n for n in load_node(wg.pk).called if n.type.endswith(".keeps_failing")]
    assert [(n.label, n.state) for n in attempts] == [
        ("keeps_failing", "FAILED"),
        ("keeps_failing_attempt2", "FAILED"),
        ("keeps_failing_attempt3", "FAILED"),
    ]
    assert [_stored_inputs(n)["x"].value for n in attempts] == [1, 2, 2]
    for attempt, x in zip(attempts, [1, 2, 2], strict=True):
        assert f"ValueError: x={x} fails too" in (attempt.error or ""), attempt.label
    error = wg.tasks.keeps_failing.error
    assert type(error) is ValueError and str(error) == "x=2 fails too"
    assert wg.tasks.keeps_failing.pk == attempts[2].pk


# -- a graph's handlers ------------------------------------------------------------------------


def _relaxed(log: str) -> list[float]:
    return sorted(step for name, step in notes(log) if name == "relax")


def test_a_graph_handler_serves_the_tasks_it_names_and_no_others(backend: Backend) -> None:
    f = backend.flows
    log = backend.path("calls")

    @task.graph(error_handlers=f.HANDLERS)
    def study(step: float) -> Studied:
        return {
            "relaxed": f.relax(log=log, x=1.0, step=step).result,
            "again": f.relax(log=log, x=2.0, step=step).result,
            "annealed": f.anneal(log=log, x=1.0, step=step).result,
        }

    wg = study.build(0.5)
    backend.run(wg, raise_on_error=False, max_workers=1)
    assert wg.tasks.relax.state == wg.tasks.relax1.state == "FINISHED"
    assert wg.outputs.relaxed.value.value == 1.0 + 0.5 / 16
    assert wg.outputs.again.value.value == 2.0 + 0.5 / 16
    assert wg.tasks.anneal.state == "FAILED", "not named: no handler, no retry"
    assert _relaxed(log) == sorted([0.5, 0.125, 0.5 / 16] * 2)
    assert [step for name, step in notes(log) if name == "anneal"] == [0.5]
    labels = sorted(n.label for n in load_node(wg.pk).called)
    assert labels == [
        "anneal",
        "relax",
        "relax1",
        "relax1_attempt2",
        "relax1_attempt3",
        "relax_attempt2",
        "relax_attempt3",
    ]
    for node in load_node(wg.pk).called:  # each attempt is stored with the step it got
        if node.label.startswith("relax"):
            attempt = int(node.label.partition("_attempt")[2] or 1)
            assert _stored_inputs(node)["step"].value == 0.5 / 4 ** (attempt - 1), node.label


def test_a_task_whose_own_handler_declines_falls_back_to_the_graph_handler(
    backend: Backend,
) -> None:
    f = backend.flows
    log = backend.path("calls")

    @task.graph(error_handlers={"g_step": {**f.HANDLERS["smaller_step"], "tasks": "relax_own"}})
    def g(step: float) -> float:
        return f.relax_own(log=log, x=0.0, step=step).result

    wg = g.build(0.2)
    backend.run(wg)
    assert wg.outputs.result.value == 0.05
    assert notes(log) == [["relax_own", 0.2], ["relax_own", 0.05]]


def test_a_graph_handler_sharing_a_name_with_the_tasks_own_has_its_own_count(
    backend: Backend,
) -> None:
    f = backend.flows
    log = backend.path("calls")
    graph_s = {**f.HANDLERS["smaller_step"], "tasks": "relax_s", "max_retries": 2}

    @task.graph(error_handlers={"s": graph_s})
    def g(step: float) -> float:
        return f.relax_s(log=log, x=0.0, step=step).result

    # its own "s" halves once (1.6), then the graph's "s" quarters twice: 0.4, 0.1 (one count
    # for both would have stopped at 0.4)
    wg = g.build(3.2)
    backend.run(wg)
    assert [step for _, step in notes(log)] == [3.2, 1.6, 0.4, 0.1]
    assert wg.outputs.result.value == 0.1


def test_each_expansion_of_a_nested_graph_gets_its_handlers(backend: Backend) -> None:
    f = backend.flows
    log = backend.path("calls")

    @task.graph(error_handlers=f.HANDLERS)
    def inner(step: float) -> float:
        return f.relax(log=log, x=0.0, step=step).result

    @task.graph
    def outer(steps: list[float]) -> t.Annotated[dict, dynamic(float)]:  # type: ignore[type-arg]
        return {f"s{i}": inner(step=s).result for i, s in enumerate(steps)}

    wg = outer.build([0.05, 0.4, 0.8])
    backend.run(wg)
    values = {name: node.value for name, node in wg.outputs.value.items()}
    assert values == {"s0": 0.05, "s1": 0.4 / 4, "s2": 0.8 / 16}
    assert _relaxed(log) == sorted([0.05, 0.4, 0.1, 0.8, 0.2, 0.05])


# -- decoration: no backend involved -----------------------------------------------------------


def f(x: int) -> int:
    return x


def test_bad_handler_settings_are_refused_at_decoration() -> None:
    with pytest.raises(TypeError, match="task 'f': error handler 'h': 'handler' must be"):
        task(error_handlers={"h": {"handler": 3}})(f)
    with pytest.raises(TypeError, match="task 'f': error handler 'h': unknown setting"):
        task(error_handlers={"h": {"handler": print, "exit_codes": [410]}})(f)
    with pytest.raises(ValueError, match="'max_retries' must be an int >= 1"):
        task(error_handlers={"h": {"handler": print, "max_retries": 0}})(f)
    assert task(error_handlers=None)(f).error_handlers == ()

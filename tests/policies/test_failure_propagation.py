"""A task that fails, on every backend: its dependents are SKIPPED (transitively), independent
tasks finish and are stored, ``run()`` raises :class:`WorkflowFailedError` naming every failed
task (its error the ``failed`` entry and the ``__cause__``), the failed task is stored FAILED
with its inputs, its traceback and no outputs; errors that are ferroflow's own (a return value
that does not fit the outputs, a task called inside a task body, a value the store cannot keep)
have the same type and text everywhere, naming the task and the socket.

Plain tasks take the fast lane on the ``fast`` backend (checked below), so this suite is where
the fast lane's failures are held to the general runner's."""

from __future__ import annotations

from typing import Any

import pytest
from ferroflow import (
    GraphContextError,
    NotRunError,
    TaskOutputError,
    ValueNotStoredError,
    WorkflowFailedError,
    get_current_profile,
    load_node,
    task,
)

from policies.backends import Backend, only
from policies.tally import notes


def _failing_graph(f: Any) -> Any:
    @task.graph
    def g(n: int) -> Any:
        outs = [f.fails_on_three(x=i).result for i in range(n)]
        f.inc(x=f.inc(x=outs[3]).result)  # skipped, and its own dependent too
        return f.inc(x=outs[0]).result  # independent of the failure: finishes

    return g


def test_a_failed_task_skips_its_dependents_and_independent_tasks_finish(
    backend: Backend,
) -> None:
    wg = _failing_graph(backend.flows).build(5)
    with pytest.raises(WorkflowFailedError) as info:
        backend.run(wg)
    assert str(info.value) == (
        "1 task(s) failed in workflow 'g' (2 dependent task(s) skipped); finished results are "
        "stored:\n  g/fails_on_three3: ValueError: three is bad (x=3)"
    )
    error = info.value.failed["g/fails_on_three3"]
    assert list(info.value.failed) == ["g/fails_on_three3"]
    assert type(error) is ValueError and str(error) == "three is bad (x=3)"
    assert info.value.__cause__ is error

    tasks = {t.name: t for t in wg.all_tasks()}
    assert tasks["fails_on_three3"].state == "FAILED" and tasks["fails_on_three3"].error is error
    with pytest.raises(NotRunError, match="failed"):
        tasks["fails_on_three3"].outputs.value  # noqa: B018
    assert tasks["inc"].state == tasks["inc1"].state == "SKIPPED"
    assert tasks["inc"].pk is None and tasks["inc1"].pk is None, "skipped tasks never started"
    assert tasks["inc2"].state == "FINISHED" and tasks["inc2"].outputs["result"].value == 1
    assert wg.outputs.result.value == 1
    others = [tasks[f"fails_on_three{i or ''}"] for i in (0, 1, 2, 4)]
    assert [t.outputs["result"].value for t in others] == [0, 1, 2, 4]
    assert wg.state == "FAILED"
    # plain tasks took the fast lane on the fast backend, and only there
    assert {t.node.fast_box is not None for t in tasks.values()} == {backend.fast_lane}

    failed = load_node(tasks["fails_on_three3"].pk)
    assert failed.state == "FAILED" and failed.label == "fails_on_three3"
    inputs = [(lt, label, n.value) for lt, label, n in failed.inputs if lt == "INPUT_CALC"]
    assert inputs == [("INPUT_CALC", "x", 3)]
    assert failed.caller is not None and failed.caller.pk == wg.pk
    assert failed.outputs == []
    stored = {n.label: n.state for n in load_node(wg.pk).called}
    assert stored == {
        "fails_on_three": "FINISHED",
        "fails_on_three1": "FINISHED",
        "fails_on_three2": "FINISHED",
        "fails_on_three3": "FAILED",
        "fails_on_three4": "FINISHED",
        "inc2": "FINISHED",
    }, "skipped tasks are not stored"
    assert load_node(wg.pk).state == "FAILED"

    text = failed.error or ""
    assert text.rstrip().endswith("ValueError: three is bad (x=3)")
    assert text.startswith("Traceback (most recent call last):")
    assert "in fails_on_three" in text, "the traceback reaches into the task's body"


def test_a_failed_task_skips_the_tasks_ordered_after_it(backend: Backend) -> None:
    f = backend.flows
    log = backend.path("ran")

    @task.graph
    def g() -> None:
        failing = f.fails_on_three(x=3)
        f.noted(log=log, tag="other")  # independent: runs
        failing >> f.noted(log=log, tag="b") >> f.noted(log=log, tag="c")

    wg = g.build()
    with pytest.raises(WorkflowFailedError, match=r"\(2 dependent task\(s\) skipped\)") as info:
        backend.run(wg)
    assert list(info.value.failed) == ["g/fails_on_three"]
    assert wg.tasks.fails_on_three.state == "FAILED"
    assert wg.tasks.noted.state == "FINISHED"
    assert wg.tasks.noted1.state == wg.tasks.noted2.state == "SKIPPED"
    assert wg.tasks.noted1.pk is None and wg.tasks.noted2.pk is None
    assert notes(log) == ["other"], "the bodies of the tasks ordered after it never ran"
    stored = {n.label: n.state for n in load_node(wg.pk).called}
    assert stored == {"fails_on_three": "FAILED", "noted": "FINISHED"}


def test_raise_on_error_false_returns_what_finished(backend: Backend) -> None:
    wg = _failing_graph(backend.flows).build(5)
    outputs = backend.run(wg, raise_on_error=False)
    assert outputs["result"].value == 1
    assert wg.state == "FAILED"
    assert wg.tasks.fails_on_three3.state == "FAILED"
    assert isinstance(wg.tasks.fails_on_three3.error, ValueError)
    assert wg.tasks.inc.state == wg.tasks.inc1.state == "SKIPPED"


def test_a_return_value_that_does_not_fit_the_outputs_fails_the_task(backend: Backend) -> None:
    f = backend.flows

    @task.graph
    def g() -> Any:
        return f.inc(x=f.two(x=1).a).result

    wg = g.build()
    with pytest.raises(WorkflowFailedError) as info:
        backend.run(wg)
    message = (
        "task 'g/two': missing required output(s) b in the returned value; return them, or "
        "declare them optional as namespace(name=(type, default))"
    )
    assert str(info.value) == (
        "1 task(s) failed in workflow 'g' (1 dependent task(s) skipped); finished results are "
        f"stored:\n  g/two: TaskOutputError: {message}"
    )
    error = info.value.failed["g/two"]
    assert isinstance(error, TaskOutputError) and str(error) == message
    assert wg.tasks.two.state == "FAILED" and wg.tasks.inc.state == "SKIPPED"
    stored = load_node(wg.tasks.two.pk)
    assert stored.state == "FAILED" and message in (stored.error or "")
    assert stored.outputs == []


def test_calling_a_task_inside_a_task_body_is_refused(backend: Backend) -> None:
    f = backend.flows

    @task.graph
    def g() -> None:
        f.calls_a_task(x=1)
        f.calls_a_task_timed(x=1)  # its body runs on a helper thread locally

    wg = g.build()
    with pytest.raises(WorkflowFailedError) as info:
        backend.run(wg)
    message = (
        "task 'inc' was called inside the body of a running task. Calling a task adds it to a "
        "graph: do it in a @task.graph function (then .build() or call that graph). To run the "
        "plain function, call inc.func(...)."
    )
    assert sorted(info.value.failed) == ["g/calls_a_task", "g/calls_a_task_timed"]
    for error in info.value.failed.values():
        assert type(error) is GraphContextError and str(error) == message
    assert [t.name for t in wg.all_tasks()] == ["calls_a_task", "calls_a_task_timed"], (
        "nothing was added to the graph"
    )


@only(
    "fast",
    "general",
    "async",
    why="on Dask a return value comes back from the worker pickled: one that does not pickle "
    "fails its task there (with Dask's serialisation error) before the store could keep it",
)
def test_a_value_the_store_cannot_keep_names_task_and_socket(backend: Backend) -> None:
    f = backend.flows

    @task.graph
    def g() -> Any:
        f.inc(x=1)
        return f.make_unpicklable(x=2).result

    wg = g.build()
    where = "task 'g/make_unpicklable', output 'result'"
    with pytest.raises(ValueNotStoredError, match=where) as info:
        backend.run(wg)
    assert "refuses to be pickled" in str(info.value)
    assert list(info.value.values) == [where]
    # the run completed and everything else is stored
    assert wg.state == "FINISHED"
    assert wg.tasks.make_unpicklable.state == "FINISHED"
    store = get_current_profile().store
    assert store.load_node(wg.tasks.inc.outputs["result"].value.pk).value == 2
    kept = store.load_node(wg.tasks.make_unpicklable.outputs["result"].value.pk)
    assert kept.codec == "unserialisable" and kept.value.repr == "<unpicklable>"

    # raise_on_error=False: no exception; the run finished and the value is kept as its repr
    again = g.build()
    outputs = backend.run(again, raise_on_error=False)
    assert again.state == "FINISHED" and again.tasks.make_unpicklable.state == "FINISHED"
    assert isinstance(outputs["result"].value, f.Unpicklable), "the result is in memory"
    kept = store.load_node(again.tasks.make_unpicklable.outputs["result"].value.pk)
    assert kept.codec == "unserialisable" and kept.value.repr == "<unpicklable>"

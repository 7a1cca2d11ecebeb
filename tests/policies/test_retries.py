"""``@task(retries=N, retry_on=..., backoff=...)`` on every backend: a flaky task succeeds on a
later attempt, an exception ``retry_on`` does not cover fails at once (as does a return value
that does not fit the outputs), exhausted retries fail with the last error, and every attempt is
stored as its own process node (``name``, ``name_attempt2``, ...; failed ones FAILED with their
traceback)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from ferroflow import TaskOutputError, WorkflowFailedError, load_node, task
from provenance_flows import three_attempts

from policies.backends import Backend
from policies.tally import count, notes


def _attempts(wg: Any, name: str) -> list[Any]:
    """The stored process nodes of task ``name``'s attempts, in the order they were made."""
    return [n for n in load_node(wg.pk).called if n.type.endswith(f".{name}")]


def test_a_flaky_task_succeeds_on_its_third_attempt(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    f = backend.flows
    calls = backend.path("flaky")

    @task.graph
    def g(x: int) -> int:
        return f.plus_one(x=f.flaky(counter=calls, x=x).result).result

    wg = g.build(x=4)
    with caplog.at_level("WARNING", logger="ferroflow"):
        backend.run(wg)
    warned = [r.getMessage() for r in caplog.records if r.name.startswith("ferroflow")]
    assert warned == [], "nothing about the retries is left unapplied or warned about"
    assert count(calls) == 3
    assert wg.outputs.result.value == 41
    assert wg.tasks.flaky.state == "FINISHED" and wg.tasks.plus_one.state == "FINISHED"

    attempts = three_attempts(wg, "flaky", {"counter": calls, "x": 4})
    for i, attempt in enumerate(attempts[:2], 1):
        error = attempt.error or ""
        assert f"attempt {i}: the cluster dropped" in error and "ConnectionError" in error
        assert "Traceback" in error and "in flaky" in error, "the body's traceback is stored"


def test_an_exception_not_in_retry_on_fails_at_once(backend: Backend) -> None:
    f = backend.flows
    calls = backend.path("picky")

    @task.graph
    def g() -> int:
        return f.plus_one(x=f.picky(counter=calls).result).result

    wg = g.build()
    with pytest.raises(WorkflowFailedError, match="g/picky: KeyError") as info:
        backend.run(wg)
    assert count(calls) == 1
    error = info.value.failed["g/picky"]
    assert isinstance(error, KeyError) and error.args == ("not a transient failure",)
    assert wg.tasks.picky.state == "FAILED" and wg.tasks.plus_one.state == "SKIPPED"
    assert [(n.label, n.state) for n in _attempts(wg, "picky")] == [("picky", "FAILED")]


def test_exhausted_retries_fail_with_the_last_error_and_store_every_attempt(
    backend: Backend,
) -> None:
    f = backend.flows
    calls = backend.path("always")

    @task.graph
    def g() -> int:
        return f.always_fails(counter=calls).result

    wg = g.build()
    with pytest.raises(WorkflowFailedError, match="failure 2") as info:
        backend.run(wg)
    assert count(calls) == 2
    error = info.value.failed["g/always_fails"]
    assert isinstance(error, RuntimeError) and str(error) == "failure 2"
    attempts = _attempts(wg, "always_fails")
    assert [(n.label, n.state) for n in attempts] == [
        ("always_fails", "FAILED"),
        ("always_fails_attempt2", "FAILED"),
    ]
    assert "failure 1" in (attempts[0].error or "")
    assert "failure 2" in (attempts[1].error or "")
    assert all("Traceback" in (n.error or "") for n in attempts)
    assert wg.tasks.always_fails.pk == attempts[1].pk, "the task's node is its last attempt's"
    assert wg.tasks.always_fails.state == "FAILED"


def test_a_return_value_that_does_not_fit_the_outputs_is_not_retried(backend: Backend) -> None:
    f = backend.flows
    calls = backend.path("misfit")

    @task.graph
    def g() -> int:
        return f.plus_one(x=f.misfit(counter=calls, x=1).a).result

    wg = g.build()
    with pytest.raises(WorkflowFailedError, match="g/misfit: TaskOutputError") as info:
        backend.run(wg)
    assert count(calls) == 1, "retries=2, yet one call: a retry cannot mend the code"
    error = info.value.failed["g/misfit"]
    assert isinstance(error, TaskOutputError)
    assert str(error).startswith("task 'g/misfit': missing required output(s) b")
    assert wg.tasks.misfit.state == "FAILED" and wg.tasks.plus_one.state == "SKIPPED"
    assert [(n.label, n.state) for n in _attempts(wg, "misfit")] == [("misfit", "FAILED")]


def test_backoff_waits_between_attempts(backend: Backend) -> None:
    f = backend.flows
    log = backend.path("starts")

    @task.graph
    def g() -> int:
        return f.slow_flaky(log=log).result

    wg = g.build()
    backend.run(wg, provenance=False)
    assert wg.outputs.result.value == 1
    starts = notes(log)
    assert len(starts) == 3
    # each attempt started at least the backoff (0.2 s) after the one before it started
    assert all(later - earlier >= 0.2 for earlier, later in itertools.pairwise(starts)), starts


def test_a_retried_task_feeds_its_consumers_with_and_without_provenance(
    backend: Backend,
) -> None:
    f = backend.flows
    assert f.flaky.needs_runner, "a task with retries never takes the fast lane"

    for provenance in (True, False):
        calls = backend.path(f"flaky-{provenance}")

        @task.graph
        def g(counter: str, x: int) -> int:
            f.plus_one(x=x)  # independent of the retried task
            once = f.plus_one(x=f.flaky(counter=counter, x=x).result).result
            return f.plus_one(x=once).result

        wg = g.build(counter=calls, x=1)
        backend.run(wg, provenance=provenance)
        assert wg.outputs.result.value == 12 and count(calls) == 3
        assert (wg.pk is not None) == provenance
        # the retried task and the consumers of its output run in the general runner (they
        # read its output from there); an independent plain task in the fast lane, if any
        lanes = {t.name: t.node.fast_box is not None for t in wg.all_tasks()}
        assert lanes == {
            "plus_one": backend.fast_lane,
            "flaky": False,
            "plus_one1": False,
            "plus_one2": False,
        }


# -- decoration: no backend involved -----------------------------------------------------------


def test_bad_arguments_are_refused() -> None:
    def f() -> int:
        return 1

    with pytest.raises(ValueError, match="retries must be an int"):
        task(retries=-1)(f)
    with pytest.raises(TypeError, match="retry_on must be an exception class"):
        task(retries=1, retry_on=(ValueError, "x"))(f)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backoff"):
        task(retries=1, backoff=-1)(f)
    with pytest.raises(ValueError, match="timeout"):
        task(timeout=0)(f)

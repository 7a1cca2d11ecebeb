"""WorkGraph-style error handlers (change inputs, then try again) and a run cancelled while a
task waits to retry."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from ferroflow import RunTimeoutError, TaskInputError, WorkflowFailedError, load_node, task
from ferroflow.errors import RetryCancelledError

seen: list[Any] = []
_lock = threading.Lock()


@pytest.fixture(autouse=True)
def _reset() -> None:
    seen.clear()


def halve_step(error: BaseException, inputs: dict[str, Any], factor: int = 2) -> dict[str, Any]:
    return {"step": inputs["step"] / factor}


@task(
    error_handlers={
        "halve": {"handler": halve_step, "exceptions": ArithmeticError, "max_retries": 3}
    }
)
def integrate(x: float, step: float) -> float:
    with _lock:
        seen.append(step)
    if step > 0.1:
        raise ArithmeticError(f"step {step} is too large: unstable")
    return x + step


def test_a_handler_changes_the_input_until_the_task_succeeds() -> None:
    @task.graph
    def g(x: float, step: float) -> float:
        return integrate(x=x, step=step).result

    wg = g.build(1.0, 0.8)
    wg.run()
    assert seen == [0.8, 0.4, 0.2, 0.1]
    assert wg.outputs.result.value == 1.1
    # every attempt is stored, each with the step it got: the provenance shows the fixes
    run = load_node(wg.pk)
    attempts = sorted(run.called, key=lambda n: n.pk)
    assert [n.label for n in attempts] == [
        "integrate",
        "integrate_attempt2",
        "integrate_attempt3",
        "integrate_attempt4",
    ]
    assert [n.state for n in attempts] == ["FAILED", "FAILED", "FAILED", "FINISHED"]
    steps = [dict((label, src.value) for _, label, src in n.inputs)["step"] for n in attempts]
    assert steps == [0.8, 0.4, 0.2, 0.1]
    x_pks = {dict((label, src.pk) for _, label, src in n.inputs)["x"] for n in attempts}
    assert len(x_pks) == 1  # the unchanged input is the same data node for every attempt
    assert "too large" in (attempts[0].error or "")


def test_max_retries_bounds_the_handler() -> None:
    @task.graph
    def g(x: float, step: float) -> float:
        return integrate(x=x, step=step).result

    with pytest.raises(WorkflowFailedError, match=r"step 0\.2 is too large"):
        g.build(1.0, 1.6).run()
    assert seen == [1.6, 0.8, 0.4, 0.2]  # three fixes, then the handler is spent


def _give_up(error: BaseException, inputs: dict[str, Any]) -> None:
    seen.append("asked")
    return None


def _fix_units(error: BaseException, inputs: dict[str, Any], scale: float) -> dict[str, Any]:
    seen.append("fixed")
    return {"value": inputs["value"] * scale}


@task(
    retries=1,
    error_handlers={
        "unrelated": {"handler": _fix_units, "exceptions": KeyError, "kwargs": {"scale": 0.0}},
        "declines": {"handler": _give_up, "exceptions": ValueError},
        "units": {"handler": _fix_units, "exceptions": ValueError, "kwargs": {"scale": 1e-3}},
    },
)
def check(value: float) -> float:
    if value > 1:
        raise ValueError(f"{value} is out of range")
    return value


def test_handlers_are_asked_in_order_and_may_decline() -> None:
    @task.graph
    def g(value: float) -> float:
        return check(value=value).result

    wg = g.build(500.0)
    wg.run()
    assert wg.outputs.result.value == 0.5
    assert seen == ["asked", "fixed"]  # KeyError handler skipped, "declines" said None


def test_a_handler_naming_an_unknown_input_fails_the_task_clearly() -> None:
    @task(error_handlers={"bad": {"handler": lambda e, i: {"nope": 1}}})
    def fragile(x: int) -> int:
        raise ValueError("always")

    @task.graph
    def g(x: int) -> int:
        return fragile(x=x).result

    with pytest.raises(WorkflowFailedError) as info:
        g.build(1).run()
    (error,) = info.value.failed.values()
    assert isinstance(error, TaskInputError)
    assert "'g/fragile'" in str(error) and "'bad'" in str(error) and "nope" in str(error)


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


attempts: list[float] = []


@task(retries=5, backoff=30.0)
def patient(x: int) -> int:
    attempts.append(time.monotonic())
    raise ConnectionError("the service is down")


@task
def quick(x: int) -> int:
    return x + 1


def test_cancel_while_waiting_to_retry_stops_at_once() -> None:
    attempts.clear()

    @task.graph
    def g(x: int) -> int:
        quick(x=x)
        return quick(x=patient(x=x).result).result

    wg = g.build(1)
    started = time.monotonic()
    with pytest.raises(RunTimeoutError):
        wg.run(timeout=0.5)
    elapsed = time.monotonic() - started
    assert len(attempts) == 1  # no second attempt after the cancel
    assert elapsed < 25, f"the run waited for the 30 s backoff ({elapsed:.1f} s)"
    node = wg.tasks.patient
    assert node.state == "CANCELLED" and isinstance(node.error, RetryCancelledError)
    stored = load_node(node.pk)
    assert stored.state == "CANCELLED" and "cancelled before attempt 2" in (stored.error or "")
    assert load_node(wg.pk).state == "CANCELLED"
    assert wg.tasks.quick1.state == "CANCELLED"  # its dependent: cancelled, not skipped

"""Values checked as they arrive at run time, not only constants at build time (issue 17):

* a task's returned value against its declared output type, and an upstream task's value
  against the input's declared type (``typing`` forms understood, the check shallow), in the
  fast lane and the general runner alike;
* a coroutine returned by a plain ``def`` task is refused (and closed: no "never awaited"
  warning), never stored as a FINISHED value;
* an output (future) of another workflow, one that already ran or one only built, is refused
  when the new graph is built (it used to alias an unrelated task of the new run).
"""

from __future__ import annotations

import asyncio
import gc
import typing as t
import warnings
from collections.abc import Iterator
from typing import Annotated, Any, Optional

import pytest
from ferroflow import (
    ForeignFutureError,
    TaskInputError,
    TaskOutputError,
    WorkflowFailedError,
    load_node,
    task,
)


@pytest.fixture(params=["fast", "general"])
def lane(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("FERROFLOW_FAST_LANE", "1" if request.param == "fast" else "0")
    yield request.param


@task
def text() -> Any:
    return "abc"


@task
def says_int() -> int:
    return "abc"  # type: ignore[return-value]


@task
def says_list() -> list[int]:
    return (1, 2)  # type: ignore[return-value]


@task
def says_annotated() -> Annotated[int, "a count"]:
    return "x"  # type: ignore[return-value]


@task
def says_optional() -> Optional[int]:  # noqa: UP045 - the typing form is what is tested
    return None


@task
def says_union() -> int | None:
    return 3


@task
def says_float() -> float:
    return 2  # an int is a float (PEP 484)


@task
def says_int_gives_bool() -> int:
    return True  # a subclass fits


@task
def says_literal() -> t.Literal["a", "b"]:
    return "c"  # type: ignore[return-value]


@task
def wants_int(x: int) -> int:
    return x


@task
def wants_optional(x: int | None) -> int:
    return 0 if x is None else x


@task.graph
def outputs_checked() -> None:
    says_int()
    says_list()
    says_annotated()
    says_optional()
    says_union()
    says_float()
    says_int_gives_bool()
    says_literal()


def test_a_returned_value_is_checked_against_the_declared_type(lane: str) -> None:
    wg = outputs_checked.build()
    with pytest.raises(WorkflowFailedError):
        wg.run()
    states = {task.name: (task.state, str(task.error)) for task in wg.all_tasks()}
    for name, shown in (
        ("says_int", "declared int, but the function returned str 'abc'"),
        ("says_list", "declared list[int], but the function returned tuple (1, 2)"),
        ("says_annotated", "declared int, but the function returned str 'x'"),
        ("says_literal", "declared Literal['a', 'b'], but the function returned str 'c'"),
    ):
        state, error = states[name]
        assert state == "FAILED", name
        assert f"task 'outputs_checked/{name}', output 'result': {shown}" in error, error
        task_node = next(x for x in wg.all_tasks() if x.name == name)
        assert isinstance(task_node.error, TaskOutputError)
        assert task_node.node.outputs is None  # nothing stored as its result
    for name in ("says_optional", "says_union", "says_float", "says_int_gives_bool"):
        assert states[name][0] == "FINISHED", states[name]


@task.graph
def inputs_checked() -> None:
    wants_int(x=text().result)
    wants_optional(x=says_optional().result)


def test_a_value_from_another_task_is_checked_at_the_input(lane: str) -> None:
    wg = inputs_checked.build()
    with pytest.raises(WorkflowFailedError):
        wg.run()
    tasks = {x.name: x for x in wg.all_tasks()}
    bad = tasks["wants_int"]
    assert bad.state == "FAILED" and isinstance(bad.error, TaskInputError)
    assert "task 'inputs_checked/wants_int', input 'x' (a value from another task): expected " in (
        str(bad.error)
    )
    assert "got str 'abc'" in str(bad.error)
    assert bad.pk is not None and load_node(bad.pk).state == "FAILED"
    assert tasks["wants_optional"].state == "FINISHED"


@task
def forgot_to_await() -> Any:
    return asyncio.sleep(0)


@task
async def awaited() -> int:
    await asyncio.sleep(0)
    return 1


@task.graph
def sync_coroutine() -> None:
    forgot_to_await()
    awaited()


def test_a_coroutine_from_a_plain_task_is_refused_and_closed(lane: str) -> None:
    wg = sync_coroutine.build()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(WorkflowFailedError, match="returned a coroutine"):
            wg.run()
        gc.collect()
    assert not [w for w in seen if "never awaited" in str(w.message)]
    tasks = {x.name: x for x in wg.all_tasks()}
    bad = tasks["forgot_to_await"]
    assert bad.state == "FAILED" and isinstance(bad.error, TaskOutputError)
    assert "task 'sync_coroutine/forgot_to_await' returned a coroutine (sleep)" in str(bad.error)
    assert "async def" in str(bad.error)
    assert bad.node.outputs is None
    assert tasks["awaited"].state == "FINISHED" and tasks["awaited"].outputs["result"].value == 1


captured: dict[str, Any] = {}


@task.graph
def first() -> Any:
    captured["socket"] = wants_int(x=1).result
    return captured["socket"]


@task.graph
def second() -> Any:
    wants_int(x=5)  # the new run's first task: the one the foreign socket used to alias
    return wants_int(x=captured["socket"]).result


def test_a_future_of_a_workflow_that_ran_is_refused_at_build() -> None:
    old = first.build()
    old.run()
    with pytest.raises(
        ForeignFutureError,
        match=r"task 'second/wants_int1' uses an output of task 'first/wants_int', which "
        r"belongs to another workflow \('first', which already ran\).*outputs\.result\.value",
    ):
        second.build()
    assert old.outputs.result.value == 1  # the old run is untouched
    # its value is what to pass instead
    captured["socket"] = old.outputs.result.value
    wg = second.build()
    wg.run()
    assert wg.outputs.result.value == 1

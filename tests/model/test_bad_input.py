"""Every way of holding ferroflow wrong raises an exception importable from ``ferroflow`` whose
message names the task and the socket and says what to do instead.

Build-time mistakes raise at the offending call inside the graph body, before anything runs or
is stored; run-time failures fail the task, skip its dependents, let independent tasks finish
and be stored, and surface from ``run()`` as one ``WorkflowFailedError``.
"""

from __future__ import annotations

import functools
import time
import typing as t
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ferroflow import (
    FerroflowError,
    FutureUsageError,
    GraphContextError,
    GraphReturnError,
    NotRunError,
    RecursionDepthError,
    RunTimeoutError,
    TaskInputError,
    TaskOutputError,
    WorkflowFailedError,
    dynamic,
    get_current_profile,
    load_node,
    namespace,
    task,
)

STATES = {"PLANNED", "RUNNING", "FINISHED", "FAILED", "SKIPPED", "CANCELLED", "KILLED"}


@task
def square(x: int) -> int:
    return x * x


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def generate_numbers(n: int) -> t.Annotated[dict[str, int], namespace(data=dynamic(int))]:
    return {"data": {f"number_{i + 1}": i + 1 for i in range(n)}}


@task
def total(data: t.Annotated[dict, dynamic(int)]) -> int:
    return sum(data.values())


@task
def pair(p: t.Annotated[dict, namespace(a=int, b=int)]) -> int:
    return p["a"] + p["b"]


@task
def boom(x: int) -> int:
    if x < 0:
        raise ValueError(f"boom: negative input {x}")
    return x


def assert_mentions(exc: BaseException, *fragments: str) -> None:
    message = str(exc)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def assert_nothing_stored(home: Path) -> None:
    """No run was recorded: the store was never created, or it holds no node at all."""
    store_file = home / "default" / "provenance.sqlite"
    if store_file.exists():
        store = get_current_profile().store
        assert store.runs() == []
        assert store.load_nodes(range(1, 1000)) == {}


def graph_with(body: Callable[[Any], Any]) -> Any:
    """A one-input graph whose body is ``body(n)``."""

    @task.graph
    def G(n: int) -> int:
        return body(n)

    return G


# ---------------------------------------------------------------------------------------------
# Future outputs used as values at build time


def _loop_like_the_howto(data: Any) -> None:
    squares = {}
    for key, value in data.items():
        squares[key] = square(x=value).result


def _if_future(data: Any) -> None:
    if data:
        pass


FUTURE_MISUSES: dict[str, Callable[[Any], Any]] = {
    "for k in fut": lambda fut: [k for k in fut],
    "fut.items()": lambda fut: fut.items(),
    "fut.keys()": lambda fut: fut.keys(),
    "fut.values()": lambda fut: fut.values(),
    "list(fut)": lambda fut: list(fut),
    "the how-to's naive loop": _loop_like_the_howto,
    "if fut": _if_future,
    "bool(fut)": lambda fut: bool(fut),
    "len(fut)": lambda fut: len(fut),
    "int(fut)": lambda fut: int(fut),
    "'k' in fut": lambda fut: "number_1" in fut,
    "fut == 3": lambda fut: fut == 3,
    "fut > 3": lambda fut: fut > 3,
    "fut + 1": lambda fut: fut + 1,
    "range(fut)": lambda fut: range(fut),
}


@pytest.mark.parametrize("misuse", list(FUTURE_MISUSES), ids=list(FUTURE_MISUSES))
def test_future_output_used_as_a_value(misuse: str, ferroflow_home: Path) -> None:
    reached_after = []

    @task.graph
    def G(n: int) -> int:
        data = generate_numbers(n=n).data
        FUTURE_MISUSES[misuse](data)
        reached_after.append(True)
        return square(x=n).result

    with pytest.raises(FutureUsageError) as info:
        G.build(3)
    assert isinstance(info.value, TypeError)  # what WorkGraph users may already catch
    assert_mentions(info.value, "generate_numbers", "data", "@task.graph")
    assert not reached_after
    assert_nothing_stored(ferroflow_home)


def test_future_leaf_conversion_names_the_leaf() -> None:
    @task.graph
    def G(n: int) -> int:
        one = generate_numbers(n=n).data.number_1
        return square(x=int(one)).result

    with pytest.raises(FutureUsageError) as info:
        G.build(3)
    assert_mentions(info.value, "int()", "generate_numbers.data.number_1", "@task.graph")


def test_unknown_output_name_lists_the_available_ones() -> None:
    G = graph_with(lambda n: square(x=n).reslt)
    with pytest.raises(AttributeError) as info:
        G.build(2)
    assert_mentions(info.value, "G/square", "reslt", "Available: result")


def test_the_howto_fix_works() -> None:
    """The same loop inside a @task.graph that takes the data as input is fine."""

    @task.graph
    def Squares(data: t.Annotated[dict, dynamic(int)]) -> t.Annotated[dict, dynamic(int)]:
        return {key: square(x=value).result for key, value in data.items()}

    @task.graph
    def G(n: int) -> t.Annotated[dict, dynamic(int)]:
        return Squares(data=generate_numbers(n=n).data)

    wg = G.build(3)
    wg.run()
    assert [s.value for s in wg.outputs] == [1, 4, 9]


# ---------------------------------------------------------------------------------------------
# Bad inputs: at the call inside the body, before anything runs


BAD_CALLS: dict[str, tuple[Callable[[Any], Any], tuple[str, ...]]] = {
    "unknown input": (
        lambda n: square(y=n).result,
        ("G/square", "'y'", "spelling", "Its inputs are: x"),
    ),
    "missing required input": (
        lambda n: square().result,
        ("G/square", "missing", "'x'", "pass x="),
    ),
    "too many positional": (lambda n: square(n, n).result, ("G/square", "Its inputs are: x")),
    "str for int": (
        lambda n: square(x="four").result,
        ("G/square", "input 'x'", "expected int", "got str", "declared type"),
    ),
    "float for int": (lambda n: square(x=2.5).result, ("G/square", "input 'x'", "expected int")),
    "namespace given a non-dict": (
        lambda n: total(data=5).result,
        ("G/total", "input 'data'", "expected a dict", "Pass a dict"),
    ),
    "dynamic(int) item of the wrong type": (
        lambda n: total(data={"a": 1, "b": "two"}).result,
        ("G/total", "input 'data.b'", "expected int", "got str"),
    ),
    "namespace missing a field": (
        lambda n: pair(p={"a": 1}).result,
        ("G/pair", "input 'p'", "missing required input(s) b", "add them"),
    ),
    "namespace unknown field": (
        lambda n: pair(p={"a": 1, "b": 2, "c": 3}).result,
        ("G/pair", "input 'p.c'", "accepts a, b", "dynamic"),
    ),
}


@pytest.mark.parametrize("case", list(BAD_CALLS), ids=list(BAD_CALLS))
def test_bad_call_in_graph_body(case: str, ferroflow_home: Path) -> None:
    call, fragments = BAD_CALLS[case]
    get_current_profile().store  # noqa: B018 - an open, empty store must stay empty
    calls = []

    @task.graph
    def G(n: int) -> int:
        calls.append("before")
        result = call(n)
        calls.append("after")
        return result

    with pytest.raises(TaskInputError) as info:
        G.build(2)
    assert isinstance(info.value, TypeError)
    assert_mentions(info.value, *fragments)
    assert calls == ["before"]
    assert_nothing_stored(ferroflow_home)


@task.graph
def Scatter(data: t.Annotated[dict, dynamic(int)]) -> t.Annotated[dict, dynamic(int)]:
    return {key: square(x=value).result for key, value in data.items()}


@task.graph
def Plain(n: int) -> int:
    return square(x=n).result


@pytest.mark.parametrize(
    ("handle", "args", "kwargs", "fragments"),
    [
        (Plain, (), {}, ("'Plain'", "missing required input 'n'", "pass n=")),
        (Plain, (), {"m": 1}, ("'Plain'", "unknown input 'm'", "Its inputs are: n")),
        (Plain, (1, 2), {}, ("'Plain'", "Its inputs are: n")),
        (Plain, ("s",), {}, ("'Plain', input 'n'", "expected int", "got str")),
        (Scatter, (5,), {}, ("'Scatter', input 'data'", "expected a dict")),
        (Scatter, ({"a": 1, "b": "x"},), {}, ("'Scatter', input 'data.b'", "expected int")),
    ],
)
def test_bad_build_arguments(
    handle: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    fragments: tuple[str, ...],
    ferroflow_home: Path,
) -> None:
    with pytest.raises(TaskInputError) as info:
        handle.build(*args, **kwargs)
    assert_mentions(info.value, *fragments)
    assert_nothing_stored(ferroflow_home)


def test_bad_call_in_a_graph_body_at_run_time() -> None:
    """A nested graph body runs during the run: the same error fails that graph task."""

    @task.graph
    def Inner(n: int) -> int:
        return square(x=str(n)).result

    @task.graph
    def Outer(n: int) -> int:
        return Inner(n=square(x=n).result).result

    wg = Outer.build(2)
    with pytest.raises(WorkflowFailedError) as info:
        wg.run()
    assert isinstance(info.value.__cause__, TaskInputError)
    assert_mentions(info.value, "Outer/Inner", "input 'x'", "expected int")
    assert wg.tasks["Inner"].state == "FAILED"
    assert wg.tasks["square"].state == "FINISHED"


# ---------------------------------------------------------------------------------------------
# Graph bodies must return sockets


@pytest.mark.parametrize(
    ("body", "socket"),
    [
        (lambda n: 5, "result"),
        (lambda n: {"result": 5}, "result"),
        (lambda n: n + 1, "result"),  # computed from the input: no provenance
        (lambda n: [square(x=n).result], "result"),
    ],
    ids=["return 5", "return {'result': 5}", "return n + 1", "return [socket]"],
)
def test_graph_returning_a_plain_value(body: Callable[[Any], Any], socket: str) -> None:
    G = graph_with(body)
    with pytest.raises(GraphReturnError) as info:
        G.build(2)
    assert_mentions(info.value, "graph 'G'", f"output '{socket}'", "@task")


def test_graph_returning_a_plain_value_in_a_namespace() -> None:
    @task.graph
    def G(n: int) -> t.Annotated[dict, namespace(squares=dynamic(int))]:
        return {"squares": {"a": square(x=n).result, "b": 7}}

    with pytest.raises(GraphReturnError) as info:
        G.build(2)
    assert_mentions(info.value, "graph 'G'", "output 'squares.b'", "7")


def test_graph_returning_an_undeclared_output() -> None:
    @task.graph
    def G(n: int) -> t.Annotated[dict, namespace(a=int)]:
        return {"a": square(x=n).result, "b": square(x=n).result}

    with pytest.raises(GraphReturnError) as info:
        G.build(2)
    assert_mentions(info.value, "graph 'G'", "'b'", "declared: a", "annotation")


def test_graph_returning_nothing_for_declared_outputs() -> None:
    @task.graph
    def G(n: int) -> int:
        square(x=n)

    with pytest.raises(GraphReturnError) as info:
        G.build(2)
    assert_mentions(info.value, "graph 'G'", "result", "returned None")


def test_graph_may_return_its_unchanged_input() -> None:
    wg = graph_with(lambda n: n).build(2)
    wg.run()
    assert wg.outputs.result.value == 2


def test_nested_graph_returning_a_plain_value_fails_at_run_time() -> None:
    @task.graph
    def Inner(n: int) -> int:
        return n * 2

    @task.graph
    def Outer(n: int) -> int:
        return Inner(n=square(x=n).result).result

    wg = Outer.build(3)
    with pytest.raises(WorkflowFailedError) as info:
        wg.run()
    assert isinstance(info.value.__cause__, GraphReturnError)
    assert_mentions(info.value, "Outer/Inner", "output 'result'", "18")


# ---------------------------------------------------------------------------------------------
# A task raising at run time


@task.graph
def Inner(x: int) -> int:
    first = boom(x=x).result
    second = boom(x=x + 1).result
    broken = boom(x=-x).result  # the third boom task: named boom2
    return add(x=broken, y=add(x=first, y=second).result).result


@task.graph
def Outer(x: int) -> t.Annotated[dict, namespace(bad=int, good=int)]:
    bad = square(x=Inner(x=x).result).result
    good = square(x=x).result
    return {"bad": bad, "good": good}


def test_failure_is_reported_by_path_with_the_cause() -> None:
    wg = Outer.build(3)
    with pytest.raises(WorkflowFailedError) as info:
        wg.run()
    err = info.value
    assert isinstance(err, FerroflowError)
    assert_mentions(err, "Outer/Inner/boom2", "ValueError", "boom: negative input -3", "stored")
    assert isinstance(err.__cause__, ValueError)
    assert str(err.__cause__) == "boom: negative input -3"
    assert set(err.failed) == {"Outer/Inner/boom2"}
    assert err.failed["Outer/Inner/boom2"] is err.__cause__

    # dependents skipped, independent work finished
    assert {name: node.state for name, node in wg.tasks.items()} == {
        "Inner": "FAILED",
        "square": "SKIPPED",
        "square1": "FINISHED",
    }
    inner = wg.tasks["Inner"].tasks
    assert {name: node.state for name, node in inner.items()} == {
        "boom": "FINISHED",
        "boom1": "FINISHED",
        "boom2": "FAILED",
        "add": "FINISHED",
        "add1": "SKIPPED",
    }
    assert inner["boom2"].error is err.__cause__
    assert wg.state == "FAILED"

    # finished results are stored: load them back by pk
    good = wg.tasks["square1"].outputs["result"].value
    assert load_node(good.pk).value == 9
    assert load_node(good.uuid).pk == good.pk
    partial = inner["add"].outputs["result"].value
    assert load_node(partial.pk).value == 7
    failed_run = load_node(inner["boom2"].pk)
    assert failed_run.state == "FAILED"
    assert "ValueError: boom: negative input -3" in failed_run.error
    assert load_node(wg.tasks["Inner"].pk).state == "FAILED"
    assert load_node(wg.pk).state == "FAILED"


def test_raise_on_error_false_returns_what_was_produced() -> None:
    wg = Outer.build(3)
    outputs = wg.run(raise_on_error=False)
    assert outputs == {"good": 9}
    assert outputs["good"].pk == wg.tasks["square1"].outputs["result"].value.pk
    assert wg.outputs.good.value == 9
    with pytest.raises(AttributeError) as info:
        wg.outputs.bad.value  # noqa: B018
    assert_mentions(info.value, "'bad'", "failed or skipped")
    assert wg.tasks["Inner"].state == "FAILED"
    assert wg.tasks["square"].state == "SKIPPED"
    assert wg.tasks["square1"].state == "FINISHED"
    assert wg.tasks.Inner.tasks["boom2"].state == "FAILED"
    assert {task.state for task in wg.all_tasks()} <= STATES
    # the run still raises nothing later, and its provenance can be drawn
    assert "boom2" in wg.generate_provenance_graph().source


def test_failure_in_every_branch_is_listed() -> None:
    @task.graph
    def G(n: int) -> int:
        boom(x=-n)
        boom(x=-n - 1)
        return square(x=n).result

    wg = G.build(1)
    with pytest.raises(WorkflowFailedError) as info:
        wg.run()
    assert set(info.value.failed) == {"G/boom", "G/boom1"}
    assert_mentions(info.value, "2 task(s) failed", "G/boom:", "G/boom1:")
    assert wg.outputs.result.value == 1  # the independent output was produced and returned


# ---------------------------------------------------------------------------------------------
# Calling tasks where no graph is being built


def test_task_called_outside_any_graph() -> None:
    with pytest.raises(GraphContextError) as info:
        square(x=2)
    assert_mentions(info.value, "'square'", "outside any graph", "@task.graph", "square.func(")
    assert square.func(3) == 9  # the plain function stays callable


def test_graph_task_called_outside_any_graph() -> None:
    with pytest.raises(GraphContextError) as info:
        Plain(n=2)
    assert_mentions(info.value, "'Plain'", "outside any graph", ".build()")


@task
def calls_a_task(x: int) -> int:
    return square(x=x).result


def test_task_called_inside_a_running_task() -> None:
    wg = graph_with(lambda n: calls_a_task(x=n).result).build(2)
    with pytest.raises(WorkflowFailedError) as info:
        wg.run()
    cause = info.value.__cause__
    assert isinstance(cause, GraphContextError)
    assert_mentions(cause, "'square'", "inside the body of a running task", "@task.graph")
    assert_mentions(info.value, "G/calls_a_task")
    assert wg.tasks["calls_a_task"].state == "FAILED"


# ---------------------------------------------------------------------------------------------
# Return values that do not match the declared outputs


@task
def undeclared_key(x: int) -> t.Annotated[dict, namespace(a=int)]:
    return {"a": x, "b": x}


@task
def missing_key(x: int) -> t.Annotated[dict, namespace(a=int, b=int)]:
    return {"a": x}


@task
def short_tuple(x: int) -> t.Annotated[tuple, namespace(a=int, b=int)]:
    return (x,)


@task
def not_a_dict(x: int) -> t.Annotated[dict, namespace(a=int, b=int)]:
    return x


@pytest.mark.parametrize(
    ("handle", "fragments"),
    [
        (undeclared_key, ("G/undeclared_key", "unknown output 'b'", "declared: a", "dynamic")),
        (
            missing_key,
            (
                "G/missing_key",
                "missing required output(s) b",
                "optional",
            ),
        ),
        (short_tuple, ("G/short_tuple", "tuple of 1 values for 2 declared outputs (a, b)")),
        (not_a_dict, ("G/not_a_dict", "returned int", "return a dict")),
    ],
    ids=lambda v: getattr(v, "name", ""),
)
def test_task_output_mismatch(handle: Any, fragments: tuple[str, ...]) -> None:
    @task.graph
    def G(n: int) -> int:
        return square(x=handle(x=n).a).result

    wg = G.build(2)
    with pytest.raises(WorkflowFailedError) as info:
        wg.run()
    node = wg.tasks[handle.name]
    assert node.state == "FAILED"
    assert isinstance(node.error, TaskOutputError)
    assert info.value.__cause__ is node.error
    assert_mentions(node.error, *fragments)
    assert wg.tasks["square"].state == "SKIPPED"


# ---------------------------------------------------------------------------------------------
# Recursion


@task.graph(max_depth=3)
def countdown(n: int) -> int:
    if n <= 0:
        return square(x=n).result
    return countdown(n=n - 1).result


def test_recursion_within_max_depth() -> None:
    wg = countdown.build(3)
    wg.run()
    assert wg.outputs.result.value == 0
    deepest = max(wg.all_tasks(), key=lambda node: node.path.count("/"))
    assert deepest.path == "countdown/countdown/countdown/countdown/square"
    assert all(node.state == "FINISHED" for node in wg.all_tasks())


def test_recursion_past_max_depth() -> None:
    wg = countdown.build(4)
    with pytest.raises(WorkflowFailedError) as info:
        wg.run()
    cause = info.value.__cause__
    assert isinstance(cause, RecursionDepthError)
    assert isinstance(cause, RecursionError)
    assert_mentions(cause, "countdown/countdown/countdown/countdown", "max_depth=3", "max_depth=")
    assert list(info.value.failed) == ["countdown/countdown/countdown/countdown/countdown"]


def test_deep_recursion_with_the_default_limit() -> None:
    @task.graph
    def count(n: int) -> int:
        return square(x=n).result if n <= 0 else count(n=n - 1).result

    wg = count.build(30)
    wg.run()
    assert wg.outputs.result.value == 0
    assert len(wg.all_tasks()) == 31


# ---------------------------------------------------------------------------------------------
# States and the life cycle of a WorkGraph


def test_states_before_and_after_a_run() -> None:
    wg = Outer.build(2)
    assert wg.state == "PLANNED"
    assert {node.state for node in wg.tasks.values()} == {"PLANNED"}
    wg.run(raise_on_error=False)
    states = {node.state for node in wg.all_tasks()}
    assert states <= STATES - {"PLANNED", "RUNNING"}
    assert states == {"FINISHED", "FAILED", "SKIPPED"}


@task
def slow(x: int) -> int:
    time.sleep(1.0)
    return x


def test_cancelled_run_states() -> None:
    wg = graph_with(lambda n: slow(x=slow(x=n).result).result).build(1)
    with pytest.raises(RunTimeoutError) as info:
        # the first body starts within a few ms (0.4 s leaves room on a loaded machine) and is
        # still running when the timeout hits: it finishes, the second never starts
        wg.run(timeout=0.4)
    assert isinstance(info.value, TimeoutError)
    assert_mentions(info.value, f"'{wg.name}'", "timeout")
    assert wg.state == "CANCELLED"
    # the body that was running when the timeout hit finished, and its result is stored
    first = wg.tasks["slow"]
    assert first.state == "FINISHED"
    assert load_node(first.outputs["result"].value.pk).value == 1
    assert {node.state for node in wg.all_tasks()} <= STATES - {"PLANNED", "RUNNING"}
    assert wg.tasks["slow1"].state == "CANCELLED"
    with pytest.raises(NotRunError):
        wg.outputs.result.value  # noqa: B018


def test_results_before_run() -> None:
    wg = Plain.build(2)
    with pytest.raises(NotRunError) as info:
        wg.outputs.result.value  # noqa: B018
    assert_mentions(info.value, "'Plain'", "wg.run()")
    with pytest.raises(NotRunError) as info:
        wg.generate_provenance_graph()
    assert_mentions(info.value, "'Plain'", "wg.run()")
    assert "no value yet" in repr(wg.outputs.result)


def test_misspelt_output_after_a_run() -> None:
    wg = Plain.build(2)
    wg.run()
    with pytest.raises(AttributeError) as info:
        wg.outputs.reslt.value  # noqa: B018
    assert_mentions(info.value, "'Plain'", "'reslt'", "present: result")


def test_running_twice() -> None:
    wg = Plain.build(2)
    wg.run()
    with pytest.raises(FerroflowError) as info:
        wg.run()
    assert_mentions(info.value, "'Plain'", "already run", f"pk {wg.pk}", "Plain.build(")
    assert wg.outputs.result.value == 4  # the first run's results are untouched


def _numbers(n: int) -> Any:
    yield from range(n)


class _Scaler:
    def __call__(self, x: int) -> int:
        return 2 * x

    def scale(self, x: int) -> int:
        return 3 * x


def test_what_cannot_run_as_a_task_is_refused_at_decoration() -> None:
    with pytest.raises(TypeError, match=r"'_numbers'.*generator function.*Return a list"):
        task(_numbers)
    with pytest.raises(TypeError, match=r"partial.*wrap the call in a def"):
        task(functools.partial(_numbers, 3))
    with pytest.raises(TypeError, match=r"_Scaler.*callable object"):
        task(_Scaler())

    def sub(a: int, b: int, /) -> int:
        return a - b

    with pytest.raises(TypeError, match=r"task .*sub: input 'a' is positional-only"):
        task(sub)
    with pytest.raises(TypeError, match=r"task .*sub: input 'a' is positional-only"):
        task.graph(sub)


def test_a_bound_method_is_a_task_that_runs() -> None:
    scale = task(_Scaler().scale)

    @task.graph
    def g(x: int) -> int:
        return scale(x=x).result

    assert g.run(x=2).outputs.result.value == 6


@pytest.mark.parametrize("name", ["", "a/b", 3])
def test_a_task_name_that_cannot_be_a_path_part_is_refused(name: Any) -> None:
    with pytest.raises(ValueError, match="name must be a non-empty string without '/'"):
        task(name=name)(_Scaler().scale)

"""Strings the store cannot encode: a lone surrogate (``"\\udc80"``, which ``os.fsdecode``
makes of undecodable bytes) has no UTF-8 form. A name or key holding one is refused where the
task, graph or socket is made, naming it, before any row is written; a value holding one is
stored (ASCII JSON or a pickle) and reads back equal; an error message holding one is stored
escaped, and the task is FAILED as it should be. Both committers (``writer``)."""

from __future__ import annotations

import re
import typing as t
from collections.abc import Callable
from pathlib import Path

import pytest
from ferroflow import WorkGraph, dynamic, load_profile, meta, namespace, task
from ferroflow.errors import TaskInputError, WorkflowFailedError
from ferroflow.store import Store, graph_find, graph_read
from layer_query import file_query
from store_rules import violations

BAD = "bad\udc80"
#: how an error message shows ``BAD``: its repr, which escapes the surrogate
SHOWN = repr(BAD)


@task
def ident(x: t.Any) -> t.Any:
    return x


def _function_named_badly() -> object:
    def f(x: int) -> int:
        return x

    f.__name__ = f.__qualname__ = BAD
    return task(f)


def _graph_function_named_badly() -> object:
    def g(x: int) -> int:
        return ident(x=x).result

    g.__name__ = g.__qualname__ = BAD
    return task.graph(g)


def _added_with_a_bad_name() -> object:
    wg = WorkGraph("fine")
    return wg.add_task(ident, name=BAD, x=1)


def _called_with(metadata: dict[str, str]) -> Callable[[], object]:
    def build() -> object:
        @task.graph
        def labelled(x: int) -> t.Any:
            return ident(x, metadata=metadata).result

        return labelled.build(1)

    return build


def _added_with(metadata: dict[str, str]) -> Callable[[], object]:
    return lambda: WorkGraph("fine").add_task(ident, x=1, metadata=metadata)


REFUSED: dict[str, tuple[Callable[[], object], str]] = {
    "task name=": (lambda: task(name=BAD)(ident.func), f"task 'ident': name {SHOWN}"),
    "graph name=": (
        lambda: task.graph(name=BAD)(ident.func),
        f"task 'ident': name {SHOWN}",
    ),
    "function name": (_function_named_badly, f"task {SHOWN}"),
    "graph function name": (_graph_function_named_badly, f"task {SHOWN}"),
    "WorkGraph name": (lambda: WorkGraph(BAD), f"a WorkGraph name {SHOWN}"),
    "add_task name=": (_added_with_a_bad_name, f"graph 'fine': a task name {SHOWN}"),
    "outputs=[...]": (
        lambda: task(outputs=[BAD, "b"])(ident.func),
        f"task 'ident': outputs: namespace key {SHOWN}",
    ),
    "namespace(...) key": (lambda: namespace(**{BAD: int}), f"namespace key {SHOWN}"),
    "metadata label in a graph body": (
        _called_with({"label": BAD}),
        f"task 'labelled/ident': metadata 'label' {SHOWN}",
    ),
    "metadata description of add_task": (
        _added_with({"label": "fine", "description": f"made {BAD}"}),
        f"task 'fine/ident': metadata 'description' {f'made {BAD}'!r}",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_name_or_key_with_a_lone_surrogate_is_refused_where_it_is_made(case: str) -> None:
    make, where = REFUSED[case]
    with pytest.raises(ValueError, match="lone surrogate") as info:
        make()
    assert str(info.value).startswith(where), str(info.value)
    assert "store cannot keep" in str(info.value)
    # refused before anything reached the store
    path = load_profile().store.path
    with file_query(path) as query:
        assert graph_read.count_nodes(query) == 0


def test_an_extras_key_with_a_lone_surrogate_is_refused_where_it_is_declared() -> None:
    with pytest.raises(TypeError, match="str keys the store can keep") as info:
        meta(extras={BAD: "eV"})
    assert SHOWN in str(info.value)


@task
def tot(values: t.Annotated[dict, dynamic(int)]) -> int:
    return sum(values.values())


@task
def keyed(n: int) -> t.Annotated[dict, dynamic(int)]:
    return {BAD: n}


@task.graph
def given_key(x: int) -> int:
    return tot(values={BAD: x}).result


@task.graph
def returned_key(x: int) -> t.Any:
    return keyed(n=x).result


def test_a_socket_key_with_a_lone_surrogate_is_refused_naming_task_and_socket(
    writer: str,
) -> None:
    with pytest.raises(
        TaskInputError, match=f"task 'given_key/tot', input 'values': .*{re.escape(SHOWN)}"
    ):
        given_key.build(1)
    wg = returned_key.build(1)
    with pytest.raises(
        WorkflowFailedError, match=f"task 'returned_key/keyed': .*{re.escape(SHOWN)}"
    ):
        wg.run()
    path = load_profile().store.path
    assert violations(path) == []
    with file_query(path) as query:  # the failed task is stored, with no output
        tasks = graph_find.select_nodes(
            query,
            task=None,
            kind="calc",
            states=(),
            run_pk=None,
            since=None,
            until=None,
            limit=None,
            newest_first=False,
        )
        created = graph_read.links(query, [row[0] for row in tasks], False, ("CREATE",))
    rows = []
    for row in tasks:  # each task with the label of each data node it created, or None
        labels = [link.label for link in created if link.src == row[0]]
        rows.extend((row[4], label) for label in labels or [None])
    assert rows == [("keyed", None)]


@task
def produce(x: int) -> t.Any:
    return {"text": "made\ud800", BAD: [x, "\udfff"], "pair": ("\ud83d", b"\xff")}


VALUES = [BAD, {BAD: BAD}, [1, {"inner": "\ud800\udfff\udc00"}], ("tuple", "\udcff")]


@task.graph
def carry(values: t.Any) -> t.Any:
    return {
        "given": ident(x=values).result,
        "made": produce(x=1).result,
    }


def test_values_with_lone_surrogates_round_trip_through_the_store(
    writer: str, tmp_path: Path
) -> None:
    store = load_profile().store
    assert store._writer.committer == writer
    wg = carry.build(VALUES)
    wg.run()
    path = store.path
    load_profile().close()  # read back from the file, by a store opened afresh
    assert violations(path) == []
    with Store.open(path) as fresh:
        run = fresh.load_node(wg.pk)
        assert run.state == "FINISHED"
        stored = {
            task.label: {label: node.value for _, label, node in task.outputs}
            for task in run.called
        }
        inputs = {
            task.label: {label: n.value for kind, label, n in task.inputs if kind == "INPUT_CALC"}
            for task in run.called
        }
    assert stored["ident"] == {"result": VALUES}
    assert inputs["ident"] == {"x": VALUES}
    assert stored["produce"] == {"result": produce.func(1)}


@task
def fail(x: int) -> int:
    raise ValueError(f"cannot read {BAD}")


@task.graph
def failing(x: int) -> int:
    return fail(x=x).result


def test_an_error_with_a_lone_surrogate_is_stored_escaped_and_the_task_failed(
    writer: str,
) -> None:
    wg = failing.build(1)
    with pytest.raises(WorkflowFailedError):
        wg.run()  # not StoreWriteError: the failure's own row is written
    store = load_profile().store
    assert violations(store.path) == []
    run = store.load_node(wg.pk)
    assert run.state == "FAILED"
    (calc,) = run.called
    assert calc.state == "FAILED"
    assert "ValueError: cannot read bad\\udc80" in (calc.error or "")

"""Value isolation (ferroflow/model/isolation.py): a task that mutates its input changes
neither the caller's object, nor what a sibling consumer sees, nor the stored values, nor the
cache keys, on every backend.

Each graph feeds one value (a producer's output, then the caller's own object given as a graph
input) to a task that mutates it in place and then to a reader that runs after it (it takes the
mutator's result as an ignored input). Every backend must give the reader the value as produced,
store the value as produced for the producer's output and the mutator's input, and leave the
caller's object alone. Numpy arrays are shared as read-only views: a task writing into one fails
with numpy's read-only error (on Dask, where the call's input arrives pickled, too).
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import isolation_flows as flows
import numpy as np
import pytest
from ferroflow import get_current_profile, load_node, task
from ferroflow.model.isolation import isolate
from ferroflow.store import graph_read
from ferroflow.workgraph import WorkGraph

BACKENDS = ("fast", "general", "async", "dask")

MAKERS = {
    "list": flows.make_list,
    "dict": flows.make_dict,
    "nested": flows.make_nested,
    "array": flows.make_array,
}
GIVEN: dict[str, Any] = {
    "list": [5, 6],
    "dict": {"k": 1},
    "nested": {"rows": [[7], [8, 9]], "meta": {"tags": ["y", "z"]}},
    "array": np.arange(3.0),
}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``(name, executor)`` as in tests/policies/backends.py: the fast lane, the general
    runner, coroutines on the run's loop, and a two-process Dask cluster."""
    name = request.param
    monkeypatch.delenv("FERROFLOW_EXECUTOR", raising=False)
    monkeypatch.setenv("FERROFLOW_FAST_LANE", "0" if name == "general" else "1")
    executor: Any = "local"
    if name == "dask":
        executor = request.getfixturevalue("client")
        executor.run(importlib.import_module, "isolation_flows")
    yield name, executor


@task.graph
def flow(kind: str, given: Any, use_async: bool) -> None:
    mutate, seen = (
        (flows.amutate, flows.aseen_after) if use_async else (flows.mutate, flows.seen_after)
    )
    made = MAKERS[kind.value]().result
    seen(x=made, after=mutate(x=made).result)
    seen(x=given, after=mutate(x=given).result)
    return


def _run(backend: Any, kind: str, given: Any, **options: Any) -> WorkGraph:
    name, executor = backend
    wg = flow.build(kind=kind, given=given, use_async=name == "async")
    wg.run(executor=executor, raise_on_error=False, **options)
    return wg


def _tasks(wg: WorkGraph) -> dict[str, Any]:
    return {t.path.split("/")[-1].lstrip("a"): t for t in wg.all_tasks()}


def _same(a: Any, b: Any) -> bool:
    return bool(np.array_equal(a, b)) if isinstance(a, np.ndarray) else a == b


@pytest.mark.parametrize("kind", ["list", "dict", "nested"])
def test_a_mutated_input_is_the_mutators_own(backend: Any, kind: str) -> None:
    given = copy.deepcopy(GIVEN[kind])
    wg = _run(backend, kind, given)
    tasks = _tasks(wg)
    assert {t.state for t in tasks.values()} == {"FINISHED"}, tasks
    produced = MAKERS[kind].func()
    assert given == GIVEN[kind], "the caller's object was changed by a task"
    assert tasks["seen_after"].outputs["result"].value == repr(produced), "sibling saw it"
    assert tasks["seen_after1"].outputs["result"].value == repr(GIVEN[kind]), "sibling saw it"
    # the store: the producer's output and each mutator's input as produced
    made = tasks["make_" + kind]
    assert load_node(made.outputs["result"].value.pk).value == produced
    assert made.outputs["result"].value == produced
    for mutator, expected in (("mutate", produced), ("mutate1", GIVEN[kind])):
        stored = {label: n.value for _, label, n in load_node(tasks[mutator].pk).inputs}
        assert stored["x"] == expected, mutator
        # ... and its output is what it returned: the mutated copy
        assert tasks[mutator].outputs["result"].value != expected


def test_an_input_array_is_read_only(backend: Any) -> None:
    given = np.arange(3.0)
    wg = _run(backend, "array", given)
    tasks = _tasks(wg)
    for mutator in ("mutate", "mutate1"):
        assert tasks[mutator].state == "FAILED", mutator
        assert "read-only" in str(tasks[mutator].error), tasks[mutator].error
    assert np.array_equal(given, np.arange(3.0)) and given.flags.writeable
    made = tasks["make_array"].outputs["result"].value
    assert np.array_equal(load_node(made.pk).value, np.arange(4.0))
    assert np.array_equal(made.value, np.arange(4.0)) and made.value.flags.writeable


def test_cache_keys_do_not_see_a_mutation(backend: Any) -> None:
    """A second identical run reuses every task: each key is of the values as produced (a
    reader's key over a value a mutator had changed would miss once the mutator is reused)."""
    first = _run(backend, "list", [5, 6], cache=True)
    assert first.state == "FINISHED"
    again = _run(backend, "list", [5, 6], cache=True)
    assert again.state == "FINISHED"
    assert sorted(again.cached_tasks) == sorted(t.path for t in again.all_tasks())
    store = get_current_profile().store
    for before, after in zip(first.all_tasks(), again.all_tasks(), strict=True):
        keys = [graph_read.cache_fields(store._reader.query, t.pk) for t in (before, after)]
        assert keys[0] is not None and keys[1] is not None, before.path
        assert keys[0][0] is not None and keys[0][0] == keys[1][0], before.path


def test_isolate_copies_mutables_and_shares_immutables() -> None:
    for value in (1, 2.5, "s", b"b", True, None, (1, "a"), frozenset({1})):
        assert isolate(value) is value
    nested = {"a": [1, {"b": [2]}]}
    copied = isolate(nested)
    assert copied == nested and copied is not nested
    assert copied["a"][1]["b"] is not nested["a"][1]["b"]
    array = np.arange(3)
    view = isolate(array)
    assert view.base is array and not view.flags.writeable and array.flags.writeable
    mixed = (1, [2])
    assert isolate(mixed) == mixed and isolate(mixed)[1] is not mixed[1]

    class Local:  # pickle refuses a local class: deepcopy copies it
        def __init__(self) -> None:
            self.items: list[int] = []

    local = Local()
    assert isolate(local) is not local


@task.graph
def retrying(log: str, use_async: bool) -> Any:
    retried = flows.aretried if use_async else flows.retried
    return retried(x=flows.make_list().result, log=log).result


def test_each_attempt_gets_its_own_input(backend: Any, tmp_path: Path) -> None:
    """A retry sees the input as produced, not as the failed attempt left it."""
    name, executor = backend
    log = tmp_path / "lengths"
    wg = retrying.build(log=str(log), use_async=name == "async")
    wg.run(executor=executor)
    assert log.read_text().split() == ["4", "4"]
    assert wg.outputs.result.value == 4
    made = next(t for t in wg.all_tasks() if t.path.endswith("make_list"))
    assert load_node(made.outputs["result"].value.pk).value == [1, 2, 3]

"""Caching: a second run of an unchanged graph executes no task body, and the cache key covers
exactly the function, its source (or ``version=``) and the input values."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import numpy as np
import pytest
from counting_flows import add, called, calls, double, gather
from ferroflow import WorkflowFailedError, get_current_profile, namespace, task
from ferroflow.cache_why import explain_key
from ferroflow.engine.caching import value_digest
from ferroflow.errors import UncacheableError
from ferroflow.store import graph_read
from ferroflow.store.graph_read import NODE_ROW_COLUMNS
from hypothesis import given, settings
from hypothesis import strategies as st
from provenance_flows import run_provenance


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()


@task(outputs=namespace(total=int, parts=namespace(low=int, high=int)))
def split(x: int) -> dict[str, Any]:
    called("split")
    return {"total": x, "parts": {"low": x // 2, "high": x - x // 2}}


@task
def boom(x: int) -> int:
    called("boom")
    raise ValueError(f"no good: {x}")


@task.graph
def fan(n: int) -> int:
    doubled = [double(x=add(x=i, y=1).result).result for i in range(n)]
    parts = split(x=doubled[0]).parts
    named = {f"v{i}": d for i, d in enumerate(doubled)}
    return gather(**named, low=parts.low, high=parts.high).result


def _bodies() -> int:
    return sum(calls.values())


def test_second_run_of_an_unchanged_graph_executes_no_task_body() -> None:
    first = fan.build(6)
    first.run(cache=True)
    ran = _bodies()
    assert ran == 6 + 6 + 1 + 1 and first.cached_tasks == []
    calls.clear()
    second = fan.build(6)
    second.run(cache=True)
    assert _bodies() == 0, f"bodies executed on the second run: {dict(calls)}"
    assert len(second.cached_tasks) == ran  # ... and it says so
    assert second.outputs.result.value == first.outputs.result.value == 2 * sum(range(1, 7)) + 2
    # a cache hit is a new task-run node that points at the original and has the same key
    by_path = {t.path: t for t in first.all_tasks()}
    store = get_current_profile().store
    for t in second.all_tasks():
        if t.is_graph:
            continue
        original = by_path[t.path]
        assert t.cached_from == original.pk and t.pk != original.pk
        assert store.load_node(t.pk).cached_from == original.pk
        keys = [graph_read.cache_fields(store._reader.query, pk) for pk in (t.pk, original.pk)]
        assert keys[0] is not None and keys[1] is not None
        assert keys[0][0] is not None and keys[0][0] == keys[1][0]
    # the same shape of provenance with or without caching (AiiDA clones on a hit)
    assert run_provenance(second.pk) == run_provenance(first.pk)


def test_without_cache_everything_runs_again() -> None:
    fan.build(3).run(cache=True)
    calls.clear()
    fan.build(3).run()
    assert _bodies() == 3 + 3 + 1 + 1


def test_a_changed_input_reruns_only_what_depends_on_it() -> None:
    @task.graph
    def pair(a: int, b: int) -> int:
        return add(x=double(x=a).result, y=double(x=b).result).result

    pair.build(1, 2).run(cache=True)
    calls.clear()
    wg = pair.build(1, 5)
    wg.run(cache=True)
    assert calls == Counter({"double": 1, "add": 1})
    assert wg.outputs.result.value == 12
    assert wg.cached_tasks == ["pair/double"]


@task
def echo(x: Any) -> Any:
    called("echo")
    return x


def test_value_types_are_part_of_the_key() -> None:
    @task.graph
    def one(v: Any) -> Any:
        return echo(x=v).result

    one.build(1).run(cache=True)
    calls.clear()
    for v in (1.0, True, "1", [1], (1,)):
        one.build(v).run(cache=True)
    assert calls["echo"] == 5  # none of 1.0, True, "1", [1], (1,) hits the run of 1


def _versioned(version: str) -> Any:
    def scale(x: int) -> int:
        called(f"scale {version}")
        return 3 * x

    scale.__qualname__ = "scale"  # same identity every time: only the version differs
    return task(version=version)(scale)


def test_the_code_version_is_part_of_the_key() -> None:
    def graph_for(handle: Any) -> Any:
        @task.graph
        def g(x: int) -> int:
            return handle(x=x).result

        return g

    graph_for(_versioned("1")).build(2).run(cache=True)
    graph_for(_versioned("1")).build(2).run(cache=True)
    assert calls == Counter({"scale 1": 1})
    graph_for(_versioned("2")).build(2).run(cache=True)
    assert calls == Counter({"scale 1": 1, "scale 2": 1})


def test_cache_opt_in_and_opt_out_per_task() -> None:
    stamp = iter(range(100))

    @task(cache=False)
    def now(x: int) -> int:
        called("now")
        return next(stamp)

    @task(cache=True)
    def slow(x: int) -> int:
        called("slow")
        return x + 100

    @task.graph
    def g(x: int) -> int:
        return add(x=now(x=x).result, y=slow(x=x).result).result

    g.build(1).run(cache=True)
    g.build(1).run(cache=True)  # now() never cached: it and its dependent add run again
    assert calls == Counter({"now": 2, "slow": 1, "add": 2})
    calls.clear()
    g.build(1).run()  # without run(cache=True): slow still reuses (cache=True on the task)
    assert calls == Counter({"now": 1, "add": 1})


def test_failed_tasks_are_never_reused() -> None:
    @task.graph
    def g(x: int) -> int:
        return double(x=boom(x=x).result).result

    for _ in range(2):
        with pytest.raises(WorkflowFailedError):
            g.build(1).run(cache=True)
    assert calls == Counter({"boom": 2})


def test_namespace_outputs_come_back_nested() -> None:
    @task.graph
    def g(x: int) -> int:
        parts = split(x=x)
        return add(x=parts.parts.low, y=parts.total).result

    first = g.build(9)
    first.run(cache=True)
    second = g.build(9)
    second.run(cache=True)
    assert calls == Counter({"split": 1, "add": 1})
    assert second.outputs.result.value == first.outputs.result.value == 13
    outputs = second.tasks.split.outputs
    assert outputs["parts"]["high"].value == 5 and outputs["total"].value == 9


@task
def make_array(n: int) -> np.ndarray:
    called("make_array")
    return np.arange(n, dtype=np.float64).reshape(-1, 4)


def test_a_hit_shares_the_stored_array_blob() -> None:
    @task.graph
    def g(n: int) -> np.ndarray:
        return make_array(n=n).result

    first = g.build(40_000)
    first.run(cache=True)
    second = g.build(40_000)
    second.run(cache=True)
    assert calls["make_array"] == 1
    np.testing.assert_array_equal(
        second.outputs.result.value.value, first.outputs.result.value.value
    )
    store = get_current_profile().store
    pks = (first.outputs.result.value.pk, second.outputs.result.value.pk)
    assert pks[0] != pks[1]  # two data nodes (one creator each) ...
    rows = graph_read.node_rows(store._reader.query, pks)
    blobs = [rows[pk][NODE_ROW_COLUMNS.index("blob_id")] for pk in pks]
    assert blobs[0] is not None and blobs[0] == blobs[1]  # ... one stored payload


def test_an_input_without_digest_runs_uncached() -> None:
    @task
    def use_lock(lock: Any) -> int:
        called("use_lock")
        return 1

    @task.graph
    def g() -> int:
        return use_lock(lock=threading.Lock()).result

    g.build().run(cache=True)
    g.build().run(cache=True)
    assert calls["use_lock"] == 2


def test_retried_task_is_cached_under_its_key() -> None:
    attempts = Counter[str]()

    @task(retries=2)
    def flaky(x: int) -> int:
        attempts["flaky"] += 1
        if attempts["flaky"] == 1:
            raise ConnectionError("first attempt fails")
        return x * 7

    @task.graph
    def g(x: int) -> int:
        return flaky(x=x).result

    g.build(3).run(cache=True)
    wg = g.build(3)
    wg.run(cache=True)
    assert attempts["flaky"] == 2 and wg.outputs.result.value == 21


def test_cache_why_explains_a_hit() -> None:
    fan.build(2).run(cache=True)
    second = fan.build(2)
    second.run(cache=True)
    node = second.tasks.add
    explanation = explain_key(get_current_profile().store, node.pk)
    assert explanation.process_type.endswith(".add")
    assert [label for label, *_ in explanation.inputs] == ["x", "y"]
    assert explanation.recomputed_key == explanation.stored_key is not None
    assert explanation.cached_from == node.cached_from is not None
    assert explanation.current_code == "same"
    text = "\n".join(explanation.lines())
    assert "matches the stored key" in text and f"pk {node.cached_from}" in text


# -- value digests -------------------------------------------------------------------------------
def test_digests_are_canonical() -> None:
    assert value_digest({"a": 1, "b": 2}) == value_digest({"b": 2, "a": 1})
    assert value_digest({3, 1, 2}) == value_digest({2, 3, 1})
    assert value_digest([1, 2]) != value_digest((1, 2))
    assert len({value_digest(v) for v in (1, 1.0, True, "1", b"1", None)}) == 6
    c = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert value_digest(c) == value_digest(np.asfortranarray(c))
    assert value_digest(c) != value_digest(c.astype(np.int64))
    assert value_digest(c) != value_digest(c.reshape(4, 3))
    assert value_digest(0.1 + 0.2) != value_digest(0.3)  # exact floats: no rounding
    with pytest.raises(UncacheableError):
        value_digest(threading.Lock())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        | st.frozensets(st.integers() | st.text(max_size=3), max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(value=json_values | st.binary(max_size=20))
def test_a_stored_value_has_the_digest_of_the_original(value: Any) -> None:
    from ferroflow.store.values import decode, encode

    encoded = encode(value)
    assert value_digest(decode(encoded.codec, encoded.payload)) == value_digest(value)


def test_a_stored_array_has_the_digest_of_the_original() -> None:
    from ferroflow.store.values import decode, encode

    for array in (np.arange(7.0), np.ones((2, 3), dtype=np.float32, order="F"), np.float64(2.5)):
        encoded = encode(array)
        assert value_digest(decode(encoded.codec, encoded.payload)) == value_digest(array)

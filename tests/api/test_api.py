"""The user-facing API by example: decorators, inputs, outputs, results, views."""

from __future__ import annotations

import re
import shutil
import threading
import time
import typing as t
import uuid

import numpy as np
import pytest
from ferroflow import (
    DataNode,
    GraphHandle,
    TaskHandle,
    WorkGraph,
    dynamic,
    get_current_profile,
    load_node,
    namespace,
    task,
)


@task
def square(x: int) -> int:
    return x * x


@task()
def cube(x: int) -> int:
    return x**3


@task(name="qr")
def divide(x: int, y: int = 3) -> t.Annotated[tuple, namespace(q=int, r=int)]:
    return divmod(x, y)


@task
def total(**values: int) -> int:
    return sum(values.values())


@task
def nested(x: int) -> t.Annotated[dict, namespace(a=namespace(b=int, c=int), d=int)]:
    return {"a": {"b": x, "c": x + 1}, "d": x + 2}


@task
def generate(keys: list) -> t.Annotated[dict, dynamic(int)]:
    return {key: i for i, key in enumerate(keys)}


# ---------------------------------------------------------------------------------------------
# Decorators and inputs


def test_decorator_forms() -> None:
    assert isinstance(square, TaskHandle) and not square.is_graph
    assert isinstance(cube, TaskHandle)
    assert divide.name == "qr" and divide.__name__ == "divide"
    assert square.func(4) == 16  # the plain function is kept
    assert square.__doc__ == square.func.__doc__

    @task.graph()
    def G1(n: int) -> int:
        return square(x=n).result

    @task.graph(max_depth=7)
    def G2(n: int) -> int:
        return cube(x=n).result

    assert isinstance(G1, GraphHandle) and G1.is_graph and G2.max_depth == 7
    assert G1.run(3).outputs.result.value == 9
    assert G2.run(2).outputs.result.value == 8


def test_defaults_and_positional_arguments() -> None:
    @task.graph
    def G(n: int) -> t.Annotated[dict, namespace(q=int, r=int, q2=int)]:
        default = divide(n)  # y defaults to 3
        explicit = divide(n, y=4)
        return {"q": default.q, "r": default.r, "q2": explicit.q}

    wg = G.build(10)
    wg.run()
    assert (wg.outputs.q.value, wg.outputs.r.value, wg.outputs.q2.value) == (3, 1, 2)
    assert wg.tasks.keys() == ["qr", "qr1"]  # named after name=, numbered when repeated
    # the default was stored as an input of the task like any other value
    inputs = {
        label: node.value
        for kind, label, node in load_node(wg.tasks["qr"].pk).inputs
        if kind == "INPUT_CALC"
    }
    assert inputs == {"x": 10, "y": 3}


def test_kwargs_are_a_dynamic_namespace() -> None:
    @task.graph
    def G(data: t.Annotated[dict, dynamic(int)]) -> int:
        return total(**data).result

    wg = G.build({"a": 1, "b": 2, "c": 39})
    wg.run()
    assert wg.outputs.result.value == 42
    labels = sorted(
        label for kind, label, _ in load_node(wg.tasks["total"].pk).inputs if kind == "INPUT_CALC"
    )
    assert labels == ["values__a", "values__b", "values__c"]  # one node per key


def test_tuple_outputs_and_dotted_access() -> None:
    @task.graph
    def G(n: int) -> t.Annotated[dict, namespace(q=int, r=int, b=int, c=int, d=int)]:
        qr = divide(x=n, y=4)
        outs = nested(x=n)
        return {"q": qr.q, "r": qr["r"], "b": outs["a.b"], "c": outs.a.c, "d": outs["d"]}

    wg = G.run(11)
    assert {s._name: s.value for s in wg.outputs} == {"q": 2, "r": 3, "b": 11, "c": 12, "d": 13}
    assert wg.outputs["q"].value == 2
    assert wg.tasks["nested"].outputs["a"]["b"].value == 11


def test_outputs_iterate_in_insertion_order() -> None:
    keys = ["zeta", "alpha", "mu", "beta"]

    @task.graph
    def G(keys: list) -> t.Annotated[dict, dynamic(int)]:
        return generate(keys=keys)  # a whole dynamic namespace, keys known at run time

    wg = G.build(keys)
    outputs = wg.run()
    assert list(outputs) == keys
    assert [s._name for s in wg.outputs] == keys
    assert [s.value for s in wg.outputs] == [0, 1, 2, 3]
    assert len(wg.outputs) == 4
    assert wg.outputs.mu.value == 2


def test_returning_a_future_dynamic_namespace() -> None:
    @task
    def numbers(n: int) -> t.Annotated[dict, namespace(data=dynamic(int))]:
        return {"data": {f"n{i}": i for i in range(n)}}

    @task.graph
    def G(n: int) -> t.Annotated[dict, dynamic(int)]:
        return numbers(n=n).data

    assert [s.value for s in G.run(3).outputs] == [0, 1, 2]


# ---------------------------------------------------------------------------------------------
# Results: data nodes


def test_data_nodes() -> None:
    wg = run_graph(lambda n: square(x=square(x=n).result).result, 3)
    node = wg.outputs.result.value
    assert isinstance(node, DataNode)
    assert node == 81 and node != 80
    assert 81 == node  # noqa: SIM300 - the reflected comparison works too
    assert node.value == 81 and int(node) == 81 and node + 1 == 82
    assert str(uuid.UUID(node.uuid)) == node.uuid
    assert isinstance(node.pk, int) and node.is_stored
    assert repr(node) == f"uuid: {node.uuid} (pk: {node.pk}) value: 81"
    assert f"{node}" == repr(node) and f"{node:5d}" == "   81"
    stored = load_node(node.pk)
    assert stored.uuid == node.uuid and stored.value == 81 and repr(stored) == repr(node)
    assert load_node(node.uuid).pk == node.pk
    assert DataNode(3) == DataNode(3) and DataNode(3).pk is None


def test_pks_are_unique_across_a_run() -> None:
    wg = run_graph(lambda n: total(**{f"k{i}": square(x=i).result for i in range(n)}).result, 5)
    pks = [wg.pk]
    for node in wg.all_tasks():
        pks.append(node.pk)
        for _, _, linked in load_node(node.pk).outputs:
            pks.append(linked.pk)
    assert all(isinstance(pk, int) for pk in pks)
    assert len(set(pks)) == len(pks)
    again = run_graph(lambda n: square(x=n).result, 2)
    assert again.pk not in pks and again.outputs.result.value.pk not in pks


@task
def scale(arr: np.ndarray, k: float = 2.0) -> np.ndarray:
    return arr * k


@task
def norm(arr: np.ndarray) -> float:
    return float(np.linalg.norm(arr))


def test_numpy_arrays_flow_between_tasks() -> None:
    @task.graph
    def G(arr: np.ndarray) -> t.Annotated[dict, namespace(scaled=np.ndarray, norm=float)]:
        scaled = scale(arr=arr, k=0.5).result
        return {"scaled": scaled, "norm": norm(arr=scaled).result}

    data = np.arange(12, dtype=np.float64).reshape(3, 4)
    wg = G.run(data)
    scaled = wg.outputs.scaled.value
    assert isinstance(scaled.value, np.ndarray)
    np.testing.assert_array_equal(scaled.value, data * 0.5)
    assert scaled == data * 0.5
    assert wg.outputs.norm.value.value == pytest.approx(np.linalg.norm(data * 0.5))
    reloaded = load_node(scaled.pk).value
    assert reloaded.dtype == np.float64 and reloaded.shape == (3, 4)
    np.testing.assert_array_equal(reloaded, data * 0.5)


# ---------------------------------------------------------------------------------------------
# Running


def run_graph(body: t.Callable[[t.Any], t.Any], n: int, **run: t.Any) -> WorkGraph:
    """Build and run a one-input graph whose body is ``body(n)``."""

    @task.graph
    def G(n: int) -> int:
        return body(n)

    wg = G.build(n)
    wg.run(**run)
    return wg


def test_handle_run_is_build_then_run() -> None:
    wg = square_graph.run(7)
    assert isinstance(wg, WorkGraph) and wg.state == "FINISHED"
    assert wg.outputs.result.value == 49
    assert get_current_profile().store.load_node(wg.pk).label == "square_graph"


@task.graph
def square_graph(n: int) -> int:
    return square(x=n).result


#: (start, end) of the slow_square bodies (time.monotonic), to see them overlap
_spans: list[tuple[float, float]] = []


@task
def slow_square(x: int) -> int:
    start = time.monotonic()
    time.sleep(0.25)
    _spans.append((start, time.monotonic()))
    return x * x


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (an end at the same instant as a start first)."""
    now = peak = 0
    for _, step in sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans]):
        now += step
        peak = max(peak, now)
    return peak


@task.graph
def fan_out(n: int) -> t.Annotated[dict, namespace(squares=dynamic(int), total=int)]:
    squares = {f"s{i}": slow_square(x=i).result for i in range(n)}
    return {"squares": squares, "total": total(**squares).result}


def test_worker_counts_give_the_same_results() -> None:
    results = {}
    durations = {}
    overlaps = {}
    for workers in (1, 4):
        wg = fan_out.build(4)
        _spans.clear()
        start = time.perf_counter()
        wg.run(max_workers=workers)
        durations[workers] = time.perf_counter() - start
        overlaps[workers] = _max_overlap(_spans)
        results[workers] = (
            {s._name: s.value.value for s in wg.outputs.squares},
            wg.outputs.total.value.value,
            {name: node.state for name, node in wg.tasks.items()},
        )
    assert results[1] == results[4]
    assert results[1][1] == 0 + 1 + 4 + 9
    assert durations[1] >= 1.0 and overlaps[1] == 1  # one worker: one task at a time
    # four workers: the independent sleeps overlap (seen in the bodies' own stamps, not in the
    # run's wall time, which a loaded machine can stretch past any bound)
    assert overlaps[4] >= 2


@task.graph
def level3(x: int) -> int:
    return square(x=x).result


@task.graph
def level2(x: int) -> int:
    return level3(x=cube(x=x).result).result


@task.graph
def level1(x: int) -> int:
    return level2(x=x).result


def test_graphs_nested_three_levels_deep() -> None:
    wg = level1.run(2)
    assert wg.outputs.result.value == 64
    paths = [node.path for node in wg.all_tasks()]
    assert "level1/level2/level3/square" in paths
    assert all(node.state == "FINISHED" for node in wg.all_tasks())
    # one graph run per level, each called by the one above
    run = load_node(wg.pk)
    (l2,) = run.called
    assert (l2.kind, l2.label) == ("work", "level2")
    assert [(n.kind, n.label) for n in l2.called] == [("calc", "cube"), ("work", "level3")]
    (sq,) = l2.called[1].called
    assert sq.label == "square" and sq.run_pk == wg.pk
    returned = [node for kind, _, node in run.outputs if kind == "RETURN"]
    assert [node.pk for node in returned] == [wg.outputs.result.value.pk]
    assert returned[0].creator == sq  # the same node returned at every level: no copies


def test_threads_do_not_share_the_current_graph() -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            assert square_graph.run(i).outputs.result.value == i * i
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# ---------------------------------------------------------------------------------------------
# Views


def test_to_dot() -> None:
    wg = level1.build(2)
    before = wg.to_dot()
    assert before.startswith('digraph "level1"') and before.rstrip().endswith("}")
    assert "level2\\nPLANNED" in before
    wg.run()
    after = wg.to_dot()
    for name in ("cube", "square"):
        assert re.search(rf'label="{name}\\nFINISHED"', after), name
    for name in ("level2", "level3"):  # an expanded graph task is its cluster, drawn once
        assert after.count(f'label="{name} (FINISHED)"') == 1, name
        assert f'label="{name}\\nFINISHED"' not in after, name
    edges = re.findall(r'"(t\d+)" -> "(t\d+)"', after)
    assert len(edges) == 1  # cube -> level3


def test_repr_html_before_and_after_runs() -> None:
    wg = fan_out.build(2)
    page = wg._repr_html_()
    assert "fan_out" in page and "slow_square" in page and "planned" in page
    wg.run()
    page = wg._repr_html_()
    for name in ("fan_out", "slow_square", "slow_square1", "total"):
        assert name in page
    assert "finished: 3" in page
    assert repr(wg) == "<WorkGraph fan_out state=FINISHED tasks=3>"


def test_repr_html_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    @task
    def fails(x: int) -> int:
        raise RuntimeError("nope")

    wg = run_graph(lambda n: square(x=fails(x=n).result).result, 1, raise_on_error=False)
    assert "failed: 1" in wg._repr_html_() and "skipped: 1" in wg._repr_html_()
    # without Graphviz's `dot`, or when it breaks, the DOT text is shown instead
    with monkeypatch.context() as patch:  # (undo() would also undo conftest's FERROFLOW_HOME)
        patch.setattr(shutil, "which", lambda name: None)
        page = wg._repr_html_()
    assert "<pre>" in page and "fails\\nFAILED" in page and "&quot;" in page
    import graphviz  # a [test] dependency

    def broken(*args: t.Any, **kwargs: t.Any) -> t.NoReturn:
        raise RuntimeError("dot crashed")

    monkeypatch.setattr(graphviz.Source, "pipe", broken)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/dot")
    assert "<pre>" in wg._repr_html_()


def test_missing_optional_output_returned_by_the_graph_is_named() -> None:
    from ferroflow import WorkflowFailedError

    @task
    def maybe(x: int) -> t.Annotated[dict, namespace(a=int, b=(int, 0))]:
        return {"a": x}  # 'b' is optional and not produced

    @task.graph
    def g() -> t.Any:
        return maybe(x=1).b

    wg = g.build()
    with pytest.raises(WorkflowFailedError, match=r"every task finished, but its outputs") as info:
        wg.run()
    assert "finished without producing output 'b'" in str(info.value)
    assert info.value.failed == {}
    assert wg.state == "FAILED"
    assert {tk.name: tk.state for tk in wg.all_tasks()} == {"maybe": "FINISHED"}


def test_a_run_without_provenance_has_no_pk() -> None:
    wg = run_graph(lambda n: square(x=n).result, 3, provenance=False)
    assert wg.outputs.result.value == 9 and wg.pk is None
    assert [t.pk for t in wg.all_tasks()] == [None]  # nothing stored: no pk names it
    stored = run_graph(lambda n: square(x=n).result, 3)
    assert stored.pk is not None and load_node(stored.pk).kind == "work"

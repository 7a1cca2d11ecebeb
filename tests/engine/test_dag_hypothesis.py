"""Property tests of the engine against a plain sequential reference (core.md §5).

Hypothesis draws random workflows with :mod:`ferroflow.testing` (up to 60 top-level tasks, wide
scatter/gather layers, graph tasks nested up to three deep that expand at run time, and at most
one raising task). Each is built into a real ``WorkGraph`` by :func:`build`, run on 1 to 4
workers, and compared with :func:`ferroflow.testing.evaluate`. Every task receives its spec
*tag* as an input, which is how engine tasks are matched with reference tasks, and records
start/end events on a logical clock (``itertools.count``; ``next`` and ``list.append`` are
atomic under the GIL), never wall time.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ferroflow.profile as profile_module
import pytest
from ferroflow import (
    DataNode,
    FerroflowError,
    Profile,
    WorkflowFailedError,
    load_profile,
    task,
)
from ferroflow.errors import ChildTasksFailedError
from ferroflow.model.graph import TaskNode
from ferroflow.model.vocabulary import Kind, Link
from ferroflow.store import graph_read
from ferroflow.store.schema import STATE_CODES
from ferroflow.testing import (
    ROOT_TAG,
    DagSpec,
    NodeSpec,
    Reference,
    Workflow,
    dag_specs,
    evaluate,
    inline,
    workflows,
)
from ferroflow.workgraph import WorkGraph
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_query import file_query
from store_rules import violations

# FERROFLOW_DAG_EXAMPLES=2000 for a long soak; 60 keeps the file well under a minute.
EXAMPLES = settings(max_examples=int(os.environ.get("FERROFLOW_DAG_EXAMPLES", "60")), deadline=None)
workers = st.integers(1, 4)

# -- instrumentation ---------------------------------------------------------------------------

_clock = itertools.count()
_events: list[tuple[str, str, int]] = []  # (tag, "start" | "end", clock)
_bodies: dict[str, DagSpec] = {}  # graph tag -> the spec its body builds
_captures: dict[str, tuple[str, ...]] = {}  # graph tag -> tags of the outer tasks it captures
_sockets: dict[str, Any] = {}  # tag -> the future result socket of that task (this run)


def _event(tag: str, phase: str) -> None:
    _events.append((tag, phase, next(_clock)))


def _value(node: Any) -> Any:
    return node.value if isinstance(node, DataNode) else node


@task
def add(tag: str, const: int, **inputs: int) -> int:
    _event(tag, "start")
    total = sum(inputs.values()) + const
    time.sleep(0)  # yield the GIL, so that other workers interleave
    _event(tag, "end")
    return total


@task
def identity(tag: str, x: int) -> int:
    _event(tag, "start")
    time.sleep(0)
    _event(tag, "end")
    return x


@task
def boom(tag: str, **inputs: int) -> int:
    _event(tag, "start")
    raise ValueError(f"boom at {tag}")


# Fixed-arity twins (same task names): no **kwargs, so the engine runs them in its fast lane
# (rust/py/src/fast.rs) while the **inputs versions take the general Python runner; random
# graphs mix both, and data flows between the lanes.
@task(name="add")
def add_fixed(tag: str, const: int, x0: int = 0, x1: int = 0) -> int:
    _event(tag, "start")
    time.sleep(0)
    _event(tag, "end")
    return x0 + x1 + const


@task(name="boom")
def boom_fixed(tag: str, x0: int = 0, x1: int = 0) -> int:
    _event(tag, "start")
    raise ValueError(f"boom at {tag}")


@task.graph
def dag(tag: str, **inputs: int):  # type: ignore[no-untyped-def]
    """Build the spec registered for ``tag`` from the concrete ``inputs`` (x0, x1, ...) and
    the future outputs of the outer tasks it captures."""
    key = _value(tag)
    _event(key, "start")
    spec = _bodies[key]
    params = [*(inputs[f"x{k}"] for k in range(len(inputs))), *map(_sockets.get, _captures[key])]
    assert len(params) == spec.n_params
    sockets: list[Any] = []
    for i, node in enumerate(spec.nodes):
        child = spec.tag(key, i)
        args = {
            f"x{j}": params[-ref - 1] if ref < 0 else sockets[ref]
            for j, ref in enumerate(node.inputs)
        }
        fixed = len(args) <= 2 and i % 2 == 0
        if node.kind == "add" and fixed:
            out = add_fixed(tag=child, const=node.const, **args)
        elif node.kind == "add":
            out = add(tag=child, const=node.const, **args)
        elif node.kind == "raise" and fixed:
            out = boom_fixed(tag=child, **args)
        elif node.kind == "identity":
            out = identity(tag=child, x=args["x0"])
        elif node.kind == "raise":
            out = boom(tag=child, **args)
        else:
            out = dag(tag=child, **args)
        sockets.append(out.result)
        _sockets[child] = out.result
    _event(key, "end")
    return params[-spec.output - 1] if spec.output < 0 else sockets[spec.output]


HANDLE_NAMES = {"add": "add", "identity": "identity", "raise": "boom", "graph": "dag"}


def build(workflow: Workflow) -> WorkGraph:
    """Register the bodies of ``workflow`` and build it (the top-level body runs now)."""
    _bodies.clear()
    _captures.clear()
    _sockets.clear()

    def register(tag: str, spec: DagSpec, captures: tuple[str, ...]) -> None:
        _bodies[tag], _captures[tag] = spec, captures
        for i, node in enumerate(spec.nodes):
            if node.body is not None:
                outer = tuple(spec.tag(tag, c) for c in node.captures)
                register(spec.tag(tag, i), node.body, outer)

    register(ROOT_TAG, workflow.dag, ())
    params = {f"x{k}": v for k, v in enumerate(workflow.params)}
    return dag.build(tag=ROOT_TAG, **params)


def run(workflow: Workflow, profile: Profile, max_workers: int) -> WorkGraph:
    _events.clear()
    wg = build(workflow)
    wg.run(profile=profile, max_workers=max_workers, raise_on_error=False)
    return wg


def by_tag(wg: WorkGraph) -> dict[str, TaskNode]:
    found: dict[str, TaskNode] = {}
    for t in (view.node for view in wg.all_tasks()):  # the engine's tasks themselves
        tag = t.inputs["tag"].value
        assert tag not in found, f"two tasks carry tag {tag}"
        found[tag] = t
    return found


def expected_paths(workflow: Workflow, ref: Reference) -> dict[str, str]:
    """Task paths as WorkGraph names them (``add``, ``add1``, …; a graph task's children
    below its own path), for the tasks the reference says exist."""
    paths: dict[str, str] = {ROOT_TAG: dag.name}

    def walk(spec: DagSpec, prefix: str) -> None:
        counts: Counter[str] = Counter()
        for i, node in enumerate(spec.nodes):
            tag = spec.tag(prefix, i)
            if tag not in ref.tasks:
                return  # a skipped graph task: its body never ran
            base = HANDLE_NAMES[node.kind]
            n = counts[base]
            counts[base] += 1
            paths[tag] = f"{paths[prefix]}/{base}{n or ''}"
            if node.body is not None:
                walk(node.body, tag)

    walk(workflow.dag, ROOT_TAG)
    del paths[ROOT_TAG]
    return paths


def stamps() -> tuple[dict[str, int], dict[str, int], Counter[str]]:
    starts: dict[str, int] = {}
    ends: dict[str, int] = {}
    calls: Counter[str] = Counter()
    for tag, phase, clock in _events:
        if phase == "start":
            calls[tag] += 1
            starts[tag] = clock
        else:
            ends[tag] = clock
    return starts, ends, calls


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Profile]:
    """One private profile for the module (hypothesis runs many examples per test function,
    so a function-scoped one would be shared by them anyway); runs pass it explicitly."""
    home = tmp_path_factory.mktemp("ferroflow-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FERROFLOW_HOME", str(home))
        mp.setattr(profile_module, "_profiles", {})
        mp.setattr(profile_module, "_current", None)
        prof = load_profile("hypothesis")
        assert Path(os.environ["FERROFLOW_HOME"]) in prof.path.parents
        yield prof
        prof.close()


# -- properties --------------------------------------------------------------------------------


@EXAMPLES
@given(workflows(), workers)
def test_equals_sequential_reference(profile: Profile, workflow: Workflow, n: int) -> None:
    ref = evaluate(workflow)
    wg = run(workflow, profile, n)
    tasks = by_tag(wg)

    assert set(tasks) == set(ref.tasks), "the run holds exactly the tasks the reference expands"
    for tag, t in tasks.items():
        expected = ref.tasks[tag]
        assert t.state == expected.state, tag
        if t.state == "FINISHED":
            assert t.outputs is not None
            assert t.outputs["result"].value == expected.value, tag
    # counts add up, and match the core's own counters
    states = Counter(t.state for t in wg.all_tasks())
    assert set(states) <= {"FINISHED", "FAILED", "SKIPPED"}
    assert sum(states.values()) == len(wg.all_tasks()) == len(ref.tasks)
    assert wg._execution is not None
    core = wg._execution.core.counts()
    assert (core["total"], core["finished"], core["failed"], core["skipped"]) == (
        len(ref.tasks),
        states["FINISHED"],
        states["FAILED"],
        states["SKIPPED"],
    )
    # names and paths follow WorkGraph's rules
    assert {tag: t.path for tag, t in tasks.items()} == expected_paths(workflow, ref)
    top = {t.name for t in wg.tasks.values()}
    assert top == {tasks[tag].name for tag in ref.tasks if ref.tasks[tag].parent is None}
    # the workflow's own state and output
    if ref.failed_leaves:
        assert wg.state == "FAILED"
    else:
        assert wg.state == "FINISHED"
        assert wg.outputs.result.value == ref.output
    if ref.output_state == "FINISHED":
        assert wg.outputs.result.value == ref.output
    else:  # a failed run keeps the outputs that exist; this one does not
        with pytest.raises(AttributeError, match="failed or skipped"):
            wg.outputs.result.value  # noqa: B018


@settings(max_examples=20, deadline=None)
@given(workflows(), workers)
def test_general_lane_equals_sequential_reference(
    profile: Profile, workflow: Workflow, n: int
) -> None:
    """The same property with the fast lane off: every task goes through the Python runner."""
    os.environ["FERROFLOW_FAST_LANE"] = "0"
    try:
        test_equals_sequential_reference.hypothesis.inner_test(profile, workflow, n)  # type: ignore[attr-defined]
    finally:
        del os.environ["FERROFLOW_FAST_LANE"]


@EXAMPLES
@given(workflows(), workers)
def test_order_by_logical_clock(profile: Profile, workflow: Workflow, n: int) -> None:
    ref = evaluate(workflow)
    wg = run(workflow, profile, n)
    starts, ends, _ = stamps()
    tasks = by_tag(wg)
    assert set(starts) - {ROOT_TAG} == {t for t, r in ref.tasks.items() if r.state != "SKIPPED"}

    # A graph task is done when its body, every task of its expansion and the task whose
    # output it returns are done.
    children: dict[str, list[str]] = {}
    for tag, r in ref.tasks.items():
        if r.parent is not None and r.state != "SKIPPED":
            children.setdefault(r.parent, []).append(tag)
    done: dict[str, int] = {}

    def finish(tag: str) -> int:
        if tag not in done:
            r = ref.tasks[tag]
            if r.kind == "raise":
                done[tag] = starts[tag]
            else:
                waits = [*children.get(tag, ()), *(t for t in r.returns if t != tag)]
                done[tag] = max([ends[tag], *map(finish, waits)])
        return done[tag]

    for tag, r in ref.tasks.items():
        if r.state == "SKIPPED":
            assert tag not in starts
            continue
        if r.kind != "raise":
            assert starts[tag] < ends[tag]
        for producer in r.producers:
            assert finish(producer) < starts[tag], f"{tag} started before its input {producer}"
        if r.parent is not None:
            assert ends[r.parent] < starts[tag], f"{tag} started before its graph body ended"
        # the engine's own dependency lists agree with the spec
        engine_producers = {p.inputs["tag"].value for p in tasks[tag].producers}
        assert engine_producers <= set(r.producers)


@settings(max_examples=20, deadline=None)
@given(workflows(raising=True), workers)
def test_restart_reruns_exactly_what_did_not_finish(
    profile: Profile, workflow: Workflow, n: int
) -> None:
    """``WorkGraph.load(run)``: graph bodies and failed tasks run again, no finished calc task
    does (its stored result is reused), and the outcome equals the reference."""
    ref = evaluate(workflow)
    wg = run(workflow, profile, n)
    assert wg.pk is not None
    _events.clear()
    again = WorkGraph.load(wg.pk, profile=profile, graph=dag)
    assert stamps()[2] == Counter({ROOT_TAG: 1}), "load builds the top-level body, once"
    _events.clear()
    again.run(profile=profile, max_workers=n, raise_on_error=False)
    rerun = {
        tag: 1
        for tag, r in ref.tasks.items()
        if r.state != "SKIPPED" and r.kind in ("graph", "raise")
    }
    assert stamps()[2] == Counter(rerun)
    tasks = by_tag(again)
    assert set(tasks) == set(ref.tasks)
    for tag, t in tasks.items():
        assert t.state == ref.tasks[tag].state, tag
        if t.state == "FINISHED":
            assert t.outputs is not None and t.outputs["result"].value == ref.tasks[tag].value
    reused = {tag for tag, r in ref.tasks.items() if r.state == "FINISHED" and r.kind != "graph"}
    assert set(again.cached_tasks) == {tasks[tag].path for tag in reused}


@EXAMPLES
@given(workflows(), workers)
def test_each_task_body_runs_exactly_once(profile: Profile, workflow: Workflow, n: int) -> None:
    ref = evaluate(workflow)
    _events.clear()
    wg = build(workflow)
    assert stamps()[2] == Counter({ROOT_TAG: 1}), "build runs the top-level body, once"
    _events.clear()
    wg.run(profile=profile, max_workers=n, raise_on_error=False)
    calls = stamps()[2]
    expected = Counter({tag: 1 for tag, r in ref.tasks.items() if r.state != "SKIPPED"})
    assert calls == expected


@EXAMPLES
@given(workflows(raising=False), workers)
def test_dynamic_expansion_equals_inline(profile: Profile, workflow: Workflow, n: int) -> None:
    flat = Workflow(inline(workflow.dag), workflow.params)
    assert not flat.dag.has_graph
    nested_ref, flat_ref = evaluate(workflow), evaluate(flat)
    assert flat_ref.output == nested_ref.output

    nested = by_tag(run(workflow, profile, n))
    flat_wg = run(flat, profile, n)
    flat_tasks = by_tag(flat_wg)
    assert all(t.state == "FINISHED" for t in flat_tasks.values())
    assert all(t.state == "FINISHED" for t in nested.values())
    # every leaf task of the nested run exists inline, with the same value
    leaves = {tag for tag, t in nested.items() if not t.is_graph}
    assert leaves == set(flat_tasks)
    for tag in leaves:
        value = flat_tasks[tag].outputs["result"].value  # type: ignore[index]
        assert nested[tag].outputs["result"].value == value, tag  # type: ignore[index]
    # a graph task's result is what the inline expansion computes for its output
    for tag, t in nested.items():
        if t.is_graph:
            assert t.outputs is not None
            assert t.outputs["result"].value == nested_ref.tasks[tag].value
    assert flat_wg.outputs.result.value == nested_ref.output


def descendants(tasks: list[TaskNode], failed: set[int]) -> set[int]:
    """Ids of tasks that consume, directly or transitively, data of a task in ``failed``."""
    bad = set(failed)
    grew = True
    while grew:
        grew = False
        for t in tasks:
            assert t.id is not None
            if t.id not in bad and any(p.id in bad for p in t.producers):
                bad.add(t.id)
                grew = True
    return bad - failed


@EXAMPLES
@given(workflows(raising=True), workers)
def test_failure_invariants(profile: Profile, workflow: Workflow, n: int) -> None:
    ref = evaluate(workflow)
    wg = run(workflow, profile, n)
    tasks = [t.node for t in wg.all_tasks()]
    tagged = by_tag(wg)
    failed = {t.id for t in tasks if t.state == "FAILED"}
    skipped = {t.id for t in tasks if t.state == "SKIPPED"}
    finished = {t.id for t in tasks if t.state == "FINISHED"}
    assert len(failed) + len(skipped) + len(finished) == len(tasks)

    # failed: the raising task (if it ran), every graph task that (transitively) holds it, and
    # graph tasks whose body used (captured) a failed task's output
    assert {tagged[t].id for t in ref.tags("FAILED")} == failed
    raising = next(tag for tag, node in workflow.dag.walk() if node.kind == "raise")
    if raising in ref.tasks and ref.tasks[raising].state == "FAILED":
        holders = {raising.rsplit(".", k)[0] for k in range(1, raising.count("."))}
        assert {tagged[t].id for t in holders | {raising}} <= failed
        assert isinstance(tagged[raising].error, ValueError)
    else:
        assert not failed  # the raising task was never reached
    for tag, t in tagged.items():
        if t.state == "FAILED" and t.is_graph:
            # ... because something it waits for did not finish
            assert isinstance(t.error, ChildTasksFailedError)
            assert t.child is not None
            waits = [*t.child.tasks, *(tagged[r] for r in ref.tasks[tag].returns)]
            assert any(w.state != "FINISHED" for w in waits), t.path
        elif t.state == "FAILED":
            assert isinstance(t.error, ValueError)
    # skipped: exactly the data descendants of failed tasks, inside and across graphs
    assert skipped == descendants(tasks, failed)
    for t in tasks:
        if t.state == "SKIPPED":
            assert t.child is None and t.pk is None, "a skipped task never started"
        if t.state in ("SKIPPED", "FAILED"):
            assert t.outputs is None or t.is_graph
    # everything else finished with the reference's value
    for tag, r in ref.tasks.items():
        if r.state == "FINISHED":
            assert tagged[tag].outputs["result"].value == r.value  # type: ignore[index]
    assert wg.state == ("FAILED" if failed else "FINISHED")


@EXAMPLES
@given(workflows(raising=True), workers)
def test_raise_on_error_names_failed_leaves(profile: Profile, workflow: Workflow, n: int) -> None:
    ref = evaluate(workflow)
    wg = build(workflow)
    if not ref.failed_leaves:
        wg.run(profile=profile, max_workers=n)
        assert wg.state == "FINISHED"
        return
    with pytest.raises(WorkflowFailedError) as info:
        wg.run(profile=profile, max_workers=n)
    paths = expected_paths(workflow, ref)
    assert set(info.value.failed) == {paths[tag] for tag in ref.failed_leaves}
    assert all(isinstance(e, ValueError) for e in info.value.failed.values())
    assert isinstance(info.value.__cause__, ValueError)


@settings(max_examples=10, deadline=None)
@given(workflows(), workers)
def test_stored_provenance_follows_link_rules(profile: Profile, workflow: Workflow, n: int) -> None:
    ref = evaluate(workflow)
    wg = run(workflow, profile, n)
    profile.store.flush()
    # AiiDA's link rules over the whole profile (all runs so far): every data node has at most
    # one CREATE link, every process at most one caller, link ends have the right kinds
    # (CREATE from a calc to data, CALL_* from work to a process); the rules of store_rules,
    # which also checks SQLite's integrity and that every link's ends exist
    assert violations(profile.store_path) == []
    with file_query(profile.store_path, read_only=True) as query:
        # this run: one process node per started task, plus the run itself, in the right state
        rows = graph_read.run_node_rows(query, wg.pk, (Kind.CALC, Kind.WORK))
        started = {tag: r for tag, r in ref.tasks.items() if r.state != "SKIPPED"}
        assert len(rows) == len(started) + 1
        stored = {row[0]: row[5] for row in rows}
        for tag, t in by_tag(wg).items():
            if tag in started:
                assert stored[t.pk] == STATE_CODES[t.state]
                callers = graph_read.links(query, [t.pk], True, (Link.CALL_CALC, Link.CALL_WORK))
                parent = wg.pk if t.graph.parent is None else t.graph.parent.pk
                assert [link.src for link in callers] == [parent]
        assert stored[wg.pk] == STATE_CODES[wg.state]


# -- a few fixed examples, so that the shapes above are always covered ---------------------------


def test_fixed_nested_failure(profile: Profile) -> None:
    # n.0 = 5; graph n.1(n.0) has a body that raises in its child 1, so n.1 fails;
    # n.2 consumes n.1 (skipped), n.3 only n.0 (finishes).
    body = DagSpec(
        1,
        (NodeSpec("add", (-1,), 1), NodeSpec("raise", (0,)), NodeSpec("add", (1,))),
        0,
    )
    spec = DagSpec(
        0,
        (
            NodeSpec("add", (), 5),
            NodeSpec("graph", (0,), body=body),
            NodeSpec("identity", (1,)),
            NodeSpec("add", (0,), 2),
        ),
        3,
    )
    workflow = Workflow(spec, ())
    ref = evaluate(workflow)
    assert ref.tags("FAILED") == {"n.1", "n.1.1"}
    assert ref.tags("SKIPPED") == {"n.1.2", "n.2"}
    wg = run(workflow, profile, 2)
    assert {tag: t.state for tag, t in by_tag(wg).items()} == {
        tag: r.state for tag, r in ref.tasks.items()
    }
    assert wg.outputs.result.value == 7


def test_fixed_empty_body_returns_its_input(profile: Profile) -> None:
    spec = DagSpec(
        1,
        (NodeSpec("graph", (-1,), body=DagSpec(1, (), -1)), NodeSpec("add", (0,), 1)),
        1,
    )
    wg = run(Workflow(spec, (41,)), profile, 1)
    assert wg.state == "FINISHED"
    assert wg.outputs.result.value == 42
    assert wg.tasks["dag"].outputs["result"].value == 41


@settings(max_examples=5, deadline=None)
@given(dag_specs(max_nodes=60, min_nodes=60, max_depth=0, raising=False))
def test_large_flat_dags(profile: Profile, spec: DagSpec) -> None:
    wg = run(Workflow(spec, ()), profile, 4)
    ref = evaluate(Workflow(spec, ()))
    assert len(wg.all_tasks()) == len(spec.nodes) >= 60
    assert wg.outputs.result.value == ref.output


def test_fixed_graph_returning_a_captured_future_waits_for_it(profile: Profile) -> None:
    # Regression: graph n.20 captures the end of a chain of 20 tasks and returns it from an
    # empty body. It used to finish at once, before the chain did ("task ... finished without
    # producing output"); it must wait for the captured task like for its own children.
    chain = [NodeSpec("add", (), 1), *(NodeSpec("add", (i,), 1) for i in range(19))]
    spec = DagSpec(
        0,
        (
            *chain,
            NodeSpec("graph", (), body=DagSpec(1, (), -1), captures=(19,)),
            NodeSpec("add", (20,), 100),
        ),
        21,
    )
    wg = run(Workflow(spec, ()), profile, 2)
    assert wg.state == "FINISHED"
    assert wg.outputs.result.value == 120


@task
def inc(x: int) -> int:
    return x + 1


_closure: dict[str, Any] = {}


@task.graph
def uses_closure(x: int) -> int:
    return inc(x=_closure["socket"]).result


@task.graph
def returns_closure(x: int) -> int:
    return _closure["socket"]


@task.graph
def wraps(x: int, inner: str) -> int:
    return (uses_closure if _value(inner) == "uses" else returns_closure)(x=x).result


@task.graph
def cyclic(case: str) -> int:
    case = _value(case)
    if case.startswith("own"):
        g = (uses_closure if case == "own-uses" else returns_closure)(x=1)
        _closure["socket"] = g.result
    elif case == "enclosing":
        g = wraps(x=1, inner="uses")
        _closure["socket"] = g.result
    else:  # a task downstream of the graph task
        g = uses_closure(x=1)
        _closure["socket"] = inc(x=g.result).result
    return g.result


@pytest.mark.parametrize("case", ["own-uses", "own-returns", "enclosing", "downstream"])
def test_fixed_closure_cycles_fail_instead_of_hanging(profile: Profile, case: str) -> None:
    # A body that uses (or returns) the output of a task which waits for the graph task itself
    # would deadlock the run; the expansion is refused with an error naming both tasks.
    wg = cyclic.build(case)
    with pytest.raises(WorkflowFailedError) as info:
        wg.run(profile=profile, max_workers=2, timeout=60)  # the timeout only guards a hang
    (error,) = info.value.failed.values()
    assert isinstance(error, FerroflowError)
    assert "could never finish" in str(error)

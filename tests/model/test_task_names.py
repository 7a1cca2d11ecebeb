"""A graph's name index (``model/task_names.py``): graph-body calls leave numbered tasks out of
it until somebody reads it, and the names and order are still those of indexing every task at
once, whatever mix of bases (``f``, ``f1``: their numbered names can meet) and names chosen by
the caller (``call_link_label``) a body uses."""

from __future__ import annotations

import pytest
from ferroflow import task
from ferroflow.model.graph import Graph, graph_context
from hypothesis import given, settings
from hypothesis import strategies as st


def _body(x: int) -> int:
    return x


# four handles whose base names meet in pairs: "f" + "12" is "f1" + "2" is "f12"
HANDLES = {base: task(name=base)(_body) for base in ("f", "f1", "f12", "g")}


def reference_names(calls: list[tuple[str, str | None]]) -> list[str]:
    """The names WorkGraph's numbering gives, every name checked against all before it."""
    taken: list[str] = []
    counts: dict[str, int] = {}
    for base, label in calls:
        n = counts.get(base, 0)
        name = base if n == 0 else f"{base}{n}"
        while name in taken:
            n += 1
            name = f"{base}{n}"
        if label is not None:
            name, n = label, n - 1  # a chosen name leaves the numbering as it was
        taken.append(name)
        counts[base] = n + 1
    return taken


def build(calls: list[tuple[str, str | None]]) -> Graph:
    graph = Graph("G")
    with graph_context(graph):
        for base, label in calls:
            if label is None:
                HANDLES[base](x=1)
            else:
                HANDLES[base](x=1, metadata={"call_link_label": label})
    return graph


def test_a_scatter_leaves_its_tasks_out_of_the_index_until_it_is_read() -> None:
    graph = build([("f", None)] * 5)
    assert graph._indexed == 0  # nothing indexed while the body added tasks
    assert list(graph.tasks_by_name) == ["f", "f1", "f2", "f3", "f4"]
    assert all(graph.tasks_by_name[t.name] is t for t in graph.tasks)
    assert graph._indexed == 5


def test_bases_whose_numbered_names_meet_are_indexed_at_once() -> None:
    calls: list[tuple[str, str | None]] = [("f", None)] * 13 + [("f1", None)] * 3
    graph = build(calls)
    assert graph._clashing and graph._indexed == 16
    # "f1", "f11" and "f12" are f's tasks, so the f1 handle's first task is f1's number 3
    assert [t.name for t in graph.tasks] == reference_names(calls)
    assert [t.name for t in graph.tasks][-3:] == ["f13", "f14", "f15"]


def test_a_chosen_name_is_refused_when_a_left_out_task_has_it() -> None:
    graph = build([("f", None)] * 3)
    with graph_context(graph), pytest.raises(ValueError, match="already has a task named 'f2'"):
        HANDLES["g"](x=1, metadata={"call_link_label": "f2"})
    assert list(graph.tasks_by_name) == ["f", "f1", "f2"]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(HANDLES)),
            st.one_of(st.none(), st.sampled_from(["f3", "f12", "g1", "f1", "h"])),
        ),
        max_size=40,
    )
)
def test_names_and_order_match_indexing_every_task_at_once(
    calls: list[tuple[str, str | None]],
) -> None:
    # a chosen name already taken is refused (test above): keep the first use of each
    kept: list[tuple[str, str | None]] = []
    for base, label in calls:
        names = reference_names([*kept, (base, label)])
        if label is not None and label in names[:-1]:
            continue
        kept.append((base, label))
    graph = build(kept)
    expected = reference_names(kept)
    assert [t.name for t in graph.tasks] == expected
    assert list(graph.tasks_by_name) == expected  # the index keeps the order of adding
    assert all(graph.tasks_by_name[t.name] is t for t in graph.tasks)


def test_a_graph_keeps_each_task_definition_once_in_first_use_order() -> None:
    # what a run asks of definitions (routing to executors, code digests) it asks of these
    f, f1, g = HANDLES["f"], HANDLES["f1"], HANDLES["g"]
    graph = build([("f", None), ("f", None), ("g", None), ("f", None), ("f1", None)])
    assert list(graph.handles.values()) == [f, g, f1]
    assert {id(t.handle) for t in graph.tasks} == set(graph.handles)


def test_a_run_without_inputs_leaves_the_index_to_whoever_reads_it() -> None:
    @task.graph
    def scatter(n: int) -> None:
        for i in range(n):
            HANDLES["f"](x=i)

    wg = scatter.build(4)
    wg.run(provenance=False)
    assert wg._graph._indexed == 0
    assert wg.tasks.keys() == ["f", "f1", "f2", "f3"]  # read: indexed now, in order
    assert wg.tasks["f3"].outputs.result.value.value == 3


def test_a_numbered_task_keeps_its_number_and_reads_its_name() -> None:
    graph = build([("f", None)] * 3)
    assert [t._name for t in graph.tasks] == ["f", 1, 2]  # no str made per task
    assert [t.name for t in graph.tasks] == ["f", "f1", "f2"]
    assert [t._name for t in graph.tasks] == ["f", "f1", "f2"]  # kept once read
    assert graph.tasks[2].name is graph.tasks[2].name  # the same str each time
    assert graph.tasks[2].path == "G/f2" and "G/f2" in repr(graph.tasks[2])
    # once a name was chosen by a caller, numbered names are checked, so made, at once
    with graph_context(graph):
        HANDLES["g"](x=1, metadata={"call_link_label": "f4"})
        HANDLES["f"](x=1)
        HANDLES["f"](x=1)
    assert [t._name for t in graph.tasks][3:] == ["f4", "f3", "f5"]
    assert list(graph.tasks_by_name) == ["f", "f1", "f2", "f4", "f3", "f5"]

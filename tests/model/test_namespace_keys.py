"""One rule for namespace keys, inputs and outputs alike: non-empty strings without ``.``; keys
the link-label separator ``__`` would split wrongly are stored escaped and read back unchanged
through the store, caching, restart and exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pytest
from ferroflow import (
    GraphReturnError,
    TaskInputError,
    WorkflowFailedError,
    dynamic,
    get_current_profile,
    task,
)
from ferroflow.export import export_run, import_run
from ferroflow.model.data import DataNode
from ferroflow.model.labels import flatten, join_label, leaves, split_label
from ferroflow.store import Store
from hypothesis import example, given
from hypothesis import strategies as st

#: keys that a naive ``"__".join`` / ``split("__")`` would not give back
AWKWARD = ["a__b", "_lead", "trail_", "__", "_", "%41", "a%5Fb", "x___y", "plain", "number_1"]

FAILS = {"on": True}


@task(outputs=dynamic(Any))
def echo(data: dict[str, Any]) -> dict[str, Any]:
    """Returns its dict as a dynamic namespace: one output socket per key."""
    return dict(data)


@task(outputs=dynamic(dynamic(Any)))
def nested(**data: Any) -> dict[str, Any]:
    """A two-level dynamic namespace: each key holds a namespace with that key again."""
    return {key: {key: value} for key, value in data.items()}


@task
def keys_of(ns: Annotated[dict[str, Any], dynamic(Any)]) -> list[str]:
    if FAILS["on"]:
        raise RuntimeError("fails until told otherwise")
    return sorted(ns)


@task.graph(outputs=dynamic(dynamic(Any)))
def round_trip(**data: Any) -> Any:
    return nested(**data)


@task.graph
def consume(**ns: Any) -> Any:
    return keys_of(ns=ns).result


def _values() -> dict[str, int]:
    return {key: i for i, key in enumerate(AWKWARD)}


def _stored_outputs(pk: int) -> dict[str, Any]:
    """The run's RETURN links, nested again from their labels."""
    out: dict[str, Any] = {}
    for link_type, label, node in get_current_profile().store.load_node(pk).outputs:
        if link_type != "RETURN":
            continue
        where = out
        *outer, last = split_label(label)
        for key in outer:
            where = where.setdefault(key, {})
        where[last] = node.value
    return out


def test_join_and_split_keep_aiida_labels_for_ordinary_keys() -> None:
    assert join_label(["data", "number_1"]) == "data__number_1"
    assert join_label(["type_"]) == "type_"  # a lone key with a trailing _ is not split
    assert split_label("data__number_1") == ["data", "number_1"]


@example(["a__b"])
@example(["a_", "b"])
@example(["a", "_b"])
@example(["%5F", "%"])
@given(st.lists(st.text(min_size=1).filter(lambda k: "." not in k), min_size=1, max_size=4))
def test_every_key_path_survives_its_link_label(keys: list[str]) -> None:
    assert split_label(join_label(keys)) == keys


_KEY = st.sampled_from(AWKWARD) | st.text(min_size=1, max_size=3)
#: nested namespaces of data nodes, with leaves that are not data nodes beside them
_TREE = st.recursive(
    st.builds(DataNode, st.integers()) | st.integers(),
    lambda inner: st.dictionaries(_KEY, inner, max_size=4),
    max_leaves=12,
)


@given(_TREE, st.lists(_KEY, max_size=2))
def test_flatten_labels_every_data_node_as_the_general_walk_does(
    tree: Any, path: list[str]
) -> None:
    # flatten walks namespaces without generators (the recorder calls it for every task): it
    # must give the labels and nodes, in order, that the general walk over leaves() gives
    expected = [(label, leaf) for label, leaf in leaves(tree, path) if isinstance(leaf, DataNode)]
    got = flatten(tree, path)
    assert [(label, id(leaf)) for label, leaf in got] == [
        (label, id(leaf)) for label, leaf in expected
    ]


def test_awkward_keys_round_trip_through_the_run_and_the_store() -> None:
    wg = round_trip.build(**_values())
    wg.run()
    expected = {key: {key: value} for key, value in _values().items()}
    assert wg.outputs.value == expected
    assert _stored_outputs(wg.pk) == expected
    # the task's own output links are labelled so that each reads back as its key
    store = get_current_profile().store
    nested_run = next(n for n in store.load_node(wg.pk).called if n.label.endswith("nested"))
    labels = [label for kind, label, _ in nested_run.outputs if kind == "CREATE"]
    assert sorted(split_label(label)[0] for label in labels) == sorted(AWKWARD)
    assert "number_1__number_1" in labels  # ordinary keys keep AiiDA's labels


def test_awkward_keys_round_trip_through_the_cache() -> None:
    first = round_trip.build(**_values())
    first.run(cache=True)
    again = round_trip.build(**_values())
    again.run(cache=True)
    assert again.cached_tasks == ["round_trip/nested"]  # reused, so the keys matched
    assert again.outputs.value == first.outputs.value


def test_awkward_keys_round_trip_through_restart() -> None:
    FAILS["on"] = True
    try:
        wg = consume.build(**_values())
        wg.run(raise_on_error=False)
        assert wg.state == "FAILED"
        FAILS["on"] = False
        again = wg.restart()
    finally:
        FAILS["on"] = True
    assert again.state == "FINISHED"
    assert again.outputs.result.value == sorted(AWKWARD)


def test_awkward_keys_round_trip_through_export_and_import(tmp_path: Path) -> None:
    wg = round_trip.build(**_values())
    wg.run()
    path = tmp_path / "run.json"
    export_run(get_current_profile().store, wg.pk, "json", path)
    labels = {link["label"] for link in json.loads(path.read_text())["links"]}
    assert "a%5F%5Fb__a%5F%5Fb" in labels and "number_1__number_1" in labels
    with Store.open(tmp_path / "other.sqlite") as other:
        imported = import_run(other, path)
        nested_back: dict[str, Any] = {}
        for link_type, label, node in other.load_node(imported.run_pk).outputs:
            if link_type == "RETURN":
                outer, inner = split_label(label)
                nested_back.setdefault(outer, {})[inner] = node.value
    assert nested_back == {key: {key: value} for key, value in _values().items()}


@pytest.mark.parametrize(
    ("key", "says"),
    [(1, "must be strings"), ("", "must not be empty"), ("x.y", "contains '.'")],
)
def test_a_bad_output_key_fails_the_task_naming_it(key: Any, says: str) -> None:
    @task(outputs=dynamic(Any))
    def bad() -> dict[Any, int]:
        return {key: 1, "1": 2}

    @task.graph
    def run_bad() -> Any:
        return bad()

    wg = run_bad.build()
    with pytest.raises(WorkflowFailedError) as info:
        wg.run()
    text = str(info.value)
    assert "run_bad/bad" in text and says in text
    assert wg.tasks["bad"].state == "FAILED"


def test_one_and_the_string_one_never_merge_on_input() -> None:
    @task.graph
    def calls_with_int_keys() -> Any:
        return keys_of(ns={1: 1, "1": 2}).result

    with pytest.raises(TaskInputError, match=r"must be strings.*1 and '1'"):
        calls_with_int_keys.build()


def test_a_dotted_input_key_is_refused_at_the_call() -> None:
    @task
    def takes(**ns: Any) -> int:
        return len(ns)

    @task.graph
    def build_it() -> Any:
        return takes(**{"x.y": 1}).result

    with pytest.raises(TaskInputError, match=r"'x\.y' contains '\.'.*nest a dict"):
        build_it.build()


def test_a_graph_returning_a_non_string_key_is_refused() -> None:
    @task.graph(outputs=dynamic(Any))
    def returns_int_key() -> Any:
        return {1: echo(data={"a": 1})}

    with pytest.raises(GraphReturnError, match="must be strings"):
        returns_int_key.build()

"""Dataclasses, ``TypedDict``\\ s and pydantic models as socket shapes (WorkGraph's "annotate
inputs and outputs" how-to): one socket and one stored node per field, the model rebuilt for
the task that declared it, ``Leaf[...]`` and ``leaf: True`` models kept whole, and
``select(...)`` reshaping a reused namespace.

The expected link labels are what aiida-workgraph 0.9.0 stored for the same graphs (run with
``benches/compare.py --setup-aiida``'s environment on the how-to's page): its own prefixes
(``function_inputs__``, ``graph_inputs__``) left off, as ferroflow labels sockets by name.
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
import structured_flows as sf
from ferroflow import WorkGraph, get_current_profile, task
from ferroflow.errors import FutureUsageError, TaskInputError, TaskOutputError, WorkflowFailedError
from ferroflow.socket_spec import Namespace, dynamic, namespace, select


def _links(pk: int) -> dict[str, set[str]]:
    """A stored task run's links by type: ``{"INPUT_CALC": {"data__x", ...}, ...}``."""
    node = get_current_profile().store.load_node(pk)
    found: dict[str, set[str]] = {}
    for kind, label, _ in [*node.inputs, *node.outputs]:
        found.setdefault(kind, set()).add(label)
    return found


def _only_task(wg: WorkGraph) -> Any:
    (only,) = wg.all_tasks()
    return only


@task.graph
def typed_dict_graph() -> None:
    sf.typed_dict(data={"x": 2, "y": 5})


@task.graph
def pydantic_graph(data: sf.PointIn) -> sf.PointOut:
    return sf.pydantic_in_out(data=data)  # type: ignore[return-value]


def test_a_typed_dict_is_one_socket_per_key_on_both_sides() -> None:
    wg = typed_dict_graph.build()
    wg.run()
    t = _only_task(wg)
    assert (t.outputs.sum.value, t.outputs.product.value) == (7, 10)
    links = _links(t.pk)
    assert links["INPUT_CALC"] == {"data__x", "data__y"}  # WorkGraph: function_inputs__data__x/y
    assert links["CREATE"] == {"sum", "product"}


def test_a_pydantic_model_is_split_into_fields_and_rebuilt_for_the_body() -> None:
    wg = pydantic_graph.build(data=sf.PointIn(x=3, y=4))
    wg.run()
    assert (wg.outputs.sum.value, wg.outputs.product.value) == (7, 12)
    assert wg.outputs.seen.value == "PointIn"  # the body got the model, not a dict
    t = _only_task(wg)
    assert _links(t.pk)["INPUT_CALC"] == {"data__x", "data__y"}
    assert _links(t.pk)["CREATE"] == {"sum", "product", "seen"}
    run = _links(wg.pk)  # WorkGraph: graph_inputs__data__x/y in, sum/product returned
    assert run["INPUT_WORK"] == {"data__x", "data__y"}
    assert run["RETURN"] == {"sum", "product", "seen"}


def test_a_dataclass_output_is_split_and_a_dataclass_input_rebuilt_with_defaults() -> None:
    @task.graph
    def g() -> None:
        sf.dataclass_out(x=2, y=5)
        sf.dataclass_in(data={"x": 1})
        sf.dataclass_in(data=sf.DCIn(x=3, y=4))

    wg = g.build()
    wg.run()
    out, default_y, given = wg.all_tasks()
    assert (out.outputs.sum.value, out.outputs.product.value) == (7, 10)
    assert _links(out.pk)["CREATE"] == {"sum", "product"}
    assert default_y.outputs.result.value == "DCIn(1, 10)"
    assert given.outputs.result.value == "DCIn(3, 4)"
    assert _links(given.pk)["INPUT_CALC"] == {"data__x", "data__y"}


def test_a_model_with_extra_allow_is_a_dynamic_namespace_typed_by_item_type() -> None:
    @task.graph
    def g(n: int) -> None:
        sf.open_model(n=n)

    wg = g.build(n=3)
    wg.run()
    t = _only_task(wg)
    assert _links(t.pk)["CREATE"] == {"header", "k0", "k1", "k2"}
    assert t.outputs.header.value == 100 and t.outputs.k2.value == 4
    spec = sf.open_model.outputs
    assert isinstance(spec, Namespace) and spec.dynamic is not None
    assert spec.dynamic.describe() == "int"


def test_leaf_models_stay_one_value() -> None:
    @task.graph
    def g() -> None:
        sf.blob_sum(m=sf.Blob(a=1, b=2))
        sf.leaf_sum(m=sf.Plain(a=3, b=4))

    wg = g.build()
    wg.run()
    blob, leaf = wg.all_tasks()
    assert (blob.outputs.result.value, leaf.outputs.result.value) == (3, 7)
    # WorkGraph: one JsonableData input ``m`` each
    assert _links(blob.pk)["INPUT_CALC"] == {"m"} == _links(leaf.pk)["INPUT_CALC"]


def test_nested_models_are_nested_namespaces_rebuilt_level_by_level() -> None:
    @task.graph
    def g() -> None:
        sf.nested_model(data=sf.Outer(name="a", inner=sf.Inner(value=5)))

    wg = g.build()
    wg.run()
    t = _only_task(wg)
    assert t.outputs.result.value == "Outer/Inner:a=5"
    assert _links(t.pk)["INPUT_CALC"] == {"data__name", "data__inner__value"}


def test_a_model_input_is_checked_field_by_field_when_the_graph_is_built() -> None:
    @task.graph
    def g() -> None:
        sf.pydantic_in_out(data={"x": 1, "z": 2})

    with pytest.raises(TaskInputError, match=r"pydantic_in_out', input 'data.z'.*unknown input"):
        g.build()

    @task.graph
    def missing() -> None:
        sf.pydantic_in_out(data={"x": 1})

    with pytest.raises(TaskInputError, match=r"missing required input\(s\) y"):
        missing.build()


def test_a_returned_model_missing_a_declared_field_fails_the_task() -> None:
    @task
    def short(x: int) -> sf.Pair:
        return {"sum": x}  # type: ignore[return-value]

    @task.graph
    def g() -> None:
        short(x=1)

    wg = g.build()
    with pytest.raises(WorkflowFailedError):
        wg.run()
    error = _only_task(wg).node.error
    assert isinstance(error, TaskOutputError) and "missing required output(s) product" in str(error)


def test_models_reach_the_body_as_models_on_dask(client: Any) -> None:
    wg = pydantic_graph.build(data=sf.PointIn(x=3, y=4))
    wg.run(executor=client)
    assert wg.outputs.seen.value == "PointIn"
    assert (wg.outputs.sum.value, wg.outputs.product.value) == (7, 12)


# -- reusing and reshaping another task's sockets -------------------------------------------


def test_a_task_inputs_reused_as_a_namespace_field() -> None:
    spec = namespace(first=sf.add_multiply.inputs, second=sf.add_multiply.inputs)
    assert spec.describe() == (
        "namespace(first: namespace(data: namespace(x: int, y: int)), "
        "second: namespace(data: namespace(x: int, y: int)))"
    )


def _reshaped(*marks: Any) -> Namespace:
    """The input spec of a task declared ``inputs: Annotated[dict, consume.inputs, *marks]``."""

    def reuse(inputs: Any) -> None:
        return None

    reuse.__annotations__ = {
        "inputs": Annotated[(dict, sf.consume_complex.inputs, *marks)],  # type: ignore[misc]
        "return": None,
    }
    spec = task(reuse).inputs["inputs"]
    assert isinstance(spec, Namespace)
    return spec


def test_select_excludes_and_includes_dotted_paths() -> None:
    assert _reshaped(select(exclude="data.pw.structure")).describe() == (
        "namespace(data: namespace(pw: namespace(kpoints: int), metadata: dict, extra: int))"
    )
    assert _reshaped(select(include=["data.pw.kpoints", "data.extra"])).describe() == (
        "namespace(data: namespace(pw: namespace(kpoints: int), extra: int))"
    )


def test_select_prefix_filters_then_rename_and_prefix_change_top_level_names() -> None:
    spec = _reshaped(select(include_prefix="da", rename={"data": "d"}, prefix="x_"))
    assert list(spec.fields) == ["x_d"]
    assert list(_reshaped(select(exclude_prefix="da")).fields) == []


def test_select_of_a_socket_that_does_not_exist_is_refused() -> None:
    # WorkGraph ignores an unknown path, so a typo would silently keep the socket
    with pytest.raises(ValueError, match=r"no socket 'data\.pw\.structur' to exclude"):
        _reshaped(select(exclude="data.pw.structur"))
    with pytest.raises(ValueError, match="no socket 'dat'"):
        _reshaped(select(include="dat"))


@task
def seen(
    data: Annotated[
        dict, namespace(pw=namespace(structure=int, kpoints=int, parameters=int), metadata=dict)
    ],
) -> dict:
    return {"keys": sorted(data), "pw": data["pw"]}


_WITHOUT_STRUCTURE = Annotated[dict, seen.inputs, select(exclude="data.pw.structure")]


@task.graph
def shared_structure(
    structure: int,
    inputs: Annotated[dict, namespace(first=_WITHOUT_STRUCTURE, second=_WITHOUT_STRUCTURE)],
) -> Annotated[dict, namespace(first=dict, second=dict)]:
    # WorkGraph's UseExclude: a namespace input is a mapping the body fills in and spreads
    out = {}
    for key in ("first", "second"):
        given = inputs[key]
        given["data"]["pw"]["structure"] = structure
        out[key] = seen(**given).result
    return out


def test_a_selected_namespace_input_is_filled_in_by_the_body_and_spread_into_a_call() -> None:
    wg = shared_structure.build(
        structure=1,
        inputs={
            "first": {"data": {"pw": {"kpoints": 2, "parameters": 3}, "metadata": {}}},
            "second": {"data": {"pw": {"kpoints": 4, "parameters": 5}, "metadata": {}}},
        },
    )
    wg.run()
    assert wg.outputs.first.value.value == {
        "keys": ["metadata", "pw"],
        "pw": {"kpoints": 2, "parameters": 3, "structure": 1},
    }
    assert wg.outputs.second.value.value["pw"] == {"kpoints": 4, "parameters": 5, "structure": 1}
    with pytest.raises(TaskInputError, match="structure"):
        # the selected spec has no 'structure': giving it at build time is refused
        shared_structure.build(
            structure=1,
            inputs={
                "first": {"data": {"pw": {"kpoints": 2, "parameters": 3, "structure": 9}}},
                "second": {"data": {"pw": {"kpoints": 4, "parameters": 5}}},
            },
        )


def test_a_model_that_refuses_its_values_fails_only_its_task() -> None:
    @task.graph
    def g() -> None:
        sf.checked(data={"a": sf.minus(x=1).result})  # -1: __post_init__ raises
        sf.checked(data={"a": 3})  # init=False fields are neither sockets nor given

    wg = g.build()
    wg.run(raise_on_error=False)
    bad, good = [t for t in wg.all_tasks() if t.name.startswith("checked")]
    assert bad.state == "FAILED" and "must not be negative" in str(bad.node.error)
    assert good.state == "FINISHED" and good.outputs.result.value.value == 6
    assert list(sf.checked.inputs["data"].fields) == ["a"]  # type: ignore[attr-defined]


def test_a_model_output_whose_one_field_is_result() -> None:
    @task.graph
    def g() -> None:
        sf.only_result(x=1)

    wg = g.build()
    wg.run()
    assert _only_task(wg).outputs.result.value.value == 2


def test_select_rename_may_swap_names_but_never_merge_two() -> None:
    swapped = _reshaped(select(rename={"data": "renamed"}))
    assert list(swapped.fields) == ["renamed"]
    spec = namespace(x=int, y=str)
    assert select(rename={"x": "y", "y": "x"}).apply(spec).describe() == (
        "namespace(y: int, x: str)"
    )
    with pytest.raises(ValueError, match="two sockets named 'z'"):
        select(rename={"x": "z", "y": "z"}).apply(spec)


def test_workgraphs_top_level_spec_names_import_from_ferroflow() -> None:
    # aiida_workgraph 0.9 exports namespace, dynamic, select and meta at its top level
    import ferroflow
    from ferroflow import socket_spec

    for name in ("namespace", "dynamic", "select", "meta"):
        assert getattr(ferroflow, name) is getattr(socket_spec, name), name
        assert name in ferroflow.__all__


def test_a_task_namespace_inputs_defaults_fill_what_the_call_leaves_out() -> None:
    @task
    def total(p: Annotated[dict, namespace(a=int, b=(int, 5), c=(list, None))]) -> int:
        assert p["c"] is None
        return int(p["a"] + p["b"])

    @task.graph
    def g(a: int) -> int:
        return total(p={"a": a}).result + total(p={"a": a, "b": 1}).result

    assert g.run(a=1).outputs.result.value == 6 + 2


def test_outputs_named_like_dict_methods_are_outputs_and_a_dynamic_future_still_no_dict() -> None:
    @task
    def f(x: int) -> Annotated[dict, namespace(items=int, keys=int, get=int)]:
        return {"items": x, "keys": x + 1, "get": x + 2}

    @task
    def pieces(n: int) -> Annotated[dict, namespace(parts=dynamic(int))]:
        return {"parts": {f"p{i}": i for i in range(n)}}

    with WorkGraph("dict_names") as wg:
        out = f(x=1)
        total = out.items + out.keys + out.get  # three sockets, not dict methods
        parts = pieces(n=2).parts
        with pytest.raises(FutureUsageError, match=r"\.items\(\) on the future output"):
            parts.items()  # a future's keys do not exist while the graph is being built
    wg.run()
    assert total.value.value == 1 + 2 + 3
    assert wg.tasks.f.outputs.items.value.value == 1

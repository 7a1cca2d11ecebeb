"""Serialisers the user registers (F13b): values of a type stored as plain data under the codec
``registered``, rebuilt when read, readable as data where the type is not registered, carried
through export and import as data; ASE's ``Atoms`` with a calculator (which pickle refuses)
stored without the calculator."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import ase
import numpy as np
import pytest
from ase.calculators.emt import EMT
from ferroflow import (
    RegisteredValue,
    ValueNotStoredError,
    WorkGraph,
    get_current_profile,
    load_node,
    register_serializer,
    task,
)
from ferroflow.errors import ImportFormatError, UnreadableValueError
from ferroflow.export import export_run, import_run
from ferroflow.store import Store, graph_read, serializers
from provenance_flows import export_json, write_json


class Sample:
    """A value pickle could store, but the user wants stored as data."""

    def __init__(self, name: str, grid: np.ndarray, scale: float) -> None:
        self.name, self.grid, self.scale = name, grid, scale


class Opaque:
    """A value pickle refuses (it holds a lambda), with a registered form."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.hook = lambda: n


@pytest.fixture(autouse=True)
def _registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test registers its own serialisers; the module's registry is restored after."""
    monkeypatch.setattr(serializers, "_REGISTRY", dict(serializers._REGISTRY))
    monkeypatch.setattr(serializers, "_BY_CLASS", {})


def _register_sample() -> None:
    register_serializer(
        Sample,
        lambda s: {"name": s.name, "grid": s.grid, "scale": s.scale},
        lambda d: Sample(d["name"], d["grid"], d["scale"]),
    )


@task
def make_sample(n: int) -> Any:
    return Sample("s", np.arange(n * 2.0).reshape(n, 2), math.nan)


@task
def make_opaque(n: int) -> Any:
    return Opaque(n)


def _stored_codec(pk: int) -> str:
    store = get_current_profile().store
    store.flush()
    parts = graph_read.value_parts_of(store._reader.query, pk)
    assert parts is not None
    return str(parts[0])


def _output(wg: WorkGraph, name: str) -> Any:
    return wg.tasks[name].outputs.result.value


def test_a_registered_type_is_stored_as_data_and_rebuilt_when_read() -> None:
    _register_sample()
    with WorkGraph("samples") as wg:
        make_sample(n=3)
    wg.run()
    node = _output(wg, "make_sample")
    assert _stored_codec(node.pk) == "registered"
    again = load_node(node.pk).value
    assert isinstance(again, Sample) and again.name == "s" and math.isnan(again.scale)
    np.testing.assert_array_equal(again.grid, np.arange(6.0).reshape(3, 2))


def _run_sample(name: str, n: int) -> tuple[WorkGraph, int]:
    """A run of ``make_sample`` with Sample registered; the run and the sample's pk."""
    _register_sample()
    with WorkGraph(name) as wg:
        make_sample(n=n)
    wg.run()
    return wg, _output(wg, "make_sample").pk


def test_data_its_serialiser_cannot_rebuild_is_named_and_pictures_still_draw() -> None:
    wg, pk = _run_sample("samples", 2)

    def refuse(data: Any) -> Sample:
        raise KeyError("positions")  # as a serialiser meeting data it never wrote

    register_serializer(Sample, lambda s: {}, refuse)
    node = get_current_profile().store.load_node(pk)
    with pytest.raises(
        UnreadableValueError, match=r"stored .*Sample could not be rebuilt.*KeyError"
    ):
        _ = node.value
    assert node.value_summary(60) == f"<{node.type}: unreadable>"
    out = io.StringIO()
    export_run(get_current_profile().store, wg.pk, "mermaid", out)
    assert "unreadable" in out.getvalue()


def test_a_type_named_by_string_and_one_pickle_refuses() -> None:
    register_serializer(f"{__name__}.Opaque", lambda o: {"n": o.n}, lambda d: Opaque(d["n"]))
    with WorkGraph("opaque") as wg:
        make_opaque(n=7)
    wg.run()  # pickle alone would leave it unstored (ValueNotStoredError)
    assert load_node(_output(wg, "make_opaque").pk).value.n == 7


def test_where_the_type_is_not_registered_the_data_is_read() -> None:
    _, pk = _run_sample("unregistered", 1)
    serializers._REGISTRY.pop(f"{__name__}.Sample")
    stored = Store.open(get_current_profile().store.path).load_node(pk).value
    assert isinstance(stored, RegisteredValue) and stored.type_name == f"{__name__}.Sample"
    assert stored.data["name"] == "s" and stored.data["grid"].shape == (1, 2)


def test_a_serialiser_that_returns_no_plain_data_leaves_the_value_unstored_naming_it() -> None:
    register_serializer(Sample, lambda s: {"self": s}, lambda d: d)
    with WorkGraph("bad_serialiser") as wg:
        make_sample(n=1)
    with pytest.raises(ValueNotStoredError, match=r"Sample is not plain data"):
        wg.run()


def test_export_and_import_carry_the_data_and_refuse_a_malformed_record(tmp_path: Path) -> None:
    _register_sample()
    with WorkGraph("exported") as wg:
        make_sample(n=2)
    wg.run()
    store = get_current_profile().store
    store.flush()
    document = export_json(store, wg.pk)
    other = Store.open(tmp_path / "other.sqlite")
    import_run(other, write_json(document, tmp_path / "run.json"))
    pk = other.load_node(_output(wg, "make_sample").uuid).pk
    assert isinstance(other.load_node(pk).value, Sample)  # registered here: rebuilt

    (record,) = [n for n in document["nodes"] if n.get("codec") == "registered"]
    record["value_b64"] = "bm90IGpzb24="  # "not json"
    record["uuid"] = "0193a5b0-0000-7000-8000-000000000001"
    hostile = Store.open(tmp_path / "hostile.sqlite")
    with pytest.raises(ImportFormatError, match="registered value is malformed"):
        import_run(hostile, write_json(document, tmp_path / "bad.json"))


def test_ase_atoms_with_a_calculator_are_stored_without_it() -> None:

    @task
    def relaxed(a: float) -> Any:
        atoms = ase.Atoms("Cu", cell=[a, a, a], pbc=True)
        atoms.calc = EMT()
        atoms.get_potential_energy()
        return atoms

    with WorkGraph("atoms") as wg:
        relaxed(a=3.6)
    wg.run()
    node = _output(wg, "relaxed")
    assert _stored_codec(node.pk) == "registered"
    back = load_node(node.pk).value
    assert isinstance(back, ase.Atoms) and back.calc is None
    assert back.get_chemical_symbols() == ["Cu"] and back.cell[0][0] == pytest.approx(3.6)


def test_a_cached_result_this_process_cannot_rebuild_is_no_cache_hit() -> None:
    _register_sample()

    @task.graph
    def once() -> None:
        make_sample(n=1)

    first = once.build()
    first.run(cache=True)
    serializers._REGISTRY.pop(f"{__name__}.Sample")
    serializers._BY_CLASS = {}
    again = once.build()
    again.run(cache=True)
    assert again.cached_tasks == []  # it ran: a RegisteredValue would not be a Sample
    assert isinstance(again.tasks.make_sample.outputs.result.value.value, Sample)

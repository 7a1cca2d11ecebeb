"""The data-node API WorkGraph scripts use on results (F14): ``get_dict()`` on a returned
dict's node, and ``meta(extras={...})`` on an output annotation, which puts those extras on the
output's data node when the task finished (``node.base.extras.get('unit')``), kept in the store
and in the JSON export."""

from __future__ import annotations

import io
import json
import sqlite3
import typing as t
from pathlib import Path
from typing import Any

import pytest
from ferroflow import WorkGraph, dynamic, get_current_profile, load_profile, meta, namespace, task
from ferroflow import spec as socket_spec
from ferroflow.cli import main
from ferroflow.export import ImportFormatError, export_run, import_run
from ferroflow.socket_spec import meta as meta_from_socket_spec


@task()
def calc_energy(x: float) -> t.Annotated[float, meta(extras={"unit": "eV"})]:
    return x * 2.0


@task.graph()
def energy_workflow(x: float) -> Any:
    return calc_energy(x).result


@task(
    outputs=namespace(
        energy=t.Annotated[float, meta(extras={"unit": "eV", "source": ["EMT", 1]})],
        volume=float,
        forces=dynamic(t.Annotated[float, meta(extras={"unit": "eV/A"})]),
    )
)
def relax(x: float) -> dict[str, Any]:
    return {"energy": -x, "volume": x * 10, "forces": {"a": 0.5, "b": -0.5}}


@task
def fit(points: int) -> dict[str, Any]:
    return {"v0": 11.0 * points, "e0": -3.5, "B": 1.2}


def _json(node: Any) -> Any:
    return node.base.extras.all


def test_meta_extras_are_set_on_the_output_node_and_stored() -> None:
    assert meta is meta_from_socket_spec is socket_spec.meta
    wg = energy_workflow.build(x=1.5)
    wg.run()
    output_node = wg.outputs.result.value
    assert output_node.value == 3.0
    assert output_node.base.extras.get("unit") == "eV"
    assert output_node.base.extras.get("missing", "none") == "none"
    assert _json(output_node) == {"unit": "eV"}
    stored = get_current_profile().store.load_node(output_node.pk)
    assert stored.base.extras.get("unit") == "eV" and _json(stored) == {"unit": "eV"}
    # the graph's input carries none
    run = get_current_profile().store.load_node(wg.pk)
    inputs = [node for link_type, _, node in run.inputs if link_type == "INPUT_WORK"]
    assert [_json(node) for node in inputs] == [{}]


def test_extras_in_namespace_fields_and_dynamic_items() -> None:
    with WorkGraph("relaxed") as wg:
        out = relax(x=2.0)
    wg.run()
    store = get_current_profile().store
    energy = out.energy.value
    assert _json(energy) == {"unit": "eV", "source": ["EMT", 1]}
    assert _json(store.load_node(energy.pk)) == {"unit": "eV", "source": ["EMT", 1]}
    assert _json(out.volume.value) == {} and _json(store.load_node(out.volume.value.pk)) == {}
    forces = wg.tasks.relax.outputs.forces
    for key in ("a", "b"):
        node = forces[key].value
        assert _json(store.load_node(node.pk)) == {"unit": "eV/A"}
    # what a script reads is a copy: changing it changes nothing stored
    energy.base.extras.all["unit"] = "Ry"
    assert energy.base.extras.get("unit") == "eV"
    store.flush()
    with sqlite3.connect(store.path) as conn:
        rows = conn.execute("SELECT key, value FROM extra WHERE pk = ?", (energy.pk,)).fetchall()
    assert sorted(rows) == [("source", '["EMT", 1]'), ("unit", '"eV"')]


def test_get_dict_on_a_returned_dict() -> None:
    with WorkGraph("eos") as wg:
        result = fit(points=2)
    wg.run()
    assert result.result.value.get_dict() == {"v0": 22.0, "e0": -3.5, "B": 1.2}
    copy = result.result.value.get_dict()
    copy["v0"] = 0
    assert result.result.value.get_dict()["v0"] == 22.0


def test_node_show_prints_extras(capsys: pytest.CaptureFixture[str]) -> None:
    wg = energy_workflow.build(x=1.0)
    wg.run()
    assert main(["node", "show", str(wg.outputs.result.value.pk)]) == 0
    assert "extras   {'unit': 'eV'}" in capsys.readouterr().out


def test_extras_and_call_metadata_travel_in_the_json_export(tmp_path: Path) -> None:
    @task.graph
    def described(x: float) -> Any:
        return calc_energy(x, metadata={"label": "Energy", "description": "EMT"}).result

    wg = described.build(x=2.0)
    wg.run()
    source = get_current_profile().store
    buffer = io.StringIO()
    export_run(source, wg.pk, "json", buffer)
    document = json.loads(buffer.getvalue())
    by_uuid = {node["uuid"]: node for node in document["nodes"]}
    result = wg.outputs.result.value
    assert by_uuid[result.uuid]["extras"] == {"unit": "eV"}
    process = next(n for n in document["nodes"] if n.get("user_label") == "Energy")
    assert (process["label"], process["description"]) == ("calc_energy", "EMT")
    assert sum("extras" in node for node in document["nodes"]) == 1

    target = load_profile("imported").store
    imported = import_run(target, io.StringIO(buffer.getvalue()))
    node = target.load_node(result.uuid)
    assert node.base.extras.get("unit") == "eV"
    again = next(n for n in target.load_node(imported.run_pk).called if n.label == "calc_energy")
    assert (again.user_label, again.description) == ("Energy", "EMT")


def _hostile(tmp_path: Path, name: str, change: Any) -> Path:
    """A real export of a small run, edited by ``change(document)``."""
    wg = energy_workflow.build(x=1.0)
    wg.run()
    buffer = io.StringIO()
    export_run(get_current_profile().store, wg.pk, "json", buffer)
    document = json.loads(buffer.getvalue())
    change(document)
    path = tmp_path / f"hostile{name}.json"
    path.write_text(json.dumps(document))
    return path


def test_bad_extras_or_labels_in_an_import_are_refused(tmp_path: Path) -> None:
    def data(document: Any) -> dict[str, Any]:
        return next(n for n in document["nodes"] if n["kind"] == "data")

    def calc(document: Any) -> dict[str, Any]:
        return next(n for n in document["nodes"] if n["kind"] == "calc")

    cases = {
        "'extras' must be an object": lambda d: data(d).update(extras=["unit"]),
        "only a data node has 'extras'": lambda d: calc(d).update(extras={"a": 1}),
        "only a process has a 'user_label'": lambda d: data(d).update(user_label="x"),
        "'description' must be a string": lambda d: calc(d).update(description=3),
        "lone surrogate": lambda d: data(d).update(extras={"\udc80": 1}),
    }
    files = {
        message: _hostile(tmp_path, str(i), change)
        for i, (message, change) in enumerate(cases.items())
    }
    target = load_profile("target").store
    for message, path in files.items():
        with pytest.raises(ImportFormatError, match=message):
            import_run(target, path)
    assert target.runs() == []  # nothing of a refused file was written


def test_meta_is_checked_when_declared() -> None:
    with pytest.raises(TypeError, match="stored as JSON"):
        meta(extras={"when": object()})
    with pytest.raises(TypeError, match="str keys"):
        meta(extras={1: "one"})  # type: ignore[dict-item]

    @task
    def optional(x: t.Annotated[int, meta(required=False, help="a number")] = 1) -> int:
        return x

    assert optional.inputs["x"].help == "a number"

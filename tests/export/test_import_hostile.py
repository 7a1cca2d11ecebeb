"""Hostile import files, each built in the test from a real export: an import only adds the
nodes and links of its own file (never a task to a stored run, an input to a stored task run, a
second creator to a stored value, nor other content for a stored uuid), and the whole file is
checked before anything is written (every field, AiiDA's link rules, no cycles), with a message
naming the record. After every refusal the store holds exactly what it held before, and passes
``PRAGMA integrity_check`` and the link-rule queries of ``store_rules``."""

from __future__ import annotations

import re
import sqlite3
import uuid as uuid_module
from pathlib import Path
from typing import Any

import pytest
from ferroflow import load_profile
from ferroflow.cli import main as cli_main
from ferroflow.errors import ImportFormatError
from ferroflow.export import import_run
from ferroflow.store import Store
from provenance_flows import export_json, run_howto, run_mixed, write_json
from store_rules import snapshot, violations

Doc = dict[str, Any]


@pytest.fixture
def doc() -> Doc:
    """ScatterGatherSquare(2) run in profile 'a', exported."""
    return export_json(load_profile("a").store, run_howto(2))


def node(document: Doc, kind: str, label: str | None = None, index: int = 0) -> Doc:
    found = [n for n in document["nodes"] if n["kind"] == kind and label in (None, n["label"])]
    return dict(found[index])


def index_of(document: Doc, uuid: str) -> int:
    return next(i for i, n in enumerate(document["nodes"]) if n["uuid"] == uuid)


def created_by(document: Doc, calc: Doc) -> Doc:
    [dst] = [
        e["dst"] for e in document["links"] if e["src"] == calc["uuid"] and e["type"] == "CREATE"
    ]
    return document["nodes"][index_of(document, dst)]  # type: ignore[no-any-return]


def new_uuid() -> str:
    return str(uuid_module.uuid4())


def refused(store: Store, document: Doc, path: Path, match: str) -> None:
    """The import of ``document`` is refused with ``match``, and the store is untouched."""
    store.flush()
    before = snapshot(store.path)
    with pytest.raises(ImportFormatError, match=match):
        import_run(store, write_json(document, path))
    assert snapshot(store.path) == before
    assert violations(store.path) == []


@pytest.fixture
def target(doc: Doc, tmp_path: Path) -> Store:
    """Profile 'b', holding a local run of its own and the run of ``doc`` (imported)."""
    store = load_profile("b").store
    run_howto(3)
    import_run(store, write_json(doc, tmp_path / "first.json"))
    return store


# -- only additions --------------------------------------------------------------------------
def test_an_identical_file_imports_again_and_adds_nothing(
    doc: Doc, target: Store, tmp_path: Path
) -> None:
    before = snapshot(target.path)
    again = import_run(target, write_json(doc, tmp_path / "again.json"))
    assert (again.created, again.links, again.code) == (0, 0, 0)
    assert snapshot(target.path) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [("label", "renamed"), ("value", 99), ("ctime", 1.0), ("state", "FAILED"), ("type", "str")],
)
def test_a_stored_uuid_with_other_content_is_refused(
    field: str, value: Any, doc: Doc, target: Store, tmp_path: Path
) -> None:
    kind = "calc" if field == "state" else "data"
    record = node(doc, kind)
    record[field] = value
    doc["nodes"][index_of(doc, record["uuid"])] = record
    refused(target, doc, tmp_path / "changed.json", rf"uuid {record['uuid']}\): the store holds")


def test_no_task_is_added_to_a_stored_run(doc: Doc, target: Store, tmp_path: Path) -> None:
    extra = node(doc, "calc", "square") | {"uuid": new_uuid(), "label": "square9"}
    doc["nodes"].append(extra)
    doc["links"].append(
        {"src": doc["run"], "dst": extra["uuid"], "type": "CALL_CALC", "label": "square9"}
    )
    refused(target, doc, tmp_path / "more.json", "never adds to a stored run")


def test_no_input_is_added_to_a_stored_task_run(doc: Doc, target: Store, tmp_path: Path) -> None:
    square = node(doc, "calc", "square")
    value = node(doc, "data") | {"uuid": new_uuid(), "value": 666}
    doc["nodes"].append(value)
    doc["links"].append(
        {"src": value["uuid"], "dst": square["uuid"], "type": "INPUT_CALC", "label": "y"}
    )
    refused(target, doc, tmp_path / "input.json", "a new link into a node the store already")


def _new_run_around(document: Doc, calc: Doc) -> Doc:
    """A file of a new run (new uuids) whose one task run is a copy of ``calc``."""
    run = node(document, "work") | {"uuid": new_uuid()}
    run["run"] = run["uuid"]
    task = calc | {"uuid": new_uuid(), "run": run["uuid"]}
    link = {"src": run["uuid"], "dst": task["uuid"], "type": "CALL_CALC", "label": "t"}
    return document | {"run": run["uuid"], "nodes": [run, task], "links": [link], "code": []}


def test_no_second_creator_for_a_stored_value(doc: Doc, target: Store, tmp_path: Path) -> None:
    square = node(doc, "calc", "square")
    made = created_by(doc, square)
    forged = _new_run_around(doc, square)
    task = forged["nodes"][1]
    forged["nodes"].append(made)  # the stored value, restated exactly
    forged["links"].append(
        {"src": task["uuid"], "dst": made["uuid"], "type": "CREATE", "label": "result"}
    )
    refused(target, forged, tmp_path / "creator.json", "a new link into a node the store")


def test_a_stored_process_gets_no_new_outputs(doc: Doc, target: Store, tmp_path: Path) -> None:
    square = node(doc, "calc", "square")
    value = node(doc, "data") | {"uuid": new_uuid(), "value": 666}
    doc["nodes"].append(value)
    doc["links"].append(
        {"src": square["uuid"], "dst": value["uuid"], "type": "CREATE", "label": "extra"}
    )
    refused(target, doc, tmp_path / "output.json", "only be an input of a new process")


def test_a_new_run_may_use_a_stored_value(doc: Doc, target: Store, tmp_path: Path) -> None:
    """The one link a file may draw from a stored node: into a new process, as its input."""
    square = node(doc, "calc", "square")
    made = created_by(doc, square)
    forged = _new_run_around(doc, square)
    task = forged["nodes"][1]
    forged["nodes"].append(made)
    forged["links"].append(
        {"src": made["uuid"], "dst": task["uuid"], "type": "INPUT_CALC", "label": "x"}
    )
    before = snapshot(target.path)
    result = import_run(target, write_json(forged, tmp_path / "uses.json"))
    assert (result.created, result.skipped, result.links) == (2, 1, 2)
    assert before["node"] <= snapshot(target.path)["node"]
    inputs = target.load_node(result.pks[task["uuid"]]).inputs
    assert [(t, str(n.uuid)) for t, _, n in inputs if t == "INPUT_CALC"] == [
        ("INPUT_CALC", made["uuid"])
    ]
    assert violations(target.path) == []


def test_no_code_row_is_added_to_a_stored_run_without_trust(
    doc: Doc, target: Store, tmp_path: Path
) -> None:
    doc["code"].append({"type": "ferroflow.demo.other", "digest": "ab" * 32})
    refused(target, doc, tmp_path / "code.json", "only a trusted import")
    doc["code"][0]["digest"] = "cd" * 32
    refused(target, doc, tmp_path / "code2.json", "another digest")


# -- the whole file is checked before anything is written ------------------------------------
def _set(kind: str, field: str, value: Any, label: str | None = None) -> Any:
    def mutate(document: Doc) -> None:
        record = node(document, kind, label)
        document["nodes"][index_of(document, record["uuid"])][field] = value

    return mutate


def _link(**fields: Any) -> Any:
    def mutate(document: Doc) -> None:
        ends = {
            name: node(document, *spec)["uuid"] if isinstance(spec, tuple) else spec
            for name, spec in fields.items()
            if name in ("src", "dst")
        }
        document["links"].append({"type": fields["type"], "label": fields["label"]} | ends)

    return mutate


def _drop_link(type_: str, label: str) -> Any:
    def mutate(document: Doc) -> None:
        document["links"] = [
            e for e in document["links"] if (e["type"], e["label"]) != (type_, label)
        ]

    return mutate


def _both(*mutations: Any) -> Any:
    def mutate(document: Doc) -> None:
        for mutation in mutations:
            mutation(document)

    return mutate


NODE = r"nodes\[\d+\] \(uuid [0-9a-f-]{36}\): "
CASES: dict[str, tuple[Any, str]] = {
    "infinite ctime": (_set("work", "ctime", float("inf")), NODE + "'ctime' is not a finite"),
    "NaN mtime": (_set("calc", "mtime", float("nan")), NODE + "'mtime' is not a finite number"),
    "huge ctime": (_set("data", "ctime", 1e300), NODE + "'ctime' is out of range"),
    "negative ctime": (_set("data", "ctime", -5), NODE + "'ctime' is out of range"),
    "huge int ctime": (_set("data", "ctime", 10**400), NODE + "'ctime' is not a finite"),
    "bool ctime": (_set("calc", "ctime", True), NODE + "'ctime' must be a number"),
    "lone surrogate": (_set("calc", "label", "a\ud800"), NODE + "'label' is not valid Unicode"),
    "control char type": (_set("calc", "type", "m.f\nx"), NODE + "'type' holds a control"),
    "list label": (_set("calc", "label", ["x"]), NODE + "'label' must be a string"),
    "state on data": (_set("data", "state", "FINISHED"), NODE + "a data node has no 'state'"),
    "no state": (_set("calc", "state", None), NODE + "'state' must be one of"),
    "codec on process": (_set("calc", "codec", "json"), NODE + "a process node has no codec"),
    "bad hash": (_set("calc", "hash", "zz"), NODE + "'hash' must be non-empty hex"),
    "bad uuid": (_set("data", "uuid", "1234"), r"nodes\[\d+\]: 'uuid': '1234' is not a uuid"),
    "bad npy": (
        _both(_set("data", "codec", "npy"), _set("data", "value_b64", "AAAA")),
        NODE + "the npy value cannot be read",
    ),
    "bad json": (_set("data", "value_json", "{"), NODE + "the json value cannot be read"),
    "non-ASCII stored JSON": (
        _set("data", "value_json", '"\u00e9"'),
        NODE + "'value_json' is not ASCII",
    ),
    "a cache key on data": (_set("data", "hash", "ab" * 32), NODE + "only a process has"),
    "bad tagged json": (
        _set("data", "value", {"__ff__": "nope", "items": []}),
        NODE + "the json value cannot be read",
    ),
    "foreign run": (
        _set("calc", "run", str(uuid_module.uuid4())),
        NODE + "a process of another run",
    ),
    "data of a foreign run": (_set("data", "run", str(uuid_module.uuid4())), NODE + "'run' is"),
    "run not top-level": (
        _set("work", "run", None),
        NODE + "the file.s run is not a top-level graph run",
    ),
    "run in progress": (
        _set("work", "state", "RUNNING"),
        NODE + "the file.s run is RUNNING: only a run that has ended can be imported",
    ),
    "run never started": (_set("work", "state", "PLANNED"), NODE + "the file.s run is PLANNED"),
    "duplicate uuid": (
        lambda d: d["nodes"].append(dict(d["nodes"][3])),
        NODE + "the uuid appears twice",
    ),
    "duplicate link": (
        lambda d: d["links"].append(dict(d["links"][3])),
        r"links\[\d+\] .*the link appears twice",
    ),
    "dangling link": (
        _link(src=("data",), dst=str(uuid_module.uuid4()), type="INPUT_CALC", label="z"),
        r"links\[\d+\] \(INPUT_CALC .*\): [0-9a-f-]{36} is not a node of this file",
    ),
    "link between wrong kinds": (
        _link(src=("data",), dst=("calc", "square"), type="CREATE", label="z"),
        r"links\[\d+\] \(CREATE .*\): a CREATE link goes from calc to data, not from data to",
    ),
    "second creator": (
        lambda d: d["links"].append(
            {
                "src": node(d, "calc", "square1")["uuid"],
                "type": "CREATE",
                "label": "z",
                "dst": created_by(d, node(d, "calc", "square"))["uuid"],
            }
        ),
        r"links\[\d+\] .*: a second creator \(also links\[\d+\]",
    ),
    "second caller": (
        _link(
            src=("work", "ParallelSquare"),
            dst=("calc", "generate_numbers"),
            type="CALL_CALC",
            label="z",
        ),
        r"a second caller",
    ),
    "a caller for the run": (
        _link(
            src=("work", "ParallelSquare"),
            dst=("work", "ScatterGatherSquare"),
            type="CALL_WORK",
            label="z",
        ),
        r"the top-level run has no caller",
    ),
    "CALL cycle": (
        _both(
            _drop_link("CALL_WORK", "ParallelSquare"),
            _link(
                src=("work", "ParallelSquare"),
                dst=("work", "ParallelSquare"),
                type="CALL_WORK",
                label="me",
            ),
        ),
        NODE + "lies on a cycle",
    ),
    "CREATE cycle": (
        lambda d: d["links"].append(
            {
                "src": created_by(d, node(d, "calc", "square"))["uuid"],
                "dst": node(d, "calc", "square")["uuid"],
                "type": "INPUT_CALC",
                "label": "again",
            }
        ),
        NODE + "lies on a cycle",
    ),
    "unknown link type": (_link(src=("data",), dst=("calc",), type="LIKES", label="z"), "LIKES"),
    "links not a list": (lambda d: d.update(links={}), "'links' must be a list"),
    "node not an object": (lambda d: d["nodes"].append(7), r"nodes\[\d+\]: expected an object"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_file_is_refused_whole_naming_the_record(case: str, doc: Doc, tmp_path: Path) -> None:
    mutate, message = CASES[case]
    store = load_profile("c").store
    run_howto(2)
    mutate(doc)
    refused(store, doc, tmp_path / "bad.json", message)
    assert len(store.runs()) == 1  # `runs list` still reads the profile


def test_the_command_refuses_a_bad_file_naming_the_record(
    doc: Doc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _set("work", "ctime", float("inf"))(doc)
    path = write_json(doc, tmp_path / "inf.json")
    assert cli_main(["--profile", "c", "--create", "import", str(path)]) == 1
    assert re.search("error: " + NODE + "'ctime' is not a finite", capsys.readouterr().err)
    assert load_profile("c").store.runs() == []


def test_every_codec_imports_again_into_its_own_store(tmp_path: Path) -> None:
    """A stored node is matched by content, pickles included (the file's ``pickle`` is the
    store's own): re-importing a run into the store it came from adds nothing."""
    store = load_profile("a").store
    pk = run_mixed()
    before = snapshot(store.path)
    result = import_run(store, write_json(export_json(store, pk), tmp_path / "mixed.json"))
    assert (result.created, result.links) == (0, 0) and result.skipped > 10
    assert snapshot(store.path) == before


def test_the_checks_pass_on_good_stores_and_catch_a_bad_one(
    doc: Doc, target: Store, tmp_path: Path
) -> None:
    """The link-rule queries the tests rely on: silent on stores the engine and a good import
    wrote, loud on a store with a second creator written behind ferroflow's back."""
    assert violations(load_profile("a").store.path) == []
    assert violations(target.path) == []
    bad = tmp_path / "bad.sqlite"
    target.flush()
    with sqlite3.connect(target.path) as src, sqlite3.connect(bad) as dst:
        src.backup(dst)
    with sqlite3.connect(bad) as conn:
        pk, creator = conn.execute("SELECT dst, src FROM link WHERE type = 2").fetchone()
        other = conn.execute(
            "SELECT pk FROM node WHERE kind = 1 AND pk != ?", (creator,)
        ).fetchone()
        conn.execute("INSERT INTO link VALUES (?, ?, 2, 'forged')", (other[0], pk))
        conn.execute("INSERT INTO link VALUES (?, 999999, 0, 'dangling')", (pk,))
    found = violations(bad)
    assert any(v.startswith("a data node with two creators") for v in found)
    assert any(v.startswith("a link end is not a node") for v in found)

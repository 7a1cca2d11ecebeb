"""Exports of stored runs: native JSON, PROV-JSON (read back with the ``prov`` package),
Workflow Run RO-Crate (checked entity by entity, and by ``roc-validator`` offline), DOT/SVG
and Mermaid. Every expected count comes from the workflow's shape or from SQL on the store
file, never from the exporter itself."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ferroflow import load_profile, task
from ferroflow.export import FORMATS, export_run
from ferroflow.export.selection import Joined, groups
from ferroflow.store import NodeNotFoundError, Store
from prov.model import (
    ProvActivity,
    ProvAgent,
    ProvAssociation,
    ProvDocument,
    ProvEntity,
    ProvGeneration,
    ProvInfluence,
    ProvStart,
    ProvUsage,
)
from provenance_flows import TEXT, howto_counts, link_set, members, run_howto, run_mixed

CONTEXT_FILE = Path(__file__).parent / "data" / "ro-crate-1.1-context.jsonld"
N = 4


@pytest.fixture
def store() -> Store:
    return load_profile().store


@pytest.fixture
def howto(store: Store) -> int:
    return run_howto(N)


@pytest.fixture
def mixed(store: Store) -> int:
    return run_mixed()


@pytest.fixture
def nested(store: Store) -> int:
    """Tasks defined inside a function: qualified names with ``<locals>`` must still make
    valid identifiers in every format."""

    @task
    def double(x: int) -> int:
        return 2 * x

    @task.graph
    def Inner(x: int) -> int:
        return double(x=x).result

    @task.graph
    def Outer(x: int) -> int:
        return Inner(x=double(x=x).result).result

    wg = Outer.build(5)
    wg.run()
    assert wg.outputs.result.value == 20 and "<locals>" in store.load_node(wg.pk).type
    assert wg.pk is not None
    return wg.pk


def export_text(store: Store, run_pk: int, fmt: str) -> str:
    buf = io.StringIO()
    export_run(store, run_pk, fmt, buf)
    return buf.getvalue()


def strict_json(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


# -- native JSON ---------------------------------------------------------------------------------
def test_native_json_has_every_node_and_link(store: Store, howto: int) -> None:
    document = strict_json(export_text(store, howto, "json"))
    expected = members(store, howto)
    counts = howto_counts(N)
    assert len(expected) == counts["nodes"] == 18
    assert document["format"] == "ferroflow-run" and document["version"] == 1
    assert document["run"] == store.load_node(howto).uuid
    nodes = {node["uuid"]: node for node in document["nodes"]}
    assert set(nodes) == set(expected)
    for uuid, row in expected.items():
        node = nodes[uuid]
        for key in ("pk", "kind", "type", "label", "state", "error", "ctime", "mtime", "codec"):
            assert node[key] == row[key], (uuid, key)
        if node["kind"] == "data":
            assert node["blob"] is row["blob"]
        else:
            assert node["run"] == document["run"]
    links = {(li["src"], li["dst"], li["type"], li["label"]) for li in document["links"]}
    assert links == link_set(store, howto)
    by_type = Counter(link[2] for link in links)
    for link_type in ("INPUT_WORK", "INPUT_CALC", "CREATE", "RETURN", "CALL_CALC", "CALL_WORK"):
        assert by_type[link_type] == counts[link_type], link_type
    result = store.load_node(howto).outputs[0][2]
    assert nodes[result.uuid]["value"] == 30


def test_native_json_payloads_of_every_codec(store: Store, mixed: int) -> None:
    document = strict_json(export_text(store, mixed, "json"))
    by_type = {node["type"]: node for node in document["nodes"] if node["kind"] == "data"}
    array = by_type["numpy.ndarray"]
    assert array["codec"] == "npy" and array["blob"] is True
    loaded = np.load(io.BytesIO(base64.b64decode(array["value_b64"])), allow_pickle=False)
    np.testing.assert_array_equal(loaded, np.arange(3.0))
    assert base64.b64decode(by_type["bytes"]["value_b64"]) == b"\x00\xff" * 3
    assert by_type["tuple"]["value"] == {"__ff__": "tuple", "items": [3, "x"]}
    big = by_type["list"]
    assert big["blob"] is True and big["value"] == list(range(2000))
    point = by_type["provenance_flows.Point"]
    assert point["codec"] == "pickle" and "value" not in point and point["value_b64"]
    nans = [node for node in document["nodes"] if node.get("value_json") == "NaN"]
    assert len(nans) == 1 and "value" not in nans[0]
    assert by_type["str"]["value"] == TEXT
    failed = [node for node in document["nodes"] if node["state"] == "FAILED"]
    assert {node["label"] for node in failed} == {"boom", "Mixed"}
    boom = next(node for node in failed if node["label"] == "boom")
    assert "ValueError: negative input" in boom["error"]


def test_export_to_path_leaves_no_partial_file(store: Store, howto: int, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / "run.json"
    counts = export_run(store, howto, "json", target)
    assert counts == {"nodes": 18, "links": 35}
    assert strict_json(target.read_text())["run"] == store.load_node(howto).uuid
    assert [p.name for p in out.iterdir()] == ["run.json"]


@pytest.mark.parametrize("fmt", ["json", "prov-json", "mermaid", "dot", "aiida", "ro-crate"])
def test_export_never_writes_through_a_link_planted_beside_its_target(
    store: Store, howto: int, tmp_path: Path, fmt: str
) -> None:
    # whoever can write to the folder plants links where an export used to write its
    # temporary file, and at the target itself: the files they point to stay as they were
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    target = out / ("run.zip" if fmt in ("aiida", "ro-crate") else "run.txt")
    for name in (f"{target.name}.partial", f".{target.name}.partial"):
        (out / name).symlink_to(victim)
    export_run(store, howto, fmt, target)
    assert victim.read_text() == "precious"
    assert not target.is_symlink() and target.stat().st_size > 0
    target.unlink()
    target.symlink_to(victim)  # a link at the target is replaced, not written through
    export_run(store, howto, fmt, target)
    assert victim.read_text() == "precious"
    assert not target.is_symlink()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [target.name, f"{target.name}.partial", f".{target.name}.partial"]
    )  # the planted links stay; no temporary file is left


def test_export_refuses_what_is_not_a_top_level_run(store: Store, howto: int) -> None:
    square = next(n for n in store.load_node(howto).called if n.label == "ParallelSquare")
    with pytest.raises(ValueError, match="not a top-level graph run"):
        export_text(store, square.pk, "json")
    with pytest.raises(ValueError, match="not a top-level graph run"):
        export_text(store, square.pk, "mermaid")
    with pytest.raises(NodeNotFoundError):
        export_text(store, 10**9, "prov-json")
    with pytest.raises(ValueError, match="unknown export format"):
        export_text(store, howto, "yaml")
    with pytest.raises(ValueError, match="give a path"):
        export_run(store, howto, "ro-crate", io.StringIO())


# -- PROV-JSON -----------------------------------------------------------------------------------
def prov_document(store: Store, run_pk: int) -> ProvDocument:
    text = export_text(store, run_pk, "prov-json")
    strict_json(text)
    return ProvDocument.deserialize(content=text, format="json")


def test_prov_json_loads_with_prov_and_has_the_mapped_records(store: Store, howto: int) -> None:
    doc = prov_document(store, howto)
    counts = howto_counts(N)
    nodes = members(store, howto)
    data_ids = {f"urn:uuid:{u}" for u, row in nodes.items() if row["kind"] == "data"}
    process_ids = {f"urn:uuid:{u}" for u, row in nodes.items() if row["kind"] != "data"}

    entities = list(doc.get_records(ProvEntity))
    values = [e for e in entities if e.identifier.uri.startswith("urn:uuid:")]
    assert {e.identifier.uri for e in values} == data_ids
    assert all({str(t) for t in e.get_asserted_types()} == {"ff:Data"} for e in values)
    plans = {e.identifier.uri for e in entities} - data_ids
    kinds = {
        "ScatterGatherSquare",
        "generate_numbers",
        "ParallelSquare",
        "square",
        "gather_and_sum",
    }
    assert plans == {f"urn:ferroflow:task:ferroflow.demo.{name}" for name in kinds}
    activities = list(doc.get_records(ProvActivity))
    assert {a.identifier.uri for a in activities} == process_ids
    assert all(a.get_startTime() is not None and a.get_endTime() is not None for a in activities)
    agents = list(doc.get_records(ProvAgent))
    assert [a.identifier.uri for a in agents] == ["urn:ferroflow:ferroflow"]

    usages = list(doc.get_records(ProvUsage))
    generations = list(doc.get_records(ProvGeneration))
    influences = list(doc.get_records(ProvInfluence))
    starts = list(doc.get_records(ProvStart))
    associations = list(doc.get_records(ProvAssociation))
    assert len(usages) == counts["INPUT_CALC"] + counts["INPUT_WORK"]
    assert len(generations) == counts["CREATE"]
    assert len(influences) == counts["RETURN"]
    assert len(starts) == counts["CALL_CALC"] + counts["CALL_WORK"]
    assert len(associations) == counts["processes"]

    # PROV allows one generation per entity: RETURN must not have become a second one.
    generated = Counter(str(g.get_attribute("prov:entity").pop()) for g in generations)
    assert generated and max(generated.values()) == 1
    # Every relation points at records of the right kind.
    activity_names = {str(a.identifier) for a in activities}
    entity_names = {str(e.identifier) for e in entities}
    for usage in usages:
        assert str(usage.get_attribute("prov:activity").pop()) in activity_names
        assert str(usage.get_attribute("prov:entity").pop()) in entity_names
        assert str(usage.get_attribute("prov:role").pop()).startswith("ff:")
    for influence in influences:
        assert str(influence.get_attribute("prov:influencer").pop()) in activity_names
        assert str(influence.get_attribute("prov:type").pop()) == "ff:Return"
    # The squares were started by ParallelSquare.
    parallel = next(u for u, row in nodes.items() if row["label"] == "ParallelSquare")
    starters = Counter(str(s.get_attribute("prov:starter").pop()) for s in starts)
    assert starters[f"ffn:{parallel}"] == N
    # The sum carries its value; the document survives prov's own round trip and PROV-N.
    result = store.load_node(howto).outputs[0][2]
    sum_entity = next(e for e in entities if e.identifier.uri == f"urn:uuid:{result.uuid}")
    assert sum_entity.get_attribute("ff:value") == {30}
    again = ProvDocument.deserialize(content=doc.serialize(format="json"), format="json")
    assert again == doc
    assert "wasStartedBy(" in doc.get_provn()


def test_prov_json_of_a_failed_run_with_odd_values(store: Store, mixed: int) -> None:
    doc = prov_document(store, mixed)
    activities = {
        str(a.get_attribute("prov:label").pop()): a for a in list(doc.get_records(ProvActivity))
    }
    assert set(activities) == {"Mixed", "make", "norm", "boom"}
    assert activities["boom"].get_attribute("ff:state") == {"FAILED"}
    assert "negative input" in str(activities["boom"].get_attribute("ff:error").pop())
    entities = list(doc.get_records(ProvEntity))
    texts = [e for e in entities if e.get_attribute("ff:pythonType") == {"str"}]
    assert [t.get_attribute("ff:value") for t in texts] == [{TEXT}]
    nan = [e for e in entities if e.get_attribute("ff:pythonType") == {"float"}]
    assert {"NaN"} in [e.get_attribute("ff:value") for e in nan]  # as text, not a JSON NaN
    arrays = [e for e in entities if e.get_attribute("ff:pythonType") == {"numpy.ndarray"}]
    assert len(arrays) == 1 and not arrays[0].get_attribute("ff:value")


# -- RO-Crate ------------------------------------------------------------------------------------
def crate_entities(metadata: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert metadata["@context"] == "https://w3id.org/ro/crate/1.1/context"
    graph = metadata["@graph"]
    ids = [entity["@id"] for entity in graph]
    assert len(ids) == len(set(ids)), "duplicate @id"
    return {entity["@id"]: entity for entity in graph}


def types(entity: dict[str, Any]) -> set[str]:
    value = entity["@type"]
    return {value} if isinstance(value, str) else set(value)


def refs(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [item["@id"] for item in items]


def test_ro_crate_has_every_required_entity(store: Store, howto: int, tmp_path: Path) -> None:
    counts = export_run(store, howto, "ro-crate", tmp_path / "crate")
    crate = tmp_path / "crate"
    by_id = crate_entities(json.loads((crate / "ro-crate-metadata.json").read_text()))
    nodes = members(store, howto)
    n_counts = howto_counts(N)

    descriptor = by_id["ro-crate-metadata.json"]
    assert "https://w3id.org/ro/crate/1.1" in refs(descriptor["conformsTo"])
    assert refs(descriptor["about"]) == ["./"]
    root = by_id["./"]
    assert types(root) == {"Dataset"}
    profiles = refs(root["conformsTo"])
    for profile in ("process", "workflow", "provenance"):
        iri = f"https://w3id.org/ro/wfrun/{profile}/0.5"
        assert iri in profiles and types(by_id[iri]) == {"CreativeWork"}
    assert root["name"] and root["description"] and root["datePublished"]
    assert refs(root["license"])[0] in by_id

    workflow = by_id[refs(root["mainEntity"])[0]]
    assert {"File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"} <= types(workflow)
    assert (crate / workflow["@id"]).is_file()
    assert "def ScatterGatherSquare" in (crate / workflow["@id"]).read_text()
    assert types(by_id[refs(workflow["programmingLanguage"])[0]]) == {"ComputerLanguage"}
    params = refs(workflow["input"]) + refs(workflow["output"])
    assert [by_id[p]["name"] for p in params] == ["n", "result"]
    for param in params:
        assert types(by_id[param]) == {"FormalParameter"}
        assert by_id[param]["additionalType"] == "Integer"

    # Tools and steps: every tool of the workflow is reached through a step.
    tools = refs(workflow["hasPart"])
    steps = refs(workflow["step"])
    assert len(tools) == len(steps) == 3
    for step_id in steps:
        step = by_id[step_id]
        assert types(step) == {"HowToStep"} and step["position"].isdigit()
        assert refs(step["workExample"])[0] in tools
    parallel = by_id["#tool/ferroflow.demo.ParallelSquare"]
    assert {"ComputationalWorkflow", "HowTo"} <= types(parallel)
    assert refs(parallel["hasPart"]) == ["#tool/ferroflow.demo.square"]
    assert types(by_id["#tool/ferroflow.demo.square"]) == {"SoftwareApplication"}

    # One CreateAction per process, one ControlAction per called one, one OrganizeAction.
    actions = [e for e in by_id.values() if types(e) == {"CreateAction"}]
    process_uuids = {u for u, row in nodes.items() if row["kind"] != "data"}
    assert {a["identifier"] for a in actions} == {f"urn:uuid:{u}" for u in process_uuids}
    assert len(actions) == counts["CreateAction"] == n_counts["processes"]
    run_uuid = store.load_node(howto).uuid
    main_action = by_id[f"#{run_uuid}"]
    assert refs(main_action["instrument"]) == [workflow["@id"]]
    for action in actions:
        assert action["actionStatus"] == "http://schema.org/CompletedActionStatus"
        assert action["startTime"].endswith("+00:00") and action["endTime"]
        for value_id in refs(action.get("object", [])) + refs(action.get("result", [])):
            assert types(by_id[value_id]) & {"PropertyValue", "File"}
    assert sorted(refs(root["mentions"])) == sorted(a["@id"] for a in actions)
    controls = [e for e in by_id.values() if types(e) == {"ControlAction"}]
    assert len(controls) == n_counts["processes"] - 1 == counts["ControlAction"]
    for control in controls:
        assert types(by_id[refs(control["instrument"])[0]]) == {"HowToStep"}
        assert types(by_id[refs(control["object"])[0]]) == {"CreateAction"}
    [organize] = [e for e in by_id.values() if types(e) == {"OrganizeAction"}]
    assert types(by_id[refs(organize["instrument"])[0]]) == {"SoftwareApplication"}
    assert sorted(refs(organize["object"])) == sorted(c["@id"] for c in controls)
    assert refs(organize["result"]) == [main_action["@id"]]

    # Values: a PropertyValue per data node, each realising FormalParameters.
    values = [e for e in by_id.values() if types(e) == {"PropertyValue"}]
    data_uuids = {u for u, row in nodes.items() if row["kind"] == "data"}
    assert {v["identifier"] for v in values} == {f"urn:uuid:{u}" for u in data_uuids}
    for value in values:
        for param in refs(value["exampleOfWork"]):
            assert types(by_id[param]) == {"FormalParameter"}
    result = store.load_node(howto).outputs[0][2]
    assert by_id[f"#{result.uuid}"]["value"] == 30


def test_ro_crate_zip_with_value_files_and_a_failure(
    store: Store, mixed: int, tmp_path: Path
) -> None:
    target = tmp_path / "mixed.zip"
    counts = export_run(store, mixed, "ro-crate", target, license="https://spdx.org/licenses/MIT")
    assert counts["files"] == 4  # array, bytes, pickle, large JSON
    with zipfile.ZipFile(target) as archive:
        names = set(archive.namelist())
        by_id = crate_entities(json.loads(archive.read("ro-crate-metadata.json")))
        files = [e for e in by_id.values() if types(e) == {"File"}]
        assert len(files) == 4
        for entity in files:
            assert entity["@id"] in names
            data = archive.read(entity["@id"])
            assert entity["contentSize"] == str(len(data))
            if entity["@id"].endswith(".npy"):
                np.testing.assert_array_equal(np.load(io.BytesIO(data)), np.arange(3.0))
    assert refs(by_id["./"]["license"]) == ["https://spdx.org/licenses/MIT"]
    listing = refs(by_id["values/"]["hasPart"])
    assert sorted(listing) == sorted(f["@id"] for f in files)
    assert sorted(n for n in names if n.startswith("values/")) == sorted(listing)
    failed = [e for e in by_id.values() if e.get("actionStatus", "").endswith("FailedActionStatus")]
    assert {e["name"] for e in failed} >= {"Run of boom", "Run of Mixed"}
    boom = next(e for e in failed if e["name"] == "Run of boom")
    assert "negative input" in boom["error"]
    texts = [e for e in by_id.values() if e.get("value") == TEXT]
    assert len(texts) == 1


def test_ro_crate_refuses_a_non_empty_directory(store: Store, howto: int, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "x").write_text("keep me")
    with pytest.raises(FileExistsError):
        export_run(store, howto, "ro-crate", out)
    assert [p.name for p in out.iterdir()] == ["x"]


def seed_validator_cache(cache: Path) -> None:
    """Put our copy of the RO-Crate 1.1 JSON-LD context (CC0, from the RO-Crate spec repo,
    docs/_specification/1.1/context.jsonld) into the validator's HTTP cache, as if fetched:
    the validator then runs with --offline (provenance.md §3)."""
    import requests
    from requests.adapters import BaseAdapter
    from requests_cache import CachedSession
    from urllib3.response import HTTPResponse

    data = CONTEXT_FILE.read_bytes()

    class LocalContext(BaseAdapter):
        def send(self, request: Any, **kwargs: Any) -> requests.Response:
            response = requests.Response()
            response.status_code, response.reason, response.url = 200, "OK", request.url
            response.request = request
            response.headers["Content-Type"] = "application/ld+json"
            response.raw = HTTPResponse(
                body=io.BytesIO(data),
                headers={"Content-Type": "application/ld+json"},
                status=200,
                preload_content=False,
                request_url=request.url,
            )
            return response

        def close(self) -> None:
            pass

    session = CachedSession(
        cache_name=str(cache),
        backend="sqlite",
        expire_after=-1,
        allowable_methods=("GET",),
        allowable_codes=(200, 302, 404),
    )
    try:
        session.mount("https://", LocalContext())
        fetched = session.get("https://w3id.org/ro/crate/1.1/context")
        assert fetched.status_code == 200 and len(fetched.content) == len(data)
    finally:
        session.close()


@pytest.mark.parametrize("flow", ["howto", "mixed", "nested"])
def test_ro_crate_passes_roc_validator_offline(
    store: Store, flow: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    run_pk = request.getfixturevalue(flow)
    export_run(store, run_pk, "ro-crate", tmp_path / "crate")
    cache = tmp_path / "validator-cache" / "http_cache"
    cache.parent.mkdir()
    seed_validator_cache(cache)
    validator = Path(sys.executable).parent / "rocrate-validator"
    report = tmp_path / "report.json"
    env = {**os.environ, "HOME": str(tmp_path), "NO_COLOR": "1"}
    proc = subprocess.run(
        [
            str(validator),
            "-y",
            "--disable-color",
            "validate",
            "--offline",
            "--cache-path",
            str(cache),
            "-p",
            "provenance-run-crate-0.5",
            "--no-paging",
            "-f",
            "json",
            "-o",
            str(report),
            str(tmp_path / "crate"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    result = json.loads(report.read_text())
    issues = [issue.get("message") for issue in result.get("issues", [])]
    assert proc.returncode == 0, (proc.stderr[-2000:], issues)
    assert result["passed"] is True, issues
    stats = result["statistics"]
    assert stats["total_skipped_checks"] == 0  # the context was found: nothing deferred
    assert stats["total_failed_checks"] == 0
    assert stats["total_checks"] >= 85
    assert set(stats["profiles"]) >= {
        "ro-crate-1.1",
        "workflow-ro-crate-1.0",
        "process-run-crate-0.5",
        "workflow-run-crate-0.5",
        "provenance-run-crate-0.5",
    }


# -- DOT / SVG / Mermaid -------------------------------------------------------------------------
def test_dot_and_svg_show_the_whole_run(store: Store, howto: int) -> None:
    source = export_text(store, howto, "dot")
    nodes = members(store, howto)
    node_lines = [
        line for line in source.splitlines() if line.startswith("\tN") and "->" not in line
    ]
    edge_lines = [line for line in source.splitlines() if "->" in line]
    assert {line.split()[0] for line in node_lines} == {f"N{row['pk']}" for row in nodes.values()}
    assert len(edge_lines) == sum(v for k, v in howto_counts(N).items() if k.isupper())
    buf = io.BytesIO()
    export_run(store, howto, "svg", buf)
    svg = ET.fromstring(buf.getvalue())
    assert svg.tag.endswith("svg")
    ns = {"s": "http://www.w3.org/2000/svg"}
    groups_ = svg.findall(".//s:g", ns)
    assert sum(g.get("class") == "node" for g in groups_) == len(nodes)
    assert sum(g.get("class") == "edge" for g in groups_) == len(edge_lines)


def test_mermaid_flowchart(store: Store, howto: int, mixed: int) -> None:
    text = export_text(store, howto, "mermaid")
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    nodes = members(store, howto)
    node_lines = [line for line in lines if line.strip().startswith("N") and "|" not in line]
    edges = [line for line in lines if "|" in line]
    assert len(node_lines) == len(nodes)
    assert len(edges) == sum(v for k, v in howto_counts(N).items() if k.isupper())
    data_lines = [line for line in node_lines if line.endswith(":::data")]
    assert len(data_lines) == howto_counts(N)["data"]
    assert all('(["' in line for line in data_lines)
    assert any(' -->|"INPUT_CALC<br/>x"| ' in line for line in edges)
    assert any(' -.->|"RETURN<br/>result"| ' in line for line in edges)
    # User text is escaped: no raw quote or angle bracket can end a label early.
    odd = export_text(store, mixed, "mermaid")
    [text_line] = [line for line in odd.splitlines() if "say" in line]
    assert "#quot;hi#quot; #lt;b#gt;#35;1" in text_line
    assert text_line.count('"') == 2


def test_every_format_exports_to_a_file(store: Store, howto: int, tmp_path: Path) -> None:
    for fmt in FORMATS:
        target = tmp_path / f"run.{fmt}"
        export_run(store, howto, fmt, target)
        assert target.exists() and (target.is_dir() or target.stat().st_size > 100), fmt


# -- the streaming helpers -------------------------------------------------------------------------
def test_grouped_streams_join_on_the_key() -> None:
    rows = [(1, "a"), (1, "b"), (3, "c"), (7, "d")]
    assert list(groups(rows)) == [(1, [(1, "a"), (1, "b")]), (3, [(3, "c")]), (7, [(7, "d")])]
    joined = Joined(iter(rows))
    assert joined.take(0) == []
    assert joined.take(1) == [(1, "a"), (1, "b")]
    assert joined.take(2) == []
    assert joined.take(7) == [(7, "d")]  # skipped past 3
    assert joined.take(8) == []


def test_a_larger_run_exports_completely(store: Store) -> None:
    n = 300
    run_pk = run_howto(n)
    counts = howto_counts(n)
    document = strict_json(export_text(store, run_pk, "json"))
    assert len(document["nodes"]) == counts["nodes"]
    assert len(document["links"]) == sum(v for k, v in counts.items() if k.isupper())
    doc = ProvDocument.deserialize(content=export_text(store, run_pk, "prov-json"), format="json")
    assert len(list(doc.get_records(ProvActivity))) == counts["processes"]


def test_prov_and_mermaid_of_nested_functions(store: Store, nested: int) -> None:
    doc = prov_document(store, nested)  # prov would warn (an error here) on a bad name
    plans = [e for e in doc.get_records(ProvEntity) if "task:" in e.identifier.uri]
    assert len(plans) == 3 and all("%3Clocals%3E" in e.identifier.uri for e in plans)
    assert {str(e.get_attribute("prov:label").pop()).rsplit(".", 1)[-1] for e in plans} == {
        "double",
        "Inner",
        "Outer",
    }
    lines = export_text(store, nested, "mermaid").splitlines()
    assert sum(line.endswith(":::work") for line in lines) == 2
    assert sum(line.endswith(":::calc") for line in lines) == 2

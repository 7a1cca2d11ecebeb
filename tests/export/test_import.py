"""Importing a native JSON export into another profile: same uuids, same rows and values,
idempotent, all-or-nothing, and never unpickling a payload unless trusted."""

from __future__ import annotations

import base64
import json
import math
import pickle
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ferroflow import load_profile
from ferroflow.export import ImportFormatError, export_run, import_run
from ferroflow.store import Store, UntrustedValueError
from provenance_flows import (
    Evil,
    Point,
    Poisoned,
    export_json,
    howto_counts,
    link_set,
    members,
    run_howto,
    run_mixed,
    write_json,
)


def count_rows(store: Store) -> tuple[int, int, int]:
    store.flush()
    conn = sqlite3.connect(store.path)
    try:
        return tuple(  # type: ignore[return-value]
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("node", "link", "blob")
        )
    finally:
        conn.close()


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("flow", ["howto", "mixed"])
def test_round_trip_keeps_uuids_rows_links_and_values(flow: str, tmp_path: Path) -> None:
    source = load_profile().store
    run_pk = run_howto() if flow == "howto" else run_mixed()
    path = write_json(export_json(source, run_pk), tmp_path / "run.json")
    target = load_profile("imported").store
    run_howto(2)  # the target has history of its own: pks must not collide with it
    before = count_rows(target)

    result = import_run(target, path, trust=True)

    expected = members(source, run_pk)
    assert result.created == len(expected) and result.skipped == 0
    assert result.links == len(link_set(source, run_pk))
    assert count_rows(target)[:2] == (before[0] + len(expected), before[1] + result.links)
    imported = members(target, result.run_pk)
    for uuid, row in expected.items():
        got = imported[uuid]
        for key in ("kind", "type", "label", "state", "error", "ctime", "mtime", "codec", "blob"):
            assert got[key] == row[key], (uuid, key)
        assert got["pk"] == result.pks[uuid]
        if row["kind"] == "data":
            assert same_value(target.load_node(got["pk"]).value, source.load_node(row["pk"]).value)
    assert link_set(target, result.run_pk) == link_set(source, run_pk)
    run = target.load_node(result.run_pk)
    assert run.uuid == source.load_node(run_pk).uuid
    assert all(child.run_pk == result.run_pk for child in run.called)
    assert result.run_pk in [r.pk for r in target.runs()]


def test_importing_twice_adds_nothing(tmp_path: Path) -> None:
    source = load_profile().store
    path = write_json(export_json(source, run_howto()), tmp_path / "run.json")
    target = load_profile("twice").store
    first = import_run(target, path)
    rows = count_rows(target)
    second = import_run(target, path)
    assert first.created == howto_counts(4)["nodes"] and first.links == 35
    assert (second.created, second.skipped, second.links) == (0, first.created, 0)
    assert second.run_pk == first.run_pk and second.pks == first.pks
    assert count_rows(target) == rows
    # Importing into the store it came from is a no-op as well.
    again = import_run(source, path)
    assert again.created == 0 and again.pks[again_uuid(path)] == again.run_pk


def again_uuid(path: Path) -> str:
    return str(json.loads(path.read_text())["run"])


def test_an_untrusted_pickle_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    source = load_profile().store
    wg = Poisoned.build(str(marker))
    wg.run()
    path = write_json(export_json(source, wg.pk), tmp_path / "run.json")
    assert not marker.exists()  # recording and exporting never unpickle

    target = load_profile("untrusted").store
    result = import_run(target, path)
    assert result.untrusted == 1 and not marker.exists()
    [evil_uuid] = [u for u, r in members(source, wg.pk).items() if r["codec"] == "pickle"]
    node = target.load_node(result.pks[evil_uuid])
    assert node.codec == "pickle-untrusted"
    with pytest.raises(UntrustedValueError, match="trust"):
        node.value  # noqa: B018
    assert "untrusted pickle" in node.value_summary()
    assert not marker.exists()

    # With trust the very same payload is unpickled on reading, and that runs its code: proof
    # that the payload above really was dangerous.
    trusted = load_profile("trusted").store
    result = import_run(trusted, path, trust=True)
    assert result.untrusted == 0
    trusted.load_node(result.pks[evil_uuid]).value.close()
    assert marker.exists()


def test_a_hand_made_malicious_file_is_stored_untrusted(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    source = load_profile().store
    document = export_json(source, run_mixed())
    [point] = [n for n in document["nodes"] if n["codec"] == "pickle"]
    assert pickle.loads(base64.b64decode(point["value_b64"])) == Point(3, -3)
    point["value_b64"] = base64.b64encode(pickle.dumps(Evil(marker))).decode()
    target = load_profile("victim").store
    result = import_run(target, write_json(document, tmp_path / "evil.json"))
    assert result.untrusted == 1
    with pytest.raises(UntrustedValueError):
        target.load_node(result.pks[point["uuid"]]).value  # noqa: B018
    # Values that are safe to read still read.
    arrays = [n for n in document["nodes"] if n["codec"] == "npy"]
    array = target.load_node(result.pks[arrays[0]["uuid"]]).value
    np.testing.assert_array_equal(array, np.arange(3.0))
    assert not marker.exists()
    # The mark survives a re-export: the next store cannot trust it by accident either.
    again = export_json(target, result.run_pk)
    [untrusted] = [n for n in again["nodes"] if n["uuid"] == point["uuid"]]
    assert untrusted["codec"] == "pickle-untrusted"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="something"), "not a ferroflow export"),
        (lambda d: d.update(version=99), "version 99"),
        (lambda d: d["nodes"][1].update(uuid="xyz"), "not a uuid"),
        (lambda d: d["nodes"][1].update(kind="thing"), "'kind' must be"),
        (lambda d: d["nodes"][1].update(codec="marshal"), "unknown value codec"),
        (lambda d: d["nodes"][1].update(value_b64="!!!", codec="bytes"), "not base64"),
        (lambda d: d["nodes"][1].update(ctime="yesterday"), "'ctime'"),
        (lambda d: d["links"][0].update(type="FRIEND"), "unknown link type"),
        (lambda d: d["links"][0].update(src="0" * 32), "is not a node of this file"),
        (lambda d: d["nodes"].pop(0), "not among the file's nodes"),
    ],
)
def test_a_malformed_file_writes_nothing(mutate: Any, message: str, tmp_path: Path) -> None:
    source = load_profile().store
    document = export_json(source, run_howto())
    assert (
        document["nodes"][0]["uuid"] == document["run"] and document["nodes"][1]["kind"] == "data"
    )
    mutate(document)
    target = load_profile("strict").store
    before = count_rows(target)
    with pytest.raises(ImportFormatError, match=message):
        import_run(target, write_json(document, tmp_path / "bad.json"))
    assert count_rows(target) == before


def test_not_json_at_all(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{ nope")
    with pytest.raises(ImportFormatError, match="not a JSON file"):
        import_run(load_profile().store, path)


def test_a_crate_of_an_imported_run_never_copies_a_local_file_named_by_its_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the file names the run's graph function after a module that exists on this machine: the
    # crate gets the placeholder, not that module's source
    local = tmp_path / "local_code"
    local.mkdir()
    (local / "labnotes.py").write_text("def Analysis():\n    pass\n\nTOKEN = 'secret-4711'\n")
    monkeypatch.syspath_prepend(str(local))
    source = load_profile().store
    document = export_json(source, run_howto())
    root = next(n for n in document["nodes"] if n["uuid"] == document["run"])
    root["type"] = "labnotes.Analysis"
    target = load_profile("imported").store
    result = import_run(target, write_json(document, tmp_path / "run.json"))
    crate = tmp_path / "crate.zip"
    export_run(target, result.run_pk, "ro-crate", crate)
    with zipfile.ZipFile(crate) as zf:
        workflow = [zf.read(n).decode() for n in zf.namelist() if n.startswith("workflow/")]
    assert len(workflow) == 1
    assert "secret-4711" not in workflow[0]
    assert "imported from a file" in workflow[0] and "'labnotes.Analysis'" in workflow[0]

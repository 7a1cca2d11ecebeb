"""AiiDA archives: ``ferroflow export -f aiida`` read by aiida-core's own ``verdi archive import``
and checked through AiiDA's query API, archives made by AiiDA (``verdi archive create``)
imported into ferroflow, and hostile archives refused.

aiida-core lives in its own virtualenv (it pins packages ferroflow's test environment needs
newer): the one ``FERROFLOW_AIIDA_VENV`` names, else ``benches/.venv-aiida`` (git-ignored),
created here with ``benches/compare_workgraph.setup_venv`` when it lacks aiida-core. If it
cannot be made the AiiDA tests fail, saying why (CI has PyPI). Each test module run makes one
throw-away profile (``verdi presto --no-broker``, SQLite, under a temporary ``AIIDA_PATH``).
The AiiDA side is read by ``aiida_probe.py``, run with the venv's python, printing JSON.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import sqlite3
import subprocess
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ferroflow import load_profile
from ferroflow.cli import main as cli_main
from ferroflow.errors import ImportFormatError
from ferroflow.export import aiida_read, export_run, import_run
from ferroflow.export.aiida_format import SCHEMA
from ferroflow.export.aiida_import import ROOT_TYPE
from ferroflow.store import Store
from provenance_flows import link_set, members, run_howto, run_mixed

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PROBE = HERE / "aiida_probe.py"
_spec = importlib.util.spec_from_file_location(
    "compare_workgraph", ROOT / "benches/compare_workgraph.py"
)
assert _spec is not None and _spec.loader is not None
compare_workgraph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_workgraph)


# -- the AiiDA side ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def aiida_python() -> Path:
    """The python of a venv with aiida-core: made (and cached) when there is none."""
    given = os.environ.get("FERROFLOW_AIIDA_VENV")
    venv = Path(given) if given else compare_workgraph.DEFAULT_VENV
    python = venv / "bin" / "python"
    if _aiida_version(python) is None:
        if given:
            pytest.fail(f"FERROFLOW_AIIDA_VENV={given} has no aiida-core installed")
        code = compare_workgraph.setup_venv(venv)
        if code != 0 or _aiida_version(python) is None:
            pytest.fail(
                f"could not install aiida-core into {venv} (pip exit code {code}): these tests "
                "need PyPI, or FERROFLOW_AIIDA_VENV naming a venv with aiida-core"
            )
    return python


def _aiida_version(python: Path) -> str | None:
    if not python.exists():
        return None
    code = "from importlib.metadata import version; print(version('aiida-core'))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


@pytest.fixture(scope="module")
def aiida(aiida_python: Path) -> Iterator[AiiDA]:
    with compare_workgraph.profile_env(aiida_python) as env:
        yield AiiDA(aiida_python, env)


class AiiDA:
    """``verdi`` and the probe in one throw-away profile."""

    def __init__(self, python: Path, env: dict[str, str]) -> None:
        self.python = python
        self.env = env

    def run(self, *argv: str) -> str:
        done = subprocess.run(
            list(argv), env=self.env, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, (
            f"{argv[:3]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        return done.stdout

    def verdi(self, *argv: str) -> str:
        return self.run(str(self.python.parent / "verdi"), *argv)

    def probe(self, *argv: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.run(str(self.python), str(PROBE), *argv))
        return result


# -- what AiiDA should hold for a ferroflow value ------------------------------------------------
def expected_aiida(value: Any) -> tuple[str, Any] | None:
    """The AiiDA class and value a ferroflow value becomes (aiida_archive's table); ``None``
    for the fallback (a ``Dict`` naming the type)."""
    if isinstance(value, np.ndarray):
        return "ArrayData", {"default": value.tolist()}
    if type(value) in (bool, int, str) or (type(value) is float and math.isfinite(value)):
        return {bool: "Bool", int: "Int", float: "Float", str: "Str"}[type(value)], value
    if type(value) is list:
        return "List", value
    if type(value) is dict and all(type(key) is str for key in value):
        return "Dict", value
    return None


def ferroflow_value(store: Store, pk: int) -> Any:
    try:
        return store.load_node(pk).value
    except Exception:  # an unserialisable or untrusted value: the fallback either way
        return object()


@pytest.fixture
def store() -> Store:
    return load_profile().store


# -- ferroflow -> AiiDA --------------------------------------------------------------------------
def test_verdi_imports_a_ferroflow_export(store: Store, aiida: AiiDA, tmp_path: Path) -> None:
    run_pk = run_mixed()  # a value of every codec, a failed task
    archive = tmp_path / "mixed.aiida"
    assert cli_main(["export", str(run_pk), "-f", "aiida", "-o", str(archive)]) == 0
    aiida.verdi("archive", "import", str(archive))
    mine = members(store, run_pk)
    root = next(uuid for uuid, info in mine.items() if info["pk"] == run_pk)
    got = aiida.probe("dump", root)
    assert set(got["nodes"]) == set(mine)  # the same nodes, by uuid
    links = {(s, d, t.upper(), label) for s, d, t, label in got["links"]}
    assert links == link_set(store, run_pk)
    assert Counter(t for *_, t, _ in links) == Counter(t for *_, t, _ in link_set(store, run_pk))
    states = {"FINISHED": ("finished", 0), "FAILED": ("excepted", None)}
    fallbacks = 0
    for uuid, info in mine.items():
        node = got["nodes"][uuid]
        if info["kind"] != "data":
            assert node["class"] == (
                "WorkChainNode" if info["kind"] == "work" else "CalcFunctionNode"
            )
            assert (node["process_state"], node["exit_status"]) == states[info["state"]], info
            assert node["process_type"] == info["type"]
            continue
        expected = expected_aiida(ferroflow_value(store, info["pk"]))
        if expected is None:
            assert node["class"] == "Dict" and node["value"]["ferroflow_type"] == info["type"]
            fallbacks += 1
        else:
            assert (node["class"], node["value"]) == expected, info
    assert fallbacks == 4  # bytes, the tuple, the pickled Point, NaN


# -- AiiDA -> ferroflow --------------------------------------------------------------------------
def test_an_archive_made_by_aiida_imports_into_ferroflow(
    store: Store, aiida: AiiDA, tmp_path: Path
) -> None:
    made = aiida.probe("make")["uuid"]  # a workfunction calling calcfunctions
    expected = aiida.probe("dump", made)
    archive = tmp_path / "made.aiida"
    aiida.verdi("archive", "create", str(archive), "-N", made)
    assert cli_main(["import", str(archive)]) == 0
    [run] = [r for r in store.runs()]
    assert run.uuid == made and run.type.endswith("add_twice") and run.state == "FINISHED"
    mine = members(store, run.pk)
    assert set(mine) == set(expected["nodes"])
    wanted = {(s, d, t.upper(), label) for s, d, t, label in expected["links"]}
    assert link_set(store, run.pk) == wanted
    kinds = {"WorkFunctionNode": "work", "CalcFunctionNode": "calc"}
    for uuid, node in expected["nodes"].items():
        info = mine[uuid]
        if node["class"] in kinds:
            assert info["kind"] == kinds[node["class"]] and info["state"] == "FINISHED"
        else:
            assert info["kind"] == "data"
            assert store.load_node(info["pk"]).value == node["value"], (node, info)
    assert {node["class"] for node in expected["nodes"].values()} >= {"Int", "List", "Dict"}
    # again: nothing new (uuids are identity)
    assert import_run(store, archive).created == 0


# -- without AiiDA: the file itself, and ferroflow's own round trip -------------------------------
def test_the_archive_has_aiidas_layout(store: Store, tmp_path: Path) -> None:
    run_pk = run_mixed()
    archive = tmp_path / "run.aiida"
    counts = export_run(store, run_pk, "aiida", archive)
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        assert names[0] == "metadata.json" and "db.sqlite3" in names
        metadata = json.loads(zf.read("metadata.json"))
        assert metadata["export_version"] == "main_0001" and metadata["key_format"] == "sha256"
        repo = [name for name in names if name.startswith("repo/")]
        assert len(repo) == counts["arrays"] == 1
        data = zf.read(repo[0])
        assert hashlib.sha256(data).hexdigest() == repo[0][len("repo/") :]
        (tmp_path / "db").write_bytes(zf.read("db.sqlite3"))
    conn = sqlite3.connect(tmp_path / "db")
    nodes = conn.execute("SELECT uuid, node_type, ctime, attributes FROM db_dbnode").fetchall()
    assert {row[0] for row in nodes} == set(members(store, run_pk))
    assert all(row[1].endswith(".") and len(row[2]) == 26 for row in nodes)  # naive UTC text
    assert all(json.loads(row[3]) is not None for row in nodes)  # strict JSON (no NaN)
    assert conn.execute("SELECT count(*) FROM db_dblink").fetchone()[0] == counts["links"]
    assert conn.execute("SELECT email FROM db_dbuser").fetchall() == [("ferroflow@localhost",)]


def test_the_archive_goes_to_standard_output(
    store: Store, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    run_pk = run_howto(2)
    assert cli_main(["export", str(run_pk), "-f", "aiida"]) == 0
    path = tmp_path / "stdout.aiida"
    path.write_bytes(capsysbinary.readouterr().out)
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist()[0] == "metadata.json" and "db.sqlite3" in zf.namelist()
    other = load_profile("other").store
    assert import_run(other, path).created == len(members(store, run_pk))


def test_a_run_comes_back_from_its_aiida_archive(store: Store, tmp_path: Path) -> None:
    run_pk = run_howto(3)
    archive = tmp_path / "howto.aiida"
    export_run(store, run_pk, "aiida", archive)
    other = load_profile("other").store
    result = import_run(other, archive)
    before, after = members(store, run_pk), members(other, result.run_pk)
    assert set(before) == set(after) and link_set(store, run_pk) == link_set(other, result.run_pk)
    for uuid, info in before.items():
        assert after[uuid]["state"] == info["state"] and after[uuid]["kind"] == info["kind"]
        if info["kind"] == "data":
            assert other.load_node(after[uuid]["pk"]).value == store.load_node(info["pk"]).value
        else:
            assert after[uuid]["type"] == info["type"]


def test_a_lone_calcfunction_gets_a_graph_run(store: Store, tmp_path: Path) -> None:
    archive = _archive(tmp_path, nodes=[_calc(1), _int(2, 5)], links=[(1, 2, "result", "create")])
    result = import_run(store, archive)
    run = store.load_node(result.run_pk)
    assert run.type == ROOT_TYPE and run.state == "FINISHED" and run.label == "hand.aiida"
    calc, value = (f"00000000-0000-4000-8000-{pk:012d}" for pk in (1, 2))
    assert link_set(store, result.run_pk) == {
        (run.uuid, calc, "CALL_CALC", "f"),  # named by its process_label
        (calc, value, "CREATE", "result"),
    }
    assert store.load_node(value).value == 5 and store.load_node(calc).type == "mod.f"
    assert import_run(store, archive).created == 0  # the same graph run uuid the second time


# -- hostile archives ---------------------------------------------------------------------------
def _int(pk: int, value: Any) -> tuple[Any, ...]:
    return (pk, f"00000000-0000-4000-8000-{pk:012d}", "data.core.int.Int.", None, "", "",
            {"value": value}, {}, {})  # fmt: skip


def _calc(pk: int) -> tuple[Any, ...]:
    attributes = {"process_state": "finished", "exit_status": 0, "process_label": "f"}
    return (pk, f"00000000-0000-4000-8000-{pk:012d}",
            "process.calculation.calcfunction.CalcFunctionNode.", "mod.f", "", "",
            attributes, {}, {})  # fmt: skip


def _array(pk: int, key: str) -> tuple[Any, ...]:
    return (pk, f"00000000-0000-4000-8000-{pk:012d}", "data.core.array.ArrayData.", None, "", "",
            {"array|default": [1]}, {}, {"o": {"default.npy": {"k": key}}})  # fmt: skip


def _archive(
    tmp_path: Path,
    nodes: list[tuple[Any, ...]],
    links: list[tuple[int, int, str, str]],
    extra: dict[str, bytes] | None = None,
    version: str = "main_0001",
    script: str = "",
) -> Path:
    """An archive built by hand, as an attacker would."""
    db = tmp_path / "hand.sqlite3"
    db.unlink(missing_ok=True)
    conn = sqlite3.connect(db)
    conn.executescript(SCHEMA)
    conn.execute("INSERT INTO db_dbuser VALUES (1, 'x@y', '', '', '')")
    for pk, uuid, node_type, process_type, label, desc, attrs, extras, repo in nodes:
        conn.execute(
            "INSERT INTO db_dbnode VALUES (?, ?, ?, ?, ?, ?, '2026-01-02 03:04:05.000006',"
            " '2026-01-02 03:04:06.000000', ?, ?, ?, NULL, 1)",
            (pk, uuid, node_type, process_type, label, desc, json.dumps(attrs),
             json.dumps(extras), json.dumps(repo)),
        )  # fmt: skip
    for n, (src, dst, label, type_) in enumerate(links, 1):
        conn.execute("INSERT INTO db_dblink VALUES (?, ?, ?, ?, ?)", (n, src, dst, label, type_))
    if script:
        conn.executescript(script)
    conn.commit()
    conn.close()
    path = tmp_path / "hand.aiida"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps({"export_version": version}))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
        zf.write(db, "db.sqlite3")
    return path


def test_zip_paths_are_never_extracted(store: Store, tmp_path: Path) -> None:
    """A member named ``../escaped`` (and an absolute one) is never written anywhere; the repo
    key of an array that names a path is refused."""
    evil = {"../escaped": b"x", "/tmp/ferroflow-absolute-escape": b"x"}
    array = _array(3, "../escaped")
    archive = _archive(tmp_path, [_calc(1), array], [(3, 1, "x", "input_calc")], extra=evil)
    with pytest.raises(ImportFormatError, match="not a sha256"):
        import_run(store, archive)
    assert not (tmp_path.parent / "escaped").exists()
    assert not Path("/tmp/ferroflow-absolute-escape").exists()
    assert store.runs() == []


def test_an_array_must_match_its_key(store: Store, tmp_path: Path) -> None:
    key = hashlib.sha256(b"other").hexdigest()
    array = _array(3, key)
    repo = {f"repo/{key}": b"\x93NUMPY not what the key says"}
    archive = _archive(tmp_path, [_calc(1), array], [(3, 1, "x", "input_calc")], extra=repo)
    with pytest.raises(ImportFormatError, match="does not match its key"):
        import_run(store, archive)


def test_a_zip_bomb_stops_at_the_limit(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database member inflates past its limit: refused after reading the limit, whatever
    size the zip's directory claims."""
    monkeypatch.setattr(aiida_read, "MAX_DB", 64 * 1024)
    archive = _archive(tmp_path, [_calc(1)], [], script="CREATE TABLE pad(x); " + ";".join(
        ["INSERT INTO pad VALUES (zeroblob(100000))"] * 3
    ))  # fmt: skip
    with pytest.raises(ImportFormatError, match="larger than 65536 bytes"):
        import_run(store, archive)


def test_views_and_bad_graphs_are_refused(store: Store, tmp_path: Path) -> None:
    view = "DROP TABLE db_dblink; CREATE VIEW db_dblink AS SELECT 1 AS id, 1 AS input_id, 1 AS output_id, 'l' AS label, 'create' AS type"  # noqa: E501
    with pytest.raises(ImportFormatError, match="no table db_dblink"):
        import_run(store, _archive(tmp_path, [_calc(1)], [], script=view))
    with pytest.raises(ImportFormatError, match="missing node"):
        import_run(store, _archive(tmp_path, [_calc(1)], [(9, 1, "x", "input_calc")]))
    with pytest.raises(ImportFormatError, match="main_0001"):
        import_run(store, _archive(tmp_path, [_calc(1)], [], version="0.9"))
    # AiiDA's link rules, checked by the native import: a value cannot call a process
    with pytest.raises(ImportFormatError, match="CALL_CALC"):
        import_run(store, _archive(tmp_path, [_calc(1), _int(2, 1)], [(2, 1, "c", "call_calc")]))
    with pytest.raises(ImportFormatError, match="not a time"):
        bad = list(_int(2, 1))
        archive = _archive(tmp_path, [_calc(1), tuple(bad)], [])
        conn_path = tmp_path / "hand.sqlite3"
        with sqlite3.connect(conn_path) as conn:
            conn.execute("UPDATE db_dbnode SET ctime = 'yesterday'")
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("metadata.json", json.dumps({"export_version": "main_0001"}))
            zf.write(conn_path, "db.sqlite3")
        import_run(store, archive)
    assert store.runs() == []
    with pytest.raises(ImportFormatError, match="not an AiiDA archive"):
        broken = tmp_path / "broken.aiida"
        broken.write_bytes(b"PK\x03\x04 and then nothing")
        import_run(store, broken)


def test_fields_of_a_type_or_size_aiida_never_writes_are_named_not_crashed_on(
    store: Store, tmp_path: Path
) -> None:
    huge_float = (2, "00000000-0000-4000-8000-000000000002", "data.core.float.Float.", None,
                  "", "", {"value": 10**400}, {}, {})  # fmt: skip
    with pytest.raises(ImportFormatError, match=r"db_dbnode id 2: a field .*OverflowError"):
        import_run(store, _archive(tmp_path, [_calc(1), huge_float], []))
    blob_label = "UPDATE db_dbnode SET label = X'00ff' WHERE id = 2"
    with pytest.raises(ImportFormatError, match=r"db_dbnode id 2: a field .*bytes"):
        import_run(store, _archive(tmp_path, [_calc(1), _int(2, 1)], [], script=blob_label))
    blob_uuid = "UPDATE db_dbnode SET uuid = X'00ff' WHERE id = 2"
    with pytest.raises(ImportFormatError, match=r"db_dbnode id 2: the uuid is not text"):
        import_run(store, _archive(tmp_path, [_calc(1), _int(2, 1)], [], script=blob_uuid))
    blob_link = "UPDATE db_dblink SET label = X'00ff'"
    archive = _archive(
        tmp_path, [_calc(1), _int(2, 1)], [(2, 1, "x", "input_calc")], script=blob_link
    )
    with pytest.raises(ImportFormatError, match=r"db_dblink 2 -> 1: the label is not text"):
        import_run(store, archive)
    assert store.runs() == []

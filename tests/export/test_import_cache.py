"""Caching and restart survive an export and import: a task run's cache key (``hash``), the
run a cache hit reused (``cached_from``, re-keyed to the target's pks) and the run's code
digests (``code`` rows) travel in the native JSON format, so the imported results give cache
hits and an imported failed run restarts in its new store (task bodies counted by side
effects). Files written without these fields still import."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from counting_flows import add, calls, double, gather
from ferroflow import WorkGraph, load_profile, task
from ferroflow.cli import main as cli_main
from ferroflow.export import ImportFormatError, import_run
from ferroflow.profile import Profile
from ferroflow.store import Store, graph_read
from layer_query import file_query
from provenance_flows import export_json, write_json
from restart_flows import campaign, expected


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()


@task.graph
def fan(n: int) -> int:
    doubled = {f"v{i}": double(x=add(x=i, y=1).result).result for i in range(n)}
    return gather(**doubled).result


N = 3
TASKS = 2 * N + 1  # task runs (calc nodes) of fan(N)


def rows(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    store.flush()
    conn = sqlite3.connect(store.path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def calc_rows(store: Store, run_pk: int) -> dict[str, tuple[bytes | None, str | None]]:
    """uuid -> (hash, uuid of cached_from) of every task run of the run."""
    store.flush()
    with file_query(store.path) as query:
        tasks = graph_read.run_node_rows(query, run_pk, ("calc",))
        found = {}
        for row in tasks:
            fields = graph_read.cache_fields(query, row[0])
            assert fields is not None
            key, cached_from = fields
            origin = None if cached_from is None else graph_read.node_row(query, cached_from)
            found[bytes(row[1]).hex()] = (key, None if origin is None else bytes(origin[1]).hex())
    return found


def node_and_code_counts(store: Store) -> tuple[int, int]:
    """How many nodes the store holds, and how many code rows."""
    store.flush()
    with file_query(store.path) as query:
        return graph_read.count_nodes(query), int(query("SELECT count(*) FROM code", ())[0][0])


def code_rows(store: Store, run_pk: int) -> set[tuple[str, bytes]]:
    found = rows(store, "SELECT type, digest FROM code WHERE run_pk = ?", (run_pk,))
    return {(t, bytes(d)) for t, d in found}


def cached_twice(profile: Profile) -> tuple[WorkGraph, WorkGraph]:
    """fan(N) run with caching, then again: the second run is all cache hits."""
    first = fan.build(N)
    first.run(cache=True, profile=profile)
    second = fan.build(N)
    second.run(cache=True, profile=profile)
    assert len(second.cached_tasks) == TASKS
    return first, second


def test_keys_hits_and_code_rows_survive_export_and_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = load_profile("a")
    first, second = cached_twice(a)
    assert first.pk is not None and second.pk is not None
    doc = export_json(a.store, second.pk)
    calcs = [n for n in doc["nodes"] if n["kind"] == "calc"]
    assert len(calcs) == TASKS and all(n["hash"] and n["cached_from"] for n in calcs)
    # the originals belong to the first run, not to this file: referenced by uuid all the same
    in_file = {n["uuid"] for n in doc["nodes"]}
    assert not {n["cached_from"] for n in calcs} & in_file
    assert {(c["type"], bytes.fromhex(c["digest"])) for c in doc["code"]} == code_rows(
        a.store, second.pk
    )
    path1 = write_json(export_json(a.store, first.pk), tmp_path / "first.json")
    path2 = write_json(doc, tmp_path / "second.json")

    b = load_profile("b")
    one = import_run(b.store, path1, trust=True)
    two = import_run(b.store, path2, trust=True)
    assert (one.code, two.code) == (3, 3) and two.filled == 0
    for run_a, run_b in ((first.pk, one.run_pk), (second.pk, two.run_pk)):
        assert calc_rows(b.store, run_b) == calc_rows(a.store, run_a)  # same keys, same origins
        assert code_rows(b.store, run_b) == code_rows(a.store, run_a) != set()
    # cached_from holds the pk the original got in B
    for n in calcs:
        assert b.store.load_node(two.pks[n["uuid"]]).cached_from == one.pks[n["cached_from"]]
    capsys.readouterr()
    hit = two.pks[calcs[0]["uuid"]]
    assert cli_main(["--profile", "b", "node", "show", str(hit)]) == 0
    assert f"reused the results of pk {one.pks[calcs[0]['cached_from']]}" in capsys.readouterr().out

    # importing both again writes nothing: no duplicate nodes, links or code rows
    before = node_and_code_counts(b.store)
    again = [import_run(b.store, path, trust=True) for path in (path1, path2)]
    assert [(r.created, r.links, r.code, r.filled) for r in again] == [(0, 0, 0, 0)] * 2
    assert node_and_code_counts(b.store) == before


def test_cached_from_outside_the_target_is_null_until_its_run_arrives(tmp_path: Path) -> None:
    a = load_profile("a")
    first, second = cached_twice(a)
    assert first.pk is not None and second.pk is not None
    path1 = write_json(export_json(a.store, first.pk), tmp_path / "first.json")
    path2 = write_json(export_json(a.store, second.pk), tmp_path / "second.json")
    b = load_profile("b")
    two = import_run(b.store, path2, trust=True)  # the hits before the run they reused
    assert all(h is not None and o is None for h, o in calc_rows(b.store, two.run_pk).values()), (
        "cached_from must be NULL, not some other node's pk"
    )
    import_run(b.store, path1, trust=True)
    assert (
        import_run(b.store, path2, trust=True).filled == TASKS
    )  # now it can say where they came from
    assert calc_rows(b.store, two.run_pk) == calc_rows(a.store, second.pk)


@pytest.mark.parametrize("imported", ["both runs", "only the run of cache hits"])
def test_imported_results_serve_cache_hits(imported: str, tmp_path: Path) -> None:
    a = load_profile("a")
    first, second = cached_twice(a)
    assert first.pk is not None and second.pk is not None
    b = load_profile("b")
    runs = [first.pk, second.pk] if imported == "both runs" else [second.pk]
    pks: dict[str, int] = {}
    for run_pk in runs:
        path = write_json(export_json(a.store, run_pk), tmp_path / f"{run_pk}.json")
        pks.update(import_run(b.store, path, trust=True).pks)
    calls.clear()

    wg = fan.build(N)
    wg.run(cache=True, profile=b)
    assert sum(calls.values()) == 0, f"bodies executed after the import: {dict(calls)}"
    assert len(wg.cached_tasks) == TASKS
    assert wg.outputs.result.value == first.outputs.result.value == 2 * sum(range(1, N + 1))
    # every hit reused a task run imported from A (the originals, when they came along)
    origin = first if imported == "both runs" else second
    imported_pks = {pks[str(t.uuid)] for t in origin.all_tasks() if not t.is_graph}
    assert {t.cached_from for t in wg.all_tasks() if not t.is_graph} == imported_pks


@pytest.fixture
def side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "side.txt"
    monkeypatch.setenv("FF_SIDE_FILE", str(path))
    return path


def _side(path: Path) -> list[int]:
    return sorted(int(line) for line in path.read_text().split()) if path.exists() else []


def _failed_run_exported(side: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """campaign(3, 5) run in profile A without caching, tasks 3 and 11 failing; exported."""
    monkeypatch.setenv("FF_FAIL", "3,11")
    a = load_profile("a")
    wg = campaign.build(3, 5)
    wg.run(raise_on_error=False, profile=a)
    assert wg.state == "FAILED" and wg.pk is not None
    assert _side(side) == [i for i in range(15) if i not in (3, 11)]
    side.unlink()
    monkeypatch.setenv("FF_FAIL", "")
    return write_json(export_json(a.store, wg.pk), tmp_path / "failed.json")


def test_a_failed_run_imported_elsewhere_restarts_there(
    side: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _failed_run_exported(side, monkeypatch, tmp_path)
    b = load_profile("b")
    result = import_run(b.store, path)
    assert result.code == 2  # restart_flows.work and restart_flows.total
    again = WorkGraph.load(result.run_pk, profile=b)
    again.run()
    assert again.state == "FINISHED" and again.outputs.result.value == expected(3, 5)
    assert _side(side) == [3, 11]  # only the tasks that did not finish in A ran
    reused = Counter(p.rsplit("/", 1)[-1].rstrip("0123456789") for p in again.cached_tasks)
    assert reused == Counter({"work": 13, "total": 1})
    assert b.store.load_node(result.run_pk).state == "FAILED"  # the imported run is untouched


def test_cli_import_then_cli_restart(
    side: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _failed_run_exported(side, monkeypatch, tmp_path)
    capsys.readouterr()
    assert cli_main(["--profile", "b", "--create", "import", str(path)]) == 0
    assert "new links, 2 code digests (restart and caching work here)" in capsys.readouterr().out
    run_pk = load_profile("b").store.runs()[0].pk
    assert cli_main(["--profile", "b", "restart", str(run_pk)]) == 0
    assert "14 of 19 task(s) reused stored results, 5 ran" in capsys.readouterr().out
    assert _side(side) == [3, 11]


def _old_format(document: dict[str, Any]) -> dict[str, Any]:
    """The file as ferroflow wrote it before ``code``, ``hash`` and ``cached_from`` travelled."""
    old = {k: v for k, v in document.items() if k != "code"}
    old["nodes"] = [
        {k: v for k, v in node.items() if k not in ("hash", "cached_from")}
        for node in document["nodes"]
    ]
    return old


def test_an_old_format_file_still_imports_and_a_new_one_completes_it(
    side: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _failed_run_exported(side, monkeypatch, tmp_path)
    document = json.loads(path.read_text())
    assert document["version"] == 1  # additive fields: the version stays
    a = load_profile("a")
    _, second = cached_twice(a)
    assert second.pk is not None
    hits = export_json(a.store, second.pk)

    b = load_profile("b")
    old = import_run(b.store, write_json(_old_format(document), tmp_path / "old.json"), trust=True)
    old_hits = import_run(
        b.store, write_json(_old_format(hits), tmp_path / "old-hits.json"), trust=True
    )
    assert old.created == len(document["nodes"]) and (old.code, old_hits.code) == (0, 0)
    assert code_rows(b.store, old.run_pk) == set()
    assert all(v == (None, None) for v in calc_rows(b.store, old_hits.run_pk).values())

    # the new export of the same runs fills in what the old one lacked, and nothing else
    new = import_run(b.store, path, trust=True)
    new_hits = import_run(b.store, write_json(hits, tmp_path / "hits.json"), trust=True)
    assert (new.created, new.links, new.code) == (0, 0, 2)
    assert (new_hits.created, new_hits.code, new_hits.filled) == (0, 3, TASKS)
    assert calc_rows(b.store, old_hits.run_pk) == {
        u: (h, None) for u, (h, _) in calc_rows(a.store, second.pk).items()
    }  # the originals were not imported: keys, but no cached_from
    again = WorkGraph.load(old.run_pk, profile=b)
    again.run()
    assert _side(side) == [3, 11]


def test_old_format_without_code_rows_restarts_by_running_everything(
    side: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What the code rows buy: without them no key can be computed, so every task runs."""
    path = _failed_run_exported(side, monkeypatch, tmp_path)
    b = load_profile("b")
    old = import_run(b.store, write_json(_old_format(json.loads(path.read_text())), path))
    WorkGraph.load(old.run_pk, profile=b).run()
    assert _side(side) == list(range(15))


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ({"type": "m.f"}, "must be a list"),
        (["m.f"], "expected an object"),
        ([{"type": "", "digest": "ab"}], "'type' must be"),
        ([{"type": "m.f", "digest": "xyz"}], "'digest' must be non-empty hex"),
        ([{"type": "m.f", "digest": ""}], "'digest' must be non-empty hex"),
        ([{"type": "m.f"}], "'digest' must be non-empty hex"),
    ],
)
def test_malformed_code_rows_write_nothing(code: Any, message: str, tmp_path: Path) -> None:
    a = load_profile("a")
    wg = fan.build(1)
    wg.run(profile=a)
    assert wg.pk is not None
    document = export_json(a.store, wg.pk)
    document["code"] = code
    b = load_profile("b")
    with pytest.raises(ImportFormatError, match=message):
        import_run(b.store, write_json(document, tmp_path / "bad.json"))
    assert node_and_code_counts(b.store) == (0, 0)


def test_an_untrusted_file_brings_no_cache_keys(tmp_path: Path) -> None:
    """A file can claim any key for any outputs: without trust none is imported, and none is
    filled into a node the store already holds (cache poisoning)."""
    a = load_profile("a")
    first, second = cached_twice(a)
    assert first.pk is not None and second.pk is not None
    b = load_profile("b")
    local = fan.build(N)
    local.run(profile=b)  # recorded without caching: its task runs have no key
    document = export_json(a.store, second.pk)
    result = import_run(b.store, write_json(document, tmp_path / "second.json"))
    assert result.keys_dropped == TASKS and result.code == 3
    assert all(v == (None, None) for v in calc_rows(b.store, result.run_pk).values())
    # a crafted file naming the local task runs' uuids with keys of its own fills nothing in
    assert local.pk is not None
    crafted = export_json(b.store, local.pk)
    for node in crafted["nodes"]:
        if node["kind"] == "calc":
            node["hash"] = "ab" * 32
    dropped = import_run(b.store, write_json(crafted, tmp_path / "crafted.json"))
    assert (dropped.filled, dropped.keys_dropped) == (0, TASKS)
    assert all(v == (None, None) for v in calc_rows(b.store, local.pk).values())
    calls.clear()
    again = fan.build(N)
    again.run(cache=True, profile=b)
    assert again.cached_tasks == [] and sum(calls.values()) == TASKS  # nothing was reused

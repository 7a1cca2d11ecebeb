"""Every reader answers the same from a store whose task runs are packed (``task_run`` rows)
as from the same store in node/link form (step 2 of ``docs/packed-task-runs.md``).

Real runs are recorded, their packable task runs given derived uuids (``tests/packing.py``),
the file copied and the copy packed; then every function of the reading layer, the public
readers, the exports and the CLI are asked the same questions of both files and must answer
the same. The packer packs a task only when the packed form stands for exactly the rows it
replaced, so a difference is the reading layer's."""

from __future__ import annotations

import re
import sqlite3
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import store_rules
from ferroflow import WorkGraph, load_profile, query, task
from ferroflow import profile as profile_module
from ferroflow.cli import main as cli_main
from ferroflow.errors import RunDeleteRefusedError
from ferroflow.export import export_run, import_run
from ferroflow.model.vocabulary import STATE_CODES
from ferroflow.store import Store, graph_counts, graph_find, graph_read, graph_sets
from ferroflow.store.deletion import delete_run
from ferroflow.store.graph_read import DATA_PROVENANCE, LINK_TYPES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lane_flows import add, inc
from layer_query import conn_query
from packing import derive_uuids, describe_run, pack_run
from provenance_flows import link_set, members, run_howto, run_mixed, run_provenance
from restart_flows import campaign, expected


@task
def fail(x: int) -> int:
    raise ValueError(f"no {x}")


@task.graph
def Chain(n: int) -> int:
    value = n
    for _ in range(5):
        value = inc(x=value).result
    return value  # type: ignore[return-value]


@task.graph
def Scatter(n: int) -> int:
    parts = [inc(x=i).result for i in range(n)]
    total = parts[0]
    for part in parts[1:]:
        total = add(x=total, y=part).result
    fail(x=total)
    return total  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def node_form(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs here are written in the node form whatever ``FERROFLOW_PACKED`` says: the packer
    (``tests/packing.py``) packs them itself, so that each test compares a packed copy with its
    node-form original. What the writer packs is compared with the packer's in
    :func:`test_a_run_the_writer_packed_reads_as_the_same_run_packed_by_the_test_packer`."""
    monkeypatch.setenv("FERROFLOW_PACKED", "0")


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, list[int]]:
    """(node-form file, packed copy, run pks): a how-to, the mixed run (every codec, a failed
    task), a chain with cache keys, a scatter with a failed task, and a cached re-run of the
    chain (its hits point at the packed originals)."""
    profile = load_profile()
    store = profile.store
    runs = [run_howto(4), run_mixed()]
    for graph, arg, cache in ((Chain, 3, True), (Scatter, 4, False), (Chain, 3, True)):
        wg = graph.build(arg)
        wg.run(raise_on_error=False, cache=cache)  # the second chain: a cached re-run
        assert wg.pk is not None
        runs.append(wg.pk)
    store.flush()
    original = tmp_path / "original.sqlite"
    _copy(store.path, original)
    for run in runs:
        derive_uuids(original, run)
    packed = tmp_path / "packed.sqlite"
    _copy(original, packed)
    assert sum(pack_run(packed, run) for run in runs) >= 10
    return original, packed, runs


def _copy(source: Path, target: Path) -> None:
    """A consistent copy of a store file (its WAL included): SQLite's backup."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def census(query: graph_read.Query, pks: list[int], runs: list[int]) -> dict[str, Any]:
    """Every graph_read answer about ``pks`` and ``runs``."""
    found: dict[str, Any] = {}
    found["rows"] = {pk: graph_read.node_row(query, pk) for pk in [*pks, max(pks) + 50]}
    found["many"] = graph_read.node_rows(query, [*pks, -1, 10**9])
    for pk in pks:
        row = found["rows"][pk]
        digits = bytes(row[1]).hex()
        found[f"uuid {pk}"] = [
            graph_read.node_rows_by_uuid(query, digits[:n]) for n in (32, 31, 30, 8, 2, 1)
        ]
        found[f"cache {pk}"] = graph_read.cache_fields(query, pk)
        found[f"value {pk}"] = graph_read.value_parts_of(query, pk)
        for incoming in (True, False):
            found[f"near {pk} {incoming}"] = graph_read.neighbours(query, pk, incoming)
            for types in (None, ("CREATE",), ("INPUT_CALC", "CALL_CALC")):
                found[f"walk {pk} {incoming} {types}"] = [
                    graph_read.walk(query, pk, incoming, types, depth) for depth in (None, 1, 2)
                ]
    found["values"] = graph_read.value_parts(query, pks)
    for types in (None, DATA_PROVENANCE, ("CALL_CALC",), ("RETURN",)):
        for incoming in (True, False):
            found[f"links {types} {incoming}"] = graph_read.links(query, pks, incoming, types)
        found[f"touching {types}"] = graph_read.links_touching(query, pks[::2], types)
    found["top"] = graph_read.top_level_runs(query)
    found["last"] = graph_read.last_node_pk(query)
    finished = [STATE_CODES["FINISHED"]]
    for kinds in (None, ["calc"], ["data"], ["work"], ["data", "calc"]):
        for states in (None, finished):
            for run in (None, runs[0]):
                for label in (None, "inc", "%a%"):
                    key = f"count {kinds} {states} {run} {label}"
                    found[key] = graph_read.count_nodes(
                        query, kinds=kinds, states=states, run_pk=run, label_like=label
                    )
    for run in runs:
        found[f"run {run}"] = graph_read.run_node_rows(query, run)
        found[f"run calc {run}"] = graph_read.run_node_rows(query, run, ["calc"])
        found[f"keyless {run}"] = graph_read.keyless_finished_tasks(query, run)
        found[f"states {run}"] = graph_read.task_state_counts(query, run)
        found[f"calls {run}"] = sorted(graph_read.call_links_of_run(query, run))
        found[f"output {run}"] = graph_read.captured_output_of_run(query, run)
    return found


def find_census(query: graph_read.Query, runs: list[int]) -> dict[str, Any]:
    """graph_find's answers for each kind of filter."""
    found: dict[str, Any] = {}
    found["runs"] = graph_find.select_runs(
        query, label=None, states=[], since=None, until=None, limit=None
    )
    for task_name in (None, "inc", "*a*"):
        for kind in (None, "calc", "data", "work"):
            for states in ([], [STATE_CODES["FINISHED"]], [STATE_CODES["FAILED"]]):
                for run in (None, runs[2]):
                    for since, limit in ((None, None), (0.0, 7), (None, 3)):
                        key = f"{task_name} {kind} {states} {run} {since} {limit}"
                        found[key] = [
                            graph_find.select_nodes(
                                query,
                                task=task_name,
                                kind=kind,
                                states=states,
                                run_pk=run,
                                since=since,
                                until=None,
                                limit=limit,
                                newest_first=newest,
                            )
                            for newest in (False, True)
                        ]
    return found


def _pks(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [pk for (pk,) in conn.execute("SELECT pk FROM node ORDER BY pk")]


@pytest.fixture
def queries(files: tuple[Path, Path, list[int]]) -> Iterator[tuple[Any, Any, list[int], list[int]]]:
    original, packed, runs = files
    a, b = sqlite3.connect(original), sqlite3.connect(packed)
    try:
        yield conn_query(a), conn_query(b), _pks(original), runs
    finally:
        a.close()
        b.close()


def test_the_copy_is_packed(files: tuple[Path, Path, list[int]]) -> None:
    original, packed, _ = files
    with sqlite3.connect(packed) as conn:
        rows = conn.execute("SELECT count(*), sum(json_array_length(nodes)) FROM task_run")
        n, inline = rows.fetchone()
        refs = conn.execute("SELECT count(*) FROM input_ref").fetchone()[0]
    assert n >= 10 and inline >= n and refs > 0
    assert len(_pks(packed)) == len(_pks(original)) - n - inline
    assert store_rules.violations(original) == []
    assert store_rules.violations(packed) == []
    # the packed rules can fail: an input_ref row forged without its row's input
    with sqlite3.connect(packed) as conn:
        conn.execute("INSERT INTO input_ref VALUES (1, (SELECT max(pk) FROM task_run), 'forged')")
    assert any("input_ref without" in found for found in store_rules.violations(packed))


def test_point_reads_links_walks_counts_answer_the_same(
    queries: tuple[Any, Any, list[int], list[int]],
) -> None:
    a, b, pks, runs = queries
    before, after = census(a, pks, runs), census(b, pks, runs)
    assert before.keys() == after.keys()
    for key in before:
        assert after[key] == before[key], key


def test_find_nodes_filters_answer_the_same(
    queries: tuple[Any, Any, list[int], list[int]],
) -> None:
    a, b, _, runs = queries
    before, after = find_census(a, runs), find_census(b, runs)
    for key in before:
        assert after[key] == before[key], key


def sets_census(conn: sqlite3.Connection, pks: list[int], runs: list[int]) -> dict[str, Any]:
    """Every graph_sets/graph_counts answer about ``pks`` and ``runs``."""
    found: dict[str, Any] = {}
    found["rows"] = graph_sets.node_rows(conn, [*pks, -5])
    found["rows of an iterator"] = graph_sets.node_rows(conn, iter([*pks, -5]))  # read once
    found["heads"] = graph_sets.node_heads(conn, pks)
    found["uuids"] = [graph_sets.uuid_of(conn, pk) for pk in [*pks, -5]]
    for side in ("src", "dst"):
        for types in (LINK_TYPES, DATA_PROVENANCE, ("CALL_CALC", "CALL_WORK"), ("RETURN",)):
            for ordered in (False, True):
                for limit in (None, 3):
                    found[f"at {side} {types} {ordered} {limit}"] = (
                        sorted(
                            graph_sets.links_at(
                                conn,
                                side,
                                pks,
                                types,
                                ordered=ordered,
                                limit=limit,  # type: ignore[arg-type]
                            )
                        )
                        if not ordered and limit is None
                        else graph_sets.links_at(
                            conn,
                            side,
                            pks,
                            types,
                            ordered=ordered,
                            limit=limit,  # type: ignore[arg-type]
                        )
                    )
            found[f"counts {side} {types}"] = graph_counts.link_counts(conn, side, pks, types)  # type: ignore[arg-type]
            for pk in pks:
                for by in ("label", "other"):
                    found[f"of {side} {types} {pk} {by}"] = graph_sets.links_of(
                        conn,
                        side,
                        pk,
                        types,
                        by=by,
                        limit=5,  # type: ignore[arg-type]
                    )
    found["calls"] = graph_counts.call_counts(conn, pks)
    for pk in pks:
        found[f"calls of {pk}"] = graph_sets.calls_of_types(
            conn, pk, ["ferroflow.demo.square", f"{__name__}.inc", f"{__name__}.add"]
        )
    for run in runs:
        found[f"creators {run}"] = graph_sets.creators_of_returned(conn, run, 50)
        found[f"makers {run}"] = graph_sets.returned_makers(conn, run, 50)
        found[f"unfinished {run}"] = graph_counts.process_pks_in_states(
            conn, run, ["FAILED", "KILLED"], run, 10
        )
        found[f"states {run}"] = graph_counts.process_state_counts(conn, run)
        found[f"tasks {run}"] = graph_counts.count_task_runs(conn, run)
        for step in (1, 2):
            found[f"spans {run} {step}"] = graph_counts.task_spans(conn, run, step, "FAILED")
    return found


def selection(path: Path, run: int) -> tuple[list[Any], list[Any]]:
    """The temp tables ``select_run`` fills for ``run`` on the file ``path``."""
    conn = sqlite3.connect(path)
    try:
        graph_sets.select_run(conn, run)
        nodes = conn.execute(f"SELECT * FROM {graph_sets.SEL_NODE} ORDER BY pk").fetchall()
        links = conn.execute(f"SELECT * FROM {graph_sets.SEL_LINK}").fetchall()
        return nodes, links
    finally:
        conn.close()


def test_set_readers_and_counts_answer_the_same(files: tuple[Path, Path, list[int]]) -> None:
    original, packed, runs = files
    pks = _pks(original)
    for run in runs:
        (na, la), (nb, lb) = selection(original, run), selection(packed, run)
        assert set(nb) ^ set(na) == set(), run
        assert set(lb) ^ set(la) == set(), run
        assert (nb, lb) == (na, la), run
    a, b = sqlite3.connect(original), sqlite3.connect(packed)
    try:
        before, after = sets_census(a, pks, runs), sets_census(b, pks, runs)
    finally:
        a.close()
        b.close()
    for key in before:
        assert after[key] == before[key], key


def _exports(path: Path, runs: list[int], out: Path) -> dict[str, Any]:
    store = Store.open(path)
    found: dict[str, Any] = {}
    try:
        for run in runs:
            for fmt in ("json", "prov-json", "dot", "mermaid", "aiida"):
                target = out / f"{run}.{fmt}"
                export_run(store, run, fmt, target)
                found[f"{run} {fmt}"] = target.read_bytes()
            with zipfile.ZipFile(target) as archive:  # (its entries' dates are file times)
                found[f"{run} aiida"] = {n: archive.read(n) for n in sorted(archive.namelist())}
            target = out / f"{run}.crate"
            export_run(store, run, "ro-crate", target)
            found[f"{run} crate"] = {
                p.relative_to(target).as_posix(): p.read_bytes()
                for p in sorted(target.rglob("*"))
                if p.is_file()
            }
    finally:
        store.close()
    return found


def test_exports_are_identical(
    files: tuple[Path, Path, list[int]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every export format's bytes (an export stamps the time it was made: fixed here)."""
    original, packed, runs = files
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    before = _exports(original, runs, tmp_path / "a")
    after = _exports(packed, runs, tmp_path / "b")
    for key in before:
        assert after[key] == before[key], key


def _delete(path: Path, run: int, force: bool) -> Any:
    try:
        return delete_run(path, "normal", run, force)
    except RunDeleteRefusedError as exc:
        return str(exc)


@pytest.mark.parametrize("force", [False, True])
def test_runs_delete_leaves_the_same_graph(
    files: tuple[Path, Path, list[int]], tmp_path: Path, force: bool
) -> None:
    """Deleting each run from both files: the same refusals and counts, and every reader
    then answers the same about what is left (the re-run's hits reuse the chain's packed
    results: deleting the chain is refused without force)."""
    original, packed, runs = files
    refused = _compare_deletes(original, packed, runs, tmp_path, force)
    assert refused == (0 if force else 1)


def _compare_deletes(
    original: Path, packed: Path, runs: list[int], tmp_path: Path, force: bool
) -> int:
    """Delete each run from copies of both files and compare; how many were refused."""
    pks = _pks(original)
    refused = 0
    for run in runs:
        a, b = tmp_path / f"a{run}-{force}.sqlite", tmp_path / f"b{run}-{force}.sqlite"
        _copy(original, a)
        _copy(packed, b)
        before, after = _delete(a, run, force), _delete(b, run, force)
        assert after == before, run
        refused += isinstance(before, str)
        left = [pk for pk in pks if pk in set(_pks(a))]
        kept_runs = [r for r in runs if r in left]
        with sqlite3.connect(a) as conn_a, sqlite3.connect(b) as conn_b:
            census_a = census(conn_query(conn_a), left, kept_runs)
            census_b = census(conn_query(conn_b), left, kept_runs)
            for key in census_a:
                assert census_b[key] == census_a[key], (run, key)
        assert store_rules.violations(b) == []
    return refused


def test_deleting_runs_that_share_data_with_packed_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed run and its restart share the run's inputs, which packed task runs of both
    use (``input_ref``): deleting either is refused without force and, with force, keeps
    the shared data, as in node form; the same counts of what it deleted and kept."""
    monkeypatch.setenv("FF_SIDE_FILE", str(tmp_path / "side.txt"))
    monkeypatch.setenv("FF_FAIL", "3,11")
    profile = load_profile()
    first = campaign.build(3, 5)
    first.run(raise_on_error=False)
    monkeypatch.setenv("FF_FAIL", "")
    second = first.restart()
    monkeypatch.setenv("FF_FAIL", "4")
    third = campaign.build(3, 5)  # (its own inputs: shares nothing)
    third.run(raise_on_error=False)
    runs = [first.pk, second.pk, third.pk]
    assert None not in runs
    profile.store.flush()
    original, packed = tmp_path / "original.sqlite", tmp_path / "packed.sqlite"
    _copy(profile.store_path, original)
    for run in runs:
        derive_uuids(original, run, any_time=True)  # (outputs recorded after the task)
    _copy(original, packed)
    assert sum(pack_run(packed, run) for run in runs) >= 20
    with sqlite3.connect(packed) as conn:
        assert conn.execute("SELECT count(*) FROM input_ref").fetchone()[0] > 0
    assert _compare_deletes(original, packed, runs, tmp_path, False) == 2  # type: ignore[arg-type]
    assert _compare_deletes(original, packed, runs, tmp_path, True) == 0  # type: ignore[arg-type]


def _describe(node: Any) -> tuple[Any, ...]:
    """What a user sees of a StoredNode: its fields, value summary and every relation."""

    def pks(nodes: list[Any]) -> list[int]:
        return [n.pk for n in nodes]

    def ends(links: list[tuple[str, str, Any]]) -> list[tuple[str, str, int]]:
        return [(kind, label, n.pk) for kind, label, n in links]

    relations = (
        ends(node.inputs),
        ends(node.outputs),
        node.creator and node.creator.pk,
        node.caller and node.caller.pk,
        pks(node.called),
        node.run and node.run.pk,
        pks(node.ancestors()),
        pks(node.descendants()),
        pks(node.ancestors(max_depth=1)),
        pks(node.descendants(LINK_TYPES, max_depth=2)),
    )
    summary = node.value_summary() if node.is_data else None
    shown = re.sub(r" at 0x[0-9a-f]+", "", repr(node))  # (an object's address)
    texts = (node.cached_from, node.user_label, node.description, node.output, shown)
    return (
        node.pk,
        node.uuid,
        node.kind,
        node.type,
        node.label,
        node.state,
        summary,
        relations,
        texts,
    )


def _public(
    path: Path,
    home: Path,
    pks: list[int],
    runs: list[int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, Any]:
    """The public readers' and the CLI's answers on a profile whose store is ``path``."""
    (home / "default").mkdir(parents=True)
    _copy(path, home / "default" / "provenance.sqlite")
    monkeypatch.setenv("FERROFLOW_HOME", str(home))
    monkeypatch.setattr(profile_module, "_profiles", {})
    monkeypatch.setattr(profile_module, "_current", None)
    store = load_profile().store
    found: dict[str, Any] = {f"node {pk}": _describe(store.load_node(pk)) for pk in pks}
    for pk in pks:
        found[f"uuid {pk}"] = store._reader.node_by_uuid(found[f"node {pk}"][1]).pk
    found["runs"] = [n.pk for n in query.find_runs(store)]
    for task_name in (None, "inc", "add"):
        for kind in (None, "calc", "data"):
            for state in (None, "FINISHED", "FAILED"):
                if task_name is not None and kind == "data":
                    continue  # (refused: data nodes have no task name)
                found[f"find {task_name} {kind} {state}"] = [
                    n.pk for n in query.find_nodes(store, task=task_name, kind=kind, state=state)
                ]
    for run in runs:
        found[f"counts {run}"] = query.task_counts(store, run=run)
        found[f"members {run}"] = members(store, run)
        found[f"links {run}"] = link_set(store, run)
        found[f"data {run}"] = [n.pk for n in query.find_nodes(store, kind="data", run=run)]
    capsys.readouterr()
    commands = [["runs", "list"], *(["runs", "show", str(run)] for run in runs)]
    commands += [["node", "show", str(pk)] for pk in pks]
    for args in commands:
        code = cli_main(args)
        out, err = capsys.readouterr()
        found[" ".join(args)] = (code, re.sub(r" at 0x[0-9a-f]+", "", out), err)
    profile_module.get_current_profile().close()
    return found


def test_public_readers_and_the_cli_answer_the_same(
    files: tuple[Path, Path, list[int]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """load_node and every StoredNode relation, uuid lookups, find_runs/find_nodes,
    task_counts, a run's members and links (tests/provenance_flows.py), and the text of
    ``runs list``, ``runs show`` and ``node show``: the same on both files."""
    original, packed, runs = files
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)  # "ago" columns
    pks = _pks(original)
    before = _public(original, tmp_path / "a", pks, runs, monkeypatch, capsys)
    after = _public(packed, tmp_path / "b", pks, runs, monkeypatch, capsys)
    assert "inc" in before[f"runs show {runs[2]}"][1]  # (the answers say something)
    assert "CREATE" in before[f"node show {pks[-1]}"][1] or before[f"node show {pks[-1]}"][1]
    assert before.keys() == after.keys()
    for key in before:
        assert after[key] == before[key], key


calls: dict[int, int] = {}


@task
def counted(x: int) -> int:
    calls[x] = calls.get(x, 0) + 1
    return x * 2


@task.graph
def Counted(n: int) -> int:
    value = n
    for _ in range(4):
        value = counted(x=value).result
    return value  # type: ignore[return-value]


def test_a_cached_run_reuses_packed_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run with caching on finds the originals of its keys among packed task runs (their
    ``hash``, the task_run_hash index): no task body runs again, the hits point at the
    packed originals and return their inline values."""
    profile = load_profile()
    first = Counted.build(1)
    first.run(cache=True)
    assert first.pk is not None and first.outputs.result.value == 16
    profile.store.flush()
    path = profile.store_path
    profile.close()
    derive_uuids(path, first.pk, any_time=True)  # (a cached run's outputs come later)
    assert pack_run(path, first.pk, any_time=True) == 4, describe_run(path, first.pk)
    monkeypatch.setattr(profile_module, "_profiles", {})
    monkeypatch.setattr(profile_module, "_current", None)
    calls.clear()
    second = Counted.build(1)
    second.run(cache=True)
    assert calls == {} and second.outputs.result.value == 16
    store = load_profile().store
    originals = {n.label: n.pk for n in query.find_nodes(store, kind="calc", run=first.pk)}
    hits = query.find_nodes(store, kind="calc", run=second.pk)
    assert len(hits) == 4
    with sqlite3.connect(path) as conn:
        packed_pks = {pk for (pk,) in conn.execute("SELECT pk FROM task_run")}
    assert {hit.cached_from for hit in hits} == set(originals.values()) == packed_pks


def test_point_reads_of_a_packed_store_search_indexes(
    files: tuple[Path, Path, list[int]],
) -> None:
    """Every statement a point read, walk or run census sends to a packed store searches an
    index (rowid, uuid, task_run_caller/task_run_run, input_ref's key): no ``SCAN task_run``,
    and no scan of ``node`` or ``link`` either."""
    _, packed, runs = files
    conn = sqlite3.connect(packed)
    seen: list[tuple[str, tuple[Any, ...]]] = []

    def query(sql: str, params: Any) -> list[Any]:
        seen.append((sql, tuple(params)))
        return conn.execute(sql, tuple(params)).fetchall()

    try:
        rows = packed_rows(conn)
        calc = rows[0][0]
        inline = calc + 1
        for pk in (calc, inline):
            graph_read.node_row(query, pk)
            graph_read.cache_fields(query, pk)
            graph_read.value_parts_of(query, pk)
            for incoming in (True, False):
                graph_read.neighbours(query, pk, incoming)
                graph_read.walk(query, pk, incoming, None, 3)
            digits = bytes(graph_read.node_row(query, pk)[1]).hex()  # type: ignore[index]
            for n in (32, 31, 12):
                graph_read.node_rows_by_uuid(query, digits[:n])
        graph_read.node_rows(query, [calc, inline, calc - 1])
        graph_read.links_touching(query, [calc, inline])
        for run in runs:
            graph_read.run_node_rows(query, run)
            graph_read.task_state_counts(query, run)
            graph_read.call_links_of_run(query, run)
            graph_read.keyless_finished_tasks(query, run)
            graph_read.captured_output_of_run(query, run)
        assert len(seen) > 30
        plans = {
            sql: " / ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            for sql, params in seen
        }
    finally:
        conn.close()
    scans = {
        sql: plan
        for sql, plan in plans.items()
        if any(step.startswith("SCAN ") for step in plan.split(" / "))
    }
    assert scans == {}
    assert any("task_run" in sql for sql in plans)


def packed_rows(conn: sqlite3.Connection) -> list[tuple[int, int]]:
    """``(pk, number of inline nodes)`` of the packed rows, by pk."""
    sql = "SELECT pk, json_array_length(nodes) FROM task_run ORDER BY pk"
    return [(pk, k) for pk, k in conn.execute(sql)]


#: the random DAG of the next ``Dag`` run: task i adds ``values[a]`` and ``values[b]`` (the
#: results of earlier tasks; a negative index: a constant of its own)
SPEC: list[tuple[int, int]] = []


@task.graph
def Dag(n: int) -> int:
    values: list[Any] = []
    for i, (a, b) in enumerate(SPEC):
        x = values[a] if a >= 0 else i
        y = values[b] if b >= 0 else n
        values.append(add(x=x, y=y).result)
    return values[-1]  # type: ignore[no-any-return]


@st.composite
def dags(draw: st.DrawFn) -> list[tuple[int, int]]:
    size = draw(st.integers(1, 8))
    return [(draw(st.integers(-1, i - 1)), draw(st.integers(-1, i - 1))) for i in range(size)]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=dags(), fail=st.booleans())
def test_random_dags_read_the_same_packed(
    spec: list[tuple[int, int]],
    fail: bool,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A random DAG of tasks (each adds two earlier results or constants), some outputs
    used by several tasks, some by none; with ``fail`` one more task fails on the last
    result: packed, every graph_read, graph_find and selection answer is the same."""
    home = tmp_path_factory.mktemp("dag")
    monkeypatch.setenv("FERROFLOW_HOME", str(home))
    monkeypatch.setattr(profile_module, "_profiles", {})
    monkeypatch.setattr(profile_module, "_current", None)
    SPEC[:] = spec
    profile = load_profile()
    try:
        runs = []
        wg = Dag.build(3)
        wg.run(raise_on_error=False)
        assert wg.pk is not None
        runs.append(wg.pk)
        if fail:
            failing = Scatter.build(2)
            failing.run(raise_on_error=False)
            assert failing.pk is not None
            runs.append(failing.pk)
        profile.store.flush()
        original, packed = home / "original.sqlite", home / "packed.sqlite"
        _copy(profile.store_path, original)
    finally:
        profile.close()
    for run in runs:
        derive_uuids(original, run)
    _copy(original, packed)
    assert sum(pack_run(packed, run) for run in runs) >= 1
    pks = _pks(original)
    with sqlite3.connect(original) as a, sqlite3.connect(packed) as b:
        assert census(conn_query(b), pks, runs) == census(conn_query(a), pks, runs)
        runs_all = [*runs, runs[0], runs[0]]
        assert find_census(conn_query(b), runs_all) == find_census(conn_query(a), runs_all)
    for run in runs:
        assert selection(packed, run) == selection(original, run)
    assert store_rules.violations(packed) == []


def _reimport(path: Path, runs: list[int], out: Path) -> list[Any]:
    """Each run's json export imported back into the store it came from (with ``trust``):
    every node is known, so nothing is created; then an import into a fresh store."""
    store = Store.open(path)
    found: list[Any] = []
    try:
        for run in runs:
            target = out / f"{run}.json"
            export_run(store, run, "json", target)
            result = import_run(store, target, trust=True)
            found.append((result.run_pk, result.created, result.skipped, result.links))
            found.append(sorted(result.pks.items()))
    finally:
        store.close()
    return found


def test_an_export_imported_back_finds_its_packed_nodes(
    files: tuple[Path, Path, list[int]], tmp_path: Path
) -> None:
    """An import looks its nodes up by uuid and its links by their ends: a node or link a
    packed row stands for is found (not stored twice), as in the node/link form."""
    original, packed, runs = files
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    before = _reimport(original, runs, tmp_path / "a")
    after = _reimport(packed, runs, tmp_path / "b")
    assert after == before
    assert all(created == 0 for _, created, _, _ in before[::2])
    assert store_rules.violations(packed) == []


def test_a_restart_reuses_the_packed_task_runs_that_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed run whose finished task runs are packed restarts as in node form: the
    restart keys them (keyless_finished_tasks, a packed row's hash) and reuses each, so only
    the failed tasks run again."""
    side = tmp_path / "side.txt"
    monkeypatch.setenv("FF_SIDE_FILE", str(side))
    monkeypatch.setenv("FF_FAIL", "3,11")
    profile = load_profile()
    wg = campaign.build(3, 5)
    wg.run(raise_on_error=False)
    assert wg.state == "FAILED" and wg.pk is not None
    profile.store.flush()
    path = profile.store_path
    profile.close()
    derive_uuids(path, wg.pk, any_time=True)
    assert pack_run(path, wg.pk, any_time=True) >= 10
    monkeypatch.setattr(profile_module, "_profiles", {})
    monkeypatch.setattr(profile_module, "_current", None)
    side.unlink()
    monkeypatch.setenv("FF_FAIL", "")
    again = WorkGraph.load(wg.pk)
    again.run()
    assert again.state == "FINISHED"
    assert len(again.cached_tasks) == 14  # 13 finished tasks and a shard's total
    assert sorted(int(x) for x in side.read_text().split()) == [3, 11]
    assert again.outputs.result.value == expected(3, 5)
    with sqlite3.connect(path) as conn:
        keyed = conn.execute("SELECT count(*) FROM task_run WHERE hash IS NOT NULL").fetchone()
    assert keyed[0] >= 10


def _written(
    monkeypatch: pytest.MonkeyPatch, home: Path, packed: str, pack_after: bool
) -> tuple[Path, list[int], Any]:
    """The chain (cache keys), the scatter (a failed task) and a cached re-run of the chain,
    run on a fresh profile in ``home`` with ``FERROFLOW_PACKED=packed``, their runs packed
    afterwards by the test packer if ``pack_after``: the store file, the run pks, and each
    run's provenance (pks described, ``run_provenance``) read back on a fresh profile."""
    monkeypatch.setenv("FERROFLOW_HOME", str(home))
    monkeypatch.setenv("FERROFLOW_PACKED", packed)
    monkeypatch.setattr(profile_module, "_profiles", {})
    monkeypatch.setattr(profile_module, "_current", None)
    profile = load_profile()
    runs = []
    for graph, arg, cache in ((Chain, 3, True), (Scatter, 4, False), (Chain, 3, True)):
        wg = graph.build(arg)
        wg.run(raise_on_error=False, cache=cache)
        assert wg.pk is not None
        runs.append(wg.pk)
    profile.store.flush()
    path = profile.store_path
    profile.close()
    if pack_after:
        for run in runs:
            derive_uuids(path, run)
        assert sum(pack_run(path, run) for run in runs) > 0
    monkeypatch.setattr(profile_module, "_profiles", {})
    monkeypatch.setattr(profile_module, "_current", None)
    described = [run_provenance(run) for run in runs]
    profile_module.get_current_profile().close()
    return path, runs, described


def _packed_rows(path: Path) -> Counter[tuple[Any, ...]]:
    """The packed rows of a file without their pks, uuids and times: name, type, state,
    whether keyed, how many inputs, and the inline nodes (link, label, type, codec, value;
    minified: the packer's ``json.dumps`` spaces its JSON, the writer's does not)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT label, type, state, hash IS NOT NULL, json_array_length(inputs), json(nodes)"
            " FROM task_run"
        ).fetchall()
    conn.close()
    return Counter(rows)


def test_a_run_the_writer_packed_reads_as_the_same_run_packed_by_the_test_packer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runs of :func:`files` written by the real writer with ``FERROFLOW_PACKED=1`` pass
    ``store_rules`` (both forms and the packed rows' own rules), hold the packed rows the test
    packer makes of the same runs written in the node form, and read back through the layer as
    those do: so what the tests above check on the packer's rows holds for the writer's."""
    by_writer, _, written = _written(monkeypatch, tmp_path / "writer", "1", pack_after=False)
    by_packer, _, repacked = _written(monkeypatch, tmp_path / "packer", "0", pack_after=True)
    assert store_rules.violations(by_writer) == []
    assert store_rules.violations(by_packer) == []
    rows = _packed_rows(by_writer)
    assert sum(rows.values()) >= 7  # the scatter's incs and adds, at least
    assert rows == _packed_rows(by_packer)
    assert written == repacked

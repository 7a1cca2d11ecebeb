"""The reading layer's point reads and walks (``store/graph_read.py``), on stores built by real
runs, each answer checked against the SQLite file read directly (an oracle independent of the
code under test: plain statements, and walks as a breadth-first search in Python). Step 2 of
``docs/packed-task-runs.md`` answers the same functions from packed rows too; these tests are
what it must keep passing."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from ferroflow import load_profile, task
from ferroflow.errors import AmbiguousNodeError, NodeNotFoundError
from ferroflow.model.vocabulary import KIND_CODES, STATE_CODES
from ferroflow.store import Store, graph_read
from ferroflow.store.graph_read import DATA_PROVENANCE, LINK_TYPES, NODE_ROW_COLUMNS, Link
from ferroflow.store.schema import LINK_CODES, LINK_NAMES
from provenance_flows import run_howto, run_mixed


@task
def shout(x: int) -> int:
    print(f"shout {x}")
    print(f"warn {x}", file=sys.stderr)
    return x * 10


@task
def quiet(x: int) -> int:
    return x + 1


@task.graph
def Chatty(n: int) -> int:
    return quiet(x=sum(shout(x=i).result for i in range(n))).result  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def node_form(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs here are written in the node form whatever ``FERROFLOW_PACKED`` says: each test
    checks the layer against the ``node``/``link`` tables read directly, the node form's SQL,
    which cannot see packed rows. The packed form is checked against this one, through the
    same functions, in ``test_packed_reads.py`` (and what the writer packs there too)."""
    monkeypatch.setenv("FERROFLOW_PACKED", "0")


@pytest.fixture
def store() -> Iterator[Store]:
    store = load_profile().store
    yield store


@pytest.fixture
def runs(store: Store) -> dict[str, int]:
    """A how-to run (scatter-gather, nested graphs), the mixed run (every codec, a failed
    task), and another how-to: a store with several runs sharing nothing."""
    found = {"howto": run_howto(4), "mixed": run_mixed(), "howto2": run_howto(2)}
    store.flush()
    return found


def raw(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    conn = sqlite3.connect(store.path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def raw_nodes(store: Store) -> dict[int, tuple[Any, ...]]:
    columns = ", ".join(NODE_ROW_COLUMNS)
    return {row[0]: tuple(row) for row in raw(store, f"SELECT {columns} FROM node")}


def raw_links(store: Store) -> list[Link]:
    rows = raw(store, "SELECT src, dst, type, label FROM link")
    return [Link(src, dst, LINK_NAMES[code], label) for src, dst, code, label in rows]


def bfs(
    links: list[Link], start: int, backwards: bool, types: tuple[str, ...], depth: int | None
) -> list[int]:
    """The pks ``depth`` links away from ``start`` at most (all when None), in a plain BFS."""
    step: dict[int, set[int]] = {}
    for link in links:
        if link.type in types:
            near, far = (link.dst, link.src) if backwards else (link.src, link.dst)
            step.setdefault(near, set()).add(far)
    seen: set[int] = set()
    frontier = {start}
    level = 0
    while frontier and (depth is None or level < depth):
        frontier = {far for near in frontier for far in step.get(near, ())} - seen
        seen |= frontier
        level += 1
    seen.discard(start)
    return sorted(seen)


def test_node_rows_by_pk_and_by_many_pks_in_chunks(store: Store, runs: dict[str, int]) -> None:
    every = raw_nodes(store)
    assert len(every) > 30
    query = store._reader.query
    for pk, row in every.items():
        assert graph_read.node_row(query, pk) == row
    assert graph_read.node_row(query, max(every) + 1) is None
    # 1,500 pks (three chunks of 500), every stored one among unknown ones, some twice
    wanted = [*range(-200, max(every) + 1300), *every]
    assert graph_read.node_rows(query, wanted) == every
    assert graph_read.node_rows(query, []) == {}


def test_node_by_uuid_whole_prefix_and_ambiguous(store: Store, runs: dict[str, int]) -> None:
    every = raw_nodes(store)
    query = store._reader.query
    hexes = {pk: bytes(row[1]).hex() for pk, row in every.items()}
    for pk, digits in hexes.items():
        assert graph_read.node_rows_by_uuid(query, digits) == [every[pk]]
    # the shortest prefix of each uuid that no other uuid shares finds it alone; one digit
    # shorter matches two (ambiguous), as the reader reports
    ordered = sorted(hexes.values())
    checked = 0
    for digits in ordered:
        others = [other for other in ordered if other != digits]
        length = 1 + max(len(_common(digits, other)) for other in others)
        pk = next(pk for pk, h in hexes.items() if h == digits)
        assert graph_read.node_rows_by_uuid(query, digits[:length]) == [every[pk]]
        shorter = graph_read.node_rows_by_uuid(query, digits[: length - 1])
        assert len(shorter) == 2
        if length > 1:
            with pytest.raises(AmbiguousNodeError):
                store._reader.node_by_uuid(digits[: length - 1])
            checked += 1
        assert store._reader.node_by_uuid(digits[:length]).pk == pk
    assert checked == len(ordered)
    # a prefix of f's has no upper bound (its end would be 2**128); a missing uuid finds none
    beyond = "f" * 31
    expected = [row for row in every.values() if bytes(row[1]).hex().startswith(beyond)]
    assert graph_read.node_rows_by_uuid(query, beyond) == expected
    missing = "0" * 32
    assert graph_read.node_rows_by_uuid(query, missing) == []
    with pytest.raises(NodeNotFoundError):
        store._reader.node_by_uuid(missing)


def _common(a: str, b: str) -> str:
    n = 0
    while n < len(a) and a[n] == b[n]:
        n += 1
    return a[:n]


def test_links_in_and_out_of_sets_by_type(store: Store, runs: dict[str, int]) -> None:
    links = raw_links(store)
    query = store._reader.query
    pks = sorted(raw_nodes(store))
    some = pks[::3]
    for types in (None, DATA_PROVENANCE, ("CALL_CALC", "CALL_WORK"), ("RETURN",), ()):
        chosen = LINK_TYPES if types is None else types
        for incoming in (True, False):
            found = graph_read.links(query, some, incoming, types)
            expected = [
                link
                for link in links
                if (link.dst if incoming else link.src) in some and link.type in chosen
            ]
            assert sorted(found) == sorted(expected)
            assert [(LINK_CODES[x.type], x.src, x.dst) for x in found] == sorted(
                (LINK_CODES[x.type], x.src, x.dst) for x in found
            )
    assert graph_read.links(query, some, True, ()) == []
    with pytest.raises(ValueError, match="unknown link type 'INPUT'"):
        graph_read.links(query, some, True, ("INPUT",))


def test_neighbours_carry_the_far_nodes_row(store: Store, runs: dict[str, int]) -> None:
    every = raw_nodes(store)
    links = raw_links(store)
    query = store._reader.query
    seen_types: set[str] = set()
    for pk in every:
        for incoming in (True, False):
            near = (lambda x: x.dst) if incoming else (lambda x: x.src)
            far = (lambda x: x.src) if incoming else (lambda x: x.dst)
            expected = sorted(
                (LINK_CODES[x.type], far(x), x.type, x.label) for x in links if near(x) == pk
            )
            found = graph_read.neighbours(query, pk, incoming)
            assert [(t, label, row) for t, label, row in found] == [
                (t, label, every[other]) for _, other, t, label in expected
            ]
            seen_types |= {t for t, _, _ in found}
            creates = graph_read.neighbours(query, pk, incoming, ("CREATE",))
            assert creates == [item for item in found if item[0] == "CREATE"]
    assert seen_types == set(LINK_TYPES)


def test_walks_by_depth_and_link_types(store: Store, runs: dict[str, int]) -> None:
    every = raw_nodes(store)
    links = raw_links(store)
    query = store._reader.query
    plans: list[tuple[str, ...] | None] = [None, ("CREATE",), ("INPUT_CALC",), LINK_TYPES]
    deep = 0
    for pk in every:
        for backwards in (True, False):
            for types in plans:
                chosen = DATA_PROVENANCE if types is None else types
                for depth in (None, 1, 2, 3):
                    expected = bfs(links, pk, backwards, chosen, depth)
                    found = graph_read.walk(query, pk, backwards, types, depth)
                    assert found == [every[other] for other in expected], (pk, types, depth)
                if backwards and types is None:
                    deep = max(deep, len(bfs(links, pk, True, chosen, None)))
            assert graph_read.walk(query, pk, backwards, None, 0) == []
    # the depth limit really cut a walk short: the node with the most ancestors has more
    # than those within two links
    deepest = max(every, key=lambda pk: len(bfs(links, pk, True, DATA_PROVENANCE, None)))
    assert deep == len(graph_read.walk(query, deepest, True)) > 4
    assert len(graph_read.walk(query, deepest, True, None, 2)) < deep


def test_value_parts_decode_to_each_stored_value(store: Store, runs: dict[str, int]) -> None:
    every = raw_nodes(store)
    query = store._reader.query
    data = [pk for pk, row in every.items() if row[2] == KIND_CODES["data"]]
    in_blob = [pk for pk in data if every[pk][NODE_ROW_COLUMNS.index("blob_id")] is not None]
    assert in_blob, "the mixed run stores values in the blob table"
    many = graph_read.value_parts(query, [*data, max(every) + 5])
    assert set(many) == set(data)
    decode = store._reader.decode_row
    expected = dict(
        raw(
            store,
            "SELECT n.pk, coalesce(n.value, b.data) FROM node n"
            " LEFT JOIN blob b ON b.id = n.blob_id WHERE n.kind = 0",
        )
    )
    for pk in data:
        parts = graph_read.value_parts_of(query, pk)
        assert parts == many[pk]
        assert parts is not None
        codec, inline, blob = parts
        assert (blob if inline is None else inline) == expected[pk]
        if codec not in ("pickle", "pickle-untrusted", "unserialisable"):
            assert repr(decode(*parts)) == repr(store.load_node(pk).value)
    assert graph_read.value_parts_of(query, max(every) + 5) is None


def test_cache_fields_of_a_hit_and_a_miss(store: Store) -> None:
    first = Chatty.build(2)
    first.run(cache=True)
    second = Chatty.build(2)
    second.run(cache=True)
    store.flush()
    query = store._reader.query
    rows = raw(
        store,
        "SELECT pk, hash, cached_from, run_pk FROM node WHERE kind = ?",
        (KIND_CODES["calc"],),
    )
    # every task of the second run reused one of the first's; none of the first's is a hit
    runs_of = {pk: run_pk for pk, _, _, run_pk in rows}
    hits = {pk: source for pk, _, source, _ in rows if source is not None}
    assert set(hits) == {pk for pk, run_pk in runs_of.items() if run_pk == second.pk}
    assert {runs_of[source] for source in hits.values()} == {first.pk}
    assert len(hits) >= 3
    for pk, key, source, _ in rows:
        assert graph_read.cache_fields(query, pk) == (bytes(key), source)
    work = raw(store, "SELECT pk FROM node WHERE kind = ?", (KIND_CODES["work"],))
    assert graph_read.cache_fields(query, work[0][0]) == (None, None)
    assert graph_read.cache_fields(query, 10**9) is None


def test_a_runs_processes(store: Store, runs: dict[str, int]) -> None:
    query = store._reader.query
    chatty = Chatty.build(3)
    chatty.run()
    store.flush()
    assert chatty.pk is not None
    for run_pk in (*runs.values(), chatty.pk):
        calcs = raw(
            store,
            "SELECT state, count(*) FROM node WHERE run_pk = ? AND kind = ? GROUP BY state",
            (run_pk, KIND_CODES["calc"]),
        )
        assert graph_read.task_state_counts(query, run_pk) == dict(calcs)
        keyless = raw(
            store,
            "SELECT n.pk, n.type, c.digest FROM node n JOIN code c"
            " ON c.run_pk = n.run_pk AND c.type = n.type WHERE n.run_pk = ? AND n.kind = ?"
            " AND n.state = ? AND n.hash IS NULL",
            (run_pk, KIND_CODES["calc"], STATE_CODES["FINISHED"]),
        )
        assert sorted(graph_read.keyless_finished_tasks(query, run_pk)) == sorted(keyless)
        calls = raw(
            store,
            "SELECT l.dst, l.src, n.label FROM link l JOIN node n ON n.pk = l.dst"
            " WHERE n.run_pk = ? AND l.type IN (?, ?)",
            (run_pk, LINK_CODES["CALL_CALC"], LINK_CODES["CALL_WORK"]),
        )
        assert sorted(graph_read.call_links_of_run(query, run_pk)) == sorted(calls)
    failed = graph_read.task_state_counts(query, runs["mixed"])
    assert failed.get(STATE_CODES["FAILED"], 0) >= 1 and failed[STATE_CODES["FINISHED"]] > 1
    assert len(graph_read.keyless_finished_tasks(query, runs["howto"])) == 4 + 2
    captured = graph_read.captured_output_of_run(query, chatty.pk)
    shouts = raw(
        store,
        "SELECT pk FROM node WHERE run_pk = ? AND type LIKE '%shout' ORDER BY ctime, pk",
        (chatty.pk,),
    )
    assert [pk for pk, _, _ in captured] == [pk for (pk,) in shouts]
    # tasks run side by side: which shout a task printed is its input, not its place in time
    shouted = sorted(text.split("shout ")[1].split()[0] for _, text, _ in captured)
    assert shouted == [str(i) for i in range(3)]
    assert graph_read.captured_output_of_run(query, runs["howto"]) == []


def test_top_level_runs_newest_first(store: Store, runs: dict[str, int]) -> None:
    rows = graph_read.top_level_runs(store._reader.query)
    assert [row[0] for row in rows] == [runs["howto2"], runs["mixed"], runs["howto"]]
    assert all(row == raw_nodes(store)[row[0]] for row in rows)


def test_a_runs_nodes_by_kind(store: Store, runs: dict[str, int]) -> None:
    query = store._reader.query
    every = raw_nodes(store)
    for run_pk in runs.values():
        mine = sorted(pk for pk, row in every.items() if row[7] == run_pk)
        assert len(mine) > 3
        assert graph_read.run_node_rows(query, run_pk) == [every[pk] for pk in mine]
        for kinds in (("calc",), ("work",), ("calc", "work"), ("data",)):
            codes = {KIND_CODES[kind] for kind in kinds}
            want = [every[pk] for pk in mine if every[pk][2] in codes]
            assert graph_read.run_node_rows(query, run_pk, kinds) == want, kinds
    # a run's data nodes carry no run: only its processes are recorded under it
    assert graph_read.run_node_rows(query, runs["howto"], ("data",)) == []
    assert graph_read.run_node_rows(query, max(every) + 1) == []


def test_links_touching_a_set_either_way(store: Store, runs: dict[str, int]) -> None:
    query = store._reader.query
    every = raw_links(store)
    for run_pk in runs.values():
        procs = [row[0] for row in graph_read.run_node_rows(query, run_pk)]
        want = sorted(
            {link for link in every if link.src in procs or link.dst in procs},
            key=lambda link: (link.src, link.dst, LINK_CODES[link.type], link.label),
        )
        got = graph_read.links_touching(query, procs)
        assert got == want and len(got) > len(procs)
        # a link between two of the set (a CALL) is there once
        assert len(got) == len(set(got))
        assert any(link.src in procs and link.dst in procs for link in got)
        calls = graph_read.links_touching(query, procs, ("CALL_CALC", "CALL_WORK"))
        assert calls == [link for link in want if link.type in ("CALL_CALC", "CALL_WORK")]
    # more pks than one chunk: every node of the store touches every link
    assert graph_read.links_touching(query, [*range(-600, 0), *raw_nodes(store)]) == sorted(
        every, key=lambda link: (link.src, link.dst, LINK_CODES[link.type], link.label)
    )
    assert graph_read.links_touching(query, []) == []


def test_counting_nodes_by_kind_state_run_and_label(store: Store, runs: dict[str, int]) -> None:
    query = store._reader.query
    every = raw_nodes(store)
    assert graph_read.count_nodes(query) == len(every) > 30
    finished = STATE_CODES["FINISHED"]
    for kind, code in KIND_CODES.items():
        want = sum(1 for row in every.values() if row[2] == code)
        assert graph_read.count_nodes(query, kinds=(kind,)) == want
    calc_finished = [row for row in every.values() if row[2] == 1 and row[5] == finished]
    assert graph_read.count_nodes(query, kinds=("calc",), states=(finished,)) == len(calc_finished)
    # LIKE, as SQLite matches it: % any run of characters, ASCII letters in any case
    squares = raw(store, "SELECT count(*) FROM node WHERE kind = 1 AND label LIKE 'SQUARE%'")
    assert squares[0][0] >= 6
    assert graph_read.count_nodes(query, kinds=("calc",), label_like="SQUARE%") == squares[0][0]
    assert graph_read.count_nodes(query, label_like="no such label") == 0
    for run_pk in runs.values():
        want = sum(1 for row in every.values() if row[7] == run_pk)
        assert graph_read.count_nodes(query, run_pk=run_pk) == want
        failed = sum(1 for row in every.values() if row[7] == run_pk and row[5] != finished)
        others = [code for code in STATE_CODES.values() if code != finished]
        assert graph_read.count_nodes(query, run_pk=run_pk, states=others) == failed
    assert graph_read.count_nodes(query, states=()) == 0  # no state admitted: nothing
    assert graph_read.last_node_pk(query) == max(every)


def test_the_last_pk_of_an_empty_store(tmp_path: Any) -> None:
    with Store.open(tmp_path / "empty.sqlite") as empty:
        assert graph_read.last_node_pk(empty._reader.query) is None
        assert graph_read.count_nodes(empty._reader.query) == 0

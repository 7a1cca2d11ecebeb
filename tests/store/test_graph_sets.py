"""The set-reading layer (``store/graph_sets.py``, ``store/graph_counts.py``): step 1 of
``docs/packed-task-runs.md`` for exports and pictures.

Its answers are checked against what the readers computed before they moved onto it (the old
joins over ``node`` and ``link``, and plain scans of both tables), on a store written by real
runs: the how-to (a nested graph) twice and ``Mixed`` (a failed task, values of every codec).
Its aggregates are checked with SQLite's ``EXPLAIN QUERY PLAN``: an index search for the pks or
the run asked about, never a scan of the store. And the six readers it serves must not name the
node and link tables themselves."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import ferroflow
import pytest
from ferroflow import load_profile
from ferroflow.export.selection import RunSelection
from ferroflow.store import Link, Store
from ferroflow.store.graph_counts import (
    call_counts,
    count_task_runs,
    link_counts,
    process_pks_in_states,
    process_state_counts,
    task_spans,
)
from ferroflow.store.graph_sets import (
    NODE_COLUMNS,
    calls_of_types,
    creators_of_returned,
    links_at,
    links_of,
    node_heads,
    node_rows,
    returned_makers,
    select_run,
    uuid_of,
)
from ferroflow.store.schema import (
    CALL_LINKS,
    INPUT_LINKS,
    KIND_NAMES,
    LINK_CODES,
    LINK_NAMES,
    OUTPUT_LINKS,
    RUN_INPUTS_SQL,
    RUN_OUTPUTS_SQL,
    state_name,
)
from provenance_flows import run_howto, run_mixed

PACKAGE = Path(ferroflow.__file__).parent
SET_READERS = (
    "export/selection.py",
    "export/rocrate_tools.py",
    "export/rocrate_metadata.py",
    "export/provjson.py",
    "export/view.py",
    "views/provenance_plan.py",
)
# ``FROM node``, ``JOIN link``, ...: the store's own tables. ``FROM sel_node`` does not match
# (no word boundary inside ``sel_node``), so the layer's temp tables are allowed.
STORE_TABLE = re.compile(r"\b(from|join)\s+(node|link)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, int]]]:
    """A store with the how-to of 12 numbers, Mixed (fails) and the how-to of 2: its file and
    the runs' pks by name (module scope: three runs, read by every test)."""
    home = tmp_path_factory.mktemp("graph_sets_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FERROFLOW_HOME", str(home))
        # the node form, whatever FERROFLOW_PACKED says: every test here compares the layer
        # with joins and scans of the node/link tables, or their query plans (the node form's
        # SQL); the packed form is compared with this one in test_packed_reads.py
        patch.setenv("FERROFLOW_PACKED", "0")
        patch.setattr(ferroflow.profile, "_profiles", {})
        patch.setattr(ferroflow.profile, "_current", None)
        store = load_profile().store
        pks = {"big": run_howto(12), "mixed": run_mixed(), "small": run_howto(2)}
        store.flush()
        yield store.path, pks
        for profile in list(ferroflow.profile._profiles.values()):
            profile.close()


@pytest.fixture
def conn(runs: tuple[Path, dict[str, int]]) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(runs[0].as_uri() + "?mode=ro", uri=True)
    yield db
    db.close()


def every_link(conn: sqlite3.Connection) -> list[Link]:
    rows = conn.execute("SELECT src, dst, type, label FROM link").fetchall()
    return [Link(src, dst, LINK_NAMES[code], label) for src, dst, code, label in rows]


def test_set_readers_name_neither_the_node_nor_the_link_table() -> None:
    for name in SET_READERS:
        text = (PACKAGE / name).read_text()
        assert not STORE_TABLE.findall(text), name
        assert "graph_sets" in text or "graph_counts" in text, name
    assert STORE_TABLE.search("SELECT pk FROM  Node WHERE")  # the pattern does catch one
    assert not STORE_TABLE.search("SELECT pk FROM sel_node CROSS JOIN sel_link")


@pytest.mark.parametrize("name", ["big", "mixed", "small"])
def test_selection_tables_hold_what_the_old_joins_read(
    runs: tuple[Path, dict[str, int]], conn: sqlite3.Connection, name: str
) -> None:
    run_pk = runs[1][name]
    conn.execute("CREATE TEMP TABLE ff_sel(pk INTEGER PRIMARY KEY)")  # the old selection
    conn.execute("INSERT INTO ff_sel SELECT pk FROM node WHERE run_pk = ?", (run_pk,))
    conn.execute(f"INSERT OR IGNORE INTO ff_sel {RUN_INPUTS_SQL}", (run_pk,))
    conn.execute(f"INSERT OR IGNORE INTO ff_sel {RUN_OUTPUTS_SQL}", (run_pk,))
    columns = ", ".join(f"n.{c}" for c in NODE_COLUMNS)
    old_nodes = conn.execute(
        f"SELECT {columns} FROM ff_sel s JOIN node n ON n.pk = s.pk ORDER BY n.pk"
    ).fetchall()
    old_links = conn.execute(
        "SELECT l.src, l.dst, l.type, l.label FROM link l"
        " WHERE l.src IN ff_sel AND l.dst IN ff_sel ORDER BY 1, 2, 3, 4"
    ).fetchall()

    select_run(conn, run_pk)
    nodes = conn.execute("SELECT * FROM sel_node ORDER BY pk").fetchall()
    links = conn.execute("SELECT * FROM sel_link ORDER BY 1, 2, 3, 4").fetchall()
    assert nodes == old_nodes
    assert links == old_links
    kinds = Counter(KIND_NAMES[row[2]] for row in nodes)
    assert kinds["data"] and kinds["calc"] and kinds["work"]
    if name == "mixed":  # the failed task and its error are members, typed as stored
        assert any(row[5] is not None and state_name(row[5]) == "FAILED" for row in nodes)
        value = NODE_COLUMNS.index("value")
        assert {type(row[value]) for row in nodes} >= {str, bytes}
    if name != "mixed":  # the how-to's nested graph: CALL_WORK inside the selection
        assert LINK_CODES["CALL_WORK"] in {row[2] for row in links}
    # links stream out of sel_link in the link table's own order (its primary key)
    for side, order in (("dst", "dst, type, label, src"), ("src", "src, type, dst, label")):
        old = conn.execute(
            f"SELECT l.src, l.dst FROM ff_sel a CROSS JOIN link l ON l.{side} = a.pk"
            f" WHERE l.src IN ff_sel AND l.dst IN ff_sel ORDER BY {order}"
        ).fetchall()
        new = conn.execute(
            f"SELECT l.src, l.dst FROM sel_node a CROSS JOIN sel_link l ON l.{side} = a.pk"
            " ORDER BY a.pk"
        ).fetchall()
        assert new == old


def test_node_reads_answer_as_the_node_table(conn: sqlite3.Connection) -> None:
    table = conn.execute(f"SELECT {', '.join(NODE_COLUMNS)} FROM node ORDER BY pk").fetchall()
    pks = [row[0] for row in table]
    assert node_rows(conn, [*pks[::-1], 10**9]) == table  # sorted, unknown left out
    assert uuid_of(conn, pks[3]) == bytes(table[3][1])
    assert uuid_of(conn, 10**9) is None
    heads = node_heads(conn, pks)
    assert heads == {
        row[0]: (row[3], KIND_NAMES[row[2]], None if row[5] is None else state_name(row[5]))
        for row in table
    }


def test_link_reads_answer_as_a_scan(
    runs: tuple[Path, dict[str, int]], conn: sqlite3.Connection
) -> None:
    links = every_link(conn)
    pks = sorted({link.src for link in links} | {link.dst for link in links})
    for side in ("src", "dst"):
        for types in (INPUT_LINKS, OUTPUT_LINKS, CALL_LINKS):
            want = [ln for ln in links if getattr(ln, side) in pks and ln.type in types]
            got = links_at(conn, side, pks, types)
            assert sorted(got) == sorted(want) and want
            ordered = links_at(conn, side, pks, types, ordered=True)
            assert [(getattr(ln, side), ln.label) for ln in ordered] == sorted(
                (getattr(ln, side), ln.label) for ln in want
            )
            assert len(links_at(conn, side, pks, types, limit=3)) == 3
    for run_pk in runs[1].values():
        calls = sorted(
            (ln for ln in links if ln.src == run_pk and ln.type in CALL_LINKS),
            key=lambda ln: ln.dst,
        )
        assert links_of(conn, "src", run_pk, CALL_LINKS, by="other", limit=2) == calls[:2]
        returned = sorted(
            (ln for ln in links if ln.src == run_pk and ln.type == "RETURN"),
            key=lambda ln: ln.label,
        )
        assert links_of(conn, "src", run_pk, ("RETURN",)) == returned and returned
        creators = {ln.src for r in returned for ln in links if ln.dst == r.dst}
        creators = {pk for pk in creators if any(ln.dst == pk for ln in links)}  # not the run
        makers = [ln for ln in links if ln.type in CALL_LINKS and ln.src == run_pk]
        assert set(creators_of_returned(conn, run_pk, 100)) == {
            ln.src for r in returned for ln in links if ln.dst == r.dst and ln.type == "CREATE"
        }
        assert set(returned_makers(conn, run_pk, 100)) == {
            m for m in makers if m.dst in set(creators_of_returned(conn, run_pk, 100))
        }
        types = sorted({node_heads(conn, [m.dst])[m.dst][0] for m in makers})
        chosen = calls_of_types(conn, run_pk, types[:1])
        assert {link for link, _ in chosen} == {
            m for m in makers if node_heads(conn, [m.dst])[m.dst][0] == types[0]
        }
        assert {kind for _, kind in chosen} <= {"calc", "work"} and chosen


def test_aggregates_equal_a_scans_counts(
    runs: tuple[Path, dict[str, int]], conn: sqlite3.Connection
) -> None:
    links = every_link(conn)
    nodes = {
        row[0]: row for row in conn.execute("SELECT pk, type, kind, state, run_pk, ctime FROM node")
    }
    callers = sorted({ln.src for ln in links if ln.type in CALL_LINKS})
    scan: Counter[tuple[Any, ...]] = Counter()
    for ln in links:
        if ln.type in CALL_LINKS:
            _, type_, kind, state, _, _ = nodes[ln.dst]
            scan[
                (ln.src, type_, KIND_NAMES[kind], None if state is None else state_name(state))
            ] += 1
    got = call_counts(conn, callers)
    assert {row[:4]: row[4] for row in got} == dict(scan)
    for side in ("src", "dst"):
        for types in (INPUT_LINKS, OUTPUT_LINKS):
            want = Counter(getattr(ln, side) for ln in links if ln.type in types)
            counted = link_counts(conn, side, sorted(nodes), types)
            assert dict(counted) == dict(want)
            assert [pk for pk, _ in counted] == sorted(want)  # in pk order
    for name, run_pk in runs[1].items():
        processes = [n for n in nodes.values() if n[4] == run_pk and n[2] != 0 and n[0] != run_pk]
        states = Counter(None if n[3] is None else state_name(n[3]) for n in processes)
        assert dict(process_state_counts(conn, run_pk)) == dict(states)
        failed = sorted(
            n[0] for n in processes if n[3] is not None and state_name(n[3]) == "FAILED"
        )
        assert process_pks_in_states(conn, run_pk, ("FAILED", "KILLED"), run_pk, 10) == failed
        assert bool(failed) == (name == "mixed")
        calcs = sorted((n[5], n[0]) for n in nodes.values() if n[4] == run_pk and n[2] == 1)
        assert count_task_runs(conn, run_pk) == len(calcs)
        assert [span[0] for span in task_spans(conn, run_pk, 1, "FAILED")] == [
            pk for _, pk in calcs
        ]
        every_other = {pk for i, (_, pk) in enumerate(calcs) if i % 2 == 0} | set(failed)
        assert {span[0] for span in task_spans(conn, run_pk, 2, "FAILED")} == every_other


class Recording:
    """A connection that remembers each statement, to explain it afterwards."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.seen: list[tuple[str, tuple[Any, ...]]] = []

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        self.seen.append((sql, tuple(params)))
        return self.conn.execute(sql, params)


def test_counts_and_walks_search_indexes_for_a_small_run_in_a_bigger_store(
    runs: tuple[Path, dict[str, int]], conn: sqlite3.Connection
) -> None:
    run_pk = runs[1]["small"]
    recording = Recording(conn)
    db = cast(sqlite3.Connection, recording)
    graphs = [run_pk, *(ln.dst for ln in links_of(conn, "src", run_pk, ("CALL_WORK",)))]
    tasks = [ln.dst for ln in links_at(conn, "src", graphs, CALL_LINKS)]
    expected = {
        "process_pks_in_states": ("node_unfinished",),
        "process_state_counts": ("node_run",),
        "call_counts": ("link_src",),
        "link_counts": ("link_src", "PRIMARY KEY"),
        "count_task_runs": ("node_run",),
        "task_spans": ("node_run",),
        "links_at": ("link_src", "PRIMARY KEY"),
        "links_of": ("link_src",),
        "calls_of_types": ("link_src",),
        "creators_of_returned": ("link_src", "PRIMARY KEY"),
        "returned_makers": ("link_src", "PRIMARY KEY"),
        "node_heads": ("INTEGER PRIMARY KEY",),
    }
    plans: dict[str, list[str]] = {}
    for name, call in (
        ("process_pks_in_states", lambda: process_pks_in_states(db, run_pk, ("FAILED",), 0, 5)),
        ("process_state_counts", lambda: process_state_counts(db, run_pk)),
        ("call_counts", lambda: call_counts(db, graphs)),
        (
            "link_counts",
            lambda: (
                link_counts(db, "src", tasks, OUTPUT_LINKS),
                link_counts(db, "dst", tasks, INPUT_LINKS),
            ),
        ),
        ("count_task_runs", lambda: count_task_runs(db, run_pk)),
        ("task_spans", lambda: task_spans(db, run_pk, 2, "FAILED")),
        (
            "links_at",
            lambda: (
                links_at(db, "src", tasks, OUTPUT_LINKS),
                links_at(db, "dst", tasks, CALL_LINKS),
            ),
        ),
        ("links_of", lambda: links_of(db, "src", run_pk, CALL_LINKS, by="other", limit=3)),
        ("calls_of_types", lambda: calls_of_types(db, run_pk, ["x", "y"])),
        ("creators_of_returned", lambda: creators_of_returned(db, run_pk, 5)),
        ("returned_makers", lambda: returned_makers(db, run_pk, 5)),
        ("node_heads", lambda: node_heads(db, tasks)),
    ):
        recording.seen.clear()
        call()
        assert recording.seen, name
        plans[name] = [
            " / ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            for sql, params in recording.seen
        ]
    for name, texts in plans.items():
        for text in texts:
            for step in text.split(" / "):  # no step reads a whole table
                assert not step.startswith("SCAN ") or step.startswith(
                    ("SCAN (subquery", "SCAN CONSTANT")
                ), (name, text)
        joined = " ".join(texts)
        for index in expected[name]:
            assert index in joined, (name, joined)


def test_an_export_fills_its_member_tables_once_at_its_first_stream_and_in_a_file(
    runs: tuple[Path, dict[str, int]],
) -> None:
    store = Store.open(runs[0])
    try:
        with RunSelection(store, runs[1]["mixed"]) as sel:
            tables = "SELECT name FROM sqlite_temp_master WHERE type = 'table' ORDER BY name"
            assert sel.conn.execute(tables).fetchall() == []  # a page by pk pays nothing
            assert sel.conn.execute("PRAGMA temp_store").fetchone()[0] == 1  # FILE, not MEMORY
            first = [node.pk for node in sel.nodes()]
            assert sel.conn.execute(tables).fetchall() == [("sel_link",), ("sel_node",)]
            assert [node.pk for node in sel.nodes()] == first  # filled once, read twice
            assert first == sorted(first) and runs[1]["mixed"] in first
    finally:
        store.close()

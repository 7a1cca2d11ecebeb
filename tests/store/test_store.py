"""Tests of the provenance store: values, batching, pks, links, traversal, errors."""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ferroflow.model.data import DataNode, new_uuid
from ferroflow.store import (
    LINK_TYPES,
    AmbiguousNodeError,
    NodeNotFoundError,
    SchemaVersionError,
    Store,
    StoreClosedError,
    StoredNode,
    StoreWriteError,
    UnserialisableValue,
    graph_read,
    schema,
)
from ferroflow.store import store as store_module
from ferroflow.store.schema import state_name
from ferroflow.store.values import INLINE_LIMIT, decode, encode
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_query import file_query

# Every test here runs once per committer (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("writer")


class Point:
    """A custom class: stored with the pickle codec."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    __hash__ = None  # type: ignore[assignment]


@pytest.fixture
def store(tmp_path: Path, writer: str) -> Any:
    s = Store.open(tmp_path / "prov.sqlite", commit_interval=0.05)
    assert s._writer.committer == writer
    yield s
    s.close()


def process(store: Store, kind: str, label: str, run_pk: int | None = None) -> int:
    pk = store.new_pk()
    store.record_process(
        pk, new_uuid(), kind, label, f"tests.{label}", "RUNNING", time.time(), run_pk
    )
    return pk


def data(store: Store, value: Any) -> int:
    return store.record_data(DataNode(value))


def same(a: Any, b: Any) -> bool:
    """Structural equality that also checks exact types and treats nan as equal to nan."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# -- values ---------------------------------------------------------------------------------

PLAIN_VALUES = [
    None,
    True,
    False,
    0,
    -7,
    2**100,
    1.5,
    -0.0,
    float("inf"),
    float("-inf"),
    float("nan"),
    "",
    "héllo ✓",
    "lone surrogate \ud800",
    [1, 2.5, "x", None],
    (1, 2),
    (),
    [(1, 2), [3, (4,)]],
    {"a": 1, "b": [1, {"c": (2, 3)}]},
    {1: "int key", (2, 3): "tuple key", None: 0},
    {"__ff__": "tuple", "items": [1]},  # looks like our tag, must stay a dict
    {1, 2, 3},
    frozenset({"a", (1, 2)}),
]


@pytest.mark.parametrize("value", PLAIN_VALUES, ids=repr)
def test_plain_values_round_trip_as_json(value: Any) -> None:
    encoded = encode(value)
    assert encoded.codec == "json"
    assert same(decode(encoded.codec, encoded.payload), value)


ARRAYS = [
    np.arange(12, dtype=np.float64).reshape(3, 4),
    np.array([1, -2, 3], dtype=np.int8),
    np.array(3.25),  # 0-d
    np.array([True, False]),
    np.array([1 + 2j, 3 - 4j], dtype=np.complex64),
    np.zeros((0, 3), dtype=np.uint16),
    np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
    np.array(["ab", "cde"]),
    np.array(["2024-01-01", "2025-06-30"], dtype="datetime64[D]"),
    np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "<i4"), ("b", ">f8")]),
]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype}{a.shape}")
def test_arrays_round_trip_exactly(array: np.ndarray) -> None:
    encoded = encode(array)
    assert encoded.codec == "npy" and encoded.blob
    back = decode(encoded.codec, encoded.payload)
    assert type(back) is np.ndarray
    assert back.dtype == array.dtype
    assert back.shape == array.shape
    assert back.tobytes(order="A") == array.tobytes(order="A")
    assert back.flags.f_contiguous == array.flags.f_contiguous


def test_codec_choice_for_other_values() -> None:
    assert encode(b"\x00\x01").codec == "bytes"
    assert encode(Point(1, 2)).codec == "pickle"
    assert encode(np.float64(1.5)).codec == "pickle"  # float subclass: keep its type
    assert encode(np.array([1, "x"], dtype=object)).codec == "pickle"
    assert encode(10**5000).codec == "pickle"  # beyond int -> str conversion limit
    assert encode(lambda: 1).codec == "unserialisable"
    big = list(range(2000))
    assert encode(big).blob and len(encode(big).payload) > INLINE_LIMIT


json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10)
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=5), children, max_size=4)
        | st.dictionaries(st.integers() | st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_json_codec_round_trips_types_exactly(value: Any) -> None:
    encoded = encode(value)
    assert encoded.codec == "json"
    assert same(decode(encoded.codec, encoded.payload), value)


def test_values_round_trip_through_the_store(tmp_path: Path) -> None:
    values: list[Any] = [
        *PLAIN_VALUES,
        *ARRAYS,
        b"raw bytes",
        Point(3, 4),
        np.float32(2.5),
        list(range(3000)),  # large JSON -> blob
    ]
    path = tmp_path / "prov.sqlite"
    with Store.open(path) as store:
        pks = [store.record_data(DataNode(v)) for v in values]
    with Store.open(path) as store:  # a fresh process-level instance reads from disk
        for pk, value in zip(pks, values, strict=True):
            back = store.load_node(pk).value
            if isinstance(value, np.ndarray):
                assert back.dtype == value.dtype and back.shape == value.shape
                assert back.tobytes(order="A") == value.tobytes(order="A")
            elif isinstance(value, np.generic):
                assert type(back) is type(value) and back == value
            else:
                assert same(back, value), (value, back)


def test_unserialisable_value_is_kept_as_repr_and_writer_survives(store: Store) -> None:
    class Local:  # local classes cannot be pickled
        def __repr__(self) -> str:
            return "<Local thing>"

    bad = data(store, Local())
    good = data(store, 42)
    store.flush()  # no StoreWriteError: an unserialisable value is not a write failure
    node = store.load_node(bad)
    assert node.codec == "unserialisable"
    assert isinstance(node.value, UnserialisableValue)
    assert node.value.repr == "<Local thing>"
    assert "Local" in node.value.type
    assert "pickle" in node.value.error.lower() or "local" in node.value.error.lower()
    assert node.unserialisable == node.value
    assert store.load_node(good).value == 42


def test_identical_arrays_share_one_blob(store: Store) -> None:
    a = np.arange(1000, dtype=np.float64)
    first = data(store, a)
    second = data(store, a.copy())
    data(store, a.tobytes())  # same bytes, other codec: its own blob
    data(store, np.arange(1000, dtype=np.float32))
    store.flush()
    assert count(store.path, "blob") == 3
    nodes = store.load_nodes([first, second])
    assert nodes[first].blob_id == nodes[second].blob_id is not None
    np.testing.assert_array_equal(nodes[second].value, a)
    data(store, a.copy())  # a later batch dedups against the table too
    store.flush()
    assert count(store.path, "blob") == 3


# -- batching, flush, pks -----------------------------------------------------------------


def test_rows_are_batched_until_flush(tmp_path: Path) -> None:
    path = tmp_path / "prov.sqlite"
    with Store.open(path, commit_interval=60) as store:
        pk = data(store, 1)
        run = process(store, "work", "wg")
        store.record_link(pk, run, "INPUT_WORK", "x")
        assert count(path, "node") == 0  # the writer sleeps for 60 s: nothing written yet
        store.flush()
        assert count(path, "node") == 2  # a second connection sees the committed rows
        assert count(path, "link") == 1


def test_commit_interval_writes_without_flush(tmp_path: Path) -> None:
    path = tmp_path / "prov.sqlite"
    with Store.open(path, commit_interval=0.01) as store:
        data(store, 1)
        deadline = time.monotonic() + 5
        while count(path, "node") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert count(path, "node") == 1


def test_reads_see_pending_writes(tmp_path: Path) -> None:
    with Store.open(tmp_path / "prov.sqlite", commit_interval=60) as store:
        node = DataNode("fresh")
        store.record_data(node)
        assert store.load_node(node.uuid).value == "fresh"


def test_pks_unique_and_increasing_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "prov.sqlite"
    with Store.open(path) as store:
        first = [data(store, i) for i in range(5)]
    with Store.open(path) as store:
        second = [data(store, i) for i in range(5)]
        assert store.new_pk() > second[-1]
    assert first == sorted(first) and second == sorted(second)
    assert min(second) > max(first)
    assert len(set(first + second)) == 10
    assert count(path, "node") == 10


def test_record_data_is_idempotent(store: Store) -> None:
    node = DataNode(5)
    pk = store.record_data(node)
    assert node.pk == pk
    assert store.record_data(node) == pk
    store.flush()
    assert count(store.path, "node") == 1


def test_concurrent_recording_and_flushing(store: Store) -> None:
    per_thread = 500
    results: list[list[int]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(per_thread):
                results[i].append(store.record_data(DataNode((i, j))))
                if j % 100 == 0:
                    store.flush()
            store.flush()
            # everything this thread recorded is committed once its flush returns
            with file_query(store.path) as query:
                n = len(graph_read.node_rows(query, results[i]))
            assert n == per_thread
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    pks = [pk for chunk in results for pk in chunk]
    assert len(set(pks)) == 4 * per_thread
    assert all(chunk == sorted(chunk) for chunk in results)
    assert count(store.path, "node") == 4 * per_thread
    assert store.load_node(results[2][7]).value == (2, 7)


def test_open_reuses_the_open_instance(tmp_path: Path) -> None:
    path = tmp_path / "prov.sqlite"
    store = Store.open(path)
    try:
        assert Store.open(str(path)) is store
    finally:
        store.close()
    again = Store.open(path)
    try:
        assert again is not store and not again.closed
    finally:
        again.close()


def test_close_is_idempotent_and_blocks_recording(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "prov.sqlite")
    data(store, 1)
    store.close()
    store.close()
    assert store.closed
    assert count(store.path, "node") == 1
    node = DataNode(2)
    with pytest.raises(StoreClosedError):
        store.record_data(node)
    assert node.pk is None
    with pytest.raises(StoreClosedError):
        store.load_node(1)


def test_atexit_flushes_an_unclosed_store(tmp_path: Path) -> None:
    path = tmp_path / "prov.sqlite"
    code = (
        "from ferroflow.store import Store\n"
        "from ferroflow.model.data import DataNode\n"
        f"s = Store.open({str(path)!r}, commit_interval=60)\n"
        "print(s.record_data(DataNode('bye')))\n"
    )
    # The subprocess imports ferroflow the way the tests do (the installed package).
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with Store.open(path) as store:
        assert store.load_node(int(out.stdout)).value == "bye"


# -- sqlite file -------------------------------------------------------------------------------


def test_file_is_wal_with_schema_version(store: Store) -> None:
    store.flush()
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
            "2",
        )
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"node", "link", "blob", "meta"} <= tables


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "prov.sqlite"
    Store.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionError):
        Store.open(path)


def test_version_1_file_is_migrated_and_then_refused_by_version_1(tmp_path: Path) -> None:
    """A version-1 file (no packed tables, the views of version 1) opens: it gets the empty
    tables and version 2, reads as before, and an older ferroflow (which reads only version
    1) would now refuse it, because it could not see packed task runs."""
    path = tmp_path / "prov.sqlite"
    store = Store.open(path)
    pk = store.record_data(DataNode(5))
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE task_run")
        conn.execute("DROP TABLE input_ref")
        conn.execute("DROP VIEW node_view")
        conn.execute("CREATE VIEW node_view AS SELECT pk, 'KILLED' AS state FROM node")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    store = Store.open(path)
    assert store.load_node(pk).value == 5
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
            "2",
        )
        assert conn.execute("SELECT count(*) FROM task_run").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM input_ref").fetchone() == (0,)
        view = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'node_view'").fetchone()
        assert "task_run" in view[0]
        assert conn.execute("SELECT kind FROM node_view WHERE pk = ?", (pk,)).fetchone() == (
            "data",
        )


def test_pk_reservation_counts_packed_rows(tmp_path: Path) -> None:
    """A packed row's last inline pk is taken: a reservation never hands it out again, even
    when the counter lags behind (a file written by a packing writer that crashed)."""
    path = tmp_path / "prov.sqlite"
    Store.open(path).close()
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute(
            "INSERT INTO task_run VALUES (100, ?, 1, 1, 't', 'm.t', 1, 0.0, 0.0, NULL, '[]',"
            ' \'[[2, "result", "int", "json", "1"], [2, "b", "int", "json", "2"]]\')',
            (bytes(16),),
        )
        conn.execute("UPDATE meta SET value = '5' WHERE key = 'next_pk'")
        assert schema.last_pk(conn) == 102
        assert schema.reserve_pks(conn, 3) == 103
        # the shell's views show the row as its three nodes and three links
        nodes = conn.execute("SELECT pk, uuid, kind, json_value FROM node_view").fetchall()
        zero = "00000000-0000-0000-0000-0000000000"
        assert nodes == [
            (100, zero + "00", "calc", None),
            (101, zero + "01", "data", "1"),
            (102, zero + "02", "data", "2"),
        ]
        assert sorted(conn.execute("SELECT * FROM link_view").fetchall()) == [
            (1, 100, "CALL_CALC", "t"),
            (100, 101, "CREATE", "result"),
            (100, 102, "CREATE", "b"),
        ]


def test_bad_arguments_are_rejected(tmp_path: Path, store: Store) -> None:
    with pytest.raises(ValueError, match="durability"):
        Store.open(tmp_path / "other.sqlite", durability="fast")
    with pytest.raises(ValueError, match="commit_interval"):
        Store.open(tmp_path / "third.sqlite", commit_interval=0)
    with pytest.raises(ValueError, match="state"):
        store.record_process(1, new_uuid(), "calc", "t", "t", "DONE", 0.0, None)
    with pytest.raises(ValueError, match="kind"):
        store.record_process(1, new_uuid(), "data", "t", "t", "RUNNING", 0.0, None)
    with pytest.raises(ValueError, match="link type"):
        store.record_link(1, 2, "INPUT", "x")
    with pytest.raises(ValueError, match="state"):
        store.update_process(1, "finished", 0.0)
    store.flush()
    assert count(store.path, "node") == 0


def test_durability_full_opens(tmp_path: Path) -> None:
    with Store.open(tmp_path / "prov.sqlite", durability="full") as store:
        assert store.durability == "full"
        assert store.load_node(data(store, 1)).value == 1


def test_write_errors_are_reported_and_good_rows_kept(store: Store) -> None:
    pk = process(store, "calc", "dup")
    store.flush()
    store.record_process(pk, new_uuid(), "calc", "dup", "t.dup", "RUNNING", 0.0, None)  # same pk
    good = data(store, "kept")
    assert store.load_node(good).value == "kept"  # reads do not consume the error...
    with pytest.raises(StoreWriteError, match=f"pk={pk}") as info:  # ...flush reports it
        store.flush()
    assert isinstance(info.value.__cause__, sqlite3.IntegrityError)
    assert store.load_node(good).value == "kept"  # the rest of the batch was written
    store.flush()  # reported once
    store.record_process(pk, new_uuid(), "calc", "dup", "t.dup", "RUNNING", 0.0, None)
    with pytest.raises(StoreWriteError):
        store.close()  # close reports what flush did not


def test_invalid_uuid_fails_only_its_row(store: Store) -> None:
    bad = DataNode(1, uuid="not-a-uuid")
    store.record_data(bad)
    good = data(store, 2)
    with pytest.raises(StoreWriteError, match="data node"):
        store.flush()
    assert store.load_node(good).value == 2
    with pytest.raises(NodeNotFoundError):
        store.load_node(bad.pk)  # type: ignore[arg-type]


# -- reading -----------------------------------------------------------------------------------


@pytest.fixture
def graph(store: Store) -> dict[str, int]:
    """run(work) calls c1 and c2: x -> c1 -> y -> c2 -> z; run returns z; x is run's input."""
    ids: dict[str, int] = {}
    ids["run"] = process(store, "work", "wg")
    ids["x"] = data(store, 3)
    store.record_link(ids["x"], ids["run"], "INPUT_WORK", "x")
    ids["c1"] = process(store, "calc", "square", ids["run"])
    store.record_link(ids["run"], ids["c1"], "CALL_CALC", "square")
    store.record_link(ids["x"], ids["c1"], "INPUT_CALC", "x")
    ids["y"] = data(store, 9)
    store.record_link(ids["c1"], ids["y"], "CREATE", "result")
    store.update_process(ids["c1"], "FINISHED", time.time())
    ids["c2"] = process(store, "calc", "add_one", ids["run"])
    store.record_link(ids["run"], ids["c2"], "CALL_CALC", "add_one")
    store.record_link(ids["y"], ids["c2"], "INPUT_CALC", "a")
    ids["z"] = data(store, 10)
    store.record_link(ids["c2"], ids["z"], "CREATE", "result")
    store.update_process(ids["c2"], "FAILED", time.time(), error="ValueError: boom")
    store.record_link(ids["run"], ids["z"], "RETURN", "result")
    store.update_process(ids["run"], "FINISHED", time.time())
    return ids


def test_node_fields(store: Store, graph: dict[str, int]) -> None:
    run = store.load_node(graph["run"])
    assert (run.kind, run.label, run.state, run.process_type) == (
        "work",
        "wg",
        "FINISHED",
        "tests.wg",
    )
    assert run.run_pk == run.pk and run.value is None and run.mtime is not None
    c2 = store.load_node(graph["c2"])
    assert (c2.kind, c2.state, c2.error, c2.run_pk) == (
        "calc",
        "FAILED",
        "ValueError: boom",
        run.pk,
    )
    assert c2.run == run
    z = store.load_node(graph["z"])
    assert (z.kind, z.type, z.value, z.process_type, z.state) == ("data", "int", 10, None, None)
    assert z.ctime <= time.time()


def test_reprs(store: Store, graph: dict[str, int]) -> None:
    x = store.load_node(graph["x"])
    assert repr(x) == f"uuid: {x.uuid} (pk: {x.pk}) value: 3"
    assert (
        repr(store.load_node(graph["c1"]))
        == f"<TaskRun pk={graph['c1']} label='square' state=FINISHED>"
    )
    assert (
        repr(store.load_node(graph["run"]))
        == f"<GraphRun pk={graph['run']} label='wg' state=FINISHED>"
    )


def test_stored_node_is_read_only(store: Store, graph: dict[str, int]) -> None:
    node = store.load_node(graph["x"])
    with pytest.raises(AttributeError):
        node.label = "changed"  # type: ignore[misc]


def test_links_inputs_outputs_creator_caller(store: Store, graph: dict[str, int]) -> None:
    g = graph
    c1 = store.load_node(g["c1"])
    assert [(t, lbl, n.pk) for t, lbl, n in c1.inputs] == [
        ("INPUT_CALC", "x", g["x"]),
        ("CALL_CALC", "square", g["run"]),
    ]
    assert [(t, lbl, n.pk) for t, lbl, n in c1.outputs] == [("CREATE", "result", g["y"])]
    assert c1.caller == store.load_node(g["run"])
    assert store.load_node(g["y"]).creator == c1
    assert store.load_node(g["x"]).creator is None
    assert store.load_node(g["run"]).caller is None
    assert [n.pk for n in store.load_node(g["run"]).called] == [g["c1"], g["c2"]]
    z_inputs = store.load_node(g["z"]).inputs
    assert {(t, n.pk) for t, _, n in z_inputs} == {("CREATE", g["c2"]), ("RETURN", g["run"])}
    assert set(store.outgoing([g["run"]], ["RETURN"])) == {(g["run"], g["z"], "RETURN", "result")}
    assert len(store.incoming([g["c1"], g["c2"]], ["INPUT_CALC"])) == 2


def test_ancestors_and_descendants(store: Store, graph: dict[str, int]) -> None:
    g = graph
    z = store.load_node(g["z"])
    assert [n.pk for n in z.ancestors()] == [g["x"], g["c1"], g["y"], g["c2"]]
    assert [n.pk for n in z.ancestors(max_depth=2)] == [g["y"], g["c2"]]
    assert z.ancestors(max_depth=0) == []
    x = store.load_node(g["x"])
    assert [n.pk for n in x.descendants()] == [g["c1"], g["y"], g["c2"], g["z"]]
    # data plane only by default: the graph run is not a descendant of its input...
    assert g["run"] not in {n.pk for n in x.descendants()}
    # ...but it is when every link type is followed (the logical plane has a cycle: run->z
    # RETURN, and run <- x INPUT_WORK; the walk must still terminate)
    everything = {n.pk for n in x.descendants(link_types=LINK_TYPES)}
    assert everything == {g["run"], g["c1"], g["y"], g["c2"], g["z"]}
    assert {n.pk for n in store.load_node(g["run"]).descendants(link_types=["CALL_CALC"])} == {
        g["c1"],
        g["c2"],
    }
    with pytest.raises(ValueError, match="link type"):
        z.ancestors(link_types=["PARENT"])


def test_runs_newest_first(store: Store, graph: dict[str, int]) -> None:
    time.sleep(0.002)
    later = process(store, "work", "second")
    runs = store.runs()
    assert [r.pk for r in runs] == [later, graph["run"]]
    assert all(isinstance(r, StoredNode) and r.kind == "work" for r in runs)


def test_load_by_uuid_and_not_found(store: Store, graph: dict[str, int]) -> None:
    x = store.load_node(graph["x"])
    assert store.load_node(x.uuid) == x
    assert store.load_node(x.uuid.replace("-", "").upper()) == x
    assert store.load_node(x.uuid.replace("-", "")[:24]) == x  # a unique prefix
    with pytest.raises(AmbiguousNodeError):
        store.load_node(x.uuid[:4])  # time-ordered uuids share their leading digits
    with pytest.raises(NodeNotFoundError) as info:
        store.load_node(10_000)
    assert isinstance(info.value, KeyError)
    assert "10000" in str(info.value)
    with pytest.raises(KeyError):
        store.load_node(new_uuid())
    with pytest.raises(KeyError):
        store.load_node("not a uuid")
    with pytest.raises(TypeError):
        store.load_node(True)
    assert store.load_node(np.int64(graph["x"])) == x


def test_value_summary_reads_only_headers(store: Store) -> None:
    big = data(store, np.zeros((300, 400), dtype=np.float32))
    raw = data(store, b"x" * 10)
    text = data(store, "a" * 100)
    assert store.load_node(big).value_summary() == "ndarray float32 (300, 400)"
    assert store.load_node(raw).value_summary() == "bytes[10]"
    summary = store.load_node(text).value_summary(limit=10)
    assert len(summary) == 10 and summary.endswith("…")


def test_state_updates_in_the_same_and_later_batches(tmp_path: Path) -> None:
    with Store.open(tmp_path / "prov.sqlite", commit_interval=60) as store:
        pk = process(store, "calc", "t")
        store.update_process(pk, "FINISHED", 1.0)
        store.update_process(pk, "FAILED", 2.0, error="boom")  # last one wins
        node = store.load_node(pk)
        assert (node.state, node.mtime, node.error) == ("FAILED", 2.0, "boom")
        store.update_process(pk, "CANCELLED", 3.0)  # a later batch: a real UPDATE
        node = store.load_node(pk)
        assert (node.state, node.mtime, node.error) == ("CANCELLED", 3.0, None)


def test_path_with_uri_characters(tmp_path: Path) -> None:
    path = tmp_path / "dir with space#and?odd%chars" / "prov.sqlite"
    with Store.open(path) as store:
        assert store.load_node(data(store, "ok")).value == "ok"
    assert path.exists()


def test_forked_child_cannot_use_the_parents_store(store: Store) -> None:
    before = data(store, "parent")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            store.record_data(DataNode("child"))
        except StoreClosedError:
            code = 0 if store.closed else 2
        # the writer's connections stay referenced: never closed (nor collected) in the child
        kept = [id(conn) for conn in store_module._inherited]
        if id(store._writer._conn) not in kept or id(store._writer._committer) not in kept:
            code = 3
        os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    after = data(store, "parent again")  # the parent is unaffected
    assert store.load_node(before).value == "parent"
    assert store.load_node(after).value == "parent again"
    assert count(store.path, "node") == 2


def test_update_of_a_rejected_process_row_touches_nothing_else(tmp_path: Path) -> None:
    with Store.open(tmp_path / "prov.sqlite", commit_interval=60) as store:
        bad = store.new_pk()
        store.record_process(bad, "garbage", "calc", "bad", "t.bad", "RUNNING", 0.0, None)
        good = process(store, "calc", "good")
        store.update_process(bad, "FAILED", 5.0, error="x")
        with pytest.raises(StoreWriteError, match=f"process node pk={bad}"):
            store.flush()
        node = store.load_node(good)
        assert (node.state, node.error, node.mtime) == ("RUNNING", None, None)
        with pytest.raises(NodeNotFoundError):
            store.load_node(bad)


def test_closing_the_store_while_a_committed_read_runs(tmp_path: Path) -> None:
    """``close()`` leaves a lent read connection to its borrower: closing it under a running
    query would crash SQLite (it did: exit 139)."""
    slow = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000)"
        " SELECT count(*) FROM c"
    )
    store = Store.open(tmp_path / "prov.sqlite")
    reader = store._reader
    out: list[object] = []
    started = threading.Event()

    def read() -> None:
        started.set()
        try:
            out.append(reader.query_committed(slow))
        except StoreClosedError:
            out.append("closed before it began")

    thread = threading.Thread(target=read)
    thread.start()
    started.wait()
    time.sleep(0.05)  # (if the query has not begun yet it raises StoreClosedError: also fine)
    store.close()
    thread.join()
    assert out in ([[(2000000,)]], ["closed before it began"])
    assert reader._spare == []  # the borrower closed its connection instead of giving it back
    with pytest.raises(StoreClosedError):
        reader.query_committed("SELECT 1")


def test_a_state_code_from_a_newer_ferroflow_reads_as_unknown(tmp_path: Path) -> None:
    with Store.open(tmp_path / "prov.sqlite") as store:
        pk = store.new_pk()
        store.record_process(pk, new_uuid(), "calc", "t", "tests.t", "FINISHED", 0.0, None)
        store.flush()
        with sqlite3.connect(store.path) as conn:
            conn.execute("UPDATE node SET state = 99 WHERE pk = ?", (pk,))
        assert store.load_node(pk).state == "UNKNOWN(99)"
    assert (state_name(6), state_name(99)) == ("KILLED", "UNKNOWN(99)")

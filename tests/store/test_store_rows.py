"""The store writer's rows: one declaration shared with Rust, the fast lane's ``OP_CALC``
expansion, values longer than SQLite accepts, and the proof that the Rust committer uses the
SQLite library Python's ``sqlite3`` uses. Store tests run once per committer (``writer``)."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from ferroflow import _core, get_current_profile, task
from ferroflow.model.data import DataNode, new_uuid
from ferroflow.store import NodeNotFoundError, Store, StoreWriteError, rows, schema, values
from hypothesis import given
from hypothesis import strategies as st


@pytest.fixture
def store(tmp_path: Path, writer: str) -> Iterator[Store]:
    with Store.open(tmp_path / "prov.sqlite", commit_interval=60) as s:
        assert s._writer.committer == writer
        yield s


def calc_entry(store: Store, label: str, value: object, inputs: dict[str, int]) -> tuple:
    """An ``OP_CALC`` entry as the fast lane (rust/py/src/fast.rs) queues it."""
    pk, out_pk = store.new_pk(), store.new_pk()
    fields = {
        "op": rows.OP_CALC,
        "pk": pk,
        "uuid": bytes.fromhex(new_uuid().replace("-", "")),
        "label": label,
        "process_type": f"tests.{label}",
        "ctime": 1.0,
        "mtime": 2.0,
        "run_pk": 7,
        "caller_pk": 7,
        "input_labels": tuple(inputs),
        "input_pks": tuple(inputs.values()),
        "out_pk": out_pk,
        "out_uuid": new_uuid(),
        "value": value,
        "out_label": "result",
        "inline_values": (),
    }
    return tuple(fields[name] for name in rows.LAYOUTS[rows.OP_CALC])


def too_big(n: int) -> str:
    return f"string or blob too big: {n} bytes, SQLite's limit is 1000"


def links(path: Path) -> set[tuple[int, int, str, str]]:
    with sqlite3.connect(path) as conn:
        found = conn.execute("SELECT src, dst, type, label FROM link_view").fetchall()
    conn.close()
    return set(found)


def test_rust_reads_and_writes_the_rows_declared_in_rows_py() -> None:
    assert _core.ROW_OPS == rows.OP_CODES
    assert _core.ROW_LAYOUTS == rows.LAYOUTS
    assert _core.WRITER_SQL == rows.STATEMENTS
    assert {name: getattr(rows, name) for name in rows.OP_CODES} == rows.OP_CODES


class Node:
    """What an ``OP_DATA`` row carries: a data node's pk, uuid and value."""

    def __init__(self, value: object, pk: int = 1) -> None:
        self._pk, self.uuid, self.value = pk, new_uuid(), value


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text()))
def test_values_are_stored_as_values_encode_writes_them(value: object) -> None:
    """The Rust conversion asks ``values`` once how None, bools and ints are written, and
    hands every other value to ``encode``: either way the row is what ``encode`` says."""
    prepared = _core.SqlWriter(values, schema, 10**9).prepare([(rows.OP_DATA, Node(value), 0.0)])
    assert prepared.errors == []
    _, nodes, *_ = prepared.params()
    (row,) = nodes
    encoded = values.encode(value)
    assert row[3] == values.type_name(value)
    if encoded.blob:  # the row refers to the batch's first blob
        assert (row[10], row[11], row[12]) == (encoded.codec, None, 0)
    else:
        assert (row[10], row[11], row[12]) == (encoded.codec, encoded.payload, None)


def test_a_fast_lane_entry_becomes_its_task_output_and_links(store: Store) -> None:
    x = store.record_data(DataNode(3))
    entry = calc_entry(store, "square", 9, {"x": x})
    store._append(entry)
    store.flush()
    pk, out_pk = entry[1], entry[11]
    task_node, output = store.load_node(pk), store.load_node(out_pk)
    assert (task_node.kind, task_node.state, task_node.label) == ("calc", "FINISHED", "square")
    assert (task_node.ctime, task_node.mtime, task_node.run_pk) == (1.0, 2.0, 7)
    assert (output.kind, output.value, output.codec) == ("data", 9, "json")
    assert links(store.path) == {
        (7, pk, "CALL_CALC", "square"),
        (x, pk, "INPUT_CALC", "x"),
        (pk, out_pk, "CREATE", "result"),
    }


def test_unserialisable_pks_are_reported_by_both_committers(store: Store) -> None:
    entry = calc_entry(store, "local", lambda: 1, {})
    store._append(entry)
    data = store.record_data(DataNode(lambda: 2))
    store.flush()
    assert store._writer.unserialisable == [entry[11], data]


def test_a_value_longer_than_sqlite_accepts_fails_its_row_naming_task_and_socket(
    store: Store,
) -> None:
    store._writer.limit_length(1000)
    too_long = calc_entry(store, "big", b"x" * 1001, {})
    # within the limit, but not once its row's digest, codec and header are added
    near = calc_entry(store, "near", b"x" * 990, {})
    fits = calc_entry(store, "small", b"x" * 800, {})
    store._append(too_long)
    store._append(near)
    store._append(fits)
    run = store.new_pk()  # the general runner's rows: process, output, CREATE link
    store.record_process(run, new_uuid(), "calc", "wide", "tests.wide", "RUNNING", 0.0, None)
    text = store.record_data(DataNode("y" * 2000))
    store.record_link(run, text, "CREATE", "out")
    with pytest.raises(StoreWriteError) as info:
        store.flush()
    big = f"task run 'big' pk={too_long[1]} and its output 'result' pk={too_long[11]}"
    close = f"task run 'near' pk={near[1]} and its output 'result' pk={near[11]}"
    wide = f"data node pk={text}, output 'out' of task run 'wide' pk={run}"
    reasons = [message.split(": DataError: ") for message in info.value.messages]
    assert reasons[0] == [big, too_big(1001)]
    assert reasons[1][0] == close
    assert re.fullmatch(
        r"string or blob too big: its row takes up to 1\d\d\d bytes, "
        r"SQLite's limit is 1000",
        reasons[1][1],
    )
    assert reasons[2:] == [[wide, too_big(2002)]]
    assert isinstance(info.value.__cause__, sqlite3.DataError)
    assert store.load_node(fits[11]).value == b"x" * 800  # never truncated, never lost
    for pk in (too_long[1], too_long[11], near[1], near[11], text):
        with pytest.raises(NodeNotFoundError):
            store.load_node(pk)
    assert store.load_node(run).label == "wide"


def test_each_committer_refuses_what_its_connection_cannot_hold(store: Store) -> None:
    """Should a value get past the conversion's check, the committer's own bind refuses it
    (SQLITE_TOOBIG): a row error, never a truncation, and the other rows are kept."""
    writer = store._writer
    writer.limit_length(1000)  # SQLITE_LIMIT_LENGTH of the committing connection
    assert writer._committer.max_length() == 1000
    text, blob, fits = store.new_pk(), store.new_pk(), store.new_pk()
    lenient = _core.SqlWriter(values, schema, 10**6)  # a conversion that lets them through
    batch = lenient.prepare(
        [
            (rows.OP_DATA, Node("t" * 1001, text), 0.0),  # inline JSON text of 1003 bytes
            (rows.OP_DATA, Node(b"b" * 1001, blob), 0.0),  # a blob of 1001 bytes
            (rows.OP_DATA, Node("f" * 800, fits), 0.0),
        ]
    )
    assert batch.errors == []
    with writer._drain_lock:  # the writer thread's connection: not while it commits
        failures = writer._committer.commit(batch)
    digest = values.digest(values.BYTES, b"b" * 1001).hex()[:16]
    assert [what for what, _ in failures] == [
        f"blob {digest}",
        f"node pk={text}",
        f"node pk={blob}",
    ]
    for _, exc in failures[:2]:
        assert isinstance(exc, sqlite3.DataError) and "too big" in str(exc)
    assert store.load_node(fits).value == "f" * 800
    for pk in (text, blob):
        with pytest.raises(NodeNotFoundError):
            store.load_node(pk)


def test_a_bad_row_inside_a_multi_row_insert_costs_only_itself(store: Store) -> None:
    """The committer inserts rows many per statement; a row that fails in the middle of such a
    statement fails the batch, whose replay row by row keeps every other row."""
    writer = store._writer
    writer.limit_length(1000)
    lenient = _core.SqlWriter(values, schema, 10**6)  # lets the long text through to SQLite
    pks = [store.new_pk() for _ in range(100)]
    texts = ["t" * 1001 if i == 40 else f"value {i}" for i in range(100)]
    batch = lenient.prepare(
        [(rows.OP_DATA, Node(text, pk), 0.0) for pk, text in zip(pks, texts, strict=True)]
    )
    with writer._drain_lock:
        failures = writer._committer.commit(batch)
    assert [what for what, _ in failures] == [f"node pk={pks[40]}"]
    for i, pk in enumerate(pks):
        if i == 40:
            with pytest.raises(NodeNotFoundError):
                store.load_node(pk)
        else:
            assert store.load_node(pk).value == texts[i]


@task
def payload(n: int) -> bytes:
    return b"z" * n


@task.graph
def two_payloads() -> bytes:
    payload(n=10)
    return payload(n=5000).result


@pytest.mark.parametrize("fast", [True, False], ids=["fast lane", "general lane"])
def test_a_run_reports_a_too_long_output_by_task_and_socket(
    writer: str, fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FERROFLOW_FAST_LANE", "1" if fast else "0")
    store = get_current_profile().store
    assert store._writer.committer == writer
    store._writer.limit_length(4096)
    wg = two_payloads.build()
    with pytest.raises(StoreWriteError) as info:
        wg.run()
    (message,) = info.value.messages
    task_run = r"task run 'payload1' pk=\d+"  # the second payload task of the graph
    where = (
        rf"{task_run} and its output 'result' pk=\d+"  # the fast lane's OP_CALC entry
        if fast
        else rf"data node pk=\d+, output 'result' of {task_run}"  # the general runner's rows
    )
    too_big = "DataError: string or blob too big: 5000 bytes, SQLite's limit is 4096"
    assert re.fullmatch(f"{where}: {too_big}", message), message
    # the run is stored FAILED, saying what was lost, not FINISHED with a task run missing
    assert wg.state == "FAILED"
    run = store.load_node(wg.pk)
    assert run.state == "FAILED" and "5000 bytes" in (run.error or "")


@task
def text_payload(n: int) -> str:
    return "z" * n


@task.graph
def two_texts() -> str:
    text_payload(n=10)
    return text_payload(n=5000).result


def test_a_value_too_long_to_pack_on_the_worker_is_reported_by_the_writer(writer: str) -> None:
    """A fast task whose output is inline JSON is packed by the worker that ran it; one whose
    row would be longer than SQLite accepts is not packed there: its ``OP_CALC`` entry reaches
    the writer, which names task and socket as for any row error, while the short one's task
    run is stored packed."""
    store = get_current_profile().store
    assert store._writer.committer == writer and store.packer is not None
    store._writer.limit_length(4096)
    wg = two_texts.build()
    with pytest.raises(StoreWriteError) as info:
        wg.run()
    (message,) = info.value.messages
    where = r"task run 'text_payload1' pk=\d+ and its output 'result' pk=\d+"
    too_big = r"DataError: string or blob too big: 5002 bytes, SQLite's limit is 4096"
    assert re.fullmatch(f"{where}: {too_big}", message), message
    assert wg.state == "FAILED"
    with sqlite3.connect(store.path) as conn:
        packed = conn.execute("SELECT label, nodes FROM task_run").fetchall()
    conn.close()
    # its output, node pk + 1: [link code, label, type, codec, JSON text]
    assert [(label, json.loads(nodes)[0][1:]) for label, nodes in packed] == [
        ("text_payload", ["result", "str", "json", json.dumps("z" * 10)])
    ]


def test_the_library_must_be_the_one_python_loaded(tmp_path: Path) -> None:
    extension = sys.modules["_sqlite3"].__file__
    assert extension is not None
    major, minor, patch = sqlite3.sqlite_version_info
    version = major * 1_000_000 + minor * 1_000 + patch
    path = str(tmp_path / "prov.sqlite")
    sqlite3.connect(path).close()  # the store creates its file before the writer opens it
    pragmas = schema.connection_pragmas("normal")
    _core.SqliteConnection(extension, version, path, pragmas).close()
    with pytest.raises(RuntimeError, match=f"is version {version}, Python's sqlite3 reports"):
        _core.SqliteConnection(extension, version + 1, path, pragmas)
    unloaded = str(tmp_path / "_sqlite3.so")  # RTLD_NOLOAD: never loads a library itself
    Path(unloaded).write_bytes(Path(extension).read_bytes())
    with pytest.raises(RuntimeError, match="is not loaded"):
        _core.SqliteConnection(unloaded, version, path, pragmas)


@pytest.mark.parametrize("why", ["another version", "no extension file"])
def test_a_library_not_proven_to_be_pythons_means_the_python_committer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    monkeypatch.setenv("FERROFLOW_PY_WRITER", "0")
    if why == "another version":
        major, minor, patch = sqlite3.sqlite_version_info
        monkeypatch.setattr(sqlite3, "sqlite_version_info", (major, minor, patch + 1))
    else:  # a _sqlite3 built into the interpreter
        monkeypatch.setitem(sys.modules, "_sqlite3", types.ModuleType("_sqlite3"))
    with Store.open(tmp_path / "prov.sqlite") as store:
        assert store._writer.committer == "python"
        assert store.load_node(store.record_data(DataNode("kept"))).value == "kept"

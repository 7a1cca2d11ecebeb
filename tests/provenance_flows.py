"""Workflows and helpers shared by the export, import, query and CLI tests.

``Mixed`` stores one value of every codec the store knows (npy array, bytes, tagged JSON
tuple, JSON large enough for the blob table, a pickled object, a NaN float, text that needs
escaping) and ends with a failing task, so every branch of every exporter has something to do.
``Evil`` pickles to a call of ``open(path, "w")``: unpickling it creates ``path``, which is how
the tests see whether anything unpickled a payload.
"""

from __future__ import annotations

import io
import json
import sqlite3
import typing as t
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from ferroflow import get_current_profile, load_node, load_profile, namespace, task
from ferroflow.demo import ScatterGatherSquare
from ferroflow.export import export_run, import_run
from ferroflow.model.vocabulary import KIND_CODES, STATE_CODES, Kind, Link, State
from ferroflow.store import Store, graph_read
from ferroflow.store.node_record import decode_node_columns
from ferroflow.store.schema import LINK_CODES
from layer_query import file_query

ARRAY_N = 3
TEXT = 'say "hi" <b>#1'


class Point:
    """A value that is not JSON: stored pickled."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    def __hash__(self) -> int:
        return hash((self.x, self.y))


class Evil:
    """Pickles to ``open(path, "w")``: unpickling creates the marker file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


MixedOutputs = t.Annotated[
    dict,  # type: ignore[type-arg]
    namespace(array=np.ndarray, blob=bytes, pair=tuple, big=list, point=Point, nan=float, text=str),
]


@task
def make(n: int) -> MixedOutputs:
    return {
        "array": np.arange(n, dtype=float),
        "blob": b"\x00\xff" * n,
        "pair": (n, "x"),
        "big": list(range(2000)),
        "point": Point(n, -n),
        "nan": float("nan"),
        "text": TEXT,
    }


@task
def norm(array: np.ndarray, point: Point) -> float:
    return float(array.sum()) + point.x


@task
def boom(x: float) -> float:
    raise ValueError("negative input")


@task.graph
def Mixed(n: int) -> t.Annotated[dict, namespace(total=float, pair=tuple, failed=float)]:  # type: ignore[type-arg]
    made = make(n=n)
    total = norm(array=made.array, point=made.point).result
    return {"total": total, "pair": made.pair, "failed": boom(x=total).result}


@task
def poison(path: str) -> Evil:
    return Evil(Path(path))


@task.graph
def Poisoned(path: str) -> int:  # type: ignore[empty-body]
    return poison(path=path).result


def run_howto(n: int = 4) -> int:
    """The how-to's scatter-gather on the current profile; the run's pk."""
    wg = ScatterGatherSquare.build(n)
    wg.run()
    assert wg.outputs.result.value == sum(i * i for i in range(1, n + 1))
    assert wg.pk is not None
    return wg.pk


def run_mixed() -> int:
    wg = Mixed.build(ARRAY_N)
    wg.run(raise_on_error=False)
    assert wg.pk is not None
    return wg.pk


def howto_counts(n: int) -> dict[str, int]:
    """Nodes and links the how-to stores for ``n`` numbers (counted by hand from the graph)."""
    processes = 4 + n  # ScatterGatherSquare, generate_numbers, ParallelSquare, gather, n squares
    data = 1 + n + n + 1  # n, the numbers, the squares, the sum
    links = {
        "INPUT_WORK": 1 + n,  # n into the run; the numbers into ParallelSquare
        "INPUT_CALC": 1 + n + n,  # n into generate; a number into each square; squares to gather
        "CREATE": n + n + 1,
        "RETURN": 1 + n,
        "CALL_CALC": 2 + n,
        "CALL_WORK": 1,
    }
    return {"processes": processes, "data": data, "nodes": processes + data, **links}


def members(store: Store, run_pk: int) -> dict[str, dict[str, Any]]:
    """Every node of a run, by uuid, through the reading layer over a connection of its own
    (not the code under test's reader): the run's processes and the data linked to them
    (inputs in, created and returned data out)."""
    store.flush()
    with file_query(store.path) as query:
        procs = [row[0] for row in graph_read.run_node_rows(query, run_pk, (Kind.CALC, Kind.WORK))]
        inputs = graph_read.links(query, procs, True, (Link.INPUT_CALC, Link.INPUT_WORK))
        outputs = graph_read.links(query, procs, False, (Link.CREATE, Link.RETURN))
        pks = {*procs, *(link.src for link in inputs), *(link.dst for link in outputs)}
        rows = graph_read.node_rows(query, pks)
    keys = ("pk", "kind", "type", "label", "state", "error", "ctime", "mtime", "codec")
    found = {}
    for row in rows.values():
        fields = decode_node_columns(row)
        found[fields["uuid"]] = {key: fields[key] for key in keys} | {
            "blob": fields["blob_id"] is not None
        }
    return found


def link_set(store: Store, run_pk: int) -> set[tuple[str, str, str, str]]:
    """``(src uuid, dst uuid, type, label)`` of every link between members of the run."""
    uuids = {info["pk"]: uuid for uuid, info in members(store, run_pk).items()}
    with file_query(store.path) as query:
        found = graph_read.links_touching(query, uuids)
    return {
        (uuids[link.src], uuids[link.dst], link.type, link.label)
        for link in found
        if link.src in uuids and link.dst in uuids
    }


def run_provenance(run_pk: int) -> tuple[Counter[Any], Counter[Any]]:
    """Nodes and links of a run with pks replaced by descriptions: equal for two runs that
    stored the same provenance (the fast lane vs the general runner, Dask vs local)."""
    store = get_current_profile().store
    store.flush()
    query = store._reader.query
    nodes = {
        row[0]: (row[2], row[3], row[4], row[5]) for row in graph_read.run_node_rows(query, run_pk)
    }
    links = graph_read.links_touching(query, nodes)
    described: Counter[Any] = Counter()
    data: dict[int, Any] = {}
    for src, dst, type_, label in links:
        for pk in (src, dst):
            if pk not in nodes:
                node = store.load_node(pk)
                data[pk] = ("data", node.type, repr(node.value))
        describe = lambda pk: nodes.get(pk) or data[pk]  # noqa: E731
        described[(describe(src), LINK_CODES[type_], label, describe(dst))] += 1
    return Counter(nodes.values()), described


def committed_finished(store_file: Path, label_like: str = "%") -> int:
    """Task runs (labels matching ``label_like``) that a run in *another process* has committed
    FINISHED to ``store_file``, read through a read-only connection; 0 while the file or its
    tables do not exist yet. For tests that act at a known point of a child's run."""
    try:
        with file_query(store_file, read_only=True) as query:
            return graph_read.count_nodes(
                query,
                kinds=(Kind.CALC,),
                states=(STATE_CODES[State.FINISHED],),
                label_like=label_like,
            )
    except sqlite3.Error:
        return 0


def export_json(store: Store, run_pk: int) -> dict[str, Any]:
    """Run ``run_pk`` of ``store`` in the native JSON export format, parsed."""
    buf = io.StringIO()
    export_run(store, run_pk, "json", buf)
    return dict(json.loads(buf.getvalue()))


def write_json(document: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(document))
    return path


def three_attempts(wg: Any, name: str, inputs: dict[str, Any]) -> list[Any]:
    """The stored attempts of task ``name`` of run ``wg``, which succeeded on its third try,
    checked as every retry test needs (locally, async, on Dask): three process nodes labelled
    ``name``, ``name_attempt2``, ``name_attempt3``, FAILED, FAILED, FINISHED, each called by the
    run with the same ``inputs``; the task's node is the last, which alone created ``result``.
    Returns them, for the caller's checks of the errors."""
    run = load_node(wg.pk)
    attempts = [n for n in run.called if n.type.endswith(f".{name}")]
    assert [n.label for n in attempts] == [name, f"{name}_attempt2", f"{name}_attempt3"]
    assert [n.state for n in attempts] == ["FAILED", "FAILED", "FINISHED"]
    assert attempts[2].error is None
    for attempt in attempts:
        assert attempt.caller == run
        got = sorted((label, src.value) for lt, label, src in attempt.inputs if lt == "INPUT_CALC")
        assert got == sorted(inputs.items())
    assert wg.tasks[name].pk == attempts[2].pk
    created = [[label for lt, label, _ in a.outputs if lt == "CREATE"] for a in attempts]
    assert created == [[], [], ["result"]]
    return attempts


def hostile_export(tmp_path: Path, root_type: str, data_type: str) -> Path:
    """A native export of a real run whose graph type and data types are hostile."""
    document = export_json(load_profile().store, run_howto(3))  # the default profile
    for node in document["nodes"]:
        if node["kind"] == "work":
            node["type"] = root_type
        elif node["kind"] == "data":
            node["type"] = data_type
    return write_json(document, tmp_path / "hostile.json")


def hostile_run(store: Store, tmp_path: Path, root_type: str, data_type: str) -> int:
    """A run in ``store`` whose graph type and data types are hostile; returns its pk.

    Imported from a clean export, then rewritten in the file itself: the importer refuses
    control characters in names now, but a store written by an older ferroflow or another
    tool may hold them, and exports must stay safe whatever the store holds."""
    run_pk = import_run(store, hostile_export(tmp_path, "hostile.run", "int")).run_pk
    store.flush()
    with file_query(store.path) as query:
        procs = [row[0] for row in graph_read.run_node_rows(query, run_pk)]
        near = graph_read.links_touching(query, procs)
        touched = {*procs, *(link.src for link in near), *(link.dst for link in near)}
    with sqlite3.connect(store.path) as conn:  # tampering with the file: the writers' SQL
        for kind, type_ in (("work", root_type), ("data", data_type)):
            conn.execute(
                "UPDATE node SET type = ? WHERE kind = ?"
                f" AND pk IN ({','.join('?' * len(touched))})",
                (type_, KIND_CODES[kind], *sorted(touched)),
            )
    conn.close()
    return run_pk

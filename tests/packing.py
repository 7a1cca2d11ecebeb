"""A test packer: rewrites the packable task runs of a store file into ``task_run`` rows.

Why in the tests: the packing writer (step 3 of ``docs/packed-task-runs.md``) is being built
elsewhere, yet the reading layer must already answer the same rows from both forms. So a test
builds real runs, copies the store file, packs the copy with :func:`pack_run` and compares
every reader's answer on the two files. The packer writes exactly the format the writer will
(``store/schema.py``), and packs a task run only when its packed form stands for *exactly* the
rows it replaces (each derived column checked), so any difference a test then sees is the
reading layer's.

The engine gives a calc node a random uuid, whose last byte is 0 only by chance, while a packed
row derives its inline nodes' uuids from its own by the last byte. :func:`derive_uuids`
therefore rewrites, in the node form, the uuids of the task runs :func:`pack_run` would pack to
the derived ones: a test applies it to the original file first, then copies and packs, so the
two files hold the same uuids.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferroflow.model.vocabulary import KIND_CODES, LINK_CODES, STATE_CODES

_CALC, _DATA = KIND_CODES["calc"], KIND_CODES["data"]
_FINISHED = STATE_CODES["FINISHED"]
_CREATE, _INPUT, _CALL = LINK_CODES["CREATE"], LINK_CODES["INPUT_CALC"], LINK_CODES["CALL_CALC"]

_NODE = "pk, uuid, kind, type, label, state, error, run_pk, ctime, mtime, codec, value, blob_id"


@dataclass
class Plan:
    """One packable task run: its calc node's row, CALL link and what goes inline."""

    calc: dict[str, Any]
    caller: int
    inputs: list[list[Any]] = field(default_factory=list)
    nodes: list[list[Any]] = field(default_factory=list)
    uuids: list[bytes] = field(default_factory=list)  # of pk, pk+1 .. pk+k


def _node(conn: sqlite3.Connection, pk: int) -> dict[str, Any] | None:
    cursor = conn.execute(f"SELECT {_NODE}, hash, cached_from FROM node WHERE pk = ?", (pk,))
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


def _has(conn: sqlite3.Connection, table: str, pk: int) -> bool:
    return conn.execute(f"SELECT 1 FROM {table} WHERE pk = ?", (pk,)).fetchone() is not None


def _plan(conn: sqlite3.Connection, calc: dict[str, Any], any_time: bool) -> Plan | None:
    pk = calc["pk"]
    if (
        calc["state"] != _FINISHED
        or calc["error"] is not None
        or calc["cached_from"] is not None
        or calc["run_pk"] is None
        or calc["codec"] is not None
        or calc["value"] is not None
        or calc["blob_id"] is not None
        or _has(conn, "process_text", pk)
        or _has(conn, "task_output", pk)
    ):
        return None
    into = conn.execute("SELECT src, type, label FROM link WHERE dst = ?", (pk,)).fetchall()
    out = conn.execute("SELECT dst, type, label FROM link WHERE src = ?", (pk,)).fetchall()
    calls = [(src, label) for src, code, label in into if code == _CALL]
    if len(calls) != 1 or calls[0][1] != calc["label"]:
        return None
    if any(code not in (_CALL, _INPUT) for _, code, _ in into):
        return None
    if any(code != _CREATE for _, code, _ in out):
        return None
    inline: dict[int, list[Any]] = {}
    for dst, _, label in out:
        inline[dst] = [_CREATE, label]
    external: list[list[Any]] = []
    for src, code, label in sorted(into, key=lambda link: link[2]):
        if code != _INPUT:
            continue
        if src in range(pk + 1, pk + 1 + len(into) + len(out)) and _inline_input(conn, src, pk):
            inline[src] = [_INPUT, label]
        else:
            external.append([label, src])
    k = len(inline)
    if sorted(inline) != list(range(pk + 1, pk + 1 + k)):
        return None
    plan = Plan(calc, calls[0][0], external)
    for i in range(1, k + 1):
        node = _node(conn, pk + i)
        if node is None or not _inline_columns(conn, node, calc, any_time):
            return None
        if inline[pk + i][0] == _CREATE:
            creators = conn.execute(
                "SELECT count(*) FROM link WHERE dst = ? AND type = ?", (pk + i, _CREATE)
            ).fetchone()[0]
            if creators != 1:
                return None
        plan.nodes.append([*inline[pk + i], node["type"], node["codec"], node["value"]])
    plan.uuids = [bytes(calc["uuid"][:15]) + bytes([i]) for i in range(k + 1)]
    return plan


def _inline_input(conn: sqlite3.Connection, src: int, pk: int) -> bool:
    """A constant used by this task alone: no incoming link, one outgoing (into ``pk``)."""
    into = conn.execute("SELECT count(*) FROM link WHERE dst = ?", (src,)).fetchone()[0]
    out = conn.execute("SELECT dst FROM link WHERE src = ?", (src,)).fetchall()
    return into == 0 and out == [(pk,)]


def _inline_columns(
    conn: sqlite3.Connection, node: dict[str, Any], calc: dict[str, Any], any_time: bool
) -> bool:
    """Whether a data node's columns are exactly those a packed row derives for it (but its
    ctime, with ``any_time``: the packed row then gives it the task's)."""
    return (
        node["kind"] == _DATA
        and node["label"] is None
        and node["state"] is None
        and node["error"] is None
        and node["run_pk"] is None
        and (any_time or node["ctime"] == calc["ctime"])
        and node["mtime"] is None
        and node["hash"] is None
        and node["cached_from"] is None
        and node["blob_id"] is None
        and node["codec"] == "json"
        and isinstance(node["value"], str)
        and not _extra(conn, node["pk"])
    )


def _extra(conn: sqlite3.Connection, pk: int) -> bool:
    return conn.execute("SELECT 1 FROM extra WHERE pk = ?", (pk,)).fetchone() is not None


def plans(conn: sqlite3.Connection, run_pk: int, any_time: bool = False) -> list[Plan]:
    """The packable task runs of run ``run_pk``, by pk (``any_time``: see :func:`pack_run`)."""
    pks = [
        pk
        for (pk,) in conn.execute(
            "SELECT pk FROM node WHERE run_pk = ? AND kind = ? ORDER BY pk", (run_pk, _CALC)
        )
    ]
    found = []
    for pk in pks:
        calc = _node(conn, pk)
        assert calc is not None
        plan = _plan(conn, calc, any_time)
        if plan is not None:
            found.append(plan)
    return found


def derive_uuids(path: Path, run_pk: int, any_time: bool = False) -> int:
    """Give the packable task runs of ``run_pk`` (in node form) the uuids a packed row
    derives: the calc node's with last byte 0, inline node i's with last byte i; with
    ``any_time`` also the ctime (the task's) of inline nodes recorded later. Returns how many
    task runs' uuids it changed.

    A test applies it to the node-form file before copying it, so both files hold the
    columns the packed rows derive and compare row for row."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        changed = 0
        for plan in plans(conn, run_pk, any_time):
            pk = plan.calc["pk"]
            last = pk + len(plan.nodes)
            conn.execute(
                "UPDATE node SET ctime = ? WHERE pk BETWEEN ? AND ?",
                (plan.calc["ctime"], pk + 1, last),
            )
            current = [
                bytes(conn.execute("SELECT uuid FROM node WHERE pk = ?", (pk + i,)).fetchone()[0])
                for i in range(len(plan.uuids))
            ]
            if current == plan.uuids:
                continue
            taken = conn.execute(
                f"SELECT count(*) FROM node WHERE uuid IN ({', '.join('?' * len(plan.uuids))})",
                plan.uuids,
            ).fetchone()[0]
            if taken:
                continue  # a collision with another node's uuid: leave this task in node form
            for i, uuid in enumerate(plan.uuids):
                conn.execute("UPDATE node SET uuid = ? WHERE pk = ?", (uuid, pk + i))
            changed += 1
        conn.execute("COMMIT")
        return changed
    finally:
        conn.close()


def pack_run(path: Path, run_pk: int, any_time: bool = False) -> int:
    """Rewrite every packable task run of ``run_pk`` whose uuids are already derived (see
    :func:`derive_uuids`) as a ``task_run`` row and its ``input_ref`` rows, deleting the node
    and link rows it replaces. Returns how many it packed. ``any_time`` also packs a task whose
    outputs were recorded after it started (the general lane's): their ctime becomes the
    task's, so such a file is not compared row for row with its original."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        todo = [
            plan
            for plan in plans(conn, run_pk, any_time)
            if all(
                bytes(
                    conn.execute(
                        "SELECT uuid FROM node WHERE pk = ?", (plan.calc["pk"] + i,)
                    ).fetchone()[0]
                )
                == uuid
                for i, uuid in enumerate(plan.uuids)
            )
        ]
        for plan in todo:
            calc, pk = plan.calc, plan.calc["pk"]
            conn.execute(
                "INSERT INTO task_run(pk, uuid, caller, run_pk, label, type, state, ctime, mtime,"
                " hash, inputs, nodes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    pk,
                    plan.uuids[0],
                    plan.caller,
                    calc["run_pk"],
                    calc["label"],
                    calc["type"],
                    calc["state"],
                    calc["ctime"],
                    calc["mtime"],
                    calc["hash"],
                    json.dumps(plan.inputs),
                    json.dumps(plan.nodes),
                ),
            )
            conn.executemany(
                "INSERT INTO input_ref(src, dst, label) VALUES (?, ?, ?)",
                [(src, pk, label) for label, src in plan.inputs],
            )
            conn.execute("DELETE FROM link WHERE dst = ?", (pk,))
            conn.execute("DELETE FROM link WHERE src = ?", (pk,))
            last = pk + len(plan.nodes)
            conn.execute(
                "DELETE FROM link WHERE src BETWEEN ? AND ? AND dst = ?", (pk + 1, last, pk)
            )
            conn.execute("DELETE FROM node WHERE pk BETWEEN ? AND ?", (pk, last))
        conn.execute("COMMIT")
        return len(todo)
    finally:
        conn.close()


def describe_run(path: Path, run_pk: int) -> str:
    """The rows that decide whether run ``run_pk``'s task runs pack (its calc nodes, their
    links and captured output): an assertion message, so a task left in node form says why."""
    conn = sqlite3.connect(path)
    try:
        lines = []
        for calc in conn.execute(
            "SELECT pk, label, state, error, hash, cached_from FROM node"
            " WHERE run_pk = ? AND kind = ? ORDER BY pk",
            (run_pk, _CALC),
        ).fetchall():
            pk = calc[0]
            links = conn.execute(
                "SELECT src, dst, type, label FROM link WHERE src = ? OR dst = ? ORDER BY src, dst",
                (pk, pk),
            ).fetchall()
            output = conn.execute("SELECT text FROM task_output WHERE pk = ?", (pk,)).fetchall()
            lines.append(f"calc {calc}: links {links}, output {output}")
        return "\n".join(lines)
    finally:
        conn.close()

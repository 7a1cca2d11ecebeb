"""Counts over a run's nodes and links, for pictures and pages of runs of a million tasks.

A picture of a big run draws boxes ("37,000 × square, 12 failed"), not nodes, so what it reads
are aggregates: the children of each graph run by type and state, the links of each process,
the run's processes by state, a sample of its task runs' times. They are functions of this
layer (beside :mod:`.graph_sets`) for the reason the rest of it is: with packed ``task_run``
rows (``docs/packed-task-runs.md``) each count is answered from both forms, and its callers do
not change. Each reads an index for the pks or the run it is given, never the whole store
(``tests/store/test_graph_sets.py`` checks the query plans).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from . import graph_sets_packed as both
from . import packed_read as packed
from .graph_sets import Side, link_codes
from .in_lists import chunks, marks
from .schema import (
    CALL_LINKS,
    KIND_CODES,
    KIND_NAMES,
    STATE_CODES,
    UNFINISHED_PROCESS,
    state_name,
)

__all__ = [
    "call_counts",
    "count_task_runs",
    "link_counts",
    "process_pks_in_states",
    "process_state_counts",
    "task_spans",
]

_CALC = KIND_CODES["calc"]
_TASK_RUNS = "run_pk = ? AND kind = ? AND ctime IS NOT NULL"


def _state(code: int | None) -> str | None:
    return None if code is None else state_name(code)


def process_pks_in_states(
    conn: sqlite3.Connection, run_pk: int, states: Sequence[str], exclude: int, limit: int
) -> list[int]:
    """The first ``limit`` process nodes of the run (by pk, ``exclude`` left out) in one of
    ``states``, which must be states of a process that did not finish (failed, killed): an
    index search (``node_unfinished``), however big the run."""
    codes = [STATE_CODES[state] for state in states]
    sql = (
        f"SELECT pk FROM node WHERE run_pk = ? AND {UNFINISHED_PROCESS}"
        f" AND state IN ({marks(len(codes))}) AND pk != ? ORDER BY pk LIMIT ?"
    )
    found = [pk for (pk,) in conn.execute(sql, (run_pk, *codes, exclude, limit))]
    query = both.query_of(conn)
    if packed.has_packed(query):
        sql = (
            f"SELECT pk FROM task_run WHERE run_pk = ? AND state IN ({marks(len(codes))})"
            " AND pk != ? ORDER BY pk LIMIT ?"
        )
        found = sorted(found + [pk for (pk,) in query(sql, (run_pk, *codes, exclude, limit))])
    return found[:limit]


def process_state_counts(conn: sqlite3.Connection, run_pk: int) -> list[tuple[str | None, int]]:
    """``(state, count)`` of the run's process nodes other than the run itself (state ``None``
    where none is stored)."""
    sql = (
        "SELECT state, count(*) FROM node WHERE run_pk = ? AND kind != 0 AND pk != ? GROUP BY state"
    )
    counts = dict(conn.execute(sql, (run_pk, run_pk)).fetchall())
    query = both.query_of(conn)
    if packed.has_packed(query):
        sql = "SELECT state, count(*) FROM task_run WHERE run_pk = ? GROUP BY state"
        for code, n in query(sql, (run_pk,)):
            counts[code] = counts.get(code, 0) + n
    ordered = sorted(counts.items(), key=lambda item: -1 if item[0] is None else item[0])
    return [(_state(code), n) for code, n in ordered]


def call_counts(
    conn: sqlite3.Connection, parents: Iterable[int]
) -> list[tuple[int, str, str, str | None, int]]:
    """``(parent, type, kind, state, count)``: the processes each of ``parents`` called,
    counted by process type, kind and state (``None`` where none is stored)."""
    codes = link_codes(CALL_LINKS)
    found: list[tuple[int, str, str, str | None, int]] = []
    for chunk in chunks(parents, 400):
        sql = (
            "SELECT l.src, n.type, n.kind, n.state, count(*) FROM link l"
            " CROSS JOIN node n ON n.pk = l.dst"
            f" WHERE l.src IN ({marks(len(chunk))}) AND l.type IN"
            f" ({marks(len(codes))}) GROUP BY l.src, n.type, n.kind, n.state"
        )
        counts: dict[tuple[int, str, int, int | None], int] = {}
        for parent, type_, kind, state, n in conn.execute(sql, (*chunk, *codes)):
            counts[(parent, type_, kind, state)] = n
        if packed.has_packed(both.query_of(conn)):
            called = packed.called_by(len(chunk), "caller, type, state")
            sql = (
                f"SELECT caller, type, state, count(*) FROM ({called}) GROUP BY caller, type, state"
            )
            for parent, type_, state, n in conn.execute(sql, (*chunk, *chunk)):
                key = (parent, type_, _CALC, state)
                counts[key] = counts.get(key, 0) + n
        for (parent, type_, kind, state), n in sorted(counts.items(), key=_group_order):
            found.append((parent, type_, KIND_NAMES[kind], _state(state), n))
    return found


def _group_order(item: tuple[tuple[int, str, int, int | None], int]) -> tuple[Any, ...]:
    (parent, type_, kind, state), _ = item
    return parent, type_, kind, -1 if state is None else state


def link_counts(
    conn: sqlite3.Connection, side: Side, pks: Iterable[int], link_types: Iterable[str]
) -> list[tuple[int, int]]:
    """``(pk, count)`` of the links of ``link_types`` at the ``side`` end of each of ``pks``
    (``"dst"``: into it) that has any, in pk order within each chunk of pks."""
    if side not in ("src", "dst"):
        raise ValueError(f"side must be 'src' or 'dst', not {side!r}")
    codes = link_codes(link_types)
    found: list[tuple[int, int]] = []
    for chunk in chunks(pks, 400):
        sql = (
            f"SELECT {side}, count(*) FROM link WHERE {side} IN ({marks(len(chunk))})"
            f" AND type IN ({marks(len(codes))}) GROUP BY {side}"
        )
        part = dict(conn.execute(sql, (*chunk, *codes)).fetchall())
        query = both.query_of(conn)
        if packed.has_packed(query):
            part = {}
            for link in both.links_both(query, side, chunk, codes):
                end = getattr(link, side)
                part[end] = part.get(end, 0) + 1
        found += sorted(part.items())
    return found


def count_task_runs(conn: sqlite3.Connection, run_pk: int) -> int:
    """How many task runs (calc nodes with a start time) the run holds."""
    sql = f"SELECT count(*) FROM node WHERE {_TASK_RUNS}"
    total = int(conn.execute(sql, (run_pk, _CALC)).fetchone()[0])
    if packed.has_packed(both.query_of(conn)):
        sql = "SELECT count(*) FROM task_run WHERE run_pk = ?"
        total += int(conn.execute(sql, (run_pk,)).fetchone()[0])
    return total


def task_spans(
    conn: sqlite3.Connection, run_pk: int, step: int, keep_state: str
) -> list[tuple[int, str | None, str | None, float, float | None]]:
    """``(pk, label, state, ctime, mtime)`` of every ``step``-th task run of the run by start
    time, and of every one in ``keep_state``: the sample SQLite takes, so only it reaches
    Python (state ``None`` where none is stored)."""
    sql = (
        "SELECT pk, label, state, ctime, mtime FROM (SELECT pk, label, state, ctime, mtime,"
        f" row_number() OVER (ORDER BY ctime, pk) - 1 AS n FROM node WHERE {_TASK_RUNS})"
        " WHERE n % ? = 0 OR state = ?"
    )
    params: tuple[Any, ...] = (run_pk, _CALC, step, STATE_CODES[keep_state])
    if packed.has_packed(both.query_of(conn)):  # the task runs of both forms, in one order
        sql = sql.replace(
            f"FROM node WHERE {_TASK_RUNS}",
            f"FROM (SELECT pk, label, state, ctime, mtime FROM node WHERE {_TASK_RUNS}"
            " UNION ALL SELECT pk, label, state, ctime, mtime FROM task_run WHERE run_pk = ?)",
        )
        params = (run_pk, _CALC, run_pk, step, STATE_CODES[keep_state])
    return [
        (pk, label, _state(code), ctime, mtime)
        for pk, label, code, ctime, mtime in conn.execute(sql, params)
    ]

"""Finding nodes by what they are (name, kind, state, run, time): the statements behind
:func:`ferroflow.query.find_runs` and :func:`~ferroflow.query.find_nodes`.

Why here and not in :mod:`ferroflow.query`: the filters arrive as values (a pattern, codes, a
run pk, Unix seconds), never as SQL text, so the reading layer (:mod:`.graph_read`, see its
docstring) can answer them from today's ``node``/``link`` tables now and from packed task runs
too later, while ``query`` keeps the user-facing part (parsing times, names, aliases, errors).
The wording of each condition steers SQLite's planner to one index (``node_toplevel``,
``node_process_ctime``, ``node_unfinished``, ``node_run``): see :func:`_processes` and
``tests/api/test_query_indexes.py``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..model.vocabulary import KIND_CODES, STATE_CODES, Kind, State
from . import packed_read as packed
from .graph_read import NODE_ROW_COLUMNS, NodeRow, Query, packed_nodes
from .schema import (
    PROCESS_NODE,
    RUN_INPUTS_SQL,
    RUN_OUTPUTS_SQL,
    TOP_LEVEL_RUN,
    UNFINISHED_PROCESS,
)

__all__ = ["is_glob", "select_nodes", "select_runs"]

_COLUMNS = ", ".join(NODE_ROW_COLUMNS)
_GLOB = re.compile(r"[*?\[]")
_FINISHED = STATE_CODES[State.FINISHED]


def is_glob(pattern: str) -> bool:
    """Whether a name pattern globs (holds ``* ? [``) rather than names one thing exactly."""
    return _GLOB.search(pattern) is not None


def _text_match(
    columns: tuple[str, ...], pattern: str, where: list[str], params: list[Any]
) -> None:
    """``pattern`` equal to (or, with ``* ? [``, globbing) any of ``columns``; for ``type``
    also its last dotted component (``square`` matches ``pkg.mod.square``)."""
    tests = []
    op = "GLOB" if is_glob(pattern) else "="
    for column in columns:
        tests.append(f"{column} {op} ?")
        params.append(pattern)
        if column == "type":
            tests.append("type GLOB ?" if op == "GLOB" else "substr(type, -?) = ?")
            if op == "GLOB":
                params.append("*." + pattern)
            else:
                params.extend([len(pattern) + 1, "." + pattern])
    where.append("(" + " OR ".join(tests) + ")")


def _time_range(
    since: float | None, until: float | None, where: list[str], params: list[Any]
) -> None:
    if since is not None:
        where.append("ctime >= ?")
        params.append(since)
    if until is not None:
        where.append("ctime < ?")
        params.append(until)


#: packed calc nodes as node rows (a subquery SQLite flattens, so the filters reach task_run)
_PACKED_CALCS = (
    f"(SELECT pk, uuid, {KIND_CODES[Kind.CALC]} AS kind, type, label, state, NULL AS error,"
    " run_pk, ctime, mtime, NULL AS codec, NULL AS blob_id FROM task_run)"
)
#: the data nodes a run's packed task runs used from outside their rows (one parameter: the run)
_PACKED_RUN_INPUTS = (
    "SELECT json_extract(j.value, '$[1]') FROM task_run t, json_each(t.inputs) j WHERE t.run_pk = ?"
)


def _select(
    query: Query,
    where: Sequence[str],
    params: list[Any],
    order_by: str,
    limit: int | None,
    table: str = "node",
) -> list[NodeRow]:
    sql = f"SELECT {_COLUMNS} FROM node WHERE {' AND '.join(where) or '1'} ORDER BY {order_by}"
    if table != "node":
        sql = sql.replace(" FROM node ", f" FROM {table} ", 1)
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [tuple(row) for row in query(sql, params)]


def _processes(by_time: bool) -> str:
    """The condition "a process node", worded so that SQLite walks ``node_process_ctime``
    (process nodes in time order) when ``by_time``, and otherwise cannot: its planner uses a
    partial index only for a WHERE clause that repeats the index's condition, and prefers a
    walk in ``ORDER BY`` order even when a filter may match nothing, which then reads every
    entry and its row (0.9-1.3 s against a 0.5-0.8 s scan at 10M nodes). Hence a task name, a
    state or a run without a time bound scans, as it did before the index; add ``since`` to
    walk (``find_nodes(state="FAILED", since="1d")``)."""
    return PROCESS_NODE if by_time else f"kind > {KIND_CODES[Kind.DATA]}"


def select_runs(
    query: Query,
    *,
    label: str | None,
    states: Sequence[int],
    since: float | None,
    until: float | None,
    limit: int | None,
) -> list[NodeRow]:
    """Top-level graph runs, newest first: ``label`` a pattern over the graph's name and
    qualified name, ``states`` codes (any of them; none: all), ``since``/``until`` Unix
    seconds bounding the start time."""
    where = [TOP_LEVEL_RUN]
    params: list[Any] = []
    if label is not None:
        _text_match(("label", "type"), label, where, params)
    if states:
        where.append(f"state IN ({', '.join('?' * len(states))})")
        params.extend(states)
    _time_range(since, until, where, params)
    return _select(query, where, params, "ctime DESC, pk DESC", limit)


def select_nodes(
    query: Query,
    *,
    task: str | None,
    kind: str | None,
    states: Sequence[int],
    run_pk: int | None,
    since: float | None,
    until: float | None,
    limit: int | None,
    newest_first: bool,
) -> list[NodeRow]:
    """Nodes matching every filter given, oldest first (``newest_first`` reverses); the
    arguments are :func:`ferroflow.query.find_nodes`'s, checked and resolved: ``kind`` a
    :class:`~ferroflow.model.vocabulary.Kind` name, ``states`` codes, ``run_pk`` a top-level
    run's pk, ``since``/``until`` Unix seconds."""
    where: list[str] = []
    params: list[Any] = []
    both = packed.has_packed(query)
    listing = task is None and run_pk is None and not states  # nothing but kind and limit
    timed = since is not None or until is not None or listing
    if timed and (task is not None or states or kind in (Kind.CALC, Kind.WORK)):
        where.append(_processes(by_time=True))
    elif task is not None:  # data nodes have labels too; a state or a kind says it already
        # first: SQLite tests the terms in this order, and this cheap one drops data nodes
        # (two thirds of a store) before a name's pattern is matched
        where.append(_processes(by_time=False))
    if task is not None:
        _text_match(("label", "type"), task, where, params)
        # or the label its call's metadata= gave (process_text, see store.schema)
        op = "GLOB" if is_glob(task) else "="
        where[-1] = where[-1][:-1] + f" OR pk IN (SELECT pk FROM process_text WHERE label {op} ?))"
        params.append(task)
    if states:
        where.append(f"state IN ({', '.join('?' * len(states))})")
        params.extend(states)
        if _FINISHED not in states and not timed:
            where.append(UNFINISHED_PROCESS)  # the states of node_unfinished: search it
    if run_pk is not None:
        if kind is not None and kind != Kind.DATA:
            where.append("run_pk = ? AND kind = ?")  # the node_run index
            params.extend([run_pk, KIND_CODES[kind]])
        else:
            where.append(f"(run_pk = ? OR pk IN ({RUN_INPUTS_SQL}) OR pk IN ({RUN_OUTPUTS_SQL}))")
            params.extend([run_pk, run_pk, run_pk])
            if both:  # and what its packed task runs used from outside their rows
                where[-1] = where[-1][:-1] + f" OR pk IN ({_PACKED_RUN_INPUTS}))"
                params.append(run_pk)
    if kind is not None and not (run_pk is not None and kind != Kind.DATA):
        where.append("kind = ?")
        params.append(KIND_CODES[kind])
    _time_range(since, until, where, params)
    order = "ctime DESC, pk DESC" if newest_first else "ctime, pk"
    found = _select(query, where, params, order, limit)
    if not both:
        return found
    if kind in (None, Kind.CALC):
        found += _select(
            query,
            where,
            list(params[: len(params) - (limit is not None)]),
            order,
            limit,
            _PACKED_CALCS,
        )
    if task is None and not states and kind in (None, Kind.DATA):
        found += _inline_nodes(query, run_pk, since, until)
    found.sort(key=lambda row: (row[8], row[0]), reverse=newest_first)
    return found if limit is None else found[:limit]


def _inline_nodes(
    query: Query, run_pk: int | None, since: float | None, until: float | None
) -> list[NodeRow]:
    """The packed rows' inline data nodes of run ``run_pk`` (every one when None; a run's
    data are what its processes used or made, in either form) created in ``[since, until)``."""
    if run_pk is None:
        rows = {pk: row for row in packed.find_rows(query, "1", ()) for pk in _inline(row)}
    else:
        rows = {
            pk: row
            for row in packed.find_rows(query, "run_pk = ?", (run_pk,))
            for pk in _inline(row)
        }
        used = [pk for (pk,) in query(RUN_INPUTS_SQL, (run_pk,))]
        used += [pk for (pk,) in query(_PACKED_RUN_INPUTS, (run_pk,))]
        rows.update(packed_nodes(query, used))
    found = [row.node(pk) for pk, row in rows.items()]
    return [
        node
        for node in found
        if (since is None or node[8] >= since) and (until is None or node[8] < until)
    ]


def _inline(row: packed.Packed) -> range:
    return range(row.pk + 1, row.last + 1)

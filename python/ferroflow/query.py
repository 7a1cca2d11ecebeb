"""Finding stored runs and nodes: a small query API over the provenance store.

Two functions return :class:`~ferroflow.store.StoredNode` objects (with ``inputs``,
``outputs``, ``value``, ``ancestors()`` … as from :func:`ferroflow.load_node`)::

    from ferroflow.query import find_nodes, find_runs

    find_runs(limit=5)                             # the five newest top-level runs
    find_runs(label="ScatterGatherSquare", state="FAILED")
    find_nodes(task="square")                      # runs of any task named square (square1, …)
    find_nodes(task="square*", state="FAILED")     # glob patterns work too
    find_nodes(run=12, kind="data")                # every value run 12 used or made
    find_nodes(kind="calc", since="2h", limit=20)  # task runs of the last two hours
    find_nodes(since="2026-11-26", until="2026-11-27T12:00")

Why it is shaped like this: the questions people ask a provenance store first are "which runs",
"where did task X fail", "what did run N produce" and "what ran recently" (``verdi process
list``, ``redun log``); each filter answers one of them and they combine with AND. Every query
is one SQL statement on the store's read connection, so results include everything recorded
before the call; the statements are the reading layer's (:mod:`ferroflow.store.graph_find`),
which takes the filters as values, so that this module holds no SQL and a store with packed task
runs answers the same calls. Filtering by ``run`` uses the ``node_run`` index (and the link
indexes for data nodes, whose ``run_pk`` may be unset); listing runs uses the partial index on
top-level runs. Process nodes (``kind`` calc or work, a ``task``, a ``state``) with a time bound
(``since``/``until``), or listed with nothing but ``kind`` (and ``limit``), walk the partial
index ``node_process_ctime`` in time order and stop after ``limit``: the 20 newest task runs of
a 10M-node store in 0.1 ms instead of a 2 s scan and sort. A ``state`` other than FINISHED (the
failed tasks, of a run or of the store) searches the partial index ``node_unfinished``. A
``task`` name, or FINISHED, without a time bound scans the node table (a filter may match
nothing, and an index walk that finds nothing reads every entry *and* its row, slower than one
scan), which is linear and fine for interactive use; pass ``since`` in large stores.
"""

from __future__ import annotations

import datetime as _dt
import re
import time
from collections.abc import Iterable

from .model.vocabulary import KIND_CODES, STATE_CODES, Kind
from .profile import get_current_profile
from .store import Store, StoredNode
from .store.graph_read import task_state_counts
from .store.schema import state_name

__all__ = ["KINDS", "find_nodes", "find_runs", "parse_time", "task_counts"]

#: Node kinds, with the aliases ``task`` (``calc``) and ``graph`` (``work``).
KINDS: dict[str, str] = {kind: kind for kind in KIND_CODES} | {
    "task": Kind.CALC,
    "graph": Kind.WORK,
}

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
TimeLike = float | int | _dt.datetime | _dt.date | str


def parse_time(value: TimeLike) -> float:
    """A point in time as Unix seconds.

    Accepts Unix seconds, a :class:`datetime.datetime` (naive means local time), a
    :class:`datetime.date` (local midnight), an ISO 8601 string (``2026-11-26``,
    ``2026-11-26T17:30``, ``…Z``), or a relative age meaning "that long ago": ``90s``, ``15m``,
    ``2h``, ``3d``, ``1w``.
    """
    if isinstance(value, bool):
        raise TypeError("a time cannot be a bool")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, _dt.datetime):
        return value.timestamp()
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day).timestamp()
    if not isinstance(value, str):
        raise TypeError(f"cannot read a time from {type(value).__name__}")
    text = value.strip()
    match = _RELATIVE.fullmatch(text)
    if match:
        return time.time() - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = _dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(
            f"cannot read {value!r} as a time: use ISO 8601 (2026-11-26T17:30), Unix seconds "
            "or an age like 90s, 15m, 2h, 3d, 1w"
        ) from None
    return moment.timestamp()


def _store(store: Store | None) -> Store:
    return get_current_profile().store if store is None else store


def _states(state: str | Iterable[str] | None) -> list[int]:
    names = [state] if isinstance(state, str) else list(state or ())
    codes = []
    for name in names:
        code = STATE_CODES.get(name.upper())
        if code is None:
            raise ValueError(f"unknown state {name!r}; expected one of {', '.join(STATE_CODES)}")
        codes.append(code)
    return codes


def _time(value: TimeLike | None) -> float | None:
    return None if value is None else parse_time(value)


def _limit(limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative int or None, not {limit!r}")
    return limit


def find_runs(
    store: Store | None = None,
    *,
    label: str | None = None,
    state: str | Iterable[str] | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    limit: int | None = None,
) -> list[StoredNode]:
    """Top-level graph runs, newest first.

    ``label``: the graph's name (or qualified name, or a glob such as ``"Scatter*"``);
    ``state``: one state name or several (``"FAILED"``, ``["RUNNING", "FAILED"]``);
    ``since``/``until``: start time bounds (see :func:`parse_time`); ``store``: defaults to
    the current profile's.

    >>> [run.label for run in find_runs(limit=2)]            # doctest: +SKIP
    ['ScatterGatherSquare', 'ParallelSquare']
    """
    codes = _states(state)
    start, end = _time(since), _time(until)
    reader = _store(store)._reader
    return reader.find_runs(label=label, states=codes, since=start, until=end, limit=_limit(limit))


def find_nodes(
    store: Store | None = None,
    *,
    task: str | None = None,
    kind: str | None = None,
    state: str | Iterable[str] | None = None,
    run: int | str | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[StoredNode]:
    """Stored nodes matching every filter given, oldest first (``newest_first`` reverses).

    ``task``: a task or graph name: the label in its graph (``square1``), its function's name
    (``square``, matching every ``square``, ``square1``, …) or qualified name, the ``label``
    its call's ``metadata=`` gave (``"AdditionStep"``), or a glob; process nodes only.
    ``kind``: ``data``, ``calc`` (alias ``task``) or ``work`` (``graph``).
    ``state``: process state(s). ``run``: pk or uuid of a top-level run; its processes and
    every value they used, created or returned. ``since``/``until``: creation time bounds
    (:func:`parse_time`). ``store`` defaults to the current profile's.

    >>> failed = find_nodes(task="square", state="FAILED")   # doctest: +SKIP
    >>> [node.error.splitlines()[-1] for node in failed]      # doctest: +SKIP
    ['ValueError: negative input']
    """
    db = _store(store)
    kind_name = None
    if kind is not None:
        kind_name = KINDS.get(kind)
        if kind_name is None:
            raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    codes = _states(state)
    if task is not None and kind_name == Kind.DATA:
        raise ValueError("data nodes have no task name; use kind='calc' or 'work' with task")
    run_pk = None if run is None else _run_pk(db, run)
    return db._reader.find_nodes(
        task=task,
        kind=kind_name,
        states=codes,
        run_pk=run_pk,
        since=_time(since),
        until=_time(until),
        limit=_limit(limit),
        newest_first=newest_first,
    )


def task_counts(store: Store | None = None, *, run: int | str) -> dict[str, int]:
    """How many task runs of top-level run ``run`` (pk or uuid) ended in each state, e.g.
    ``{"FINISHED": 10, "FAILED": 1}``: one grouped count on the ``node_run`` index, so a run
    of a million tasks costs no million node objects. Tasks that never started (skipped,
    cancelled before they began) have no node and are not counted."""
    db = _store(store)
    run_pk = _run_pk(db, run)
    counts = task_state_counts(db._reader.query, run_pk)
    return {state_name(code): n for code, n in counts.items()}


def _run_pk(store: Store, run: int | str) -> int:
    if isinstance(run, bool):
        raise TypeError("run must be a pk or a uuid, not a bool")
    if isinstance(run, str) and run.isdigit():
        run = int(run)
    node = store.load_node(run)
    if node.kind != Kind.WORK or node.run_pk != node.pk:
        belongs = f"; it belongs to run {node.run_pk}" if node.run_pk is not None else ""
        raise ValueError(f"node {run!r} is not a top-level graph run{belongs}")
    return node.pk

"""What a task run printed and logged (:mod:`ferroflow.engine.capture`), kept beside its process
node in the ``task_output`` table.

One row per process node (one attempt of a task) that wrote anything: most tasks print nothing,
so a side table costs nothing for them, where a column would widen every node row. Written once,
when the attempt ends, through the writer's generic ``OP_SQL`` rows; read one node at a time
(``ferroflow node show``, ``StoredNode.output``) or a whole run in run order (``ferroflow
logs``). Additive to the schema (``CREATE TABLE IF NOT EXISTS`` when a store opens), like
``process_text``: a store from before it gets the empty table, and ``SCHEMA_VERSION`` stays 1.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..model.names import storable_text
from .graph_read import (
    NODE_ROW_COLUMNS,
    Query,
    call_links_of_run,
    captured_output_of_run,
    node_row,
)
from .rows import OP_SQL

__all__ = ["INSERT_OUTPUT_SQL", "OUTPUT_SQL", "TaskOutput", "output_row", "run_outputs"]

INSERT_OUTPUT_SQL = "INSERT OR REPLACE INTO task_output(pk, text, dropped) VALUES (?, ?, ?)"
#: one parameter, a process pk: its captured text and the characters dropped from its middle
OUTPUT_SQL = "SELECT text, dropped FROM task_output WHERE pk = ?"
_LABEL = NODE_ROW_COLUMNS.index("label")


class TaskOutput(NamedTuple):
    """One task run's captured output: its pk, its path in the run (``run/graph/task``), the
    text and how many characters were dropped from its middle."""

    pk: int
    path: str
    text: str
    dropped: int


def output_row(pk: int, text: str, dropped: int) -> tuple[Any, ...]:
    """The queued row that keeps process ``pk``'s captured ``text``."""
    return (OP_SQL, INSERT_OUTPUT_SQL, (pk, storable_text(text), dropped))


def run_outputs(query: Query, run_pk: int) -> list[TaskOutput]:
    """Every task run of run ``run_pk`` that wrote something, in the order they started."""
    rows = captured_output_of_run(query, run_pk)
    if not rows:
        return []
    callers = {dst: (src, label) for dst, src, label in call_links_of_run(query, run_pk)}
    run = node_row(query, run_pk)
    run_label = None if run is None else run[_LABEL]
    root = str(run_label) if run_label else str(run_pk)

    def path(pk: int) -> str:
        names: list[str] = []
        seen: set[int] = set()
        while pk in callers and pk not in seen and pk != run_pk:
            seen.add(pk)
            pk, label = callers[pk]
            names.append(str(label))
        return "/".join([root, *reversed(names)])

    return [TaskOutput(pk, path(pk), text, dropped) for pk, text, dropped in rows]

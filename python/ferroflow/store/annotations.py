"""What a node carries besides its value and links: a process's ``label`` / ``description``
from a call's ``metadata=``, and a data node's extras (WorkGraph's ``meta(extras=...)``).

Both are rare, written once when a task starts or finishes, and read one node at a time, so
they live in side tables (``process_text``, ``extra``; :mod:`.schema`) written through the
writer's generic ``OP_SQL`` rows rather than as columns of every node row. Extras are stored
as JSON text, one row per key, as AiiDA keeps them (JSON-serialisable values only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .rows import OP_SQL

__all__ = [
    "EXTRAS_SQL",
    "INSERT_EXTRA_SQL",
    "INSERT_TEXT_SQL",
    "TEXT_SQL",
    "extra_rows",
    "read_extras",
    "text_row",
]

#: rows of a process's label and description, and of one extra of a data node (JSON text)
INSERT_TEXT_SQL = "INSERT OR REPLACE INTO process_text(pk, label, description) VALUES (?, ?, ?)"
INSERT_EXTRA_SQL = "INSERT OR REPLACE INTO extra(pk, key, value) VALUES (?, ?, ?)"
#: one parameter, a pk: its label and description
TEXT_SQL = "SELECT label, description FROM process_text WHERE pk = ?"
#: one parameter, a pk: its extras, by key
EXTRAS_SQL = "SELECT key, value FROM extra WHERE pk = ? ORDER BY key"


def text_row(pk: int, label: str | None, description: str | None) -> tuple[Any, ...]:
    """The queued row that stores process ``pk``'s label and description."""
    return (OP_SQL, INSERT_TEXT_SQL, (pk, label, description))


def extra_rows(pk: int, extras: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The queued rows that store data node ``pk``'s extras (JSON, checked when declared)."""
    return [
        (OP_SQL, INSERT_EXTRA_SQL, (pk, key, json.dumps(value))) for key, value in extras.items()
    ]


def read_extras(rows: list[Any]) -> dict[str, Any]:
    """Extras by key from the rows of :data:`EXTRAS_SQL`."""
    return {key: json.loads(value) for key, value in rows}

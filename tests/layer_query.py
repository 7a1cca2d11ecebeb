"""The reading layer's ``query`` callable over a test's own SQLite connection.

Why: tests that read a store from another process, from a raw file or after a crash cannot use
a :class:`~ferroflow.store.Store`'s reader, yet their graph questions must go through
``ferroflow.store.graph_read`` like every other reader, so that a store holding packed task runs
(``docs/packed-task-runs.md``, step 2) answers them in full
(``tests/store/test_tests_read_through_layer.py``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ferroflow.store.graph_read import Query


def conn_query(conn: sqlite3.Connection) -> Query:
    """``graph_read``'s ``query`` over ``conn``: each statement's rows as a list."""

    def query(sql: str, params: Sequence[Any]) -> list[Any]:
        return conn.execute(sql, tuple(params)).fetchall()

    return query


@contextmanager
def file_query(path: Path | str, read_only: bool = False) -> Iterator[Query]:
    """``graph_read``'s ``query`` over a connection of its own to the store file ``path``
    (``read_only``: opened ``mode=ro``, for a file another process is writing), closed after."""
    if read_only:
        conn = sqlite3.connect(f"{Path(path).as_uri()}?mode=ro", uri=True)
    else:
        conn = sqlite3.connect(path)
    try:
        yield conn_query(conn)
    finally:
        conn.close()

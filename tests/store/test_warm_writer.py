"""The store's writer, kept warm between runs, commits each run by its return: another
connection sees every run's end state as soon as ``run()`` returns, a failed run and a batch
with a refused row included. Runs once per committer (tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ferroflow import get_current_profile, task
from ferroflow.demo import ScatterGatherSquare
from ferroflow.errors import StoreWriteError
from ferroflow.model.data import DataNode
from ferroflow.store import graph_read
from ferroflow.store.schema import STATE_CODES
from layer_query import file_query

pytestmark = pytest.mark.usefixtures("writer")


@task
def boom(x: int) -> int:
    """Fails on purpose."""
    raise ValueError(f"boom {x}")


@task.graph
def fails(x: int) -> int:
    return boom(x=x).result


def _states(path: Path, pks: list[int]) -> list[int | None]:
    state = graph_read.NODE_ROW_COLUMNS.index("state")
    with file_query(path) as query:
        rows = graph_read.node_rows(query, pks)
    return [rows[pk][state] if pk in rows else None for pk in pks]


def test_a_warm_writer_commits_each_run_at_its_return_after_a_failed_run_and_row() -> None:
    store = get_current_profile().store
    runs: list[int] = []
    finished, failed = STATE_CODES["FINISHED"], STATE_CODES["FAILED"]
    for n in (3, 4):
        wg = ScatterGatherSquare.build(n)
        wg.run()
        assert wg.pk is not None
        runs.append(wg.pk)
        assert _states(store.path, runs) == [finished] * len(runs)
    bad = fails.build(1)
    bad.run(raise_on_error=False)
    assert bad.pk is not None
    assert _states(store.path, [bad.pk]) == [failed]  # stored at return
    store._writer.limit_length(1000)  # a row SQLite refuses, on the same warm writer
    store.record_data(DataNode("x" * 2000))
    with pytest.raises(StoreWriteError):
        store.flush()
    store._writer.limit_length(1_000_000)
    wg = ScatterGatherSquare.build(2)
    wg.run()
    assert wg.pk is not None and wg.outputs.result.value == 5
    assert _states(store.path, [*runs, wg.pk]) == [finished] * 3

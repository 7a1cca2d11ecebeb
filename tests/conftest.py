"""Shared fixtures: every test gets its own FERROFLOW_HOME and no cached profile."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ferroflow.profile as profile_module
import pytest
from ferroflow.store import Store


@pytest.fixture(autouse=True)
def ferroflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point FERROFLOW_HOME at a private directory and forget loaded profiles, so no test
    writes to the user's ``~/.ferroflow`` or sees another test's store; stores opened by the
    test are closed afterwards."""
    home = tmp_path / "ferroflow_home"
    monkeypatch.setenv("FERROFLOW_HOME", str(home))
    monkeypatch.setattr(profile_module, "_profiles", {})
    monkeypatch.setattr(profile_module, "_current", None)
    yield home
    for profile in list(profile_module._profiles.values()):
        profile.close()


@pytest.fixture(params=["ffi", "python"])
def writer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Which committer writes the store's batches in this test: ``ffi`` (Rust, detached,
    through the SQLite library Python's ``sqlite3`` uses) or ``python`` (``executemany``).

    Chosen through ``FERROFLOW_PY_WRITER``, which a store reads when it opens (child processes
    inherit it); a store opened here proves the choice took effect."""
    monkeypatch.setenv("FERROFLOW_PY_WRITER", "1" if request.param == "python" else "0")
    with Store.open(tmp_path / "writer-probe.sqlite") as probe:
        chosen = probe._writer.committer
    if chosen != request.param and request.param == "ffi" and sys.platform != "linux":
        pytest.skip(f"the SQLite library cannot be proven to be Python's on {sys.platform}")
    assert chosen == request.param
    return str(request.param)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A Dask ``LocalCluster`` of two single-threaded worker processes and its client, one per
    test module that asks for it (tests/test_dask*.py, and every suite of tests/policies/
    through its ``backend`` fixture)."""
    import distributed  # the 'dask' extra, part of the 'test' extra
    from ferroflow.executors import dask as dask_executor

    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = distributed.Client(cluster)
    yield client
    dask_executor.close_clients()  # the ones made for addresses, before their scheduler stops
    client.close()
    cluster.close()

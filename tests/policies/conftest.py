"""The ``backend`` fixture: every test of the policy suites runs once per backend
(:mod:`policies.backends`), unless its parametrisation (:func:`policies.backends.only`) names
fewer."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from policies.backends import BACKENDS, Backend, make


@pytest.fixture(params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Backend]:
    name = request.param
    monkeypatch.delenv("FERROFLOW_EXECUTOR", raising=False)
    monkeypatch.setenv("FERROFLOW_FAST_LANE", "0" if name == "general" else "1")
    client: Any = None
    if name == "dask":
        client = request.getfixturevalue("client")
        # every worker imports the flows (and ferroflow) before the test (at once after the
        # first time), so that no test's first call waits for imports in a fresh process
        client.run(importlib.import_module, "policies.flows")
    files = tmp_path / "files"
    files.mkdir()
    backend = make(name, files, client)
    try:
        yield backend
    finally:
        backend.close()

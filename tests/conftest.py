"""Shared fixtures: every test gets its own FERROFLOW_HOME and no cached profile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ferroflow.profile as profile_module
import pytest


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

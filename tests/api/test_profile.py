"""Tests of profiles: location, persistence of the uuid, repr, lazy store, current profile."""

from __future__ import annotations

import json
import re
from pathlib import Path

import ferroflow.profile as profile_module
import pytest
from ferroflow.model.data import DataNode
from ferroflow.profile import get_current_profile, load_profile
from ferroflow.store import Store


@pytest.fixture
def home(ferroflow_home: Path) -> Path:
    """The private FERROFLOW_HOME set up for every test by ``conftest.ferroflow_home``."""
    return ferroflow_home


def forget_loaded_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate a new process: the next load_profile reads profile.json from disk."""
    for profile in profile_module._profiles.values():
        profile.close()
    monkeypatch.setattr(profile_module, "_profiles", {})
    monkeypatch.setattr(profile_module, "_current", None)


def test_default_profile_location_and_repr(home: Path) -> None:
    profile = load_profile()
    assert profile.name == "default"
    assert profile.path == (home / "default").resolve()
    assert re.fullmatch(r"[0-9a-f]{32}", profile.uuid)
    assert repr(profile) == f"Profile<uuid='{profile.uuid}' name='default'>"
    config = json.loads((home / "default" / "profile.json").read_text())
    assert config == {"name": "default", "uuid": profile.uuid}


def test_uuid_persists_across_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_profile("work")
    forget_loaded_profiles(monkeypatch)
    second = load_profile("work")
    assert second is not first
    assert second.uuid == first.uuid
    assert load_profile("other").uuid != first.uuid


def test_same_profile_object_within_a_process() -> None:
    assert load_profile("a") is load_profile("a")


def test_home_defaults_to_dot_ferroflow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FERROFLOW_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    profile = load_profile("p")
    assert profile.path == (tmp_path / "user" / ".ferroflow" / "p").resolve()


def test_store_is_opened_lazily_and_kept(home: Path) -> None:
    profile = load_profile()
    store_file = home / "default" / "provenance.sqlite"
    assert not store_file.exists()
    store = profile.store
    assert isinstance(store, Store)
    assert store.path == store_file.resolve()
    assert profile.store is store
    pk = store.record_data(DataNode([1, 2]))
    profile.close()
    assert store.closed
    reopened = profile.store  # reopens after close
    assert reopened is not store
    assert reopened.load_node(pk).value == [1, 2]


def test_current_profile() -> None:
    default = get_current_profile()  # nothing loaded yet: loads the default profile
    assert default.name == "default"
    other = load_profile("other")
    assert get_current_profile() is other
    assert load_profile() is default
    assert get_current_profile() is default


@pytest.mark.parametrize("name", ["", "a/b", "..", ".hidden", "-x", "sp ace"])
def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="profile name"):
        load_profile(name)


def test_corrupt_profile_file_is_reported(home: Path) -> None:
    (home / "broken").mkdir(parents=True)
    (home / "broken" / "profile.json").write_text('{"name": "broken"}')
    with pytest.raises(RuntimeError, match="corrupt profile file"):
        load_profile("broken")

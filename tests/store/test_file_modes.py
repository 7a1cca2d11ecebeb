"""The profile folder is 0700, the store and its WAL/SHM 0600, and every file an export writes
0600 (its folders 0700), whatever the umask: the store and exports hold every value of a run
(issue 17, "Security")."""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from ferroflow import load_profile
from ferroflow.cli import main
from ferroflow.export import export_run
from ferroflow.store import Store
from ferroflow.store.private import create_private_file, open_private, private_dir
from provenance_flows import run_howto


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_profile_folder_store_and_wal_are_private(umask: int, ferroflow_home: Path) -> None:
    profile = load_profile("secret")
    run_howto(2)
    store = profile.store
    store.flush()
    assert mode(ferroflow_home) == 0o700  # made by ferroflow: private too
    assert mode(profile.path) == 0o700
    assert profile.store_path.is_file() and mode(profile.store_path) == 0o600
    sidecars = [Path(f"{profile.store_path}{suffix}") for suffix in ("-wal", "-shm")]
    assert all(p.exists() for p in sidecars)  # WAL mode, store open
    assert [mode(p) for p in sidecars] == [0o600, 0o600]
    assert mode(profile.path / "profile.json") == 0o600


def test_a_store_opened_by_path_is_private(umask: int, tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "store.sqlite"
    store = Store.open(path)
    try:
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
    finally:
        store.close()


def test_existing_files_keep_their_mode(umask: int, tmp_path: Path) -> None:
    existing = tmp_path / "existing.sqlite"
    existing.write_bytes(b"")
    os.chmod(existing, 0o640)
    assert create_private_file(existing) is False and mode(existing) == 0o640
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, 0o750)
    private_dir(folder / "inner")
    assert mode(folder) == 0o750 and mode(folder / "inner") == 0o700
    replaced = tmp_path / "out.txt"
    replaced.write_text("old")
    os.chmod(replaced, 0o644)
    with open_private(replaced, "w") as fp:  # written over: private before any byte
        assert mode(replaced) == 0o600
        fp.write("new")
    assert replaced.read_text() == "new"


def test_every_export_is_private(umask: int, tmp_path: Path) -> None:
    store = load_profile().store
    run_pk = run_howto(2)
    out = tmp_path / "out"
    out.mkdir()
    for fmt, name in [
        ("json", "run.json"),
        ("prov-json", "run.prov.json"),
        ("mermaid", "run.mmd"),
        ("dot", "run.dot"),
        ("svg", "run.svg"),
        ("ro-crate", "crate.zip"),
    ]:
        export_run(store, run_pk, fmt, out / name)
        assert mode(out / name) == 0o600, fmt
    with zipfile.ZipFile(out / "crate.zip") as zf:
        assert zf.namelist()
    export_run(store, run_pk, "ro-crate", out / "crate" / "nested")
    for path in [out / "crate", *sorted((out / "crate").rglob("*"))]:
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["run.json", "run.prov.json", "run.mmd", "run.dot", "run.svg", "crate.zip", "crate"]
    )  # no .partial left behind


def test_cli_outputs_and_pages_are_private(umask: int, tmp_path: Path) -> None:
    run_pk = run_howto(2)
    load_profile().close()
    for args, name in [
        (["export", str(run_pk), "--format", "json", "-o"], "cli.json"),
        (["graph", str(run_pk), "--format", "dot", "-o"], "cli.dot"),
        (["view", str(run_pk), "-o"], "cli.html"),
    ]:
        assert main([*args, str(tmp_path / name)]) == 0
        assert mode(tmp_path / name) == 0o600, name

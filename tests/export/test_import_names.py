"""An imported run's names are data, never code: ``restart`` and ``cache why`` (CLI and API)
import a module named by a stored run only when the run came from this store, or when the user
names it (``--graph``, ``graph=``, ``--function``). The hostile file names a module whose file
sits in the current directory (which the CLI puts on ``sys.path``) and writes a marker when
imported; the test ends by importing it on purpose, proving the file really was dangerous."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ferroflow import WorkGraph, load_profile
from ferroflow.cache_why import explain_key
from ferroflow.cli import main as cli_main
from ferroflow.errors import FerroflowError
from ferroflow.export import import_run
from ferroflow.restart import import_object
from provenance_flows import export_json, run_howto, write_json


@pytest.fixture
def evil(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A module ``evil_mod_<random>`` in the current directory that creates ``marker`` when
    it is imported; returns its name and the marker."""
    name = f"evil_mod_{secrets.token_hex(6)}"
    marker = tmp_path / "pwned"
    (tmp_path / f"{name}.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "from ferroflow.demo import ScatterGatherSquare, square  # noqa: F401\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the CLI prepends the cwd: undo it after
    yield name, marker
    sys.modules.pop(name, None)


def _hostile_file(name: str, tmp_path: Path) -> Path:
    """A real export of ScatterGatherSquare(2) whose graph and task names point at ``name``."""
    document = export_json(load_profile("a").store, run_howto(2))
    for node in document["nodes"]:
        if node["kind"] != "data":
            node["type"] = f"{name}.{node['type'].rsplit('.', 1)[1]}"
    for row in document["code"]:
        row["type"] = f"{name}.{row['type'].rsplit('.', 1)[1]}"
    return write_json(document, tmp_path / "hostile.json")


def test_restart_and_cache_why_never_import_a_module_named_by_an_imported_run(
    evil: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, marker = evil
    path = _hostile_file(name, tmp_path)
    assert cli_main(["--profile", "b", "--create", "import", str(path)]) == 0
    store = load_profile("b").store
    [run] = store.runs()
    assert store.imported(run.pk)
    [square] = [n for n in run.called if n.label == "generate_numbers"]
    capsys.readouterr()

    assert cli_main(["--profile", "b", "restart", str(run.pk)]) == 1
    err = capsys.readouterr().err
    assert "imported from another store" in err and "--graph" in err
    with pytest.raises(FerroflowError, match="--graph"):
        WorkGraph.load(run.pk, profile=load_profile("b"))

    assert cli_main(["--profile", "b", "cache", "why", str(square.pk)]) == 0
    out = capsys.readouterr().out
    assert "not checked: the run was imported" in out and "--function" in out
    assert not marker.exists() and name not in sys.modules

    # Named by the user, the functions are imported and used.
    function = "ferroflow.demo.generate_numbers"
    assert explain_key(store, square.pk, function).current_code == "same"
    graph = "ferroflow.demo.ScatterGatherSquare"
    assert cli_main(["--profile", "b", "restart", str(run.pk), "--graph", graph]) == 0
    assert "FINISHED" in capsys.readouterr().out
    assert not marker.exists()

    # What the refusals prevented: importing the stored name runs the file's code.
    import_object(f"{name}.ScatterGatherSquare")
    assert marker.exists()


def test_a_run_of_this_store_still_restarts_by_its_name(tmp_path: Path) -> None:
    store = load_profile("a").store
    pk = run_howto(2)
    assert not store.imported(pk)
    again = WorkGraph.load(pk, profile=load_profile("a"))
    again.run()
    assert again.state == "FINISHED"
    # ...and its re-import into its own store is no import: it stays this store's run
    import_run(store, write_json(export_json(store, pk), tmp_path / "own.json"))
    assert not store.imported(pk)

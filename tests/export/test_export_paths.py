"""An RO-Crate export stays inside its target whatever the store holds: a run imported from a
hostile file (graph and data types such as ``../../evil.py``, an absolute path, NUL, 5000
characters) cannot make the directory or zip export write a file elsewhere, and every name it
writes is safe (issue 17, "Security")."""

from __future__ import annotations

import ast
import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from ferroflow import load_profile
from ferroflow.errors import UnsafeExportPathError
from ferroflow.export import export_run
from ferroflow.export.safe_paths import MAX_NAME, TargetFolder, check_arcname, safe_name
from provenance_flows import hostile_run

_SAFE = re.compile(rf"[A-Za-z0-9_-][A-Za-z0-9._-]{{0,{MAX_NAME - 1}}}")


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder outside every export target, with no ``.`` in its path (the exploit's
    ``short()`` keeps what follows the last dot); removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="ffoutside", dir="/tmp"))
    assert "." not in str(path)
    yield path
    shutil.rmtree(path)


def _hostile_types(outside: Path) -> list[str]:
    return [
        f"mod.{outside}/evil",  # short() == '/tmp/ffoutside…/evil': an absolute path
        "../../evil.py",
        "/tmp/x",
        "a/../../b",
        "..",
        ".",
        "x\0y",
        "mod." + "é" * 300,
        "mod." + "a" * 5000,
        "mod.C:\\evil",
        "mod.\n<script>",
    ]


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*"))


@pytest.mark.parametrize("index", range(11))
def test_ro_crate_of_a_hostile_import_stays_inside_its_target(
    index: int, tmp_path: Path, outside: Path
) -> None:
    root_type = _hostile_types(outside)[index]
    data_type = _hostile_types(outside)[-1 - index]
    victim = load_profile("victim").store
    run_pk = hostile_run(victim, tmp_path, root_type, data_type)
    exports = tmp_path / "exports"
    exports.mkdir()
    before = set(tmp_path.rglob("*"))
    absolute = Path("/tmp/x.py")  # where '/tmp/x' would land as a raw name
    absolute_before = absolute.stat() if absolute.exists() else None

    crate = exports / "crate"
    export_run(victim, run_pk, "ro-crate", crate)
    archive = exports / "crate.zip"
    export_run(victim, run_pk, "ro-crate", archive)

    assert list(outside.iterdir()) == []  # the exploit wrote <outside>/evil.py here
    assert (absolute.stat() if absolute.exists() else None) == absolute_before
    new = set(tmp_path.rglob("*")) - before
    assert all(p.resolve().is_relative_to(exports.resolve()) for p in new)
    assert sorted(p.name for p in exports.iterdir()) == ["crate", "crate.zip"]
    names = [p.relative_to(crate).as_posix() for p in _files_under(crate) if p.is_file()]
    for name in names:
        assert all(_SAFE.fullmatch(part) for part in name.split("/")), name
    with zipfile.ZipFile(archive) as zf:
        arcnames = zf.namelist()
    assert sorted(arcnames) == sorted(names)
    for name in arcnames:
        assert not name.startswith("/") and ".." not in name.split("/")
    metadata = json.loads((crate / "ro-crate-metadata.json").read_text())
    main = next(e for e in metadata["@graph"] if e["@id"] == "./")["mainEntity"]["@id"]
    assert (crate / main).is_file()  # the @id names the file that was written
    workflow = (crate / main).read_text()
    module = ast.parse(workflow)  # the placeholder: a docstring and the stored name as a literal
    assert [type(stmt) for stmt in module.body] == [ast.Expr, ast.Assign]
    assign = module.body[1]
    assert isinstance(assign, ast.Assign) and isinstance(assign.value, ast.Constant)
    assert assign.value.value == root_type


def test_safe_names_and_containment(tmp_path: Path) -> None:
    assert safe_name("square") == "square" and safe_name("sq", ".py") == "sq.py"
    for text in ("..", ".", "", "/", "-rf", "\0", ".hidden"):
        name = safe_name(text, ".py")
        assert _SAFE.fullmatch(name) and not name.startswith((".", "-")), name
    assert len(safe_name("x" * 10_000, ".py")) == MAX_NAME
    files = TargetFolder(tmp_path / "t")
    claimed = [files.claim("workflow", text, ".py") for text in ("a/b", "a_b", "A_B", "a?b")]
    assert claimed == [
        "workflow/a_b.py",
        "workflow/a_b-2.py",
        "workflow/A_B-3.py",
        "workflow/a_b-4.py",
    ]
    for bad in ("../x", "/etc/passwd", "a/../../x", "", ".", "a\\..\\x", "a\0"):
        with pytest.raises(UnsafeExportPathError):
            files.inside(bad)
        with pytest.raises(UnsafeExportPathError):
            check_arcname(bad)
    (tmp_path / "t" / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafeExportPathError):
        files.inside("link/escaped")  # resolved, so a link out is caught too

"""What build_backend/ferroflow_backend.py asks maturin for: the zig link to glibc 2.17 on glibc
Linux unless the builder chose otherwise (tests/packaging/test_manylinux.py checks the result,
scripts/test.sh the real wheel)."""

from __future__ import annotations

import importlib.util
import platform
import sys
from pathlib import Path
from types import ModuleType

import pytest

BACKEND = Path(__file__).resolve().parents[2] / "build_backend" / "ferroflow_backend.py"


def _backend() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ferroflow_backend", BACKEND)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.delenv("FERROFLOW_NATIVE_BUILD", raising=False)
    monkeypatch.delenv("MATURIN_PEP517_ARGS", raising=False)
    return _backend()


def test_a_glibc_linux_build_links_with_zig_for_manylinux2014(backend: ModuleType) -> None:
    assert sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert "ziglang" in backend.get_requires_for_build_wheel(None)
    assert backend._settings(None) == {"build-args": "--zig --compatibility manylinux2014"}
    kept = {"other": "x"}
    assert backend._settings(kept) == {**kept, "build-args": "--zig --compatibility manylinux2014"}
    assert kept == {"other": "x"}, "the caller's settings are not changed"


@pytest.mark.parametrize(
    ("env", "settings"),
    [
        ({"FERROFLOW_NATIVE_BUILD": "1"}, None),
        ({"MATURIN_PEP517_ARGS": "--compatibility off"}, None),
        ({}, {"build-args": "--compatibility off"}),
        ({}, {"maturin.build-args": "--features x"}),
    ],
)
def test_an_explicit_choice_replaces_the_zig_link(
    backend: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    settings: dict[str, str] | None,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert backend._settings(settings) is settings
    assert "ziglang" not in backend.get_requires_for_build_wheel(settings)


def test_every_hook_stops_with_one_line_without_cargo(
    backend: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no cargo, no rustc
    calls = [
        lambda: backend.get_requires_for_build_wheel(None),
        lambda: backend.get_requires_for_build_sdist(None),
        lambda: backend.get_requires_for_build_editable(None),
        lambda: backend.prepare_metadata_for_build_wheel(str(tmp_path)),
        lambda: backend.build_wheel(str(tmp_path)),
        lambda: backend.build_editable(str(tmp_path)),
        lambda: backend.build_sdist(str(tmp_path)),
    ]
    for call in calls:
        with pytest.raises(SystemExit) as stopped:
            call()
        assert stopped.value.code == backend.NO_RUST
        assert "\n" not in backend.NO_RUST

"""ferroflow's PEP 517 build backend: maturin, with two decisions made before it runs.

Why a wrapper and not maturin alone (pyproject.toml names this file as the backend):

1. Without Rust, maturin tries to download a toolchain (a long traceback where that is not
   possible) or prints several lines. A source build of ferroflow cannot work without cargo, so
   every hook first checks for it and stops with one line saying what to install.
2. A plain build links against the build machine's glibc (2.34+ for the thread functions Rust's
   std calls), so its wheel only installs on systems at least as new. On glibc Linux the wheel
   is linked with zig against glibc 2.17 instead (`maturin --zig --compatibility
   manylinux2014`): one manylinux_2_17 abi3 wheel for every CPython >= 3.10. zig comes from
   PyPI (the `ziglang` package) as a build requirement. Build arguments given explicitly
   (`--config-settings build-args=...` or `MATURIN_PEP517_ARGS`) replace this choice, and
   `FERROFLOW_NATIVE_BUILD=1` builds with the machine's own linker (maturin's PEP 517 default: a
   `linux_*` wheel for this machine).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from collections.abc import Mapping
from typing import Any

import maturin

NO_RUST = (
    "ferroflow: building from source needs Rust (cargo and rustc on PATH): install it from "
    "https://rustup.rs or your system's packages (e.g. apt install cargo), then retry"
)
PORTABLE_ARGS = "--zig --compatibility manylinux2014"


def _require_rust() -> None:
    """Stop the build with one line when cargo is missing (maturin would try to fetch Rust)."""
    if shutil.which("cargo") is None or shutil.which("rustc") is None:
        sys.exit(NO_RUST)


def _portable() -> bool:
    """Whether to link against glibc 2.17 with zig: glibc Linux, nothing chosen explicitly."""
    return (
        sys.platform.startswith("linux")
        and platform.libc_ver()[0] == "glibc"
        and os.environ.get("FERROFLOW_NATIVE_BUILD") != "1"
        and not os.environ.get("MATURIN_PEP517_ARGS")
    )


def _settings(config_settings: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The config settings with the portable build arguments added where none were given."""
    given = dict(config_settings or {})
    if "build-args" in given or "maturin.build-args" in given or not _portable():
        return config_settings
    given["build-args"] = PORTABLE_ARGS
    return given


def get_requires_for_build_wheel(config_settings: Mapping[str, Any] | None = None) -> list[str]:
    _require_rust()
    extra = ["ziglang"] if _settings(config_settings) is not config_settings else []
    return [*maturin.get_requires_for_build_wheel(config_settings), *extra]


def get_requires_for_build_sdist(config_settings: Mapping[str, Any] | None = None) -> list[str]:
    _require_rust()
    return list(maturin.get_requires_for_build_sdist(config_settings))


def get_requires_for_build_editable(
    config_settings: Mapping[str, Any] | None = None,
) -> list[str]:
    _require_rust()
    return list(maturin.get_requires_for_build_editable(config_settings))


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: Mapping[str, Any] | None = None
) -> str:
    _require_rust()
    return str(maturin.prepare_metadata_for_build_wheel(metadata_directory, config_settings))


def build_wheel(
    wheel_directory: str,
    config_settings: Mapping[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    _require_rust()
    return str(maturin.build_wheel(wheel_directory, _settings(config_settings), metadata_directory))


def build_editable(
    wheel_directory: str,
    config_settings: Mapping[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    # an editable build is for this machine: the native linker, no zig
    _require_rust()
    return str(maturin.build_editable(wheel_directory, config_settings, metadata_directory))


def build_sdist(sdist_directory: str, config_settings: Mapping[str, Any] | None = None) -> str:
    _require_rust()
    return str(maturin.build_sdist(sdist_directory, config_settings))

"""A source install on a machine without Rust stops with one line saying what to install.

maturin alone would try to download a toolchain (a long traceback offline);
build_backend/ferroflow_backend.py checks for cargo first. This runs the real `pip wheel` of
the checkout (as `pip install .` does) with every folder holding cargo or rustc taken off PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NO_RUST = (
    "ferroflow: building from source needs Rust (cargo and rustc on PATH): install it from "
    "https://rustup.rs or your system's packages (e.g. apt install cargo), then retry"
)


def _path_without_rust() -> str:
    kept = [
        d
        for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and not any(Path(d, tool).exists() for tool in ("cargo", "rustc"))
    ]
    return os.pathsep.join(kept)


def test_a_source_build_without_rust_stops_with_one_line(tmp_path: Path) -> None:
    assert (ROOT / "pyproject.toml").is_file() and (ROOT / "build_backend").is_dir()
    path = _path_without_rust()
    assert shutil.which("cargo", path=path) is None and shutil.which("rustc", path=path) is None
    env = {k: v for k, v in os.environ.items() if k not in ("CARGO", "RUSTC", "CARGO_HOME")}
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        env={**env, "PATH": path, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert [line.strip() for line in output.splitlines() if "ferroflow:" in line] == [NO_RUST]
    assert "Traceback" not in output
    assert "puccinialin" not in output, "maturin's toolchain download never starts"
    assert list(tmp_path.iterdir()) == []

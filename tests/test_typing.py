"""The public API type-checks: ``mypy --strict`` passes on the package and the examples.

The examples are what users write (tasks, graph bodies returning futures, reading
``wg.outputs``), so checking them checks the API's annotations from the user's side;
``python/ferroflow/_core.pyi`` stands in for the compiled module. Settings (module names,
the graph-body override, untyped optional dependencies) are in ``pyproject.toml``
``[tool.mypy]``. Slow-ish (a few seconds with mypy's cache, ~10 s without).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_strict_passes_on_package_and_examples() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "python/ferroflow", "examples"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

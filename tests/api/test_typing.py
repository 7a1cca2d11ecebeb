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

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_strict_passes_on_package_and_examples() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "python/ferroflow", "examples"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


BOUNDARY = """
from ferroflow import _core
from ferroflow.model.graph import TaskNode
from ferroflow.store.recorder import Recorder, StoreRecorder


def submittable(task: TaskNode) -> _core._SubmittableTask:
    return task


def recorders(null: Recorder, store: StoreRecorder) -> list[_core._Recorder]:
    return [null, store]
"""


def _mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    check = tmp_path / "boundary_check.py"
    check.write_text(source, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(check)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_objects_rust_reads_satisfy_the_declared_boundary(tmp_path: Path) -> None:
    """What the compiled module reads and calls (``_core.pyi``: ``_SubmittableTask``,
    ``_Recorder``) is what ferroflow's task nodes and recorders provide; a renamed attribute
    fails here, not at run time in the fast lane."""
    proc = _mypy(tmp_path, BOUNDARY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    missing = (
        BOUNDARY + "\n\nclass Bare:\n    handle = None\n\n\nbad: _core._SubmittableTask = Bare()\n"
    )
    proc = _mypy(tmp_path, missing)
    assert proc.returncode == 1 and "_SubmittableTask" in proc.stdout, proc.stdout

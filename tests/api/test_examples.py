"""Every script of the examples gallery (``examples/*.py``) runs and prints what it shows.

Each runs in a subprocess, as a reader would run it (``python examples/<name>.py``), with a
fresh ``FERROFLOW_HOME`` and a scratch working directory, and must exit 0 and print its key
line. A new example without an entry in ``KEY_LINES`` fails ``test_every_example_is_checked``,
so none passes unnoticed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
EXAMPLES = sorted(p.name for p in EXAMPLES_DIR.glob("*.py") if not p.name.startswith("_"))

#: One line each example must print (a regular expression matched against a whole line).
KEY_LINES: dict[str, str] = {
    "scatter_gather.py": r"sum of squares 1\.\.4 = 30 \(stored as pk \d+ in .+\)",
    "nested_graphs.py": r"effect of the treatment \(difference of means\): 2\.00",
    "recursion.py": r"sqrt\(2\.0\) = 1\.41421356237309\d* after \d+ Newton steps .*",
    "failure_handling.py": r"  survey/measure2: RuntimeError: detector saturated while .+",
    "numpy_arrays.py": r"read back with sqlite3 \+ numpy\.load: codec 'npy', .+ equal: True",
    "provenance_queries.py": r"RO-Crate: run-\d+-crate\.zip with \d+ files, including .+",
    "dask_cluster.py": r"peak amplitude of the last swing, by damping ratio \(6 tasks on \d+ "
    r"Dask worker\(s\)\):",
}


def test_gallery_is_not_empty() -> None:
    assert len(EXAMPLES) >= 7, EXAMPLES


def test_every_example_is_checked() -> None:
    assert set(EXAMPLES) == set(KEY_LINES), "add the new example's key line to KEY_LINES"


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs(name: str, tmp_path: Path) -> None:
    env = {**os.environ, "FERROFLOW_HOME": str(tmp_path / "home")}
    env.pop("FERROFLOW_PROGRESS", None)
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / name)],
        cwd=tmp_path,  # anything an example writes lands in the scratch directory
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    expected = KEY_LINES[name]  # the Dask example really runs: distributed is a test extra
    lines = proc.stdout.splitlines()
    assert any(re.fullmatch(expected, line) for line in lines), (
        f"{name} did not print a line matching {expected!r}:\n{proc.stdout}"
    )

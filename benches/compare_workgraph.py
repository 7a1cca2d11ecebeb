"""AiiDA WorkGraph as a peer of ``compare.py``: its environment, a throw-away profile, a child.

aiida-workgraph would reshape ferroflow's test environment (aiida-core 2.9 pins ``click<8.3`` and
``importlib-metadata~=6.0``, i.e. downgrades, and brings ~70 packages), so it lives in its own
virtualenv,
``benches/.venv-aiida`` (git-ignored), made by ``python benches/compare.py --setup-aiida``.
``compare.py`` drives it as a subprocess in the same invocation.

Each measurement gets a fresh AiiDA profile made by ``verdi presto --no-broker`` (SQLite storage
``core.sqlite_dos``, no RabbitMQ, no daemon) under a temporary ``AIIDA_PATH``, deleted afterwards:
``~/.aiida`` is never read or written. ``wg.run()`` runs the workflow in this process, blocking,
with full AiiDA provenance, as the how-to does.

This module is standard library only and runs in ferroflow's interpreter; the workloads run in
the aiida interpreter from ``compare_workgraph_child.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["DEFAULT_VENV", "PIP_REQUIREMENT", "describe", "profile_env", "setup_venv"]

HERE = Path(__file__).resolve().parent
DEFAULT_VENV = HERE / ".venv-aiida"
#: the version this comparison was written and run against (``verdi presto --no-broker`` needs
#: aiida-core >= 2.6; aiida-workgraph 0.9 requires aiida-core >= 2.7.3)
PIP_REQUIREMENT = "aiida-workgraph>=0.9,<0.10"


def setup_venv(venv: Path = DEFAULT_VENV) -> int:
    """Create ``venv`` and install aiida-workgraph from PyPI into it; returns pip's exit code."""
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=False)
    return subprocess.run([python, "-m", "pip", "install", PIP_REQUIREMENT], check=False).returncode


def describe(python: Path) -> str | None:
    """``aiida-workgraph X, aiida-core Y`` if both are installed for ``python``, else None.

    Reads package metadata only: importing aiida_workgraph needs a loaded AiiDA config, and
    importing aiida creates ``$AIIDA_PATH/.aiida`` (``~/.aiida`` by default).
    """
    if not python.exists():
        return None
    code = (
        "from importlib.metadata import version as v; "
        "print(f\"aiida-workgraph {v('aiida-workgraph')}, aiida-core {v('aiida-core')}\")"
    )
    try:
        done = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


class profile_env:
    """``with profile_env(python) as env:`` a fresh presto profile; ``env`` for the child."""

    def __init__(self, python: Path) -> None:
        self.python = python
        self.root = ""

    def __enter__(self) -> dict[str, str]:
        self.root = tempfile.mkdtemp(prefix="ferroflow-compare-aiida-")
        env = dict(os.environ, AIIDA_PATH=self.root)
        verdi = self.python.parent / "verdi"
        done = subprocess.run(
            [str(verdi), "presto", "--no-broker", "--profile-name", "compare"],
            env=env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            shutil.rmtree(self.root, ignore_errors=True)
            last = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise RuntimeError(f"verdi presto failed: {' '.join(last)}")
        return env

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

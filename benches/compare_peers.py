"""Parsl, jobflow and Prefect as peers of ``compare.py``: their virtualenvs and environments.

Each tool lives in its own git-ignored virtualenv under ``benches/`` (``.venv-parsl``,
``.venv-jobflow``, ``.venv-prefect``), made by ``python benches/compare.py --setup-parsl`` (and
``--setup-jobflow``, ``--setup-prefect``): their pins would reshape ferroflow's test environment
(Prefect 3 alone brings ~100 packages with their own pins of pydantic, httpx, SQLAlchemy, etc.;
jobflow brings maggma, mongomock and pymongo), and none of them is needed by ferroflow. The
measuring child, ``compare_peers_child.py``, runs with that venv's interpreter and imports only
standard-library helpers from ``benches/`` (``compare_child.py``, ``compare_peer_bodies.py``).

This module is standard library only and runs in ferroflow's interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["ENGINES", "PEER_WORKLOADS", "TOOLS", "child_env", "describe", "python_of", "setup_venv"]

HERE = Path(__file__).resolve().parent
#: tool → (pip requirement, distributions whose versions the table shows)
TOOLS: dict[str, tuple[str, list[str]]] = {
    "parsl": ("parsl", ["parsl"]),
    "jobflow": ("jobflow", ["jobflow", "maggma"]),
    "prefect": ("prefect>=3,<4", ["prefect"]),
}
#: compare.py engine → its tool
ENGINES = {
    "parsl-threads": "parsl",
    "parsl-htex": "parsl",
    "jobflow": "jobflow",
    "prefect": "prefect",
}
#: the workloads these peers run (the ``sleep`` and ``numpy`` bodies are not ported)
PEER_WORKLOADS = ("scatter", "chain", "howto", "nested")


def venv_of(tool: str) -> Path:
    return HERE / f".venv-{tool}"


def python_of(engine: str) -> Path:
    return venv_of(ENGINES[engine]) / "bin" / "python"


def setup_venv(tool: str) -> int:
    """Create ``benches/.venv-<tool>`` and pip-install the tool from PyPI; pip's exit code."""
    venv = venv_of(tool)
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=False)
    return subprocess.run([python, "-m", "pip", "install", TOOLS[tool][0]], check=False).returncode


def describe(tool: str) -> str | None:
    """``parsl 2026.10.26`` (``jobflow X, maggma Y``) if installed in its venv, else None."""
    python = venv_of(tool) / "bin" / "python"
    if not python.exists():
        return None
    dists = TOOLS[tool][1]
    code = (
        "from importlib.metadata import version as v; "
        f"print(', '.join(d + ' ' + v(d) for d in {dists!r}))"
    )
    try:
        done = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def child_env(engine: str, base: dict[str, str], home: str) -> dict[str, str]:
    """The measuring child's environment: the venv's ``bin`` first on ``PATH`` (Parsl's HTEX
    starts ``interchange.py`` and ``process_worker_pool.py`` from it), ``benches/`` importable
    (HTEX workers import the bodies), and for Prefect a fresh ``PREFECT_HOME`` under ``home`` (a
    temporary directory deleted by the caller), no API URL (so: the ephemeral local server) and
    quiet logging."""
    venv_bin = str(python_of(engine).parent)
    env = {
        **base,
        "PATH": venv_bin + os.pathsep + base.get("PATH", ""),
        "PYTHONPATH": str(HERE),
        "VIRTUAL_ENV": str(python_of(engine).parent.parent),
    }
    if ENGINES[engine] == "prefect":
        env.pop("PREFECT_API_URL", None)
        env.update(
            PREFECT_HOME=tempfile.mkdtemp(prefix="prefect-", dir=home),
            PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="true",
            PREFECT_LOGGING_LEVEL="ERROR",
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
        )
    return env

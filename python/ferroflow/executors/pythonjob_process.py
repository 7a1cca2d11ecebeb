"""One python job's child process (:mod:`.pythonjob`): the pickled call written into a private
temporary folder, ``python -m ferroflow.executors.pythonjob_child JOB RESULT`` started on it.

Its own module because it runs in two places: in the run's process for a job on this machine,
and on a Dask worker for a job whose ``computer`` names one of the profile's Dask executors
(:func:`run_job` is what the worker is sent; ``ferroflow`` must be installed there, as for any
task sent to that cluster)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

__all__ = ["JobEnd", "run_job", "start_job"]


class JobEnd(NamedTuple):
    """How a child ended: the result file's bytes (None if it wrote none), what it printed,
    its exit code, and the host it ran on (a job's error names it)."""

    result: bytes | None
    stdout: bytes
    stderr: bytes
    returncode: int
    host: str


def start_job(folder: Path, payload: bytes, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Write the pickled call into ``folder`` and start the child that runs it (its result
    goes to ``folder / "result.pkl"``)."""
    job = folder / "job.pkl"
    job.write_bytes(payload)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ferroflow.executors.pythonjob_child",
            str(job),
            str(folder / "result.pkl"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
    )


def ended(folder: Path, child: subprocess.Popen[bytes], out: bytes, err: bytes) -> JobEnd:
    """The :class:`JobEnd` of a child that has exited."""
    result = folder / "result.pkl"
    data = result.read_bytes() if result.exists() else None
    return JobEnd(data, out, err, child.returncode, os.uname().nodename)


def run_job(payload: bytes) -> JobEnd:
    """Run one pickled call in a child process here and wait for it (what a Dask worker runs:
    the child finds what the worker's Python finds)."""
    paths = [p for p in sys.path if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    with tempfile.TemporaryDirectory(prefix="ferroflow-job-") as name:
        folder = Path(name)
        child = start_job(folder, payload, env)
        out, err = child.communicate()
        return ended(folder, child, out, err)

"""A real one-node SLURM cluster on this machine, for the tests that run ferroflow through it.

The test command (scripts/test.sh) installs Debian's ``slurmctld``, ``slurmd``, ``slurm-client``
and ``munge``; :class:`SlurmCluster` writes a one-node configuration into a temporary folder,
starts ``munged`` (unless one runs), ``slurmctld`` and ``slurmd`` as root on private ports, waits
until the node is idle, and stops what it started on exit. ``SLURM_CONF`` is set for the test
process, so ``sbatch``/``squeue``/``scancel`` (and dask-jobqueue, which calls them) find it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["SlurmCluster", "missing"]

_BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo", "munged", "munge")


def missing() -> list[str]:
    """The programs of the cluster that are not installed (scripts/test.sh installs them)."""
    return [name for name in _BINARIES if shutil.which(name) is None and not _sbin(name)]


def _sbin(name: str) -> str | None:
    path = Path("/usr/sbin") / name
    return str(path) if path.exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _memory_mb() -> int:
    """What the node offers jobs (dask-jobqueue asks for --mem): the machine's, less 512 MB."""
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return max(pages // (1 << 20) - 512, 1024)


_CONF = """\
ClusterName=ferroflowtest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
KillWait=2
NodeName={host} CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


class SlurmCluster:
    """``with SlurmCluster(tmp) as cluster:`` a running one-node cluster (see the module)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "slurm.conf"
        self._started_munged = False
        self._old_conf: str | None = None

    def __enter__(self) -> SlurmCluster:
        if os.geteuid() != 0:
            raise RuntimeError("a SLURM cluster for the tests needs root (slurmd runs jobs)")
        for part in ("state", "spool"):
            (self.root / part).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            _CONF.format(
                host=socket.gethostname(),
                root=self.root,
                ctld_port=_free_port(),
                d_port=_free_port(),
                cpus=os.cpu_count() or 1,
                memory=_memory_mb(),
            )
        )
        self._old_conf = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = str(self.conf)
        self._start_munge()
        try:
            self._run("slurmctld", "-f", str(self.conf))
            self._run("slurmd", "-f", str(self.conf))
            self._wait_idle()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _run(self, name: str, *args: str) -> None:
        program = shutil.which(name) or _sbin(name) or name
        subprocess.run([program, *args], check=True, timeout=60)

    def _start_munge(self) -> None:
        probe = subprocess.run(["munge", "-n"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return  # a munged already runs
        key = Path("/etc/munge/munge.key")
        for folder in ("/etc/munge", "/var/log/munge", "/run/munge", "/var/lib/munge"):
            Path(folder).mkdir(parents=True, exist_ok=True)
            shutil.chown(folder, "munge", "munge")
        if not key.exists():
            key.write_bytes(os.urandom(1024))
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
        subprocess.run(
            ["runuser", "-u", "munge", "--", _sbin("munged") or "munged"], check=True, timeout=30
        )
        self._started_munged = True

    def _wait_idle(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            out = subprocess.run(
                ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30
            ).stdout
            if "idle" in out or "mixed" in out:
                return
            if time.monotonic() > deadline:
                log = (self.root / "slurmctld.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the SLURM node never became idle: {out!r}\n{log}")
            time.sleep(0.5)

    def jobs(self) -> list[str]:
        """Ids of the jobs queued or running."""
        out = subprocess.run(
            ["squeue", "-h", "-o", "%i"], capture_output=True, text=True, timeout=30
        ).stdout
        return out.split()

    def scancel(self, job: str) -> None:
        subprocess.run(["scancel", job], check=True, timeout=30)

    def __exit__(self, *exc: object) -> None:
        for name in ("slurmd", "slurmctld"):
            pid_file = self.root / f"{name}.pid"
            if pid_file.exists():
                with contextlib.suppress(ValueError, ProcessLookupError):
                    os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        if self._started_munged:
            subprocess.run(["pkill", "-x", "munged"], check=False, timeout=30)
        if self._old_conf is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = self._old_conf

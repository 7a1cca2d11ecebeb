"""Which process is running a run, so a run whose process died is shown KILLED, not RUNNING.

A run killed by SIGKILL, the OOM killer or a power cut cannot record its own end: its node and
the task nodes that were running stay RUNNING for ever, and ``ferroflow runs list`` would keep
saying so. AiiDA has the same problem with a dead daemon worker and leaves the process
"running". ferroflow keeps one ``run_owner`` row per run *in progress*: queued just before the
run node (the writer commits in queue order, so a committed run node always has its row) and
deleted just after its end state, so the table only ever holds live runs and runs whose
process died (it stays tiny and a scan of it is free).

Whenever a store is opened, and before a restart, the rows of this host are checked: a run
whose process no longer exists (or is a zombie), or whose pid now belongs to a newer process,
told apart by the process start time in ``/proc`` and the boot id, is *reaped*: its run node
and every node of it still PLANNED or RUNNING become ``KILLED`` with an error naming the
process, and its owner row goes. Rows of other hosts, and of other pid namespaces on this one
(containers sharing the host name cannot see each other's pids), are left alone: there is no
way to ask them; the restart of such a run says so in a warning. Reaping goes through the
store's writer like any other row change (the generic ``OP_SQL`` operation), so nothing writes
behind its back.
"""

from __future__ import annotations

import os
import socket
from functools import cache

from ..model.vocabulary import STATE_CODES, State
from .rows import STATEMENTS
from .schema import sql_codes

__all__ = [
    "CLAIM_SQL",
    "KILLED_ERROR",
    "LAST_SEEN_SQL",
    "REAPED_SQL",
    "REAP_SQL",
    "RELEASE_SQL",
    "alive",
    "this_process",
]

#: (the writer knows these two: a batch holding a run's claim and then its release leaves both out)
CLAIM_SQL = STATEMENTS["owner_claim"]
RELEASE_SQL = STATEMENTS["owner_release"]
_UNFINISHED = f"state IN ({sql_codes(STATE_CODES, (State.PLANNED, State.RUNNING))})"
#: Parameters: KILLED code, mtime, error text, run pk.
REAP_SQL = (
    "UPDATE node SET state = ?, mtime = ?, error = coalesce(error, ?)"
    f" WHERE run_pk = ? AND {_UNFINISHED}"
)
#: After REAP_SQL: the owner row goes only if nothing of the run is left PLANNED or RUNNING
#: (should the update fail, the next open tries again). Parameters: run pk twice.
REAPED_SQL = (
    "DELETE FROM run_owner WHERE run_pk = ?"
    f" AND NOT EXISTS (SELECT 1 FROM node WHERE run_pk = ? AND {_UNFINISHED})"
)
#: When a run last wrote anything: the ``mtime`` its KILLED nodes get, over its node rows and
#: its packed task runs (``task_run_run``). Parameters: run pk twice.
LAST_SEEN_SQL = (
    "SELECT max(seen) FROM (SELECT max(max(ctime, coalesce(mtime, ctime))) AS seen FROM node"
    " WHERE run_pk = ? UNION ALL SELECT max(max(ctime, coalesce(mtime, ctime))) FROM task_run"
    " WHERE run_pk = ?)"
)
KILLED_ERROR = "the process running it (pid {pid} on {host}) ended before the run did"


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), ``""`` where
    ``/proc`` does not tell, None if the process does not exist or is a zombie (dead, not yet
    waited for by its parent)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        return None
    except OSError:
        return ""
    # the command name (field 2) is in parentheses and may hold spaces: split after it
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def _token(pid: int) -> str | None:
    """``namespace|boot id|start time`` of process ``pid`` (seen from this pid namespace)."""
    start = _start_time(pid)
    return None if start is None else f"{_pid_namespace()}|{_boot_id()}|{start}"


@cache
def _host() -> str:
    return socket.gethostname()


#: ``(pid, this_process())`` as last computed: a process's token never changes, and a run
#: reading ``/proc`` three times (~30 µs, a tenth of a small run) at each start paid for nothing.
_this: tuple[int, tuple[str, int, str]] | None = None


def this_process() -> tuple[str, int, str]:
    """``(host, pid, token)`` of this process, as stored in its runs' owner rows. Kept per
    pid: a forked child is a different process and computes its own."""
    global _this
    pid = os.getpid()
    cached = _this
    if cached is not None and cached[0] == pid:
        return cached[1]
    token = _token(pid)
    owner = (_host(), pid, token or "")
    if token:  # a failed read is tried again next time, not kept for the process's life
        _this = (pid, owner)
    return owner


def alive(host: str, pid: int, token: str) -> bool | None:
    """Whether the owner process still runs: True, False, or None when this process cannot
    tell (another host, or another pid namespace of this one)."""
    if host != _host():
        return None
    namespace = token.split("|", 1)[0] if "|" in token else ""
    if namespace and namespace != _pid_namespace():
        return None
    if pid == os.getpid():
        return token == (_token(pid) or "")
    if os.path.isdir("/proc/self"):
        now = _token(pid)
        if now is None:
            return False
        return not token or now == token  # a different start time: the pid was reused
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

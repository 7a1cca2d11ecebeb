"""``@task.pythonjob``: the function runs in a Python process of its own (WorkGraph's F18).

A python job's call is sent to a fresh interpreter (``sys.executable -m
ferroflow.executors.pythonjob_child``): the function and its inputs are pickled into a file
(``cloudpickle`` when it is installed, so functions of a script's ``__main__`` travel by value),
the child writes back the result or the exception and its traceback. So a crash, ``os._exit``
or a leaked resource in the function fails only that task; the run goes on. The child's stdout
and stderr are read back and written to this process's ``sys.stdout``/``sys.stderr`` from the
job's async task, so the run's capture keeps them with the job's task run (stdout first, then
stderr, when the child has ended); the end of stderr is in the error of a job whose process
died.

The parent waits with ``asyncio`` (the job is an ``async`` task of the run's event loop), so a
waiting job holds no worker thread and jobs run side by side. ``computer`` is WorkGraph's input
naming where to run: ``"localhost"`` (the default) is this machine, and so is the name of one of
the profile's executors that runs here (``local``, ``processes``: ``ferroflow executors add``).
The name of one of the profile's Dask executors sends the job to that cluster: a worker starts
the job's child process there (:mod:`.pythonjob_process`), and its result, output and error
come back as from a child here. So a scheduler reached through Dask (``dask-jobqueue`` on
SLURM, a cluster's login node) is where WorkGraph users would name an AiiDA computer.
``metadata={"options": {...}}`` (scheduler settings in WorkGraph) is accepted and has nothing to
set for a child process.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from uuid import uuid4

from ..errors import PythonJobError, RemoteTaskError, RemoteTraceback
from ..model.own_inputs import with_own_inputs
from .pythonjob_process import JobEnd, ended, run_job, start_job

__all__ = ["LOCAL_COMPUTERS", "in_own_process", "named_computers"]

#: the computers a python job runs on here: this machine
LOCAL_COMPUTERS = ("localhost", "local")
_STDERR_TAIL = 2000


def _none() -> Mapping[str, str]:
    return {}


#: The current profile's executors as computers: name -> its Dask scheduler's address, or ""
#: for one on this machine. :mod:`ferroflow.profile` (a layer above, which this module may not
#: import) sets it.
named_computers: Callable[[], Mapping[str, str]] = _none


def _dumps(func: Callable[..., Any], kwargs: dict[str, Any]) -> bytes:
    """The pickled call. With cloudpickle (optional) a function of a script's ``__main__``
    travels by value; without it, the function goes by its module and name, which the child
    imports (the name there is the job's handle, whose ``func`` wraps this function)."""
    try:
        import cloudpickle
    except ImportError:
        return pickle.dumps(((func.__module__, func.__qualname__), kwargs))
    return bytes(cloudpickle.dumps((func, kwargs)))


def _child_env() -> dict[str, str]:
    """The child finds what this process finds: its ``sys.path`` (a script's own folder,
    ``sys.path.insert`` calls) as the child's ``PYTHONPATH``."""
    paths = [p for p in sys.path if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


async def _run_here(payload: bytes) -> JobEnd:
    with tempfile.TemporaryDirectory(prefix="ferroflow-job-") as name:
        folder = Path(name)
        # A plain process waited on from a thread, not an asyncio subprocess: the run's loop may
        # close while a cancelled job is still being reaped, and an asyncio transport left
        # behind then warns at garbage collection, long after (and in another test's time).
        child = start_job(folder, payload, _child_env())
        try:
            out, err = await asyncio.to_thread(child.communicate)
        except BaseException:  # the run was cancelled (Ctrl-C, a timeout): stop the job too
            if child.poll() is None:
                child.kill()  # the waiting thread's communicate() then reaps it
            raise
        return ended(folder, child, out, err)


async def _run_on_cluster(label: str, where: str, address: str, payload: bytes) -> JobEnd:
    """Send the job to a worker of the Dask cluster at ``address``, which runs its child
    process there. A job cancelled before a worker starts it never runs; Dask cannot stop one
    already running, which then runs to its end on the worker (its result is dropped)."""
    from .dask import client_for  # the optional 'dask' extra

    try:
        client = client_for(address)
        future = client.submit(run_job, payload, pure=False, key=f"pythonjob-{label}-{uuid4()}")
    except Exception as exc:
        raise PythonJobError(
            f"python job '{label}': cannot reach computer {where!r} (Dask scheduler {address}): "
            f"{type(exc).__name__}: {exc}"
        ) from None
    try:
        end: JobEnd = await asyncio.to_thread(future.result)
    except (Exception, asyncio.CancelledError) as exc:
        future.cancel()
        if isinstance(exc, asyncio.CancelledError):
            raise
        raise PythonJobError(
            f"python job '{label}': computer {where!r} (Dask scheduler {address}) did not run "
            f"it: {type(exc).__name__}: {exc}"
        ) from None
    return end


def _outcome(label: str, end: JobEnd, where: str) -> Any:
    """The job's value, or its exception raised here; what it printed written here first (in
    the job's async task: the run's capture keeps it with the task run)."""
    if end.stdout:
        sys.stdout.write(end.stdout.decode("utf-8", "replace"))
    text = end.stderr.decode("utf-8", "replace")
    if text:
        sys.stderr.write(text)
    on = "" if where in LOCAL_COMPUTERS else f" on computer {where!r} (host {end.host})"
    if end.result is None:
        tail = text[-_STDERR_TAIL:].strip() or "(nothing on stderr)"
        raise PythonJobError(
            f"python job '{label}': its process{on} ended with exit code {end.returncode} "
            f"without a result; the end of its stderr:\n{tail}"
        )
    try:
        ok, value, trace = pickle.loads(end.result)
    except Exception as exc:
        raise PythonJobError(
            f"python job '{label}': its result could not be read back here: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if ok:
        return value
    error = value if isinstance(value, BaseException) else RemoteTaskError(value)
    raise error from RemoteTraceback(trace)  # the child's frames print under the error


def _cluster_of(label: str, where: str) -> str | None:
    """The Dask scheduler address of the computer ``where`` names, None for this machine;
    raises for a name that is none of the profile's executors."""
    if where in LOCAL_COMPUTERS:
        return None
    named = named_computers()
    if where in named:
        return named[where] or None
    local = [LOCAL_COMPUTERS[0], *sorted(name for name, address in named.items() if not address)]
    clusters = sorted(name for name, address in named.items() if address)
    raise PythonJobError(
        f"python job '{label}': unknown computer {where!r}; ferroflow runs python jobs on this "
        f"machine ({', '.join(map(repr, local))}) or on one of the profile's Dask executors "
        f"({', '.join(map(repr, clusters)) or 'none: ferroflow executors add NAME ADDRESS'})"
    )


def in_own_process(func: Callable[..., Any], label: str) -> Callable[..., Any]:
    """The ``async`` task function running ``func`` in a child process: ``func``'s
    parameters plus ``computer`` (keyword, default ``"localhost"``)."""
    signature = inspect.signature(func)
    if "computer" in signature.parameters:
        raise TypeError(
            f"@task.pythonjob '{label}': the parameter 'computer' is the job's own (where it "
            f"runs); rename it"
        )

    @functools.wraps(func)
    async def job(**kwargs: Any) -> Any:
        where = kwargs.pop("computer", LOCAL_COMPUTERS[0])
        address = _cluster_of(label, where)
        payload = _dumps(func, kwargs)
        if address is None:
            end = await _run_here(payload)
        else:
            end = await _run_on_cluster(label, where, address, payload)
        return _outcome(label, end, where)

    return with_own_inputs(job, func, {"computer": (str, LOCAL_COMPUTERS[0])}, "pythonjob")

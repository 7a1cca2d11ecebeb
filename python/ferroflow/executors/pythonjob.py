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
the profile's executors that runs here (``local``, ``processes``: ``ferroflow executors add``);
a python job always gets a process of its own here, so a Dask executor's name is refused with a
pointer to ``@task(executor=NAME)``, which sends a plain task's calls to that cluster.
``metadata={"options": {...}}`` (scheduler settings in WorkGraph) is accepted and has nothing to
set for a child process.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import PythonJobError, RemoteTaskError, RemoteTraceback
from ..model.own_inputs import with_own_inputs

__all__ = ["LOCAL_COMPUTERS", "in_own_process", "named_computers"]

#: the computers a python job runs on here: this machine
LOCAL_COMPUTERS = ("localhost", "local")
_STDERR_TAIL = 2000


def _none() -> Mapping[str, bool]:
    return {}


#: The current profile's executors as computers: name -> True if it runs on this machine.
#: :mod:`ferroflow.profile` (a layer above, which this module may not import) sets it.
named_computers: Callable[[], Mapping[str, bool]] = _none


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


async def _run_child(label: str, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    with tempfile.TemporaryDirectory(prefix="ferroflow-job-") as folder:
        job, result = Path(folder) / "job.pkl", Path(folder) / "result.pkl"
        job.write_bytes(_dumps(func, kwargs))
        # A plain process waited on from a thread, not an asyncio subprocess: the run's loop may
        # close while a cancelled job is still being reaped, and an asyncio transport left
        # behind then warns at garbage collection, long after (and in another test's time).
        child = subprocess.Popen(
            [sys.executable, "-m", "ferroflow.executors.pythonjob_child", str(job), str(result)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_child_env(),
        )
        try:
            out, err = await asyncio.to_thread(child.communicate)
        except BaseException:  # the run was cancelled (Ctrl-C, a timeout): stop the job too
            if child.poll() is None:
                child.kill()  # the waiting thread's communicate() then reaps it
            raise
        # written here, in the job's async task: the run's capture keeps them with the task
        if out:
            sys.stdout.write(out.decode("utf-8", "replace"))
        text = err.decode("utf-8", "replace")
        if text:
            sys.stderr.write(text)
        if not result.exists():
            tail = text[-_STDERR_TAIL:].strip() or "(nothing on stderr)"
            raise PythonJobError(
                f"python job '{label}': its process ended with exit code {child.returncode} "
                f"without a result; the end of its stderr:\n{tail}"
            )
        try:
            ok, value, trace = pickle.loads(result.read_bytes())
        except Exception as exc:
            raise PythonJobError(
                f"python job '{label}': its result could not be read back here: "
                f"{type(exc).__name__}: {exc}"
            ) from None
    if ok:
        return value
    error = value if isinstance(value, BaseException) else RemoteTaskError(value)
    raise error from RemoteTraceback(trace)  # the child's frames print under the error


def _check_computer(label: str, where: str) -> None:
    """Raise unless ``where`` names one of the profile's executors on this machine."""
    named = named_computers()
    here = named.get(where)
    if here:
        return
    if here is False:
        raise PythonJobError(
            f"python job '{label}': computer {where!r} is a Dask cluster; python jobs run in a "
            f"process of their own on this machine. Send the function there as a task "
            f"instead: @task(executor={where!r})"
        )
    local = [LOCAL_COMPUTERS[0], *sorted(name for name, on_here in named.items() if on_here)]
    raise PythonJobError(
        f"python job '{label}': unknown computer {where!r}; ferroflow runs python jobs on this "
        f"machine (a child process of this one): {', '.join(map(repr, local))}"
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
        if where not in LOCAL_COMPUTERS:
            _check_computer(label, where)
        return await _run_child(label, func, kwargs)

    return with_own_inputs(job, func, {"computer": (str, LOCAL_COMPUTERS[0])}, "pythonjob")

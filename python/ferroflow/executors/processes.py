"""The local process pool: ``run(executor="processes")`` runs sync task functions in worker
processes of this machine, so that pure-Python (GIL-bound) bodies use every core, with no Dask.

A :class:`ProcessPool` of ``processes`` workers (:mod:`.process_worker`, one interpreter each)
is made once per size and kept for later runs (shut down at exit); each worker is driven by a
thread of the pool that sends it one call at a time and waits for the outcome with the GIL
released. A run's :class:`ProcessSession` queues each call and returns ``PENDING``; the pool
thread pickles it (``cloudpickle`` sends a script's functions by value; a function or value
that does not pickle fails its task, named), sends it, and reports the outcome with the
execution's completion calls and ``Run.resolve``, as the Dask backend does. Provenance stays in
this process.

* **A crash fails only its task.** A worker that ends mid-call (``os._exit``, a segfault, the
  OOM killer) fails that task with :class:`ProcessWorkerError`; the next call starts a new
  worker.
* **Timeouts stop the call.** Past ``@task(timeout=)`` the worker is killed (unlike a thread, a
  process can be), the attempt fails with ``TaskTimeoutError``, and retries, backoff and error
  handlers follow :class:`~ferroflow.engine.attempts.Attempts` as for local tasks. (A task
  waiting out its backoff keeps its pool thread, and so its worker, idle meanwhile.)
* **Cancel stops the calls.** Ctrl-C, ``run(timeout=)`` or ``ferroflow runs cancel`` abandons
  the run's pending tasks (CANCELLED) and kills the workers running them. Workers run in their
  own session, so the terminal's Ctrl-C reaches only this process, which decides.

Each pool thread claims its task before reporting (the rule of the Dask backend's
``pending.py``): an outcome that races with a cancel applies once or not at all.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import selectors
import subprocess
import sys
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any, cast

from ..engine.attempts import Attempts, call_kwargs
from ..engine.backend import PENDING, Outcome
from ..errors import (
    FerroflowError,
    ProcessWorkerError,
    RemoteTaskError,
    TaskTimeoutError,
)
from .framing import read_message, wait_for, write_message
from .pythonjob import _child_env
from .remote_traceback import with_remote_traceback

if TYPE_CHECKING:
    from ..engine.execution import Execution
    from ..model.graph import TaskNode

__all__ = ["MAX_PROCESSES", "ProcessExecutor", "ProcessPool", "ProcessSession", "pool_for"]

#: the most worker processes one pool may have
MAX_PROCESSES = 256

_pools: dict[int, ProcessPool] = {}
_pools_lock = threading.Lock()


def _dumps(func: Any, kwargs: dict[str, Any], capture: bool) -> bytes:
    """The pickled call (cloudpickle when installed: a script's functions travel by value)."""
    try:
        import cloudpickle
    except ImportError:  # the function goes by name: the worker imports its module
        return pickle.dumps(((func.__module__, func.__qualname__), kwargs, capture))
    return bytes(cloudpickle.dumps((func, kwargs, capture)))


def _restored(error: Any, text: str, tb_dict: dict[str, Any] | None) -> BaseException:
    """A worker's exception with its frames (``tblib``), else with their text as its cause."""
    exc = error if isinstance(error, BaseException) else RemoteTaskError(error)
    return with_remote_traceback(exc, tb_dict, text)


class _Worker:
    """One worker process, started at its first call and again after it ended."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        #: the entry whose call this worker is given now (a cancel stops only that call)
        self._entry: object = None
        #: a cancel came for it (perhaps before its call was even sent)
        self._stopped = False

    def _process(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "ferroflow.executors.process_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,  # unbuffered: `call`'s select must see every reply byte (framing.py)
                env=_child_env(),
                start_new_session=True,  # the terminal's Ctrl-C is the parent's to handle
            )
        return self._proc

    def take(self, entry: object) -> None:
        """``entry``'s call is this worker's next (its session's lock is held)."""
        with self._lock:
            self._entry, self._stopped = entry, False

    def call(self, data: bytes, timeout: float | None) -> bytes | int:
        """Send the call taken and wait for its outcome; the worker's exit code if it ended
        first (or -9 if a cancel stopped it before it was sent). ``timeout`` counts from when
        the worker starts the call (its first reply, empty); past it the worker is killed and
        ``TaskTimeoutError`` raised."""
        with self._lock:
            if self._stopped:
                return -9
            proc = self._process()
        stdin, stdout = cast(Any, proc.stdin), cast(Any, proc.stdout)
        try:
            try:
                write_message(stdin, data)
            except OSError:
                return self._ended(proc)
            started = read_message(stdout)
            if started is None:
                return self._ended(proc)
            if timeout is not None and not wait_for(stdout, selectors.EVENT_READ, timeout):
                self._kill(proc)
                raise TaskTimeoutError(f"ran past its timeout of {timeout:g} s")
            reply = read_message(stdout)
            return self._ended(proc) if reply is None else reply
        finally:
            with self._lock:
                self._entry = None

    def _ended(self, proc: subprocess.Popen[bytes]) -> int:
        code = proc.wait()
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                cast(Any, stream).close()
        return code

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(OSError):
            proc.kill()
        self._ended(proc)

    def kill_if(self, entry: object) -> None:
        """A cancel: stop ``entry``'s call if it is this worker's (kill the worker running it,
        or keep it from being sent)."""
        with self._lock:
            if self._entry is entry:
                self._stopped = True
                if self._proc is not None:
                    with contextlib.suppress(OSError):
                        self._proc.kill()

    def close(self) -> None:
        """End the worker: it exits at the end of its input."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                cast(Any, proc.stdin).close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class ProcessPool:
    """``size`` worker processes, each driven by a thread that takes calls off one queue."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._queue: SimpleQueue[tuple[ProcessSession, _Entry] | None] = SimpleQueue()
        self._workers = [_Worker() for _ in range(size)]
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def put(self, session: ProcessSession, entry: _Entry) -> None:
        with self._lock:
            if not self._threads:
                for i, worker in enumerate(self._workers):
                    thread = threading.Thread(
                        target=self._loop,
                        args=(worker,),
                        name=f"ferroflow-process-{i}",
                        daemon=True,
                    )
                    thread.start()
                    self._threads.append(thread)
        self._queue.put((session, entry))

    def _loop(self, worker: _Worker) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            session, entry = item
            try:
                session.run(entry, worker)
            except BaseException as exc:  # never leave a task pending for ever
                session.report(entry, exc)

    def shutdown(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        for worker in self._workers:
            worker.close()
        for thread in threads:
            thread.join(timeout=5)


def pool_for(size: int) -> ProcessPool:
    """The pool of ``size`` workers, made on first use and kept until exit."""
    with _pools_lock:
        pool = _pools.get(size)
        if pool is None:
            pool = _pools[size] = ProcessPool(size)
        return pool


def _shutdown_all() -> None:
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown()


def _after_fork_in_child() -> None:
    global _pools_lock
    _pools_lock = threading.Lock()  # (it may have been held by another thread at the fork)
    _pools.clear()  # a forked child has none of the parent's threads: its pools are not its own


atexit.register(_shutdown_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class ProcessExecutor:
    """Sync task functions in a pool of ``processes`` worker processes (default: one per
    core)."""

    def __init__(self, processes: int | None = None) -> None:
        size = (os.cpu_count() or 1) if processes is None else processes
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PROCESSES:
            raise ValueError(
                f"processes must be a whole number from 1 to {MAX_PROCESSES}, not {processes!r}"
            )
        self.processes = size

    def session(self, execution: Execution) -> ProcessSession:
        return ProcessSession(execution, pool_for(self.processes))

    def __repr__(self) -> str:
        return f"ProcessExecutor(processes={self.processes})"


class _Entry:
    """One task handed to the pool: its inputs, the next call's arguments, its attempts."""

    __slots__ = ("attempts", "error", "id", "inputs", "kwargs", "task", "waiting", "worker")

    def __init__(self, task: TaskNode, inputs: dict[str, Any], kwargs: dict[str, Any]) -> None:
        assert task.id is not None
        self.task = task
        self.id = task.id
        self.inputs = inputs
        self.kwargs = kwargs
        self.attempts = Attempts(task)
        self.worker: _Worker | None = None
        self.waiting = False  # between a failed attempt and the next
        self.error: BaseException | None = None


class ProcessSession:
    """One run's use of a :class:`ProcessPool` (see the module docstring)."""

    def __init__(self, execution: Execution, pool: ProcessPool) -> None:
        self.execution = execution
        self.pool = pool
        self._lock = threading.Lock()
        self._pending: dict[int, _Entry] = {}
        self._cancelled = threading.Event()

    def start(self) -> None:
        """Nothing to start: the pool starts its workers at their first call."""

    def submit(self, task: TaskNode, inputs: dict[str, Any]) -> Outcome:
        try:
            kwargs = call_kwargs(task, inputs)
        except Exception as exc:  # a declared model refused the values: this task fails
            return self.execution.failed(task, exc)
        entry = _Entry(task, inputs, kwargs)
        with self._lock:
            self._pending[entry.id] = entry
        self.pool.put(self, entry)
        return PENDING

    # -- on a pool thread ------------------------------------------------------------------
    def run(self, entry: _Entry, worker: _Worker) -> None:
        """Every attempt of ``entry``'s task on ``worker``, then its outcome reported."""
        execution = self.execution
        while True:
            with self._lock:
                if self._pending.get(entry.id) is not entry:
                    return  # abandoned (the run was cancelled) before it started
                entry.worker = worker
                worker.take(entry)
            try:
                ok, value = self._call(entry, worker)
            except BaseException as exc:  # the pool's own failure: a worker died, a timeout
                ok, value = False, exc
            finally:
                entry.worker = None
            if ok:
                self._claimed(entry, execution.finished, value)
                return
            if not self._again(entry, value):
                return

    def _call(self, entry: _Entry, worker: _Worker) -> tuple[bool, Any]:
        """One attempt: ``(True, return value)`` or ``(False, the exception it raised)``, the
        exception with the worker's frames only (it is not raised here)."""
        task = entry.task
        capture = self.execution.capture
        try:
            data = _dumps(task.handle.call, entry.kwargs, capture.enabled)
        except Exception as exc:
            raise FerroflowError(
                f"task '{task.path}' cannot be sent to a worker process: {type(exc).__name__}: "
                f"{exc}. Its function must pickle (importable by name, or with globals that "
                f"pickle: no locks, open files or connections) and so must its input values"
            ) from exc
        try:
            reply = worker.call(data, task.handle.timeout)
        except TaskTimeoutError as exc:
            raise TaskTimeoutError(
                f"task '{task.path}' {exc} in a worker process, which was stopped"
            ) from None
        if isinstance(reply, int):
            raise ProcessWorkerError(
                f"task '{task.path}': its worker process ended (exit code {reply}) before "
                f"returning; the pool starts another"
            )
        try:
            outcome = pickle.loads(reply)
        except Exception as exc:
            raise RemoteTaskError(
                f"task '{task.path}': its outcome could not be read back here: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        if outcome[-1] is not None:
            capture.store_text(task.pk, *outcome[-1])
        if outcome[0]:
            return True, outcome[1]
        return False, _restored(*outcome[1:4])

    def _again(self, entry: _Entry, exc: BaseException) -> bool:
        """An attempt failed with ``exc``: True if another follows (as the local runner
        decides, with :class:`Attempts`); else the task is reported failed (or cancelled)."""
        task, attempts, execution = entry.task, entry.attempts, self.execution
        if self._gone(entry):
            return False  # cancelled: no handler runs, nothing is reported
        try:
            changes = attempts.after_failure(exc, call_kwargs(task, entry.inputs))
        except BaseException as handler_exc:
            self.report(entry, handler_exc)
            return False
        if changes is None:
            self.report(entry, exc)
            return False
        execution.attempt_failed(task, exc)
        entry.waiting, entry.error = True, exc
        if attempts.backoff:
            self._cancelled.wait(attempts.backoff)
        with self._lock:
            mine = self._pending.get(entry.id) is entry
            if mine and execution.cancel_requested:
                del self._pending[entry.id]
        if not mine:
            return False  # the cancel recorded it
        if execution.cancel_requested:
            self._cancel_waiting(entry)
            execution.core.abandon([entry.id])
            return False
        entry.waiting = False
        execution.attempt_started(task, entry.inputs, attempts.next(changes, entry.inputs, {}))
        entry.kwargs = call_kwargs(task, entry.inputs)
        return True

    def _gone(self, entry: _Entry) -> bool:
        return self._pending.get(entry.id) is not entry

    def report(self, entry: _Entry, exc: BaseException) -> None:
        """Fail ``entry``'s task with ``exc``, if it is still this thread's to report."""
        self._claimed(entry, self.execution.failed, exc)

    def _claimed(self, entry: _Entry, complete: Callable[[TaskNode, Any], bool], arg: Any) -> None:
        """Report ``complete(task, arg)`` (finished or failed) if ``entry`` is still ours."""
        with self._lock:
            if self._pending.get(entry.id) is not entry:
                return  # cancelled meanwhile: the core has it CANCELLED
            del self._pending[entry.id]
        try:
            ok = complete(entry.task, arg)
        except BaseException as exc:  # the store may be closed: the task fails all the same
            with contextlib.suppress(BaseException):
                self.execution.failed(entry.task, exc)
            ok = False
        self.execution.core.resolve(entry.id, ok)

    def _cancel_waiting(self, entry: _Entry) -> None:
        assert entry.error is not None
        with contextlib.suppress(BaseException):  # the store may be closed: cancelled anyway
            self.execution.cancelled(entry.task, entry.attempts.cancelled(entry.error))

    # -- the run's end -----------------------------------------------------------------------
    def _claim_all(self) -> list[_Entry]:
        self._cancelled.set()  # a task waiting to retry gives up at once
        with self._lock:
            entries = list(self._pending.values())
            self._pending.clear()
        for entry in entries:
            worker = entry.worker
            if worker is not None:
                worker.kill_if(entry)  # the call stops; the pool's next call starts a worker
        return entries

    def cancel(self) -> None:
        """The run was cancelled: its pending tasks are abandoned (CANCELLED) and their calls
        stopped; one waiting for its next attempt makes none (``RetryCancelledError``)."""
        entries = self._claim_all()
        for entry in entries:
            if entry.waiting:
                self._cancel_waiting(entry)
        if entries:
            self.execution.core.abandon([e.id for e in entries])

    def close(self) -> None:
        """After the run: stop any call still running for it (the pool stays for later runs)."""
        self._claim_all()

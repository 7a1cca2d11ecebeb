"""The backends every policy suite runs on, and the one way a test uses them.

``fast``
    local worker threads, ``FERROFLOW_FAST_LANE=1`` (the default): plain sync tasks run in the
    core's fast lane (Rust calls them), tasks with retries, timeouts or handlers in the general
    runner.
``general``
    local worker threads, ``FERROFLOW_FAST_LANE=0``: every task in the general runner.
``async``
    the same tasks as ``async def`` (:mod:`policies.async_flows`), awaited on the run's event
    loop (``ferroflow/executors/coroutines.py``).
``dask``
    ``wg.run(executor=client)`` on the module's two-worker ``LocalCluster`` (the ``client``
    fixture of ``tests/conftest.py``).
``processes``
    ``wg.run(executor="processes")``: the local process pool
    (``ferroflow/executors/processes.py``), each call in a worker process.

A test takes the ``backend`` fixture (``tests/policies/conftest.py``), builds its graph from
``backend.flows`` (the module of tasks for that backend) and runs it with ``backend.run(wg)``;
bodies report through files named by ``backend.path(...)`` (:mod:`policies.tally`), which
works across processes. A test that cannot apply to every backend says so in its
parametrisation with :func:`only`, and says why.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from policies import async_flows, flows
from policies.tally import marks_of, notes, open_gate, still_at

__all__ = ["BACKENDS", "Backend", "interrupt_when", "only", "when"]

BACKENDS = ("fast", "general", "async", "dask", "processes")


def only(*names: str, why: str) -> pytest.MarkDecorator:
    """Run the test on the backends ``names`` only; ``why`` (required) says why the policy does
    not apply to the others, or where their behaviour is tested instead."""
    assert names and set(names) < set(BACKENDS), names
    assert why.strip(), "say why the other backends are left out"
    return pytest.mark.parametrize("backend", names, indirect=True)


@dataclass
class Backend:
    name: str
    #: the tasks to build graphs from: :mod:`policies.flows` or :mod:`policies.async_flows`
    flows: ModuleType
    #: the ``executor=`` every run gets: ``"local"`` or the Dask client
    executor: Any
    #: a directory of this test's own for counters, logs and gates
    files: Path
    gates: list[Path] = field(default_factory=list)

    @property
    def fast_lane(self) -> bool:
        """Whether plain sync tasks (no retries, timeout, handlers) take the fast lane here."""
        return self.name == "fast"

    @property
    def abandons_calls(self) -> bool:
        """Whether a cancelled run abandons the calls it has pending (on the event loop, on
        Dask, in a worker process: CANCELLED, their results dropped) rather than letting them
        run to their end (a sync call on a local worker thread cannot be stopped: FINISHED and
        stored)."""
        return self.name in ("async", "dask", "processes")

    def run(self, wg: Any, **options: Any) -> dict[str, Any]:
        """``wg.run(**options)`` on this backend."""
        return wg.run(executor=self.executor, **options)  # type: ignore[no-any-return]

    def path(self, name: str) -> str:
        """A file for a counter or a log (:mod:`policies.tally`), passed to tasks as a str."""
        return str(self.files / name)

    def gate(self, name: str = "gate") -> str:
        """A closed gate (:mod:`policies.tally`); opened at the latest by the fixture's
        teardown, so no body is left waiting at it."""
        path = self.files / name
        self.gates.append(path)
        return str(path)

    def marks(self, gate: str) -> list[str]:
        """What bodies at ``gate`` noted so far: ``started``, ``returned``, ``left``."""
        return notes(marks_of(gate))

    @property
    def stops_bodies(self) -> bool:
        """Whether a call past its timeout, or cancelled, is stopped where it runs (its worker
        process killed: it never returns nor leaves its gate) rather than left to end."""
        return self.name == "processes"

    def release(self, gate: str, wait: float = 60.0) -> list[str]:
        """Open ``gate`` and wait until every body that started at it has left it (a Dask
        worker thread is free again; a local helper thread has ended) or was stopped with its
        worker process; returns the marks."""
        open_gate(gate)
        end = time.monotonic() + wait
        while True:
            # still_at first: a body notes "left" in its marks before it leaves the bodies' log,
            # so once none is still at the gate the marks read next are complete
            if not still_at(gate):
                return self.marks(gate)
            assert time.monotonic() < end, f"a body is still at {gate} {wait} s after it opened"
            time.sleep(0.02)

    def close(self) -> None:
        for gate in self.gates:
            self.release(str(gate))


def when(ready: Callable[[], bool], action: Callable[[], None]) -> Callable[[], None]:
    """Do ``action()`` on a thread of its own once ``ready()`` holds (looked at every 10 ms), to
    act at a known point of a run in progress; returns a function that stops the watcher if
    ``action`` has not run yet and joins it."""
    stop = threading.Event()

    def watch() -> None:
        while not ready():
            if stop.wait(0.01):
                return
        action()

    watcher = threading.Thread(target=watch, name="policies-watcher", daemon=True)
    watcher.start()

    def join() -> None:
        stop.set()
        watcher.join()

    return join


def interrupt_when(ready: Callable[[], bool], after: float = 0.0) -> Callable[[], None]:
    """Press Ctrl-C (SIGINT to the main thread) once ``ready()`` holds and ``after`` more
    seconds passed; returns a function that joins the sender. Python's own SIGINT handler is
    installed meanwhile, so that this works also where pytest was started with SIGINT ignored
    (a background job of a script)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    main = threading.main_thread().ident
    assert main is not None
    start: list[float] = []

    def due() -> bool:
        if not start:
            if not ready():
                return False
            start.append(time.monotonic())
        return time.monotonic() - start[0] >= after

    join = when(due, lambda: signal.pthread_kill(main, signal.SIGINT))

    def restore() -> None:
        join()
        signal.signal(signal.SIGINT, previous)

    return restore


def make(name: str, files: Path, client: Any = None) -> Backend:
    module = async_flows if name == "async" else flows
    executor = client if name == "dask" else "processes" if name == "processes" else "local"
    return Backend(name, module, executor, files)

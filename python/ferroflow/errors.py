"""Every exception ferroflow raises, under one root, :class:`FerroflowError`. Messages name the
task (by path) and the socket.

Build-time mistakes raise as early as possible, at the call inside the graph body, so that a
wrong workflow never starts; run-time failures are collected and raised once the independent
work has finished and been stored.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousNodeError",
    "ChildTasksFailedError",
    "CommandError",
    "CorePanicError",
    "FerroflowError",
    "ForeignFutureError",
    "FutureUsageError",
    "GraphContextError",
    "GraphReturnError",
    "ImportFormatError",
    "MaxIterationsError",
    "NodeNotFoundError",
    "NotRunError",
    "ProcessWorkerError",
    "ProfileNotFoundError",
    "PythonJobError",
    "RecursionDepthError",
    "RemoteTaskError",
    "RemoteTraceback",
    "RetryCancelledError",
    "RunCancelledError",
    "RunDeleteRefusedError",
    "RunTimeoutError",
    "SchemaVersionError",
    "StoreBusyError",
    "StoreClosedError",
    "StoreError",
    "StoreLostError",
    "StoreWriteError",
    "TaskInputError",
    "TaskOutputError",
    "TaskTimeoutError",
    "UncacheableError",
    "UnknownExecutorError",
    "UnreadableValueError",
    "UnsafeExportPathError",
    "UntrustedValueError",
    "ValueNotStoredError",
    "WorkflowFailedError",
    "ZoneError",
]


class FerroflowError(Exception):
    """Base class of every ferroflow error."""


class FutureUsageError(FerroflowError, TypeError):
    """A future output was used as if its value were known at build time (iterated, tested
    for truth, measured, converted). Move that logic into a ``@task.graph``."""


class ForeignFutureError(FutureUsageError):
    """A task was given an output (a future) of a task of another workflow, such as one that
    already ran: its task is no part of this graph, and wiring it in would alias whatever
    task of the new run has the same position."""


class TaskInputError(FerroflowError, TypeError):
    """A task was called with an unknown input, without a required input, or with a concrete
    value of the wrong type."""


class GraphReturnError(FerroflowError, TypeError):
    """A graph body returned something that is not made of sockets (e.g. a value it computed
    itself, which would bypass provenance)."""


class GraphContextError(FerroflowError, RuntimeError):
    """A task was called outside a graph body, or inside a running task's body."""


class TaskOutputError(FerroflowError, ValueError):
    """A task's return value does not match its declared outputs (the task fails)."""


class TaskTimeoutError(FerroflowError, TimeoutError):
    """A task attempt ran longer than its ``@task(timeout=...)``: the task failed (or, with
    retries, the attempt did) and its dependents are skipped. A thread running a sync body
    cannot be stopped: it finishes in the background and its result is discarded; an async
    body is cancelled."""


class RetryCancelledError(FerroflowError):
    """A task's attempt failed and the run was cancelled (Ctrl-C, ``run(timeout=)``) while it
    waited for its next attempt: no further attempt was made, and the task is CANCELLED."""


class ValueNotStoredError(FerroflowError, ValueError):
    """Raised by ``WorkGraph.run()`` after a run in which some output values could not be
    serialised for the store (they are stored as their ``repr``). The run itself completed:
    every result is in memory and every other value is stored. ``values`` maps
    ``"task 'path', output 'socket'"`` to the reason."""

    def __init__(self, message: str, values: dict[str, str]) -> None:
        super().__init__(message)
        self.values = values


class RecursionDepthError(FerroflowError, RecursionError):
    """A graph task nested itself deeper than its ``max_depth``."""


class NotRunError(FerroflowError, RuntimeError):
    """Results were asked for before the workflow ran."""


class RunTimeoutError(FerroflowError, TimeoutError):
    """``run(timeout=...)`` expired: no task started afterwards, running bodies finished, every
    other task is CANCELLED, and every finished result is stored."""


class RunCancelledError(FerroflowError):
    """``ferroflow runs cancel`` stopped the run from another shell: as after Ctrl-C, no task
    started afterwards, running bodies finished, every other task is CANCELLED, and every
    finished result is stored (``ferroflow restart PK`` runs the rest)."""


class CorePanicError(FerroflowError, RuntimeError):
    """The Rust core panicked while handling a task (a bug in ferroflow, reported per task)."""


class WorkflowFailedError(FerroflowError, RuntimeError):
    """Raised by ``WorkGraph.run()`` when tasks failed. Independent tasks have finished and
    every finished result is stored. ``failed`` maps each failed task's path to its error."""

    def __init__(self, message: str, failed: dict[str, BaseException]) -> None:
        super().__init__(message)
        self.failed = failed


class ChildTasksFailedError(FerroflowError):
    """A graph task failed because tasks of its expanded graph, or tasks whose outputs its body
    returned, failed or were skipped."""


class MaxIterationsError(FerroflowError):
    """A ``While`` zone's condition still held after its ``max_iterations`` iterations."""


class ZoneError(FerroflowError, ValueError):
    """A zone used in a way that cannot run (a ``While`` whose condition reads nothing its body
    writes, a condition computed inside its own loop), refused before the run starts."""


class UncacheableError(FerroflowError):
    """An input value has no canonical digest (pickle refuses it, or the store kept only its
    repr), so the task run has no cache key."""


class RemoteTaskError(FerroflowError):
    """Stands in for an exception raised on a worker that could not be sent back (it does not
    pickle); its message is the original's type and text, its cause the remote traceback."""


class PythonJobError(FerroflowError, RuntimeError):
    """A python job's process ended without a result (it crashed or exited), or the job was
    sent to a computer ferroflow does not know."""


class ProcessWorkerError(FerroflowError, RuntimeError):
    """A worker process of the local process pool ended while running a task (a crash,
    ``os._exit``, killed by the system): that task failed; the pool starts another worker."""


class UnknownExecutorError(FerroflowError, ValueError):
    """A task or a run named an executor the profile does not declare (``ferroflow executors
    list`` shows them)."""


class RemoteTraceback(Exception):
    """The text of a traceback that happened on a worker, attached as ``__cause__`` so that it
    prints under the error (a carrier of text, never raised itself)."""

    def __str__(self) -> str:
        return f'\n"""\n{self.args[0]}"""'


class ImportFormatError(FerroflowError, ValueError):
    """The file is not a valid ferroflow export (names the offending node or link)."""


class UnsafeExportPathError(FerroflowError, ValueError):
    """An export would write a file outside its target (a name built from stored data)."""


class CommandError(FerroflowError):
    """A problem the ``ferroflow`` command reports as ``error: <message>`` with exit status 1."""


class ProfileNotFoundError(CommandError):
    """``--profile NAME`` names no existing profile (and ``--create`` was not given)."""


# -- the provenance store -------------------------------------------------------------------
# ``NodeNotFoundError`` also derives from ``KeyError``: looking up an unknown pk or uuid is a
# failed key lookup, and ``except KeyError`` is what people write first.


class StoreError(FerroflowError):
    """Anything the provenance store complained about (one clause catches them all)."""


class NodeNotFoundError(StoreError, KeyError):
    """No node with the given pk or uuid exists in the store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "node not found"


class AmbiguousNodeError(StoreError, LookupError):
    """A uuid prefix matched more than one node."""


class StoreClosedError(StoreError, RuntimeError):
    """The store was used after :meth:`Store.close`."""


class StoreWriteError(StoreError):
    """Rows could not be written by the background writer.

    Raised by the next ``flush()`` or ``close()`` after the failure. ``__cause__`` is the first
    underlying exception and :attr:`messages` lists every failure since the last report.
    """

    def __init__(self, message: str, messages: list[str] | None = None) -> None:
        super().__init__(message)
        self.messages = messages if messages is not None else [message]


class SchemaVersionError(StoreError):
    """The file was written with a different, incompatible schema version."""


class StoreBusyError(StoreWriteError):
    """Another connection (usually another process) held the file's write lock for longer than
    the busy timeout, so pks could not be reserved or a batch of rows could not be written. The
    message names the store and the holder when the store knows it (a ferroflow run's owner
    row), else "another process". Nothing was corrupted: what was written is consistent, and a
    run whose rows were lost ends FAILED; retry, or end the process that keeps a long write
    transaction open."""


class StoreLostError(StoreWriteError):
    """The store's file was deleted or replaced while it was open: rows written now would go
    to a file no one can open again, so the store stops writing and the run fails, naming the
    path (checked once per committed batch, against the file's device and inode at open)."""


class RunDeleteRefusedError(StoreError):
    """``ferroflow runs delete`` refused: the run is still in progress, or other runs use its
    data nodes or reused its cached results (``--force`` deletes it anyway, keeping those)."""


class UntrustedValueError(StoreError, ValueError):
    """A value stored as an untrusted pickle (imported without ``trust=True``) was read.

    Unpickling runs code chosen by whoever made the payload, so such values are kept as bytes and
    refused on reading; see :mod:`ferroflow.store.values` (codec ``pickle-untrusted``).
    """


class UnreadableValueError(StoreError, ValueError):
    """A stored value its type's registered serialiser could not rebuild (data it never wrote,
    e.g. from an imported file); the message names the type and what the serialiser raised."""

"""Type stubs for the compiled scheduler module (checked by ``mypy.stubtest``)."""

import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, Literal, Protocol, final

__all__ = [
    "CANCELLED",
    "FATAL_MESSAGES",
    "PENDING",
    "FastContext",
    "ROW_LAYOUTS",
    "ROW_OPS",
    "WRITER_SQL",
    "Pool",
    "PreparedBatch",
    "Results",
    "Run",
    "PkStream",
    "SqlWriter",
    "SqliteConnection",
    "__version__",
    "after_fork",
    "current_fast_task",
    "call_route",
    "in_worker",
    "new_uuid",
]

__version__: str
#: SQLite messages that blame the file, not a row (both committers judge errors by it).
FATAL_MESSAGES: tuple[str, ...]
# The store writer's queue rows and statements, as declared in ferroflow/store/rows.py.
ROW_OPS: dict[str, int]
ROW_LAYOUTS: dict[int, tuple[str, ...]]
WRITER_SQL: dict[str, str]

def new_uuid() -> str: ...
def after_fork() -> None: ...
def in_worker() -> bool: ...
def call_route() -> Literal["vectorcall", "dict"]: ...
def current_fast_task() -> tuple[Any, int] | None: ...

# (value, output uuid bytes, process uuid bytes, ctime, mtime)
_Done = tuple[Any, bytes, bytes, float, float]

# -- what the compiled module reads and calls of Python objects -------------------------------
# (tests/api/test_typing.py checks that ferroflow's own classes satisfy these)

class _TaskDefinition(Protocol):
    """What ``Run.submit`` reads of a task's definition (``ferroflow.model.taskdef.TaskDef``)."""

    @property
    def func(self) -> Callable[..., Any]: ...
    @property
    def single_output(self) -> str | None: ...
    @property
    def process_type(self) -> str: ...
    @property
    def fast_out_type(self) -> type | None: ...
    @property
    def fast_in_types(self) -> dict[str, type]: ...

class _SubmittableTask(Protocol):
    """What ``Run.submit`` reads and writes of a task node (``ferroflow.model.graph.TaskNode``):
    ``fast_ok`` and the inputs choose the lane (``_inputs`` without provenance: plain constants
    may be left unwrapped there), ``producers`` are the general lane's dependencies; a
    fast-lane task gets ``fast_box``, and with provenance ``pk`` (its output's is ``pk + 1``)."""

    @property
    def handle(self) -> _TaskDefinition: ...
    @property
    def name(self) -> str: ...
    @property
    def inputs(self) -> dict[str, Any]: ...
    @property
    def _inputs(self) -> dict[str, Any]: ...
    @property
    def producers(self) -> Sequence[_SubmittableTask]: ...
    fast_ok: bool
    id: int | None
    fast_box: list[Any] | None
    pk: int | None

class _Socket(Protocol):
    """What ``Run.submit`` reads of an input bound to another task's output (a
    ``FutureSocket``: its fields are underscored because its public attribute names are the
    task's output sockets)."""

    _task: Any
    _path: tuple[str, ...]

class _Recorder(Protocol):
    """What ``Run.submit`` calls on the run's recorder (``ferroflow.store.recorder.Recorder``):
    pks for fast-lane tasks, and the storing of their constant inputs."""

    def record_data(self, node: Any) -> int: ...
    @property
    def pk_stream(self) -> PkStream: ...

#: What a runner returns for a call that ends later (``Outcome::Pending``).
PENDING: str
#: What a runner returns for a task given up on because the run was cancelled.
CANCELLED: str

@final
class FastContext:
    """The fast lane's view of one run (``Run.execute``'s ``fast``): ``fail(id, exc, ctime)``
    records a failed fast task the general way, ``odd(id, returned)`` turns a returned dict or
    data node into the output value (and checks a value not exactly of ``fast_out_type``, and
    refuses a coroutine), ``mistyped(id, name, value)`` raises if an input from another task,
    not exactly of its ``fast_in_types`` entry, does not fit its annotation, ``isolate(value)`` gives a call its own copy of an input
    that is not an immutable scalar, ``queue`` (None: record nothing) takes one provenance entry
    per finished task, ``throttle()`` is called when more than ``queue_limit`` entries wait;
    ``packer`` (the store writer's :class:`SqlWriter`, when it packs task runs) makes a finished
    task's entry in the packed form on the worker; ``capture`` (None: off) is the run's output capture: :func:`current_fast_task` names it and
    the task whose function runs on this thread, and a task that printed gets
    ``capture.fast_done(id, pk)`` after its call."""

    def __new__(
        cls,
        *,
        fail: Callable[[int, BaseException, float], bool],
        odd: Callable[[int, Any], Any],
        mistyped: Callable[[int, str, Any], None],
        data_node: type,
        isolate: Callable[[Any], Any],
        queue: list[Any] | None,
        run_pk: int,
        throttle: Callable[[], None] | None,
        queue_limit: int,
        packer: SqlWriter | None = None,
        capture: Any | None = None,
    ) -> FastContext: ...

@final
class Pool:
    """A persistent pool of worker threads; reuse one across runs."""

    def __new__(cls, workers: int) -> Pool: ...
    @property
    def size(self) -> int: ...
    def shutdown(self) -> None: ...

@final
class Run:
    """A live task graph whose payloads are Python objects."""

    def __new__(cls) -> Run: ...
    def add_limit(self, cap: int) -> int: ...
    def add_task(
        self, payload: object, deps: Sequence[int] = ..., limit: int | None = None
    ) -> int: ...
    def submit(
        self,
        tasks: Sequence[_SubmittableTask],
        registry: list[Any],
        fast_box: list[Any] | None,
        store: _Recorder,
        recording: bool,
        caller_pk: int,
        data_node: type,
        future_socket: type,
        limit: int | None = None,
    ) -> list[int]: ...
    def fast_done(self, id: int) -> _Done | None: ...
    def results(self) -> Results: ...
    def __len__(self) -> int: ...
    def state(self, id: int) -> str: ...
    def states(self) -> list[str]: ...
    def settle_finished(self, registry: list[Any], reset_pks: bool) -> list[int]: ...
    def counts(self) -> dict[str, int]: ...
    def panics(self) -> list[tuple[int, str]]: ...
    def execute(
        self,
        pool: Pool,
        runner: Callable[[Any], bool | None | list[int] | str],
        timeout: float | None = None,
        fast: FastContext | None = None,
        on_cancel: Callable[[], None] | None = None,
    ) -> None: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...
    def resolve(self, id: int, ok: bool) -> bool: ...
    def resolve_many(self, outcomes: Sequence[tuple[int, bool]]) -> int: ...
    def abandon(self, ids: Sequence[int]) -> int: ...

@final
class Results:
    """The fast-lane results of a run, detached from it."""

    def fast_done(self, id: int) -> _Done | None: ...
    def __len__(self) -> int: ...

@final
class PkStream:
    """Consecutive pks from blocks ``refill(n) -> (first, stop)`` reserves; one per open store,
    shared by ``Store.new_pk`` and the fast lane's submitter."""

    def __new__(cls, refill: Callable[[int], tuple[int, int]]) -> PkStream: ...
    def take(self, n: int) -> int: ...
    def detach(self) -> tuple[int, int]: ...

@final
class SqlWriter:
    """The store writer's row conversion (see ``store/writer.py``)."""

    def __new__(
        cls, values: ModuleType, schema: ModuleType, max_length: int, packed: bool = False
    ) -> SqlWriter: ...
    def prepare(self, rows: list[tuple[Any, ...]]) -> PreparedBatch: ...

# (blobs, nodes, updates, links, statements): parameters of the WRITER_SQL statements
_Params = tuple[
    list[tuple[bytes, int, str, bytes]],
    list[tuple[Any, ...]],
    list[tuple[int, float, str | None, int]],
    list[tuple[int, int, int, str]],
    list[tuple[str, tuple[Any, ...]]],
]

@final
class PreparedBatch:
    """The rows of one drain of the store writer's queue, ready to commit."""

    @property
    def markers(self) -> list[threading.Lock]: ...
    @property
    def errors(self) -> list[tuple[str, str, str]]: ...
    @property
    def unserialisable(self) -> list[int]: ...
    def __len__(self) -> int: ...
    def commit(self, conn: SqliteConnection) -> list[tuple[str, str]]: ...
    def params(self) -> _Params: ...

@final
class SqliteConnection:
    """A write connection through the SQLite library Python's ``sqlite3`` uses."""

    def __new__(
        cls, extension: str, version: int, path: str, pragmas: list[str]
    ) -> SqliteConnection: ...
    def limit_length(self, limit: int | None = None) -> int: ...
    def close(self) -> None: ...

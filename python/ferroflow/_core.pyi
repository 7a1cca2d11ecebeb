"""Type stubs for the compiled scheduler module (checked by ``mypy.stubtest``)."""

import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, final

__all__ = [
    "ROW_LAYOUTS",
    "ROW_OPS",
    "WRITER_SQL",
    "Pool",
    "PreparedBatch",
    "Results",
    "Run",
    "SqlWriter",
    "SqliteConnection",
    "__version__",
    "after_fork",
    "in_worker",
    "new_uuid",
]

__version__: str
# The store writer's queue rows and statements, as declared in ferroflow/store/rows.py.
ROW_OPS: dict[str, int]
ROW_LAYOUTS: dict[int, tuple[str, ...]]
WRITER_SQL: dict[str, str]

def new_uuid() -> str: ...
def after_fork() -> None: ...
def in_worker() -> bool: ...

# (value, output uuid bytes, process uuid bytes, ctime, mtime)
_Done = tuple[Any, bytes, bytes, float, float]
_FastContext = tuple[
    Callable[[int, BaseException, float], bool],
    Callable[[int, Any], Any],
    type,
    list[Any] | None,
    int,
    Callable[[], None] | None,
    int,
]

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
        tasks: list[Any],
        registry: dict[int, Any],
        fast_box: list[Any] | None,
        store: Any,
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
    def counts(self) -> dict[str, int]: ...
    def panics(self) -> list[tuple[int, str]]: ...
    def execute(
        self,
        pool: Pool,
        runner: Callable[[Any], bool | None | list[int] | str],
        timeout: float | None = None,
        fast: _FastContext | None = None,
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
class SqlWriter:
    """The store writer's row conversion (see ``store/writer.py``)."""

    def __new__(cls, values: ModuleType, schema: ModuleType, max_length: int) -> SqlWriter: ...
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
    def markers(self) -> list[threading.Event]: ...
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
    def close(self) -> None: ...

"""Type stubs for the compiled scheduler module (checked by ``mypy.stubtest``)."""

from collections.abc import Callable, Sequence
from typing import Any, final

__all__ = [
    "Pool",
    "Results",
    "Run",
    "SqlWriter",
    "__version__",
    "after_fork",
    "in_worker",
    "new_uuid",
]

__version__: str

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
    """The store writer's SQL half (see ``store/writer.py``)."""

    def __new__(
        cls,
        library: str,
        path: str,
        synchronous: str,
        encode: Callable[[Any], Any],
        type_name: Callable[[Any], str],
        digest: Callable[[str, bytes], bytes],
    ) -> SqlWriter: ...
    def write(
        self, rows: list[Any]
    ) -> tuple[list[Any], list[tuple[str, str, str]], list[int]]: ...
    def close(self) -> None: ...

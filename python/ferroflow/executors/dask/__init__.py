"""Running a run's task functions on a Dask cluster: ``wg.run(executor=client)``.

Ferroflow keeps everything that makes a run a ferroflow run: the Rust core decides readiness
(and SKIPPED / CANCELLED), graph-task bodies run here in the client (they only wire tasks, and
their expansion needs the live run), and every value and link is recorded in this process's
store exactly as in a local run. Only leaf task functions go to Dask. A calc task flows so:

1. A pool thread runs the general runner (``Execution._run_task``; the fast lane is off for Dask
   runs): it records the process node and its input links, then :meth:`DaskSession.submit`
   queues the call and the runner returns ``"pending"``. The core keeps the task RUNNING, and
   counted as running, until its outcome is reported (``Outcome::Pending`` in
   ``rust/core/src/state.rs``).
2. The *submit* thread drains the queue and sends everything queued in **one** ``client.map``:
   one scheduler message per batch instead of one per task. Each Dask task runs
   :func:`remote.run_calls` on a chunk of ``chunk_size`` calls (1 by default; more amortises
   Dask's few hundred microseconds per task over many tiny ones).
3. Two fetch loops on the client's event loop wait for finished chunks (a Dask
   ``as_completed``) and fetch the results of all chunks that finished since their last fetch
   with one ``client.gather``; while a fetch is in flight the next batch grows. The *collect*
   thread turns each return value into output nodes and provenance through the local runner's
   own code (``Execution.finished`` / ``failed``) and reports the outcomes with one
   ``Run.resolve_many``: the core queues the tasks they make ready on the pool, exactly as
   after a local completion.

Large values stay on the cluster where possible. A single-output task whose value is at least
``inline_limit`` bytes (``dask.sizeof``) keeps its Dask future for the rest of the run; a task
consuming that output gets the future (a :class:`remote.Ref`), so Dask moves the value between
workers (or runs the consumer where it is) instead of the client sending it back. A large value
without a future (a constant input, a namespace output) is ``client.scatter``-ed once and
reused by every consumer. The store still records every value, so each result is fetched to the
client once (with provenance off it is fetched too: ``node.value`` must work after the run).
Caveat: if the worker holding a kept value dies, Dask recomputes it from its task; a
non-deterministic function may then feed consumers a value other than the stored one.

Worker failures: a worker that dies mid-task loses nothing, Dask reruns its tasks elsewhere (up
to ``distributed.scheduler.allowed-failures`` times, then the chunk's tasks fail with
``KilledWorker``). Cancellation (Ctrl-C, ``timeout``): the core calls :meth:`DaskSession.cancel`,
which abandons every pending task (``Run.abandon``: CANCELLED, like local tasks that never
started) and cancels their Dask futures instead of waiting for them.

Retries, timeouts and error handlers (``@task(retries=, retry_on=, backoff=, timeout=,
error_handlers=)``) follow the local runner's rules (``Execution._call_with_retries``), the
waiting done here instead of by a worker:

* Such a task is sent alone in its Dask task (never in a chunk with others), so that a retry
  reruns nobody else. Every attempt is its own process node (``Execution.attempt_started``:
  ``name``, ``name_attempt2``, ...); a failed attempt's node is stored FAILED with its remote
  traceback and the last attempt's outputs are used.
* Whether a failed call is tried again is what
  :class:`~ferroflow.engine.attempts.Attempts` answers for its
  exception, restored with its remote traceback (:func:`remote.restore`): error handlers, then
  ``isinstance(exc, retry_on)``. An exception that could not be sent back arrives as
  :class:`remote.RemoteTaskError` and is retried only if ``retry_on`` covers it
  (``Exception``, the default, does; ``retry_on=ValueError`` does not). Dask-level errors
  (``KilledWorker``, a cancellation nobody here asked for, an argument that does not pickle)
  are not the call raising and are not retried.
* ``backoff``: the next attempt is submitted by a timer on the client's event loop, so no
  thread waits; meanwhile the task stays RUNNING in the core and registered here, so a cancel
  finds it: no further attempt is submitted and the task is CANCELLED with a
  :class:`RetryCancelledError` (its last attempt's node too), exactly as for a local task
  cancelled while it waits to retry.
* ``timeout``: a deadline kept here, per attempt, counted from when the call *starts on a
  worker* (the worker logs one Dask event, topic :data:`remote.ATTEMPT_STARTED`, that the
  client subscribes to), so time spent queued on a busy cluster does not count; only if the
  subscription cannot be made it counts from the hand-off to Dask. Past it the attempt fails
  with :class:`TaskTimeoutError` (retried if it matches ``retry_on``, as locally; else the
  dependents are SKIPPED), its Dask future is cancelled and a late result is discarded. As with
  a local thread, a call already running on a worker cannot be stopped: it finishes there.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING, Any, TypeVar

try:
    import distributed
    from dask.sizeof import sizeof
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "running on Dask needs the 'distributed' package: pip install 'ferroflow[dask]'"
    ) from exc

from ...engine.attempts import Attempts, call_kwargs
from ...errors import FerroflowError, TaskTimeoutError
from ...model.data import DataNode
from .remote import ATTEMPT_STARTED, Calls, Ref, restore, run_calls

if TYPE_CHECKING:
    from ...engine.execution import Execution
    from ...model.graph import TaskNode

__all__ = ["DaskExecutor", "DaskSession", "client_for", "close_clients"]

#: Fetch loops per run: two, so that one large result being fetched does not hold up the rest.
_FETCHERS = 2
#: Types whose values are always small enough to send inline (no ``sizeof`` call).
_SMALL = frozenset({int, float, bool, complex, type(None)})

_clients: dict[str, distributed.Client] = {}
_clients_lock = threading.Lock()

#: Sessions by run token, for the attempt-started events (one subscription per client).
_sessions: dict[str, DaskSession] = {}
_listening: weakref.WeakSet[distributed.Client] = weakref.WeakSet()


def _on_attempt_started(event: tuple[float, Any]) -> None:
    """A worker started a timed attempt (on the client's event loop): arm its deadline."""
    try:
        run, task_id, attempt = event[1]
    except (TypeError, ValueError):  # not ours
        return
    session = _sessions.get(run)
    if session is not None:
        session._arm(task_id, attempt)


def _listen(client: distributed.Client) -> bool:
    """Subscribe ``client`` to the attempt-started events, once; False if it cannot be."""
    with _clients_lock:
        if client not in _listening:
            try:
                client.subscribe_topic(ATTEMPT_STARTED, _on_attempt_started)
            except Exception:
                return False
            _listening.add(client)
    return True


def client_for(address: str) -> distributed.Client:
    """A client connected to the scheduler at ``address``, made once per process and reused
    (not made the default Dask client: ferroflow should not change what plain Dask code uses)."""
    with _clients_lock:
        client = _clients.get(address)
        if client is None or client.status in ("closing", "closed"):
            client = _clients[address] = distributed.Client(address, set_as_default=False)
        return client


def close_clients() -> None:
    """Close the clients :func:`client_for` made (tests call it before their cluster stops)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


class DaskExecutor:
    """Run task functions on the Dask cluster of ``client`` (a ``distributed.Client`` or a
    scheduler address such as ``"tcp://host:8786"``).

    ``chunk_size``: ready tasks sent to Dask together are grouped into Dask tasks of up to this
    many calls (1: one Dask task per ferroflow task), never fewer than two per worker thread of
    the cluster, so that chunking cannot leave workers idle. Raise it for tasks well under a
    millisecond, where Dask's own per-task cost dominates. ``inline_limit``: values of at least
    this many bytes travel between tasks as Dask futures instead of through the client.
    """

    def __init__(
        self,
        client: distributed.Client | str,
        *,
        chunk_size: int = 1,
        inline_limit: int = 64 * 1024,
    ) -> None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be an integer >= 1, not {chunk_size!r}")
        if isinstance(inline_limit, bool) or not isinstance(inline_limit, int) or inline_limit < 0:
            raise ValueError(f"inline_limit must be a number of bytes >= 0, not {inline_limit!r}")
        if isinstance(client, str):
            client = client_for(client)
        if not isinstance(client, distributed.Client):
            raise TypeError(
                f"DaskExecutor needs a distributed.Client or a scheduler address, "
                f"not {type(client).__qualname__}"
            )
        if client.asynchronous:
            raise TypeError(
                "DaskExecutor needs a synchronous distributed.Client (wg.run() blocks); this "
                "one was made with asynchronous=True"
            )
        self.client = client
        self.chunk_size = chunk_size
        self.inline_limit = inline_limit

    def session(self, execution: Execution) -> DaskSession:
        """The bridge between one run and the cluster (see :class:`DaskSession`)."""
        return DaskSession(self, execution)

    def __repr__(self) -> str:
        address = getattr(self.client.scheduler, "address", "?")
        return f"<DaskExecutor {address} chunk_size={self.chunk_size}>"


class _OnCluster:
    """A keyword argument whose value is on the cluster: ``future`` (a scattered value,
    ``index`` None) or call ``index`` of the chunk ``future``. Becomes a :class:`remote.Ref`
    when its chunk is sent."""

    __slots__ = ("future", "index")

    def __init__(self, future: distributed.Future[Any], index: int | None) -> None:
        self.future = future
        self.index = index


class _Entry:
    """One calc task handed to Dask: its call, then the chunk future and position in it.

    A task with retries, a timeout or error handlers also keeps its resolved ``inputs`` (for
    the next attempt's node), its ``attempt`` number, ``waiting`` (True between a failed attempt
    and the next one), ``error`` (the last failed attempt's), ``used`` (error handler ->
    times it changed inputs) and ``armed`` (the last attempt whose deadline runs; touched on the
    event loop only)."""

    __slots__ = (
        "armed",
        "attempts",
        "changes",
        "error",
        "func",
        "future",
        "has_refs",
        "id",
        "index",
        "inputs",
        "kwargs",
        "task",
        "waiting",
    )

    def __init__(
        self,
        task: TaskNode,
        id: int,
        func: Callable[..., Any],
        kwargs: dict[str, Any],
        has_refs: bool,
        inputs: dict[str, Any] | None = None,
    ) -> None:
        self.task = task
        self.id = id
        self.func = func
        self.kwargs = kwargs
        self.has_refs = has_refs
        self.future: distributed.Future[Any] | None = None
        self.index = 0
        self.inputs = inputs
        self.attempts = Attempts(task)
        #: inputs an error handler changed for the next attempt
        self.changes: dict[str, Any] = {}
        self.waiting = False
        self.armed = 0
        self.error: BaseException | None = None

    @property
    def attempt(self) -> int:
        return self.attempts.attempt


def _unsendable(entry: _Entry, exc: BaseException) -> FerroflowError:
    error = FerroflowError(
        f"task '{entry.task.path}' cannot be sent to the Dask workers: "
        f"{type(exc).__name__}: {exc}. Its function must pickle (importable by name on the "
        f"workers, or with globals that pickle: no locks, open files or connections) and so "
        f"must its input values"
    )
    error.__cause__ = exc
    return error


class _Wake:
    """A timer's item on the collect queue: attempt ``attempt``'s deadline passed
    (``deadline``), or the backoff after it is over (not ``deadline``)."""

    __slots__ = ("attempt", "deadline")

    def __init__(self, deadline: bool, attempt: int) -> None:
        self.deadline = deadline
        self.attempt = attempt


#: A chunk future, its entries, and its result (a list of outcomes) or why there is none; or
#: (None, [entry], _Wake) from a timer.
_Done = tuple[distributed.Future[Any] | None, list[_Entry], Any]


_T = TypeVar("_T")


def _drain(
    queue: SimpleQueue[_T | None],
    handle: Callable[[list[_T]], None],
    fail: Callable[[list[_T], BaseException], None],
) -> None:
    """The submit and collect threads' loop: wait for an item, then take everything else
    queued too and ``handle`` it all as one batch; if that raises, ``fail`` the batch (never
    leave a task pending for ever). Returns at the ``None`` sentinel (``close``), after
    handling the batch taken before it."""
    while True:
        first = queue.get()
        if first is None:
            return
        batch = [first]
        stop = False
        while True:
            try:
                item = queue.get_nowait()
            except Empty:
                break
            if item is None:
                stop = True
                break
            batch.append(item)
        try:
            handle(batch)
        except BaseException as exc:  # never leave a task pending for ever
            fail(batch, exc)
        if stop:
            return


def _place(value: Any, deps: list[Any], slots: dict[Any, int]) -> Any:
    """``value`` with each :class:`_OnCluster` replaced by a :class:`Ref` to a slot of
    ``deps`` (one slot per distinct future)."""
    if type(value) is _OnCluster:
        key = value.future.key
        slot = slots.get(key)
        if slot is None:
            slot = slots[key] = len(deps)
            deps.append(value.future)
        return Ref(slot, value.index)
    if type(value) is dict:
        return {k: _place(v, deps, slots) for k, v in value.items()}
    return value


class DaskSession:
    """One run's bridge to the cluster: a submit thread, a collect thread, and the registry of
    tasks pending on Dask. See the module docstring for the flow.

    A task is *claimed* by removing it from the registry (under ``_lock``); only the claimer
    reports its outcome, so a result arriving while Ctrl-C abandons the task is applied once.
    """

    def __init__(self, executor: DaskExecutor, execution: Execution) -> None:
        self.client = executor.client
        self.chunk_size = executor.chunk_size
        self.inline_limit = executor.inline_limit
        self.execution = execution
        self.core = execution.core
        self._lock = threading.Lock()
        self._pending: dict[int, _Entry] = {}
        #: attempt-started events arrive (None: not asked yet; False: deadlines from hand-off)
        self._listening: bool | None = None
        self._timers: list[object] = []  # the event loop's timer handles; touched there only
        self._to_send: SimpleQueue[_Entry | None] = SimpleQueue()
        self._done: SimpleQueue[_Done | None] = SimpleQueue()
        #: id(data node) -> (node, future, index): values kept on the cluster for consumers
        self._on_cluster: dict[int, tuple[DataNode, distributed.Future[Any], int | None]] = {}
        self._run = execution.uuid.replace("-", "")[-12:]
        self._threads: list[threading.Thread] = []
        self._threads_on_cluster = 1  # Dask worker threads, for sizing chunks
        loop = self.client.loop
        assert loop is not None, "a synchronous client runs its event loop in a thread"
        self._loop = loop
        #: chunk futures sent and not yet fetched (the fetcher's as_completed) and their entries
        self._sent = distributed.as_completed(loop=loop)
        self._chunks: dict[Any, list[_Entry]] = {}
        self._more: asyncio.Event | None = None
        self._stopping = False

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self.chunk_size > 1:
            try:
                self._threads_on_cluster = max(1, sum(self.client.nthreads().values()))
            except Exception:  # no answer now: chunks are just less well balanced
                self._threads_on_cluster = 1
        for name, loop in (("submit", self._send_loop), ("collect", self._collect_loop)):
            thread = threading.Thread(target=loop, name=f"ferroflow-dask-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._more = None
        for _ in range(_FETCHERS):
            self._loop.add_callback(self._fetch_loop)
        _sessions[self._run] = self

    def close(self) -> None:
        """Stop both threads and release the futures kept for the run (the run is over)."""
        self._stopping = True
        _sessions.pop(self._run, None)
        self._loop.add_callback(self._wake_fetcher)
        self._loop.add_callback(self._drop_timers)
        self._to_send.put(None)
        self._done.put(None)
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
        self._on_cluster.clear()

    def cancel(self) -> None:
        """The run was cancelled: abandon every task pending on Dask (the core marks them
        CANCELLED) and cancel their futures. Called by the core, repeatedly while any remain.
        A task waiting between attempts gets none: it is CANCELLED with a RetryCancelledError,
        as for a local task."""
        with self._lock:
            entries = list(self._pending.values())
            self._pending.clear()
        if not entries:
            return
        waiting = [e for e in entries if e.waiting]  # between attempts: no further one
        if waiting:
            entries = [e for e in entries if not e.waiting]
            for e in waiting:
                self._retry_cancelled(e)
            self.core.abandon([e.id for e in waiting])
        self.core.abandon([e.id for e in entries])
        futures = list({e.future.key: e.future for e in entries if e.future is not None}.values())
        loop = self.client.loop
        if futures and loop is not None:
            # On the event loop, so that Ctrl-C never waits for the scheduler to answer.
            loop.add_callback(self._cancel_futures, futures)

    async def _cancel_futures(self, futures: list[distributed.Future[Any]]) -> None:
        with contextlib.suppress(Exception):  # the cluster may be gone: abandoned either way
            await self.client.cancel(futures, asynchronous=True)

    # -- runner side (pool threads) --------------------------------------------------------
    def submit(self, task: TaskNode, inputs: dict[str, Any]) -> str | bool:
        """Queue a calc task whose inputs are resolved (``inputs``: data nodes, or nested dicts
        of them); the runner returns what this returns: ``"pending"``, or False if the call
        could not even be prepared (a large input that could not be scattered)."""
        handle = task.handle
        refs = [False]
        try:
            kwargs = {
                name: self._arg(node, refs) if type(node) is DataNode else self._tree(node, refs)
                for name, node in inputs.items()
            }
        except BaseException as exc:
            return self.execution.failed(task, exc)
        if handle.var_kw:
            kwargs.update(kwargs.pop(handle.var_kw, {}))
        assert task.id is not None
        retried = (
            handle.retries > 0
            or handle.timeout is not None
            or bool(handle.error_handlers)
            or task.handlers is not None
        )
        entry = _Entry(task, task.id, handle.func, kwargs, refs[0], inputs if retried else None)
        if handle.timeout is not None and self._listening is None:
            self._listening = _listen(self.client)
        with self._lock:
            self._pending[entry.id] = entry
        self._to_send.put(entry)
        return "pending"

    def _tree(self, node: Any, refs: list[bool]) -> Any:
        if type(node) is DataNode:
            return self._arg(node, refs)
        if isinstance(node, dict):
            return {k: self._tree(v, refs) for k, v in node.items()}
        return node

    def _arg(self, node: DataNode, refs: list[bool]) -> Any:
        """What to send for an input node: its value, or a reference to it on the cluster."""
        held = self._on_cluster.get(id(node))
        if held is not None:
            refs[0] = True
            return _OnCluster(held[1], held[2])
        value = node.value
        if type(value) in _SMALL or sizeof(value) < self.inline_limit:
            return value
        future = self.client.scatter(value, hash=False)
        held = self._on_cluster.setdefault(id(node), (node, future, None))
        refs[0] = True
        return _OnCluster(held[1], held[2])

    # -- submit thread ---------------------------------------------------------------------
    def _send_loop(self) -> None:
        _drain(self._to_send, self._send, self._fail_entries)

    def _send(self, batch: list[_Entry]) -> None:
        pending = self._pending
        live = [e for e in batch if e.id in pending]  # abandoned ones are dropped
        # a task with retries or a timeout goes alone, so that a retry reruns nobody else
        solo = [e for e in live if e.inputs is not None]
        if solo:
            live = [e for e in live if e.inputs is None]
        size = self.chunk_size
        if size > 1:  # at least two chunks per worker thread, or chunks would idle workers
            size = max(1, min(size, -(-len(live) // (2 * self._threads_on_cluster))))
        chunks = [live[i : i + size] for i in range(0, len(live), size)]
        chunks += [[e] for e in solo]
        if not chunks:
            return
        payloads: list[Calls] = []
        deps: list[list[Any]] = []
        keys: list[str] = []
        sendable: list[list[_Entry]] = []
        for chunk in chunks:
            for part, payload, part_deps, key in self._payloads(chunk):
                payloads.append(payload)
                deps.append(part_deps)
                keys.append(key)
                sendable.append(part)
        chunks = sendable
        if not chunks:
            return
        futures: list[distributed.Future[Any] | None]
        try:
            futures = list(self.client.map(run_calls, payloads, deps, key=keys, pure=False))
        except Exception:
            # one bad chunk (an argument that does not pickle) must not fail the others
            futures = []
            for payload, chunk_deps, key, chunk in zip(payloads, deps, keys, chunks, strict=True):
                try:
                    futures.append(
                        self.client.submit(run_calls, payload, chunk_deps, key=key, pure=False)
                    )
                except Exception as exc:
                    futures.append(None)
                    self._fail_entries(chunk, exc)
        sent = []
        dead = []
        with self._lock:  # a chunk abandoned meanwhile is cancelled: cancel() saw no future
            for future, chunk in zip(futures, chunks, strict=True):
                if future is None:
                    continue
                alive = False
                for i, entry in enumerate(chunk):
                    entry.future = future
                    entry.index = i
                    alive = alive or pending.get(entry.id) is entry
                if not alive:
                    dead.append(future)
                self._chunks[future.key] = chunk
                sent.append(future)
        if sent:
            self._sent.update(sent)
            self._loop.add_callback(self._wake_fetcher)
        if dead:
            self._loop.add_callback(self._cancel_futures, dead)
        if solo and not self._listening:  # no start events: deadlines run from the hand-off
            for entry in solo:
                if entry.future is not None and entry.task.handle.timeout is not None:
                    self._loop.add_callback(self._arm, entry.id, entry.attempt)

    def _payloads(self, chunk: list[_Entry]) -> list[tuple[list[_Entry], Calls, list[Any], str]]:
        """The Dask task of ``chunk``: ``(entries, calls, dependencies, key)``, the calls
        frozen. When something in it does not pickle, each of its tasks that does goes alone
        and the others fail here, named (Dask would hang on them: see :class:`Calls`)."""
        chunk_deps: list[Any] = []
        slots: dict[Any, int] = {}
        calls = [
            (e.func, _place(e.kwargs, chunk_deps, slots) if e.has_refs else e.kwargs, e.has_refs)
            for e in chunk
        ]
        first = chunk[0]
        key = f"{first.task.handle.name}-{self._run}-{first.id}"
        started = None
        if first.inputs is not None:
            if first.attempt > 1:  # a new key: the failed attempt's may still be known
                key = f"{key}-{first.attempt}"
            if self._listening and first.task.handle.timeout is not None:
                started = [self._run, first.id, first.attempt]
        payload = Calls(calls, started)
        try:
            payload.freeze()
        except Exception as exc:
            if len(chunk) > 1:
                return [part for entry in chunk for part in self._payloads([entry])]
            self._fail_entries(chunk, _unsendable(first, exc))
            return []
        return [(chunk, payload, chunk_deps, key)]

    # -- retries and deadlines ---------------------------------------------------------------
    def _arm(self, task_id: int, attempt: int) -> None:
        """Start attempt ``attempt``'s deadline (on the event loop, once per attempt)."""
        entry = self._pending.get(task_id)
        timeout = entry.task.handle.timeout if entry is not None else None
        if (
            entry is None
            or timeout is None
            or entry.attempt != attempt
            or entry.waiting
            or entry.armed >= attempt
            or self._stopping
        ):
            return
        entry.armed = attempt
        self._timers.append(
            self._loop.call_later(timeout, self._done.put, (None, [entry], _Wake(True, attempt)))
        )

    def _later(self, delay: float, entry: _Entry, wake: _Wake) -> None:
        """Put ``(None, [entry], wake)`` on the collect queue in ``delay`` seconds."""

        def schedule() -> None:
            if not self._stopping:
                self._timers.append(
                    self._loop.call_later(delay, self._done.put, (None, [entry], wake))
                )

        self._loop.add_callback(schedule)

    def _drop_timers(self) -> None:
        timers, self._timers = self._timers, []
        for handle in timers:
            self._loop.remove_timeout(handle)

    def _release(self, entry: _Entry) -> bool:
        """Register a claimed entry again (it waits for another attempt or is sent again);
        False if the run was cancelled meanwhile: then no further attempt is made."""
        with self._lock:
            if self.core.cancelled:
                return False
            self._pending[entry.id] = entry
            return True

    def _attempt_failed(
        self, entry: _Entry, exc: BaseException, resolved: list[tuple[int, bool]]
    ) -> None:
        """A claimed attempt raised ``exc`` (or timed out): as the local runner does
        (``Execution._call_with_retries``), ask ``Attempts.after_failure`` (error handlers,
        then ``retries``/``retry_on``) whether and with which inputs it is tried again; if so
        store this attempt FAILED and submit the next one after ``backoff`` (a timer on the
        event loop), else fail the task."""
        task = entry.task
        handle = task.handle
        inputs = entry.inputs
        if inputs is None:
            resolved.append((entry.id, self._fail(entry, exc)))
            return
        try:
            changes = entry.attempts.after_failure(exc, call_kwargs(task, inputs))
            if changes is None:
                resolved.append((entry.id, self._fail(entry, exc)))
                return
            self.execution.attempt_failed(task, exc)
        except BaseException as other:  # an error handler raised, or the store is closed
            resolved.append((entry.id, self._fail(entry, other)))
            return
        entry.changes = changes
        entry.error = exc
        entry.waiting = True
        entry.future = None
        if handle.backoff <= 0:
            self._resubmit(entry, resolved)
        elif self._release(entry):
            self._later(handle.backoff, entry, _Wake(False, entry.attempt))
        else:
            self._retry_cancelled(entry)
            self.core.abandon([entry.id])

    def _retry_cancelled(self, entry: _Entry) -> None:
        """The run was cancelled while ``entry`` waited for its next attempt: none is made and
        the task is recorded CANCELLED with a :class:`RetryCancelledError`, as for a local task
        (``Execution.cancelled``); the caller abandons it in the core (CANCELLED there too)."""
        assert entry.error is not None
        with contextlib.suppress(BaseException):  # the store may be closed: cancelled anyway
            self.execution.cancelled(entry.task, entry.attempts.cancelled(entry.error))

    def _resubmit(self, entry: _Entry, resolved: list[tuple[int, bool]]) -> None:
        """Start and send the next attempt of a claimed, waiting entry (unless the run was
        cancelled)."""
        if self.core.cancelled:
            self._retry_cancelled(entry)
            self.core.abandon([entry.id])
            return
        task = entry.task
        assert entry.inputs is not None
        label = entry.attempts.next(entry.changes, entry.inputs, entry.kwargs)
        entry.waiting = False
        try:
            self.execution.attempt_started(task, entry.inputs, label)
        except BaseException as exc:
            resolved.append((entry.id, self._fail(entry, exc)))
            return
        if self._release(entry):
            self._to_send.put(entry)
        else:  # cancelled meanwhile: the new attempt's RUNNING node becomes CANCELLED
            self.core.abandon([entry.id])

    def _woken(self, entry: _Entry, wake: _Wake, resolved: list[tuple[int, bool]]) -> None:
        """A timer fired: a deadline passed, or a backoff is over (stale ones are ignored)."""
        with self._lock:
            # a deadline is for a running attempt, a backoff's end for a waiting one
            waits = not wake.deadline
            mine = (
                self._pending.get(entry.id) is entry
                and entry.attempt == wake.attempt
                and entry.waiting == waits
            )
            if mine:
                del self._pending[entry.id]
        if not mine:
            return
        if not wake.deadline:
            self._resubmit(entry, resolved)
            return
        future, entry.future = entry.future, None
        if future is not None:  # release it; a result that still comes is not claimed
            self._loop.add_callback(self._cancel_futures, [future])
        task = entry.task
        self._attempt_failed(
            entry,
            TaskTimeoutError(
                f"task '{task.path}' ran past its timeout of {task.handle.timeout:g} s on Dask "
                f"and was failed; its result will be discarded (its Dask future is cancelled, "
                f"but a call already running on a worker cannot be stopped and finishes there)"
            ),
            resolved,
        )

    # -- fetching, on the client's event loop ------------------------------------------------
    def _wake_fetcher(self) -> None:
        if self._more is not None:
            self._more.set()

    async def _fetch_loop(self) -> None:
        """Fetch the results of finished chunks, all that finished since the last fetch in one
        request: while one request is in flight the next batch grows, so a busy run makes few
        requests and an idle one answers at once."""
        if self._more is None:
            self._more = asyncio.Event()  # made on the loop, where it is used
        more = self._more
        sent = self._sent
        while not self._stopping:
            if sent.is_empty():
                more.clear()
                await more.wait()
                continue
            try:
                first = await sent.__anext__()
            except StopAsyncIteration:
                continue
            batch = [first, *sent.next_batch(block=False)]
            finished = [f for f in batch if f.status == "finished"]
            results: list[Any]
            try:
                results = list(await self.client.gather(finished, asynchronous=True))
            except BaseException:
                results = []
                for future in finished:
                    try:
                        results.append(await self.client.gather(future, asynchronous=True))
                    except BaseException as exc:
                        results.append(exc)
            for future, result in zip(finished, results, strict=True):
                self._done.put((future, self._chunks.pop(future.key, []), result))
            for future in batch:
                if future.status != "finished":
                    try:
                        result = await self.client.gather(future, asynchronous=True)
                    except BaseException as exc:  # a Dask-level error, or cancelled
                        result = exc
                    self._done.put((future, self._chunks.pop(future.key, []), result))

    # -- collect thread --------------------------------------------------------------------
    def _collect_loop(self) -> None:
        def fail(items: list[_Done], exc: BaseException) -> None:
            self._fail_entries([e for _, chunk, _ in items for e in chunk], exc)

        _drain(self._done, self._collect, fail)

    def _collect(self, items: list[_Done]) -> None:
        resolved: list[tuple[int, bool]] = []
        try:
            for future, chunk, result in items:
                if future is None:  # a timer: a deadline passed or a backoff is over
                    self._woken(chunk[0], result, resolved)
                    continue
                mine = self._claim(chunk, future)
                if not mine:
                    continue
                if isinstance(result, BaseException):  # Dask-level: not retried
                    error = self._error_of(future, result)
                    resolved += [(e.id, self._fail(e, error)) for e in mine]
                    continue
                for entry in mine:
                    outcome = result[entry.index]
                    if outcome[0]:
                        resolved.append((entry.id, self._finish(entry, outcome[1])))
                    elif entry.inputs is None:
                        resolved.append((entry.id, self._fail(entry, restore(outcome))))
                    else:
                        self._attempt_failed(entry, restore(outcome), resolved)
        finally:  # whatever happened, what was claimed is reported
            if resolved:
                self.core.resolve_many(resolved)

    @staticmethod
    def _error_of(future: distributed.Future[Any], exc: BaseException) -> BaseException:
        """Why a chunk has no result: a Dask-level error (not a task's own exception, which
        comes back as data), or a cancellation nobody here asked for."""
        if future.status == "cancelled" or isinstance(exc, asyncio.CancelledError):
            return FerroflowError(
                f"Dask cancelled this task (were the cluster or the client shut down?): "
                f"{type(exc).__name__}: {exc}"
            )
        return exc

    def _claim(
        self, chunk: list[_Entry], future: distributed.Future[Any] | None = None
    ) -> list[_Entry]:
        """The entries of ``chunk`` this thread now owns (not abandoned, not yet reported);
        with ``future``, only those whose current attempt it is (a late result of an attempt
        that timed out is not)."""
        pending = self._pending
        with self._lock:
            if future is None:
                return [e for e in chunk if pending.pop(e.id, None) is not None]
            return [e for e in chunk if e.future is future and pending.pop(e.id, None) is not None]

    def _finish(self, entry: _Entry, value: Any) -> bool:
        """Record a claimed task's return value as the local runner does; True if it
        finished."""
        task = entry.task
        try:
            ok = self.execution.finished(task, value)
        except BaseException as exc:
            return self._fail(entry, exc)
        single = task.handle.single_output
        if ok and single is not None and type(value) not in _SMALL:
            outputs = task.outputs
            node = outputs.get(single) if outputs is not None else None
            if (
                type(node) is DataNode
                and node.value is value
                and entry.future is not None
                and sizeof(value) >= self.inline_limit
            ):
                self._on_cluster[id(node)] = (node, entry.future, entry.index)
        return ok

    def _fail(self, entry: _Entry, exc: BaseException) -> bool:
        try:
            return self.execution.failed(entry.task, exc)
        except BaseException:  # the store may be closed; the task fails all the same
            return False

    def _fail_entries(self, entries: list[_Entry], exc: BaseException) -> None:
        mine = self._claim(entries)
        if mine:
            self.core.resolve_many([(e.id, self._fail(e, exc)) for e in mine])

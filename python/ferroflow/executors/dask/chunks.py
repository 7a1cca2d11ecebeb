"""Sending queued calls to Dask: grouped into chunks, pickled first, in one ``client.map``.

One ``client.map`` per batch is one scheduler message instead of one per task, and a chunk of
``chunk_size`` calls shares Dask's own per-task cost (a few hundred microseconds) among them.
A task that makes its own attempts goes alone, so that a retry reruns nobody else. Each chunk
is pickled here (:meth:`.remote.Calls.freeze`), before Dask sees it: a chunk that does not
pickle is split, and only its calls that do not pickle fail, named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import distributed

from ...errors import FerroflowError
from .attempts import Retries
from .fetch import Fetcher
from .pending import Entry, Pending
from .remote import Calls, Ref, run_calls
from .values import OnCluster

__all__ = ["Chunks"]


def _unsendable(entry: Entry, exc: BaseException) -> FerroflowError:
    error = FerroflowError(
        f"task '{entry.task.path}' cannot be sent to the Dask workers: "
        f"{type(exc).__name__}: {exc}. Its function must pickle (importable by name on the "
        f"workers, or with globals that pickle: no locks, open files or connections) and so "
        f"must its input values"
    )
    error.__cause__ = exc
    return error


def _place(value: Any, deps: list[Any], slots: dict[Any, int]) -> Any:
    """``value`` with each :class:`OnCluster` replaced by a :class:`Ref` to a slot of
    ``deps`` (one slot per distinct future)."""
    if type(value) is OnCluster:
        key = value.future.key
        slot = slots.get(key)
        if slot is None:
            slot = slots[key] = len(deps)
            deps.append(value.future)
        return Ref(slot, value.index)
    if type(value) is dict:
        return {k: _place(v, deps, slots) for k, v in value.items()}
    return value


@dataclass(eq=False)
class Chunks:
    """What the submit thread does with each batch of entries (see the module docstring)."""

    client: distributed.Client
    chunk_size: int
    run: str
    pending: Pending
    fetcher: Fetcher
    retries: Retries
    #: Dask worker threads, for sizing chunks
    _threads_on_cluster: int = field(default=1, init=False)

    def start(self) -> None:
        if self.chunk_size > 1:
            try:
                self._threads_on_cluster = max(1, sum(self.client.nthreads().values()))
            except Exception:  # no answer now: chunks are just less well balanced
                self._threads_on_cluster = 1

    def send(self, batch: list[Entry]) -> None:
        """Send ``batch``'s entries that are still pending, in as few Dask requests as can be."""
        live = self.pending.live(batch)
        solo = [e for e in live if e.solo]
        if solo:
            live = [e for e in live if not e.solo]
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
        sendable: list[list[Entry]] = []
        for chunk in chunks:
            for part, payload, part_deps, key in self._payloads(chunk):
                payloads.append(payload)
                deps.append(part_deps)
                keys.append(key)
                sendable.append(part)
        chunks = sendable
        if not chunks:
            return
        futures = self._map(payloads, deps, keys, chunks)
        dead = self.pending.sent(futures, chunks)
        sent = [(f, c) for f, c in zip(futures, chunks, strict=True) if f is not None]
        if sent:
            self.fetcher.track([f for f, _ in sent], [c for _, c in sent])
        if dead:
            self.fetcher.cancel(dead)
        if solo:
            self.retries.sent(solo)

    def _map(
        self,
        payloads: list[Calls],
        deps: list[list[Any]],
        keys: list[str],
        chunks: list[list[Entry]],
    ) -> list[distributed.Future[Any] | None]:
        """One ``client.map`` of :func:`run_calls`; if that raises, one submit per chunk, so
        that one bad chunk (an argument that does not pickle) fails only its own tasks."""
        client = self.client
        try:
            return list(client.map(run_calls, payloads, deps, key=keys, pure=False))
        except Exception:
            futures: list[distributed.Future[Any] | None] = []
            for payload, chunk_deps, key, chunk in zip(payloads, deps, keys, chunks, strict=True):
                try:
                    futures.append(
                        client.submit(run_calls, payload, chunk_deps, key=key, pure=False)
                    )
                except Exception as exc:
                    futures.append(None)
                    self.pending.fail(chunk, exc)
            return futures

    def _payloads(self, chunk: list[Entry]) -> list[tuple[list[Entry], Calls, list[Any], str]]:
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
        key = f"{first.task.handle.name}-{self.run}-{first.id}"
        started = None
        if first.solo:
            if first.attempt > 1:  # a new key: the failed attempt's may still be known
                key = f"{key}-{first.attempt}"
            started = self.retries.token(first)
        payload = Calls(calls, started, self.pending.execution.capture.enabled)
        try:
            payload.freeze()
        except Exception as exc:
            if len(chunk) > 1:
                return [part for entry in chunk for part in self._payloads([entry])]
            self.pending.fail(chunk, _unsendable(first, exc))
            return []
        return [(chunk, payload, chunk_deps, key)]

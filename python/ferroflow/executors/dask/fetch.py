"""Fetching the results of finished chunks, and cancelling futures, on the client's event loop.

The fetch loops wait on one ``as_completed`` of the chunks sent and fetch the results of all
that finished since their last fetch with one ``client.gather``: while one request is in
flight the next batch grows, so a busy run makes few requests and an idle one answers at once.
They run on the event loop because that is where the client's requests are made anyway (no
thread waits for an answer). Each result goes to the collect queue as ``(future, entries,
result)``; a chunk without a result carries why (see :func:`chunk_error`).
"""

from __future__ import annotations

import asyncio
import contextlib
from queue import SimpleQueue
from typing import Any

import distributed

from ...errors import FerroflowError
from .pending import Done, Entry

__all__ = ["FETCHERS", "Fetcher", "chunk_error"]

#: Fetch loops per run: two, so that one large result being fetched does not hold up the rest.
FETCHERS = 2


def chunk_error(future: distributed.Future[Any], exc: BaseException) -> BaseException:
    """Why a chunk has no result: a Dask-level error (not a task's own exception, which comes
    back as data), or a cancellation nobody here asked for."""
    if future.status == "cancelled" or isinstance(exc, asyncio.CancelledError):
        return FerroflowError(
            f"Dask cancelled this task (were the cluster or the client shut down?): "
            f"{type(exc).__name__}: {exc}"
        )
    return exc


class Fetcher:
    """One run's fetch loops, the chunks they wait for, and cancellations."""

    def __init__(self, client: distributed.Client, done: SimpleQueue[Done | None]) -> None:
        loop = client.loop
        assert loop is not None, "a synchronous client runs its event loop in a thread"
        self._client = client
        #: the client's event loop: the fetch loops, cancellations and timers run there
        self.loop = loop
        self._done = done
        #: chunk futures sent and not yet fetched
        self._sent = distributed.as_completed(loop=loop)
        #: their entries, by future key
        self._chunks: dict[Any, list[Entry]] = {}
        self._more: asyncio.Event | None = None
        self._stopping = False

    def start(self) -> None:
        self._more = None
        for _ in range(FETCHERS):
            self.loop.add_callback(self._fetch_loop)

    def stop(self) -> None:
        self._stopping = True
        self.loop.add_callback(self._wake)

    def track(self, futures: list[distributed.Future[Any]], chunks: list[list[Entry]]) -> None:
        """Fetch the results of these chunk futures (of ``chunks``' entries) when they finish."""
        for future, chunk in zip(futures, chunks, strict=True):
            self._chunks[future.key] = chunk
        self._sent.update(futures)
        self.loop.add_callback(self._wake)

    def cancel(self, futures: list[distributed.Future[Any]]) -> None:
        """Cancel ``futures`` on the event loop, so that Ctrl-C never waits for the scheduler
        to answer."""
        self.loop.add_callback(self._cancel, futures)

    async def _cancel(self, futures: list[distributed.Future[Any]]) -> None:
        with contextlib.suppress(Exception):  # the cluster may be gone: abandoned either way
            await self._client.cancel(futures, asynchronous=True)

    def _wake(self) -> None:
        if self._more is not None:
            self._more.set()

    async def _fetch_loop(self) -> None:
        if self._more is None:
            self._more = asyncio.Event()  # made on the loop, where it is used
        more = self._more
        sent = self._sent
        client = self._client
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
                results = list(await client.gather(finished, asynchronous=True))
            except BaseException:
                results = []
                for future in finished:
                    try:
                        results.append(await client.gather(future, asynchronous=True))
                    except BaseException as exc:
                        results.append(exc)
            for future, result in zip(finished, results, strict=True):
                self._done.put((future, self._chunks.pop(future.key, []), result))
            for future in batch:
                if future.status != "finished":
                    try:
                        result = await client.gather(future, asynchronous=True)
                    except BaseException as exc:  # a Dask-level error, or cancelled
                        result = exc
                    self._done.put((future, self._chunks.pop(future.key, []), result))

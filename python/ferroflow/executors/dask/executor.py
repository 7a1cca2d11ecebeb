"""The Dask executor a run is given, and the clients made for scheduler addresses.

An address (``"tcp://host:8786"``, from ``run(executor=)``, ``$FERROFLOW_EXECUTOR`` or a
profile) gets one client per process, reused by every run: connecting costs a round trip and a
thread, and a client is not made the default Dask client, so that ferroflow does not change what
plain Dask code in the same process uses.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import distributed

from .session import DaskSession

if TYPE_CHECKING:
    from ...engine.execution import Execution

__all__ = ["DaskExecutor", "client_for", "close_clients"]

_clients: dict[str, distributed.Client] = {}
_clients_lock = threading.Lock()


def client_for(address: str) -> distributed.Client:
    """A client connected to the scheduler at ``address``, made once per process and reused."""
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
        """The backend of one run on this cluster."""
        return DaskSession(
            execution, self.client, chunk_size=self.chunk_size, inline_limit=self.inline_limit
        )

    def __repr__(self) -> str:
        address = getattr(self.client.scheduler, "address", "?")
        return f"<DaskExecutor {address} chunk_size={self.chunk_size}>"

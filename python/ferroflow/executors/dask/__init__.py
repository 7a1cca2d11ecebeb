"""Running a run's task functions on a Dask cluster: ``wg.run(executor=client)``.

Only leaf task functions go to Dask; the Rust core, graph-task bodies and the store stay in
this process (``docs/architecture.md``, "Running on Dask", has the flow). Each module owns one
part of the backend:

* :mod:`.executor`: :class:`DaskExecutor` and the clients made for scheduler addresses;
* :mod:`.session`: :class:`DaskSession`, one run's backend, and its submit and collect threads;
* :mod:`.pending`: the tasks pending on Dask, and claiming them (each outcome applied once);
* :mod:`.values`: which values travel inline and which stay on the cluster;
* :mod:`.chunks`: grouping calls into chunks, pickling them, sending them;
* :mod:`.fetch`: fetching results and cancelling futures on the client's event loop;
* :mod:`.attempts`: backoff, deadlines and further attempts of tasks that make their own;
* :mod:`.remote`: what a Dask worker runs (it imports this package: ``ferroflow`` must be
  installed on the workers, as any library whose functions the tasks use).
"""

try:
    import distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "running on Dask needs the 'distributed' package: pip install 'ferroflow[dask]'"
    ) from exc

from .executor import DaskExecutor, client_for, close_clients
from .session import DaskSession

__all__ = ["DaskExecutor", "DaskSession", "client_for", "close_clients"]

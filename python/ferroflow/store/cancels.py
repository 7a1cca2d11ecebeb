"""Cancel requests: how ``ferroflow runs cancel PK`` stops a run another process is running.

A process cannot be sent a cancellation directly (it may be on another host of a shared file
system, or in another container), and a signal would stop the whole process, not one of its
runs. The store is what both sides already share, so the request is a row of the
``cancel_request`` table, written through the store's writer like every other row. The
running process polls the table every ~0.5 s while it has runs in progress
(:mod:`ferroflow.engine.cancel_watch`) and cancels the run the way Ctrl-C does: no task starts
afterwards, running bodies finish, every other task is CANCELLED, finished results are stored.
The row goes when the run ends, with its owner row (:meth:`Store.release_run`), so the table
only ever holds requests not yet served; a request for a run whose process died is harmless (a
restart is a new run with a new pk) and goes with ``ferroflow runs delete``.
"""

from __future__ import annotations

__all__ = ["CLEAR_SQL", "PENDING_SQL", "POLL_SECONDS", "REQUEST_SQL"]

#: Parameters: run pk, time of the request.
REQUEST_SQL = "INSERT OR REPLACE INTO cancel_request(run_pk, time) VALUES (?, ?)"
#: Parameter: run pk.
CLEAR_SQL = "DELETE FROM cancel_request WHERE run_pk = ?"
#: The whole (tiny) table: one read serves every run a process is running.
PENDING_SQL = "SELECT run_pk FROM cancel_request"
#: How often a process running runs reads the table, in seconds.
POLL_SECONDS = 0.5

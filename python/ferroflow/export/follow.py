"""A live page without a server: ``ferroflow view RUN --follow``.

While a stored run goes on, its page is read from the store again every :data:`EVERY` seconds
and the file is replaced whole (:func:`~ferroflow.views.html.write_page` renames a finished
file over it, so a browser never reads half a page). Each page written while the run is still
PLANNED or RUNNING carries a refresh of :data:`RELOAD` seconds, so a browser that opened the
file shows the run's progress without a server, on any machine that sees the file (a shared
disk, a synced folder). When the run ends (or its process is found dead: the store's reaping
marks it KILLED), the page is written once more, without the refresh, and following stops.
Only the store is read; the run's own process is never disturbed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..model.vocabulary import State
from ..store import Store
from ..views.html import write_page
from ..views.page_data import MAX_TASKS, Page
from .view import run_page

if TYPE_CHECKING:
    import os

__all__ = ["EVERY", "RELOAD", "follow_page"]

EVERY = 1.0  #: seconds between rewrites of the page
RELOAD = 2.0  #: seconds between a browser's reloads of a page of a run in progress
_GOING = (State.PLANNED, State.RUNNING)


def follow_page(
    store: Store,
    run_pk: int,
    path: str | os.PathLike[str],
    max_tasks: int = MAX_TASKS,
    every: float = EVERY,
    sleep: Callable[[float], None] = time.sleep,
) -> Page:
    """Rewrite the page of run ``run_pk`` at ``path`` every ``every`` seconds while the run
    goes on, and once more when it has ended; returns the last page's data."""
    while True:
        store.reap_dead_runs()  # a run whose process died is KILLED: it will not end itself
        data = run_page(store, run_pk, max_tasks)
        going = data["state"] in _GOING
        write_page(data, path, reload_every=RELOAD if going else None)
        if not going:
            return data
        sleep(every)

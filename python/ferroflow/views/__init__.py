"""Read-only views of workflows: results, pictures and pages.

Views read the build-time model and the store, never the engine or the API: a workflow in
memory reaches them through ``WorkGraph``'s picture methods, a stored run as its store and pk.

* :mod:`.results` - ``wg.outputs`` and ``wg.tasks`` (:class:`ResultSocket`, :class:`TaskView`)
* :mod:`.html` - the interactive HTML page (``wg.to_html()``, ``ferroflow view``)
* :mod:`.provenance` - AiiDA-style provenance pictures from the store
* :mod:`.counts`, :mod:`.palette` - tasks per state, and every colour
"""

from __future__ import annotations

from .results import ResultSocket, TaskView

__all__ = ["ResultSocket", "TaskView"]

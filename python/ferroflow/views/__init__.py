"""Read-only views of workflows: results, pictures and pages.

Views read the build-time model and the store, never the engine or the API: a workflow in
memory reaches them as a :class:`GraphSnapshot`, a stored run as its store and pk.

* :mod:`.results` - socket namespaces read after a run, ``wg.outputs`` (:class:`ResultSocket`)
* :mod:`.tasks` - ``wg.tasks`` (:class:`TaskView` of :class:`GraphTask`)
* :mod:`.snapshot` - :class:`GraphSnapshot`, what the pictures of a workflow in memory read
* :mod:`.dot` - the workflow picture: DOT text, SVG, Jupyter's HTML
* :mod:`.html` - the interactive HTML page (``wg.to_html()``, ``ferroflow view``), filled as
  :mod:`.page_data` says (its limits, and what survives them), from memory by :mod:`.live_page`;
  its timeline of tasks in lanes is :mod:`.timeline`
* :mod:`.provenance` - AiiDA-style provenance pictures from the store
* :mod:`.grouping`, :mod:`.provenance_plan` - the bound on every picture: repeated tasks
  grouped, failed and output tasks always drawn, stored runs read with grouped SQL
* :mod:`.counts`, :mod:`.palette` - tasks per state, and every colour
"""

from __future__ import annotations

from .results import ResultSocket
from .snapshot import GraphSnapshot
from .tasks import GraphTask, TaskView

__all__ = ["GraphSnapshot", "GraphTask", "ResultSocket", "TaskView"]

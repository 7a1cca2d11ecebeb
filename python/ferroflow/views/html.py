"""Interactive, self-contained HTML pages of a workflow: ``wg.to_html()`` and ``ferroflow view``.

A page is one HTML file that opens offline, from disk or as an e-mail attachment: the page data
(:class:`~.page_data.Page`, filled by :mod:`.live_page` or :mod:`ferroflow.export.view`) is
embedded as JSON and the renderer (``assets/view.js``, ``assets/view.css``: vanilla JavaScript,
no CDN, no framework) is inlined. The renderer lays the graph out itself, left to right in
layers, with nested graph tasks as boxes that collapse and expand; Graphviz is not needed to
write or to open a page. The mouse wheel zooms, dragging pans, clicking a task shows its inputs
and outputs (labels, value summaries, producing tasks), state, times and error in the side
panel, and ``page.html#select=<task path>`` opens the page with that task selected (what the
tests in headless Chromium use; clicking writes the fragment, so a link can be shared).

Above the graph, a page lists the run's failed tasks first, each with its traceback; below it,
the timeline draws every task's start and end in lanes (:mod:`.timeline`). A page written while
its run goes on (``ferroflow view RUN --follow`` rewrites it) carries ``reload_every``: it
reloads itself, keeping the selected task, until a page of the ended run replaces it.
"""

from __future__ import annotations

import json
from html import escape
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ..store.private import replace_privately
from .page_data import (
    EXPAND_LIMIT,
    MAX_PORTS,
    MAX_TASKS,
    SUMMARY_CHARS,
    Page,
    Port,
    TaskEntry,
    ViewBuilder,
    share,
    summarise,
)
from .palette import css_variables

if TYPE_CHECKING:
    import os

__all__ = [
    "EXPAND_LIMIT",
    "MAX_PORTS",
    "MAX_TASKS",
    "SUMMARY_CHARS",
    "Page",
    "Port",
    "TaskEntry",
    "ViewBuilder",
    "page_html",
    "share",
    "summarise",
    "write_page",
]


# -- the page ------------------------------------------------------------------------------------
def _asset(name: str) -> str:
    return (resources.files("ferroflow.views") / "assets" / name).read_text(encoding="utf-8")


def _script_json(data: Page) -> str:
    """JSON safe inside ``<script type="application/json">``: ``<``, ``>`` and ``&`` only occur
    in strings there, and their escapes keep ``</script>`` or ``<!--`` from ending the block."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_html(data: Page, reload_every: float | None = None) -> str:
    """The complete HTML page for ``data``: styles, script and data inline, nothing fetched.

    ``reload_every`` (seconds): the page reloads itself that often, for a page rewritten while
    its run goes on. A ``ferroflow-reload`` meta tag says so and the script reloads: a
    ``refresh`` meta tag did not reload in Chromium once the script had rewritten the URL's
    fragment, while ``location.reload()`` keeps the fragment, so the selected task stays.
    """
    title = escape(f"{data['title']} · ferroflow")
    refresh = ""
    if reload_every is not None:
        refresh = f'<meta name="ferroflow-reload" content="{max(reload_every, 0.5):g}">\n'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ferroflow">
{refresh}<title>{title}</title>
<style>
{css_variables()}{_asset("view.css")}
</style>
</head>
<body>
<header id="ff-header"><h1 id="ff-title"></h1><div id="ff-counts"></div>
<div id="ff-tools"><input id="ff-search" type="search" placeholder="find a task (Enter)"
aria-label="find a task"><button id="ff-fit" type="button">Fit</button><button id="ff-expand"
type="button">Expand all</button><button id="ff-collapse" type="button">Collapse all</button>
</div></header>
<section id="ff-failures" hidden></section>
<main id="ff-main"><div id="ff-canvas"><svg id="ff-svg" xmlns="http://www.w3.org/2000/svg"
role="img" aria-label="workflow graph"></svg></div><aside id="ff-panel"></aside></main>
<section id="ff-timeline" hidden><div id="ff-timeline-head"></div><div id="ff-timeline-body">
<svg id="ff-timeline-svg" xmlns="http://www.w3.org/2000/svg" role="img"
aria-label="timeline of the tasks"></svg></div></section>
<noscript><p class="ff-noscript">This page draws the workflow with JavaScript; enable it to see
the graph.</p></noscript>
<script type="application/json" id="ff-data">{_script_json(data)}</script>
<script>
{_asset("view.js")}
</script>
</body>
</html>
"""


def write_page(data: Page, path: str | os.PathLike[str], reload_every: float | None = None) -> Path:
    """Write the page for ``data`` to ``path`` (UTF-8, 0600: values are in the page); returns
    the path. The file is replaced whole (written beside it, then renamed), so a browser
    reloading it never reads half a page."""
    target = Path(path)
    with replace_privately(target, "w", encoding="utf-8") as out:
        out.write(page_html(data, reload_every))
    return target

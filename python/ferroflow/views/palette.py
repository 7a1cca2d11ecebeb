"""Every colour ferroflow draws with, defined once.

The workflow pictures (DOT, Jupyter, the HTML page) fill tasks by state; the provenance pictures
(DOT, Mermaid) use AiiDA's colours so AiiDA users read them at a glance. Both start from the
same three AiiDA hues, so a finished task and a data node share a green. The HTML page's own
colours are here too: its style sheet names them only as ``var(--ff-…)``, and
:func:`css_variables` defines them, so changing a colour here changes every picture.
"""

from __future__ import annotations

from ..model.vocabulary import State

__all__ = [
    "CALC_FILL",
    "DATA_FILL",
    "LINE",
    "PAGE_COLOURS",
    "STATE_COLOURS",
    "WORK_FILL",
    "css_variables",
    "state_colour",
]

_GREEN = "#8cd499"  # AiiDA's data nodes
_RED = "#de707f"  # AiiDA's calculations
_ORANGE = "#e38851"  # AiiDA's workflows

#: Fill colour of a task in every workflow picture, by state.
STATE_COLOURS: dict[str, str] = {
    State.PLANNED: "#dddddd",
    State.RUNNING: "#f2c46d",
    State.FINISHED: _GREEN,
    State.FAILED: _RED,
    State.SKIPPED: "#bbbbbb",
    State.CANCELLED: "#999999",
    State.KILLED: "#b0517a",
}

#: Provenance pictures: data nodes, task runs (translucent, as AiiDA draws them), graph runs.
DATA_FILL = _GREEN
CALC_FILL = _RED + "77"
WORK_FILL = _ORANGE
#: Provenance links and the border that marks the node a picture is about.
LINE = "black"

#: The HTML page's colours, as CSS custom properties ``--ff-<name>``.
PAGE_COLOURS = {
    "text": "#1d2430",
    "muted": "#5f6b7a",
    "accent": "#2d6cdf",
    "line": "#c9ccd1",
    "rule": "#eceef1",
    "panel": "#f7f8fa",
    "paper": "#fff",
    "canvas": "#fcfcfd",
    "box": "#5b6470",
    "subtext": "#3c4552",
    "edge": "#8a929c",
    "frame": "rgba(255, 255, 255, .55)",
    "swatch-border": "rgba(0, 0, 0, .25)",
    "pill-border": "rgba(0, 0, 0, .2)",
    "error": _RED,
    "error-background": "#fff0f1",
}


def state_colour(state: str) -> str:
    """The fill of a task in ``state``; a state this palette does not know looks planned."""
    return STATE_COLOURS.get(state, STATE_COLOURS[State.PLANNED])


def css_variables() -> str:
    """A ``:root`` rule defining :data:`PAGE_COLOURS` for the page's style sheet."""
    lines = "".join(f"  --ff-{name}: {value};\n" for name, value in PAGE_COLOURS.items())
    return f":root {{\n{lines}}}\n"

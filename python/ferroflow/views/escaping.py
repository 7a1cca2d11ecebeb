"""User text made inert inside the picture languages ferroflow writes: DOT and Mermaid.

Why: task names, labels, type names, errors and value summaries are chosen by users, or read
from a store that may hold an imported (hostile) run. Written raw, a ``"`` in a task name ends
a DOT string and adds attributes or nodes, a newline starts a new Mermaid statement, and a
label that starts with ``<`` and ends with ``>`` is an HTML-like DOT label. Every such text goes
through one of these functions, so it can only ever be the text of one label.
"""

from __future__ import annotations

import re

__all__ = ["dot_text", "mermaid_text"]

#: Line breaks of any kind (Python's ``splitlines`` set), shown as the picture's own break.
_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
#: Other control characters: dropped, they have no glyph and some tools stop at NUL.
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f]")
_MERMAID = {
    "#": "#35;",  # first: the codes below start with it
    '"': "#quot;",
    "&": "#amp;",
    "<": "#lt;",
    ">": "#gt;",
    "|": "#124;",
    "%": "#37;",
    "`": "#96;",
}
_MERMAID_CHARS = re.compile("[" + re.escape("".join(_MERMAID)) + "]")


def dot_text(text: str) -> str:
    """``text`` for the inside of a double-quoted DOT string: backslashes doubled, quotes
    escaped, line breaks as DOT's ``\\n``, control characters dropped. The result never ends in
    an odd number of backslashes, so it cannot end its string early."""
    text = _CONTROLS.sub("", text).replace("\\", "\\\\").replace('"', '\\"')
    return _BREAKS.sub("\\\\n", text)


def mermaid_text(text: str) -> str:
    """``text`` for the inside of a quoted Mermaid label: Mermaid's entity codes for the
    characters that end a label or start markup, line breaks as ``<br/>``."""
    text = _MERMAID_CHARS.sub(lambda m: _MERMAID[m.group()], _CONTROLS.sub("", text))
    return _BREAKS.sub("<br/>", text)

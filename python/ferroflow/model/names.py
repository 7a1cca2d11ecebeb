"""What can name a task or a graph, and what text the store can keep.

A name becomes a part of task paths (``outer/inner/task``), so it is a non-empty ``str``
without ``/``. It also becomes a node's label and a CALL link's label in the store, which keeps
text as UTF-8: a lone surrogate (``"\\udc80"``, which ``os.fsdecode`` makes of undecodable
bytes, or a ``\\ud800`` typed by hand) has no UTF-8 form. Writing such a row fails on the writer
thread, long after the task started, and loses that row while the links to it stay queued. So
the name is refused when the task or graph is made, with an error naming it; namespace keys
follow the same rule (:func:`.labels.key_problem`), as do a call's ``metadata`` label and
description (:mod:`.call_metadata`) and the keys of ``meta(extras=...)``. Values need no
rule: they are stored as ASCII JSON or pickles, which keep any string. Text that only reports
(an error's message and traceback) is not refused but kept with such a character escaped
(:func:`storable_text`): a task that fails must be stored FAILED whatever its exception says.
"""

from __future__ import annotations

__all__ = ["name_problem", "storable", "storable_text"]


def storable(text: str) -> bool:
    """Whether the store can keep ``text``: it has a UTF-8 form (no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable_text(text: str) -> str:
    """``text`` with each lone surrogate written as its escape (``\\udc80``), so the store
    can keep it; ``text`` itself when it has none."""
    if storable(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a task or a graph, to follow "name ...", or ``None``."""
    if not isinstance(name, str) or not name or "/" in name:
        return (
            f"must be a non-empty string without '/' (task paths join names with '/'), got {name!r}"
        )
    if not storable(name):
        return f"{name!r} contains a lone surrogate, which the store cannot keep (it keeps UTF-8)"
    return None

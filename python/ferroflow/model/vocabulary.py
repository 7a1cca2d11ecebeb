"""The words every layer shares, defined once: process states, node kinds and link types, with
the integer codes the store writes (a stored code never changes meaning; new ones are added).

States are plain strings (``"FINISHED"``), as the Rust core reports them and users compare
them; :class:`State` names them so code says ``State.FINISHED`` instead of a literal.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "KIND_CODES",
    "LINK_CODES",
    "STATE_CODES",
    "TERMINAL",
    "Kind",
    "Link",
    "State",
]


class State:
    """The state of a process node (a task run or a graph run)."""

    PLANNED: Final = "PLANNED"
    RUNNING: Final = "RUNNING"
    FINISHED: Final = "FINISHED"
    FAILED: Final = "FAILED"
    SKIPPED: Final = "SKIPPED"
    CANCELLED: Final = "CANCELLED"
    #: the process running it died (see :mod:`ferroflow.store.owners`)
    KILLED: Final = "KILLED"


#: States a task never leaves (the core's ``State::is_terminal``).
TERMINAL: Final = frozenset(
    {State.FINISHED, State.FAILED, State.SKIPPED, State.CANCELLED, State.KILLED}
)


class Kind:
    """What a node is: a value, a task run (calculation) or a graph run (workflow)."""

    DATA: Final = "data"
    CALC: Final = "calc"
    WORK: Final = "work"


class Link:
    """AiiDA's link types between nodes."""

    INPUT_CALC: Final = "INPUT_CALC"
    INPUT_WORK: Final = "INPUT_WORK"
    CREATE: Final = "CREATE"
    RETURN: Final = "RETURN"
    CALL_CALC: Final = "CALL_CALC"
    CALL_WORK: Final = "CALL_WORK"


KIND_CODES: Final[dict[str, int]] = {Kind.DATA: 0, Kind.CALC: 1, Kind.WORK: 2}

STATE_CODES: Final[dict[str, int]] = {
    State.PLANNED: 0,
    State.RUNNING: 1,
    State.FINISHED: 2,
    State.FAILED: 3,
    State.SKIPPED: 4,
    State.CANCELLED: 5,
    State.KILLED: 6,
}

LINK_CODES: Final[dict[str, int]] = {
    Link.INPUT_CALC: 0,
    Link.INPUT_WORK: 1,
    Link.CREATE: 2,
    Link.RETURN: 3,
    Link.CALL_CALC: 4,
    Link.CALL_WORK: 5,
}

"""WorkGraph's ``aiida_workgraph.utils.logging`` spelling: :func:`set_aiida_loglevel`."""

from __future__ import annotations

import logging

__all__ = ["set_aiida_loglevel"]

#: AiiDA's own level between INFO and WARNING, which its scripts name
REPORT = 23
logging.addLevelName(REPORT, "REPORT")


def set_aiida_loglevel(level: int | str) -> None:
    """Set the level of ferroflow's log messages (WorkGraph's scripts call this to quiet
    AiiDA's logger; ferroflow logs under ``ferroflow``)."""
    logging.getLogger("ferroflow").setLevel(level)

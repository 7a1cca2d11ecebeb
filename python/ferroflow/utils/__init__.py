"""WorkGraph's ``aiida_workgraph.utils`` helpers that scripts call: :func:`get_process_summary`
(in :mod:`.summary`) and (in :mod:`.logging`) ``set_aiida_loglevel``."""

from __future__ import annotations

from .summary import get_process_summary

__all__ = ["get_process_summary"]

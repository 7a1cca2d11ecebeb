"""WorkGraph's ``aiida_workgraph.collection`` spelling: ``from ferroflow.collection import
group`` (also ``ferroflow.group``)."""

from __future__ import annotations

from .model.sockets import TaskGroup, group

__all__ = ["TaskGroup", "group"]

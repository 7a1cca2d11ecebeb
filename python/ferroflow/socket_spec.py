"""WorkGraph's ``aiida_workgraph.socket_spec`` spelling: ``from ferroflow import spec`` then
``spec.namespace(...)``, ``spec.dynamic(...)``, ``spec.Leaf``, ``spec.select(...)``."""

from __future__ import annotations

from .model.spec import Leaf, Namespace, dynamic, namespace, select

__all__ = ["Leaf", "Namespace", "dynamic", "namespace", "select"]

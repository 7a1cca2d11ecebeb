"""WorkGraph's ``aiida_workgraph.socket_spec`` spelling: ``from ferroflow import spec`` then
``spec.namespace(...)``, ``spec.dynamic(...)``, ``spec.Leaf``."""

from __future__ import annotations

from .model.spec import Leaf, Namespace, dynamic, namespace

__all__ = ["Leaf", "Namespace", "dynamic", "namespace"]

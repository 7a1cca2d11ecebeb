"""WorkGraph's ``aiida_workgraph.socket_spec`` spelling: ``from ferroflow import spec`` then
``spec.namespace(...)``, ``spec.dynamic(...)``, ``spec.Leaf``, ``spec.meta(...)``,
``spec.select(...)``."""

from __future__ import annotations

from .model.spec import Leaf, Namespace, SocketMeta, dynamic, meta, namespace, select

__all__ = ["Leaf", "Namespace", "SocketMeta", "dynamic", "meta", "namespace", "select"]

"""AiiDA's ``node.base.extras``, read-only, for data nodes in memory and in the store.

WorkGraph scripts read the extras that ``meta(extras={'unit': 'eV'})`` on an output annotation
put on the output's data node: ``node.base.extras.get('unit')``, ``node.base.extras.all``. The
engine sets them when the task finishes (:meth:`ferroflow.model.data.DataNode.set_extras`) and
the store keeps them (:mod:`ferroflow.store.annotations`); both kinds of node answer through
:class:`NodeBase`. Setting extras from a script is not offered: a node's provenance is written
by the run that made it.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["Extras", "NodeBase"]


class Extras:
    """A node's extras: ``get(key, default=None)``, ``all`` (a copy), ``keys()``, ``in``."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def get(self, key: str, default: Any = None) -> Any:
        return copy.deepcopy(self._values.get(key, default))

    @property
    def all(self) -> dict[str, Any]:
        return copy.deepcopy(self._values)

    def keys(self) -> list[str]:
        return list(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __repr__(self) -> str:
        return f"Extras({self._values!r})"


class NodeBase:
    """AiiDA's ``node.base`` namespace; here it holds ``extras``."""

    __slots__ = ("extras",)

    def __init__(self, extras: dict[str, Any]) -> None:
        self.extras = Extras(extras)

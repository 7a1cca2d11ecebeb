"""Read-only views of a graph's or a task's sockets after (or before) a run.

``wg.outputs.squares`` and ``wg.tasks.add.outputs.result`` are :class:`ResultSocket` objects:
iterate one for the items of a dynamic namespace (in insertion order), read ``.value`` on a leaf
for its stored data node (WorkGraph's ``socket.value``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..errors import NotRunError
from ..model.data import DataNode

__all__ = ["ResultSocket"]


class ResultSocket:
    """A socket of a finished (or not yet run) graph or task."""

    __slots__ = ("_get", "_name", "_owner", "_path")

    def __init__(
        self, owner: str, path: tuple[str, ...], get: Callable[[], dict[str, Any] | None]
    ) -> None:
        self._owner = owner
        self._path = path
        self._get = get
        self._name = path[-1] if path else "outputs"

    def _resolve(self) -> Any:
        tree = self._get()
        if tree is None:
            raise NotRunError(
                f"'{self._owner}' has no values: it has not run yet (call wg.run() first), "
                f"or it failed, was skipped or was cancelled"
            )
        node: Any = tree
        for part in self._path:
            if not isinstance(node, dict) or part not in node:
                present = ", ".join(node) if isinstance(node, dict) else "<none>"
                raise AttributeError(
                    f"'{self._owner}' has no output '{'.'.join(self._path)}' (present: "
                    f"{present or '<none>'}); outputs of failed or skipped tasks are missing"
                )
            node = node[part]
        return node

    @property
    def value(self) -> Any:
        """The data node of a leaf socket (a dict of nodes for a namespace)."""
        return self._resolve()

    def __getattr__(self, name: str) -> ResultSocket:
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "value":
            # the property raised AttributeError (a missing output): raise it, do not treat
            # "value" as the name of a sub-socket
            self._resolve()
        return self[name]

    def __getitem__(self, key: str) -> ResultSocket:
        return ResultSocket(self._owner, (*self._path, *key.split(".")), self._get)

    def __iter__(self) -> Iterator[ResultSocket]:
        node = self._resolve()
        if not isinstance(node, dict):
            raise TypeError(f"output '{'.'.join(self._path)}' is a single value, not a namespace")
        return iter([self[k] for k in node])

    def __len__(self) -> int:
        node = self._resolve()
        return len(node) if isinstance(node, dict) else 1

    def __dir__(self) -> list[str]:
        try:
            node = self._resolve()
        except (NotRunError, AttributeError):
            return []
        return list(node) if isinstance(node, dict) else []

    def __repr__(self) -> str:
        try:
            node = self._resolve()
        except (NotRunError, AttributeError):
            return f"<ResultSocket {'.'.join(self._path) or 'outputs'} (no value yet)>"
        if isinstance(node, DataNode):
            return f"<ResultSocket {self._name}: {node!r}>"
        return f"<ResultSocket {'.'.join(self._path) or 'outputs'}: {list(node)}>"

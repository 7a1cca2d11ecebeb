"""Input bindings in a recipe: where each input of a task of an explicitly built graph comes
from, written as data and read back as tagged tuples.

``{"link": [task, [path...]]}``
    an output socket of another task of the graph,
``{"input": "a.b"}``
    a graph-level input (its value is the run's stored input of that name),
``{"node": pk}``
    a constant: the data node of the store that holds it. The recipe records the node itself
    when it is written, at the start of the run, so a constant is stored once (a large array
    is not kept again in the recipe) and is there for a restart even if its task never ran;
``{"value": [codec, text]}``
    a constant written into the recipe itself, serialised as the store serialises values
    (:mod:`.values`; bytes payloads in base64): what recipes of version 1 hold, and what an
    error handler's ``kwargs`` are,
``{"ns": {key: binding}}``
    a namespace of bindings;
``{"ctx": {"key": key, "chain": [binding...]}}``
    (version 3) a read of ``wg.ctx.key``: the entry the script read, then, while that entry
    is the output of a task inside a zone, what the key held before that task wrote it (a
    reader falls back on it when the writer's branch is not taken);
``{"item": [zone, "key" | "value"]}``
    (version 3) the current entry of Map zone ``zone`` (``zone.key`` / ``zone.value``);
``{"refused": why}``
    (version 3) what a recipe cannot carry (a socket of a task of another graph, a read of
    a context that ``wg.ctx = ...`` replaced and that zone tasks write): written so that the
    run still starts, refused by the load, which names the task and the socket with ``why``.
    (A read of a replaced context no zone task writes is its entry, and written as that.)
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from ..errors import FerroflowError
from ..model.context_read import ContextRead, RuntimeContext
from ..model.data import DataNode
from ..model.graph import TaskNode
from ..model.sockets import FutureSocket, GraphInputSocket
from ..model.zones import MAP_ITEM, zone_link
from .values import PICKLE_UNTRUSTED, UNSERIALISABLE, decode, encode

__all__ = ["BindingWriter", "embed", "embedded", "input_paths", "read_binding"]


def input_paths(inputs: Any, prefix: str = "") -> dict[int, str]:
    """``id(data node) -> dotted path`` of a graph's given inputs (one node per input, shared
    by every task that took it: that is how a task's binding is known to be a graph input)."""
    paths: dict[int, str] = {}
    if isinstance(inputs, dict):
        for key, value in inputs.items():
            paths.update(input_paths(value, f"{prefix}{key}."))
    elif isinstance(inputs, DataNode):
        paths[id(inputs)] = prefix[:-1]
    return paths


def embed(value: Any) -> list[str]:
    """``[codec, text]`` of a value written into the recipe itself."""
    encoded = encode(value)
    payload = encoded.payload
    text = payload if isinstance(payload, str) else "b64:" + base64.b64encode(payload).decode()
    return [encoded.codec, text]


def embedded(where: str, body: Any) -> Any:
    """The value of an ``embed``-ed ``[codec, text]``; a value that was not stored (it could
    not be serialised, or came from outside the store) is refused, naming ``where``."""
    if not isinstance(body, list) or len(body) != 2:
        raise FerroflowError(f"{where}: not a recipe value: {body!r}")
    codec, text = body
    if codec in (UNSERIALISABLE, PICKLE_UNTRUSTED):
        raise FerroflowError(
            f"{where}: the constant given there was not stored ({codec}), so the graph "
            f"cannot be rebuilt with it; build the graph again with the value"
        )
    payload: str | bytes = base64.b64decode(text[4:]) if text.startswith("b64:") else str(text)
    return decode(str(codec), payload)


#: what a Map item binding reads of the current entry
ITEM_KEYS = ("key", "value")
#: the longest ``before`` chain a context read is followed along (a guard, not a limit met)
_CHAIN = 10000


class BindingWriter:
    """Writes the bindings of one graph: ``inputs`` are its given inputs
    (:func:`input_paths`); ``record_data`` stores a constant's data node and returns its pk;
    ``tasks`` are the graph's tasks by name and ``runtime`` its context's run-time part (a
    socket of any other task, a read of any other context, is written as refused)."""

    def __init__(
        self,
        inputs: dict[int, str],
        record_data: Callable[[DataNode], int],
        tasks: dict[str, TaskNode] | None = None,
        runtime: RuntimeContext | None = None,
    ) -> None:
        self.inputs = inputs
        self.record_data = record_data
        self.tasks = tasks
        self.runtime = runtime

    def _socket(self, socket: FutureSocket) -> Any:
        task = socket._task
        if getattr(task, "handle", None) is MAP_ITEM:
            link = zone_link(task)
            zone = link.parent if link is not None else None
            if zone is None or not socket._path:
                return {"refused": f"a Map item socket {socket!r} of no Map zone"}
            return {"item": [zone.node.name, str(socket._path[0])]}
        name = getattr(task, "name", None)
        if self.tasks is not None and self.tasks.get(str(name)) is not task:
            return {"refused": f"it uses a socket of task '{name}', which is not of this graph"}
        return {"link": [name, list(socket._path)]}

    def _context(self, read: ContextRead) -> Any:
        if self.runtime is not None and read.runtime is not self.runtime:
            if not read.runtime.zoned:  # no zone writes it: the read is its entry, exactly
                return self.binding(read.entry)
            return {
                "refused": f"it reads context entry '{read.key}' of a context that "
                f"`wg.ctx = ...` replaced (or of another graph), which zone tasks write"
            }
        chain = [self.binding(read.entry)]
        entry, before = read.entry, read.runtime.before
        while isinstance(entry, FutureSocket) and id(entry) in before and len(chain) < _CHAIN:
            entry = before[id(entry)]
            chain.append(self.binding(entry))
        return {"ctx": {"key": read.key, "chain": chain}}

    def binding(self, binding: Any) -> Any:
        if isinstance(binding, FutureSocket):
            return self._socket(binding)
        if type(binding) is ContextRead:
            return self._context(binding)
        if isinstance(binding, GraphInputSocket):
            return {"input": binding.name}
        if isinstance(binding, dict):
            return {"ns": {key: self.binding(value) for key, value in binding.items()}}
        if isinstance(binding, DataNode):
            path = self.inputs.get(id(binding))
            return {"input": path} if path is not None else {"node": self.record_data(binding)}
        return {"value": embed(binding)}


def read_binding(where: str, binding: Any) -> Any:
    """A binding as ``("link", task, path)``, ``("input", path)``, ``("node", pk)``,
    ``("value", value)`` (decoded), ``("ctx", key, [binding...])``, ``("item", zone, key)``,
    ``("refused", why)`` or a dict of those."""
    if not isinstance(binding, dict) or len(binding) != 1:
        raise FerroflowError(f"{where}: not a recipe binding: {binding!r}")
    ((kind, body),) = binding.items()
    if kind == "link" and isinstance(body, list) and len(body) == 2:
        return ("link", str(body[0]), tuple(str(p) for p in body[1]))
    if kind == "input" and isinstance(body, str):
        return ("input", body)
    if kind == "node" and isinstance(body, int) and not isinstance(body, bool):
        return ("node", body)
    if kind == "value":
        return ("value", embedded(where, body))
    if kind == "ctx" and isinstance(body, dict) and isinstance(body.get("key"), str):
        chain = body.get("chain")
        if isinstance(chain, list) and chain:
            return ("ctx", body["key"], [read_binding(f"{where} (ctx)", b) for b in chain])
    if kind == "item" and isinstance(body, list) and len(body) == 2 and body[1] in ITEM_KEYS:
        return ("item", str(body[0]), body[1])
    if kind == "refused" and isinstance(body, str):
        return ("refused", body)
    if kind == "ns" and isinstance(body, dict):
        return {str(k): read_binding(f"{where}.{k}", v) for k, v in body.items()}
    raise FerroflowError(f"{where}: not a recipe binding: {binding!r}")

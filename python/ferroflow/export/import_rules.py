"""The provenance rules an imported file must keep, checked on the file alone before any write.

A file can state any graph; the store and every command reading it assume the graph the engine
writes. So an import checks AiiDA's link rules and ferroflow's own shape of a run:

* **One run per file.** ``"run"`` names a node of the file that is a top-level graph run (a
  ``work`` node whose ``run`` is itself). Every process node of the file belongs to that run;
  a data node belongs to it or to none (``run`` null). So a file cannot slip nodes into
  another run of the store (:mod:`.importer` refuses new nodes for a run the store holds).
* **The run has ended** (``FINISHED``, ``FAILED``, ``CANCELLED``, ``KILLED``): no process of
  this store owns an imported run, so one stated ``PLANNED`` or ``RUNNING`` would show as in
  progress for ever, and ``runs delete`` refuses a run in progress.
* **Each uuid once, each link once.** A repeated record is refused rather than guessed at.
* **Link ends are nodes of the file** (new ones, or identical to the store's: see
  :mod:`.importer`), so no link can dangle or reach into a node the file does not state.
* **Link types between kinds** (AiiDA): ``INPUT_CALC`` data→calc, ``INPUT_WORK`` data→work,
  ``CREATE`` calc→data, ``RETURN`` work→data, ``CALL_CALC`` work→calc, ``CALL_WORK``
  work→work.
* **One creator, one caller.** A data node has at most one ``CREATE`` link in; a process at
  most one ``CALL_*`` link in, and the top-level run none.
* **No cycles** through ``CALL_*``, ``INPUT_CALC`` and ``CREATE`` (a process calling its
  caller, a calculation using what it created): data provenance is a DAG.
* ``cached_from``, when it names a node of the file, names a task run (``calc``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ImportFormatError
from ..model.vocabulary import Kind, Link, State
from ..store.schema import KIND_CODES, LINK_CODES, LINK_NAMES, STATE_CODES, STATE_NAMES
from .import_records import Link as LinkRecord
from .import_records import Node

__all__ = ["ALLOWED", "check_file"]

_DATA, _CALC, _WORK = KIND_CODES[Kind.DATA], KIND_CODES[Kind.CALC], KIND_CODES[Kind.WORK]

#: link type code -> (kind of src, kind of dst)
ALLOWED: dict[int, tuple[int, int]] = {
    LINK_CODES[Link.INPUT_CALC]: (_DATA, _CALC),
    LINK_CODES[Link.INPUT_WORK]: (_DATA, _WORK),
    LINK_CODES[Link.CREATE]: (_CALC, _DATA),
    LINK_CODES[Link.RETURN]: (_WORK, _DATA),
    LINK_CODES[Link.CALL_CALC]: (_WORK, _CALC),
    LINK_CODES[Link.CALL_WORK]: (_WORK, _WORK),
}
_CREATE = LINK_CODES[Link.CREATE]
_CALLS = {LINK_CODES[Link.CALL_CALC], LINK_CODES[Link.CALL_WORK]}
#: the link types whose graph must be acyclic
_ACYCLIC = _CALLS | {_CREATE, LINK_CODES[Link.INPUT_CALC]}
_KIND_NAMES = {code: name for name, code in KIND_CODES.items()}
_IN_PROGRESS = frozenset({STATE_CODES[State.PLANNED], STATE_CODES[State.RUNNING]})


def check_file(run: str, nodes: Sequence[Node], links: Sequence[LinkRecord]) -> None:
    """Refuse (:class:`ImportFormatError`) a file breaking a rule of the module docstring."""
    by_uuid = _unique_nodes(nodes)
    root = by_uuid.get(run)
    if root is None:
        raise ImportFormatError(f"the run {run} is not among the file's nodes")
    if root.kind != _WORK or root.run != run:
        raise ImportFormatError(f"{root.where}: the file's run is not a top-level graph run")
    if root.state in _IN_PROGRESS:
        raise ImportFormatError(
            f"{root.where}: the file's run is {STATE_NAMES[root.state]}: only a run that has "
            "ended can be imported (export it again once it has ended)"
        )
    for node in nodes:
        if node.kind != _DATA and node.run != run:
            raise ImportFormatError(f"{node.where}: a process of another run than the file's")
        if node.kind == _DATA and node.run not in (None, run):
            raise ImportFormatError(f"{node.where}: 'run' is neither null nor the file's run")
        target = by_uuid.get(node.cached_from) if node.cached_from is not None else None
        if target is not None and target.kind != _CALC:
            raise ImportFormatError(f"{node.where}: 'cached_from' is not a task run")
    _check_links(by_uuid, links, run)


def _unique_nodes(nodes: Sequence[Node]) -> dict[str, Node]:
    by_uuid: dict[str, Node] = {}
    for node in nodes:
        seen = by_uuid.get(node.text)
        if seen is not None:
            raise ImportFormatError(f"{node.where}: the uuid appears twice (also {seen.where})")
        by_uuid[node.text] = node
    return by_uuid


def _check_links(by_uuid: dict[str, Node], links: Sequence[LinkRecord], run: str) -> None:
    seen: dict[tuple[str, str, int, str], LinkRecord] = {}
    into: dict[str, LinkRecord] = {}  # the creator or caller link into a node
    edges: dict[str, list[str]] = {}
    for link in links:
        key = (link.src, link.dst, link.type, link.label)
        if key in seen:
            raise ImportFormatError(
                f"{link.where}: the link appears twice (also {seen[key].where})"
            )
        seen[key] = link
        src, dst = by_uuid.get(link.src), by_uuid.get(link.dst)
        if src is None or dst is None:
            end = link.src if src is None else link.dst
            raise ImportFormatError(f"{link.where}: {end} is not a node of this file")
        want = ALLOWED[link.type]
        if (src.kind, dst.kind) != want:
            raise ImportFormatError(
                f"{link.where}: a {LINK_NAMES[link.type]} link goes from {_KIND_NAMES[want[0]]} "
                f"to {_KIND_NAMES[want[1]]}, not from {_KIND_NAMES[src.kind]} to "
                f"{_KIND_NAMES[dst.kind]}"
            )
        if link.type == _CREATE or link.type in _CALLS:
            if link.type in _CALLS and link.dst == run:
                raise ImportFormatError(f"{link.where}: the top-level run has no caller")
            other = into.get(link.dst)
            if other is not None:
                role = "creator" if link.type == _CREATE else "caller"
                raise ImportFormatError(f"{link.where}: a second {role} (also {other.where})")
            into[link.dst] = link
        if link.type in _ACYCLIC:
            edges.setdefault(link.src, []).append(link.dst)
    _check_acyclic(edges, by_uuid)


def _check_acyclic(edges: dict[str, list[str]], by_uuid: dict[str, Node]) -> None:
    """Kahn's algorithm: whatever is left with an incoming edge lies on a cycle."""
    incoming: dict[str, int] = {}
    for targets in edges.values():
        for dst in targets:
            incoming[dst] = incoming.get(dst, 0) + 1
    ready = [uuid for uuid in edges if uuid not in incoming]
    while ready:
        for dst in edges.get(ready.pop(), ()):
            incoming[dst] -= 1
            if incoming[dst] == 0:
                ready.append(dst)
    stuck = sorted((by_uuid[uuid].where for uuid, n in incoming.items() if n > 0))
    if stuck:
        raise ImportFormatError(f"{stuck[0]}: lies on a cycle of CALL, CREATE and INPUT_CALC links")

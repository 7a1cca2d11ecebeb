"""W3C PROV-JSON of a run, written directly (no ``prov`` package needed to export).

The mapping is provenance.md §2's table, so a run reads in PROV the way CWLProv runs do:

====================  ==========================================================================
ferroflow             PROV
====================  ==========================================================================
data node             ``entity`` ``ffn:<uuid>``: ``prov:type ff:Data``, ``prov:label``
                      (``Int (12)``), ``ff:pythonType``, ``ff:codec``, ``ff:pk``; ``ff:value``
                      for small inline JSON values (scalars as themselves, others as JSON text)
task run (calc)       ``activity`` ``ffn:<uuid>``: ``prov:type ff:TaskRun``, start/end times,
                      ``prov:label`` (task name), ``ff:processType``, ``ff:state``, ``ff:error``
graph run (work)      ``activity`` with ``prov:type ff:GraphRun``
task function         ``entity`` ``ffplan:<qualified name>`` with ``prov:type prov:Plan``, the
                      plan of ``wasAssociatedWith(run, ff:ferroflow, plan)``
ferroflow             ``agent`` ``ff:ferroflow``, ``prov:type prov:SoftwareAgent``
INPUT_CALC/INPUT_WORK ``used(run, data)`` with ``prov:role ff:<socket>``
CREATE                ``wasGeneratedBy(data, run)`` with the role and the data's ctime; a
                      datum has at most one creator, so every entity has ≤ 1 generation
RETURN                ``wasInfluencedBy(data, graph run)`` with ``prov:type ff:Return`` and the
                      role, **not** a second ``wasGeneratedBy`` (PROV allows one generation)
CALL_CALC/CALL_WORK   ``wasStartedBy(child, -, parent)``: the caller started the child (no
                      trigger entity), at the child's ctime
====================  ==========================================================================

``wasDerivedFrom(output, input)`` is left out: it is implied by used + wasGeneratedBy and would
multiply the file size by the fan-in. Relations get blank ids (``_:u1``, ``_:g1``, …).

Sections are written one after another, each from its own pk-ordered stream, so memory does not
grow with the run. Render or convert the file with the ``prov`` package
(``ProvDocument.deserialize(path, format="json")``, then ``get_provn()``, ``serialize(format=
"rdf")``, ``prov.dot.prov_to_dot``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from ..model.vocabulary import KIND_CODES, Kind, Link
from ..store import Store
from ..store.graph_sets import SEL_NODE
from ..store.schema import CALL_LINKS, INPUT_LINKS
from ..store.values import JSON
from ..version import __version__
from ..views.provenance import data_class_name
from .jsonstream import Container
from .selection import LinkRow, NodeRow, RunSelection, iso_time, json_scalar

__all__ = ["FF_NS", "NODE_NS", "PLAN_NS", "write_prov_json"]

#: Namespace of ferroflow's PROV vocabulary (types, attributes, roles).
FF_NS = "urn:ferroflow:"
#: Nodes are named by uuid: ``ffn:<uuid>`` is the URN ``urn:uuid:<uuid>``.
NODE_NS = "urn:uuid:"
#: Task and graph functions (plans), by qualified name.
PLAN_NS = "urn:ferroflow:task:"

_PREFIXES = {"ff": FF_NS, "ffn": NODE_NS, "ffplan": PLAN_NS}
_AGENT = "ff:ferroflow"
_INLINE_VALUE = 200  # characters of JSON text kept as ff:value
_PROCESS_TYPES = f"SELECT n.type FROM {SEL_NODE} n WHERE n.kind != {KIND_CODES[Kind.DATA]}"
_SAFE_LOCAL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?<!\.)")


def _qname(text: str) -> dict[str, str]:
    return {"$": text, "type": "prov:QUALIFIED_NAME"}


_AGENT_RECORD = {
    "prov:type": _qname("prov:SoftwareAgent"),
    "prov:label": f"ferroflow {__version__}",
    "ff:version": __version__,
}


def _local(text: str) -> str:
    """``text`` as a PROV local name: characters outside ``[A-Za-z0-9_.-]`` percent-encoded."""
    if _SAFE_LOCAL.fullmatch(text):
        return text
    out = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_-.") else _pct(ch) for ch in text)
    if out.endswith("."):
        out = out[:-1] + "%2E"
    return out


def _pct(ch: str) -> str:
    return "".join(f"%{byte:02X}" for byte in ch.encode("utf-8"))


def _role(label: str) -> dict[str, str] | str:
    """``ff:<socket>`` as a qualified name (socket labels are identifiers); text otherwise."""
    return _qname(f"ff:{label}") if _SAFE_LOCAL.fullmatch(label) else label


def _node_id(node_uuid: str) -> str:
    return f"ffn:{node_uuid}"


def _plan_id(process_type: str) -> str:
    return f"ffplan:{_local(process_type)}"


def _value(sel: RunSelection, node: NodeRow) -> Any:
    """The ``ff:value`` attribute for small inline JSON values, else ``None``."""
    if node.codec != JSON or node.blob_id is not None or node.inline is None:
        return None
    text = node.inline if isinstance(node.inline, str) else bytes(node.inline).decode("ascii")
    if len(text) > _INLINE_VALUE:
        return None
    return json_scalar(text)


def _entity(sel: RunSelection, node: NodeRow) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "prov:type": _qname("ff:Data"),
        "prov:label": f"{data_class_name(node.type)} ({node.pk})",
        "ff:pythonType": node.type,
        "ff:pk": node.pk,
    }
    if node.codec is not None:
        attrs["ff:codec"] = node.codec
    value = _value(sel, node)
    if value is not None:
        attrs["ff:value"] = value
    return attrs


def _activity(node: NodeRow) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "prov:startTime": iso_time(node.ctime),
        "prov:type": _qname("ff:TaskRun" if node.kind == Kind.CALC else "ff:GraphRun"),
        "prov:label": node.label or node.type,
        "ff:processType": node.type,
        "ff:pk": node.pk,
    }
    if node.mtime is not None:
        attrs["prov:endTime"] = iso_time(node.mtime)
    if node.state is not None:
        attrs["ff:state"] = node.state
    if node.error:
        attrs["ff:error"] = node.error
    return attrs


def write_prov_json(store: Store, run_pk: int, fp: TextIO) -> dict[str, int]:
    """Write the run ``run_pk`` as PROV-JSON to ``fp``; returns counts per record type."""

    counts: dict[str, int] = {}
    with RunSelection(store, run_pk) as sel:
        top = Container(fp)
        top.add(_PREFIXES, "prefix")
        for name, records in _sections(sel):
            section = top.open(name)
            counts[name] = 0
            for key, record in records:
                section.add(record, key)
                counts[name] += 1
            section.close()
        top.close()
        fp.write("\n")
    return counts


_Records = Iterable[tuple[str, dict[str, Any]]]


def _sections(sel: RunSelection) -> Iterator[tuple[str, _Records]]:
    """Each section's name and ``(id, record)`` stream, one after another: a stream's query
    starts only once the section before it is written."""
    processes = (Kind.CALC, Kind.WORK)
    yield "entity", _entities(sel)
    yield "activity", ((_node_id(node.uuid), _activity(node)) for node in sel.nodes(processes))
    yield "agent", [(_AGENT, _AGENT_RECORD)]
    yield "used", _blank("u", map(_used, sel.links(INPUT_LINKS, order="dst")))
    yield "wasGeneratedBy", _blank("g", map(_generated, sel.links((Link.CREATE,), order="dst")))
    yield "wasInfluencedBy", _blank("r", map(_returned, sel.links((Link.RETURN,), order="dst")))
    yield "wasStartedBy", _blank("s", map(_started, sel.links(CALL_LINKS, order="dst")))
    yield "wasAssociatedWith", _blank("a", map(_associated, sel.nodes(processes)))


def _entities(sel: RunSelection) -> _Records:
    """The values, then the plans (one per task or graph function)."""
    for node in sel.nodes((Kind.DATA,)):
        yield _node_id(node.uuid), _entity(sel, node)
    for process_type in sorted({row[0] for row in sel.rows(_PROCESS_TYPES)}):
        yield _plan_id(process_type), {"prov:type": _qname("prov:Plan"), "prov:label": process_type}


def _blank(prefix: str, records: Iterable[dict[str, Any]]) -> _Records:
    """Relations under blank ids numbered from 1 (``_:u1``, ``_:u2``, …)."""
    for n, record in enumerate(records, 1):
        yield f"_:{prefix}{n}", record


def _used(link: LinkRow) -> dict[str, Any]:
    return {
        "prov:activity": _node_id(link.dst_uuid),
        "prov:entity": _node_id(link.src_uuid),
        "prov:role": _role(link.label),
    }


def _generated(link: LinkRow) -> dict[str, Any]:
    return {
        "prov:entity": _node_id(link.dst_uuid),
        "prov:activity": _node_id(link.src_uuid),
        "prov:time": iso_time(link.dst_ctime),  # a value is stored as it is made
        "prov:role": _role(link.label),
    }


def _returned(link: LinkRow) -> dict[str, Any]:
    return {
        "prov:influencee": _node_id(link.dst_uuid),
        "prov:influencer": _node_id(link.src_uuid),
        "prov:type": _qname("ff:Return"),
        "prov:role": _role(link.label),
    }


def _started(link: LinkRow) -> dict[str, Any]:
    return {
        "prov:activity": _node_id(link.dst_uuid),
        "prov:starter": _node_id(link.src_uuid),
        "prov:time": iso_time(link.dst_ctime),
    }


def _associated(node: NodeRow) -> dict[str, Any]:
    return {
        "prov:activity": _node_id(node.uuid),
        "prov:agent": _AGENT,
        "prov:plan": _plan_id(node.type),
    }

"""ferroflow's own JSON dump of a run: lossless, and what ``ferroflow import`` reads back.

Layout (one node or link per line)::

    {"format": "ferroflow-run", "version": 1, "ferroflow": "0.1.0",
     "exported": "2026-…+00:00", "run": "<uuid of the graph run>",
     "code": [{"type": "ferroflow.demo.square", "digest": "<hex>"}, …],
     "nodes": [
      {"uuid": "…", "pk": 12, "kind": "data", "type": "int", "label": null, "state": null,
       "error": null, "run": null, "ctime": 1795714986.11456, "mtime": null, "hash": null,
       "cached_from": null, "codec": "json", "blob": false, "value": 3},
      {"uuid": "…", "pk": 13, "kind": "calc", "type": "ferroflow.demo.generate_numbers",
       "label": "generate_numbers", "state": "FINISHED", …, "run": "<run uuid>", "codec": null},
      …],
     "links": [{"src": "<uuid>", "dst": "<uuid>", "type": "INPUT_CALC", "label": "n"}, …]}

Why this shape:

* **Everything the store holds, nothing it derives.** Each node carries every column of its
  row; references between rows (``run``, ``cached_from``, link ends) are **uuids**, because
  pks only mean something inside one file and an import allocates new ones.
* **What caching and restart need travels too.** A task run's ``hash`` (its cache key, hex)
  and ``cached_from`` (the uuid of the task run a cache hit reused, written even when that
  node is not part of this file) are node columns; ``"code"`` holds the run's rows of the
  ``code`` table (the code digest of every task function it ran, hex), from which a restart
  computes the keys of task runs recorded without caching. So an imported run gives cache hits and
  restarts in its new store as it did in the old one.
* **Annotations ride along.** A data node's ``extras`` (``meta(extras=...)``) and a process's
  ``user_label`` / ``description`` (a call's ``metadata=``) are members of its object, present
  only when it has them; so is a task run's captured ``output`` (what it printed and logged,
  ``output_dropped`` the characters dropped from its middle when any were).
* **Additive changes keep the version.** ``"code"`` (and the ``hash``/``cached_from`` members)
  may be missing: files written before they existed still import, as runs without keys or
  code rows. A reader ignores members it does not know, so ``VERSION`` stays 1; it is bumped
  only for a change an old reader would misread.
* **Values as stored, not as Python objects.** ``json`` payloads (and ``unserialisable``
  records) are embedded as JSON under ``"value"`` (``"value_json"``, the stored text, when the
  text holds ``NaN``/``Infinity``, which strict JSON cannot carry); binary payloads (``npy``,
  ``bytes``, ``pickle``, ``pickle-untrusted``) go base64 under ``"value_b64"``. ``"blob"``
  says whether the payload lived in the content-addressed blob table. So an import writes back
  byte-identical payloads, and exporting never unpickles anything.
* **Streamed.** Nodes and links are written as they are read (see :mod:`.selection`).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any, TextIO

from ..store import Store
from ..store.values import JSON, UNSERIALISABLE
from ..version import __version__
from .jsonstream import Container, dumps
from .selection import NodeRow, RunSelection, iso_time

__all__ = ["FORMAT", "VERSION", "node_record", "write_native"]

FORMAT = "ferroflow-run"
VERSION = 1

_STORED_JSON = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=True)


class _NonFinite(Exception):
    pass


def _no_constants(name: str) -> Any:
    raise _NonFinite(name)


def _json_value(text: str) -> tuple[str, Any]:
    """``("value", parsed)`` when re-encoding ``parsed`` gives ``text`` back exactly, else
    ``("value_json", text)``."""
    try:
        parsed = json.loads(text, parse_constant=_no_constants)
    except _NonFinite:
        return "value_json", text
    if _STORED_JSON.encode(parsed) != text:  # defensive: the import must restore the same bytes
        return "value_json", text
    return "value", parsed


def node_record(sel: RunSelection, node: NodeRow, uuids: dict[int, str]) -> dict[str, Any]:
    """The JSON object for one node; ``uuids`` caches pk -> uuid of referenced nodes."""

    def ref(pk: int | None) -> str | None:
        if pk is None:
            return None
        if pk not in uuids:
            uuids[pk] = sel.uuid_of(pk) or ""
        return uuids[pk] or None

    record: dict[str, Any] = {
        "uuid": node.uuid,
        "pk": node.pk,
        "kind": node.kind,
        "type": node.type,
        "label": node.label,
        "state": node.state,
        "error": node.error,
        "run": ref(node.run_pk),
        "ctime": node.ctime,
        "mtime": node.mtime,
        "hash": None if node.hash is None else node.hash.hex(),
        "cached_from": ref(node.cached_from),
        "codec": node.codec,
    }
    if node.codec is None:
        return record
    record["blob"] = node.blob_id is not None
    payload = sel.payload(node)
    if payload is None:
        return record
    if node.codec in (JSON, UNSERIALISABLE):
        text = payload if isinstance(payload, str) else bytes(payload).decode("utf-8")
        key, value = _json_value(text)
        record[key] = value
    else:
        raw = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
        record["value_b64"] = base64.b64encode(raw).decode("ascii")
    return record


def write_native(store: Store, run_pk: int, fp: TextIO) -> dict[str, int]:
    """Write the run ``run_pk`` to ``fp`` in the native format; returns node and link counts."""

    with RunSelection(store, run_pk) as sel:
        uuids = {sel.root.pk: sel.root.uuid}
        top = Container(fp)
        top.add(FORMAT, "format")
        top.add(VERSION, "version")
        top.add(__version__, "ferroflow")
        top.add(iso_time(time.time()), "exported")
        top.add(sel.root.uuid, "run")
        code = top.open("code", array=True)
        for process_type, digest in sel.code():
            code.add({"type": process_type, "digest": digest.hex()})
        code.close()
        nodes = top.open("nodes", array=True)
        n_nodes = 0
        notes = sel.annotations()
        outputs = sel.outputs()  # by pk, as the nodes: merged as they stream
        output = next(outputs, None)
        for node in sel.nodes():
            record = node_record(sel, node, uuids)
            record.update(notes.get(node.pk, ()))
            while output is not None and output[0] < node.pk:
                output = next(outputs, None)
            if output is not None and output[0] == node.pk:
                record["output"] = output[1]
                if output[2]:
                    record["output_dropped"] = output[2]
            nodes.add_raw(dumps(record))
            n_nodes += 1
        nodes.close()
        links = top.open("links", array=True)
        n_links = 0
        for link in sel.links():
            links.add(
                {"src": link.src_uuid, "dst": link.dst_uuid, "type": link.type, "label": link.label}
            )
            n_links += 1
        links.close()
        top.close()
        fp.write("\n")
    return {"nodes": n_nodes, "links": n_links}

"""A run as an AiiDA archive (``ferroflow export RUN -f aiida -o run.aiida``).

``verdi archive import run.aiida`` then shows the run in an AiiDA profile as AiiDA would have
recorded it: the same nodes (same uuids), the same links by type and label, and:

=====================  ===========================================================================
ferroflow              AiiDA node
=====================  ===========================================================================
graph run (work)       ``WorkChainNode`` (WorkGraph stores its runs as one), ``process_type`` the
                       graph's qualified name, ``label`` the run's name
task run (calc)        ``CalcFunctionNode`` (as WorkGraph stores Python tasks), ``process_type``
                       the task function's qualified name, ``label`` the task's name
state                  ``process_state``: FINISHED -> ``finished`` (``exit_status`` 0), FAILED ->
                       ``excepted`` (the error in ``exception``), CANCELLED/KILLED/SKIPPED ->
                       ``killed``, RUNNING -> ``running``, PLANNED -> ``created``; ``sealed`` once
                       terminal
bool/int/float/str     ``Bool``/``Int``/``Float``/``Str`` (``attributes.value``)
dict (str keys)/list   ``Dict`` (the dict is the attributes) / ``List`` (``attributes.list``)
numpy array            ``ArrayData`` with one array ``default`` (``default.npy`` in the repository,
                       the bytes ferroflow stored)
anything else          the **fallback**: a ``Dict`` ``{"ferroflow_type": …, "codec": …, "repr": …}``
                       (tuples, sets, ``None``, bytes, pickles, registered types: a summary, never
                       an unpickled value)
=====================  ===========================================================================

Every node's ``extras`` carry ``_ferroflow`` (its pk, type and state in ferroflow), a value's
own extras (``meta(extras=...)``) and, for a cache hit, AiiDA's ``_aiida_cached_from`` (the
uuid of the task run it reused). A process's ``description`` is its call's ``description``.
Nodes belong to one user, ``ferroflow@localhost``; no computer is needed (functions run
locally, as calcfunctions do).

Streamed like the other exports: rows go into a SQLite file in a temporary directory as
:class:`~.selection.RunSelection` yields them, array files straight into the zip; the zip is
then written under a temporary name and renamed, so no half-written archive is left.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import IO, Any

from ..model.vocabulary import TERMINAL, Kind, State
from ..store import Store
from ..store.private import replace_privately
from ..store.values import JSON, NPY
from ..version import __version__
from .aiida_format import (
    ARRAY,
    DB_NAME,
    EXPORT_VERSION,
    LINK_TYPES,
    META_NAME,
    PROCESS_NODE,
    PROCESS_STATE,
    REPO_PREFIX,
    SCHEMA,
    TYPE_OF,
    aiida_time,
)
from .selection import NodeRow, RunSelection

__all__ = ["USER_EMAIL", "write_aiida"]

#: The one user an exported archive has (AiiDA merges users by email on import).
USER_EMAIL = "ferroflow@localhost"
_COMPRESSION = 6
_LABEL = 255  # VARCHAR(255) columns
_SHAPE = re.compile(rb"'shape':\s*\(([^)]*)\)")
_NODE_SQL = (
    "INSERT INTO db_dbnode(id, uuid, node_type, process_type, label, description, ctime, mtime,"
    " attributes, extras, repository_metadata, dbcomputer_id, user_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 1)"
)


def _dumps(value: Any) -> str:
    """JSON text as aiida stores it: SQLite's JSON functions refuse NaN and Infinity."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def _npy_shape(data: bytes) -> list[int]:
    """The shape from an ``.npy`` header (ferroflow wrote it: no numpy needed to read it)."""
    found = _SHAPE.search(data[:4096])
    if found is None:
        return []
    return [int(part) for part in found.group(1).split(b",") if part.strip()]


class _NotPlain(Exception):
    pass


def _no_constant(name: str) -> Any:
    raise _NotPlain(name)


def _plain_json(text: str) -> Any:
    """The stored JSON value, or ``None`` where aiida cannot hold it as it is: ``null``, NaN or
    Infinity (SQLite's JSON refuses them), tuples, sets and dicts with other keys (tagged)."""
    if '"__ff__"' in text:
        return None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except _NotPlain:
        return None


class _Writer:
    """One archive being written: the SQLite rows and the zip's repository files."""

    def __init__(self, sel: RunSelection, db: sqlite3.Connection, zf: zipfile.ZipFile) -> None:
        self.sel = sel
        self.db = db
        self.zf = zf
        self.repo: set[str] = set()
        self.counts = {"nodes": 0, "links": 0, "arrays": 0, "fallback": 0}

    def _repo_file(self, data: bytes) -> str:
        key = hashlib.sha256(data).hexdigest()
        if key not in self.repo:
            self.zf.writestr(REPO_PREFIX + key, data)
            self.repo.add(key)
        return key

    def data(self, node: NodeRow) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """``(node_type, attributes, repository_metadata)`` of a value (module docstring)."""
        payload = self.sel.payload(node)
        if node.codec == JSON and payload is not None:
            text = payload if isinstance(payload, str) else bytes(payload).decode("ascii")
            value = _plain_json(text)
            if value is not None:
                name = type(value).__name__
                if name in ("bool", "int", "float", "str"):
                    return TYPE_OF[name], {"value": value}, {}
                if name == "list":
                    return TYPE_OF[name], {"list": value}, {}
                if name == "dict":
                    return TYPE_OF[name], value, {}
        if node.codec == NPY and payload is not None:
            data = payload.encode("ascii") if isinstance(payload, str) else bytes(payload)
            key = self._repo_file(data)
            self.counts["arrays"] += 1
            attributes = {"array|default": _npy_shape(data)}
            return ARRAY, attributes, {"o": {"default.npy": {"k": key}}}
        self.counts["fallback"] += 1
        fallback = {
            "ferroflow_type": node.type,
            "codec": node.codec,
            "repr": self.sel.summary(node, 2000),
        }
        return TYPE_OF["dict"], fallback, {}

    def node(self, node: NodeRow, notes: dict[str, Any]) -> None:
        mine: dict[str, Any] = {"pk": node.pk, "type": node.type}
        extras: dict[str, Any] = {}
        description = ""
        if node.kind == Kind.DATA:
            node_type, attributes, repository = self.data(node)
            process_type = None
            extras.update(notes.get("extras", {}))
            label = ""
        else:
            node_type = PROCESS_NODE[node.kind]
            process_type = node.type[:_LABEL]
            state = node.state or State.PLANNED
            mine["state"] = state
            attributes = {
                "process_label": node.type.rsplit(".", 1)[-1],
                "process_state": PROCESS_STATE[state],
                "sealed": state in TERMINAL,
            }
            if state == State.FINISHED:
                attributes["exit_status"] = 0
            elif state == State.FAILED and node.error:
                attributes["exception"] = node.error
            elif PROCESS_STATE[state] == "killed":
                attributes["process_status"] = f"ferroflow: {state.lower()}"
            repository = {}
            label = node.label or ""
            description = notes.get("description") or ""
            if notes.get("user_label"):
                mine["user_label"] = notes["user_label"]
            if node.cached_from is not None:
                source = self.sel.uuid_of(node.cached_from)
                if source is not None:
                    extras["_aiida_cached_from"] = source
        extras["_ferroflow"] = mine
        ctime = aiida_time(node.ctime)
        self.db.execute(
            _NODE_SQL,
            (
                node.pk, node.uuid, node_type, process_type, label[:_LABEL], description, ctime,
                aiida_time(node.mtime) if node.mtime is not None else ctime, _dumps(attributes),
                _dumps(extras), _dumps(repository),
            ),
        )  # fmt: skip
        self.counts["nodes"] += 1


def _metadata(sel: RunSelection) -> dict[str, Any]:
    return {
        "export_version": EXPORT_VERSION,
        "aiida_version": "2.7.0",
        "key_format": "sha256",
        "compression": _COMPRESSION,
        "ctime": aiida_time(time.time()).replace(" ", "T"),
        "creation_parameters": {
            "entities_starting_set": {"node": [sel.root.uuid]},
            "include_authinfos": False,
            "include_comments": False,
            "include_logs": False,
            "written_by": f"ferroflow {__version__}",
        },
    }


def _write(store: Store, run_pk: int, target: IO[bytes], tmp: Path) -> dict[str, int]:
    db_path = tmp / DB_NAME
    with (
        RunSelection(store, run_pk) as sel,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=_COMPRESSION) as zf,
    ):
        zf.writestr(META_NAME, json.dumps(_metadata(sel), indent=1))
        db = sqlite3.connect(db_path, isolation_level=None)
        try:
            db.executescript(SCHEMA)
            db.execute("BEGIN")
            db.execute(
                "INSERT INTO db_dbuser(id, email, first_name, last_name, institution)"
                " VALUES (1, ?, 'ferroflow', '', '')",
                (USER_EMAIL,),
            )
            writer = _Writer(sel, db, zf)
            notes = sel.annotations()
            for node in sel.nodes():
                writer.node(node, notes.get(node.pk, {}))
            for n, link in enumerate(sel.links(), 1):
                db.execute(
                    "INSERT INTO db_dblink(id, input_id, output_id, label, type)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (n, link.src, link.dst, link.label, LINK_TYPES[link.type]),
                )
                writer.counts["links"] += 1
            db.execute("COMMIT")
        finally:
            db.close()
        zf.write(db_path, DB_NAME)
    return writer.counts


def write_aiida(
    store: Store, run_pk: int, out: str | os.PathLike[str] | IO[bytes] | None
) -> dict[str, int]:
    """Write the run ``run_pk`` as an AiiDA archive to ``out`` (a path, a binary file, or
    ``None`` for standard output); returns counts of nodes, links, arrays and fallbacks."""
    with tempfile.TemporaryDirectory(prefix="ferroflow-aiida-") as name:
        tmp = Path(name)
        if isinstance(out, (str, os.PathLike)):
            with replace_privately(out, "wb") as fp:  # 0600, whole or not at all
                return _write(store, run_pk, fp, tmp)
        if out is not None:
            return _write(store, run_pk, out, tmp)
        with open(tmp / "archive.zip", "w+b") as fp:  # a zip needs a seekable file
            counts = _write(store, run_pk, fp, tmp)
            fp.seek(0)
            sys.stdout.flush()
            while chunk := fp.read(1 << 20):
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
        return counts

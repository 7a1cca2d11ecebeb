"""An AiiDA archive's graph as a ferroflow run (``ferroflow import run.aiida``).

The archive (:mod:`.aiida_read` opens it as hostile data) is translated into ferroflow's own
export format (:mod:`.native`) in a temporary file, which :mod:`.importer` then imports: so
an AiiDA archive passes every check a ferroflow export does (each field, AiiDA's link rules,
one run per file, only additions to the store, all or nothing), keeps its uuids, and importing
it twice adds nothing.

==========================================  ====================================================
AiiDA                                       ferroflow
==========================================  ====================================================
``process.workflow.*`` (WorkChain, Work-    graph run (``work``); ``type`` the ``process_type``
Graph, workfunction)
``process.calculation.*`` (calcfunction,    task run (``calc``)
CalcJob)
``process_state`` / ``exit_status``         ``finished`` 0 -> FINISHED; ``finished`` other,
                                            ``excepted`` -> FAILED (the exception or exit
                                            message as the error); ``killed`` -> KILLED;
                                            ``created`` -> PLANNED; ``running``/``waiting`` ->
                                            RUNNING (a ferroflow export's own ``_ferroflow``
                                            state wins, so SKIPPED and CANCELLED come back)
``Int``/``Float``/``Str``/``Bool``          ``int``/``float``/``str``/``bool`` values
``Dict``/``List``                           ``dict``/``list``
``ArrayData`` with one array                ``numpy.ndarray`` (the ``.npy`` file, read only
                                            with ``allow_pickle=False``)
any other data node                         type ``aiida.<node type>`` (e.g.
                                            ``aiida.data.core.structure.StructureData``), value
                                            the dict ``{"node_type": …, "attributes": …}``
links                                       the same links, types upper case, same labels
==========================================  ====================================================

A ferroflow run has one top-level graph run. An archive whose processes all hang below one
workflow gives that run; otherwise (a lone calcfunction, several top-level processes) the
import adds a graph run ``ferroflow.aiida_archive`` calling each top-level process, with a
uuid derived from theirs (importing the same archive again finds it). A data node's extras
come along (AiiDA's own ``_aiida_*`` ones left out); process extras and other attributes, and
AiiDA's hashes, do not: cache keys are ferroflow's own.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import uuid as _uuid
from pathlib import Path
from typing import Any

from ..errors import ImportFormatError
from ..model.vocabulary import Kind, State
from ..store import Store
from ..store.values import JSON, encode
from .aiida_format import ARRAY, LINK_TYPES, TYPE_OF, epoch
from .aiida_read import Archive, is_zip
from .importer import ImportResult
from .importer import import_run as import_native
from .native import FORMAT, VERSION

__all__ = ["ROOT_TYPE", "import_aiida", "is_zip"]

#: ``type`` of the graph run an import adds when the archive has no single top-level workflow
ROOT_TYPE = "ferroflow.aiida_archive"
_ROOT_NAMESPACE = _uuid.UUID("6f0e2a4c-0d54-5a2e-9c1e-2f6b1a7d3e10")
_LINK_NAMES = {value: name for name, value in LINK_TYPES.items()}
_VALUE_TYPES = {node_type: name for name, node_type in TYPE_OF.items()}
_CALLS = ("CALL_CALC", "CALL_WORK")
_STATES = {"created": State.PLANNED, "running": State.RUNNING, "waiting": State.RUNNING}


def _json(text: Any, where: str, default: Any) -> Any:
    """A JSON column (text; NULL is ``default``)."""
    if text is None:
        return default
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        return text  # SQLite stored a number: it is its own JSON
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ImportFormatError(f"{where}: not JSON: {exc}") from None


def _kind(node_type: Any, where: str) -> str:
    if isinstance(node_type, str):
        if node_type.startswith("data."):
            return Kind.DATA
        if node_type.startswith("process.calculation."):
            return Kind.CALC
        if node_type.startswith("process.workflow."):
            return Kind.WORK
    raise ImportFormatError(
        f"{where}: node_type {node_type!r} is not data, calculation or workflow"
    )


def _time(text: Any, where: str) -> float:
    try:
        return epoch(str(text))
    except (ValueError, OverflowError, OSError) as exc:
        raise ImportFormatError(f"{where}: {text!r} is not a time: {exc}") from None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _state(attributes: dict[str, Any], extras: dict[str, Any]) -> tuple[str, str | None]:
    """``(state, error)`` of a process node (module docstring)."""
    mine = extras.get("_ferroflow")
    own = mine.get("state") if isinstance(mine, dict) else None
    process_state = attributes.get("process_state")
    error: str | None = None
    if process_state == "finished":
        status = attributes.get("exit_status")
        state = State.FINISHED if status in (0, None) else State.FAILED
        if state == State.FAILED:
            message = attributes.get("exit_message")
            error = f"exit status {status}" + (f": {_text(message)}" if message else "")
    elif process_state == "excepted":
        exception = attributes.get("exception")
        state, error = State.FAILED, None if exception is None else _text(exception)
    elif process_state == "killed":
        state, error = State.KILLED, _text(attributes.get("process_status") or "killed")
    else:
        state = _STATES.get(process_state, State.PLANNED)  # type: ignore[arg-type]
    if own in (State.SKIPPED, State.CANCELLED, State.KILLED) and state == State.KILLED:
        state = own  # a ferroflow export: the state AiiDA could not say
    return state, error


def _scalar(name: str, value: Any) -> bool:
    """Whether ``value`` (an attribute's JSON) is a value of the Python type ``name``."""
    if name == "bool" or isinstance(value, bool):
        return name == "bool" and isinstance(value, bool)
    if name == "float":
        return isinstance(value, (int, float))
    return isinstance(value, int if name == "int" else str)


class _Translator:
    """Turns the archive's rows into native export records."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.uuids: dict[int, str] = {}
        self.kinds: dict[int, str] = {}

    def value(self, row: tuple[Any, ...], attributes: Any, where: str) -> dict[str, Any]:
        """``type``, ``codec`` and the value members of a data node's record."""
        node_type, repository = row[2], row[10]
        name = _VALUE_TYPES.get(node_type)
        value: Any = attributes
        if name in ("bool", "int", "float", "str") and isinstance(attributes, dict):
            value = attributes.get("value")
            if not _scalar(name, value):
                name = None
            elif name == "float":
                value = float(value)
        elif name == "list" and isinstance(attributes, dict):
            value = attributes.get("list")
            name = name if isinstance(value, list) else None
        elif name == "dict":
            name = name if isinstance(attributes, dict) else None
        if node_type == ARRAY and isinstance(attributes, dict):
            record = self.array(attributes, _json(repository, where, {}), where)
            if record is not None:
                return record
        if name is None:
            name = "aiida." + str(node_type).rstrip(".")
            value = {"node_type": node_type, "attributes": attributes}
        encoded = encode(value)
        if encoded.codec != JSON:  # text JSON cannot keep (surrogate pairs): keep its repr
            encoded = encode({"node_type": node_type, "repr": repr(value)})
        payload = encoded.payload
        text = payload if isinstance(payload, str) else payload.decode("ascii")
        return {"type": name, "codec": JSON, "value_json": text, "blob": encoded.blob}

    def array(
        self, attributes: dict[str, Any], repository: Any, where: str
    ) -> dict[str, Any] | None:
        names = [key[len("array|") :] for key in attributes if key.startswith("array|")]
        if len(names) != 1 or not isinstance(repository, dict):
            return None
        files = repository.get("o")
        entry = files.get(f"{names[0]}.npy") if isinstance(files, dict) else None
        if not isinstance(entry, dict):
            return None
        data = self.archive.repo_file(entry.get("k"), where)
        return {
            "type": "numpy.ndarray",
            "codec": "npy",
            "value_b64": base64.b64encode(data).decode("ascii"),
            "blob": True,
        }

    def node(self, row: tuple[Any, ...], run: str, created: set[int]) -> dict[str, Any]:
        pk, uuid_text, node_type, process_type, label, description = row[:6]
        where = f"db_dbnode id {pk} (uuid {uuid_text})"
        kind = self.kinds[pk]
        attributes = _json(row[8], f"{where}: attributes", {})
        extras = _json(row[9], f"{where}: extras", {})
        if not isinstance(extras, dict):
            raise ImportFormatError(f"{where}: extras is not a JSON object")
        record: dict[str, Any] = {
            "uuid": uuid_text,
            "kind": kind,
            "label": label or None,
            "ctime": _time(row[6], f"{where}: ctime"),
            "mtime": _time(row[7], f"{where}: mtime"),
        }
        if kind == Kind.DATA:
            record.update(self.value(row, attributes, where))
            record["run"] = run if pk in created else None
            mine = {k: v for k, v in extras.items() if not str(k).startswith(("_aiida_", "_ff"))}
            if mine:
                record["extras"] = mine
            return record
        if not isinstance(attributes, dict):
            raise ImportFormatError(f"{where}: attributes is not a JSON object")
        record["type"] = process_type or "aiida." + str(node_type).rstrip(".")
        record["state"], record["error"] = _state(attributes, extras)
        record["label"] = label or attributes.get("process_label") or None
        record["run"] = run
        if description:
            record["description"] = description
        return record


def _roots(processes: list[int], links: list[tuple[int, int, str, str]]) -> list[int]:
    called = {dst for _, dst, type_, _ in links if type_ in _CALLS}
    return [pk for pk in processes if pk not in called]


def _write_document(archive: Archive, fp: Any, name: str) -> None:
    translator = _Translator(archive)
    nodes = archive.rows("db_dbnode")
    for row in nodes:
        where = f"db_dbnode id {row[0]!r}"
        if isinstance(row[0], bool) or not isinstance(row[0], int):
            raise ImportFormatError(f"{where}: the id is not an integer")
        if not isinstance(row[1], str):
            raise ImportFormatError(f"{where}: the uuid is not text")
        translator.uuids[row[0]] = row[1]
        translator.kinds[row[0]] = _kind(row[2], where)
    links: list[tuple[int, int, str, str]] = []
    for src, dst, label, type_ in archive.rows("db_dblink"):
        if src not in translator.uuids or dst not in translator.uuids:
            raise ImportFormatError(f"db_dblink {src!r} -> {dst!r}: a link to a missing node")
        if type_ not in _LINK_NAMES:
            raise ImportFormatError(f"db_dblink {src} -> {dst}: unknown link type {type_!r}")
        if not isinstance(label, str):
            raise ImportFormatError(f"db_dblink {src} -> {dst}: the label is not text")
        links.append((src, dst, _LINK_NAMES[type_], label))
    processes = [pk for pk, kind in translator.kinds.items() if kind != Kind.DATA]
    roots = _roots(processes, links)
    extra_root: dict[str, Any] | None = None
    if len(roots) == 1 and translator.kinds[roots[0]] == Kind.WORK:
        run = str(translator.uuids[roots[0]])
    else:
        tops_or_all = sorted(str(translator.uuids[pk]) for pk in roots or translator.uuids)
        run = str(_uuid.uuid5(_ROOT_NAMESPACE, ",".join(tops_or_all)))
        extra_root = {"uuid": run, "kind": Kind.WORK, "type": ROOT_TYPE, "label": name}
    created = {dst for _, dst, type_, _ in links if type_ == "CREATE"}
    fp.write(json.dumps({"format": FORMAT, "version": VERSION, "run": run})[:-1])
    fp.write(', "nodes": [\n')
    tops: list[dict[str, Any]] = []
    times: list[float] = []
    top_pks = set(roots)
    for n, row in enumerate(nodes):
        try:
            record = translator.node(row, run, created)
            text = json.dumps(record)
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            if isinstance(exc, ImportFormatError):
                raise
            # a column or attribute of a type or size the archive format never holds (a BLOB
            # label, a 400-digit Float): named, not a traceback from deep in the translation
            raise ImportFormatError(
                f"db_dbnode id {row[0]!r}: a field ferroflow cannot read "
                f"({type(exc).__name__}: {str(exc)[:200]})"
            ) from exc
        fp.write(("" if n == 0 else ",\n") + text)
        times += [record["ctime"], record["mtime"]]
        if row[0] in top_pks:
            tops.append(record)
    out = [
        {"src": translator.uuids[s], "dst": translator.uuids[d], "type": t, "label": label}
        for s, d, t, label in links
    ]
    if extra_root is not None:
        finished = all(top["state"] == State.FINISHED for top in tops)
        extra_root["state"] = State.FINISHED if finished else State.FAILED
        if not finished:
            extra_root["error"] = "a process of the archive did not finish"
        extra_root["ctime"] = min(times, default=0.0)
        extra_root["mtime"] = max(times, default=0.0)
        extra_root["run"] = run
        for n, top in enumerate(tops):
            kind = "CALL_WORK" if top["kind"] == Kind.WORK else "CALL_CALC"
            label = top["label"] or f"process_{n}"
            out.append({"src": run, "dst": top["uuid"], "type": kind, "label": label})
        fp.write(("" if not nodes else ",\n") + json.dumps(extra_root))
    fp.write('],\n"links": ' + json.dumps(out) + "}\n")


def import_aiida(store: Store, path: str | os.PathLike[str], trust: bool = False) -> ImportResult:
    """Import the AiiDA archive at ``path`` into ``store`` (see the module docstring).

    ``trust`` is passed on to :func:`ferroflow.export.importer.import_run` (an archive holds no
    pickles or cache keys, so it changes nothing today). Raises :class:`ImportFormatError` for
    a file that is not a readable archive or whose graph ferroflow refuses.
    """
    name = Path(path).name
    with Archive(Path(path)) as archive, tempfile.TemporaryFile("w+", encoding="utf-8") as fp:
        _write_document(archive, fp, name)
        fp.seek(0)
        return import_native(store, fp, trust=trust)

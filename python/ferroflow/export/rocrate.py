"""Workflow Run RO-Crate of a run: the Provenance Run Crate 0.5 profile on RO-Crate 1.1.

Why these versions: the WRROC 0.5 profiles are written against the RO-Crate **1.1** context;
validated as 1.3 (ro-crate-py's default) a crate fails on renamed IRIs (provenance.md §3), so
this writer emits 1.1 itself, with no third-party package.

Layout of the crate (a directory, or a ``.zip`` of it)::

    ro-crate-metadata.json       the JSON-LD metadata, streamed entity by entity
    workflow/<module>.py         the main workflow's source (the module defining the top-level
                                 graph function), or a short placeholder saying it was not found
    values/<uuid>.<ext>          values that are not small JSON: .npy arrays, .bin bytes,
                                 .pkl pickles (never unpickled here), large .json

How ferroflow maps onto the profile (provenance.md §3, every MUST and most SHOULDs):

* root ``Dataset`` ``./``: ``conformsTo`` the Process/Workflow/Provenance Run Crate 0.5 and
  Workflow RO-Crate 1.0 profiles (each a ``CreativeWork`` entity), ``name``, ``description``,
  ``datePublished``, ``license``, ``mainEntity`` (the workflow), ``hasPart``, ``mentions``.
* **mainEntity**: typed ``File, SoftwareSourceCode, ComputationalWorkflow, HowTo`` (HowTo
  because it has steps), ``programmingLanguage`` Python (a ``ComputerLanguage``), ``input`` and
  ``output`` ``FormalParameter``s, the tools it ran in ``hasPart`` and its ``HowToStep``s in
  ``step``.
* **tools**: one entity per task function (``SoftwareApplication``) or nested graph function
  (``SoftwareSourceCode, ComputationalWorkflow, HowTo``, with its own parameters, tools and
  steps: subworkflows follow the same rules). ``FormalParameter``s are the *top-level* sockets:
  members of a namespace (``data__number_1``) are values of one parameter (``data``), so a
  scatter over a million items has one parameter, not a million.
* **steps**: one ``HowToStep`` per (graph function, tool) pair with a ``position`` and
  ``workExample`` pointing at the tool. A dynamic graph calls ``square``, ``square1``, … at run
  time; they are executions of one step, as CWL's scatter jobs are, and their own labels are
  the names of their actions.
* **actions**: one ``CreateAction`` per task run and graph run (the top-level one has the main
  workflow as ``instrument``; others their tool) with ``object`` (inputs), ``result``
  (outputs: created, or returned by a graph), ``startTime``/``endTime`` and ``actionStatus``
  (``error`` when failed); one ``ControlAction`` per called process (``instrument`` the step,
  ``object`` the process's CreateAction); one ``OrganizeAction`` for the engine's run
  (``instrument`` ferroflow as a ``SoftwareApplication``, ``object`` the ControlActions,
  ``result`` the workflow's CreateAction).
* **values**: a ``PropertyValue`` (``value`` inline: scalars as themselves, containers as JSON
  text) or a ``File`` under ``values/``; each lists the parameters it realises in
  ``exampleOfWork``.

Streaming: every per-node entity is written as its rows are read (pk-ordered streams walked
together, see :mod:`.selection`); only per-*type* facts (tools, parameters, steps) are held in
memory.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from ..store import Store
from ..store.values import BYTES, JSON, NPY, PICKLE, PICKLE_UNTRUSTED, UNSERIALISABLE, decode
from ..version import __version__
from .jsonstream import Container
from .selection import Joined, NodeRow, RunSelection, json_scalar
from .selection import uuid_text as _uuid

__all__ = ["CONTEXT", "PROFILES", "write_ro_crate"]

CONTEXT = "https://w3id.org/ro/crate/1.1/context"
RO_CRATE = "https://w3id.org/ro/crate/1.1"
#: The profiles the crate conforms to, with the names of their CreativeWork entities.
PROFILES = {
    "https://w3id.org/ro/wfrun/process/0.5": "Process Run Crate",
    "https://w3id.org/ro/wfrun/workflow/0.5": "Workflow Run Crate",
    "https://w3id.org/ro/wfrun/provenance/0.5": "Provenance Run Crate",
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": "Workflow RO-Crate",
}
WORKFLOW_RO_CRATE = "https://w3id.org/workflowhub/workflow-ro-crate/1.0"
FORMAL_PARAMETER = "https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE"
COMPUTATIONAL_WORKFLOW = "https://bioschemas.org/profiles/ComputationalWorkflow/1.0-RELEASE"
_STATUS = {
    "FINISHED": "http://schema.org/CompletedActionStatus",
    "FAILED": "http://schema.org/FailedActionStatus",
    "CANCELLED": "http://schema.org/FailedActionStatus",
    "KILLED": "http://schema.org/FailedActionStatus",
    "RUNNING": "http://schema.org/ActiveActionStatus",
    "PLANNED": "http://schema.org/PotentialActionStatus",
}
_FILE_EXT = {NPY: ".npy", BYTES: ".bin", PICKLE: ".pkl", PICKLE_UNTRUSTED: ".pkl", JSON: ".json"}
_MEDIA = {JSON: "application/json", "py": "text/x-python"}
_SCALARS = {"int": "Integer", "float": "Float", "bool": "Boolean", "str": "Text"}
_MAX_VALUE_TEXT = 1000
_INPUT, _OUTPUT = "in", "out"


def _ref(entity_id: str) -> dict[str, str]:
    return {"@id": entity_id}


def _one(items: list[Any]) -> Any:
    """RO-Crate 1.1 prefers a single value to a one-element list."""
    return items[0] if len(items) == 1 else items


def _time(ts: float | None) -> str | None:
    """The profile's time pattern: milliseconds and a ``+00:00`` offset."""
    if ts is None:
        return None
    moment = _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds")


def _param_name(label: str) -> str:
    """The top-level socket of a link label: ``data__number_1`` -> ``data``."""
    return label.split("__", 1)[0]


def _short(process_type: str) -> str:
    return process_type.rsplit(".", 1)[-1]


def _iri(text: str) -> str:
    """``text`` safe inside an IRI fragment (a nested function's ``<locals>``, say)."""
    return quote(text, safe="._-~")


def _tool_id(process_type: str) -> str:
    return f"#tool/{_iri(process_type)}"


def _param_id(process_type: str, direction: str, name: str) -> str:
    return f"#param/{_iri(process_type)}/{direction}/{_iri(name)}"


def _step_id(workflow_type: str, tool_type: str) -> str:
    return f"#step/{_iri(workflow_type)}/{_iri(tool_type)}"


def _node_id(uuid: str) -> str:
    return f"#{uuid}"


def _is_file(codec: str | None, blob_id: int | None) -> bool:
    """Values written as files: binary codecs and JSON too large to sit in the node row."""
    return codec in (NPY, BYTES, PICKLE, PICKLE_UNTRUSTED) or (
        codec == JSON and blob_id is not None
    )


def _value_ref(uuid: str, codec: str | None, blob_id: int | None) -> dict[str, str]:
    """The id of a value's entity: its file, or its PropertyValue."""
    if _is_file(codec, blob_id):
        return _ref(f"values/{uuid}{_FILE_EXT.get(codec or '', '.bin')}")
    return _ref(_node_id(uuid))


def _additional_type(data_type: str, codec: str | None, blob_id: int | None) -> str:
    if _is_file(codec, blob_id):
        return "File"
    return _SCALARS.get(data_type, "DataType")


@dataclass
class _Tool:
    """What the run shows about one task or graph function."""

    type: str
    kind: str
    params: dict[tuple[str, str], str] = field(default_factory=dict)  # (dir, name) -> type
    steps: dict[str, int] = field(default_factory=dict)  # tool type -> position


# -- the workflow's source --------------------------------------------------------------------
def _module_source(process_type: str) -> tuple[str, str] | None:
    """``(file name, source text)`` of the module defining ``process_type``, found without
    importing or running anything: an already imported module that defines the name, else a
    ``.py`` file on ``sys.path`` that textually defines it."""
    module_name, _, qualname = process_type.rpartition(".")
    parts = module_name.split(".")
    if not module_name or not all(part.isidentifier() for part in parts):
        return None  # also keeps a crafted type name (from an imported file) off odd paths
    head = qualname.split(".", 1)[0]
    module = sys.modules.get(module_name)
    path: str | None = None
    if module is not None and hasattr(module, head):
        path = getattr(module, "__file__", None)
    if path is None and module_name != "__main__":
        for entry in sys.path:
            base = Path(entry or ".").joinpath(*parts)
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    path = str(candidate)
                    break
            if path is not None:
                break
    if path is None or not path.endswith(".py"):
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not re.search(rf"^\s*(async\s+)?def\s+{re.escape(head)}\b", text, re.MULTILINE):
        return None  # some other file of that name: better no source than the wrong one
    return Path(path).name, text


def _write_workflow_file(root: Path, process_type: str) -> str:
    found = _module_source(process_type)
    if found is None:
        name = f"{_short(process_type)}.py"
        text = (
            f'"""Placeholder: the source of the ferroflow graph function `{process_type}` was\n'
            "not available when this crate was exported (its module was neither imported nor\n"
            'found on sys.path), so the workflow file holds only this note."""\n'
        )
    else:
        name, text = found
    (root / "workflow").mkdir()
    (root / "workflow" / name).write_text(text, encoding="utf-8")
    return f"workflow/{quote(name)}"  # the @id is a URI path; the file keeps its name


# -- per-type facts ----------------------------------------------------------------------------
def _tools(sel: RunSelection) -> dict[str, _Tool]:
    tools: dict[str, _Tool] = {}
    kinds = "SELECT n.type, n.kind FROM ff_sel s CROSS JOIN node n ON n.pk = s.pk"
    for process_type, kind in sel.rows(kinds + " WHERE n.kind != 0"):  # few types, many rows
        tool = tools.get(process_type)
        if tool is None:
            tool = tools[process_type] = _Tool(process_type, "calc")
        if kind == 2:
            tool.kind = "work"
    params = (
        "SELECT p.type, 'in', l.label, d.type, d.codec, d.blob_id FROM ff_sel a"
        " CROSS JOIN node p ON p.pk = a.pk AND p.kind != 0"
        " CROSS JOIN link l ON l.dst = p.pk AND l.type IN (0, 1) CROSS JOIN node d ON d.pk = l.src"
        " UNION ALL"
        " SELECT p.type, 'out', l.label, d.type, d.codec, d.blob_id FROM ff_sel a"
        " CROSS JOIN node p ON p.pk = a.pk AND p.kind != 0"
        " CROSS JOIN link l ON l.src = p.pk AND l.type IN (2, 3) CROSS JOIN node d ON d.pk = l.dst"
    )
    for process_type, direction, label, data_type, codec, blob_id in sel.rows(params):
        key = (direction, _param_name(label))
        tools[process_type].params.setdefault(key, _additional_type(data_type, codec, blob_id))
    steps = (
        "SELECT p.type, c.type FROM ff_sel a CROSS JOIN node p ON p.pk = a.pk"
        " CROSS JOIN link l ON l.src = p.pk AND l.type IN (4, 5) CROSS JOIN node c ON c.pk = l.dst"
        " ORDER BY a.pk"
    )
    for parent, child in sel.rows(steps):  # positions in order of first call
        tool = tools[parent]
        if child not in tool.steps:
            tool.steps[child] = len(tool.steps)
    return tools


def _tool_entities(
    tools: dict[str, _Tool], main_type: str, main_id: str
) -> Iterator[dict[str, Any]]:
    for tool in tools.values():
        entity_id = main_id if tool.type == main_type else _tool_id(tool.type)
        inputs = [_ref(_param_id(tool.type, d, n)) for d, n in tool.params if d == _INPUT]
        outputs = [_ref(_param_id(tool.type, d, n)) for d, n in tool.params if d == _OUTPUT]
        entity: dict[str, Any] = {"@id": entity_id, "name": _short(tool.type)}
        if tool.kind == "work":
            types = ["SoftwareSourceCode", "ComputationalWorkflow", "HowTo"]
            if entity_id == main_id:
                types.insert(0, "File")
                entity["encodingFormat"] = _MEDIA["py"]
            entity["@type"] = types
            entity["description"] = f"ferroflow graph function {tool.type}"
            entity["conformsTo"] = _ref(COMPUTATIONAL_WORKFLOW)
            entity["programmingLanguage"] = _ref("#python")
            entity["hasPart"] = _one(
                [_ref(main_id if t == main_type else _tool_id(t)) for t in tool.steps]
            )
            entity["step"] = _one([_ref(_step_id(tool.type, t)) for t in tool.steps])
        else:
            entity["@type"] = "SoftwareApplication"
            entity["description"] = f"ferroflow task function {tool.type}"
        entity["alternateName"] = tool.type
        if inputs:
            entity["input"] = _one(inputs)
        if outputs:
            entity["output"] = _one(outputs)
        yield entity
        for (direction, name), additional in tool.params.items():
            yield {
                "@id": _param_id(tool.type, direction, name),
                "@type": "FormalParameter",
                "conformsTo": _ref(FORMAL_PARAMETER),
                "name": name,
                "additionalType": additional,
                "description": f"{'input' if direction == _INPUT else 'output'} socket "
                f"'{name}' of {tool.type}",
            }
        for child, position in tool.steps.items():
            yield {
                "@id": _step_id(tool.type, child),
                "@type": "HowToStep",
                "name": _short(child),
                "position": str(position),
                "workExample": _ref(main_id if child == main_type else _tool_id(child)),
            }


# -- per-node entities -------------------------------------------------------------------------
def _value_entity(
    sel: RunSelection, node: NodeRow, links: list[tuple[str, str, str]], root: Path
) -> dict[str, Any]:
    """A data node's entity; ``links`` are ``(process type, direction, label)``, outputs
    first (the name comes from the first)."""
    params: dict[str, None] = {}  # ordered and deduplicated
    name = None
    for process_type, direction, label in links:
        name = name or label
        params[_param_id(process_type, direction, _param_name(label))] = None
    examples = [_ref(param) for param in params]
    entity: dict[str, Any] = {"name": name or f"value {node.pk}"}
    if _is_file(node.codec, node.blob_id):
        payload = sel.payload(node)
        data = payload.encode("ascii") if isinstance(payload, str) else bytes(payload or b"")
        file_id = _value_ref(node.uuid, node.codec, node.blob_id)["@id"]
        (root / file_id).write_bytes(data)
        entity = {
            "@id": file_id,
            "@type": "File",
            **entity,
            "contentSize": str(len(data)),
            "encodingFormat": _MEDIA.get(node.codec or "", "application/octet-stream"),
            "description": f"value of type {node.type} stored as {node.codec}",
        }
    else:
        entity = {"@id": _node_id(node.uuid), "@type": "PropertyValue", **entity}
        entity["value"] = _inline_value(node)
        entity["description"] = f"value of type {node.type}"
    entity["identifier"] = f"urn:uuid:{node.uuid}"
    if examples:
        entity["exampleOfWork"] = _one(examples)
    return entity


def _inline_value(node: NodeRow) -> Any:
    text = node.inline if isinstance(node.inline, str) else bytes(node.inline or b"").decode()
    if node.codec == UNSERIALISABLE:
        return repr(decode(UNSERIALISABLE, text))[:_MAX_VALUE_TEXT]
    return json_scalar(text)


def _action(
    node: NodeRow,
    instrument: str,
    inputs: list[dict[str, str]],
    outputs: list[dict[str, str]],
) -> dict[str, Any]:
    what = "graph" if node.kind == "work" else "task"
    action: dict[str, Any] = {
        "@id": _node_id(node.uuid),
        "@type": "CreateAction",
        "name": f"Run of {node.label or _short(node.type)}",
        "description": f"ferroflow {what} run pk {node.pk} of {node.type}",
        "identifier": f"urn:uuid:{node.uuid}",
        "instrument": _ref(instrument),
        "startTime": _time(node.ctime),
    }
    if inputs:
        action["object"] = _one(inputs)
    if outputs:
        action["result"] = _one(outputs)
    if node.mtime is not None:
        action["endTime"] = _time(node.mtime)
    status = _STATUS.get(node.state or "")
    if status is not None:
        action["actionStatus"] = status  # the profile's shapes expect the IRI as text
    if status == _STATUS["FAILED"]:
        action["error"] = node.error or f"the {what} was {(node.state or '').lower()}"
    return action


def _write_metadata(
    sel: RunSelection, fp: TextIO, root: Path, license: str | None
) -> dict[str, int]:

    run = sel.root
    counts = {"CreateAction": 0, "ControlAction": 0, "values": 0, "files": 0}
    main_id = _write_workflow_file(root, run.type)
    tools = _tools(sel)
    n_files = next(
        sel.rows(
            "SELECT count(*) FROM ff_sel s CROSS JOIN node n ON n.pk = s.pk WHERE n.kind = 0 AND"
            " (n.codec IN (?, ?, ?, ?) OR (n.codec = ? AND n.blob_id IS NOT NULL))",
            (NPY, BYTES, PICKLE, PICKLE_UNTRUSTED, JSON),
        )
    )[0]
    license_id = license or "#license"

    top = Container(fp)
    top.add(CONTEXT, "@context")
    graph = top.open("@graph", array=True)
    graph.add(
        {
            "@id": "ro-crate-metadata.json",
            "@type": "CreativeWork",
            "conformsTo": [_ref(RO_CRATE), _ref(WORKFLOW_RO_CRATE)],
            "about": _ref("./"),
        }
    )
    for profile, name in PROFILES.items():
        version = profile.rsplit("/", 1)[-1]
        graph.add({"@id": profile, "@type": "CreativeWork", "name": name, "version": version})
    if license is None:
        graph.add(
            {
                "@id": "#license",
                "@type": "CreativeWork",
                "name": "No license specified",
                "description": "No license was given when this crate was exported from ferroflow; "
                "ask the author of the run before reusing it.",
            }
        )
    else:
        graph.add({"@id": license, "@type": "CreativeWork", "name": license})
    graph.add(
        {
            "@id": "#python",
            "@type": "ComputerLanguage",
            "name": "Python",
            "identifier": _ref("https://www.python.org/"),
            "url": _ref("https://www.python.org/"),
        }
    )
    graph.add(
        {
            "@id": "#ferroflow",
            "@type": "SoftwareApplication",
            "name": "ferroflow",
            "description": "Python workflow engine with a Rust core and embedded provenance",
            "softwareVersion": __version__,
        }
    )
    for entity in _tool_entities(tools, run.type, main_id):
        graph.add(entity)

    if n_files:
        (root / "values").mkdir()
        folder = graph.open()
        folder.add("values/", "@id")
        folder.add("Dataset", "@type")
        folder.add("Values", "name")
        folder.add(
            "Values that are not small JSON, one file per data node (by uuid).", "description"
        )
        listing = folder.open("hasPart", array=True)
        files = (
            "SELECT n.uuid, n.codec, n.blob_id FROM ff_sel s CROSS JOIN node n ON n.pk = s.pk"
            " WHERE n.kind = 0 ORDER BY s.pk"
        )
        for raw, codec, blob_id in sel.rows(files):
            ref = _value_ref(_uuid(raw), codec, blob_id)
            if ref["@id"].startswith("values/"):
                listing.add(ref)
        listing.close()
        folder.close()

    # Values: the parameters each one realises, from links in both directions, by data pk.
    makes = Joined(sel.adjacent("dst", ("CREATE", "RETURN")))  # made by the other end
    uses = Joined(sel.adjacent("src", ("INPUT_CALC", "INPUT_WORK")))  # used by the other end
    for node in sel.nodes(("data",)):
        links = [(row.other_type, _OUTPUT, row.label) for row in makes.take(node.pk)]
        links += [(row.other_type, _INPUT, row.label) for row in uses.take(node.pk)]
        graph.add(_value_entity(sel, node, links, root))
        counts["values"] += 1
        counts["files"] += _is_file(node.codec, node.blob_id)

    # Actions: inputs into each process, outputs out of it, and the call that started it.
    ins = Joined(sel.adjacent("dst", ("INPUT_CALC", "INPUT_WORK")))
    outs = Joined(sel.adjacent("src", ("CREATE", "RETURN")))
    callers = Joined(sel.adjacent("dst", ("CALL_CALC", "CALL_WORK")))
    for node in sel.nodes(("calc", "work")):
        instrument = main_id if node.pk == run.pk else _tool_id(node.type)
        inputs = [
            _value_ref(r.other_uuid, r.other_codec, r.other_blob_id) for r in ins.take(node.pk)
        ]
        outputs = [
            _value_ref(r.other_uuid, r.other_codec, r.other_blob_id) for r in outs.take(node.pk)
        ]
        graph.add(_action(node, instrument, inputs, outputs))
        counts["CreateAction"] += 1
        caller = callers.take(node.pk)
        if caller and node.pk != run.pk:
            parent_type, label = caller[0].other_type, caller[0].label
            control: dict[str, Any] = {
                "@id": f"#control-{node.uuid}",
                "@type": "ControlAction",
                "name": f"orchestrate {label}",
                "instrument": _ref(_step_id(parent_type, node.type)),
                "object": _ref(_node_id(node.uuid)),
            }
            status = _STATUS.get(node.state or "")
            if status in (_STATUS["FINISHED"], _STATUS["FAILED"]):
                control["actionStatus"] = status
            graph.add(control)
            counts["ControlAction"] += 1

    organize = graph.open()
    organize.add(f"#organize-{run.uuid}", "@id")
    organize.add("OrganizeAction", "@type")
    organize.add(f"ferroflow run of {run.label or run.type}", "name")
    organize.add(_ref("#ferroflow"), "instrument")
    organize.add(_ref(_node_id(run.uuid)), "result")
    organize.add(_time(run.ctime), "startTime")
    if run.mtime is not None:
        organize.add(_time(run.mtime), "endTime")
    controls = organize.open("object", array=True)
    called = (
        "SELECT n.uuid FROM ff_sel a CROSS JOIN node n ON n.pk = a.pk AND n.kind != 0"
        " CROSS JOIN link l ON l.dst = n.pk AND l.type IN (4, 5)"
        " CROSS JOIN ff_sel b ON b.pk = l.src WHERE n.pk != ? ORDER BY a.pk"
    )
    for (raw,) in sel.rows(called, (run.pk,)):
        controls.add(_ref(f"#control-{_uuid(raw)}"))
    controls.close()
    organize.close()

    # The root last: its ``mentions`` lists every CreateAction, streamed.
    parts = [_ref(main_id)] + ([_ref("values/")] if n_files else [])
    root_entity = graph.open()
    for key, value in {
        "@id": "./",
        "@type": "Dataset",
        "conformsTo": [_ref(profile) for profile in PROFILES],
        "name": f"ferroflow run {run.label or run.type} (pk {run.pk})",
        "description": f"Provenance of the ferroflow run of {run.type}, uuid {run.uuid}: every "
        "task run and graph run with its inputs and outputs.",
        "datePublished": _time(time.time()),
        "license": _ref(license_id),
        "mainEntity": _ref(main_id),
        "hasPart": _one(parts),
    }.items():
        root_entity.add(value, key)
    mentions = root_entity.open("mentions", array=True)
    processes = "SELECT n.uuid FROM ff_sel s CROSS JOIN node n ON n.pk = s.pk WHERE n.kind != 0"
    for (raw,) in sel.rows(processes + " ORDER BY s.pk"):
        mentions.add(_ref(_node_id(_uuid(raw))))
    mentions.close()
    root_entity.close()

    graph.close()
    top.close()
    fp.write("\n")
    return counts


def write_ro_crate(
    store: Store, run_pk: int, path: str | os.PathLike[str], license: str | None = None
) -> dict[str, int]:
    """Write the run ``run_pk`` as a Provenance Run Crate at ``path``.

    ``path`` ending in ``.zip`` gives a zipped crate, anything else a directory, which must not
    exist yet or be empty. ``license`` is the URL of the crate's license; without it the crate
    says that none was specified. Returns counts of what was written.
    """
    target = Path(path)
    zipped = target.suffix.lower() == ".zip"
    if not zipped and target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(f"{target} exists and is not an empty directory")
    with RunSelection(store, run_pk) as sel:
        if not zipped:
            target.mkdir(parents=True, exist_ok=True)
            with open(target / "ro-crate-metadata.json", "w", encoding="utf-8") as fp:
                return _write_metadata(sel, fp, target, license)
        with tempfile.TemporaryDirectory(prefix="ferroflow-crate-") as tmp:
            root = Path(tmp)
            with open(root / "ro-crate-metadata.json", "w", encoding="utf-8") as fp:
                counts = _write_metadata(sel, fp, root, license)
            partial = target.with_name(target.name + ".partial")
            with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for file in sorted(root.rglob("*")):
                    if file.is_file():
                        archive.write(file, file.relative_to(root).as_posix())
            shutil.move(str(partial), str(target))
            return counts

"""The JSON-LD entities of a Provenance Run Crate, one builder per kind of entity.

Everything here turns rows of a :class:`~.selection.RunSelection` into plain dicts;
:mod:`.rocrate_metadata` decides the order they are streamed in. Ids are fragments of the crate
(``#tool/…``, ``#param/…``, ``#step/…``, ``#<uuid>``) or paths of its files (``values/…``), so
every reference resolves inside the crate; the mapping itself is described in :mod:`.rocrate`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from ..model.labels import split_label
from ..model.vocabulary import Kind, State
from ..store.values import BYTES, JSON, NPY, PICKLE, PICKLE_UNTRUSTED, UNSERIALISABLE, decode
from ..version import __version__
from .safe_paths import TargetFolder
from .selection import NodeRow, RunSelection, json_scalar

__all__ = [
    "COMPUTATIONAL_WORKFLOW",
    "CONTEXT",
    "FORMAL_PARAMETER",
    "INPUT",
    "MEDIA",
    "OUTPUT",
    "PROFILES",
    "STATUS",
    "action",
    "additional_type",
    "control_action",
    "crate_time",
    "fixed_entities",
    "is_file",
    "node_id",
    "one",
    "param_id",
    "param_name",
    "ref",
    "short",
    "step_id",
    "tool_id",
    "value_entity",
    "value_ref",
]

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
STATUS = {
    State.FINISHED: "http://schema.org/CompletedActionStatus",
    State.FAILED: "http://schema.org/FailedActionStatus",
    State.CANCELLED: "http://schema.org/FailedActionStatus",
    State.KILLED: "http://schema.org/FailedActionStatus",
    State.RUNNING: "http://schema.org/ActiveActionStatus",
    State.PLANNED: "http://schema.org/PotentialActionStatus",
}
_FILE_EXT = {NPY: ".npy", BYTES: ".bin", PICKLE: ".pkl", PICKLE_UNTRUSTED: ".pkl", JSON: ".json"}
MEDIA = {JSON: "application/json", "py": "text/x-python"}
_SCALARS = {"int": "Integer", "float": "Float", "bool": "Boolean", "str": "Text"}
_MAX_VALUE_TEXT = 1000
INPUT, OUTPUT = "in", "out"


def ref(entity_id: str) -> dict[str, str]:
    return {"@id": entity_id}


def one(items: list[Any]) -> Any:
    """RO-Crate 1.1 prefers a single value to a one-element list."""
    return items[0] if len(items) == 1 else items


def crate_time(ts: float | None) -> str | None:
    """The profile's time pattern: milliseconds and a ``+00:00`` offset."""
    if ts is None:
        return None
    moment = _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds")


def param_name(label: str) -> str:
    """The top-level socket of a link label: ``data__number_1`` -> ``data``."""
    return split_label(label)[0]


def short(process_type: str) -> str:
    return process_type.rsplit(".", 1)[-1]


def _iri(text: str) -> str:
    """``text`` safe inside an IRI fragment (a nested function's ``<locals>``, say)."""
    return quote(text, safe="._-~")


def tool_id(process_type: str) -> str:
    return f"#tool/{_iri(process_type)}"


def param_id(process_type: str, direction: str, name: str) -> str:
    return f"#param/{_iri(process_type)}/{direction}/{_iri(name)}"


def step_id(workflow_type: str, tool_type: str) -> str:
    return f"#step/{_iri(workflow_type)}/{_iri(tool_type)}"


def node_id(uuid: str) -> str:
    return f"#{uuid}"


def is_file(codec: str | None, blob_id: int | None) -> bool:
    """Values written as files: binary codecs and JSON too large to sit in the node row."""
    return codec in (NPY, BYTES, PICKLE, PICKLE_UNTRUSTED) or (
        codec == JSON and blob_id is not None
    )


def value_ref(uuid: str, codec: str | None, blob_id: int | None) -> dict[str, str]:
    """The id of a value's entity: its file, or its PropertyValue."""
    if is_file(codec, blob_id):
        return ref(f"values/{uuid}{_FILE_EXT.get(codec or '', '.bin')}")
    return ref(node_id(uuid))


def additional_type(data_type: str, codec: str | None, blob_id: int | None) -> str:
    if is_file(codec, blob_id):
        return "File"
    return _SCALARS.get(data_type, "DataType")


# -- per-crate entities -------------------------------------------------------------------
def fixed_entities(license: str | None) -> Iterator[dict[str, Any]]:
    """The entities every crate has: the metadata descriptor, the profiles, the license (a
    note that none was given, without ``license``), Python and ferroflow."""
    yield {
        "@id": "ro-crate-metadata.json",
        "@type": "CreativeWork",
        "conformsTo": [ref(RO_CRATE), ref(WORKFLOW_RO_CRATE)],
        "about": ref("./"),
    }
    for profile, name in PROFILES.items():
        version = profile.rsplit("/", 1)[-1]
        yield {"@id": profile, "@type": "CreativeWork", "name": name, "version": version}
    if license is None:
        yield {
            "@id": "#license",
            "@type": "CreativeWork",
            "name": "No license specified",
            "description": "No license was given when this crate was exported from ferroflow; "
            "ask the author of the run before reusing it.",
        }
    else:
        yield {"@id": license, "@type": "CreativeWork", "name": license}
    yield {
        "@id": "#python",
        "@type": "ComputerLanguage",
        "name": "Python",
        "identifier": ref("https://www.python.org/"),
        "url": ref("https://www.python.org/"),
    }
    yield {
        "@id": "#ferroflow",
        "@type": "SoftwareApplication",
        "name": "ferroflow",
        "description": "Python workflow engine with a Rust core and embedded provenance",
        "softwareVersion": __version__,
    }


# -- per-node entities -------------------------------------------------------------------------
def value_entity(
    sel: RunSelection, node: NodeRow, links: list[tuple[str, str, str]], files: TargetFolder
) -> dict[str, Any]:
    """A data node's entity; ``links`` are ``(process type, direction, label)``, outputs
    first (the name comes from the first)."""
    params: dict[str, None] = {}  # ordered and deduplicated
    name = None
    for process_type, direction, label in links:
        name = name or label
        params[param_id(process_type, direction, param_name(label))] = None
    examples = [ref(param) for param in params]
    entity: dict[str, Any] = {"name": name or f"value {node.pk}"}
    if is_file(node.codec, node.blob_id):
        payload = sel.payload(node)
        data = payload.encode("ascii") if isinstance(payload, str) else bytes(payload or b"")
        file_id = value_ref(node.uuid, node.codec, node.blob_id)["@id"]
        with files.open(file_id) as out:  # a uuid's hex: safe, and checked to stay inside
            out.write(data)
        entity = {
            "@id": file_id,
            "@type": "File",
            **entity,
            "contentSize": str(len(data)),
            "encodingFormat": MEDIA.get(node.codec or "", "application/octet-stream"),
            "description": f"value of type {node.type} stored as {node.codec}",
        }
    else:
        entity = {"@id": node_id(node.uuid), "@type": "PropertyValue", **entity}
        entity["value"] = _inline_value(node)
        entity["description"] = f"value of type {node.type}"
    entity["identifier"] = f"urn:uuid:{node.uuid}"
    if examples:
        entity["exampleOfWork"] = one(examples)
    return entity


def _inline_value(node: NodeRow) -> Any:
    text = node.inline if isinstance(node.inline, str) else bytes(node.inline or b"").decode()
    if node.codec == UNSERIALISABLE:
        return repr(decode(UNSERIALISABLE, text))[:_MAX_VALUE_TEXT]
    return json_scalar(text)


def action(
    node: NodeRow,
    instrument: str,
    inputs: list[dict[str, str]],
    outputs: list[dict[str, str]],
) -> dict[str, Any]:
    what = "graph" if node.kind == Kind.WORK else "task"
    action: dict[str, Any] = {
        "@id": node_id(node.uuid),
        "@type": "CreateAction",
        "name": f"Run of {node.label or short(node.type)}",
        "description": f"ferroflow {what} run pk {node.pk} of {node.type}",
        "identifier": f"urn:uuid:{node.uuid}",
        "instrument": ref(instrument),
        "startTime": crate_time(node.ctime),
    }
    if inputs:
        action["object"] = one(inputs)
    if outputs:
        action["result"] = one(outputs)
    if node.mtime is not None:
        action["endTime"] = crate_time(node.mtime)
    status = STATUS.get(node.state or "")
    if status is not None:
        action["actionStatus"] = status  # the profile's shapes expect the IRI as text
    if status == STATUS[State.FAILED]:
        action["error"] = node.error or f"the {what} was {(node.state or '').lower()}"
    return action


def control_action(node: NodeRow, parent_type: str, label: str) -> dict[str, Any]:
    """The call of process ``node`` by a process of ``parent_type`` (its step)."""
    control: dict[str, Any] = {
        "@id": f"#control-{node.uuid}",
        "@type": "ControlAction",
        "name": f"orchestrate {label}",
        "instrument": ref(step_id(parent_type, node.type)),
        "object": ref(node_id(node.uuid)),
    }
    status = STATUS.get(node.state or "")
    if status in (STATUS[State.FINISHED], STATUS[State.FAILED]):
        control["actionStatus"] = status
    return control

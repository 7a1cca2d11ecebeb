"""``ro-crate-metadata.json``: the crate's JSON-LD document, streamed entity by entity.

The order is fixed by what must be known before what: per-type entities first (profiles,
tools, parameters, steps: few, held in memory), then one entity per node as its rows are read
(values, then actions), then the root ``./``, whose ``mentions`` is itself a stream. The
entities are built in :mod:`.rocrate_entities`; this module only walks the run and writes.
"""

from __future__ import annotations

import time
from typing import TextIO

from ..model.vocabulary import KIND_CODES, Kind
from ..store.graph_sets import SEL_LINK, SEL_NODE
from ..store.node_record import uuid_text
from ..store.schema import CALL_LINKS, INPUT_LINKS, LINK_CODES, OUTPUT_LINKS, sql_codes
from ..store.values import BYTES, JSON, NPY, PICKLE, PICKLE_UNTRUSTED
from .jsonstream import Container
from .rocrate_entities import (
    CONTEXT,
    INPUT,
    OUTPUT,
    PROFILES,
    action,
    control_action,
    crate_time,
    fixed_entities,
    is_file,
    node_id,
    one,
    ref,
    tool_id,
    value_entity,
    value_ref,
)
from .rocrate_source import write_workflow_file
from .rocrate_tools import tool_entities, tools_of
from .safe_paths import TargetFolder
from .selection import Joined, RunSelection

__all__ = ["write_metadata"]

_DATA = KIND_CODES[Kind.DATA]
_FILES = (
    f"SELECT count(*) FROM {SEL_NODE} n WHERE n.kind = {_DATA} AND"
    " (n.codec IN (?, ?, ?, ?) OR (n.codec = ? AND n.blob_id IS NOT NULL))"
)
_VALUES = (
    f"SELECT n.uuid, n.codec, n.blob_id FROM {SEL_NODE} n WHERE n.kind = {_DATA} ORDER BY n.pk"
)
_CALLED = (
    f"SELECT n.uuid FROM {SEL_NODE} n CROSS JOIN {SEL_LINK} l ON l.dst = n.pk"
    f" AND l.type IN ({sql_codes(LINK_CODES, CALL_LINKS)})"
    f" WHERE n.kind != {_DATA} AND n.pk != ? ORDER BY n.pk"
)
_PROCESSES = f"SELECT n.uuid FROM {SEL_NODE} n WHERE n.kind != {_DATA} ORDER BY n.pk"


def write_metadata(
    sel: RunSelection, fp: TextIO, files: TargetFolder, license: str | None
) -> dict[str, int]:
    """Write the metadata document of the run ``sel`` to ``fp`` and its value files under
    ``files``; returns counts of what was written."""
    run = sel.root
    counts = {"CreateAction": 0, "ControlAction": 0, "values": 0, "files": 0}
    main_id = write_workflow_file(files, run.type, imported=sel.imported)
    n_files = next(sel.rows(_FILES, (NPY, BYTES, PICKLE, PICKLE_UNTRUSTED, JSON)))[0]

    top = Container(fp)
    top.add(CONTEXT, "@context")
    graph = top.open("@graph", array=True)
    for entity in fixed_entities(license):
        graph.add(entity)
    for entity in tool_entities(tools_of(sel), run.type, main_id):
        graph.add(entity)
    if n_files:
        files.folder("values")
        _values_folder(sel, graph)
    _values(sel, graph, files, counts)
    _actions(sel, graph, main_id, counts)
    _organize(sel, graph)
    _root(sel, graph, main_id, license or "#license", bool(n_files))
    graph.close()
    top.close()
    fp.write("\n")
    return counts


def _values_folder(sel: RunSelection, graph: Container) -> None:
    """The ``values/`` Dataset, listing the value files."""
    folder = graph.open()
    folder.add("values/", "@id")
    folder.add("Dataset", "@type")
    folder.add("Values", "name")
    folder.add("Values that are not small JSON, one file per data node (by uuid).", "description")
    listing = folder.open("hasPart", array=True)
    for raw, codec, blob_id in sel.rows(_VALUES):
        file_ref = value_ref(uuid_text(raw), codec, blob_id)
        if file_ref["@id"].startswith("values/"):
            listing.add(file_ref)
    listing.close()
    folder.close()


def _values(
    sel: RunSelection, graph: Container, files: TargetFolder, counts: dict[str, int]
) -> None:
    """Every value, with the parameters it realises, from links in both directions."""
    makes = Joined(sel.adjacent("dst", OUTPUT_LINKS))  # made by the other end
    uses = Joined(sel.adjacent("src", INPUT_LINKS))  # used by the other end
    for node in sel.nodes((Kind.DATA,)):
        links = [(row.other_type, OUTPUT, row.label) for row in makes.take(node.pk)]
        links += [(row.other_type, INPUT, row.label) for row in uses.take(node.pk)]
        graph.add(value_entity(sel, node, links, files))
        counts["values"] += 1
        counts["files"] += is_file(node.codec, node.blob_id)


def _actions(sel: RunSelection, graph: Container, main_id: str, counts: dict[str, int]) -> None:
    """A CreateAction per process (inputs into it, outputs out of it) and a ControlAction per
    call that started one."""
    run = sel.root
    ins = Joined(sel.adjacent("dst", INPUT_LINKS))
    outs = Joined(sel.adjacent("src", OUTPUT_LINKS))
    callers = Joined(sel.adjacent("dst", CALL_LINKS))
    for node in sel.nodes((Kind.CALC, Kind.WORK)):
        instrument = main_id if node.pk == run.pk else tool_id(node.type)
        inputs = [
            value_ref(r.other_uuid, r.other_codec, r.other_blob_id) for r in ins.take(node.pk)
        ]
        outputs = [
            value_ref(r.other_uuid, r.other_codec, r.other_blob_id) for r in outs.take(node.pk)
        ]
        graph.add(action(node, instrument, inputs, outputs))
        counts["CreateAction"] += 1
        caller = callers.take(node.pk)
        if caller and node.pk != run.pk:
            graph.add(control_action(node, caller[0].other_type, caller[0].label))
            counts["ControlAction"] += 1


def _organize(sel: RunSelection, graph: Container) -> None:
    """The engine's run: ferroflow as instrument, the ControlActions as object (streamed)."""
    run = sel.root
    organize = graph.open()
    organize.add(f"#organize-{run.uuid}", "@id")
    organize.add("OrganizeAction", "@type")
    organize.add(f"ferroflow run of {run.label or run.type}", "name")
    organize.add(ref("#ferroflow"), "instrument")
    organize.add(ref(node_id(run.uuid)), "result")
    organize.add(crate_time(run.ctime), "startTime")
    if run.mtime is not None:
        organize.add(crate_time(run.mtime), "endTime")
    controls = organize.open("object", array=True)
    for (raw,) in sel.rows(_CALLED, (run.pk,)):
        controls.add(ref(f"#control-{uuid_text(raw)}"))
    controls.close()
    organize.close()


def _root(
    sel: RunSelection, graph: Container, main_id: str, license_id: str, has_files: bool
) -> None:
    """The root Dataset, last: its ``mentions`` lists every CreateAction, streamed."""
    run = sel.root
    parts = [ref(main_id)] + ([ref("values/")] if has_files else [])
    root_entity = graph.open()
    for key, value in {
        "@id": "./",
        "@type": "Dataset",
        "conformsTo": [ref(profile) for profile in PROFILES],
        "name": f"ferroflow run {run.label or run.type} (pk {run.pk})",
        "description": f"Provenance of the ferroflow run of {run.type}, uuid {run.uuid}: every "
        "task run and graph run with its inputs and outputs.",
        "datePublished": crate_time(time.time()),
        "license": ref(license_id),
        "mainEntity": ref(main_id),
        "hasPart": one(parts),
    }.items():
        root_entity.add(value, key)
    mentions = root_entity.open("mentions", array=True)
    for (raw,) in sel.rows(_PROCESSES):
        mentions.add(ref(node_id(uuid_text(raw))))
    mentions.close()
    root_entity.close()

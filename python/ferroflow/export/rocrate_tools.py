"""What a crate shows about the functions a run used: one tool per task or graph function,
its formal parameters and, for a graph function, its steps.

These are per-*type* facts, read with a few grouped queries and held in memory: a run of a
million task runs of three functions has three tools. Parameters are top-level sockets, so a
namespace (``data__number_1``, ``data__number_2``, …) is one parameter (``data``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..model.vocabulary import KIND_CODES, Kind
from ..store.graph_sets import SEL_LINK, SEL_NODE
from ..store.schema import CALL_LINKS, INPUT_LINKS, LINK_CODES, OUTPUT_LINKS, sql_codes
from .rocrate_entities import (
    COMPUTATIONAL_WORKFLOW,
    FORMAL_PARAMETER,
    INPUT,
    MEDIA,
    OUTPUT,
    additional_type,
    one,
    param_id,
    param_name,
    ref,
    short,
    step_id,
    tool_id,
)
from .selection import RunSelection

__all__ = ["Tool", "tool_entities", "tools_of"]

_DATA = KIND_CODES[Kind.DATA]
_KINDS = f"SELECT n.type, n.kind FROM {SEL_NODE} n WHERE n.kind != {_DATA}"
_PARAMS = (
    f"SELECT p.type, '{INPUT}', l.label, d.type, d.codec, d.blob_id FROM {SEL_NODE} p"
    f" CROSS JOIN {SEL_LINK} l ON l.dst = p.pk"
    f" AND l.type IN ({sql_codes(LINK_CODES, INPUT_LINKS)})"
    f" CROSS JOIN {SEL_NODE} d ON d.pk = l.src WHERE p.kind != {_DATA}"
    " UNION ALL"
    f" SELECT p.type, '{OUTPUT}', l.label, d.type, d.codec, d.blob_id FROM {SEL_NODE} p"
    f" CROSS JOIN {SEL_LINK} l ON l.src = p.pk"
    f" AND l.type IN ({sql_codes(LINK_CODES, OUTPUT_LINKS)})"
    f" CROSS JOIN {SEL_NODE} d ON d.pk = l.dst WHERE p.kind != {_DATA}"
)
_STEPS = (
    f"SELECT p.type, c.type FROM {SEL_NODE} p"
    f" CROSS JOIN {SEL_LINK} l ON l.src = p.pk AND l.type IN ({sql_codes(LINK_CODES, CALL_LINKS)})"
    f" CROSS JOIN {SEL_NODE} c ON c.pk = l.dst ORDER BY p.pk"
)


@dataclass
class Tool:
    """What the run shows about one task or graph function."""

    type: str
    kind: str
    params: dict[tuple[str, str], str] = field(default_factory=dict)  # (dir, name) -> type
    steps: dict[str, int] = field(default_factory=dict)  # tool type -> position


def tools_of(sel: RunSelection) -> dict[str, Tool]:
    """The run's tools by process type, with their parameters and steps."""
    tools: dict[str, Tool] = {}
    for process_type, kind in sel.rows(_KINDS):  # few types, many rows
        tool = tools.get(process_type)
        if tool is None:
            tool = tools[process_type] = Tool(process_type, Kind.CALC)
        if kind == KIND_CODES[Kind.WORK]:
            tool.kind = Kind.WORK
    for process_type, direction, label, data_type, codec, blob_id in sel.rows(_PARAMS):
        key = (direction, param_name(label))
        tools[process_type].params.setdefault(key, additional_type(data_type, codec, blob_id))
    for parent, child in sel.rows(_STEPS):  # positions in order of first call
        tool = tools[parent]
        if child not in tool.steps:
            tool.steps[child] = len(tool.steps)
    return tools


def tool_entities(tools: dict[str, Tool], main_type: str, main_id: str) -> Iterator[dict[str, Any]]:
    for tool in tools.values():
        entity_id = main_id if tool.type == main_type else tool_id(tool.type)
        inputs = [ref(param_id(tool.type, d, n)) for d, n in tool.params if d == INPUT]
        outputs = [ref(param_id(tool.type, d, n)) for d, n in tool.params if d == OUTPUT]
        entity: dict[str, Any] = {"@id": entity_id, "name": short(tool.type)}
        if tool.kind == Kind.WORK:
            types = ["SoftwareSourceCode", "ComputationalWorkflow", "HowTo"]
            if entity_id == main_id:
                types.insert(0, "File")
                entity["encodingFormat"] = MEDIA["py"]
            entity["@type"] = types
            entity["description"] = f"ferroflow graph function {tool.type}"
            entity["conformsTo"] = ref(COMPUTATIONAL_WORKFLOW)
            entity["programmingLanguage"] = ref("#python")
            entity["hasPart"] = one(
                [ref(main_id if t == main_type else tool_id(t)) for t in tool.steps]
            )
            entity["step"] = one([ref(step_id(tool.type, t)) for t in tool.steps])
        else:
            entity["@type"] = "SoftwareApplication"
            entity["description"] = f"ferroflow task function {tool.type}"
        entity["alternateName"] = tool.type
        if inputs:
            entity["input"] = one(inputs)
        if outputs:
            entity["output"] = one(outputs)
        yield entity
        for (direction, name), additional in tool.params.items():
            yield {
                "@id": param_id(tool.type, direction, name),
                "@type": "FormalParameter",
                "conformsTo": ref(FORMAL_PARAMETER),
                "name": name,
                "additionalType": additional,
                "description": f"{'input' if direction == INPUT else 'output'} socket "
                f"'{name}' of {tool.type}",
            }
        for child, position in tool.steps.items():
            yield {
                "@id": step_id(tool.type, child),
                "@type": "HowToStep",
                "name": short(child),
                "position": str(position),
                "workExample": ref(main_id if child == main_type else tool_id(child)),
            }

"""``get_process_summary``: WorkGraph's table of a process's inputs and outputs, laid out as
AiiDA's ``format_nested_links`` does, so a script's printed output reads the same.

AiiDA's layout: a namespace is a row of its own with its members indented four spaces below
it; top-level rows are sorted (namespaces first, then by name), members keep their link order;
columns are separated by two spaces under a dashed rule at least two wider than each heading.
The type column names AiiDA's data class for the Python types it has one for (``Int``,
``Dict``…) and the stored type otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..model.labels import split_label
from ..model.vocabulary import Link
from ..profile import get_current_profile
from ..store import StoredNode
from ..views.text_table import text_table

__all__ = ["get_process_summary"]

_OUT = (Link.CREATE, Link.RETURN)
_IN = (Link.INPUT_CALC, Link.INPUT_WORK)
#: AiiDA's data class for each stored Python type that has one
_AIIDA_TYPES = {
    "bool": "Bool",
    "int": "Int",
    "float": "Float",
    "str": "Str",
    "dict": "Dict",
    "list": "List",
    "numpy.ndarray": "ArrayData",
}
_INDENT = 4
_PADDING = 2  # a heading's rule is this much wider than the heading


def _nest(links: Iterable[tuple[str, StoredNode]]) -> dict[str, Any]:
    """``{"sum": node, "nested": {"diff": node}}`` from flat link labels."""
    nested: dict[str, Any] = {}
    for label, node in links:
        *spaces, name = split_label(label)
        level = nested
        for space in spaces:
            level = level.setdefault(space, {})
        level[name] = node
    return dict(sorted(nested.items(), key=lambda kv: (not isinstance(kv[1], dict), kv[0])))


def _rows(nested: dict[str, Any], depth: int = 0) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for name, item in nested.items():
        label = " " * (depth * _INDENT) + name
        if isinstance(item, dict):
            rows.append((label, "", ""))
            rows += _rows(item, depth + 1)
        else:
            rows.append((label, str(item.pk), _AIIDA_TYPES.get(item.type or "", item.type or "")))
    return rows


def _table(headers: tuple[str, str, str], rows: list[tuple[str, str, str]]) -> str:
    # a column of numbers only is right-aligned, one with a blank (a namespace row) left-aligned
    numbers = bool(rows) and all(row[1] for row in rows)
    return text_table(headers, rows, padding=_PADDING, right=(False, numbers, False))


def get_process_summary(node: StoredNode | int | str, data: Iterable[str] = ("outputs",)) -> str:
    """A table of a stored task or graph run's outputs (and, with ``data=["inputs",
    "outputs"]``, its inputs first): one row per value with its pk and type, namespaces nested,
    as WorkGraph's ``get_process_summary`` returns it (each table after a blank line)."""
    process = node if isinstance(node, StoredNode) else get_current_profile().store.load_node(node)
    sections = list(data)
    unknown = [s for s in sections if s not in ("inputs", "outputs")]
    if unknown:
        raise ValueError(f"get_process_summary: data takes 'inputs' and 'outputs', not {unknown}")
    result = ""
    for section in ("inputs", "outputs"):
        if section not in sections:
            continue
        links = process.inputs if section == "inputs" else process.outputs
        kinds = _IN if section == "inputs" else _OUT
        nested = _nest((label, other) for kind, label, other in links if kind in kinds)
        result += "\n\n" + _table((section.capitalize(), "PK", "Type"), _rows(nested))
    return result

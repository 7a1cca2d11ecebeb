"""WorkGraph's ``aiida_workgraph.utils`` helpers that scripts call: :func:`get_process_summary`
and (in :mod:`.logging`) ``set_aiida_loglevel``."""

from __future__ import annotations

from collections.abc import Iterable

from ..model.labels import split_label
from ..model.vocabulary import Link
from ..profile import get_current_profile
from ..store import StoredNode

__all__ = ["get_process_summary"]

_OUT = (Link.CREATE, Link.RETURN)
_IN = (Link.INPUT_CALC, Link.INPUT_WORK)


def get_process_summary(node: StoredNode | int | str, data: Iterable[str] = ("outputs",)) -> str:
    """A table of a stored task or graph run's outputs (and, with ``data=["inputs",
    "outputs"]``, its inputs): one row per value, its socket path (``nested/diff``), pk and
    type, as WorkGraph prints it."""
    process = node if isinstance(node, StoredNode) else get_current_profile().store.load_node(node)
    sections = list(data)
    unknown = [s for s in sections if s not in ("inputs", "outputs")]
    if unknown:
        raise ValueError(f"get_process_summary: data takes 'inputs' and 'outputs', not {unknown}")
    lines: list[str] = []
    for section in ("inputs", "outputs"):
        if section not in sections:
            continue
        links = process.inputs if section == "inputs" else process.outputs
        kinds = _IN if section == "inputs" else _OUT
        rows = [
            ("/".join(split_label(label)), str(other.pk), other.type)
            for kind, label, other in links
            if kind in kinds
        ]
        title = section.capitalize()
        width = max([len(title), *(len(path) for path, _, _ in rows)])
        lines.append(f"{title:<{width}}  {'PK':>6}  Type")
        lines += [f"{path:<{width}}  {pk:>6}  {type_}" for path, pk, type_ in rows]
    return "\n".join(lines)

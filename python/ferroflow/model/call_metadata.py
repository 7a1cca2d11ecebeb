"""WorkGraph's per-call ``metadata={'call_link_label', 'label', 'description'}``.

Any task call may carry it (``add(x, y, metadata={...})`` in a graph body or a ``with`` block,
``wg.add_task(add, metadata={...})``): ``call_link_label`` becomes the task's name (and so the
label of its CALL link and of its process node), ``label`` and ``description`` are stored
with the task's process node, as AiiDA stores them on a ``ProcessNode``. Because ``metadata``
means this on every call, a task function cannot have an input of that name: it is refused when
the function is decorated, as WorkGraph refuses it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .names import storable
from .outputs import unwrap

__all__ = ["RESERVED_INPUT", "CallMetadata", "check_link_label", "parse_call_metadata"]

#: the keyword every task call reserves for its metadata
RESERVED_INPUT = "metadata"

_KEYS = ("call_link_label", "label", "description")

# AiiDA's link label rule: letters, digits and single underscores, not at either end
# (``__`` separates the levels of a nested label).
_LINK_LABEL = re.compile(r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*")


@dataclass(frozen=True, slots=True)
class CallMetadata:
    """What one call's ``metadata=`` asked for (None: not given)."""

    call_link_label: str | None = None
    label: str | None = None
    description: str | None = None

    @property
    def stored(self) -> tuple[str | None, str | None] | None:
        """``(label, description)`` to store with the process node; None when neither."""
        if self.label is None and self.description is None:
            return None
        return self.label, self.description


def check_link_label(where: str, name: object, what: str = "call_link_label") -> str:
    """``name`` if it can label a CALL link (AiiDA's rule); else a ValueError naming ``where``
    and ``what`` was given."""
    if not isinstance(name, str) or not _LINK_LABEL.fullmatch(name):
        raise ValueError(
            f"{where}: invalid {what} {name!r}: it names the task and labels its link "
            f"in the provenance, so it must be letters, digits and single underscores, not "
            f"starting or ending with '_' (e.g. 'my_add')"
        )
    return name


def parse_call_metadata(where: str, metadata: Any, accepted: tuple[str, ...] = ()) -> CallMetadata:
    """The checked ``metadata=`` of the call ``where`` (a task path, for messages); keys in
    ``accepted`` (a python job's ``options``) are allowed beside :data:`_KEYS`."""
    if metadata is None:
        return CallMetadata()
    metadata = unwrap(metadata)  # given from a graph input, it holds data nodes
    if not isinstance(metadata, Mapping):
        raise TypeError(
            f"{where}: metadata must be a dict with keys {', '.join(_KEYS)}, got "
            f"{type(metadata).__qualname__} {metadata!r}"
        )
    unknown = [key for key in metadata if key not in _KEYS and key not in accepted]
    if unknown:
        raise ValueError(
            f"{where}: metadata key {unknown[0]!r} is not supported; ferroflow reads "
            f"{', '.join(_KEYS)}"
        )
    for key in ("label", "description"):
        value = metadata.get(key)
        if value is not None and not isinstance(value, str):
            raise TypeError(
                f"{where}: metadata {key!r} must be a str, got {type(value).__qualname__}"
            )
        if value is not None and not storable(value):
            raise ValueError(
                f"{where}: metadata {key!r} {value!r} contains a lone surrogate, which the "
                "store cannot keep (it keeps UTF-8)"
            )
    link = metadata.get("call_link_label")
    return CallMetadata(
        None if link is None else check_link_label(where, link),
        metadata.get("label"),
        metadata.get("description"),
    )

"""The columns of a node row that every reader needs, decoded once for all of them.

A node row stores codes (kind, state) and a 16-byte uuid; users and exporters want names and the
uuid's text form. :class:`NodeRecord` is that decoded form. The store's :class:`StoredNode`
(lazy value and links) and the exporters' ``NodeRow`` (payload and hash read with the row) both
extend it, so a column added to the node table is declared and decoded in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .schema import KIND_NAMES, state_name

__all__ = ["NODE_RECORD_COLUMNS", "NodeRecord", "decode_node_columns", "uuid_text"]

#: The node table's columns behind :class:`NodeRecord`, in its field order.
NODE_RECORD_COLUMNS: tuple[str, ...] = (
    "pk",
    "uuid",
    "kind",
    "type",
    "label",
    "state",
    "error",
    "run_pk",
    "ctime",
    "mtime",
    "codec",
    "blob_id",
)


def uuid_text(raw: bytes) -> str:
    """``01a2…-…``, the text form users see, from the 16 bytes the store keeps."""
    h = bytes(raw).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True, slots=True, eq=False)
class NodeRecord:
    """One node as stored: its identity, what it is, its state and where its value lives.

    ``kind`` and ``state`` are names (``"data"``, ``"finished"``); ``codec`` and ``blob_id``
    say how the value is stored (``blob_id`` is ``None`` when the value is in the node row).
    Identity-based equality is left to the subclasses.
    """

    pk: int
    uuid: str
    kind: str
    type: str
    label: str | None
    state: str | None
    error: str | None
    run_pk: int | None
    ctime: float
    mtime: float | None
    codec: str | None
    blob_id: int | None


def decode_node_columns(row: Sequence[Any]) -> dict[str, Any]:
    """:class:`NodeRecord`'s fields by name, from the values of :data:`NODE_RECORD_COLUMNS` as
    SQLite returns them."""
    fields = dict(zip(NODE_RECORD_COLUMNS, row, strict=True))
    fields["uuid"] = uuid_text(fields["uuid"])
    fields["kind"] = KIND_NAMES[fields["kind"]]
    if fields["state"] is not None:
        fields["state"] = state_name(fields["state"])
    return fields

"""Reading the records of a native export (:mod:`.native`) for an import, one field at a time.

Why a module of its own: an imported file is written by someone else, possibly to do harm, and
every field of it ends up in a store that later commands read without checking again (an
infinite ``ctime`` once broke ``runs list`` for a whole profile; a lone surrogate cannot even be
written to SQLite). So every field is checked for its type, its range and its encoding here,
before anything is written, and a bad one is refused with a message that names the record:
``nodes[17] (uuid …): 'ctime' is not a finite number``. Members the format does not know are
ignored (the format grows additively, see :mod:`.native`).

Values are checked as far as that is safe: ``json``, ``unserialisable`` and ``npy`` payloads are
decoded once (``npy`` with ``allow_pickle=False``), so a value that cannot be read back is
refused now rather than breaking a later ``runs show``; pickles are never decoded.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import ImportFormatError
from ..model.vocabulary import Kind
from ..store.node_record import uuid_text
from ..store.schema import KIND_CODES, LINK_CODES, STATE_CODES
from ..store.serializers import REGISTERED, read_registered
from ..store.values import (
    BYTES,
    CODECS,
    INLINE_LIMIT,
    JSON,
    NPY,
    PICKLE,
    PICKLE_UNTRUSTED,
    UNSERIALISABLE,
    decode,
)

__all__ = ["Code", "Link", "Node", "code_rows", "link", "node", "uuid"]

#: Times are seconds since 1970 up to the end of year 9999 (what ``datetime`` can show).
MAX_TIME = 253402300799.0
_MAX_TYPE = 1000  # a process type is a ``module.qualname``, a data type a class name
_MAX_HASH = 64  # bytes of a cache key or a code digest
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
_HEX = re.compile(r"(?:[0-9a-f]{2})+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_STORED_JSON = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=True)


@dataclass(slots=True)
class Node:
    """One checked node record; ``where`` names it in messages."""

    where: str
    uuid: bytes
    text: str
    kind: int
    type: str
    label: str | None
    state: int | None
    error: str | None
    run: str | None
    ctime: float
    mtime: float | None
    hash: bytes | None
    cached_from: str | None
    codec: str | None
    blob: bool
    payload: str | bytes | None
    #: a data node's extras as (key, JSON text) pairs (``store.annotations``)
    extras: tuple[tuple[str, str], ...] = ()
    #: a process's label and description from a call's ``metadata=``
    user_label: str | None = None
    description: str | None = None
    #: a process's captured output and the characters dropped from it (``store.task_output``)
    output: str | None = None
    output_dropped: int = 0


@dataclass(frozen=True, slots=True)
class Link:
    """One checked link record (ends are uuid texts)."""

    where: str
    src: str
    dst: str
    type: int
    label: str


@dataclass(frozen=True, slots=True)
class Code:
    """One ``code`` row: the digest of a task function the run used."""

    where: str
    type: str
    digest: bytes


def uuid(value: Any, where: str) -> tuple[bytes, str]:
    """The 16 bytes and canonical text of a uuid written as text (with or without dashes)."""
    if not isinstance(value, str):
        raise ImportFormatError(f"{where}: must be a uuid string, not {_short(value)}")
    if not _UUID.fullmatch(value.lower()):
        raise ImportFormatError(f"{where}: {_short(value)} is not a uuid")
    raw = bytes.fromhex(value.lower().replace("-", ""))
    return raw, uuid_text(raw)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def text(value: Any, where: str, limit: int | None = None, plain: bool = False) -> str:
    """``value`` if it is a string SQLite can store (no lone surrogates), at most ``limit``
    characters, and (``plain``) without control characters."""
    if not isinstance(value, str):
        raise ImportFormatError(f"{where} must be a string, not {_short(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ImportFormatError(f"{where} is not valid Unicode (a lone surrogate)") from None
    if limit is not None and len(value) > limit:
        raise ImportFormatError(f"{where} is longer than {limit} characters")
    if plain and _CONTROL.search(value):
        raise ImportFormatError(f"{where} holds a control character")
    return value


def _opt_text(record: dict[str, Any], key: str, where: str) -> str | None:
    value = record.get(key)
    return None if value is None else text(value, f"{where}: {key!r}")


def _time(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ImportFormatError(f"{where} must be a number, not {_short(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ImportFormatError(f"{where} is not a finite number")
    if not 0.0 <= number <= MAX_TIME:
        raise ImportFormatError(f"{where} is out of range (0 to {MAX_TIME:.0f} seconds)")
    return number


def hex_bytes(value: Any, where: str) -> bytes:
    """Non-empty lower- or upper-case hex of at most 64 bytes."""
    if not isinstance(value, str) or not _HEX.fullmatch(value.lower()):
        raise ImportFormatError(f"{where} must be non-empty hex, not {_short(value)}")
    raw = bytes.fromhex(value)
    if len(raw) > _MAX_HASH:
        raise ImportFormatError(f"{where} is longer than {_MAX_HASH} bytes")
    return raw


def _payload(record: dict[str, Any], codec: str, where: str) -> str | bytes:
    if codec in (JSON, UNSERIALISABLE):
        if "value_json" in record:
            payload: str | bytes = text(record["value_json"], f"{where}: 'value_json'")
            if not payload.isascii():  # stored JSON is ASCII (readers decode it as such)
                raise ImportFormatError(f"{where}: 'value_json' is not ASCII JSON text")
        elif "value" not in record:
            raise ImportFormatError(f"{where}: a {codec} node needs 'value' or 'value_json'")
        else:
            try:
                payload = _STORED_JSON.encode(record["value"])
            except (TypeError, ValueError, RecursionError) as exc:
                raise ImportFormatError(f"{where}: 'value' cannot be stored: {exc}") from None
            text(payload, f"{where}: 'value'")
    else:
        encoded = record.get("value_b64")
        if not isinstance(encoded, str):
            raise ImportFormatError(f"{where}: a {codec} node needs a base64 'value_b64'")
        try:
            payload = base64.b64decode(encoded.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise ImportFormatError(f"{where}: 'value_b64' is not base64: {exc}") from None
    if codec in (JSON, UNSERIALISABLE, NPY, REGISTERED):
        try:
            # What a reader will do with it: a value it cannot read back is refused now.
            # (json, npy with allow_pickle=False and a registered record's data run no code;
            # pickles are never decoded, registered serialisers never called here.)
            if codec == REGISTERED:
                read_registered(payload)
            else:
                decode(codec, payload)
        except Exception as exc:  # any failure of a parser fed hostile bytes means "refuse"
            raise ImportFormatError(f"{where}: the {codec} value cannot be read: {exc}") from None
    return payload


def _blob(record: dict[str, Any], codec: str, payload: str | bytes, where: str) -> bool:
    """Where the payload goes: as the file says, else as the writer would have put it."""
    blob = record.get("blob")
    if blob is None:
        return codec in (NPY, BYTES) or len(payload) > INLINE_LIMIT
    if not isinstance(blob, bool):
        raise ImportFormatError(f"{where}: 'blob' must be true or false")
    return blob


def node(record: Any, index: int, trust: bool) -> Node:
    """Check ``nodes[index]``; a pickle becomes ``pickle-untrusted`` unless ``trust``."""
    where = f"nodes[{index}]"
    if not isinstance(record, dict):
        raise ImportFormatError(f"{where}: expected an object, not {_short(record)}")
    raw, canonical = uuid(record.get("uuid"), f"{where}: 'uuid'")
    where = f"nodes[{index}] (uuid {canonical})"
    pk = record.get("pk")
    if pk is not None and (isinstance(pk, bool) or not isinstance(pk, int)):
        raise ImportFormatError(f"{where}: 'pk' must be an integer")
    kind_name = record.get("kind")
    if not isinstance(kind_name, str) or kind_name not in KIND_CODES:
        raise ImportFormatError(f"{where}: 'kind' must be one of {list(KIND_CODES)}")
    is_data = kind_name == Kind.DATA
    type_ = text(record.get("type"), f"{where}: 'type'", _MAX_TYPE, plain=True)
    if not type_:
        raise ImportFormatError(f"{where}: 'type' is empty")
    state_name = record.get("state")
    if is_data and state_name is not None:
        raise ImportFormatError(f"{where}: a data node has no 'state'")
    if not is_data and (not isinstance(state_name, str) or state_name not in STATE_CODES):
        raise ImportFormatError(f"{where}: 'state' must be one of {list(STATE_CODES)}")
    ctime = _time(record.get("ctime"), f"{where}: 'ctime'")
    mtime = record.get("mtime")
    hash_hex = record.get("hash")
    run = record.get("run")
    cached_from = record.get("cached_from")
    codec = record.get("codec")
    payload: str | bytes | None = None
    blob = False
    if is_data:
        if not isinstance(codec, str) or codec not in CODECS:
            raise ImportFormatError(f"{where}: unknown value codec {_short(codec)}")
        if codec in (PICKLE, PICKLE_UNTRUSTED):
            codec = PICKLE if trust else PICKLE_UNTRUSTED
        payload = _payload(record, codec, where)
        blob = _blob(record, codec, payload, where)
    elif codec is not None:
        raise ImportFormatError(f"{where}: a process node has no codec")
    if is_data and (hash_hex is not None or cached_from is not None):
        raise ImportFormatError(f"{where}: only a process has a cache key or 'cached_from'")
    if is_data and ("user_label" in record or "description" in record):
        raise ImportFormatError(f"{where}: only a process has a 'user_label' or 'description'")
    if not is_data and "extras" in record:
        raise ImportFormatError(f"{where}: only a data node has 'extras'")
    if is_data and ("output" in record or "output_dropped" in record):
        raise ImportFormatError(f"{where}: only a process has an 'output'")
    dropped = record.get("output_dropped", 0)
    if isinstance(dropped, bool) or not isinstance(dropped, int) or not 0 <= dropped < 2**63:
        raise ImportFormatError(f"{where}: 'output_dropped' must be a count, not {_short(dropped)}")
    return Node(
        where=where,
        uuid=raw,
        text=canonical,
        kind=KIND_CODES[kind_name],
        type=type_,
        label=_opt_text(record, "label", where),
        state=None if state_name is None else STATE_CODES[state_name],
        error=_opt_text(record, "error", where),
        run=None if run is None else uuid(run, f"{where}: 'run'")[1],
        ctime=ctime,
        mtime=None if mtime is None else _time(mtime, f"{where}: 'mtime'"),
        hash=None if hash_hex is None else hex_bytes(hash_hex, f"{where}: 'hash'"),
        cached_from=(
            None if cached_from is None else uuid(cached_from, f"{where}: 'cached_from'")[1]
        ),
        codec=codec,
        blob=blob,
        payload=payload,
        extras=_extras(record.get("extras"), where),
        user_label=_opt_text(record, "user_label", where),
        description=_opt_text(record, "description", where),
        output=_opt_text(record, "output", where),
        output_dropped=dropped,
    )


def _extras(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    """A node's ``extras``: an object with string keys and JSON values, kept as JSON text."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ImportFormatError(f"{where}: 'extras' must be an object, not {_short(value)}")
    pairs = []
    for key, item in value.items():
        text(key, f"{where}: an 'extras' key")
        try:
            encoded = json.dumps(item)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ImportFormatError(f"{where}: extra {key!r} cannot be stored: {exc}") from None
        pairs.append((key, text(encoded, f"{where}: extra {key!r}")))
    return tuple(pairs)


def link(record: Any, index: int) -> Link:
    """Check ``links[index]``."""
    where = f"links[{index}]"
    if not isinstance(record, dict):
        raise ImportFormatError(f"{where}: expected an object, not {_short(record)}")
    link_type = record.get("type")
    if not isinstance(link_type, str) or link_type not in LINK_CODES:
        raise ImportFormatError(f"{where}: unknown link type {_short(link_type)}")
    label = text(record.get("label"), f"{where}: 'label'", _MAX_TYPE)
    src = uuid(record.get("src"), f"{where}: 'src'")[1]
    dst = uuid(record.get("dst"), f"{where}: 'dst'")[1]
    return Link(f"{where} ({link_type} {src} -> {dst})", src, dst, LINK_CODES[link_type], label)


def code_rows(records: Any) -> list[Code]:
    """The file's ``"code"`` rows; a missing member is none. One digest per type."""
    if records is None:
        return []
    if not isinstance(records, list):
        raise ImportFormatError("'code' must be a list")
    rows: dict[str, Code] = {}
    for index, record in enumerate(records):
        where = f"code[{index}]"
        if not isinstance(record, dict):
            raise ImportFormatError(f"{where}: expected an object, not {_short(record)}")
        type_ = record.get("type")
        if not isinstance(type_, str) or not type_:
            raise ImportFormatError(f"{where}: 'type' must be a non-empty string")
        text(type_, f"{where}: 'type'", _MAX_TYPE, plain=True)
        where = f"code[{index}] ({type_})"
        digest = hex_bytes(record.get("digest"), f"{where}: 'digest'")
        seen = rows.get(type_)
        if seen is not None and seen.digest != digest:
            raise ImportFormatError(f"{where}: a second, different digest ({seen.where})")
        rows[type_] = Code(where, type_, digest)
    return list(rows.values())

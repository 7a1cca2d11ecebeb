"""Loading a native JSON export (:mod:`.native`) into a store, keeping every uuid.

Rules, and why:

* **uuids are identity.** A node whose uuid the store already holds is skipped (the stored row
  wins; only its missing cache columns are filled in, see below), so importing a file twice, or
  two files sharing nodes, never duplicates anything; links are inserted with ``INSERT OR
  IGNORE`` for the same reason. New nodes get fresh pks from :meth:`Store.new_pk`, the store's
  own allocator, so they never collide with rows the engine writes.
* **Caching and restart survive the move.** A node's ``hash`` (cache key) is stored as it is;
  its ``cached_from`` (a uuid in the file) becomes the pk of that node in *this* store, found
  among the file's nodes or the store's. If the store does not hold that uuid (the run that was
  reused was not imported, or not yet), ``cached_from`` is stored as ``NULL``, never as a
  guessed pk: the node then looks like an original task run, and its own ``hash`` still serves
  cache hits (a hit has output nodes of its own). The file's ``"code"`` rows are stored for the
  run's pk in this store (``INSERT OR IGNORE``: no duplicates). For nodes the store already
  holds, only a missing (``NULL``) ``hash`` or ``cached_from`` is filled in from the file, so
  importing a file again after importing the run it reused links the two, and a newer export of
  a run imported from an older file (without these fields) completes it. Files without ``hash``,
  ``cached_from`` or ``"code"`` (older exports) import as runs without them.
* **Cache keys only from a trusted file.** A ``hash`` says "these outputs are what this
  function makes of these inputs"; the store serves them to every later run with that key. A
  file can claim any key for any outputs (and name the uuid of a node of this store to fill in),
  so without ``trust=True`` no ``hash`` or ``cached_from`` is imported or filled in
  (:attr:`ImportResult.keys_dropped` counts the nodes that had them). The ``code`` rows are
  imported either way: restarting an imported run computes its keys from its stored inputs and
  those digests, which only affects the run the user chose to restart.
* **Nothing is unpickled, ever, unless asked.** Without ``trust=True`` a ``pickle`` payload is
  stored as ``pickle-untrusted``: same bytes, but :func:`ferroflow.store.values.decode` refuses
  it with :class:`~ferroflow.store.UntrustedValueError`, so reading the imported node's
  ``.value`` cannot run code chosen by whoever wrote the file. The import itself only parses
  JSON and base64. ``trust=True`` stores such payloads as plain ``pickle`` (and lifts the mark
  from ``pickle-untrusted`` payloads in the file). ``npy`` payloads are safe either way (read
  with ``allow_pickle=False``).
* **All or nothing.** The file is parsed and checked completely first; then the rows (nodes,
  links, code rows, filled-in cache columns) are written through a separate SQLite connection in
  one ``BEGIN IMMEDIATE`` transaction, after ``store.flush()``. The store's background writer
  has its own connection; SQLite serialises the two (the writer waits on its busy timeout while
  the import commits). pks are allocated *before* the transaction, because allocating may itself
  need the file's write lock.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from ..errors import ImportFormatError
from ..model.vocabulary import Kind
from ..store import Store
from ..store.node_record import uuid_text
from ..store.schema import KIND_CODES, LINK_CODES, STATE_CODES
from ..store.values import (
    BYTES,
    CODECS,
    INLINE_LIMIT,
    JSON,
    NPY,
    PICKLE,
    PICKLE_UNTRUSTED,
    UNSERIALISABLE,
    digest,
)
from .native import FORMAT, VERSION

__all__ = ["ImportFormatError", "ImportResult", "import_run"]

_CHUNK = 500
_STORED_JSON = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=True)
_NODE_SQL = (
    "INSERT INTO node(pk, uuid, kind, type, label, state, error, run_pk, ctime, mtime, codec,"
    " value, blob_id, hash, cached_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass
class ImportResult:
    """What an import did. ``pks`` maps every uuid of the file to its pk in the store."""

    run_pk: int
    created: int = 0
    skipped: int = 0
    links: int = 0
    untrusted: int = 0
    pks: dict[str, int] = field(default_factory=dict)
    #: rows added to the ``code`` table (0 when the store had them, or the file has none)
    code: int = 0
    #: nodes the store already held whose missing ``hash`` or ``cached_from`` the file filled
    filled: int = 0
    #: nodes whose ``hash``/``cached_from`` were left out because the file was not trusted
    keys_dropped: int = 0


@dataclass
class _Node:
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


def _uuid(value: Any, where: str) -> tuple[bytes, str]:
    if not isinstance(value, str):
        raise ImportFormatError(f"{where}: uuid must be a string, not {value!r}")
    digits = value.replace("-", "").lower()
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raw = b""
    if len(raw) != 16:
        raise ImportFormatError(f"{where}: {value!r} is not a uuid")
    return raw, uuid_text(raw)


def _object(record: Any, where: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise ImportFormatError(f"{where}: expected an object")
    return record


def _list(records: Any, name: str) -> list[Any]:
    if not isinstance(records, list):
        raise ImportFormatError(f"{name!r} must be a list")
    return records


def _text(record: dict[str, Any], key: str, where: str) -> str:
    value = record.get(key)
    if not isinstance(value, str):
        raise ImportFormatError(f"{where}: {key!r} must be a string")
    return value


def _opt(record: dict[str, Any], key: str, types: type | tuple[type, ...], where: str) -> Any:
    """``record[key]`` if missing/``None`` or of ``types`` (never ``bool`` for numbers)."""
    value = record.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
        raise ImportFormatError(f"{where}: {key!r} has the wrong type ({value!r})")
    return value


def _payload(record: dict[str, Any], codec: str, where: str) -> str | bytes | None:
    if codec in (JSON, UNSERIALISABLE):
        if "value_json" in record:
            text = record["value_json"]
            if not isinstance(text, str):
                raise ImportFormatError(f"{where}: 'value_json' must be a string")
            try:
                json.loads(text)
            except ValueError as exc:
                raise ImportFormatError(f"{where}: 'value_json' is not JSON: {exc}") from None
            return text
        if "value" not in record:
            raise ImportFormatError(f"{where}: a {codec} node needs 'value' or 'value_json'")
        try:
            return _STORED_JSON.encode(record["value"])
        except (TypeError, ValueError) as exc:
            raise ImportFormatError(f"{where}: 'value' cannot be stored: {exc}") from None
    text = record.get("value_b64")
    if not isinstance(text, str):
        raise ImportFormatError(f"{where}: a {codec} node needs a base64 'value_b64'")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ImportFormatError(f"{where}: 'value_b64' is not base64: {exc}") from None


def _blob(
    record: dict[str, Any], codec: str | None, payload: str | bytes | None, where: str
) -> bool:
    """Where the payload goes: as the file says, else as the writer would have put it."""
    blob = record.get("blob")
    if blob is None:
        return payload is not None and (codec in (NPY, BYTES) or len(payload) > INLINE_LIMIT)
    if not isinstance(blob, bool):
        raise ImportFormatError(f"{where}: 'blob' must be true or false")
    return blob


def _node(record: Any, index: int, trust: bool) -> _Node:
    where = f"node #{index}"
    record = _object(record, where)
    raw, text = _uuid(record.get("uuid"), where)
    where = f"node {text}"
    kind_name = record.get("kind")
    if kind_name not in KIND_CODES:
        raise ImportFormatError(f"{where}: kind must be one of {list(KIND_CODES)}")
    type_ = _text(record, "type", where)
    state_name = record.get("state")
    if state_name is not None and state_name not in STATE_CODES:
        raise ImportFormatError(f"{where}: unknown state {state_name!r}")
    ctime = record.get("ctime")
    if isinstance(ctime, bool) or not isinstance(ctime, (int, float)):
        raise ImportFormatError(f"{where}: 'ctime' must be a number")
    hash_hex = _opt(record, "hash", str, where)
    try:
        hash_ = None if hash_hex is None else bytes.fromhex(hash_hex)
    except ValueError:
        raise ImportFormatError(f"{where}: 'hash' is not hex") from None
    codec = record.get("codec")
    payload: str | bytes | None = None
    if kind_name == Kind.DATA:
        if codec not in CODECS:
            raise ImportFormatError(f"{where}: unknown value codec {codec!r}")
        if codec in (PICKLE, PICKLE_UNTRUSTED):
            codec = PICKLE if trust else PICKLE_UNTRUSTED
        payload = _payload(record, codec, where)
    elif codec is not None:
        raise ImportFormatError(f"{where}: a process node has no codec")
    run = _opt(record, "run", str, where)
    cached_from = _opt(record, "cached_from", str, where)
    return _Node(
        uuid=raw,
        text=text,
        kind=KIND_CODES[kind_name],
        type=type_,
        label=_opt(record, "label", str, where),
        state=None if state_name is None else STATE_CODES[state_name],
        error=_opt(record, "error", str, where),
        run=None if run is None else _uuid(run, where)[1],
        ctime=float(ctime),
        mtime=_opt(record, "mtime", (int, float), where),
        hash=hash_,
        cached_from=None if cached_from is None else _uuid(cached_from, where)[1],
        codec=codec,
        blob=_blob(record, codec, payload, where),
        payload=payload,
    )


def _links(records: Any) -> Iterator[tuple[str, str, int, str]]:
    for index, record in enumerate(_list(records, "links")):
        where = f"link #{index}"
        record = _object(record, where)
        link_type = record.get("type")
        if link_type not in LINK_CODES:
            raise ImportFormatError(f"{where}: unknown link type {link_type!r}")
        label = _text(record, "label", where)
        src = _uuid(record.get("src"), where)[1]
        dst = _uuid(record.get("dst"), where)[1]
        yield src, dst, LINK_CODES[link_type], label


def _code(records: Any) -> list[tuple[str, bytes]]:
    """The file's ``"code"`` rows as ``(process_type, digest)``; a missing member is none."""
    if records is None:
        return []
    rows: list[tuple[str, bytes]] = []
    for index, record in enumerate(_list(records, "code")):
        where = f"code row #{index}"
        record = _object(record, where)
        type_ = record.get("type")
        if not isinstance(type_, str) or not type_:
            raise ImportFormatError(f"{where}: 'type' must be a non-empty string")
        text = record.get("digest")
        try:
            code_digest = bytes.fromhex(text) if isinstance(text, str) else b""
        except ValueError:
            code_digest = b""
        if not code_digest:
            raise ImportFormatError(f"{where} ({type_}): 'digest' must be non-empty hex")
        rows.append((type_, code_digest))
    return rows


def _existing(conn: sqlite3.Connection, uuids: Sequence[bytes]) -> dict[bytes, int]:
    found: dict[bytes, int] = {}
    for start in range(0, len(uuids), _CHUNK):
        chunk = uuids[start : start + _CHUNK]
        sql = f"SELECT uuid, pk FROM node WHERE uuid IN ({', '.join('?' * len(chunk))})"
        for raw, pk in conn.execute(sql, chunk):
            found[bytes(raw)] = pk
    return found


def _read(source: str | os.PathLike[str] | IO[str]) -> dict[str, Any]:
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, encoding="utf-8") as fp:
                document = json.load(fp)
        else:
            document = json.load(source)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(f"not a JSON file: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ImportFormatError(f'not a ferroflow export (no "format": "{FORMAT}")')
    if document.get("version") != VERSION:
        raise ImportFormatError(
            f"export format version {document.get('version')!r}; this ferroflow reads {VERSION}"
        )
    return document


def import_run(
    store: Store, source: str | os.PathLike[str] | IO[str], trust: bool = False
) -> ImportResult:
    """Import a native JSON export into ``store``; see the module docstring for the rules.

    ``source`` is a path or an open text file. Returns an :class:`ImportResult` whose
    ``run_pk`` is the pk of the exported run in ``store``. Raises :class:`ImportFormatError` for
    a malformed file (nothing is written then).
    """
    document = _read(source)
    records = _list(document.get("nodes"), "nodes")
    nodes = [_node(record, index, trust) for index, record in enumerate(records)]
    keys_dropped = 0
    if not trust:  # see "Cache keys only from a trusted file"
        for node in nodes:
            if node.hash is not None or node.cached_from is not None:
                keys_dropped += 1
                node.hash = node.cached_from = None
    links = list(_links(document.get("links", [])))
    code_rows = _code(document.get("code"))
    run_text = _uuid(document.get("run"), "'run'")[1]

    store.flush()  # rows the engine queued are on disk before we look for existing uuids
    conn = sqlite3.connect(store.path, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        existing = _existing(conn, [node.uuid for node in nodes])
        # Allocate before BEGIN IMMEDIATE: new_pk() may need the write lock for a new block.
        planned = {node.text: store.new_pk() for node in nodes if node.uuid not in existing}
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = _write(conn, nodes, links, code_rows, run_text, planned)
            result.keys_dropped = keys_dropped
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    return result


def _write(
    conn: sqlite3.Connection,
    nodes: list[_Node],
    links: list[tuple[str, str, int, str]],
    code_rows: list[tuple[str, bytes]],
    run_text: str,
    planned: dict[str, int],
) -> ImportResult:
    # Checked again inside the transaction: another writer may have added some meanwhile.
    existing = _existing(conn, [node.uuid for node in nodes])
    pks = {node.text: existing[node.uuid] for node in nodes if node.uuid in existing}
    new = [node for node in nodes if node.uuid not in existing]
    pks.update({node.text: planned[node.text] for node in new})

    def resolve(text: str | None, required: str | None = None) -> int | None:
        if text is None:
            return None
        pk = pks.get(text)
        if pk is None:
            found = _existing(conn, [bytes.fromhex(text.replace("-", ""))])
            pk = next(iter(found.values()), None)
            if pk is None and required is not None:
                raise ImportFormatError(f"{required}: {text} is neither in the file nor the store")
            if pk is not None:
                pks[text] = pk
        return pk

    if run_text not in pks:
        raise ImportFormatError(f"the run {run_text} is not among the file's nodes")
    result = ImportResult(run_pk=pks[run_text], skipped=len(nodes) - len(new))
    for node in new:
        inline: str | bytes | None = node.payload
        blob_id: int | None = None
        if node.blob and node.payload is not None and node.codec is not None:
            data = node.payload.encode("ascii") if isinstance(node.payload, str) else node.payload
            key = digest(node.codec, data)
            conn.execute(
                "INSERT OR IGNORE INTO blob(digest, size, codec, data) VALUES (?, ?, ?, ?)",
                (key, len(data), node.codec, data),
            )
            blob_id = conn.execute("SELECT id FROM blob WHERE digest = ?", (key,)).fetchone()[0]
            inline = None
        run_pk = resolve(node.run, f"node {node.text} 'run'")
        conn.execute(
            _NODE_SQL,
            (
                pks[node.text], node.uuid, node.kind, node.type, node.label, node.state,
                node.error, run_pk, node.ctime, node.mtime, node.codec, inline, blob_id,
                node.hash, resolve(node.cached_from),
            ),
        )  # fmt: skip
        result.created += 1
        result.untrusted += node.codec == PICKLE_UNTRUSTED
    for src, dst, code, label in links:
        where = f"link {src} -> {dst}"
        cursor = conn.execute(
            "INSERT OR IGNORE INTO link(src, dst, type, label) VALUES (?, ?, ?, ?)",
            (resolve(src, where), resolve(dst, where), code, label),
        )
        result.links += cursor.rowcount  # 0 when the store had the link already
    added = {node.text for node in new}
    for node in nodes:  # nodes the store had: fill in only what it lacks
        if node.text in added or (node.hash is None and node.cached_from is None):
            continue
        pk = pks[node.text]
        cached_from = resolve(node.cached_from)
        changed = 0
        if node.hash is not None:
            sql = "UPDATE node SET hash = ? WHERE pk = ? AND hash IS NULL"
            changed += conn.execute(sql, (node.hash, pk)).rowcount
        if cached_from is not None:
            sql = "UPDATE node SET cached_from = ? WHERE pk = ? AND cached_from IS NULL"
            changed += conn.execute(sql, (cached_from, pk)).rowcount
        result.filled += changed > 0
    for process_type, code_digest in code_rows:
        cursor = conn.execute(
            "INSERT OR IGNORE INTO code(run_pk, type, digest) VALUES (?, ?, ?)",
            (result.run_pk, process_type, code_digest),
        )
        result.code += cursor.rowcount
    result.pks = pks
    return result

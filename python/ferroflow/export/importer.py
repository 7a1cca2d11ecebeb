"""Loading a native JSON export (:mod:`.native`) into a store, keeping every uuid.

Rules, and why:

* **uuids are identity.** A node whose uuid the store already holds (with the same content,
  see "Only additions") is skipped (only its missing cache columns may be filled in, with
  ``trust=True``, see below), so importing a file twice, or
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
* **Only additions.** An import adds the nodes and links of its file and nothing else: a
  node the store already holds must be stated exactly as stored (kind, type, label, state,
  error, run, times, codec and value; a ``pickle`` matches its ``pickle-untrusted`` copy), or
  the file is refused; so is a new node of a run the store already holds (no task is added to
  a stored run), and a link into a stored node unless the store holds that very link (no input
  is added to a stored task run, no second creator to a stored value). A new link *from* a
  stored data node into a new process (the file's run used a value of this store) is an
  addition and allowed. Code rows of a stored run are only added with ``trust=True``.
* **Checked before anything is written.** Every field (:mod:`.import_records`) and AiiDA's
  link rules (:mod:`.import_rules`) are checked on the whole file first; a bad file is refused
  whole with an :class:`ImportFormatError` naming the record (``nodes[17] (uuid …): …``).
* **Imported runs are marked.** A run the import creates gets a row in ``imported_run``: its
  ``process_type`` names a module chosen by whoever wrote the file, so ``restart`` and ``cache
  why`` do not import it by that name (:func:`ferroflow.restart.find_graph`).
* **All or nothing.** The rows (nodes,
  links, code rows, filled-in cache columns) are written through a separate SQLite connection in
  one ``BEGIN IMMEDIATE`` transaction, after ``store.flush()``; the checks against the store
  run inside it. The store's background writer
  has its own connection; SQLite serialises the two (the writer waits on its busy timeout while
  the import commits). pks are allocated *before* the transaction, because allocating may itself
  need the file's write lock.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from ..errors import ImportFormatError
from ..store import Store, graph_read, packed_read
from ..store.annotations import INSERT_EXTRA_SQL, INSERT_TEXT_SQL
from ..store.schema import INPUT_LINKS, LINK_CODES
from ..store.task_output import INSERT_OUTPUT_SQL
from ..store.values import PICKLE, PICKLE_UNTRUSTED, digest
from .import_records import Code, Link, Node, code_rows, link, node, uuid
from .import_rules import check_file
from .jsonread import read_object
from .native import FORMAT, VERSION

__all__ = ["ImportFormatError", "ImportResult", "import_run"]

_CHUNK = 500
_NODE_SQL = (
    "INSERT INTO node(pk, uuid, kind, type, label, state, error, run_pk, ctime, mtime, codec,"
    " value, blob_id, hash, cached_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_STORED_SQL = (
    "SELECT n.uuid, n.pk, n.kind, n.type, n.label, n.state, n.error, r.uuid, n.ctime, n.mtime,"
    " n.codec, coalesce(n.value, b.data), n.hash, c.uuid FROM node n"
    " LEFT JOIN node r ON r.pk = n.run_pk LEFT JOIN blob b ON b.id = n.blob_id"
    " LEFT JOIN node c ON c.pk = n.cached_from WHERE n.uuid IN ({})"
)
_INPUTS = {LINK_CODES[name] for name in INPUT_LINKS}
_COLUMNS = ("kind", "type", "label", "state", "error", "run", "ctime", "mtime", "codec", "value")


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
class _Stored:
    """A node row of the store, in the terms of the file (uuid texts, bytes payload)."""

    pk: int
    values: tuple[Any, ...]  # in the order of _COLUMNS
    hash: bytes | None
    cached_from: str | None


def _as_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _uuid_text(raw: Any) -> str | None:
    return None if raw is None else uuid(bytes(raw).hex(), "stored uuid")[1]


def _codec_family(codec: str | None) -> str | None:
    return PICKLE if codec == PICKLE_UNTRUSTED else codec


def _file_values(node: Node) -> tuple[Any, ...]:
    return (
        node.kind, node.type, node.label, node.state, node.error, node.run, node.ctime,
        node.mtime, _codec_family(node.codec), _as_bytes(node.payload),
    )  # fmt: skip


def _stored(conn: sqlite3.Connection, uuids: Sequence[bytes]) -> dict[bytes, _Stored]:
    found: dict[bytes, _Stored] = {}
    for start in range(0, len(uuids), _CHUNK):
        chunk = uuids[start : start + _CHUNK]
        sql = _STORED_SQL.format(", ".join("?" * len(chunk)))
        for row in conn.execute(sql, chunk):
            raw, pk, kind, type_, label, state, error, run, ctime, mtime, codec = row[:11]
            payload, hash_, cached_from = row[11:]
            values = (
                kind, type_, label, state, error, _uuid_text(run), ctime, mtime,
                _codec_family(codec), _as_bytes(payload),
            )  # fmt: skip
            found[bytes(raw)] = _Stored(pk, values, _as_bytes(hash_), _uuid_text(cached_from))
    missing = [uuid for uuid in uuids if bytes(uuid) not in found]
    if missing and packed_read.has_packed(_query(conn)):
        found.update(_stored_packed(conn, missing))
    return found


def _query(conn: sqlite3.Connection) -> graph_read.Query:
    def query(sql: str, params: Sequence[Any]) -> list[Any]:
        return conn.execute(sql, tuple(params)).fetchall()

    return query


def _stored_packed(conn: sqlite3.Connection, uuids: list[Any]) -> dict[bytes, _Stored]:
    """:func:`_stored` of the nodes packed task runs stand for (``docs/packed-task-runs.md``):
    read through the reading layer, by uuid (a packed node's uuid derives from its row's)."""
    query = _query(conn)
    found: dict[bytes, _Stored] = {}
    for wanted in uuids:
        rows = graph_read.node_rows_by_uuid(query, bytes(wanted).hex())
        if not rows:
            continue
        pk, raw, kind, type_, label, state, error, run_pk, ctime, mtime, codec, _ = rows[0]
        _, payload, _ = graph_read.value_parts_of(query, pk) or (None, None, None)
        key, _ = graph_read.cache_fields(query, pk) or (None, None)
        run = None if run_pk is None else graph_read.node_row(query, run_pk)
        values = (
            kind, type_, label, state, error, _uuid_text(None if run is None else run[1]),
            ctime, mtime, _codec_family(codec), _as_bytes(payload),
        )  # fmt: skip
        found[bytes(raw)] = _Stored(pk, values, _as_bytes(key), None)
    return found


@dataclass
class _File:
    run: str
    nodes: list[Node]
    links: list[Link]
    code: list[Code]
    keys_dropped: int


def _read(source: str | os.PathLike[str] | IO[str], trust: bool) -> _File:
    """The file, read piece by piece (:mod:`.jsonread`: each node and link record becomes the
    importer's own compact record as soon as it is decoded), every record checked
    (:mod:`.import_records`), then the file's graph (:mod:`.import_rules`)."""
    nodes: list[Node] = []
    links: list[Link] = []
    streams = {
        "nodes": lambda record, index: nodes.append(node(record, index, trust)),
        "links": lambda record, index: links.append(link(record, index)),
    }
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, encoding="utf-8") as fp:
                document = read_object(fp, streams)
        else:
            document = read_object(source, streams)
    except ImportFormatError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ImportFormatError(f"not a JSON file: {exc}") from None
    if document.get("format") != FORMAT:
        raise ImportFormatError(f'not a ferroflow export (no "format": "{FORMAT}")')
    if document.get("version") != VERSION:
        raise ImportFormatError(
            f"export format version {document.get('version')!r}; this ferroflow reads {VERSION}"
        )
    if not isinstance(document.get("nodes"), list):
        raise ImportFormatError("'nodes' must be a list")
    if not isinstance(document.get("links", []), list):
        raise ImportFormatError("'links' must be a list")
    code = code_rows(document.get("code"))
    run = uuid(document.get("run"), "'run'")[1]
    check_file(run, nodes, links)
    keys_dropped = 0
    if not trust:  # see "Cache keys only from a trusted file"
        for item in nodes:
            if item.hash is not None or item.cached_from is not None:
                keys_dropped += 1
                item.hash = item.cached_from = None
    return _File(run, nodes, links, code, keys_dropped)


def import_run(
    store: Store, source: str | os.PathLike[str] | IO[str], trust: bool = False
) -> ImportResult:
    """Import a native JSON export into ``store``; see the module docstring for the rules.

    ``source`` is a path or an open text file. Returns an :class:`ImportResult` whose
    ``run_pk`` is the pk of the exported run in ``store``. Raises :class:`ImportFormatError` for
    a malformed file, or one that would change what the store holds (nothing is written then).
    """
    file = _read(source, trust)
    store.flush()  # rows the engine queued are on disk before we look for existing uuids
    conn = sqlite3.connect(store.path, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        existing = _stored(conn, [item.uuid for item in file.nodes])
        # Allocate before BEGIN IMMEDIATE: new_pk() may need the write lock for a new block.
        planned = {item.text: store.new_pk() for item in file.nodes if item.uuid not in existing}
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = _write(conn, file, planned, trust)
            result.keys_dropped = file.keys_dropped
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    return result


def _check_against_store(file: _File, existing: dict[bytes, _Stored], trust: bool) -> bool:
    """Refuse a file that would change or extend anything the store holds (see "Only
    additions"); runs inside the import's transaction."""
    for item in file.nodes:
        stored = existing.get(item.uuid)
        if stored is None:
            continue
        mine = _file_values(item)
        for column, a, b in zip(_COLUMNS, mine, stored.values, strict=True):
            if a != b:
                raise ImportFormatError(
                    f"{item.where}: the store holds this uuid with another {column}: an import "
                    f"only adds nodes, it never changes one"
                )
        if trust and item.hash is not None and stored.hash not in (None, item.hash):
            raise ImportFormatError(f"{item.where}: the store holds another cache key for it")
    root_known = any(item.text == file.run and item.uuid in existing for item in file.nodes)
    if root_known:  # check_file made every process of the file one of this run's
        for item in file.nodes:
            if item.uuid not in existing and item.run == file.run:
                raise ImportFormatError(
                    f"{item.where}: a new node of run {file.run}, which the store already "
                    f"holds: an import never adds to a stored run"
                )
    return root_known


def _packed_link(conn: sqlite3.Connection, src: int, dst: int, item: Link) -> bool:
    """Whether a packed task run stands for the link ``src --item--> dst``."""
    query = _query(conn)
    if not packed_read.has_packed(query):
        return False
    return any(
        link.src == src and LINK_CODES[link.type] == item.type and link.label == item.label
        for link in graph_read.links(query, [dst], True)
    )


def _check_links(
    conn: sqlite3.Connection, links: list[Link], known: dict[str, int], new: set[str]
) -> list[Link]:
    """The links to insert; refuses one that would reach into a stored node."""
    added: list[Link] = []
    for item in links:
        if item.src in new and item.dst in new:
            added.append(item)
            continue
        row = conn.execute(
            "SELECT 1 FROM link WHERE src = ? AND dst = ? AND type = ? AND label = ?",
            (known[item.src], known[item.dst], item.type, item.label),
        ).fetchone()
        if row is not None or _packed_link(conn, known[item.src], known[item.dst], item):
            continue  # the store holds this very link
        if item.dst not in new:
            raise ImportFormatError(
                f"{item.where}: a new link into a node the store already holds (an import "
                f"never adds inputs, creators, callers or outputs to stored nodes)"
            )
        if item.type not in _INPUTS:
            raise ImportFormatError(
                f"{item.where}: a stored node can only be an input of a new process"
            )
        added.append(item)
    return added


def _write(
    conn: sqlite3.Connection, file: _File, planned: dict[str, int], trust: bool
) -> ImportResult:
    nodes = file.nodes
    # Checked again inside the transaction: another writer may have added some meanwhile.
    existing = _stored(conn, [item.uuid for item in nodes])
    root_known = _check_against_store(file, existing, trust)
    pks = {item.text: existing[item.uuid].pk for item in nodes if item.uuid in existing}
    new = [item for item in nodes if item.uuid not in existing]
    pks.update({item.text: planned[item.text] for item in new})
    links = _check_links(conn, file.links, pks, {item.text for item in new})
    code = _check_code(conn, file, pks[file.run], root_known, trust)

    def resolve(text: str | None) -> int | None:
        if text is None:
            return None
        pk = pks.get(text)
        if pk is None:
            found = _stored(conn, [bytes.fromhex(text.replace("-", ""))])
            pk = next((row.pk for row in found.values()), None)
            if pk is not None:
                pks[text] = pk
        return pk

    result = ImportResult(run_pk=pks[file.run], skipped=len(nodes) - len(new))
    for item in new:
        inline: str | bytes | None = item.payload
        blob_id: int | None = None
        if item.blob and item.payload is not None and item.codec is not None:
            data = _as_bytes(item.payload) or b""
            key = digest(item.codec, data)
            conn.execute(
                "INSERT OR IGNORE INTO blob(digest, size, codec, data) VALUES (?, ?, ?, ?)",
                (key, len(data), item.codec, data),
            )
            blob_id = conn.execute("SELECT id FROM blob WHERE digest = ?", (key,)).fetchone()[0]
            inline = None
        conn.execute(
            _NODE_SQL,
            (
                pks[item.text], item.uuid, item.kind, item.type, item.label, item.state,
                item.error, resolve(item.run), item.ctime, item.mtime, item.codec, inline,
                blob_id, item.hash, resolve(item.cached_from),
            ),
        )  # fmt: skip
        for extra, encoded in item.extras:
            conn.execute(INSERT_EXTRA_SQL, (pks[item.text], extra, encoded))
        if item.user_label is not None or item.description is not None:
            conn.execute(INSERT_TEXT_SQL, (pks[item.text], item.user_label, item.description))
        if item.output is not None:
            conn.execute(INSERT_OUTPUT_SQL, (pks[item.text], item.output, item.output_dropped))
        result.created += 1
        result.untrusted += item.codec == PICKLE_UNTRUSTED
    for edge in links:
        conn.execute(
            "INSERT INTO link(src, dst, type, label) VALUES (?, ?, ?, ?)",
            (pks[edge.src], pks[edge.dst], edge.type, edge.label),
        )
        result.links += 1
    if not root_known:  # see "Imported runs are marked"
        conn.execute(
            "INSERT INTO imported_run(run_pk, time) VALUES (?, ?)", (result.run_pk, time.time())
        )
    added = {item.text for item in new}
    for item in nodes:  # nodes the store had: fill in only what it lacks (trusted files only)
        if item.text in added or (item.hash is None and item.cached_from is None):
            continue
        pk = pks[item.text]
        cached_from = resolve(item.cached_from)
        changed = 0
        if item.hash is not None:
            sql = "UPDATE node SET hash = ? WHERE pk = ? AND hash IS NULL"
            changed += conn.execute(sql, (item.hash, pk)).rowcount
            sql = "UPDATE task_run SET hash = ? WHERE pk = ? AND hash IS NULL"
            changed += conn.execute(sql, (item.hash, pk)).rowcount
        if cached_from is not None:
            sql = "UPDATE node SET cached_from = ? WHERE pk = ? AND cached_from IS NULL"
            changed += conn.execute(sql, (cached_from, pk)).rowcount
        result.filled += changed > 0
    for row in code:
        conn.execute(
            "INSERT INTO code(run_pk, type, digest) VALUES (?, ?, ?)",
            (result.run_pk, row.type, row.digest),
        )
        result.code += 1
    result.pks = pks
    return result


def _check_code(
    conn: sqlite3.Connection, file: _File, run_pk: int, existing_run: bool, trust: bool
) -> list[Code]:
    """The code rows to insert: all of a new run's; for a stored run the ones it lacks, and
    only from a trusted file (they decide which results a restart reuses)."""
    rows = conn.execute("SELECT type, digest FROM code WHERE run_pk = ?", (run_pk,)).fetchall()
    stored = {type_: bytes(digest_) for type_, digest_ in rows}
    added: list[Code] = []
    for row in file.code:
        known = stored.get(row.type)
        if known == row.digest:
            continue
        if known is not None:
            raise ImportFormatError(f"{row.where}: the store holds another digest for it")
        if existing_run and not trust:
            raise ImportFormatError(
                f"{row.where}: a code row for run {file.run}, which the store already holds; "
                f"only a trusted import (--trust) completes a stored run"
            )
        added.append(row)
    return added

"""SQLite schema of the provenance store, and the integer codes used in it.

The layout follows shared/design/provenance.md §6: one ``node`` table for data and process nodes,
a ``link`` table ``WITHOUT ROWID`` whose primary key ``(dst, type, label, src)`` serves incoming
lookups and enforces AiiDA's "unique triple" rule, a content-addressed ``blob`` table for large
values, and a ``meta`` table holding the schema version and the pk counter.

Choices worth knowing:

* **uuids are 16-byte BLOBs**, not 36-character TEXT. The uuid index is the largest secondary
  index in the file; 16 bytes instead of 36 roughly halves it, and ``data.new_uuid`` produces
  time-ordered (UUIDv7) values so inserts stay append-mostly. The views ``node_view`` and
  ``link_view`` show the familiar text forms for people using the ``sqlite3`` shell.
* **kind, state and link type are small integers** (the codes below), again for row size; the
  views translate them.
* **Foreign keys are declared for documentation only** (``PRAGMA foreign_keys`` stays off): the
  writer inserts a batch's nodes before its links, and the engine checks AiiDA's link rules
  before it records anything.
* **pks come from a counter row** (``meta`` key ``next_pk``): a store reserves a block of
  consecutive pks with :func:`reserve_pks` (one ``BEGIN IMMEDIATE`` transaction, so two
  processes writing one file never get the same pk) and hands them out from memory. A
  reservation also takes ``max(pk) + 1`` into account, so a file without the row (written by an
  older ferroflow, which seeded an in-memory counter from ``max(pk) + 1``) or a row lagging
  behind the nodes can never produce a duplicate. The row is an additive key of the unchanged
  version-1 layout: older readers ignore it, which is why ``SCHEMA_VERSION`` stays 1.
* ``hash`` of a task-run node is its **cache key** (:mod:`ferroflow.engine.caching`), written
  when the
  task ran with caching on or when a restart computed it; ``cached_from`` is the pk of the node
  whose results a cache hit reused. The ``code`` table keeps the code digest of every task
  function a run used, so the keys of a run recorded *without* caching can be computed later
  (restart). Both are additive (``CREATE TABLE IF NOT EXISTS``, columns that existed from the
  start), which is why ``SCHEMA_VERSION`` stays 1.
* ``run_owner`` holds the process of each run *in progress* (:mod:`ferroflow.store.owners`), so
  a run whose process died can be shown ``KILLED``. The table is additive; the state code 6
  (added later: the views are rebuilt when a file's views predate it) is new to older
  readers, which fail on such a row. Readers name a code they do not know ``UNKNOWN(n)``
  (:func:`state_name`), so the next new state will not break them.
* ``imported_run`` lists the runs an import created (:mod:`ferroflow.export.importer`): their
  stored ``process_type`` names came from someone else's file, so no module is imported by
  such a name unless the user names it (:func:`ferroflow.restart.find_graph`). A local run
  never has a row. Additive like ``run_owner``: ``SCHEMA_VERSION`` stays 1, and a file from
  before it gets the (empty) table when it is opened.
* ``process_text`` holds the ``label`` and ``description`` a task call's ``metadata=`` gave
  (:mod:`ferroflow.model.call_metadata`). The node's own ``label`` column stays the task's
  name in its graph (its CALL link label), which restarts, caches and views key on, so the
  user's label needs a place of its own; few processes have one, hence a side table. Additive:
  ``SCHEMA_VERSION`` stays 1.
* ``extra`` holds data nodes' extras (JSON text, one row per key), set from an output
  annotation's ``meta(extras=...)`` when the task finished (:mod:`.annotations`). Additive like
  ``process_text``.
* ``graph_recipe`` keeps how an explicitly built graph (``WorkGraph(...)``, ``add_task``) was
  wired, one JSON text per run (:mod:`.recipes`): a ``@task.graph`` run is rebuilt by calling
  its function again, an explicit one has no function, so ``WorkGraph.load`` reads this.
  Written only by runs of this store (an import never writes one). Additive.
* ``cancel_request`` holds the runs ``ferroflow runs cancel`` asked to stop
  (:mod:`.cancels`): the process running one polls it and cancels the run as Ctrl-C does. A
  row lives from the request to the run's end (released with its owner row). Additive.
* ``unrun_task`` lists the tasks of a run that never started (skipped after a failure, or
  cancelled; :mod:`.unrun`): AiiDA stores no node for them, yet a failed run's page shows
  them. Additive.
* ``task_output`` keeps what a task run printed and logged (bounded; :mod:`.task_output`), one
  row per process node that wrote anything. Additive.
* ``node_process_ctime`` indexes process nodes (not data: a third of the rows, so a task adds
  one entry, always at the right edge, as ctime grows) by creation time, so "the task runs of
  the last hour" or "the 20 newest task runs" (:mod:`ferroflow.query`) read 20 index entries
  instead of scanning and sorting every node (2 s in a 10M-node store,
  ``benches/reads.py``). Additive: ``CREATE INDEX IF NOT EXISTS`` builds it when an older
  file is first opened (about 2.5 s per 10M nodes, once).
* ``node_cached_from`` and ``node_blob`` index the few nodes that reused a result or keep
  their value in ``blob``, so deleting a run finds who reused its results and which of its
  blobs are still held by an index search instead of three scans of the whole table. Partial,
  so a plain task adds no entry. Additive like ``node_process_ctime``.
* ``node_unfinished`` indexes the process nodes that did not finish by state and run, so "the
  failed tasks" (of a run, or of the whole store) are an index search, not a scan of every node
  (0.5 s at 10M nodes). A task that finishes in the batch that records its start adds no entry
  (the fast lane's always do); one recorded RUNNING in an earlier batch adds one and loses it
  when it finishes. Additive.
* ``task_run`` and ``input_ref`` (version 2): a finished task run **packed** in one row (its
  calc node, inline data nodes pk+1..pk+k whose uuids differ in the last byte, and its links;
  ``docs/packed-task-runs.md``), as 3 nodes' and 3 links' B-tree inserts bound a run with
  provenance. An older ferroflow would miss packed task runs: ``SCHEMA_VERSION`` 2 (older ones
  refuse the file); a version-1 file gets the empty tables and version 2 on open. The reading
  layer answers from both forms; the views are ``UNION ALL`` of both; :func:`reserve_pks`
  counts a row's last inline pk as taken. ``task_run_ctime``: ``node_process_ctime`` of packed
  calc nodes. ``task_run_caller`` holds rows a graph task called (``packed_read.called_by``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping

from ..errors import SchemaVersionError
from ..model.vocabulary import KIND_CODES, LINK_CODES, STATE_CODES, Kind, Link, State
from .packed_read import LAST_PACKED_SQL

__all__ = [
    "CALL_LINKS",
    "INPUT_LINKS",
    "IN_BLOB",
    "KIND_CODES",
    "KIND_NAMES",
    "LINK_CODES",
    "LINK_NAMES",
    "OUTPUT_LINKS",
    "PK_COUNTER",
    "PROCESS_NODE",
    "REUSES_RESULTS",
    "RUN_INPUTS_SQL",
    "RUN_OUTPUTS_SQL",
    "SCHEMA_VERSION",
    "STATE_CODES",
    "STATE_NAMES",
    "TOP_LEVEL_RUN",
    "UNFINISHED_PROCESS",
    "configure_connection",
    "connection_pragmas",
    "initialise",
    "last_pk",
    "release_pks",
    "reserve_pks",
    "sql_codes",
    "state_name",
]

#: Bumped whenever the layout changes; a store written by a newer layout is refused.
SCHEMA_VERSION = 2
#: Versions this ferroflow migrates when it opens them (tables added, nothing rewritten).
_MIGRATES = {1}

KIND_NAMES: dict[int, str] = {code: name for name, code in KIND_CODES.items()}

STATE_NAMES: dict[int, str] = {code: name for name, code in STATE_CODES.items()}


def state_name(code: int) -> str:
    """The name of a stored state code; ``UNKNOWN(n)`` for one a newer ferroflow wrote."""
    return STATE_NAMES.get(code) or f"UNKNOWN({code})"


LINK_NAMES: dict[int, str] = {code: name for name, code in LINK_CODES.items()}

#: Link types by what they say about a process: what it used, what it created or returned, and
#: the processes it called (AiiDA's INPUT, CREATE/RETURN and CALL families).
INPUT_LINKS: tuple[str, ...] = (Link.INPUT_CALC, Link.INPUT_WORK)
OUTPUT_LINKS: tuple[str, ...] = (Link.CREATE, Link.RETURN)
CALL_LINKS: tuple[str, ...] = (Link.CALL_CALC, Link.CALL_WORK)


def sql_codes(codes: Mapping[str, int], names: Iterable[str]) -> str:
    """The codes of ``names`` as the items of an SQL ``IN (…)`` list (``"0, 1"``), so SQL
    written once names states, kinds and links instead of bare numbers; the codes are this
    module's ints, never user text, so formatting them into the statement is safe."""
    return ", ".join(str(codes[name]) for name in names)


#: Top-level graph runs: the condition of the partial index ``node_toplevel``, which a query
#: uses only when its WHERE clause repeats this text.
TOP_LEVEL_RUN = f"kind = {KIND_CODES[Kind.WORK]} AND run_pk = pk"
#: Process nodes: the condition of the partial index ``node_process_ctime`` (process nodes by
#: creation time), which a query uses only when its WHERE clause repeats this text. A query
#: that must not be steered to that index writes the same condition another way.
PROCESS_NODE = f"kind != {KIND_CODES[Kind.DATA]}"
#: Task runs that reused another's results, and nodes whose value lives in the ``blob`` table:
#: the conditions of the partial indexes ``node_cached_from`` and ``node_blob``, which deleting a
#: run reads (who reused its results, which of its blobs someone else still holds). Few rows
#: match, so the indexes cost a write only for cache hits and large values.
REUSES_RESULTS = "cached_from IS NOT NULL"
#: Process nodes that did not finish (failed, excepted, killed, or still running): the
#: condition of the partial index ``node_unfinished``, which "the failed tasks" and "the
#: failed tasks of run N" read; a query uses it only when its WHERE clause repeats this text.
UNFINISHED_PROCESS = f"kind != {KIND_CODES[Kind.DATA]} AND state != {STATE_CODES[State.FINISHED]}"
IN_BLOB = "blob_id IS NOT NULL"

# The data of a run, which its data nodes' ``run_pk`` cannot tell (it is NULL for a run's
# inputs, and values of earlier runs belong to those): what the run's processes used, and what
# they created or returned. One parameter: the run's pk.
_RUN_PROCESS = f"p.run_pk = ? AND p.kind != {KIND_CODES[Kind.DATA]}"
RUN_INPUTS_SQL = (
    "SELECT l.src FROM node p JOIN link l ON l.dst = p.pk"
    f" WHERE {_RUN_PROCESS} AND l.type IN ({sql_codes(LINK_CODES, INPUT_LINKS)})"
)
RUN_OUTPUTS_SQL = (
    "SELECT l.dst FROM node p JOIN link l ON l.src = p.pk"
    f" WHERE {_RUN_PROCESS} AND l.type IN ({sql_codes(LINK_CODES, OUTPUT_LINKS)})"
)


#: ``meta`` key of the pk counter: the first pk no store has reserved yet.
PK_COUNTER = "next_pk"


def _case(column: str, names: dict[int, str]) -> str:
    whens = " ".join(f"WHEN {code} THEN '{name}'" for code, name in names.items())
    return f"CASE {column} {whens} END"


def _uuid_text(column: str, low_byte: str | None = None) -> str:
    """SQL for the text form of a 16-byte uuid column; ``low_byte``: SQL for two hex digits
    that replace its last byte (a packed row's inline node)."""
    h = f"lower(hex({column}))"
    parts = [(1, 8), (9, 4), (13, 4), (17, 4), (21, 12 if low_byte is None else 10)]
    text = " || '-' || ".join(f"substr({h}, {start}, {length})" for start, length in parts)
    return text if low_byte is None else f"{text} || {low_byte}"


_DDL = f"""
CREATE TABLE IF NOT EXISTS meta(
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS blob(
    id     INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,      -- blake2b-256 over codec and payload
    size   INTEGER NOT NULL,
    codec  TEXT NOT NULL,
    data   BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS node(
    pk          INTEGER PRIMARY KEY,  -- rowid alias; what users type
    uuid        BLOB NOT NULL UNIQUE, -- 16 bytes, time-ordered
    kind        INTEGER NOT NULL,     -- 0 data, 1 calc (task run), 2 work (graph run)
    type        TEXT NOT NULL,        -- python type of a value / process_type of a process
    label       TEXT,
    state       INTEGER,              -- STATE_CODES; NULL for data
    error       TEXT,
    run_pk      INTEGER,              -- top-level graph run (its own pk for that run)
    ctime       REAL NOT NULL,
    mtime       REAL,
    codec       TEXT,                 -- value codec (data only)
    value       BLOB,                 -- small values inline (JSON text or pickle bytes)
    blob_id     INTEGER REFERENCES blob(id),
    hash        BLOB,                 -- reserved: cache key
    cached_from INTEGER REFERENCES node(pk)
);

CREATE TABLE IF NOT EXISTS code(
    run_pk INTEGER NOT NULL,          -- a top-level graph run
    type   TEXT NOT NULL,             -- process_type of a task function it ran
    digest BLOB NOT NULL,             -- its code digest (source or declared version)
    PRIMARY KEY (run_pk, type)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS imported_run(
    run_pk INTEGER PRIMARY KEY,       -- a top-level graph run that `ferroflow import` created
    time   REAL NOT NULL              -- when
);

CREATE TABLE IF NOT EXISTS run_owner(
    run_pk INTEGER PRIMARY KEY,       -- a top-level graph run in progress
    host   TEXT NOT NULL,             -- socket.gethostname() of the process running it
    pid    INTEGER NOT NULL,
    token  TEXT NOT NULL              -- boot id and process start time: tells a reused pid
);

CREATE TABLE IF NOT EXISTS process_text(
    pk          INTEGER PRIMARY KEY,  -- a process node whose call gave metadata=
    label       TEXT,                 -- its label, AiiDA's ProcessNode.label
    description TEXT                  -- its description
);

CREATE TABLE IF NOT EXISTS graph_recipe(
    run_pk INTEGER PRIMARY KEY,       -- a top-level run of an explicitly built graph
    recipe TEXT NOT NULL              -- JSON, see ferroflow.store.recipes
);

CREATE TABLE IF NOT EXISTS cancel_request(
    run_pk INTEGER PRIMARY KEY,       -- a top-level graph run in progress asked to stop
    time   REAL NOT NULL              -- when
);

CREATE TABLE IF NOT EXISTS task_output(
    pk      INTEGER PRIMARY KEY,      -- a process node (one attempt of a task)
    text    TEXT NOT NULL,            -- its stdout, stderr and log records, as written
    dropped INTEGER NOT NULL          -- characters dropped from the middle (bounded capture)
);

CREATE TABLE IF NOT EXISTS extra(
    pk    INTEGER NOT NULL,           -- a data node
    key   TEXT NOT NULL,
    value TEXT NOT NULL,              -- JSON
    PRIMARY KEY (pk, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS unrun_task(
    run_pk    INTEGER NOT NULL,       -- a top-level graph run
    parent_pk INTEGER NOT NULL,       -- the graph run that held the task (the run, a graph task)
    label     TEXT NOT NULL,          -- the task's name there
    type      TEXT NOT NULL,          -- its process_type
    state     INTEGER NOT NULL,       -- STATE_CODES: SKIPPED or CANCELLED
    after     TEXT NOT NULL,          -- JSON: process pks it waited on, or unrun siblings' names
    PRIMARY KEY (run_pk, parent_pk, label)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS link(
    src   INTEGER NOT NULL,
    dst   INTEGER NOT NULL,
    type  INTEGER NOT NULL,           -- LINK_CODES
    label TEXT NOT NULL,
    PRIMARY KEY (dst, type, label, src)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS link_src ON link(src, type);
CREATE INDEX IF NOT EXISTS node_run ON node(run_pk, kind);
CREATE INDEX IF NOT EXISTS node_hash ON node(hash) WHERE hash IS NOT NULL;
CREATE INDEX IF NOT EXISTS node_toplevel ON node(ctime) WHERE {TOP_LEVEL_RUN};
CREATE INDEX IF NOT EXISTS node_process_ctime ON node(ctime) WHERE {PROCESS_NODE};
CREATE INDEX IF NOT EXISTS node_cached_from ON node(cached_from) WHERE {REUSES_RESULTS};
CREATE INDEX IF NOT EXISTS node_blob ON node(blob_id) WHERE {IN_BLOB};
CREATE INDEX IF NOT EXISTS node_unfinished ON node(state, run_pk) WHERE {UNFINISHED_PROCESS};

CREATE TABLE IF NOT EXISTS task_run(
    pk     INTEGER PRIMARY KEY,  -- the calc node's pk; its inline data nodes are pk+1 .. pk+k
    uuid   BLOB NOT NULL UNIQUE, -- the calc node's uuid, last byte 0; inline node i: last byte i
    caller INTEGER NOT NULL,     -- src of the CALL_CALC link (the graph run or graph task)
    run_pk INTEGER NOT NULL,     -- node.run_pk of the calc node
    label  TEXT NOT NULL,        -- node.label of the calc node = the CALL_CALC link's label
    type   TEXT NOT NULL,        -- process_type
    state  INTEGER NOT NULL,     -- STATE_CODES
    ctime  REAL NOT NULL,
    mtime  REAL,
    hash   BLOB,                 -- cache key, as node.hash
    inputs TEXT NOT NULL,        -- JSON [[label, src_pk], ...]: INPUT_CALC links from outside
    nodes  TEXT NOT NULL         -- JSON [[link_code, label, type, codec, value], ...]: node pk+i
);
CREATE INDEX IF NOT EXISTS task_run_caller ON task_run(caller, pk) WHERE caller != run_pk;
CREATE INDEX IF NOT EXISTS task_run_run ON task_run(run_pk);
CREATE INDEX IF NOT EXISTS task_run_ctime ON task_run(ctime);
CREATE INDEX IF NOT EXISTS task_run_hash ON task_run(hash) WHERE hash IS NOT NULL;
CREATE TABLE IF NOT EXISTS input_ref(
    src   INTEGER NOT NULL,      -- a data node stored elsewhere (node row or another row's inline)
    dst   INTEGER NOT NULL,      -- a packed calc node that used it
    label TEXT NOT NULL,         -- the INPUT_CALC link's label
    PRIMARY KEY (src, dst, label)
) WITHOUT ROWID;

CREATE VIEW IF NOT EXISTS node_view AS
SELECT pk, {_uuid_text("uuid")} AS uuid, {_case("kind", KIND_NAMES)} AS kind, type, label,
       {_case("state", STATE_NAMES)} AS state, error, run_pk, ctime, mtime, codec,
       CASE WHEN codec = 'json' AND blob_id IS NULL THEN value END AS json_value, blob_id
FROM node
UNION ALL
SELECT pk, {_uuid_text("uuid")}, '{Kind.CALC}', type, label, {_case("state", STATE_NAMES)},
       NULL, run_pk, ctime, mtime, NULL, NULL, NULL
FROM task_run
UNION ALL
SELECT t.pk + j.key + 1, {_uuid_text("t.uuid", "printf('%02x', j.key + 1)")},
       '{Kind.DATA}', json_extract(j.value, '$[2]'), NULL, NULL, NULL, NULL, t.ctime, NULL,
       json_extract(j.value, '$[3]'), json_extract(j.value, '$[4]'), NULL
FROM task_run t, json_each(t.nodes) j;

CREATE VIEW IF NOT EXISTS link_view AS
SELECT src, dst, {_case("type", LINK_NAMES)} AS type, label FROM link
UNION ALL
SELECT caller, pk, '{Link.CALL_CALC}', label FROM task_run
UNION ALL
SELECT json_extract(j.value, '$[1]'), t.pk, '{Link.INPUT_CALC}', json_extract(j.value, '$[0]')
FROM task_run t, json_each(t.inputs) j
UNION ALL
SELECT CASE json_extract(j.value, '$[0]') WHEN {LINK_CODES[Link.CREATE]} THEN t.pk
       ELSE t.pk + j.key + 1 END,
       CASE json_extract(j.value, '$[0]') WHEN {LINK_CODES[Link.CREATE]} THEN t.pk + j.key + 1
       ELSE t.pk END,
       {_case("json_extract(j.value, '$[0]')", LINK_NAMES)}, json_extract(j.value, '$[1]')
FROM task_run t, json_each(t.nodes) j;
"""


#: How long a writer waits for another connection's write lock, in ms, before it gives up with
#: :class:`~ferroflow.errors.StoreBusyError` (tests lower it: read when a store opens).
BUSY_TIMEOUT_MS = 30_000
#: Pragmas appended to every writing connection's; empty except in tests, which set e.g.
#: ``PRAGMA max_page_count`` to meet SQLITE_FULL without filling a disk (read when a store
#: opens).
EXTRA_PRAGMAS: list[str] = []


def connection_pragmas(durability: str) -> list[str]:
    """The per-connection pragmas of every connection that writes the store (WAL is
    persistent, the others are not): Python's and the store writer's own in Rust."""
    if durability not in ("normal", "full"):
        raise ValueError(f"durability must be 'normal' or 'full', not {durability!r}")
    return [
        f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_MS)}",
        "PRAGMA journal_mode = WAL",
        f"PRAGMA synchronous = {durability.upper()}",
        "PRAGMA temp_store = MEMORY",
        "PRAGMA cache_size = -65536",
        *EXTRA_PRAGMAS,
    ]


def configure_connection(conn: sqlite3.Connection, durability: str) -> None:
    """Apply :func:`connection_pragmas` to ``conn``."""
    for pragma in connection_pragmas(durability):
        conn.execute(pragma)


def _statements(script: str) -> list[str]:
    """Split a script into statements (``executescript`` would commit our transaction)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending)
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement: {pending!r}")
    return statements


def initialise(conn: sqlite3.Connection) -> None:
    """Create the tables if missing and check the schema version of an existing file."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        has_meta = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        if has_meta:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            found = int(row[0]) if row else None
            if found != SCHEMA_VERSION and found not in _MIGRATES:
                raise SchemaVersionError(
                    f"provenance store has schema version {found}, this ferroflow reads "
                    f"version {SCHEMA_VERSION}"
                )
        for name in ("node_view", "link_view"):
            view = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
            if view is not None and ("'KILLED'" not in view[0] or "task_run" not in view[0]):
                # it predates a state code or the packed rows; recreated below
                conn.execute(f"DROP VIEW {name}")
        for statement in _statements(_DDL):
            conn.execute(statement)
        # a new file gets the version; a version-1 file now has the packed tables: it becomes 2
        conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
        # A file from before the counter existed gets it seeded from its nodes.
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
            (PK_COUNTER, str(last_pk(conn) + 1)),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def last_pk(conn: sqlite3.Connection) -> int:
    """The highest pk any node holds, 0 in an empty store: ``max(pk)`` of ``node`` and the last
    inline pk of the highest ``task_run`` row (two rowid descents, no scan)."""
    top = conn.execute("SELECT max(pk) FROM node").fetchone()[0] or 0
    packed = conn.execute(LAST_PACKED_SQL).fetchone()
    return max(top, packed[0] if packed else 0)


def reserve_pks(conn: sqlite3.Connection, n: int) -> int:
    """Reserve ``n`` consecutive pks for the caller and return the first.

    One ``BEGIN IMMEDIATE`` transaction: SQLite's write lock serialises reservations of every
    connection and process, so no two callers ever get overlapping ranges. The range starts at
    ``max(counter, last pk + 1)`` (:func:`last_pk`: two B-tree descents), so pks written
    without the counter (older ferroflow) are never handed out again. ``conn`` must be in
    autocommit mode (``isolation_level=None``) and not inside a transaction.
    """
    if n < 1:
        raise ValueError(f"cannot reserve {n} pks")
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (PK_COUNTER,)).fetchone()
        first = max(int(row[0]) if row else 1, last_pk(conn) + 1)
        conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (PK_COUNTER, str(first + n))
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return first


def release_pks(conn: sqlite3.Connection, start: int, stop: int) -> bool:
    """Give back the unused pks ``[start, stop)`` if nobody reserved any after them.

    A compare-and-set on the counter (one atomic statement): it moves back to ``start`` only if it
    still equals ``stop``, i.e. ``[start, stop)`` is the tail of the reserved range. Returns
    whether it did. Keeps pks small for the common "one process at a time" use; when another
    process reserved meanwhile the range simply stays a gap.
    """
    if not start < stop:
        return False
    cursor = conn.execute(
        "UPDATE meta SET value = ? WHERE key = ? AND value = ?", (str(start), PK_COUNTER, str(stop))
    )
    return cursor.rowcount == 1

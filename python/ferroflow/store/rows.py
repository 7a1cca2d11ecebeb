"""The rows the store queues for its writer, and the statements that write them.

``Store.record_*`` and the Rust fast lane append plain tuples to the writer's queue; the first
element is one of the op codes below and the rest follow the layout :data:`LAYOUTS` names. The
Rust side (``rust/py/src/rows.rs``) reads and builds the same tuples by position, so it keeps its
own copy of these declarations; ``tests/store/test_store_rows.py`` asserts that ``_core`` exposes
exactly these values, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

__all__ = [
    "LAYOUTS",
    "OP_CALC",
    "OP_CODES",
    "OP_DATA",
    "OP_FLUSH",
    "OP_LINK",
    "OP_PROCESS",
    "OP_SQL",
    "OP_UPDATE",
    "STATEMENTS",
]

OP_DATA = 0  # a data node and the time it was recorded
OP_PROCESS = 1  # a process node (task or graph run) as it starts
OP_UPDATE = 2  # a process node's new state
OP_LINK = 3  # a link between two nodes
OP_FLUSH = 4  # a marker: its held lock is released once everything before it is committed
# A whole finished fast-lane task, queued by the Rust workers: a FINISHED calc node, its output
# data node, and its CALL_CALC, INPUT_CALC and CREATE links; ``inline_values`` are the values of
# its plain constant inputs, whose data nodes are ``pk + 2``, ``pk + 3``… (made here, not
# recorded one by one), in the order of its ``input_pks``.
OP_CALC = 5
# A statement with parameters (None, int, float, str or bytes), run after the batch's nodes,
# updates and links in the same transaction: rare rows such as cache marks (``node.hash``,
# ``cached_from``), the code digests of a run (``code`` table) and run owners, so they need no
# op of their own.
OP_SQL = 6

OP_CODES: dict[str, int] = {
    "OP_DATA": OP_DATA,
    "OP_PROCESS": OP_PROCESS,
    "OP_UPDATE": OP_UPDATE,
    "OP_LINK": OP_LINK,
    "OP_FLUSH": OP_FLUSH,
    "OP_CALC": OP_CALC,
    "OP_SQL": OP_SQL,
}

#: The fields of each op's tuple, in order (``op`` is the code itself). ``node`` is a
#: ``DataNode``; uuids are strings or 16 bytes; kind, state and link type are the codes of
#: :mod:`ferroflow.store.schema`; ``params`` is a tuple; ``done`` a held ``threading.Lock``.
LAYOUTS: dict[int, tuple[str, ...]] = {
    OP_DATA: ("op", "node", "ctime"),
    OP_PROCESS: ("op", "pk", "uuid", "kind", "label", "process_type", "state", "ctime", "run_pk"),
    OP_UPDATE: ("op", "state", "mtime", "error", "pk"),
    OP_LINK: ("op", "src", "dst", "type", "label"),
    OP_FLUSH: ("op", "done"),
    OP_CALC: (
        "op",
        "pk",
        "uuid",
        "label",
        "process_type",
        "ctime",
        "mtime",
        "run_pk",
        "caller_pk",
        "input_labels",
        "input_pks",
        "out_pk",
        "out_uuid",
        "value",
        "out_label",
        "inline_values",
    ),
    OP_SQL: ("op", "sql", "params"),
}

#: What a committed batch runs: blobs first (a node refers to its blob's id), then nodes, state
#: updates, links, and the batch's ``OP_SQL`` statements. Recording the same link or blob twice
#: is harmless, so both are idempotent.
STATEMENTS: dict[str, str] = {
    "blob": "INSERT OR IGNORE INTO blob(digest, size, codec, data) VALUES (?, ?, ?, ?)",
    "blob_id": "SELECT id FROM blob WHERE digest = ?",
    "node": (
        "INSERT INTO node(pk, uuid, kind, type, label, state, error, run_pk, ctime, mtime,"
        " codec, value, blob_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "update": "UPDATE node SET state = ?, mtime = ?, error = ? WHERE pk = ?",
    "link": "INSERT OR IGNORE INTO link(src, dst, type, label) VALUES (?, ?, ?, ?)",
    # a run's owner row (:mod:`.owners`): a batch holding a run's claim and then its release
    # leaves both out (they cancel in one transaction; ``SqlWriter.prepare``)
    "owner_claim": "INSERT OR REPLACE INTO run_owner(run_pk, host, pid, token) VALUES (?, ?, ?, ?)",
    "owner_release": "DELETE FROM run_owner WHERE run_pk = ?",
}

"""What an AiiDA archive (aiida-core's ``sqlite_zip`` format) is, written down once for the
writer (:mod:`.aiida_archive`) and the reader (:mod:`.aiida_import`).

Read from aiida-core's own source (``aiida/storage/sqlite_zip``: ``models.py``, ``backend.py``,
``migrator.py``, ``utils.py``), not guessed, and checked against archives ``verdi archive
create`` writes. An archive is a zip holding:

* ``metadata.json``: ``export_version`` is the schema revision (``main_0001``, the head of
  aiida-core 2.6 to 2.9; ``verdi archive import`` refuses any other with "run verdi archive
  migrate"), ``key_format`` ``sha256``. aiida-core looks for it among the first records of the
  zip, so it is written first.
* ``db.sqlite3``: the tables of :data:`SCHEMA` (aiida's PostgreSQL models with uuids as
  ``CHAR(32)`` text, JSON as text and times as naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff``).
* ``repo/<sha256 of the content>``: the repository files; a node's ``repository_metadata``
  names them (``{"o": {"default.npy": {"k": "<sha256>"}}}``).

ferroflow never imports aiida: both directions use only ``sqlite3``, ``zipfile`` and ``json``.
"""

from __future__ import annotations

import datetime as _dt

from ..model.vocabulary import Kind, State

__all__ = [
    "ARRAY",
    "CALC_NODE",
    "DB_NAME",
    "EXPORT_VERSION",
    "LINK_TYPES",
    "META_NAME",
    "PROCESS_NODE",
    "PROCESS_STATE",
    "REPO_PREFIX",
    "SCHEMA",
    "TYPE_OF",
    "WORK_NODE",
    "aiida_time",
    "epoch",
]

EXPORT_VERSION = "main_0001"
META_NAME = "metadata.json"
DB_NAME = "db.sqlite3"
REPO_PREFIX = "repo/"

#: node_type of a task run: a Python function run with provenance, as WorkGraph stores tasks
CALC_NODE = "process.calculation.calcfunction.CalcFunctionNode."
#: node_type of a graph run: WorkGraph stores its graph runs as (a subclass of) a WorkChainNode
WORK_NODE = "process.workflow.workchain.WorkChainNode."
#: node_type of numpy arrays (one array, named ``default``, as ``ArrayData(array)`` stores it)
ARRAY = "data.core.array.ArrayData."

#: The AiiDA data node type of each plain Python value type, and back.
TYPE_OF = {
    "bool": "data.core.bool.Bool.",
    "int": "data.core.int.Int.",
    "float": "data.core.float.Float.",
    "str": "data.core.str.Str.",
    "dict": "data.core.dict.Dict.",
    "list": "data.core.list.List.",
}

#: ferroflow link type -> AiiDA's ``LinkType`` value
LINK_TYPES = {
    "INPUT_CALC": "input_calc",
    "INPUT_WORK": "input_work",
    "CREATE": "create",
    "RETURN": "return",
    "CALL_CALC": "call_calc",
    "CALL_WORK": "call_work",
}

#: node_type per ferroflow kind of process
PROCESS_NODE = {Kind.CALC: CALC_NODE, Kind.WORK: WORK_NODE}

#: ferroflow state -> AiiDA ``process_state`` (AiiDA has no skipped or cancelled: killed)
PROCESS_STATE = {
    State.PLANNED: "created",
    State.RUNNING: "running",
    State.FINISHED: "finished",
    State.FAILED: "excepted",
    State.SKIPPED: "killed",
    State.CANCELLED: "killed",
    State.KILLED: "killed",
}

#: The tables of an archive's ``db.sqlite3``, as aiida-core 2.9 writes them (constraints kept:
#: they are what ``verdi archive import`` relies on; most secondary indexes left out).
SCHEMA = """
CREATE TABLE db_dbcomputer (
  id INTEGER NOT NULL, uuid VARCHAR(32) NOT NULL, label VARCHAR(255) NOT NULL,
  hostname VARCHAR(255) NOT NULL, description TEXT NOT NULL, scheduler_type VARCHAR(255) NOT NULL,
  transport_type VARCHAR(255) NOT NULL, metadata JSON NOT NULL,
  CONSTRAINT db_dbcomputer_pkey PRIMARY KEY (id),
  CONSTRAINT uq_db_dbcomputer_uuid UNIQUE (uuid), CONSTRAINT uq_db_dbcomputer_label UNIQUE (label));
CREATE TABLE db_dbsetting (
  id INTEGER NOT NULL, "key" VARCHAR(1024) NOT NULL, val JSON, description TEXT NOT NULL,
  time DATETIME NOT NULL,
  CONSTRAINT db_dbsetting_pkey PRIMARY KEY (id), CONSTRAINT uq_db_dbsetting_key UNIQUE ("key"));
CREATE TABLE db_dbuser (
  id INTEGER NOT NULL, email VARCHAR(254) NOT NULL, first_name VARCHAR(254) NOT NULL,
  last_name VARCHAR(254) NOT NULL, institution VARCHAR(254) NOT NULL,
  CONSTRAINT db_dbuser_pkey PRIMARY KEY (id), CONSTRAINT uq_db_dbuser_email UNIQUE (email));
CREATE TABLE db_dbauthinfo (
  id INTEGER NOT NULL, aiidauser_id INTEGER NOT NULL, dbcomputer_id INTEGER NOT NULL,
  metadata JSON NOT NULL, auth_params JSON NOT NULL, enabled BOOLEAN NOT NULL,
  CONSTRAINT db_dbauthinfo_pkey PRIMARY KEY (id),
  CONSTRAINT uq_db_dbauthinfo_aiidauser_id_dbcomputer_id UNIQUE (aiidauser_id, dbcomputer_id));
CREATE TABLE db_dbgroup (
  id INTEGER NOT NULL, uuid VARCHAR(32) NOT NULL, label VARCHAR(255) NOT NULL,
  type_string VARCHAR(255) NOT NULL, time DATETIME NOT NULL, description TEXT NOT NULL,
  extras JSON NOT NULL, user_id INTEGER NOT NULL,
  CONSTRAINT db_dbgroup_pkey PRIMARY KEY (id), CONSTRAINT uq_db_dbgroup_uuid UNIQUE (uuid),
  CONSTRAINT uq_db_dbgroup_label_type_string UNIQUE (label, type_string));
CREATE TABLE db_dbnode (
  id INTEGER NOT NULL, uuid VARCHAR(32) NOT NULL, node_type VARCHAR(255) NOT NULL,
  process_type VARCHAR(255), label VARCHAR(255) NOT NULL, description TEXT NOT NULL,
  ctime DATETIME NOT NULL, mtime DATETIME NOT NULL, attributes JSON, extras JSON,
  repository_metadata JSON NOT NULL, dbcomputer_id INTEGER, user_id INTEGER NOT NULL,
  CONSTRAINT db_dbnode_pkey PRIMARY KEY (id), CONSTRAINT uq_db_dbnode_uuid UNIQUE (uuid));
CREATE TABLE db_dbcomment (
  id INTEGER NOT NULL, uuid VARCHAR(32) NOT NULL, dbnode_id INTEGER NOT NULL,
  ctime DATETIME NOT NULL, mtime DATETIME NOT NULL, user_id INTEGER NOT NULL, content TEXT NOT NULL,
  CONSTRAINT db_dbcomment_pkey PRIMARY KEY (id), CONSTRAINT uq_db_dbcomment_uuid UNIQUE (uuid));
CREATE TABLE db_dbgroup_dbnodes (
  id INTEGER NOT NULL, dbnode_id INTEGER NOT NULL, dbgroup_id INTEGER NOT NULL,
  CONSTRAINT db_dbgroup_dbnodes_pkey PRIMARY KEY (id),
  CONSTRAINT uq_db_dbgroup_dbnodes_dbgroup_id_dbnode_id UNIQUE (dbgroup_id, dbnode_id));
CREATE TABLE db_dblink (
  id INTEGER NOT NULL, input_id INTEGER NOT NULL, output_id INTEGER NOT NULL,
  label VARCHAR(255) NOT NULL, type VARCHAR(255) NOT NULL,
  CONSTRAINT db_dblink_pkey PRIMARY KEY (id));
CREATE TABLE db_dblog (
  id INTEGER NOT NULL, uuid VARCHAR(32) NOT NULL, time DATETIME NOT NULL,
  loggername VARCHAR(255) NOT NULL, levelname VARCHAR(50) NOT NULL, dbnode_id INTEGER NOT NULL,
  message TEXT NOT NULL, metadata JSON NOT NULL,
  CONSTRAINT db_dblog_pkey PRIMARY KEY (id), CONSTRAINT uq_db_dblog_uuid UNIQUE (uuid));
CREATE INDEX ix_db_dblink_db_dblink_input_id ON db_dblink (input_id);
CREATE INDEX ix_db_dblink_db_dblink_output_id ON db_dblink (output_id);
CREATE INDEX ix_db_dbnode_db_dbnode_node_type ON db_dbnode (node_type);
"""


def aiida_time(ts: float) -> str:
    """Seconds since 1970 as the naive UTC text aiida's ``TZDateTime`` column stores."""
    moment = _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).replace(tzinfo=None)
    return moment.isoformat(sep=" ", timespec="microseconds")


def epoch(text: str) -> float:
    """Inverse of :func:`aiida_time`; an offset, when given, is honoured (naive means UTC).

    Raises :class:`ValueError` for text that is not a date and time.
    """
    moment = _dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.timestamp()

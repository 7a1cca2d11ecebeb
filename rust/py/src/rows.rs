//! The rows of the store writer's queue and the statements that write them, as declared in
//! `ferroflow/store/rows.py`. Rust reads and builds these tuples by position; the positions are
//! derived here from the field names at compile time, and the names, codes and statements are
//! exposed to Python (`ROW_OPS`, `ROW_LAYOUTS`, `WRITER_SQL`) so a test compares them with the
//! Python declaration.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule, PyTuple};

pub(crate) const OP_DATA: i64 = 0;
pub(crate) const OP_PROCESS: i64 = 1;
pub(crate) const OP_UPDATE: i64 = 2;
pub(crate) const OP_LINK: i64 = 3;
pub(crate) const OP_FLUSH: i64 = 4;
pub(crate) const OP_CALC: i64 = 5;
pub(crate) const OP_SQL: i64 = 6;

const DATA_ROW: &[&str] = &["op", "node", "ctime"];
const PROCESS_ROW: &[&str] =
    &["op", "pk", "uuid", "kind", "label", "process_type", "state", "ctime", "run_pk"];
const UPDATE_ROW: &[&str] = &["op", "state", "mtime", "error", "pk"];
const LINK_ROW: &[&str] = &["op", "src", "dst", "type", "label"];
const FLUSH_ROW: &[&str] = &["op", "done"];
const CALC_ROW: &[&str] = &[
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
];
const SQL_ROW: &[&str] = &["op", "sql", "params"];

const OPS: [(&str, i64, &[&str]); 7] = [
    ("OP_DATA", OP_DATA, DATA_ROW),
    ("OP_PROCESS", OP_PROCESS, PROCESS_ROW),
    ("OP_UPDATE", OP_UPDATE, UPDATE_ROW),
    ("OP_LINK", OP_LINK, LINK_ROW),
    ("OP_FLUSH", OP_FLUSH, FLUSH_ROW),
    ("OP_CALC", OP_CALC, CALC_ROW),
    ("OP_SQL", OP_SQL, SQL_ROW),
];

pub(crate) const BLOB_SQL: &str =
    "INSERT OR IGNORE INTO blob(digest, size, codec, data) VALUES (?, ?, ?, ?)";
pub(crate) const BLOB_ID_SQL: &str = "SELECT id FROM blob WHERE digest = ?";
pub(crate) const NODE_SQL: &str = "INSERT INTO node(pk, uuid, kind, type, label, state, error, \
    run_pk, ctime, mtime, codec, value, blob_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
pub(crate) const UPDATE_SQL: &str = "UPDATE node SET state = ?, mtime = ?, error = ? WHERE pk = ?";
pub(crate) const LINK_SQL: &str =
    "INSERT OR IGNORE INTO link(src, dst, type, label) VALUES (?, ?, ?, ?)";

/// A run's owner row (`store/owners.py`), claimed at its start and released at its end, both
/// as `OP_SQL` rows: a batch holding both leaves both out (see `SqlWriter::prepare`).
pub(crate) const OWNER_CLAIM_SQL: &str =
    "INSERT OR REPLACE INTO run_owner(run_pk, host, pid, token) VALUES (?, ?, ?, ?)";
pub(crate) const OWNER_RELEASE_SQL: &str = "DELETE FROM run_owner WHERE run_pk = ?";

const STATEMENTS: [(&str, &str); 7] = [
    ("blob", BLOB_SQL),
    ("blob_id", BLOB_ID_SQL),
    ("node", NODE_SQL),
    ("update", UPDATE_SQL),
    ("link", LINK_SQL),
    ("owner_claim", OWNER_CLAIM_SQL),
    ("owner_release", OWNER_RELEASE_SQL),
];

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Position of `name` in `layout`; a name the layout lacks fails the build.
const fn at(layout: &[&str], name: &str) -> usize {
    let mut i = 0;
    while i < layout.len() {
        if same(layout[i], name) {
            return i;
        }
        i += 1;
    }
    panic!("no such field in the row layout");
}

pub(crate) mod data {
    use super::{at, DATA_ROW as L};
    pub(crate) const NODE: usize = at(L, "node");
    pub(crate) const CTIME: usize = at(L, "ctime");
}

pub(crate) mod process {
    use super::{at, PROCESS_ROW as L};
    pub(crate) const PK: usize = at(L, "pk");
    pub(crate) const UUID: usize = at(L, "uuid");
    pub(crate) const KIND: usize = at(L, "kind");
    pub(crate) const LABEL: usize = at(L, "label");
    pub(crate) const PROCESS_TYPE: usize = at(L, "process_type");
    pub(crate) const STATE: usize = at(L, "state");
    pub(crate) const CTIME: usize = at(L, "ctime");
    pub(crate) const RUN_PK: usize = at(L, "run_pk");
}

pub(crate) mod update {
    use super::{at, UPDATE_ROW as L};
    pub(crate) const STATE: usize = at(L, "state");
    pub(crate) const MTIME: usize = at(L, "mtime");
    pub(crate) const ERROR: usize = at(L, "error");
    pub(crate) const PK: usize = at(L, "pk");
}

pub(crate) mod link {
    use super::{at, LINK_ROW as L};
    pub(crate) const SRC: usize = at(L, "src");
    pub(crate) const DST: usize = at(L, "dst");
    pub(crate) const TYPE: usize = at(L, "type");
    pub(crate) const LABEL: usize = at(L, "label");
}

pub(crate) mod flush {
    use super::{at, FLUSH_ROW as L};
    pub(crate) const DONE: usize = at(L, "done");
}

pub(crate) mod calc {
    use super::{at, CALC_ROW as L};
    pub(crate) const LEN: usize = L.len();
    pub(crate) const OP: usize = at(L, "op");
    pub(crate) const PK: usize = at(L, "pk");
    pub(crate) const UUID: usize = at(L, "uuid");
    pub(crate) const LABEL: usize = at(L, "label");
    pub(crate) const PROCESS_TYPE: usize = at(L, "process_type");
    pub(crate) const CTIME: usize = at(L, "ctime");
    pub(crate) const MTIME: usize = at(L, "mtime");
    pub(crate) const RUN_PK: usize = at(L, "run_pk");
    pub(crate) const CALLER_PK: usize = at(L, "caller_pk");
    pub(crate) const INPUT_LABELS: usize = at(L, "input_labels");
    pub(crate) const INPUT_PKS: usize = at(L, "input_pks");
    pub(crate) const OUT_PK: usize = at(L, "out_pk");
    pub(crate) const OUT_UUID: usize = at(L, "out_uuid");
    pub(crate) const VALUE: usize = at(L, "value");
    pub(crate) const OUT_LABEL: usize = at(L, "out_label");
    pub(crate) const INLINE_VALUES: usize = at(L, "inline_values");
}

pub(crate) mod sql {
    use super::{at, SQL_ROW as L};
    pub(crate) const SQL: usize = at(L, "sql");
    pub(crate) const PARAMS: usize = at(L, "params");
}

/// Expose the declarations above to Python, for the test that compares them with `rows.py`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let ops = PyDict::new(py);
    let layouts = PyDict::new(py);
    for (name, code, layout) in OPS {
        ops.set_item(name, code)?;
        layouts.set_item(code, PyTuple::new(py, layout)?)?;
    }
    let statements = PyDict::new(py);
    for (name, sql) in STATEMENTS {
        statements.set_item(name, sql)?;
    }
    m.add("ROW_OPS", ops)?;
    m.add("ROW_LAYOUTS", layouts)?;
    m.add("WRITER_SQL", statements)?;
    Ok(())
}

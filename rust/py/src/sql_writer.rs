//! The store writer's SQL half: turn a drained batch of queued rows into one transaction.
//!
//! The Python writer thread (`store/writer.py`) drains the queue and calls [`SqlWriter::write`].
//! Reading the rows out of their Python tuples (and encoding values that are not plain ints,
//! bools or None through Python's `values.encode`) happens attached; the SQL work, which is
//! most of the cost, happens detached, so the workers keep the interpreter meanwhile. Python's
//! `executemany` re-takes the GIL for every row instead, and with busy workers that hand-off
//! (not SQLite) dominated: 34 µs of writer time per no-op task against 20 µs of SQL.

use crate::sqlite::{Api, Conn, Val};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyList, PyString, PyTuple};
use std::collections::HashMap;
use std::sync::Mutex;

const OP_DATA: i64 = 0;
const OP_PROCESS: i64 = 1;
const OP_UPDATE: i64 = 2;
const OP_LINK: i64 = 3;
const OP_FLUSH: i64 = 4;
const OP_CALC: i64 = 5;
const OP_SQL: i64 = 6;

const DATA_KIND: i64 = 0;
const CALC_KIND: i64 = 1;
const FINISHED: i64 = 2;
const INPUT_CALC: i64 = 0;
const CREATE: i64 = 2;
const CALL_CALC: i64 = 4;

const NODE_SQL: &str = "INSERT INTO node(pk, uuid, kind, type, label, state, error, run_pk, \
    ctime, mtime, codec, value, blob_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const UPDATE_SQL: &str = "UPDATE node SET state = ?, mtime = ?, error = ? WHERE pk = ?";
const LINK_SQL: &str = "INSERT OR IGNORE INTO link(src, dst, type, label) VALUES (?, ?, ?, ?)";
const BLOB_SQL: &str = "INSERT OR IGNORE INTO blob(digest, size, codec, data) VALUES (?, ?, ?, ?)";
const BLOB_ID_SQL: &str = "SELECT id FROM blob WHERE digest = ?";

enum Inline {
    None,
    Text(String),
    Bytes(Vec<u8>),
}

struct NodeRow {
    pk: i64,
    uuid: Vec<u8>,
    kind: i64,
    type_: String,
    label: Option<String>,
    state: Option<i64>,
    error: Option<String>,
    run_pk: Option<i64>,
    ctime: f64,
    mtime: Option<f64>,
    codec: Option<String>,
    value: Inline,
    blob: Option<usize>,
}

struct UpdateRow {
    state: i64,
    mtime: f64,
    error: Option<String>,
    pk: i64,
}

struct LinkRow {
    src: i64,
    dst: i64,
    type_: i64,
    label: String,
}

/// An owned statement parameter (`OP_SQL` rows: cache marks, code digests).
enum Owned {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Owned {
    fn val(&self) -> Val<'_> {
        match self {
            Owned::Null => Val::Null,
            Owned::Int(v) => Val::Int(*v),
            Owned::Real(v) => Val::Real(*v),
            Owned::Text(s) => Val::Text(s),
            Owned::Blob(b) => Val::Blob(b),
        }
    }

    fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Owned> {
        if obj.is_none() {
            Ok(Owned::Null)
        } else if let Ok(b) = obj.cast::<PyBytes>() {
            Ok(Owned::Blob(b.as_bytes().to_vec()))
        } else if let Ok(s) = obj.cast::<PyString>() {
            Ok(Owned::Text(s.to_str()?.to_owned()))
        } else if obj.is_instance_of::<PyInt>() {
            Ok(Owned::Int(obj.extract()?))
        } else {
            Ok(Owned::Real(obj.extract()?))
        }
    }
}

/// A statement queued as `(OP_SQL, sql, params)`: run after the batch's nodes and links.
struct SqlRow {
    sql: String,
    params: Vec<Owned>,
}

impl SqlRow {
    fn params(&self) -> Vec<Val<'_>> {
        self.params.iter().map(Owned::val).collect()
    }
}

struct Blob {
    digest: Vec<u8>,
    codec: String,
    data: Vec<u8>,
}

#[derive(Default)]
struct Batch {
    nodes: Vec<NodeRow>,
    updates: Vec<UpdateRow>,
    links: Vec<LinkRow>,
    statements: Vec<SqlRow>,
    blobs: Vec<Blob>,
    blob_index: HashMap<Vec<u8>, usize>,
    /// pk -> index in `nodes` of a process inserted in this batch (its update folds in).
    new_process: HashMap<i64, usize>,
    /// pks of data nodes whose value could only be stored as its repr.
    unserialisable: Vec<i64>,
}

impl Batch {
    fn len(&self) -> usize {
        self.nodes.len() + self.updates.len() + self.links.len() + self.statements.len()
    }
}

/// Python helpers used for values the writer does not encode itself.
struct Codec {
    encode: Py<PyAny>,
    type_name: Py<PyAny>,
    digest: Py<PyAny>,
}

fn uuid_bytes(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    let text: String = obj.extract()?;
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return Err(PyValueError::new_err(format!("badly formed uuid {text:?}")));
    }
    (0..16)
        .map(|i| {
            u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| PyValueError::new_err(format!("badly formed uuid {text:?}")))
        })
        .collect()
}

impl Codec {
    /// (type name, codec, inline payload, blob) of a value, as `values.encode` defines them.
    fn value(
        &self,
        py: Python<'_>,
        value: &Bound<'_, PyAny>,
        batch: &mut Batch,
    ) -> PyResult<(String, String, Inline, Option<usize>)> {
        if value.is_none() {
            return Ok(("NoneType".into(), "json".into(), Inline::Text("null".into()), None));
        }
        if value.is_exact_instance_of::<PyBool>() {
            let text = if value.is_truthy()? { "true" } else { "false" };
            return Ok(("bool".into(), "json".into(), Inline::Text(text.into()), None));
        }
        if value.is_exact_instance_of::<PyInt>() {
            if let Ok(v) = value.extract::<i64>() {
                return Ok(("int".into(), "json".into(), Inline::Text(v.to_string()), None));
            }
        }
        let type_name: String = self.type_name.bind(py).call1((value,))?.extract()?;
        let encoded = self.encode.bind(py).call1((value,))?;
        let codec: String = encoded.get_item(0)?.extract()?;
        let payload = encoded.get_item(1)?;
        let is_blob: bool = encoded.get_item(2)?.extract()?;
        if is_blob {
            let data: Vec<u8> = payload.cast::<PyBytes>()?.as_bytes().to_vec();
            let digest: Vec<u8> = self.digest.bind(py).call1((&codec, &payload))?.extract()?;
            let index = match batch.blob_index.get(&digest) {
                Some(i) => *i,
                None => {
                    batch.blobs.push(Blob { digest: digest.clone(), codec: codec.clone(), data });
                    batch.blob_index.insert(digest, batch.blobs.len() - 1);
                    batch.blobs.len() - 1
                }
            };
            return Ok((type_name, codec, Inline::None, Some(index)));
        }
        let inline = if let Ok(s) = payload.cast::<PyString>() {
            Inline::Text(s.to_str()?.to_owned())
        } else {
            Inline::Bytes(payload.cast::<PyBytes>()?.as_bytes().to_vec())
        };
        Ok((type_name, codec, inline, None))
    }

    fn data_row(
        &self,
        py: Python<'_>,
        pk: i64,
        uuid: Vec<u8>,
        value: &Bound<'_, PyAny>,
        ctime: f64,
        batch: &mut Batch,
    ) -> PyResult<NodeRow> {
        let (type_, codec, inline, blob) = self.value(py, value, batch)?;
        if codec == "unserialisable" {
            batch.unserialisable.push(pk);
        }
        Ok(NodeRow {
            pk,
            uuid,
            kind: DATA_KIND,
            type_,
            label: None,
            state: None,
            error: None,
            run_pk: None,
            ctime,
            mtime: None,
            codec: Some(codec),
            value: inline,
            blob,
        })
    }

    /// Add one queued row to the batch.
    fn add(&self, py: Python<'_>, row: &Bound<'_, PyTuple>, batch: &mut Batch) -> PyResult<()> {
        let op: i64 = row.get_item(0)?.extract()?;
        match op {
            OP_LINK => batch.links.push(LinkRow {
                src: row.get_item(1)?.extract()?,
                dst: row.get_item(2)?.extract()?,
                type_: row.get_item(3)?.extract()?,
                label: row.get_item(4)?.extract()?,
            }),
            OP_DATA => {
                let node = row.get_item(1)?;
                let pk: i64 = node.getattr("_pk")?.extract()?;
                let uuid = uuid_bytes(&node.getattr("uuid")?)?;
                let value = node.getattr("value")?;
                let data =
                    self.data_row(py, pk, uuid, &value, row.get_item(2)?.extract()?, batch)?;
                batch.nodes.push(data);
            }
            OP_PROCESS => {
                let pk: i64 = row.get_item(1)?.extract()?;
                let node = NodeRow {
                    pk,
                    uuid: uuid_bytes(&row.get_item(2)?)?,
                    kind: row.get_item(3)?.extract()?,
                    label: Some(row.get_item(4)?.extract()?),
                    type_: row.get_item(5)?.extract()?,
                    state: Some(row.get_item(6)?.extract()?),
                    error: None,
                    ctime: row.get_item(7)?.extract()?,
                    run_pk: row.get_item(8)?.extract()?,
                    mtime: None,
                    codec: None,
                    value: Inline::None,
                    blob: None,
                };
                batch.new_process.insert(pk, batch.nodes.len());
                batch.nodes.push(node);
            }
            OP_UPDATE => {
                let update = UpdateRow {
                    state: row.get_item(1)?.extract()?,
                    mtime: row.get_item(2)?.extract()?,
                    error: row.get_item(3)?.extract()?,
                    pk: row.get_item(4)?.extract()?,
                };
                // A task that starts and ends within one batch: fold the end into its INSERT.
                match batch.new_process.get(&update.pk) {
                    Some(&i) => {
                        let node = &mut batch.nodes[i];
                        node.state = Some(update.state);
                        node.mtime = Some(update.mtime);
                        node.error = update.error;
                    }
                    None => batch.updates.push(update),
                }
            }
            OP_CALC => self.add_calc(py, row, batch)?,
            OP_SQL => {
                let params = row.get_item(2)?;
                let params = params.cast::<PyTuple>()?;
                batch.statements.push(SqlRow {
                    sql: row.get_item(1)?.extract()?,
                    params: params.iter().map(|p| Owned::from_py(&p)).collect::<PyResult<_>>()?,
                });
            }
            _ => return Err(PyValueError::new_err(format!("unknown queued row op {op}"))),
        }
        Ok(())
    }

    /// A finished fast-lane task (see `fast.rs`): calc node, output node and its links.
    fn add_calc(
        &self,
        py: Python<'_>,
        row: &Bound<'_, PyTuple>,
        batch: &mut Batch,
    ) -> PyResult<()> {
        let pk: i64 = row.get_item(1)?.extract()?;
        let label: String = row.get_item(3)?.extract()?;
        let ctime: f64 = row.get_item(5)?.extract()?;
        let out_pk: i64 = row.get_item(11)?.extract()?;
        let value = row.get_item(13)?;
        let data =
            self.data_row(py, out_pk, uuid_bytes(&row.get_item(12)?)?, &value, ctime, batch)?;
        let names = row.get_item(9)?;
        let names = names.cast::<PyTuple>()?;
        let sources = row.get_item(10)?;
        let sources = sources.cast::<PyTuple>()?;
        if names.len() != sources.len() {
            return Err(PyValueError::new_err("input labels and pks differ in length"));
        }
        batch.nodes.push(NodeRow {
            pk,
            uuid: uuid_bytes(&row.get_item(2)?)?,
            kind: CALC_KIND,
            type_: row.get_item(4)?.extract()?,
            label: Some(label.clone()),
            state: Some(FINISHED),
            error: None,
            run_pk: row.get_item(7)?.extract()?,
            ctime,
            mtime: Some(row.get_item(6)?.extract()?),
            codec: None,
            value: Inline::None,
            blob: None,
        });
        batch.nodes.push(data);
        let caller: i64 = row.get_item(8)?.extract()?;
        batch.links.push(LinkRow { src: caller, dst: pk, type_: CALL_CALC, label });
        for (name, src) in names.iter().zip(sources.iter()) {
            batch.links.push(LinkRow {
                src: src.extract()?,
                dst: pk,
                type_: INPUT_CALC,
                label: name.extract()?,
            });
        }
        let out_label: String = row.get_item(14)?.extract()?;
        batch.links.push(LinkRow { src: pk, dst: out_pk, type_: CREATE, label: out_label });
        Ok(())
    }
}

fn describe(py: Python<'_>, row: &Bound<'_, PyTuple>) -> String {
    let item = |i: usize| row.get_item(i).map(|v| v.to_string()).unwrap_or_else(|_| "?".into());
    let op = row.get_item(0).and_then(|v| v.extract::<i64>()).unwrap_or(-1);
    let _ = py;
    match op {
        OP_DATA => {
            let pk = row.get_item(1).and_then(|n| n.getattr("_pk")).map(|p| p.to_string());
            format!("data node pk={}", pk.unwrap_or_else(|_| "?".into()))
        }
        OP_PROCESS => format!("process node pk={}", item(1)),
        OP_UPDATE => format!("update of pk={}", item(4)),
        OP_LINK => format!("link {}->{}", item(1), item(2)),
        OP_CALC => format!("task run '{}' pk={} and its output pk={}", item(3), item(1), item(11)),
        OP_SQL => format!("statement {}", item(1)),
        _ => format!("queued row {row}"),
    }
}

fn node_params<'a>(row: &'a NodeRow, blob_ids: &[Option<i64>]) -> Result<[Val<'a>; 13], String> {
    let blob = match row.blob {
        Some(i) => match blob_ids.get(i).copied().flatten() {
            Some(id) => Val::Int(id),
            None => return Err(format!("blob of node pk={} was not stored", row.pk)),
        },
        None => Val::Null,
    };
    Ok([
        Val::Int(row.pk),
        Val::Blob(&row.uuid),
        Val::Int(row.kind),
        Val::Text(&row.type_),
        row.label.as_deref().map_or(Val::Null, Val::Text),
        row.state.map_or(Val::Null, Val::Int),
        row.error.as_deref().map_or(Val::Null, Val::Text),
        row.run_pk.map_or(Val::Null, Val::Int),
        Val::Real(row.ctime),
        row.mtime.map_or(Val::Null, Val::Real),
        row.codec.as_deref().map_or(Val::Null, Val::Text),
        match &row.value {
            Inline::None => Val::Null,
            Inline::Text(s) => Val::Text(s),
            Inline::Bytes(b) => Val::Blob(b),
        },
        blob,
    ])
}

/// Write a batch in one transaction; on failure replay it statement by statement so that every
/// row that can be kept is kept. Returns one message per row that could not be written.
fn commit(conn: &Conn, batch: &Batch) -> Vec<(String, String)> {
    match commit_all(conn, batch) {
        Ok(()) => Vec::new(),
        Err(_) => {
            if conn.in_transaction() {
                let _ = conn.exec("ROLLBACK");
            }
            commit_row_by_row(conn, batch)
        }
    }
}

fn store_blobs(
    conn: &Conn,
    batch: &Batch,
    errors: &mut Vec<(String, String)>,
) -> Result<Vec<Option<i64>>, String> {
    let mut put = conn.prepare(BLOB_SQL)?;
    let mut get = conn.prepare(BLOB_ID_SQL)?;
    let mut ids = Vec::with_capacity(batch.blobs.len());
    for b in &batch.blobs {
        let stored = put
            .run(&[
                Val::Blob(&b.digest),
                Val::Int(b.data.len() as i64),
                Val::Text(&b.codec),
                Val::Blob(&b.data),
            ])
            .and_then(|_| get.run(&[Val::Blob(&b.digest)]));
        match stored {
            Ok(id) => ids.push(id),
            Err(e) => {
                errors.push((format!("blob {}", hex16(&b.digest)), e));
                ids.push(None);
            }
        }
    }
    Ok(ids)
}

fn hex16(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn commit_all(conn: &Conn, batch: &Batch) -> Result<(), String> {
    conn.exec("BEGIN IMMEDIATE")?;
    let mut errors = Vec::new();
    let ids = store_blobs(conn, batch, &mut errors)?;
    if !errors.is_empty() {
        return Err(errors.remove(0).1);
    }
    let mut nodes = conn.prepare(NODE_SQL)?;
    for row in &batch.nodes {
        nodes.run(&node_params(row, &ids)?)?;
    }
    let mut updates = conn.prepare(UPDATE_SQL)?;
    for u in &batch.updates {
        updates.run(&update_params(u))?;
    }
    let mut links = conn.prepare(LINK_SQL)?;
    for l in &batch.links {
        links.run(&[Val::Int(l.src), Val::Int(l.dst), Val::Int(l.type_), Val::Text(&l.label)])?;
    }
    drop((nodes, updates, links));
    let mut prepared = HashMap::new();
    for row in &batch.statements {
        if !prepared.contains_key(row.sql.as_str()) {
            prepared.insert(row.sql.as_str(), conn.prepare(&row.sql)?);
        }
        if let Some(stmt) = prepared.get_mut(row.sql.as_str()) {
            stmt.run(&row.params())?;
        }
    }
    drop(prepared);
    conn.exec("COMMIT")
}

fn update_params(u: &UpdateRow) -> [Val<'_>; 4] {
    [
        Val::Int(u.state),
        Val::Real(u.mtime),
        u.error.as_deref().map_or(Val::Null, Val::Text),
        Val::Int(u.pk),
    ]
}

fn commit_row_by_row(conn: &Conn, batch: &Batch) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let result = (|| -> Result<(), String> {
        conn.exec("BEGIN IMMEDIATE")?;
        let ids = store_blobs(conn, batch, &mut errors)?;
        let mut nodes = conn.prepare(NODE_SQL)?;
        for row in &batch.nodes {
            if let Err(e) = node_params(row, &ids).and_then(|p| nodes.run(&p[..])) {
                errors.push((format!("node pk={}", row.pk), e));
            }
        }
        let mut updates = conn.prepare(UPDATE_SQL)?;
        for u in &batch.updates {
            if let Err(e) = updates.run(&update_params(u)) {
                errors.push((format!("update of pk={}", u.pk), e));
            }
        }
        let mut links = conn.prepare(LINK_SQL)?;
        for l in &batch.links {
            let params = [Val::Int(l.src), Val::Int(l.dst), Val::Int(l.type_), Val::Text(&l.label)];
            if let Err(e) = links.run(&params) {
                errors.push((format!("link {}->{}", l.src, l.dst), e));
            }
        }
        drop((nodes, updates, links));
        for row in &batch.statements {
            if let Err(e) =
                conn.prepare(&row.sql).and_then(|mut s| s.run(&row.params()).map(|_| ()))
            {
                errors.push((format!("statement {}", row.sql), e));
            }
        }
        conn.exec("COMMIT")
    })();
    if let Err(e) = result {
        if conn.in_transaction() {
            let _ = conn.exec("ROLLBACK");
        }
        errors.push((format!("batch of {} rows lost", batch.len()), e));
    }
    errors
}

/// (row description, error kind, message) of a row that could not be written.
type RowError = (String, String, String);

/// The SQL side of the store's writer: one connection, used by the writer thread only.
#[pyclass(name = "SqlWriter", module = "ferroflow._core", frozen)]
pub(crate) struct SqlWriter {
    conn: Mutex<Option<Conn>>,
    codec: Codec,
}

#[pymethods]
impl SqlWriter {
    /// Open `path` through the SQLite library at `library` (the one Python's `sqlite3` uses)
    /// with `synchronous` = "NORMAL" or "FULL". `encode`, `type_name` and `digest` are the
    /// functions of `ferroflow.store.values`.
    #[new]
    fn new(
        library: &str,
        path: &str,
        synchronous: &str,
        encode: Py<PyAny>,
        type_name: Py<PyAny>,
        digest: Py<PyAny>,
    ) -> PyResult<Self> {
        if synchronous != "NORMAL" && synchronous != "FULL" {
            return Err(PyValueError::new_err("synchronous must be NORMAL or FULL"));
        }
        let api = Api::load(library).map_err(PyRuntimeError::new_err)?;
        let conn = Conn::open(api, path).map_err(PyRuntimeError::new_err)?;
        for pragma in [
            "PRAGMA journal_mode = WAL".to_string(),
            format!("PRAGMA synchronous = {synchronous}"),
            "PRAGMA temp_store = MEMORY".into(),
            "PRAGMA cache_size = -65536".into(),
        ] {
            conn.exec(&pragma).map_err(PyRuntimeError::new_err)?;
        }
        Ok(Self { conn: Mutex::new(Some(conn)), codec: Codec { encode, type_name, digest } })
    }

    /// Write the drained queue `rows` in one transaction. Returns (flush markers found among
    /// the rows, [(row description, error kind, message)] for rows that could not be written,
    /// pks of data nodes stored as the repr of an unserialisable value); the error kind is
    /// "sqlite" for SQLite's errors, else the Python exception's type name.
    fn write<'py>(
        &self,
        py: Python<'py>,
        rows: &Bound<'py, PyList>,
    ) -> PyResult<(Bound<'py, PyList>, Vec<RowError>, Vec<i64>)> {
        let markers = PyList::empty(py);
        let mut errors = Vec::new();
        let mut batch = Batch::default();
        for row in rows.iter() {
            let row = row.cast_into::<PyTuple>()?;
            let op = row.get_item(0)?.extract::<i64>().unwrap_or(-1);
            if op == OP_FLUSH {
                markers.append(row.get_item(1)?)?;
                continue;
            }
            if let Err(err) = self.codec.add(py, &row, &mut batch) {
                let kind = err.get_type(py).name().map(|n| n.to_string()).unwrap_or_default();
                errors.push((describe(py, &row), kind, err.value(py).to_string()));
            }
        }
        let unserialisable = std::mem::take(&mut batch.unserialisable);
        if batch.len() > 0 {
            // The connection moves to the detached closure and back (one writer thread uses it).
            let taken = self.conn.lock().ok().and_then(|mut g| g.take());
            let Some(conn) = taken else {
                let what = "store closed".to_string();
                errors.push((what, "RuntimeError".into(), "rows recorded after close()".into()));
                return Ok((markers, errors, unserialisable));
            };
            let (conn, written) = py.detach(move || {
                let written = commit(&conn, &batch);
                (conn, written)
            });
            if let Ok(mut g) = self.conn.lock() {
                *g = Some(conn);
            }
            errors.extend(written.into_iter().map(|(what, e)| (what, "sqlite".to_string(), e)));
        }
        Ok((markers, errors, unserialisable))
    }

    /// Checkpoint the WAL into the database (best effort) and close the connection.
    fn close(&self, py: Python<'_>) {
        let conn = self.conn.lock().ok().and_then(|mut g| g.take());
        if let Some(conn) = conn {
            py.detach(move || {
                // never wait for another process's readers (see writer.py's stop())
                let _ = conn.exec("PRAGMA busy_timeout = 0");
                let _ = conn.exec("PRAGMA wal_checkpoint(TRUNCATE)");
                drop(conn);
            });
        }
    }
}

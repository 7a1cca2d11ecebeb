//! The store writer's row conversion and its FFI committer.
//!
//! [`SqlWriter::prepare`] is the one place that says what queued rows mean (the layouts of
//! `store/rows.py`): a process's end folded into its insert, the expansion of a fast-lane
//! `OP_CALC` entry, values encoded by Python's `values.encode` with blobs de-duplicated, the
//! pks of unserialisable values, and an error per row that cannot be read or is longer than
//! SQLite accepts. It runs attached, on the writer thread, and yields a [`PreparedBatch`] of
//! plain Rust data. Either [`PreparedBatch::commit`] writes it through the SQLite library
//! Python's `sqlite3` uses, detached (Python's `executemany` re-takes the GIL for every row, and
//! with busy workers that hand-off costs more than SQLite itself), or [`PreparedBatch::params`]
//! hands the rows to the Python committer where that library cannot be proven (see `sqlite.rs`).

use crate::rows::{
    calc, data, flush, link, process, sql, update, BLOB_ID_SQL, BLOB_SQL, LINK_SQL, NODE_SQL,
    OP_CALC, OP_DATA, OP_FLUSH, OP_LINK, OP_PROCESS, OP_SQL, OP_UPDATE, OWNER_CLAIM_SQL,
    OWNER_RELEASE_SQL, UPDATE_SQL,
};
use crate::sqlite::{Api, Conn, Val};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyFloat, PyInt, PyList, PyString, PyTuple};
use std::collections::HashMap;
use std::ffi::c_int;
use std::sync::{Mutex, MutexGuard};

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

/// An upper bound on the bytes of the record SQLite builds for a row of `columns` columns whose
/// strings and blobs take `bytes`: a header of varints (its own size, a type per column; at
/// most 9 bytes each) and a body of at most 8 bytes per number. SQLite refuses a record longer
/// than `SQLITE_LIMIT_LENGTH` as it refuses a long value (SQLITE_TOOBIG), so a value within a
/// few bytes of the limit must be caught here too, where its task and socket are known.
fn record_bound(columns: usize, bytes: usize) -> usize {
    9 + columns * 17 + bytes
}

impl NodeRow {
    fn record_bound(&self) -> usize {
        let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        let value = match &self.value {
            Inline::None => 0,
            Inline::Text(s) => s.len(),
            Inline::Bytes(b) => b.len(),
        };
        let bytes = self.uuid.len()
            + self.type_.len()
            + text(&self.label)
            + text(&self.error)
            + text(&self.codec)
            + value;
        record_bound(13, bytes)
    }
}

/// One fast-lane task run in the packed form (`docs/packed-task-runs.md`): its process node,
/// CALL and INPUT links and its output node (pk + 1, uuid with last byte 1) in one row.
struct TaskRunRow {
    pk: i64,
    uuid: Vec<u8>,
    caller: i64,
    run_pk: i64,
    label: String,
    type_: String,
    state: i64,
    ctime: f64,
    mtime: f64,
    /// JSON `[[label, src_pk], ...]`: the inputs stored elsewhere
    inputs: String,
    /// JSON `[[link_code, label, type, codec, value], ...]`: the inline data nodes
    nodes: String,
}

impl TaskRunRow {
    fn record_bound(&self) -> usize {
        let bytes = self.uuid.len()
            + self.label.len()
            + self.type_.len()
            + self.inputs.len()
            + self.nodes.len();
        record_bound(12, bytes)
    }
}

/// An input of a packed task run stored elsewhere: who used the node is found by its `src`.
struct InputRefRow {
    src: i64,
    dst: i64,
    label: String,
}

/// A finished fast-lane task's provenance: read from its `OP_CALC` entry, or handed over by
/// `fast.rs` to [`SqlWriter::pack`].
pub(crate) struct FastRun<'py> {
    pub pk: i64,
    pub uuid: Vec<u8>,
    pub label: Bound<'py, PyAny>,
    pub process_type: Bound<'py, PyAny>,
    pub ctime: f64,
    pub mtime: f64,
    pub run_pk: Option<i64>,
    /// src of its CALL link
    pub caller: i64,
    /// INPUT link labels, one per pk in `sources`
    pub names: Bound<'py, PyTuple>,
    pub sources: Vec<i64>,
    pub out_pk: i64,
    pub out_uuid: Vec<u8>,
    pub value: Bound<'py, PyAny>,
    pub out_label: Bound<'py, PyAny>,
    /// plain constants stored as its nodes `pk + 2` …
    pub constants: Vec<Bound<'py, PyAny>>,
}

/// A fast-lane task run already in the packed form (see [`SqlWriter::pack`]), queued in place
/// of its `OP_CALC` entry: [`SqlWriter::prepare`] moves its rows into the batch.
#[pyclass(name = "PackedTaskRun", module = "ferroflow._core", frozen)]
pub(crate) struct PackedTaskRun {
    rows: Mutex<Option<(TaskRunRow, Vec<InputRefRow>)>>,
}

/// The packed form's statements; the tables are `store/schema.py`'s.
const TASK_RUN_SQL: &str = "INSERT INTO task_run(pk, uuid, caller, run_pk, label, type, state, \
                            ctime, mtime, hash, inputs, nodes) \
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)";
const INPUT_REF_SQL: &str = "INSERT INTO input_ref(src, dst, label) VALUES (?, ?, ?)";

/// `text` as a JSON string literal.
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
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

impl LinkRow {
    fn record_bound(&self) -> usize {
        record_bound(4, self.label.len())
    }
}

/// An owned statement parameter (`OP_SQL` rows: cache marks, code digests, run owners).
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

    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self {
            Owned::Null => py.None().into_bound(py),
            Owned::Int(v) => v.into_pyobject(py)?.into_any(),
            Owned::Real(v) => PyFloat::new(py, *v).into_any(),
            Owned::Text(s) => PyString::new(py, s).into_any(),
            Owned::Blob(b) => PyBytes::new(py, b).into_any(),
        })
    }
}

/// A statement queued as `OP_SQL`: run after the batch's nodes and links.
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

impl Blob {
    fn record_bound(&self) -> usize {
        record_bound(4, self.digest.len() + self.codec.len() + self.data.len())
    }
}

#[derive(Default)]
struct Batch {
    nodes: Vec<NodeRow>,
    task_runs: Vec<TaskRunRow>,
    input_refs: Vec<InputRefRow>,
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
        self.nodes.len()
            + self.task_runs.len()
            + self.input_refs.len()
            + self.updates.len()
            + self.links.len()
            + self.statements.len()
    }
}

/// Why a queued row was left out of the batch.
enum RowFail {
    /// Reading the row raised (a malformed uuid, a wrong type...).
    Py(PyErr),
    /// A string or blob of this many bytes is longer than SQLite accepts.
    TooBig(usize),
    /// The row holding it would take up to this many bytes, more than SQLite accepts.
    RowTooBig(usize),
}

impl From<PyErr> for RowFail {
    fn from(err: PyErr) -> Self {
        RowFail::Py(err)
    }
}

impl From<pyo3::CastError<'_, '_>> for RowFail {
    fn from(err: pyo3::CastError<'_, '_>) -> Self {
        RowFail::Py(err.into())
    }
}

type Row<T> = Result<T, RowFail>;

/// (row description, error kind, message) of a row that could not be written; the kind is a
/// Python exception's type name ("DataError": `sqlite3.DataError`, as Python's `sqlite3`
/// raises for a string or blob above SQLite's length limit).
type RowError = (String, String, String);

/// The codes of `store/schema.py` the `OP_CALC` expansion writes.
struct Codes {
    data: i64,
    calc: i64,
    finished: i64,
    input_calc: i64,
    create: i64,
    call_calc: i64,
}

fn code(schema: &Bound<'_, PyAny>, table: &str, name: &str) -> PyResult<i64> {
    schema.getattr(table)?.get_item(name)?.extract()
}

impl Codes {
    fn from_schema(schema: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Self {
            data: code(schema, "KIND_CODES", "data")?,
            calc: code(schema, "KIND_CODES", "calc")?,
            finished: code(schema, "STATE_CODES", "FINISHED")?,
            input_calc: code(schema, "LINK_CODES", "INPUT_CALC")?,
            create: code(schema, "LINK_CODES", "CREATE")?,
            call_calc: code(schema, "LINK_CODES", "CALL_CALC")?,
        })
    }
}

fn uuid_bytes(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    let text: String = obj.extract()?;
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let bad = || PyValueError::new_err(format!("badly formed uuid {text:?}"));
    if hex.len() != 32 || !hex.is_ascii() {
        return Err(bad());
    }
    (0..16).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())).collect()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads queued rows into [`PreparedBatch`]es (the store writer's row conversion).
#[pyclass(name = "SqlWriter", module = "ferroflow._core", frozen)]
pub(crate) struct SqlWriter {
    encode: Py<PyAny>,
    type_name: Py<PyAny>,
    digest: Py<PyAny>,
    unserialisable: String,
    scalars: Scalars,
    codes: Codes,
    /// Longest string or blob, in bytes, a row may hold.
    max_length: usize,
    /// Whether a fast-lane task run is written as one `task_run` row where it can be.
    packed: bool,
}

/// (type name, codec, inline JSON text) of a value, as `values` encodes it.
type Scalar = (String, String, String);

/// How `values` encodes the commonest task outputs, asked once when the writer starts: two
/// Python calls per value cost the writer ~10 % of its throughput (benches/store_rows.py).
struct Scalars {
    none: Scalar,
    true_: Scalar,
    false_: Scalar,
    /// Type name and codec of an `int`, whose payload is its decimal text; `None` if
    /// `values.encode` does not write ints that way (then every int goes through it).
    int: Option<(String, String)>,
}

impl Scalars {
    fn ask(
        py: Python<'_>,
        type_name: &Bound<'_, PyAny>,
        encode: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let scalar = |value: Bound<'_, PyAny>| -> PyResult<Option<Scalar>> {
            let type_: String = type_name.call1((&value,))?.extract()?;
            let encoded = encode.call1((&value,))?;
            let (codec, payload, blob): (String, Bound<'_, PyAny>, bool) = encoded.extract()?;
            Ok(match payload.extract::<String>() {
                Ok(text) if !blob => Some((type_, codec, text)),
                _ => None,
            })
        };
        let none = scalar(py.None().into_bound(py))?;
        let true_ = scalar(pyo3::types::PyBool::new(py, true).to_owned().into_any())?;
        let false_ = scalar(pyo3::types::PyBool::new(py, false).to_owned().into_any())?;
        let (Some(none), Some(true_), Some(false_)) = (none, true_, false_) else {
            return Err(PyValueError::new_err("values.encode must write None and bools inline"));
        };
        let mut int = None;
        let mut same = true;
        for sample in [0, 7, -12_345, i64::MIN, i64::MAX] {
            match scalar(sample.into_pyobject(py)?.into_any())? {
                Some((type_, codec, text)) if text == sample.to_string() => {
                    int = Some((type_, codec));
                }
                _ => same = false,
            }
        }
        Ok(Self { none, true_, false_, int: int.filter(|_| same) })
    }

    fn get(&self, value: &Bound<'_, PyAny>) -> Option<Scalar> {
        if value.is_none() {
            return Some(self.none.clone());
        }
        if let Ok(b) = value.cast_exact::<pyo3::types::PyBool>() {
            return Some(if b.is_true() { self.true_.clone() } else { self.false_.clone() });
        }
        let (type_, codec) = self.int.as_ref()?;
        if !value.is_exact_instance_of::<PyInt>() {
            return None;
        }
        let v = value.extract::<i64>().ok()?;
        Some((type_.clone(), codec.clone(), v.to_string()))
    }
}

impl SqlWriter {
    fn fit(&self, len: usize) -> Row<()> {
        if len > self.max_length {
            return Err(RowFail::TooBig(len));
        }
        Ok(())
    }

    /// Refuse a row whose record could be longer than SQLite accepts (see [`record_bound`]).
    fn fit_row(&self, bound: usize) -> Row<()> {
        if bound > self.max_length {
            return Err(RowFail::RowTooBig(bound));
        }
        Ok(())
    }

    fn text(&self, obj: &Bound<'_, PyAny>) -> Row<String> {
        let text: String = obj.extract()?;
        self.fit(text.len())?;
        Ok(text)
    }

    fn opt_text(&self, obj: &Bound<'_, PyAny>) -> Row<Option<String>> {
        if obj.is_none() {
            return Ok(None);
        }
        self.text(obj).map(Some)
    }

    fn owned(&self, obj: &Bound<'_, PyAny>) -> Row<Owned> {
        Ok(if obj.is_none() {
            Owned::Null
        } else if let Ok(b) = obj.cast::<PyBytes>() {
            self.fit(b.as_bytes().len())?;
            Owned::Blob(b.as_bytes().to_vec())
        } else if let Ok(s) = obj.cast::<PyString>() {
            let s = s.to_str()?;
            self.fit(s.len())?;
            Owned::Text(s.to_owned())
        } else if obj.is_instance_of::<PyInt>() {
            Owned::Int(obj.extract()?)
        } else {
            Owned::Real(obj.extract()?)
        })
    }

    /// A data node's row, its value encoded by `values.encode` (blobs go to `batch.blobs`).
    fn data_row(
        &self,
        py: Python<'_>,
        pk: i64,
        uuid: Vec<u8>,
        value: &Bound<'_, PyAny>,
        ctime: f64,
        batch: &mut Batch,
    ) -> Row<NodeRow> {
        if let Some((type_, codec, text)) = self.scalars.get(value) {
            let node = self.node_row(pk, uuid, type_, ctime, codec, Inline::Text(text), None);
            self.fit_row(node.record_bound())?;
            return Ok(node);
        }
        let type_ = self.text(&self.type_name.bind(py).call1((value,))?)?;
        let encoded = self.encode.bind(py).call1((value,))?;
        let encoded = encoded.cast::<PyTuple>()?;
        let codec: String = encoded.get_item(0)?.extract()?;
        let payload = encoded.get_item(1)?;
        let is_blob: bool = encoded.get_item(2)?.extract()?;
        if is_blob {
            let data = payload.cast::<PyBytes>()?.as_bytes();
            self.fit(data.len())?;
            let digest: Vec<u8> = self.digest.bind(py).call1((&codec, &payload))?.extract()?;
            let index = batch.blob_index.get(&digest).copied();
            let at = index.unwrap_or(batch.blobs.len());
            let node = self.node_row(pk, uuid, type_, ctime, codec.clone(), Inline::None, Some(at));
            self.fit_row(node.record_bound())?;
            if index.is_none() {
                let blob = Blob { digest, codec: codec.clone(), data: data.to_vec() };
                self.fit_row(blob.record_bound())?;
                batch.blob_index.insert(blob.digest.clone(), at);
                batch.blobs.push(blob);
            }
            if codec == self.unserialisable {
                batch.unserialisable.push(pk);
            }
            return Ok(node);
        }
        let inline = if let Ok(s) = payload.cast::<PyString>() {
            Inline::Text(self.text(s)?)
        } else {
            let b = payload.cast::<PyBytes>()?.as_bytes();
            self.fit(b.len())?;
            Inline::Bytes(b.to_vec())
        };
        let node = self.node_row(pk, uuid, type_, ctime, codec, inline, None);
        self.fit_row(node.record_bound())?;
        if node.codec.as_deref() == Some(self.unserialisable.as_str()) {
            batch.unserialisable.push(pk);
        }
        Ok(node)
    }

    #[allow(clippy::too_many_arguments)]
    fn node_row(
        &self,
        pk: i64,
        uuid: Vec<u8>,
        type_: String,
        ctime: f64,
        codec: String,
        value: Inline,
        blob: Option<usize>,
    ) -> NodeRow {
        NodeRow {
            pk,
            uuid,
            kind: self.codes.data,
            type_,
            label: None,
            state: None,
            error: None,
            run_pk: None,
            ctime,
            mtime: None,
            codec: Some(codec),
            value,
            blob,
        }
    }

    /// Add one queued row (not a flush marker) to the batch.
    fn add(&self, py: Python<'_>, op: i64, row: &Bound<'_, PyTuple>, batch: &mut Batch) -> Row<()> {
        match op {
            OP_LINK => {
                let link = LinkRow {
                    src: row.get_item(link::SRC)?.extract()?,
                    dst: row.get_item(link::DST)?.extract()?,
                    type_: row.get_item(link::TYPE)?.extract()?,
                    label: self.text(&row.get_item(link::LABEL)?)?,
                };
                self.fit_row(link.record_bound())?;
                batch.links.push(link);
            }
            OP_DATA => {
                let node = row.get_item(data::NODE)?;
                let pk: i64 = node.getattr("_pk")?.extract()?;
                let uuid = uuid_bytes(&node.getattr("uuid")?)?;
                let value = node.getattr("value")?;
                let ctime = row.get_item(data::CTIME)?.extract()?;
                let node = self.data_row(py, pk, uuid, &value, ctime, batch)?;
                batch.nodes.push(node);
            }
            OP_PROCESS => {
                let pk: i64 = row.get_item(process::PK)?.extract()?;
                let node = NodeRow {
                    pk,
                    uuid: uuid_bytes(&row.get_item(process::UUID)?)?,
                    kind: row.get_item(process::KIND)?.extract()?,
                    label: Some(self.text(&row.get_item(process::LABEL)?)?),
                    type_: self.text(&row.get_item(process::PROCESS_TYPE)?)?,
                    state: Some(row.get_item(process::STATE)?.extract()?),
                    error: None,
                    ctime: row.get_item(process::CTIME)?.extract()?,
                    run_pk: row.get_item(process::RUN_PK)?.extract()?,
                    mtime: None,
                    codec: None,
                    value: Inline::None,
                    blob: None,
                };
                self.fit_row(node.record_bound())?;
                batch.new_process.insert(pk, batch.nodes.len());
                batch.nodes.push(node);
            }
            OP_UPDATE => {
                let update = UpdateRow {
                    state: row.get_item(update::STATE)?.extract()?,
                    mtime: row.get_item(update::MTIME)?.extract()?,
                    error: self.opt_text(&row.get_item(update::ERROR)?)?,
                    pk: row.get_item(update::PK)?.extract()?,
                };
                // A task that starts and ends within one batch (the common case) gets its end
                // folded into its INSERT instead of a separate UPDATE: ~15 % fewer statements.
                match batch.new_process.get(&update.pk) {
                    Some(&i) => {
                        let node = &mut batch.nodes[i];
                        let error = update.error.as_ref().map_or(0, String::len);
                        let before = node.error.as_ref().map_or(0, String::len);
                        self.fit_row(node.record_bound() - before + error)?;
                        node.state = Some(update.state);
                        node.mtime = Some(update.mtime);
                        node.error = update.error;
                    }
                    None => batch.updates.push(update),
                }
            }
            OP_CALC => self.add_calc(py, row, batch)?,
            OP_SQL => {
                let params = row.get_item(sql::PARAMS)?;
                let params = params.cast::<PyTuple>()?;
                let params = params.iter().map(|p| self.owned(&p)).collect::<Row<_>>()?;
                let sql = row.get_item(sql::SQL)?.extract()?;
                batch.statements.push(SqlRow { sql, params });
            }
            _ => return Err(PyValueError::new_err(format!("unknown queued row op {op}")).into()),
        }
        Ok(())
    }

    /// A finished fast-lane task (see `fast.rs`): calc node, output node and its links. Nothing
    /// is added unless the whole entry is good.
    fn add_calc(&self, py: Python<'_>, row: &Bound<'_, PyTuple>, batch: &mut Batch) -> Row<()> {
        let names = row.get_item(calc::INPUT_LABELS)?;
        let sources = row.get_item(calc::INPUT_PKS)?;
        let sources = sources.cast::<PyTuple>()?;
        let constants = row.get_item(calc::INLINE_VALUES)?;
        let run = FastRun {
            pk: row.get_item(calc::PK)?.extract()?,
            uuid: uuid_bytes(&row.get_item(calc::UUID)?)?,
            label: row.get_item(calc::LABEL)?,
            process_type: row.get_item(calc::PROCESS_TYPE)?,
            ctime: row.get_item(calc::CTIME)?.extract()?,
            mtime: row.get_item(calc::MTIME)?.extract()?,
            run_pk: row.get_item(calc::RUN_PK)?.extract()?,
            caller: row.get_item(calc::CALLER_PK)?.extract()?,
            names: names.cast_into::<PyTuple>().map_err(PyErr::from)?,
            sources: sources.iter().map(|src| src.extract()).collect::<PyResult<_>>()?,
            out_pk: row.get_item(calc::OUT_PK)?.extract()?,
            out_uuid: uuid_bytes(&row.get_item(calc::OUT_UUID)?)?,
            value: row.get_item(calc::VALUE)?,
            out_label: row.get_item(calc::OUT_LABEL)?,
            constants: constants.cast::<PyTuple>()?.iter().collect(),
        };
        let (task, links) = self.calc_rows(&run)?;
        if let Some(inline) = self.packable(py, &run, &task)? {
            return self.add_packed(task, run.caller, links, inline, batch);
        }
        // Node form: the constants' nodes are made here, numbered and named as a packed row's.
        let (pk, ctime) = (run.pk, run.ctime);
        let mut made = Vec::with_capacity(run.constants.len() + 1);
        for (j, constant) in run.constants.iter().enumerate() {
            let mut uuid = task.uuid.clone();
            uuid[15] = u8::try_from(j + 2).unwrap_or(u8::MAX);
            let at = pk + 2 + i64::try_from(j).unwrap_or(i64::MAX);
            made.push(self.data_row(py, at, uuid, constant, ctime, batch)?);
        }
        let output = self.data_row(py, run.out_pk, run.out_uuid, &run.value, ctime, batch)?;
        batch.nodes.push(task);
        batch.nodes.append(&mut made);
        batch.nodes.push(output);
        batch.links.extend(links);
        Ok(())
    }

    /// The calc node row of a finished fast-lane task and its links (CALL, the INPUTs, CREATE),
    /// each checked against SQLite's length limit.
    fn calc_rows(&self, run: &FastRun<'_>) -> Row<(NodeRow, Vec<LinkRow>)> {
        let label = self.text(&run.label)?;
        if run.names.len() != run.sources.len() {
            return Err(PyValueError::new_err("input labels and pks differ in length").into());
        }
        let task = NodeRow {
            pk: run.pk,
            uuid: run.uuid.clone(),
            kind: self.codes.calc,
            type_: self.text(&run.process_type)?,
            label: Some(label.clone()),
            state: Some(self.codes.finished),
            error: None,
            run_pk: run.run_pk,
            ctime: run.ctime,
            mtime: Some(run.mtime),
            codec: None,
            value: Inline::None,
            blob: None,
        };
        self.fit_row(task.record_bound())?;
        let mut links = Vec::with_capacity(run.sources.len() + 2);
        links.push(LinkRow { src: run.caller, dst: run.pk, type_: self.codes.call_calc, label });
        for (name, &src) in run.names.iter().zip(&run.sources) {
            let label = self.text(&name)?;
            links.push(LinkRow { src, dst: run.pk, type_: self.codes.input_calc, label });
        }
        let out_label = self.text(&run.out_label)?;
        links.push(LinkRow {
            src: run.pk,
            dst: run.out_pk,
            type_: self.codes.create,
            label: out_label,
        });
        for link in &links {
            self.fit_row(link.record_bound())?;
        }
        let k = run.constants.len();
        if k > 253 || (k > 0 && task.uuid.len() != 16) {
            return Err(PyValueError::new_err("too many inline constants").into());
        }
        Ok((task, links))
    }

    /// The inline nodes (the output first, then the constants) of a task run the packed form
    /// can hold: packing on, the output at `pk + 1`, uuids derived from the row's, every value
    /// inline JSON. None: it keeps the node form.
    fn packable(
        &self,
        py: Python<'_>,
        run: &FastRun<'_>,
        task: &NodeRow,
    ) -> Row<Option<Vec<Scalar>>> {
        let uuid = &task.uuid;
        let out = &run.out_uuid;
        if !self.packed
            || run.out_pk != run.pk + 1
            || uuid.len() != 16
            || uuid[15] != 0
            || out.len() != 16
            || out[..15] != uuid[..15]
            || out[15] != 1
        {
            return Ok(None);
        }
        let Some(output) = self.inline_json(py, &run.value)? else { return Ok(None) };
        let mut inline = Vec::with_capacity(run.constants.len() + 1);
        inline.push(output);
        for constant in &run.constants {
            match self.inline_json(py, constant)? {
                Some(found) => inline.push(found),
                None => return Ok(None),
            }
        }
        Ok(Some(inline))
    }

    /// The packed form of a finished fast-lane task, made on the worker thread that ran it, so
    /// the writer only moves its rows into a batch (reading the 16-item `OP_CALC` entry there
    /// cost the writer, the run's bottleneck, about a third of its time). None where it keeps
    /// the node form, or where any part would be a row error: its `OP_CALC` entry then goes
    /// through [`SqlWriter::prepare`], which reports that error as it always does.
    pub(crate) fn pack(&self, py: Python<'_>, run: &FastRun<'_>) -> Option<PackedTaskRun> {
        if !self.packed {
            return None;
        }
        let (task, links) = self.calc_rows(run).ok()?;
        let inline = self.packable(py, run, &task).ok()??;
        let mut batch = Batch::default();
        self.add_packed(task, run.caller, links, inline, &mut batch).ok()?;
        let row = batch.task_runs.pop()?;
        Some(PackedTaskRun { rows: Mutex::new(Some((row, batch.input_refs))) })
    }

    /// `(type, codec, JSON text)` of a value `values.encode` stores inline as JSON; None for
    /// any other (a blob, pickle, an array): such an output keeps its `node` row.
    fn inline_json(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> Row<Option<Scalar>> {
        if let Some(found) = self.scalars.get(value) {
            return Ok(Some(found));
        }
        let encoded = self.encode.bind(py).call1((value,))?;
        let encoded = encoded.cast::<PyTuple>()?;
        let codec: String = encoded.get_item(0)?.extract()?;
        let is_blob: bool = encoded.get_item(2)?.extract()?;
        if is_blob || codec != self.scalars.none.1 {
            return Ok(None);
        }
        let Ok(text) = encoded.get_item(1)?.cast_into::<PyString>() else { return Ok(None) };
        let text = self.text(&text)?;
        let type_ = self.text(&self.type_name.bind(py).call1((value,))?)?;
        Ok(Some((type_, codec, text)))
    }

    /// The packed form of a fast-lane task run whose node row `task` and `links` (CALL, the
    /// INPUTs, CREATE) were read: one `task_run` row holding its output as node `pk + 1` and its
    /// inline constants as `pk + 2` …, (`inline`: their `(type, codec, JSON text)`, the output
    /// first), and an `input_ref` row per input stored elsewhere, so its consumers are found.
    fn add_packed(
        &self,
        task: NodeRow,
        caller: i64,
        links: Vec<LinkRow>,
        inline: Vec<Scalar>,
        batch: &mut Batch,
    ) -> Row<()> {
        let mut labels = vec![String::new(); inline.len()];
        let mut codes = vec![self.codes.input_calc; inline.len()];
        let last = task.pk + i64::try_from(inline.len()).unwrap_or(i64::MAX);
        let mut inputs = String::from("[");
        for link in links {
            if link.type_ == self.codes.create {
                codes[0] = self.codes.create;
                labels[0] = link.label;
            } else if link.type_ == self.codes.input_calc {
                if link.src > task.pk + 1 && link.src <= last {
                    let at = usize::try_from(link.src - task.pk - 1).unwrap_or(0);
                    labels[at] = link.label;
                    continue;
                }
                if inputs.len() > 1 {
                    inputs.push(',');
                }
                inputs.push('[');
                json_string(&mut inputs, &link.label);
                inputs.push_str(&format!(",{}]", link.src));
                batch.input_refs.push(InputRefRow {
                    src: link.src,
                    dst: task.pk,
                    label: link.label,
                });
            }
        }
        inputs.push(']');
        let mut nodes = String::from("[");
        for ((code, label), (type_, codec, text)) in codes.iter().zip(&labels).zip(&inline) {
            if nodes.len() > 1 {
                nodes.push(',');
            }
            nodes.push_str(&format!("[{code}"));
            for part in [label, type_, codec, text] {
                nodes.push(',');
                json_string(&mut nodes, part);
            }
            nodes.push(']');
        }
        nodes.push(']');
        let row = TaskRunRow {
            pk: task.pk,
            uuid: task.uuid,
            caller,
            run_pk: task.run_pk.unwrap_or(task.pk),
            label: task.label.unwrap_or_default(),
            type_: task.type_,
            state: self.codes.finished,
            ctime: task.ctime,
            mtime: task.mtime.unwrap_or(task.ctime),
            inputs,
            nodes,
        };
        self.fit_row(row.record_bound())?;
        batch.task_runs.push(row);
        Ok(())
    }

    fn row_error(&self, py: Python<'_>, what: String, fail: RowFail) -> RowError {
        match fail {
            RowFail::Py(err) => {
                let kind = err.get_type(py).name().map(|n| n.to_string()).unwrap_or_default();
                (what, kind, err.value(py).to_string())
            }
            RowFail::TooBig(len) => (
                what,
                "DataError".into(),
                format!(
                    "string or blob too big: {len} bytes, SQLite's limit is {}",
                    self.max_length
                ),
            ),
            RowFail::RowTooBig(len) => (
                what,
                "DataError".into(),
                format!(
                    "string or blob too big: its row takes up to {len} bytes, SQLite's limit \
                     is {}",
                    self.max_length
                ),
            ),
        }
    }
}

/// What a failed row was, for its error message. An `OP_CALC` entry names its task and output
/// socket; a data node is named by pk here, and by its task and socket once its `CREATE` link
/// is read (see [`SqlWriter::prepare`]).
fn describe(row: &Bound<'_, PyTuple>, op: i64) -> String {
    let item = |i: usize| row.get_item(i).map(|v| v.to_string()).unwrap_or_else(|_| "?".into());
    match op {
        OP_DATA => {
            let pk = row.get_item(data::NODE).and_then(|n| n.getattr("_pk")).map(|p| p.to_string());
            format!("data node pk={}", pk.unwrap_or_else(|_| "?".into()))
        }
        OP_PROCESS => format!("process node pk={}", item(process::PK)),
        OP_UPDATE => format!("update of pk={}", item(update::PK)),
        OP_LINK => format!("link {}->{}", item(link::SRC), item(link::DST)),
        OP_CALC => format!(
            "task run '{}' pk={} and its output '{}' pk={}",
            item(calc::LABEL),
            item(calc::PK),
            item(calc::OUT_LABEL),
            item(calc::OUT_PK)
        ),
        OP_SQL => format!("statement {}", item(sql::SQL)),
        _ => format!("queued row {row}"),
    }
}

#[pymethods]
impl SqlWriter {
    /// `values` is `ferroflow.store.values` (its `encode`, `type_name`, `digest` and
    /// `UNSERIALISABLE` codec: Python decides how every value is stored); `schema` is
    /// `ferroflow.store.schema` (its kind, state and link codes); `max_length` is the longest
    /// string or blob in bytes SQLite accepts (`SQLITE_LIMIT_LENGTH`, at most `INT_MAX`).
    /// `packed`: write a fast-lane task run as one `task_run` row where it can be (see
    /// `add_calc`).
    #[new]
    #[pyo3(signature = (values, schema, max_length, packed = false))]
    fn new(
        values: &Bound<'_, PyAny>,
        schema: &Bound<'_, PyAny>,
        max_length: usize,
        packed: bool,
    ) -> PyResult<Self> {
        let int_max = usize::try_from(c_int::MAX).unwrap_or(usize::MAX);
        let encode = values.getattr("encode")?;
        let type_name = values.getattr("type_name")?;
        Ok(Self {
            scalars: Scalars::ask(values.py(), &type_name, &encode)?,
            encode: encode.unbind(),
            type_name: type_name.unbind(),
            digest: values.getattr("digest")?.unbind(),
            unserialisable: values.getattr("UNSERIALISABLE")?.extract()?,
            codes: Codes::from_schema(schema)?,
            max_length: max_length.min(int_max),
            packed,
        })
    }

    /// Read the drained queue `rows` into a batch. Never raises for a bad row: its error is in
    /// the batch's `errors` and the other rows are kept.
    fn prepare(&self, py: Python<'_>, rows: &Bound<'_, PyList>) -> PyResult<PreparedBatch> {
        let markers = PyList::empty(py);
        let mut errors: Vec<RowError> = Vec::new();
        let mut batch = Batch::default();
        // pk of a data node left out -> its error, named after its task once its CREATE link
        // shows which task made it.
        let mut failed_data: HashMap<i64, usize> = HashMap::new();
        for (index, row) in rows.iter().enumerate() {
            if let Ok(packed) = row.cast::<PackedTaskRun>() {
                if let Some((run, refs)) = lock(&packed.get().rows).take() {
                    batch.task_runs.push(run);
                    batch.input_refs.extend(refs);
                }
                continue;
            }
            let row = match row.cast_into::<PyTuple>() {
                Ok(row) => row,
                Err(err) => {
                    let what = format!("queued row {index}");
                    errors.push(self.row_error(
                        py,
                        what,
                        RowFail::Py(PyTypeError::new_err(err.to_string())),
                    ));
                    continue;
                }
            };
            let op = match row.get_item(0).and_then(|op| op.extract::<i64>()) {
                Ok(op) => op,
                Err(err) => {
                    errors.push(self.row_error(py, describe(&row, -1), err.into()));
                    continue;
                }
            };
            let added = if op == OP_FLUSH {
                row.get_item(flush::DONE)
                    .and_then(|done| markers.append(done))
                    .map_err(RowFail::from)
            } else {
                self.add(py, op, &row, &mut batch)
            };
            match added {
                Ok(()) if op == OP_LINK && !failed_data.is_empty() => {
                    if let Some(link) = batch.links.last() {
                        if link.type_ == self.codes.create {
                            if let Some(&at) = failed_data.get(&link.dst) {
                                let task = match batch.new_process.get(&link.src) {
                                    Some(&i) => format!(
                                        "task run '{}' pk={}",
                                        batch.nodes[i].label.as_deref().unwrap_or("?"),
                                        link.src
                                    ),
                                    None => format!("process pk={}", link.src),
                                };
                                errors[at].0 += &format!(", output '{}' of {task}", link.label);
                            }
                        }
                    }
                }
                Ok(()) => {}
                Err(fail) => {
                    if op == OP_DATA {
                        let pk = row.get_item(data::NODE).and_then(|n| n.getattr("_pk")?.extract());
                        if let Ok(pk) = pk {
                            failed_data.insert(pk, errors.len());
                        }
                    }
                    errors.push(self.row_error(py, describe(&row, op), fail));
                }
            }
        }
        drop_owner_pairs(&mut batch.statements);
        let unserialisable = std::mem::take(&mut batch.unserialisable);
        batch.blob_index = HashMap::new();
        batch.new_process = HashMap::new();
        Ok(PreparedBatch { batch, markers: markers.unbind(), errors, unserialisable })
    }
}

/// The run pk a run-owner statement names (its first parameter).
fn owner_run(row: &SqlRow) -> Option<i64> {
    match row.params.first() {
        Some(Owned::Int(pk)) => Some(*pk),
        _ => None,
    }
}

/// Leave out a run's owner claim and its release when both are in this batch, the claim first:
/// in one transaction they cancel (the row is inserted and deleted), and the run's node is
/// written with its end state in the same transaction, so no committed state ever lacks the
/// owner row it needs. A small run, committed whole by its final flush, saves two statements
/// and a page of the WAL. A claim whose release is in a later batch stays, as it must: its
/// run is committed RUNNING meanwhile.
fn drop_owner_pairs(statements: &mut Vec<SqlRow>) {
    let mut claims: HashMap<i64, usize> = HashMap::new();
    let mut dropped: Vec<usize> = Vec::new();
    for (i, row) in statements.iter().enumerate() {
        if row.sql == OWNER_CLAIM_SQL {
            if let Some(pk) = owner_run(row) {
                claims.insert(pk, i);
            }
        } else if row.sql == OWNER_RELEASE_SQL {
            if let Some(claim) = owner_run(row).and_then(|pk| claims.remove(&pk)) {
                dropped.push(claim);
                dropped.push(i);
            }
        }
    }
    if dropped.is_empty() {
        return;
    }
    dropped.sort_unstable();
    let mut index = 0;
    statements.retain(|_| {
        let keep = dropped.binary_search(&index).is_err();
        index += 1;
        keep
    });
}

/// The rows of one drain, ready to commit; see [`SqlWriter::prepare`].
#[pyclass(module = "ferroflow._core", frozen)]
pub(crate) struct PreparedBatch {
    batch: Batch,
    markers: Py<PyList>,
    errors: Vec<RowError>,
    unserialisable: Vec<i64>,
}

#[pymethods]
impl PreparedBatch {
    /// The flush markers (held locks) among the rows: release them once the batch is committed.
    #[getter]
    fn markers<'py>(&self, py: Python<'py>) -> Bound<'py, PyList> {
        self.markers.bind(py).clone()
    }

    /// `(row description, error kind, message)` of each row left out; the kind is the name of
    /// the Python exception it stands for.
    #[getter]
    fn errors(&self) -> Vec<RowError> {
        self.errors.clone()
    }

    /// pks of the data nodes stored as the repr of a value that could not be serialised.
    #[getter]
    fn unserialisable(&self) -> Vec<i64> {
        self.unserialisable.clone()
    }

    /// Number of statements the batch runs.
    fn __len__(&self) -> usize {
        self.batch.len()
    }

    /// Write the batch in one transaction on `conn`, detached; should that fail, replay it
    /// statement by statement so that every row that can be kept is kept. Returns
    /// `(row description, SQLite's message)` for each row that could not be written.
    fn commit(&self, py: Python<'_>, conn: &SqliteConnection) -> Vec<(String, String)> {
        let batch = &self.batch;
        py.detach(|| match lock(&conn.conn).as_ref() {
            Some(c) => commit(c, batch),
            None => vec![("store closed".into(), "rows recorded after close() dropped".into())],
        })
    }

    /// The batch as statement parameters, for a committer using Python's `sqlite3`:
    /// `(blobs, nodes, updates, links, statements)`, each a list of parameter tuples for the
    /// statements `WRITER_SQL` names ("blob", "node", "update", "link"), and `statements` of
    /// `(sql, params)`. A node's last column (`blob_id`) holds the index of its blob in `blobs`
    /// (or None): the committer replaces it with the id the blob got.
    #[allow(clippy::type_complexity)]
    fn params<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(
        Vec<Bound<'py, PyTuple>>,
        Vec<Bound<'py, PyTuple>>,
        Vec<Bound<'py, PyTuple>>,
        Vec<Bound<'py, PyTuple>>,
        Vec<(String, Bound<'py, PyTuple>)>,
    )> {
        let b = &self.batch;
        let blobs = b
            .blobs
            .iter()
            .map(|blob| {
                let size = i64::try_from(blob.data.len()).unwrap_or(i64::MAX);
                (PyBytes::new(py, &blob.digest), size, &blob.codec, PyBytes::new(py, &blob.data))
                    .into_pyobject(py)
            })
            .collect::<PyResult<_>>()?;
        let nodes = b
            .nodes
            .iter()
            .map(|n| {
                let value = match &n.value {
                    Inline::None => py.None().into_bound(py),
                    Inline::Text(s) => PyString::new(py, s).into_any(),
                    Inline::Bytes(v) => PyBytes::new(py, v).into_any(),
                };
                PyTuple::new(
                    py,
                    [
                        n.pk.into_pyobject(py)?.into_any(),
                        PyBytes::new(py, &n.uuid).into_any(),
                        n.kind.into_pyobject(py)?.into_any(),
                        PyString::new(py, &n.type_).into_any(),
                        n.label.as_deref().into_pyobject(py)?.into_any(),
                        n.state.into_pyobject(py)?.into_any(),
                        n.error.as_deref().into_pyobject(py)?.into_any(),
                        n.run_pk.into_pyobject(py)?.into_any(),
                        PyFloat::new(py, n.ctime).into_any(),
                        n.mtime.into_pyobject(py)?.into_any(),
                        n.codec.as_deref().into_pyobject(py)?.into_any(),
                        value,
                        n.blob.into_pyobject(py)?.into_any(),
                    ],
                )
            })
            .collect::<PyResult<_>>()?;
        let updates = b
            .updates
            .iter()
            .map(|u| (u.state, u.mtime, u.error.as_deref(), u.pk).into_pyobject(py))
            .collect::<PyResult<_>>()?;
        let links = b
            .links
            .iter()
            .map(|l| (l.src, l.dst, l.type_, &l.label).into_pyobject(py))
            .collect::<PyResult<_>>()?;
        // The packed rows go first among the statements (they run after the nodes and links,
        // like the Rust committer's, which inserts them with the nodes: no key joins them).
        let mut statements: Vec<(String, Bound<'py, PyTuple>)> = Vec::new();
        for r in &b.task_runs {
            let params = (
                r.pk,
                PyBytes::new(py, &r.uuid),
                r.caller,
                r.run_pk,
                &r.label,
                &r.type_,
                r.state,
                r.ctime,
                r.mtime,
                &r.inputs,
                &r.nodes,
            );
            statements.push((TASK_RUN_SQL.to_string(), params.into_pyobject(py)?));
        }
        for r in &b.input_refs {
            let params = (r.src, r.dst, &r.label).into_pyobject(py)?;
            statements.push((INPUT_REF_SQL.to_string(), params));
        }
        for s in &b.statements {
            let params = s.params.iter().map(|p| p.to_py(py)).collect::<PyResult<Vec<_>>>()?;
            statements.push((s.sql.clone(), PyTuple::new(py, params)?));
        }
        Ok((blobs, nodes, updates, links, statements))
    }
}

/// A write connection through the SQLite library Python's `sqlite3` uses (see `sqlite.rs`).
#[pyclass(module = "ferroflow._core", frozen)]
pub(crate) struct SqliteConnection {
    conn: Mutex<Option<Conn>>,
}

#[pymethods]
impl SqliteConnection {
    /// Open `path` through the SQLite library of the loaded `_sqlite3` extension at
    /// `extension`, which must be version `version` (`sqlite3.sqlite_version_info` as
    /// `major * 1_000_000 + minor * 1000 + patch`), and run `pragmas`. Raises RuntimeError
    /// saying why when that library cannot be proven to be Python's.
    #[new]
    fn new(
        py: Python<'_>,
        extension: String,
        version: i64,
        path: String,
        pragmas: Vec<String>,
    ) -> PyResult<Self> {
        // Detached: opening and the journal-mode pragma may wait for another writer's lock.
        let conn = py.detach(move || -> Result<Conn, String> {
            let api = Api::load(&extension, version)?;
            let conn = Conn::open(api, &path)?;
            for pragma in &pragmas {
                conn.exec(pragma)?;
            }
            Ok(conn)
        });
        Ok(Self { conn: Mutex::new(Some(conn.map_err(PyRuntimeError::new_err)?)) })
    }

    /// The longest string or blob, in bytes, this connection accepts (`SQLITE_LIMIT_LENGTH`),
    /// after setting it to `limit` if one is given: tests lower it to reach the too-long path
    /// without 2 GiB values. Raises RuntimeError once the connection is closed.
    #[pyo3(signature = (limit=None))]
    fn limit_length(&self, py: Python<'_>, limit: Option<c_int>) -> PyResult<c_int> {
        py.detach(|| {
            let guard = lock(&self.conn);
            let conn = guard.as_ref().ok_or("the connection is closed")?;
            if let Some(limit) = limit {
                conn.limit_length(limit.max(0));
            }
            Ok(conn.limit_length(-1))
        })
        .map_err(|e: &str| PyRuntimeError::new_err(e))
    }

    /// Checkpoint the WAL into the database (best effort) and close the connection.
    fn close(&self, py: Python<'_>) {
        py.detach(|| {
            if let Some(conn) = lock(&self.conn).take() {
                // never wait for another process's readers (see writer.py's stop())
                let _ = conn.exec("PRAGMA busy_timeout = 0");
                let _ = conn.exec("PRAGMA wal_checkpoint(TRUNCATE)");
            }
        });
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

fn task_run_params(r: &TaskRunRow) -> [Val<'_>; 11] {
    [
        Val::Int(r.pk),
        Val::Blob(&r.uuid),
        Val::Int(r.caller),
        Val::Int(r.run_pk),
        Val::Text(&r.label),
        Val::Text(&r.type_),
        Val::Int(r.state),
        Val::Real(r.ctime),
        Val::Real(r.mtime),
        Val::Text(&r.inputs),
        Val::Text(&r.nodes),
    ]
}

fn input_ref_params(r: &InputRefRow) -> [Val<'_>; 3] {
    [Val::Int(r.src), Val::Int(r.dst), Val::Text(&r.label)]
}

fn update_params(u: &UpdateRow) -> [Val<'_>; 4] {
    [
        Val::Int(u.state),
        Val::Real(u.mtime),
        u.error.as_deref().map_or(Val::Null, Val::Text),
        Val::Int(u.pk),
    ]
}

fn link_params(l: &LinkRow) -> [Val<'_>; 4] {
    [Val::Int(l.src), Val::Int(l.dst), Val::Int(l.type_), Val::Text(&l.label)]
}

/// SQLite messages that say the file, not a row, is at fault (disk full, I/O error, lock held,
/// read-only or damaged file): replaying the batch row by row would keep whichever rows still
/// fit, e.g. links whose nodes did not, so such a batch is lost whole. The module exports this
/// list as `_core.FATAL_MESSAGES`, which the Python committer (`store/faults.py`) reads, so
/// both committers judge an error by the one list.
pub(crate) const FATAL_MESSAGES: [&str; 7] = [
    "database or disk is full",
    "disk I/O error",
    "database is locked",
    "readonly database",
    "file is not a database",
    "malformed",
    "unable to open database",
];

fn is_fatal(message: &str) -> bool {
    FATAL_MESSAGES.iter().any(|m| message.contains(m))
}

/// Write a batch in one transaction; on failure replay it statement by statement so that every
/// row that can be kept is kept, unless the failure is the file's (`is_fatal`): then the batch
/// is lost whole. Returns one message per row that could not be written.
fn commit(conn: &Conn, batch: &Batch) -> Vec<(String, String)> {
    match commit_all(conn, batch) {
        Ok(()) => Vec::new(),
        Err(e) => {
            if conn.in_transaction() {
                let _ = conn.exec("ROLLBACK");
            }
            if is_fatal(&e) {
                return vec![(format!("batch of {} rows lost", batch.len()), e)];
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
    let mut ids = Vec::with_capacity(batch.blobs.len());
    if batch.blobs.is_empty() {
        return Ok(ids);
    }
    let mut put = conn.cached(BLOB_SQL)?;
    let mut get = conn.cached(BLOB_ID_SQL)?;
    for b in &batch.blobs {
        let size = i64::try_from(b.data.len()).map_err(|e| e.to_string());
        let stored = size
            .and_then(|size| {
                put.run(&[
                    Val::Blob(&b.digest),
                    Val::Int(size),
                    Val::Text(&b.codec),
                    Val::Blob(&b.data),
                ])
            })
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

/// Rows per multi-row `INSERT` when a batch commits in one go: one statement step then inserts
/// this many rows, which saves SQLite the per-statement work of each (a no-op task's six rows
/// commit ~15 % faster, `benches/store_rows.py`). The remainder of a batch goes one by one, and
/// a failing batch is replayed row by row (`commit_row_by_row`), so an error still names its
/// row.
const ROWS_PER_INSERT: usize = 32;

/// `sql`, an `INSERT … VALUES (…)` of one row, extended to `rows` rows.
fn multi_row_sql(sql: &str, rows: usize) -> String {
    let at = sql.rfind("VALUES ").map_or(sql.len(), |i| i + "VALUES ".len());
    let one = &sql[at..];
    let mut out = String::with_capacity(sql.len() + (one.len() + 2) * rows);
    out.push_str(sql);
    for _ in 1..rows {
        out.push_str(", ");
        out.push_str(one);
    }
    out
}

/// Insert `rows` in order with `sql` (one row's `INSERT`), [`ROWS_PER_INSERT`] at a time.
fn insert_rows<'a, T, const N: usize>(
    conn: &Conn,
    sql: &str,
    rows: &'a [T],
    params: impl Fn(&'a T) -> Result<[Val<'a>; N], String>,
) -> Result<(), String> {
    let mut chunks = rows.chunks_exact(ROWS_PER_INSERT);
    if rows.len() >= ROWS_PER_INSERT {
        let mut many = conn.cached(&multi_row_sql(sql, ROWS_PER_INSERT))?;
        let mut bound = Vec::with_capacity(N * ROWS_PER_INSERT);
        for chunk in &mut chunks {
            bound.clear();
            for row in chunk {
                bound.extend(params(row)?);
            }
            many.run(&bound)?;
        }
    }
    if !chunks.remainder().is_empty() {
        let mut one = conn.cached(sql)?;
        for row in chunks.remainder() {
            one.run(&params(row)?)?;
        }
    }
    Ok(())
}

fn commit_all(conn: &Conn, batch: &Batch) -> Result<(), String> {
    conn.exec_cached("BEGIN IMMEDIATE")?;
    let mut errors = Vec::new();
    let ids = store_blobs(conn, batch, &mut errors)?;
    if !errors.is_empty() {
        return Err(errors.remove(0).1);
    }
    insert_rows(conn, NODE_SQL, &batch.nodes, |row| node_params(row, &ids))?;
    insert_rows(conn, TASK_RUN_SQL, &batch.task_runs, |row| Ok(task_run_params(row)))?;
    insert_rows(conn, INPUT_REF_SQL, &batch.input_refs, |row| Ok(input_ref_params(row)))?;
    if !batch.updates.is_empty() {
        let mut updates = conn.cached(UPDATE_SQL)?;
        for u in &batch.updates {
            updates.run(&update_params(u))?;
        }
    }
    insert_rows(conn, LINK_SQL, &batch.links, |l| Ok(link_params(l)))?;
    let mut prepared = HashMap::new();
    for row in &batch.statements {
        if !prepared.contains_key(row.sql.as_str()) {
            prepared.insert(row.sql.as_str(), conn.cached(&row.sql)?);
        }
        if let Some(stmt) = prepared.get_mut(row.sql.as_str()) {
            stmt.run(&row.params())?;
        }
    }
    drop(prepared);
    conn.exec_cached("COMMIT")
}

fn commit_row_by_row(conn: &Conn, batch: &Batch) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let result = (|| -> Result<(), String> {
        conn.exec("BEGIN IMMEDIATE")?;
        let ids = store_blobs(conn, batch, &mut errors)?;
        let mut nodes = conn.prepare(NODE_SQL)?;
        // a link to a node that was not written would dangle: it is left out too
        let mut missing = std::collections::HashSet::new();
        for row in &batch.nodes {
            if let Err(e) = node_params(row, &ids).and_then(|p| nodes.run(&p[..])) {
                errors.push((format!("node pk={}", row.pk), e));
                missing.insert(row.pk);
            }
        }
        let mut runs = conn.prepare(TASK_RUN_SQL)?;
        for row in &batch.task_runs {
            if let Err(e) = runs.run(&task_run_params(row)) {
                errors.push((format!("task run '{}' pk={}", row.label, row.pk), e));
                missing.insert(row.pk);
            }
        }
        let mut refs = conn.prepare(INPUT_REF_SQL)?;
        for row in &batch.input_refs {
            if missing.contains(&row.dst) {
                continue; // its task run was not written: the reference would dangle
            }
            if let Err(e) = refs.run(&input_ref_params(row)) {
                errors.push((format!("input '{}' of task run pk={}", row.label, row.dst), e));
            }
        }
        drop((runs, refs));
        let mut updates = conn.prepare(UPDATE_SQL)?;
        for u in &batch.updates {
            if let Err(e) = updates.run(&update_params(u)) {
                errors.push((format!("update of pk={}", u.pk), e));
            }
        }
        let mut links = conn.prepare(LINK_SQL)?;
        for l in &batch.links {
            if let Some(pk) = [l.src, l.dst].into_iter().find(|pk| missing.contains(pk)) {
                errors.push((
                    format!("link {}->{}", l.src, l.dst),
                    format!("node pk={pk} was not written"),
                ));
                continue;
            }
            if let Err(e) = links.run(&link_params(l)) {
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

//! The fast lane: calc tasks whose inputs are constants or the single output of another fast
//! task run without any Python-level engine code.
//!
//! Most tasks in a big graph are exactly that (a scatter of `f(x=i)`, a chain of `f(x=prev)`),
//! and for them the Python runner's bookkeeping (resolving bindings, wrapping results in data
//! nodes, queuing provenance rows) cost ~10× the call itself. Here a worker gathers the argument
//! objects by pointer, calls the function once (through vectorcall where the interpreter has
//! it, see [`crate::call`]) with the keyword names prepared at submit time, and keeps the returned object in the task's [`Done`] slot, where
//! consumers read it. With provenance on, it appends one compact entry per task to the store's
//! write queue; the Python writer turns it into rows off the hot path. Everything unusual (an
//! exception, a returned dict or data node) is handed to Python hooks, so the semantics stay
//! those of the general runner.

use crate::call::call_kw;
use crate::rows::{calc, OP_CALC};
use crate::sql_writer::{FastRun, SqlWriter};
use crate::uuid7::{inline_uuid, row_uuid};
use ferroflow_core::{Outcome, Run, TaskId};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyList, PyString, PyTuple, PyType};
use std::cell::Cell;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// What the core stores per task.
pub(crate) enum Payload {
    /// A task the Python runner executes (graph tasks, namespaces, anything unusual).
    Slow(Py<PyAny>),
    /// A task the fast lane executes.
    Fast(Box<FastTask>),
    /// A fast task of a run that ended, whose result moved to the run's `Results`.
    Released,
}

/// One keyword argument of a fast task.
pub(crate) enum Arg {
    /// A value known at submit time, with the pk of its data node (-1 without provenance);
    /// `inline`: a plain constant of this task alone, whose data node the writer makes from
    /// the value (pk `task pk + 2 + j`), instead of one recorded when the task was submitted.
    Const { value: Py<PyAny>, pk: i64, inline: bool },
    /// The single output of another fast task, and the exact type its socket accepts without a
    /// closer look (None: any value; another type goes to `FastContext.mistyped`).
    From(TaskId, Option<Py<PyAny>>),
}

/// What the fast tasks of one definition submitted together share (one allocation for a
/// whole scatter): the function, keyword names, labels and types.
pub(crate) struct Shared {
    pub func: Py<PyAny>,
    /// Keyword names, one per argument, in argument order (also the INPUT_CALC link labels).
    pub kwnames: Py<PyTuple>,
    /// Process type and output socket name, for provenance.
    pub process_type: Py<PyString>,
    pub out_label: Py<PyString>,
    /// The definition's name: a numbered task's label is it followed by the number.
    pub base_name: Py<PyString>,
    /// The exact type the output accepts without a closer look (None: any value; a returned
    /// object of another type goes to `FastContext.odd`, which checks the declared type).
    pub out_type: Option<Py<PyAny>>,
    /// Pk of the calling graph run (-1: no provenance).
    pub caller_pk: i64,
}

/// A fast task's arguments: most tasks have one, kept inline (no allocation of its own).
pub(crate) enum Args {
    One(Arg),
    Many(Box<[Arg]>),
}

impl Args {
    fn new(mut args: Vec<Arg>) -> Self {
        if args.len() == 1 {
            if let Some(arg) = args.pop() {
                return Args::One(arg);
            }
        }
        Args::Many(args.into_boxed_slice())
    }

    fn as_slice(&self) -> &[Arg] {
        match self {
            Args::One(arg) => std::slice::from_ref(arg),
            Args::Many(args) => args,
        }
    }
}

/// A fast task: everything needed to call it and record it. It holds no reference to the
/// Python task node (hooks get the task id), so a run never keeps its graph alive in a cycle
/// the garbage collector cannot see.
pub(crate) struct FastTask {
    shared: Arc<Shared>,
    args: Args,
    /// Task name (process label), for provenance (None without: nothing reads it).
    label: Option<Label>,
    /// Process pk and pk of the output data node (-1: no provenance).
    pk: i64,
    out_pk: i64,
    done: OnceLock<Done>,
}

/// A fast task's name: the one its node was given, or the number of a graph body's numbered
/// task (`f1`, `f2`…), whose name is made only when its provenance is queued. The task node
/// makes its name as late (`TaskNode.name`), so a scatter with provenance keeps no name
/// string per task (~64 bytes each).
pub(crate) enum Label {
    Named(Py<PyString>),
    Numbered(u32),
}

impl Label {
    fn text<'py>(&self, py: Python<'py>, shared: &Shared) -> PyResult<Bound<'py, PyString>> {
        Ok(match self {
            Label::Named(name) => name.bind(py).clone(),
            Label::Numbered(n) => {
                let base = shared.base_name.bind(py);
                PyString::new(py, &format!("{}{n}", base.to_cow()?))
            }
        })
    }
}

/// The result of a finished fast task.
pub(crate) struct Done {
    pub value: Py<PyAny>,
    pub uuid: [u8; 16],
    pub out_uuid: [u8; 16],
    pub ctime: f64,
    pub mtime: f64,
}

pub(crate) struct FastSpec {
    pub shared: Arc<Shared>,
    pub args: Vec<Arg>,
    pub label: Option<Label>,
    pub pk: i64,
    pub out_pk: i64,
}

impl FastTask {
    pub(crate) fn new(spec: FastSpec) -> Self {
        Self {
            shared: spec.shared,
            args: Args::new(spec.args),
            label: spec.label,
            pk: spec.pk,
            out_pk: spec.out_pk,
            done: OnceLock::new(),
        }
    }

    pub(crate) fn done(&self) -> Option<&Done> {
        self.done.get()
    }

    /// Its result, moved out (the run ended: nobody reads it here any more).
    pub(crate) fn take_done(&mut self) -> Option<Done> {
        self.done.take()
    }
}

/// Per-run context of the fast lane, given to `Run.execute` (`_core.FastContext`, named
/// fields declared in `_core.pyi`).
#[pyclass(frozen, module = "ferroflow._core", name = "FastContext")]
pub(crate) struct FastContext {
    /// `fail(id, exc, ctime) -> False` records a failed fast task the general way.
    pub fail: Py<PyAny>,
    /// `odd(id, returned) -> value` turns a returned dict or data node into the output value,
    /// checks a value not exactly of the output's type against its annotation, refuses a
    /// coroutine (or raises, which fails the task).
    pub odd: Py<PyAny>,
    /// `mistyped(id, name, value)` raises if an input's value (not exactly of the socket's
    /// type) does not fit its annotation; the task then fails without being called.
    pub mistyped: Py<PyAny>,
    pub data_node_type: Py<PyAny>,
    /// `isolate(value) -> value` gives a call its own copy of an input value (or a read-only
    /// view of an array); called only for values that are not exactly `int`, `float`, `str`,
    /// `bool` or `None` (`ferroflow/model/isolation.py`).
    pub isolate: Py<PyAny>,
    /// The store writer's queue (a list) and the run's pk; `None` without provenance.
    pub queue: Option<Py<PyList>>,
    pub run_pk: i64,
    /// Backpressure: above `queue_limit` queued entries a worker calls `throttle()` (the
    /// store's, which waits for the writer), so a crash never loses more than about one
    /// commit interval of finished work.
    pub throttle: Option<Py<PyAny>>,
    pub queue_limit: usize,
    /// The store writer's row conversion, when it packs task runs: a finished task's entry is
    /// then made in the packed form here, on the worker (see `SqlWriter::pack`).
    pub packer: Option<Py<SqlWriter>>,
    /// The run's output capture (`ferroflow/engine/run_capture.py`), `None` when off. While a
    /// fast task's function runs, [`current_fast_task`] tells the stream proxy which task
    /// prints; a task that printed gets `capture.fast_done(id, pk)` after its call.
    pub capture: Option<Py<PyAny>>,
}

#[pymethods]
impl FastContext {
    #[new]
    #[pyo3(signature = (
        *, fail, odd, mistyped, data_node, isolate, queue, run_pk, throttle, queue_limit,
        packer = None, capture = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        fail: Py<PyAny>,
        odd: Py<PyAny>,
        mistyped: Py<PyAny>,
        data_node: Py<PyAny>,
        isolate: Py<PyAny>,
        queue: Option<Py<PyList>>,
        run_pk: i64,
        throttle: Option<Py<PyAny>>,
        queue_limit: usize,
        packer: Option<Py<SqlWriter>>,
        capture: Option<Py<PyAny>>,
    ) -> Self {
        FastContext {
            fail,
            odd,
            mistyped,
            data_node_type: data_node,
            isolate,
            queue,
            run_pk,
            throttle,
            queue_limit,
            packer,
            capture,
        }
    }
}

/// The fast task this thread is calling, for output capture: its id, the run's capture object
/// (borrowed from the `FastContext`, which outlives the call), and whether anything asked.
#[derive(Clone, Copy)]
struct Current {
    id: u32,
    capture: *mut ffi::PyObject,
    asked: bool,
}

const NO_TASK: Current = Current { id: 0, capture: std::ptr::null_mut(), asked: false };

thread_local! {
    static CURRENT: Cell<Current> = const { Cell::new(NO_TASK) };
}

/// `(capture, task id)` of the fast task whose function runs on this thread, or `None`: how
/// the stream proxy finds where a fast task's print goes (the lane calls functions directly,
/// with no Python wrapper to set a context variable). A thread-local read; it costs the fast
/// lane nothing while no task prints.
#[pyfunction]
pub(crate) fn current_fast_task(py: Python<'_>) -> Option<(Py<PyAny>, u32)> {
    let mut current = CURRENT.with(|c| c.get());
    if current.capture.is_null() {
        return None;
    }
    current.asked = true;
    CURRENT.with(|c| c.set(current));
    // SAFETY: attached; the pointer is the run's capture object, held by the `FastContext`
    // that lives until the call this thread is making returns (the slot is reset then).
    let capture = unsafe { Bound::from_borrowed_ptr(py, current.capture) };
    Some((capture.unbind(), current.id))
}

/// Call `f` with this thread's current fast task set to `id` (when the run captures output);
/// afterwards, if the task printed, hand its capture to `capture.fast_done(id, pk)`.
fn with_capture<T>(
    py: Python<'_>,
    ctx: &FastContext,
    id: TaskId,
    pk: i64,
    f: impl FnOnce() -> T,
) -> T {
    let Some(capture) = &ctx.capture else {
        return f();
    };
    /// Puts the thread's previous task back however the call ends (a panic included), so the
    /// slot never keeps a pointer past the call.
    struct Restore(Current);
    impl Drop for Restore {
        fn drop(&mut self) {
            let saved = self.0;
            CURRENT.with(|c| c.set(saved));
        }
    }
    let mine = Current { id: id.0, capture: capture.as_ptr(), asked: false };
    let restore = Restore(CURRENT.with(|c| c.replace(mine)));
    let out = f();
    let asked = CURRENT.with(|c| c.get()).asked;
    drop(restore);
    if asked {
        if let Err(err) = capture.bind(py).call_method1(pyo3::intern!(py, "fast_done"), (id.0, pk))
        {
            err.write_unraisable(py, None);
        }
    }
    out
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Whether a call may share `value` with others: an immutable scalar, checked by exact type
/// (a few pointer compares; subclasses go through `isolate`).
pub(crate) fn shareable(value: *mut ffi::PyObject) -> bool {
    // SAFETY: `value` is a valid object pointer held alive by the run.
    unsafe {
        value == ffi::Py_None()
            || ffi::PyLong_CheckExact(value) != 0
            || ffi::PyFloat_CheckExact(value) != 0
            || ffi::PyUnicode_CheckExact(value) != 0
            || ffi::PyBool_Check(value) != 0
    }
}

/// Most tasks have few inputs: keep the argument vector on the stack.
const INLINE_ARGS: usize = 8;

/// Execute a fast task. Called attached, on a worker.
pub(crate) fn execute(
    py: Python<'_>,
    run: &Run<Payload>,
    id: TaskId,
    task: &FastTask,
    ctx: &FastContext,
) -> PyResult<Outcome> {
    let ctime = now();
    let shared = &*task.shared;
    let args = task.args.as_slice();
    let n = args.len();
    // Slot 0 is scratch space that PY_VECTORCALL_ARGUMENTS_OFFSET lets the callee use.
    let mut inline = [std::ptr::null_mut::<ffi::PyObject>(); INLINE_ARGS + 1];
    let mut heap = Vec::new();
    let slots: &mut [*mut ffi::PyObject] = if n < INLINE_ARGS {
        &mut inline[..n + 1]
    } else {
        heap.resize(n + 1, std::ptr::null_mut());
        &mut heap
    };
    // Copies made for this call (values that are not immutable scalars): owned until it returns.
    let mut copies: Vec<Bound<'_, PyAny>> = Vec::new();
    for (i, (slot, arg)) in slots[1..].iter_mut().zip(args.iter()).enumerate() {
        let shared = match arg {
            Arg::Const { value, .. } => value.as_ptr(),
            Arg::From(from, wanted) => match producer(run, *from) {
                Some(done) => {
                    let value = done.value.bind(py);
                    if let Some(wanted) = wanted {
                        if !value.get_type().is(wanted.bind(py)) {
                            let name = shared.kwnames.bind(py).get_item(i)?;
                            if let Err(err) = ctx.mistyped.bind(py).call1((id.0, name, value)) {
                                let ok =
                                    ctx.fail.bind(py).call1((id.0, err.into_value(py), ctime))?;
                                return Ok(if ok.is_truthy()? {
                                    Outcome::Finished
                                } else {
                                    Outcome::Failed
                                });
                            }
                        }
                    }
                    done.value.as_ptr()
                }
                None => {
                    return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                        "internal error: the producer (task id {}) of a fast task's input has \
                         no result",
                        from.0
                    )))
                }
            },
        };
        *slot = if shareable(shared) {
            shared
        } else {
            // SAFETY: attached; `shared` is a borrowed reference kept alive by the run.
            let value = unsafe { Bound::from_borrowed_ptr(py, shared) };
            let copy = ctx.isolate.bind(py).call1((value,))?;
            let ptr = copy.as_ptr();
            copies.push(copy);
            ptr
        };
    }
    // SAFETY: attached; `slots[1..]` holds `n` borrowed references kept alive by the run (the
    // constants and the producers' `Done` values outlive this call) or by `copies`; `kwnames`
    // is a tuple of `n` str objects; slot 0 is scratch.
    let returned = with_capture(py, ctx, id, task.pk, || unsafe {
        call_kw(py, shared.func.bind(py), slots, shared.kwnames.bind(py))
    });
    drop(copies);
    let value = match returned {
        Ok(v) if odd(py, task, ctx, &v)? => ctx.odd.bind(py).call1((id.0, v)),
        other => other,
    };
    let value = match value {
        Ok(v) => v,
        Err(err) => {
            // into_value attaches the traceback to the exception (before Python 3.12 a PyErr
            // keeps it apart), so the stored error shows where the task failed
            let ok = ctx.fail.bind(py).call1((id.0, err.into_value(py), ctime))?;
            return Ok(if ok.is_truthy()? { Outcome::Finished } else { Outcome::Failed });
        }
    };
    // The output's uuid derives from the task's, as a packed row stores them (one index entry).
    let uuid = row_uuid();
    let out_uuid = inline_uuid(&uuid, 1);
    let done = Done { value: value.unbind(), uuid, out_uuid, ctime, mtime: now() };
    if let Some(queue) = &ctx.queue {
        let queue = queue.bind(py);
        record(py, run, task, &done, queue, ctx)?;
        if queue.len() > ctx.queue_limit {
            if let Some(throttle) = &ctx.throttle {
                throttle.bind(py).call0()?;
            }
        }
    }
    let _ = task.done.set(done);
    Ok(Outcome::Finished)
}

/// Whether a returned value needs Python's look: a dict or data node (outputs by name), a value
/// not exactly of the declared output type, or a coroutine (a sync function's mistake).
static COROUTINE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn odd(py: Python<'_>, task: &FastTask, ctx: &FastContext, v: &Bound<'_, PyAny>) -> PyResult<bool> {
    // `PyCoro_CheckExact` is outside the limited API: compare with `types.CoroutineType`
    let coroutine = v.get_type().is(COROUTINE.import(py, "types", "CoroutineType")?);
    if coroutine || v.is_instance_of::<PyDict>() || v.is_instance(ctx.data_node_type.bind(py))? {
        return Ok(true);
    }
    Ok(task.shared.out_type.as_ref().is_some_and(|wanted| !v.get_type().is(wanted.bind(py))))
}

fn producer(run: &Run<Payload>, id: TaskId) -> Option<&Done> {
    match run.payload(id) {
        Ok(Payload::Fast(p)) => p.done(),
        _ => None,
    }
}

// `record` builds the OP_CALC entry in this order; the layout is declared in `rows.rs`.
const _: () = assert!(
    calc::LEN == 16
        && calc::OP == 0
        && calc::PK == 1
        && calc::UUID == 2
        && calc::LABEL == 3
        && calc::PROCESS_TYPE == 4
        && calc::CTIME == 5
        && calc::MTIME == 6
        && calc::RUN_PK == 7
        && calc::CALLER_PK == 8
        && calc::INPUT_LABELS == 9
        && calc::INPUT_PKS == 10
        && calc::OUT_PK == 11
        && calc::OUT_UUID == 12
        && calc::VALUE == 13
        && calc::OUT_LABEL == 14
        && calc::INLINE_VALUES == 15
);

/// Queue the whole provenance of a finished fast task: in the packed form where the store's
/// writer packs it, else as one `OP_CALC` entry (input labels are the keyword names).
fn record(
    py: Python<'_>,
    run: &Run<Payload>,
    task: &FastTask,
    done: &Done,
    queue: &Bound<'_, PyList>,
    ctx: &FastContext,
) -> PyResult<()> {
    let shared = &*task.shared;
    let run_pk = ctx.run_pk;
    let args = task.args.as_slice();
    let mut pks = Vec::with_capacity(args.len());
    let mut inline = Vec::new();
    for arg in args.iter() {
        pks.push(match arg {
            Arg::Const { value, pk, inline: true } => {
                inline.push(value.bind(py).clone());
                *pk
            }
            Arg::Const { pk, .. } => *pk,
            Arg::From(id, _) => match run.payload(*id) {
                Ok(Payload::Fast(p)) => p.out_pk,
                _ => -1,
            },
        });
    }
    let label = match &task.label {
        Some(label) => Some(label.text(py, shared)?),
        None => None,
    };
    if let (Some(packer), Some(label)) = (&ctx.packer, &label) {
        let fast_run = FastRun {
            pk: task.pk,
            uuid: done.uuid.to_vec(),
            label: label.clone().into_any(),
            process_type: shared.process_type.bind(py).clone().into_any(),
            ctime: done.ctime,
            mtime: done.mtime,
            run_pk: Some(run_pk),
            caller: shared.caller_pk,
            names: shared.kwnames.bind(py).clone(),
            sources: pks,
            out_pk: task.out_pk,
            out_uuid: done.out_uuid.to_vec(),
            value: done.value.bind(py).clone(),
            out_label: shared.out_label.bind(py).clone().into_any(),
            constants: inline,
        };
        if let Some(packed) = packer.get().pack(py, &fast_run) {
            return queue.append(Bound::new(py, packed)?);
        }
        (pks, inline) = (fast_run.sources, fast_run.constants);
    }
    let entry = PyTuple::new(
        py,
        [
            OP_CALC.into_pyobject(py)?.into_any(),
            task.pk.into_pyobject(py)?.into_any(),
            PyBytes::new(py, &done.uuid).into_any(),
            match label {
                Some(label) => label.into_any(),
                None => py.None().into_bound(py),
            },
            shared.process_type.bind(py).clone().into_any(),
            PyFloat::new(py, done.ctime).into_any(),
            PyFloat::new(py, done.mtime).into_any(),
            run_pk.into_pyobject(py)?.into_any(),
            shared.caller_pk.into_pyobject(py)?.into_any(),
            shared.kwnames.bind(py).clone().into_any(),
            PyTuple::new(py, pks)?.into_any(),
            task.out_pk.into_pyobject(py)?.into_any(),
            PyBytes::new(py, &done.out_uuid).into_any(),
            done.value.bind(py).clone(),
            shared.out_label.bind(py).clone().into_any(),
            PyTuple::new(py, inline)?.into_any(),
        ],
    )?;
    queue.append(entry)
}

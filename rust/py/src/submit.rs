//! Submitting a graph's task nodes: choosing each task's lane and wiring its dependencies.
//!
//! In Rust because it runs once per task: a Python loop would cost several times what executing
//! a fast-lane task does. A task whose node says `fast_ok` (its definition allows the lane, and
//! neither `>>` nor its graph's error handlers need the general runner) and whose inputs are
//! data nodes or the single output of a fast task of this run goes to the fast lane; every
//! other task to the general lane with its `producers`' ids (data and ordering) as dependencies.
//! What is read here is declared in `_core.pyi` (`SubmittableTask`, `TaskDefinition`,
//! `Socket`, `Recorder`).

use crate::fast::{shareable, Arg, FastSpec, Label, Shared};
use crate::pks::PkStream;
use pyo3::exceptions::PyLookupError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyString, PyTuple, PyType};
use std::sync::Arc;

/// What `Run.submit` needs besides the tasks.
pub(crate) struct Lanes<'a, 'py> {
    /// The box fast tasks read results through; None: the fast lane is off.
    pub fast_box: Option<&'a Bound<'py, PyAny>>,
    /// The run's recorder (`record_data`); provenance is recorded when `recording`.
    pub store: &'a Bound<'py, PyAny>,
    /// The store's pk stream (`Recorder.pk_stream`) when `recording`.
    pub pks: Option<&'a Bound<'py, PkStream>>,
    pub recording: bool,
    pub caller_pk: i64,
    pub data_node: &'a Bound<'py, PyType>,
    pub future_socket: &'a Bound<'py, PyType>,
}

/// What fast tasks of one definition share, read from its handle once per run of consecutive
/// tasks with that handle (a scatter reads it once, not once per task).
pub(crate) struct HandleFacts<'py> {
    handle: Bound<'py, PyAny>,
    single_output: Bound<'py, PyAny>,
    /// exact types the inputs from other tasks accept without a closer look (by input name)
    in_types: Bound<'py, PyDict>,
    func: Py<PyAny>,
    process_type: Py<PyString>,
    out_type: Option<Py<PyAny>>,
}

impl<'py> HandleFacts<'py> {
    fn read(py: Python<'py>, handle: Bound<'py, PyAny>) -> PyResult<Self> {
        let out_type = handle.getattr(intern!(py, "fast_out_type"))?;
        Ok(Self {
            single_output: handle.getattr(intern!(py, "single_output"))?,
            in_types: handle.getattr(intern!(py, "fast_in_types"))?.cast_into::<PyDict>()?,
            func: handle.getattr(intern!(py, "func"))?.unbind(),
            process_type: handle
                .getattr(intern!(py, "process_type"))?
                .cast_into::<PyString>()?
                .unbind(),
            out_type: if out_type.is_none() { None } else { Some(out_type.unbind()) },
            handle,
        })
    }
}

/// What `fast_spec` carries from one task to the next: the last handle's facts and what its
/// fast tasks share (tasks of one handle called with the same keyword names, the very same str
/// objects, share one `Shared`: ~100 bytes and five references fewer per task).
#[derive(Default)]
pub(crate) struct SubmitCache<'py> {
    facts: Option<HandleFacts<'py>>,
    /// (handle, keyword names, what its tasks share)
    shared: Option<(Bound<'py, PyAny>, Bound<'py, PyTuple>, Arc<Shared>)>,
}

/// The most constants a fast task stores inline: its row numbers its nodes with one byte (the
/// last of their uuids), 1 for the output, 2 … for the constants.
const MAX_INLINE: i64 = 250;

/// The fast-lane spec of `task` plus its dependencies, or None if it takes the general lane.
/// Sets the task node's `fast_box`, and with provenance its `pk` (without, the null store's pks
/// would name nothing: a fast task's `pk` stays None), when it takes the fast lane; its output's
/// pk is `pk + 1`, which the node's `out_pk` says without keeping a second int per task.
pub(crate) fn fast_spec<'py>(
    py: Python<'py>,
    task: &Bound<'py, PyAny>,
    lanes: &Lanes<'_, 'py>,
    cache: &mut SubmitCache<'py>,
) -> PyResult<Option<(FastSpec, Vec<u32>)>> {
    let Some(fast_box) = lanes.fast_box else { return Ok(None) };
    if !task.getattr(intern!(py, "fast_ok"))?.is_truthy()? {
        return Ok(None);
    }
    let handle = task.getattr(intern!(py, "handle"))?;
    if !cache.facts.as_ref().is_some_and(|f| f.handle.is(&handle)) {
        cache.facts = Some(HandleFacts::read(py, handle)?);
    }
    let Some(facts) = cache.facts.as_ref() else { return Ok(None) };
    // The bindings are read as they are: a plain constant a keyword call left unwrapped
    // (`TaskNode.inputs`) needs no data node without provenance, and with it is stored *inline*:
    // the writer makes its node (pk `pk + 2 + j`) from the value, and `TaskNode.inputs` makes
    // the same node when somebody asks. A task whose constants were wrapped already (`_raw`
    // false) records each data node as before.
    let raw = task.getattr(intern!(py, "_raw"))?.is_truthy()?;
    let inputs = task.getattr(intern!(py, "_inputs"))?;
    let inputs = inputs.cast::<PyDict>()?;
    let mut names = Vec::with_capacity(inputs.len());
    let mut args = Vec::with_capacity(inputs.len());
    let mut deps = Vec::new();
    let mut inline = 0_i64;
    for (name, binding) in inputs.iter() {
        let kind = binding.get_type();
        if kind.is(lanes.data_node) {
            let pk = if lanes.recording {
                lanes.store.call_method1(intern!(py, "record_data"), (&binding,))?.extract()?
            } else {
                -1
            };
            let value = binding.getattr(intern!(py, "value"))?.unbind();
            args.push(Arg::Const { value, pk, inline: false });
        } else if (raw || !lanes.recording) && shareable(binding.as_ptr()) {
            if lanes.recording {
                if inline == MAX_INLINE {
                    return Ok(None); // (its row has no more node numbers)
                }
                inline += 1;
            }
            let value = binding.clone().unbind();
            args.push(Arg::Const { value, pk: -1, inline: lanes.recording });
        } else if kind.is(lanes.future_socket) {
            let producer = binding.getattr(intern!(py, "_task"))?;
            if !producer.getattr(intern!(py, "fast_box"))?.is(fast_box) {
                return Ok(None);
            }
            let path = binding.getattr(intern!(py, "_path"))?;
            let path = path.cast::<PyTuple>()?;
            if path.len() != 1 {
                return Ok(None);
            }
            let key = path.get_item(0)?;
            let theirs = producer.getattr(intern!(py, "handle"))?;
            let single = if theirs.is(&facts.handle) {
                key.is(&facts.single_output) || key.eq(&facts.single_output)?
            } else {
                key.eq(theirs.getattr(intern!(py, "single_output"))?)?
            };
            if !single {
                return Ok(None);
            }
            let id: u32 = producer.getattr(intern!(py, "id"))?.extract()?;
            deps.push(id);
            let wanted =
                if facts.in_types.is_empty() { None } else { facts.in_types.get_item(&name)? };
            args.push(Arg::From(ferroflow_core::TaskId(id), wanted.map(Bound::unbind)));
        } else {
            return Ok(None);
        }
        names.push(name);
    }
    task.setattr(intern!(py, "fast_box"), fast_box)?;
    let (pk, out_pk) = if lanes.recording {
        // its own, its output's and its inline constants' pks, consecutive (a packed row's node
        // `i` is `pk + i`), from the store's one stream (so they follow creation order)
        let Some(pks) = lanes.pks else { return Err(PyLookupError::new_err("no pk stream")) };
        let pk = pks.get().take_pks(py, 2 + inline)?;
        let out_pk = pk + 1;
        let mut next = pk + 2;
        for arg in &mut args {
            if let Arg::Const { pk: at, inline: true, .. } = arg {
                *at = next;
                next += 1;
            }
        }
        task.setattr(intern!(py, "pk"), pk)?;
        (pk, out_pk)
    } else {
        (-1, -1)
    };
    let same = cache.shared.as_ref().is_some_and(|(handle, t, _)| {
        handle.is(&facts.handle)
            && t.len() == names.len()
            && t.iter().zip(names.iter()).all(|(a, b)| a.is(b))
    });
    if !same {
        let kwnames = PyTuple::new(py, names)?;
        let shared = Arc::new(Shared {
            func: facts.func.clone_ref(py),
            kwnames: kwnames.clone().unbind(),
            process_type: facts.process_type.clone_ref(py),
            out_label: facts.single_output.clone().cast_into::<PyString>()?.unbind(),
            out_type: facts.out_type.as_ref().map(|t| t.clone_ref(py)),
            base_name: facts.handle.getattr(intern!(py, "name"))?.cast_into::<PyString>()?.unbind(),
            caller_pk: if lanes.recording { lanes.caller_pk } else { -1 },
        });
        cache.shared = Some((facts.handle.clone(), kwnames, shared));
    }
    let shared = match cache.shared.as_ref() {
        Some((_, _, shared)) => shared.clone(),
        None => return Err(pyo3::exceptions::PyRuntimeError::new_err("no shared facts")),
    };
    let spec = FastSpec {
        shared,
        args,
        label: if lanes.recording {
            // (`_name`: a numbered task's number until its name is first read, see
            // `TaskNode.name`; the label is made as that name is, when it is recorded)
            let name = task.getattr(intern!(py, "_name"))?;
            Some(match name.cast::<PyInt>() {
                Ok(n) if n.is_exact_instance_of::<PyInt>() => Label::Numbered(n.extract()?),
                _ => Label::Named(
                    task.getattr(intern!(py, "name"))?.cast_into::<PyString>()?.unbind(),
                ),
            })
        } else {
            None
        },
        pk,
        out_pk,
    };
    Ok(Some((spec, deps)))
}

/// The general lane's dependencies of `task`: the ids of its producers. A producer without an
/// id is not part of this run: `LookupError((task, producer))` for Python to word.
pub(crate) fn producer_ids<'py>(py: Python<'py>, task: &Bound<'py, PyAny>) -> PyResult<Vec<u32>> {
    let producers = task.getattr(intern!(py, "producers"))?;
    let mut deps = Vec::new();
    for producer in producers.try_iter()? {
        let producer = producer?;
        match producer.getattr(intern!(py, "id"))?.extract::<Option<u32>>()? {
            Some(id) => deps.push(id),
            None => return Err(PyLookupError::new_err((task.clone().unbind(), producer.unbind()))),
        }
    }
    Ok(deps)
}

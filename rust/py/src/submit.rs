//! Submitting a graph's task nodes: choosing each task's lane and wiring its dependencies.
//!
//! In Rust because it runs once per task: a Python loop would cost several times what executing
//! a fast-lane task does. A task whose node says `fast_ok` (its definition allows the lane, and
//! neither `>>` nor its graph's error handlers need the general runner) and whose inputs are
//! data nodes or the single output of a fast task of this run goes to the fast lane; every
//! other task to the general lane with its `producers`' ids (data and ordering) as dependencies.
//! What is read here is declared in `_core.pyi` (`SubmittableTask`, `TaskDefinition`,
//! `Socket`, `Recorder`).

use crate::fast::{Arg, FastSpec};
use pyo3::exceptions::PyLookupError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};

/// What `Run.submit` needs besides the tasks.
pub(crate) struct Lanes<'a, 'py> {
    /// The box fast tasks read results through; None: the fast lane is off.
    pub fast_box: Option<&'a Bound<'py, PyAny>>,
    /// The run's recorder (`new_pk`, `record_data`); provenance is recorded when `recording`.
    pub store: &'a Bound<'py, PyAny>,
    pub recording: bool,
    pub caller_pk: i64,
    pub data_node: &'a Bound<'py, PyType>,
    pub future_socket: &'a Bound<'py, PyType>,
}

/// The fast-lane spec of `task` plus its dependencies, or None if it takes the general lane.
/// Sets the task node's `fast_box`, `pk` and `out_pk` when it takes the fast lane.
/// `kwnames` holds the previous fast task's keyword-name tuple: tasks of one handle share it
/// (the names are the very same str objects), saving a tuple per task (~56 bytes).
pub(crate) fn fast_spec<'py>(
    py: Python<'py>,
    task: &Bound<'py, PyAny>,
    lanes: &Lanes<'_, 'py>,
    kwnames: &mut Option<Bound<'py, PyTuple>>,
) -> PyResult<Option<(FastSpec, Vec<u32>)>> {
    let Some(fast_box) = lanes.fast_box else { return Ok(None) };
    if !task.getattr(intern!(py, "fast_ok"))?.is_truthy()? {
        return Ok(None);
    }
    let handle = task.getattr(intern!(py, "handle"))?;
    let out = handle.getattr(intern!(py, "single_output"))?;
    let inputs = task.getattr(intern!(py, "inputs"))?;
    let inputs = inputs.cast::<PyDict>()?;
    let mut names = Vec::with_capacity(inputs.len());
    let mut args = Vec::with_capacity(inputs.len());
    let mut deps = Vec::new();
    // exact types the inputs from other tasks accept without a closer look (by input name)
    let in_types = handle.getattr(intern!(py, "fast_in_types"))?;
    let in_types = in_types.cast::<PyDict>()?;
    for (name, binding) in inputs.iter() {
        let kind = binding.get_type();
        if kind.is(lanes.data_node) {
            let pk = if lanes.recording {
                lanes.store.call_method1(intern!(py, "record_data"), (&binding,))?.extract()?
            } else {
                -1
            };
            args.push(Arg::Const { value: binding.getattr(intern!(py, "value"))?.unbind(), pk });
        } else if kind.is(lanes.future_socket) {
            let producer = binding.getattr(intern!(py, "_task"))?;
            if !producer.getattr(intern!(py, "fast_box"))?.is(fast_box) {
                return Ok(None);
            }
            let path = binding.getattr(intern!(py, "_path"))?;
            let path = path.cast::<PyTuple>()?;
            let wanted =
                producer.getattr(intern!(py, "handle"))?.getattr(intern!(py, "single_output"))?;
            if path.len() != 1 || !path.get_item(0)?.eq(&wanted)? {
                return Ok(None);
            }
            let id: u32 = producer.getattr(intern!(py, "id"))?.extract()?;
            deps.push(id);
            let wanted = if in_types.is_empty() { None } else { in_types.get_item(&name)? };
            args.push(Arg::From(ferroflow_core::TaskId(id), wanted.map(Bound::unbind)));
        } else {
            return Ok(None);
        }
        names.push(name);
    }
    let new_pk = || -> PyResult<i64> { lanes.store.call_method0(intern!(py, "new_pk"))?.extract() };
    let pk = new_pk()?;
    let out_pk = if lanes.recording { new_pk()? } else { -1 };
    task.setattr(intern!(py, "fast_box"), fast_box)?;
    task.setattr(intern!(py, "pk"), pk)?;
    if lanes.recording {
        task.setattr(intern!(py, "out_pk"), out_pk)?;
    }
    let same = kwnames.as_ref().is_some_and(|t| {
        t.len() == names.len() && t.iter().zip(names.iter()).all(|(a, b)| a.is(b))
    });
    if !same {
        *kwnames = Some(PyTuple::new(py, names)?);
    }
    let kwnames = kwnames.as_ref().map(|t| t.clone().unbind());
    let spec = FastSpec {
        func: handle.getattr(intern!(py, "func"))?.unbind(),
        kwnames: kwnames.ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("no names"))?,
        args,
        label: task.getattr(intern!(py, "name"))?.cast_into::<PyString>()?.unbind(),
        process_type: handle
            .getattr(intern!(py, "process_type"))?
            .cast_into::<PyString>()?
            .unbind(),
        out_label: out.cast_into::<PyString>()?.unbind(),
        out_type: {
            let wanted = handle.getattr(intern!(py, "fast_out_type"))?;
            if wanted.is_none() {
                None
            } else {
                Some(wanted.unbind())
            }
        },
        pk: if lanes.recording { pk } else { -1 },
        out_pk,
        caller_pk: if lanes.recording { lanes.caller_pk } else { -1 },
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

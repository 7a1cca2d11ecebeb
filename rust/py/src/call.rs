//! Calling a fast task's function with keyword arguments from an abi3 (stable ABI) extension.
//!
//! Why this exists: the wheel is built once for CPython 3.10 and later (`abi3-py310`), and the
//! limited API of 3.10 has no vectorcall (`PyObject_Vectorcall` joined it in 3.12). Building
//! a kwargs dict for every call instead costs the no-op scatter a measurable share
//! (benches/README.md, "abi3"), so the lane still calls through vectorcall wherever the running
//! interpreter exports it: CPython 3.11 and later export `PyObject_Vectorcall` as a function
//! with the signature PEP 590 fixed (3.12 made it stable ABI without change). It is looked up
//! by name at run time, never linked, so the wheel loads on an interpreter without it (3.10,
//! where it is an inline function): there, and with `FERROFLOW_LIMITED_CALL=1` (tests use it
//! to exercise this path), the call goes through `PyObject_Call` with a dict, which the 3.10
//! limited API has.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::ffi::{c_char, c_void};
use std::sync::OnceLock;

/// `PyObject_Vectorcall(callable, args, nargsf, kwnames)`.
type Vectorcall = unsafe extern "C" fn(
    *mut ffi::PyObject,
    *const *mut ffi::PyObject,
    usize,
    *mut ffi::PyObject,
) -> *mut ffi::PyObject;

/// `PY_VECTORCALL_ARGUMENTS_OFFSET`: the callee may use the slot before `args` as scratch.
const ARGUMENTS_OFFSET: usize = 1 << (usize::BITS - 1);

/// `RTLD_DEFAULT`: search the global symbol scope (the interpreter and its libpython).
#[cfg(any(target_os = "macos", target_os = "ios"))]
const RTLD_DEFAULT: *mut c_void = -2isize as *mut c_void;
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
const RTLD_DEFAULT: *mut c_void = std::ptr::null_mut();

extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

static VECTORCALL: OnceLock<Option<Vectorcall>> = OnceLock::new();

fn vectorcall() -> Option<Vectorcall> {
    *VECTORCALL.get_or_init(|| {
        if std::env::var_os("FERROFLOW_LIMITED_CALL").is_some_and(|v| v == "1") {
            return None;
        }
        // SAFETY: dlsym with a NUL-terminated name; a non-null result is the interpreter's
        // `PyObject_Vectorcall`, whose signature is `Vectorcall` on every version exporting it.
        let found = unsafe { dlsym(RTLD_DEFAULT, c"PyObject_Vectorcall".as_ptr()) };
        (!found.is_null()).then(|| unsafe { std::mem::transmute::<*mut c_void, Vectorcall>(found) })
    })
}

/// How this process calls fast tasks: `"vectorcall"` or `"dict"` (the limited API's route).
pub(crate) fn route() -> &'static str {
    if vectorcall().is_some() {
        "vectorcall"
    } else {
        "dict"
    }
}

/// Call `func(**dict(zip(kwnames, slots[1..])))`.
///
/// # Safety
/// Attached; `slots[1..]` holds `kwnames.len()` valid borrowed references that outlive the
/// call; slot 0 is scratch space the callee may overwrite.
pub(crate) unsafe fn call_kw<'py>(
    py: Python<'py>,
    func: &Bound<'py, PyAny>,
    slots: &mut [*mut ffi::PyObject],
    kwnames: &Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyAny>> {
    if let Some(call) = vectorcall() {
        let raw = call(func.as_ptr(), slots.as_ptr().add(1), ARGUMENTS_OFFSET, kwnames.as_ptr());
        return Bound::from_owned_ptr_or_err(py, raw);
    }
    let kwargs = PyDict::new(py);
    for (name, value) in kwnames.iter().zip(slots[1..].iter()) {
        kwargs.set_item(name, Bound::from_borrowed_ptr(py, *value))?;
    }
    func.call((), Some(&kwargs))
}

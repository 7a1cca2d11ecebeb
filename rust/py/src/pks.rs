//! One stream of pks per open store, shared by every thread that hands them out.
//!
//! pks come in blocks the store reserves in the file (`store/pks.py`); this is the block being
//! handed out. `take(n)` gives `n` consecutive pks (a fast-lane task takes its own, its output's
//! and its inline constants' at once, which a packed row needs: node `i` is `pk + i`), and
//! `Store.new_pk` takes one, from the same stream, so pks still follow the order things were
//! made. The lock is held only to move two integers, never while Python runs: a thread that
//! needs a new block asks Python for one (`refill`) with the lock released, so no thread ever
//! waits on it while another waits for the GIL.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::{Mutex, MutexGuard};

fn lock(m: &Mutex<(i64, i64)>) -> MutexGuard<'_, (i64, i64)> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Consecutive pks from blocks a Python callable reserves.
#[pyclass(module = "ferroflow._core", frozen)]
pub(crate) struct PkStream {
    /// (next pk, end of the block)
    block: Mutex<(i64, i64)>,
    /// `refill(n) -> (first, stop)`: a fresh block of at least `n` pks
    refill: Py<PyAny>,
}

impl PkStream {
    fn take_from_block(&self, n: i64) -> Option<i64> {
        let mut block = lock(&self.block);
        if block.1 - block.0 >= n {
            let first = block.0;
            block.0 += n;
            return Some(first);
        }
        None
    }

    /// `n` consecutive pks (`n >= 1`), the first returned.
    pub(crate) fn take_pks(&self, py: Python<'_>, n: i64) -> PyResult<i64> {
        if n < 1 {
            return Err(PyValueError::new_err(format!("reserve_pks() needs n >= 1, not {n}")));
        }
        loop {
            if let Some(first) = self.take_from_block(n) {
                return Ok(first);
            }
            let (first, stop): (i64, i64) = self.refill.bind(py).call1((n,))?.extract()?;
            if stop - first < n {
                return Err(PyValueError::new_err("refill gave a block smaller than asked"));
            }
            let mut block = lock(&self.block);
            if block.1 - block.0 < n {
                // (another thread may have refilled meanwhile: its block's rest is a gap)
                *block = (first, stop);
            }
        }
    }
}

#[pymethods]
impl PkStream {
    #[new]
    fn new(refill: Py<PyAny>) -> Self {
        Self { block: Mutex::new((0, 0)), refill }
    }

    /// `n` consecutive pks, the first returned; a new block is asked for when this one has
    /// fewer left.
    fn take(&self, py: Python<'_>, n: i64) -> PyResult<i64> {
        self.take_pks(py, n)
    }

    /// Stop handing out pks from the current block: returns `(next, end)`, its unused rest
    /// (the store gives it back to the file when nobody reserved after it).
    fn detach(&self) -> (i64, i64) {
        std::mem::take(&mut *lock(&self.block))
    }
}

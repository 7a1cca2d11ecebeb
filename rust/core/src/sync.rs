//! Synchronisation primitives, swapped for loom's under `--cfg loom`.
//!
//! Everything racy in the core (readiness counters, successor lists, states) goes through this
//! module so that the loom models in `tests/loom.rs` explore every interleaving of the real code.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU8, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU8, AtomicUsize};

/// A mutex with an infallible `lock`, backed by parking_lot (1 byte) or loom's model.
pub(crate) struct Lock<T> {
    #[cfg(not(loom))]
    inner: parking_lot::Mutex<T>,
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
}

impl<T> Lock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(not(loom))]
            inner: parking_lot::Mutex::new(value),
            #[cfg(loom)]
            inner: loom::sync::Mutex::new(value),
        }
    }

    #[cfg(not(loom))]
    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
        self.inner.lock()
    }

    #[cfg(loom)]
    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        // A poisoned lock only happens after a panic inside a critical section, which the core
        // never does; the model would already have failed.
        match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Sits between a SeqCst write of one atomic and a SeqCst read of another where the core
/// relies on the store-load ("Dekker") guarantee of SeqCst accesses: `Run::cancel` (flag, then
/// `running`) against `Run::start` (`running`, then flag). C11 already gives that guarantee to
/// SeqCst accesses, so outside loom this is nothing. Loom models SeqCst accesses as AcqRel
/// (loom#180, a documented false-alarm source) but does model `fence(SeqCst)`, so the models
/// get the fence that states the same ordering.
#[inline(always)]
pub(crate) fn store_load_fence() {
    #[cfg(loom)]
    loom::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
}

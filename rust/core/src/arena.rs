//! An append-only arena with stable addresses, safe to read while another thread appends.
//!
//! Dynamic expansion adds tasks while workers read others, so a `Vec` (which moves on growth)
//! will not do. Storage is a fixed array of buckets whose sizes double (64, 128, 256, …); a
//! bucket never moves once allocated, so `&T` stays valid for the arena's life. Appends are
//! serialised by a short lock; reads are one atomic load plus pointer arithmetic.

use crate::sync::{AtomicPtr, AtomicUsize, Lock};
use std::mem::MaybeUninit;
use std::sync::atomic::Ordering;

const FIRST_BUCKET_SHIFT: u32 = 6; // the first bucket holds 64 entries
const BUCKETS: usize = 26; // 64 * (2^26 - 1) entries: more than u32 ids can name

pub(crate) struct Arena<T> {
    buckets: [AtomicPtr<MaybeUninit<T>>; BUCKETS],
    /// Number of initialised entries, published with release ordering after each write.
    len: AtomicUsize,
    append: Lock<()>,
}

#[inline]
fn locate(index: usize) -> (usize, usize) {
    let shifted = index + (1 << FIRST_BUCKET_SHIFT);
    let bucket = (usize::BITS - 1 - shifted.leading_zeros() - FIRST_BUCKET_SHIFT) as usize;
    let offset = shifted - (1usize << (bucket as u32 + FIRST_BUCKET_SHIFT));
    (bucket, offset)
}

#[inline]
fn bucket_len(bucket: usize) -> usize {
    1usize << (bucket as u32 + FIRST_BUCKET_SHIFT)
}

impl<T> Arena<T> {
    pub(crate) fn new() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
            len: AtomicUsize::new(0),
            append: Lock::new(()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Append `value` and return its index.
    pub(crate) fn push(&self, value: T) -> usize {
        let _guard = self.append.lock();
        let index = self.len.load(Ordering::Relaxed);
        let (bucket, offset) = locate(index);
        assert!(bucket < BUCKETS, "ferroflow arena is full");
        let mut ptr = self.buckets[bucket].load(Ordering::Acquire);
        if ptr.is_null() {
            let storage: Box<[MaybeUninit<T>]> =
                (0..bucket_len(bucket)).map(|_| MaybeUninit::uninit()).collect();
            ptr = Box::into_raw(storage) as *mut MaybeUninit<T>;
            self.buckets[bucket].store(ptr, Ordering::Release);
        }
        // SAFETY: `offset < bucket_len(bucket)` by construction of `locate`; the slot is not
        // yet published (index == len), so no reader can observe it while we write.
        unsafe { (*ptr.add(offset)).write(value) };
        self.len.store(index + 1, Ordering::Release);
        index
    }

    /// The entry at `index` for changing it: only with the arena to itself (no reader holds it).
    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        if index >= self.len.load(Ordering::Acquire) {
            return None;
        }
        let (bucket, offset) = locate(index);
        let ptr = self.buckets[bucket].load(Ordering::Acquire);
        // SAFETY: as in `get` (the slot is initialised); `&mut self` rules out other borrows.
        Some(unsafe { (*ptr.add(offset)).assume_init_mut() })
    }

    /// The entry at `index`, or `None` if it was never appended.
    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        if index >= self.len.load(Ordering::Acquire) {
            return None;
        }
        let (bucket, offset) = locate(index);
        let ptr = self.buckets[bucket].load(Ordering::Acquire);
        // SAFETY: index < len, and len is published after the slot (and its bucket pointer)
        // were written, so the slot is initialised; buckets never move or shrink.
        Some(unsafe { (*ptr.add(offset)).assume_init_ref() })
    }
}

impl<T> Drop for Arena<T> {
    fn drop(&mut self) {
        let len = self.len.load(Ordering::Acquire);
        for bucket in 0..BUCKETS {
            let ptr = self.buckets[bucket].load(Ordering::Acquire);
            if ptr.is_null() {
                continue;
            }
            let cap = bucket_len(bucket);
            let start =
                (1usize << (bucket as u32 + FIRST_BUCKET_SHIFT)) - (1 << FIRST_BUCKET_SHIFT);
            let live = len.saturating_sub(start).min(cap);
            // SAFETY: the bucket was allocated as a boxed slice of `cap` entries by `push`, and
            // exactly the first `live` entries were initialised.
            unsafe {
                for i in 0..live {
                    (*ptr.add(i)).assume_init_drop();
                }
                drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, cap)));
            }
        }
    }
}

// SAFETY: the arena hands out `&T` to any thread and moves `T` in from any thread.
unsafe impl<T: Send + Sync> Sync for Arena<T> {}
unsafe impl<T: Send> Send for Arena<T> {}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn locate_covers_buckets_without_gaps() {
        let mut expected = (0usize, 0usize);
        for index in 0..10_000 {
            let got = locate(index);
            assert_eq!(got, expected, "index {index}");
            expected.1 += 1;
            if expected.1 == bucket_len(expected.0) {
                expected = (expected.0 + 1, 0);
            }
        }
    }

    #[test]
    fn push_get_and_drop_every_entry() {
        use std::sync::Arc;
        let arena = Arena::new();
        let marker = Arc::new(());
        for i in 0..1000usize {
            assert_eq!(arena.push((i, marker.clone())), i);
        }
        assert_eq!(arena.len(), 1000);
        assert_eq!(arena.get(999).map(|v| v.0), Some(999));
        assert!(arena.get(1000).is_none());
        assert_eq!(Arc::strong_count(&marker), 1001);
        drop(arena);
        assert_eq!(Arc::strong_count(&marker), 1);
    }

    #[test]
    fn concurrent_readers_see_published_entries() {
        use std::sync::Arc;
        let arena = Arc::new(Arena::new());
        let writer = {
            let arena = arena.clone();
            std::thread::spawn(move || {
                for i in 0..20_000u64 {
                    arena.push(i * 3);
                }
            })
        };
        let mut seen = 0;
        while seen < 20_000 {
            let len = arena.len();
            for i in seen..len {
                assert_eq!(*arena.get(i).unwrap(), i as u64 * 3);
            }
            seen = len;
        }
        writer.join().unwrap();
    }
}

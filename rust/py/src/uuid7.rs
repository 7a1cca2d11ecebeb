//! Time-ordered uuids (version 7 layout) made on the worker threads, without a syscall.
//!
//! The store indexes uuids; time-ordered ones keep that index append-mostly (see
//! `python/ferroflow/data.py`, which makes the same layout for nodes created in Python). The
//! random bits come from a per-thread xorshift generator seeded from std's randomly keyed
//! hasher (OS entropy, once per process), the process and thread ids and the clock: unique,
//! not secret. A forked child reseeds (its threads would otherwise repeat the parent's bits).

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

/// Bumped in a forked child (see `after_fork`); threads reseed when it changed.
static FORKS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// (generator state, value of FORKS when seeded)
    static STATE: Cell<(u64, u64)> = const { Cell::new((0, u64::MAX)) };
}

/// Called in a forked child (Python's `os.register_at_fork`).
pub(crate) fn after_fork() {
    FORKS.fetch_add(1, Relaxed);
}

fn seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64));
    std::hash::Hash::hash(&std::thread::current().id(), &mut h);
    h.finish() | 1
}

fn next_random() -> u64 {
    STATE.with(|s| {
        let (mut x, generation) = s.get();
        let forks = FORKS.load(Relaxed);
        if generation != forks {
            x = seed();
        }
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set((x, forks));
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// A new uuid: 48 bits of Unix milliseconds, version 7, variant 10, 74 random bits.
pub(crate) fn uuid7() -> [u8; 16] {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let a = next_random();
    let b = next_random();
    let mut out = [0u8; 16];
    out[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    out[6] = 0x70 | ((a >> 60) as u8 & 0x0F);
    out[7] = (a >> 52) as u8;
    out[8..].copy_from_slice(&b.to_be_bytes());
    out[8] = 0x80 | (out[8] & 0x3F);
    out
}

/// A new uuid for a packed task run (`docs/packed-task-runs.md`): [`uuid7`] with its last byte
/// 0, so that the data nodes stored inline in the row take the same uuid with last byte 1, 2…
/// ([`inline_uuid`]) and one unique index serves all of them. 66 random bits remain.
pub(crate) fn row_uuid() -> [u8; 16] {
    let mut out = uuid7();
    out[15] = 0;
    out
}

/// The uuid of inline node `i` (1 ..= 255) of the packed row whose uuid is `row`.
pub(crate) fn inline_uuid(row: &[u8; 16], i: u8) -> [u8; 16] {
    let mut out = *row;
    out[15] = i;
    out
}

#[cfg(test)]
mod tests {
    use super::{inline_uuid, row_uuid, uuid7};

    #[test]
    fn row_uuids_keep_the_layout_and_leave_the_last_byte_to_their_nodes() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let row = row_uuid();
            assert_eq!(row[6] >> 4, 7);
            assert_eq!(row[8] >> 6, 0b10);
            assert_eq!(row[15], 0);
            let node = inline_uuid(&row, 1);
            assert_eq!(node[..15], row[..15]);
            assert_eq!(node[15], 1);
            assert!(seen.insert(row) && seen.insert(node));
        }
    }

    #[test]
    fn version_variant_and_uniqueness() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let u = uuid7();
            assert_eq!(u[6] >> 4, 7);
            assert_eq!(u[8] >> 6, 0b10);
            assert!(seen.insert(u));
        }
    }

    #[test]
    fn time_ordered_prefix() {
        let a = uuid7();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = uuid7();
        assert!(a[..6] < b[..6]);
    }
}

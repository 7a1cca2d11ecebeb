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

#[cfg(test)]
mod tests {
    use super::uuid7;

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

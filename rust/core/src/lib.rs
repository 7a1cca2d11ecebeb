//! ferroflow-core: the pure-Rust scheduling core of ferroflow (no PyO3).
//!
//! * [`Run`]: one live execution: an append-only arena of tasks addressed by [`TaskId`], a
//!   counter of unfinished inputs per task, readiness by decrement-to-zero, failure
//!   propagation (dependents are skipped), dynamic expansion (tasks added while the run is live,
//!   and graph tasks that suspend until their children are done) and cancellation.
//! * [`Pool`]: a persistent work-stealing pool that executes one run at a time through an
//!   [`Executor`].
//!
//! See `docs/architecture.md` for how a task flows through these pieces.

mod arena;
mod ids;
#[cfg(not(loom))]
mod pool;
mod run;
mod state;
mod sync;

pub use ids::{Dep, DepKind, TaskId, MAX_TASKS};
#[cfg(not(loom))]
pub use pool::{plain_hook, run_blocking, Executor, Job, Pool, PoolBusy, RunJob, ThreadHook};
pub use run::{CoreError, Counts, LimitId, Run};
pub use state::{Outcome, State};

//! The task life cycle, stored in one atomic byte per task.

/// Life-cycle state of a task. Terminal states are `Finished` and after.
///
/// ```text
/// Waiting --counter hits 0--> Ready --picked--> Running --> Finished | Failed
///    |                                             |
///    +--a data predecessor did not finish--> Skipped   +--expanded--> Suspended --children done--> Ready
/// any non-terminal state --run cancelled--> Cancelled
/// Running (pending elsewhere) --abandoned--> Cancelled
/// ```
#[repr(u8)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Waiting = 0,
    Ready = 1,
    Running = 2,
    Suspended = 3,
    Finished = 4,
    Failed = 5,
    Skipped = 6,
    Cancelled = 7,
}

impl State {
    pub fn is_terminal(self) -> bool {
        self as u8 >= State::Finished as u8
    }

    pub(crate) fn from_u8(v: u8) -> State {
        match v {
            0 => State::Waiting,
            1 => State::Ready,
            2 => State::Running,
            3 => State::Suspended,
            4 => State::Finished,
            5 => State::Failed,
            6 => State::Skipped,
            _ => State::Cancelled,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            State::Waiting => "WAITING",
            State::Ready => "READY",
            State::Running => "RUNNING",
            State::Suspended => "SUSPENDED",
            State::Finished => "FINISHED",
            State::Failed => "FAILED",
            State::Skipped => "SKIPPED",
            State::Cancelled => "CANCELLED",
        }
    }
}

/// What a task's execution reports back to the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    Failed,
    /// The task added children to the live run and must be resumed once all of these are
    /// terminal (dynamic expansion of a graph task). The core calls the executor again then.
    Suspend(Vec<crate::TaskId>),
    /// The task was handed to something outside the pool (a Dask cluster) and has no result
    /// yet. It stays `Running`, and counted in [`crate::Run::running`], until whoever learns
    /// the result calls [`crate::Run::complete`] again with the final outcome, from any thread.
    Pending,
    /// The task's execution was abandoned (its run was cancelled while it was pending
    /// elsewhere): it becomes `Cancelled`, and so do its data dependents.
    Cancelled,
}

//! Integer task ids: the only handle to a task on the hot path (no string keys).

/// Index of a task in its run's arena. Ids are dense and stable: the arena only appends.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub u32);

impl TaskId {
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// How a task depends on another one.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DepKind {
    /// Needs the predecessor's data: if the predecessor does not finish, this task is skipped.
    Data,
    /// Waits for the predecessor to reach any terminal state (a graph task waiting for the
    /// children it expanded into): failure does not propagate through this edge.
    Await,
}

/// One incoming dependency of a new task.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Dep {
    pub on: TaskId,
    pub kind: DepKind,
}

impl Dep {
    pub fn data(on: TaskId) -> Self {
        Self { on, kind: DepKind::Data }
    }
    pub fn await_(on: TaskId) -> Self {
        Self { on, kind: DepKind::Await }
    }
}

/// A successor edge packed in 32 bits: the high bit marks an `Await` edge.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Edge(u32);

const AWAIT_BIT: u32 = 1 << 31;

/// Largest number of tasks a run may hold (ids use 31 bits; the top bit tags edges).
pub const MAX_TASKS: u32 = AWAIT_BIT - 1;

impl Edge {
    pub(crate) fn new(to: TaskId, kind: DepKind) -> Self {
        match kind {
            DepKind::Data => Edge(to.0),
            DepKind::Await => Edge(to.0 | AWAIT_BIT),
        }
    }
    pub(crate) fn to(self) -> TaskId {
        TaskId(self.0 & !AWAIT_BIT)
    }
    pub(crate) fn is_await(self) -> bool {
        self.0 & AWAIT_BIT != 0
    }
}

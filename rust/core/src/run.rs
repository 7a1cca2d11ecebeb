//! One live execution of a task graph: the arena of task records and the readiness logic.
//!
//! Readiness is decentralised: whichever thread finishes a task decrements its successors'
//! counters and collects those that reach zero, so the pool can run them on the same thread.
//! The only lock is a per-task successor list, held for a push or for sealing; it resolves the
//! race between "an edge is added to a predecessor" (dynamic expansion) and "that predecessor
//! completes": completion first sets the terminal state, then seals the list under its lock,
//! so `add_task` either registers the edge before the seal or sees the terminal state after it.

use crate::arena::Arena;
use crate::ids::{Dep, DepKind, Edge, TaskId, MAX_TASKS};
use crate::state::{Outcome, State};
use crate::sync::{store_load_fence, AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Lock};
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};

struct Successors {
    sealed: bool,
    edges: Vec<Edge>,
}

/// The per-task record: about 56 bytes plus the payload (checked by a test).
pub(crate) struct TaskRecord<P> {
    payload: P,
    /// Unfinished predecessors, plus one "guard" held while the task is being wired up.
    unfinished: AtomicU32,
    /// Index + 1 of the concurrency limit this task counts against (0: none).
    limit: u32,
    state: AtomicU8,
    /// The task holds one of its limit's slots (from admission until it is terminal; a
    /// suspended graph task keeps its slot while its children run).
    holds_slot: AtomicBool,
    successors: Lock<Successors>,
}

/// Id of a concurrency limit created with [`Run::add_limit`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LimitId(pub u32);

struct LimitState {
    running: u32,
    parked: VecDeque<TaskId>,
}

/// At most `cap` of the tasks in this limit hold a slot at once; ready tasks over the cap wait
/// in `parked` (still `Ready`) and get a slot handed over when a holder becomes terminal.
struct Limit {
    cap: u32,
    state: Lock<LimitState>,
}

/// Errors from misuse of the core API (bad ids); they never leave the run inconsistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreError {
    UnknownTask(u32),
    ForwardDependency {
        task: u32,
        on: u32,
    },
    TooManyTasks,
    /// `complete` for a task that is not running (never started, or already completed).
    NotRunning(u32),
    UnknownLimit(u32),
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::UnknownTask(id) => write!(f, "unknown task id {id}"),
            CoreError::ForwardDependency { task, on } => {
                write!(f, "task {task} cannot depend on task {on}, which does not exist yet")
            }
            CoreError::TooManyTasks => write!(f, "a run holds at most {MAX_TASKS} tasks"),
            CoreError::NotRunning(id) => write!(f, "task {id} is not running"),
            CoreError::UnknownLimit(id) => write!(f, "unknown concurrency limit {id}"),
        }
    }
}

impl std::error::Error for CoreError {}

/// Per-state totals of a run, for progress displays and invariant checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub finished: usize,
    pub failed: usize,
    pub skipped: usize,
    pub cancelled: usize,
}

/// A live run: tasks may be added at any time until every task is terminal.
pub struct Run<P> {
    tasks: Arena<TaskRecord<P>>,
    limits: Arena<Limit>,
    /// Tasks not yet in a terminal state. The run is complete when this reaches zero.
    remaining: AtomicUsize,
    /// Tasks between a successful `start` and their `complete`.
    running: AtomicUsize,
    cancelled: AtomicBool,
    finished: AtomicUsize,
    failed: AtomicUsize,
    skipped: AtomicUsize,
    cancelled_tasks: AtomicUsize,
}

impl<P> Default for Run<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> Run<P> {
    pub fn new() -> Self {
        Self {
            tasks: Arena::new(),
            limits: Arena::new(),
            remaining: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            cancelled: AtomicBool::new(false),
            finished: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            skipped: AtomicUsize::new(0),
            cancelled_tasks: AtomicUsize::new(0),
        }
    }

    fn record(&self, id: TaskId) -> Result<&TaskRecord<P>, CoreError> {
        self.tasks.get(id.index()).ok_or(CoreError::UnknownTask(id.0))
    }

    /// The record of a task id that came from the core itself (a queue or an edge).
    fn known(&self, id: TaskId) -> &TaskRecord<P> {
        match self.tasks.get(id.index()) {
            Some(record) => record,
            None => unreachable!("task id {} came from the core but is not in the arena", id.0),
        }
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.len() == 0
    }

    pub fn payload(&self, id: TaskId) -> Result<&P, CoreError> {
        self.record(id).map(|r| &r.payload)
    }

    /// A task's payload for changing it (after the run, when nothing else shares it: a binding
    /// moves finished tasks' results out and drops what only running them needed).
    pub fn payload_mut(&mut self, id: TaskId) -> Result<&mut P, CoreError> {
        self.tasks.get_mut(id.index()).map(|r| &mut r.payload).ok_or(CoreError::UnknownTask(id.0))
    }

    pub fn state(&self, id: TaskId) -> Result<State, CoreError> {
        self.record(id).map(|r| State::from_u8(r.state.load(Acquire)))
    }

    /// Tasks not yet terminal; zero means the run is complete.
    pub fn remaining(&self) -> usize {
        self.remaining.load(SeqCst)
    }

    pub fn is_complete(&self) -> bool {
        self.remaining() == 0
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(SeqCst)
    }

    pub fn counts(&self) -> Counts {
        Counts {
            total: self.tasks.len(),
            finished: self.finished.load(Relaxed),
            failed: self.failed.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
            cancelled: self.cancelled_tasks.load(Relaxed),
        }
    }

    /// Create a concurrency limit: at most `cap` (≥ 1) of the tasks added with it run at once
    /// (WorkGraph's `max_number_jobs`, one limit per graph instance).
    pub fn add_limit(&self, cap: u32) -> LimitId {
        let index = self.limits.push(Limit {
            cap: cap.max(1),
            state: Lock::new(LimitState { running: 0, parked: VecDeque::new() }),
        });
        LimitId(index as u32)
    }

    /// Add a task whose predecessors are `deps` (all already in the run). Tasks that become
    /// ready are appended to `ready`. A task with a data dependency on a task that already
    /// failed, was skipped or cancelled is skipped at once.
    pub fn add_task(
        &self,
        payload: P,
        deps: &[Dep],
        ready: &mut Vec<TaskId>,
    ) -> Result<TaskId, CoreError> {
        self.add_task_limited(payload, deps, None, ready)
    }

    /// [`Run::add_task`] for a task that counts against the concurrency limit `limit`.
    pub fn add_task_limited(
        &self,
        payload: P,
        deps: &[Dep],
        limit: Option<LimitId>,
        ready: &mut Vec<TaskId>,
    ) -> Result<TaskId, CoreError> {
        if let Some(l) = limit {
            if self.limits.get(l.0 as usize).is_none() {
                return Err(CoreError::UnknownLimit(l.0));
            }
        }
        let next = self.tasks.len();
        if next >= MAX_TASKS as usize {
            return Err(CoreError::TooManyTasks);
        }
        for dep in deps {
            if dep.on.index() >= next {
                // Validated before anything is written, so an error leaves no trace.
                self.record(dep.on)?;
                return Err(CoreError::ForwardDependency { task: next as u32, on: dep.on.0 });
            }
        }
        let index = self.tasks.push(TaskRecord {
            payload,
            unfinished: AtomicU32::new(1),
            limit: limit.map_or(0, |l| l.0 + 1),
            state: AtomicU8::new(State::Waiting as u8),
            holds_slot: AtomicBool::new(false),
            successors: Lock::new(Successors { sealed: false, edges: Vec::new() }),
        });
        let id = TaskId(index as u32);
        self.remaining.fetch_add(1, SeqCst);
        let me = self.known(id);
        let mut doomed = false;
        for dep in deps {
            let pred = self.known(dep.on);
            let mut succ = pred.successors.lock();
            if succ.sealed {
                // Sealed means terminal: the state was stored before the seal.
                let st = State::from_u8(pred.state.load(Acquire));
                if dep.kind == DepKind::Data && st != State::Finished {
                    doomed = true;
                }
            } else {
                me.unfinished.fetch_add(1, AcqRel);
                succ.edges.push(Edge::new(id, dep.kind));
            }
        }
        if self.is_cancelled() {
            self.try_cancel(id);
        } else if doomed {
            self.skip_from(id, ready);
        } else {
            self.release_one(id, ready);
        }
        Ok(id)
    }

    /// Decrement `id`'s counter; if it reaches zero and the task waits, make it ready.
    fn release_one(&self, id: TaskId, ready: &mut Vec<TaskId>) {
        let record = self.known(id);
        if record.unfinished.fetch_sub(1, AcqRel) == 1 {
            let from_waiting = record
                .state
                .compare_exchange(State::Waiting as u8, State::Ready as u8, AcqRel, Acquire)
                .is_ok();
            let from_suspended = !from_waiting
                && record
                    .state
                    .compare_exchange(State::Suspended as u8, State::Ready as u8, AcqRel, Acquire)
                    .is_ok();
            if from_waiting || from_suspended {
                ready.push(id);
            }
        }
    }

    /// Claim a ready task for execution. Returns false if it is not ready (stale queue entry,
    /// cancelled run), in which case the caller must not execute it.
    pub fn start(&self, id: TaskId) -> bool {
        // Count first, then check the flag: `cancel` sets the flag, then reads `running`, so
        // either we see the flag or the canceller sees us (both SeqCst).
        self.running.fetch_add(1, SeqCst);
        store_load_fence();
        let claimed = !self.is_cancelled()
            && match self.tasks.get(id.index()) {
                Some(r) => {
                    r.state.load(Acquire) == State::Ready as u8
                        && self.admit(r, id)
                        && r.state
                            .compare_exchange(
                                State::Ready as u8,
                                State::Running as u8,
                                AcqRel,
                                Acquire,
                            )
                            .is_ok()
                }
                None => false,
            };
        if !claimed {
            self.running.fetch_sub(1, SeqCst);
        }
        claimed
    }

    /// Give the task a slot of its limit, or park it (it stays `Ready`) until a slot is
    /// handed over by [`Run::release_slot`]. Tasks without a limit are always admitted.
    fn admit(&self, record: &TaskRecord<P>, id: TaskId) -> bool {
        if record.limit == 0 || record.holds_slot.load(Acquire) {
            return true;
        }
        let limit = self.known_limit(record.limit);
        let mut state = limit.state.lock();
        if state.running < limit.cap {
            state.running += 1;
            record.holds_slot.store(true, Release);
            true
        } else {
            state.parked.push_back(id);
            false
        }
    }

    /// A slot holder became terminal: hand its slot to the oldest parked task (made ready
    /// again here), or free it.
    fn release_slot(&self, record: &TaskRecord<P>, ready: &mut Vec<TaskId>) {
        if record.limit == 0 || !record.holds_slot.swap(false, AcqRel) {
            return;
        }
        let limit = self.known_limit(record.limit);
        let mut state = limit.state.lock();
        match state.parked.pop_front() {
            Some(next) => {
                self.known(next).holds_slot.store(true, Release);
                ready.push(next);
            }
            None => state.running -= 1,
        }
    }

    fn known_limit(&self, tagged: u32) -> &Limit {
        match self.limits.get(tagged as usize - 1) {
            Some(limit) => limit,
            None => unreachable!("limit {} was validated when its task was added", tagged - 1),
        }
    }

    /// Tasks currently executing (claimed by `start`, not yet completed).
    pub fn running(&self) -> usize {
        self.running.load(SeqCst)
    }

    /// Report the outcome of a task claimed with [`Run::start`].
    ///
    /// [`Outcome::Pending`] changes nothing: the task stays `Running` (and counted) until a
    /// later call, from any thread, reports its final outcome (external completion: a task
    /// running on a cluster). The move out of `Running` is a compare-and-swap, so of two
    /// threads completing the same task exactly one succeeds; the other gets
    /// [`CoreError::NotRunning`] and changes nothing.
    pub fn complete(
        &self,
        id: TaskId,
        outcome: Outcome,
        ready: &mut Vec<TaskId>,
    ) -> Result<(), CoreError> {
        let record = self.record(id)?;
        let current = State::from_u8(record.state.load(Acquire));
        let target = match &outcome {
            Outcome::Pending => {
                // A result that arrived before the executor returned has already moved the
                // task on: that is fine. A task that never started is misuse.
                return if current == State::Running || current.is_terminal() {
                    Ok(())
                } else {
                    Err(CoreError::NotRunning(id.0))
                };
            }
            Outcome::Finished => State::Finished,
            Outcome::Failed => State::Failed,
            Outcome::Cancelled => State::Cancelled,
            Outcome::Suspend(children) => {
                for child in children {
                    self.record(*child)?;
                }
                State::Suspended
            }
        };
        if current != State::Running {
            return Err(CoreError::NotRunning(id.0));
        }
        if target == State::Suspended {
            // Before the state changes: nothing releases a running task, so the guard can go
            // in first; a losing `complete` below leaves it on a task that is already terminal.
            record.unfinished.store(1, Release);
        }
        if record
            .state
            .compare_exchange(State::Running as u8, target as u8, AcqRel, Acquire)
            .is_err()
        {
            return Err(CoreError::NotRunning(id.0));
        }
        match outcome {
            Outcome::Suspend(children) => {
                for child in children {
                    let child_record = self.known(child);
                    let mut succ = child_record.successors.lock();
                    if !succ.sealed {
                        record.unfinished.fetch_add(1, AcqRel);
                        succ.edges.push(Edge::new(id, DepKind::Await));
                    }
                }
                self.release_one(id, ready);
            }
            _ => {
                self.release_slot(record, ready);
                self.after_terminal(id, target, ready);
            }
        }
        // Last: a canceller that waits for `running() == 0` and then calls `cancel_pending`
        // must find this task already out of `Running` (a suspended task would otherwise be
        // skipped by `cancel_pending` and left non-terminal for ever).
        self.running.fetch_sub(1, SeqCst);
        Ok(())
    }

    fn bump(&self, state: State) {
        let counter = match state {
            State::Finished => &self.finished,
            State::Failed => &self.failed,
            State::Skipped => &self.skipped,
            _ => &self.cancelled_tasks,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// Seal the successor list of a task that just became terminal and notify every successor.
    /// Skips cascade through an explicit stack, so deep chains cannot overflow the thread stack.
    fn after_terminal(&self, id: TaskId, state: State, ready: &mut Vec<TaskId>) {
        let mut stack = vec![(id, state)];
        while let Some((current, st)) = stack.pop() {
            self.bump(st);
            let edges = {
                let mut succ = self.known(current).successors.lock();
                succ.sealed = true;
                std::mem::take(&mut succ.edges)
            };
            for edge in edges {
                let to = edge.to();
                if st == State::Finished || edge.is_await() {
                    self.release_one(to, ready);
                } else {
                    // Dependents of a cancelled task are cancelled too, not "skipped".
                    let cascade =
                        if st == State::Cancelled { State::Cancelled } else { State::Skipped };
                    if self.mark(to, State::Waiting, cascade) {
                        stack.push((to, cascade));
                    }
                }
            }
            // Last: the run must not look complete before this task's successors are handled.
            self.remaining.fetch_sub(1, SeqCst);
        }
    }

    fn mark(&self, id: TaskId, from: State, to: State) -> bool {
        self.known(id).state.compare_exchange(from as u8, to as u8, AcqRel, Acquire).is_ok()
    }

    fn skip_from(&self, id: TaskId, ready: &mut Vec<TaskId>) {
        if self.mark(id, State::Waiting, State::Skipped) {
            self.after_terminal(id, State::Skipped, ready);
        }
    }

    fn try_cancel(&self, id: TaskId) {
        let record = self.known(id);
        loop {
            let current = State::from_u8(record.state.load(Acquire));
            if current.is_terminal() || current == State::Running {
                return;
            }
            if record
                .state
                .compare_exchange(current as u8, State::Cancelled as u8, AcqRel, Acquire)
                .is_ok()
            {
                let mut sink = Vec::new();
                self.after_terminal(id, State::Cancelled, &mut sink);
                return;
            }
        }
    }

    /// Stop the run: no task starts after this returns. Tasks already running finish and report
    /// normally (an executor abandons the ones pending elsewhere with [`Outcome::Cancelled`]);
    /// call [`Run::cancel_pending`] once they have, to make every other task terminal.
    pub fn cancel(&self) {
        self.cancelled.store(true, SeqCst);
        store_load_fence();
    }

    /// After [`Run::cancel`] and once no task is running: mark every non-terminal task
    /// `Cancelled`, completing the run.
    pub fn cancel_pending(&self) {
        for index in 0..self.tasks.len() {
            self.try_cancel(TaskId(index as u32));
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn task_record_stays_small() {
        // 8-byte payload (a pointer, as in the Python binding): the engine state per task must
        // stay far below the 1 KiB budget; 64 bytes leaves room for growth.
        assert!(std::mem::size_of::<TaskRecord<usize>>() <= 64);
    }

    fn run_to_end(run: &Run<u32>, mut ready: Vec<TaskId>, fail: &[u32]) -> Vec<u32> {
        let mut order = Vec::new();
        while let Some(id) = ready.pop() {
            assert!(run.start(id));
            order.push(id.0);
            let outcome = if fail.contains(&id.0) { Outcome::Failed } else { Outcome::Finished };
            run.complete(id, outcome, &mut ready).unwrap();
        }
        order
    }

    #[test]
    fn diamond_runs_in_dependency_order() {
        let run = Run::new();
        let mut ready = Vec::new();
        let a = run.add_task(0, &[], &mut ready).unwrap();
        let b = run.add_task(1, &[Dep::data(a)], &mut ready).unwrap();
        let c = run.add_task(2, &[Dep::data(a)], &mut ready).unwrap();
        let d = run.add_task(3, &[Dep::data(b), Dep::data(c)], &mut ready).unwrap();
        assert_eq!(ready, vec![a]);
        let order = run_to_end(&run, ready, &[]);
        assert_eq!(order.len(), 4);
        assert_eq!(order[0], 0);
        assert_eq!(order[3], d.0);
        assert!(run.is_complete());
        assert_eq!(run.counts().finished, 4);
    }

    #[test]
    fn failure_skips_descendants_only() {
        let run = Run::new();
        let mut ready = Vec::new();
        let a = run.add_task(0, &[], &mut ready).unwrap();
        let b = run.add_task(1, &[Dep::data(a)], &mut ready).unwrap();
        let c = run.add_task(2, &[], &mut ready).unwrap();
        let d = run.add_task(3, &[Dep::data(b), Dep::data(c)], &mut ready).unwrap();
        run_to_end(&run, ready, &[0]);
        assert_eq!(run.state(a).unwrap(), State::Failed);
        assert_eq!(run.state(b).unwrap(), State::Skipped);
        assert_eq!(run.state(c).unwrap(), State::Finished);
        assert_eq!(run.state(d).unwrap(), State::Skipped);
        assert!(run.is_complete());
        let counts = run.counts();
        assert_eq!((counts.finished, counts.failed, counts.skipped), (1, 1, 2));
    }

    #[test]
    fn late_edges_to_terminal_tasks() {
        let run = Run::new();
        let mut ready = Vec::new();
        let a = run.add_task(0, &[], &mut ready).unwrap();
        let bad = run.add_task(1, &[], &mut ready).unwrap();
        run_to_end(&run, ready, &[1]);
        let mut ready = Vec::new();
        let ok = run.add_task(2, &[Dep::data(a)], &mut ready).unwrap();
        assert_eq!(ready, vec![ok], "an edge to a finished task is already satisfied");
        let doomed = run.add_task(3, &[Dep::data(bad)], &mut ready).unwrap();
        assert_eq!(run.state(doomed).unwrap(), State::Skipped);
        let waits = run.add_task(4, &[Dep::await_(bad)], &mut ready).unwrap();
        assert_eq!(ready, vec![ok, waits], "await edges ignore failure");
    }

    #[test]
    fn suspend_resumes_after_children() {
        let run = Run::new();
        let mut ready = Vec::new();
        let g = run.add_task(0, &[], &mut ready).unwrap();
        let after = run.add_task(9, &[Dep::data(g)], &mut ready).unwrap();
        assert_eq!(ready.pop(), Some(g));
        assert!(run.start(g));
        let c1 = run.add_task(1, &[], &mut ready).unwrap();
        let c2 = run.add_task(2, &[Dep::data(c1)], &mut ready).unwrap();
        run.complete(g, Outcome::Suspend(vec![c1, c2]), &mut ready).unwrap();
        assert_eq!(run.state(g).unwrap(), State::Suspended);
        assert_eq!(ready, vec![c1]);
        let order = run_to_end(&run, ready, &[]);
        assert_eq!(order, vec![c1.0, c2.0, g.0, after.0]);
        assert!(run.is_complete());
    }

    #[test]
    fn bad_ids_are_errors_not_panics() {
        let run: Run<u32> = Run::new();
        let mut ready = Vec::new();
        assert_eq!(
            run.add_task(0, &[Dep::data(TaskId(5))], &mut ready),
            Err(CoreError::UnknownTask(5))
        );
        assert!(run.is_empty(), "a rejected task leaves nothing behind");
        assert!(run.state(TaskId(0)).is_err());
    }

    #[test]
    fn a_limit_caps_running_tasks_and_hands_slots_over() {
        let run = Run::new();
        let mut ready = Vec::new();
        let cap = run.add_limit(2);
        let ids: Vec<TaskId> =
            (0..5).map(|i| run.add_task_limited(i, &[], Some(cap), &mut ready).unwrap()).collect();
        let free = run.add_task(9, &[], &mut ready).unwrap();
        let started: Vec<TaskId> = ready.drain(..).filter(|id| run.start(*id)).collect();
        assert_eq!(started, vec![ids[0], ids[1], free], "two slots, the unlimited task runs");
        assert_eq!(run.running(), 3);
        // finishing a holder hands its slot to the oldest parked task
        run.complete(ids[0], Outcome::Finished, &mut ready).unwrap();
        assert_eq!(ready, vec![ids[2]]);
        assert!(run.start(ids[2]));
        ready.clear();
        // a suspended holder keeps its slot while its children run
        let child = run.add_task(7, &[], &mut ready).unwrap();
        run.complete(ids[1], Outcome::Suspend(vec![child]), &mut ready).unwrap();
        assert_eq!(ready, vec![child]);
        ready.clear();
        assert!(run.start(child));
        run.complete(child, Outcome::Finished, &mut ready).unwrap();
        assert_eq!(ready, vec![ids[1]], "the suspended task resumes without a new slot");
        assert!(run.start(ids[1]));
        ready.clear();
        for id in [ids[1], ids[2], free] {
            run.complete(id, Outcome::Finished, &mut ready).unwrap();
        }
        let rest: Vec<TaskId> = std::mem::take(&mut ready);
        assert_eq!(rest, vec![ids[3], ids[4]]);
        for id in rest {
            assert!(run.start(id));
            run.complete(id, Outcome::Finished, &mut ready).unwrap();
        }
        assert!(run.is_complete());
        assert_eq!(run.counts().finished, 7);
    }

    #[test]
    fn unknown_limit_is_an_error() {
        let run: Run<u32> = Run::new();
        let mut ready = Vec::new();
        assert_eq!(
            run.add_task_limited(0, &[], Some(LimitId(3)), &mut ready),
            Err(CoreError::UnknownLimit(3))
        );
        assert!(run.is_empty());
    }

    #[test]
    fn pending_tasks_stay_running_until_completed_from_outside() {
        let run = Run::new();
        let mut ready = Vec::new();
        let a = run.add_task(0, &[], &mut ready).unwrap();
        let b = run.add_task(1, &[Dep::data(a)], &mut ready).unwrap();
        assert!(run.start(a));
        run.complete(a, Outcome::Pending, &mut ready).unwrap();
        assert_eq!(run.state(a).unwrap(), State::Running);
        assert_eq!(run.running(), 1, "a pending task counts as running");
        assert_eq!(ready, vec![a], "nothing new is ready");
        ready.clear();
        // the result arrives later, on whatever thread learnt it
        run.complete(a, Outcome::Finished, &mut ready).unwrap();
        assert_eq!(ready, vec![b]);
        assert_eq!(run.running(), 0);
        // a result that arrives before the executor reported Pending is fine too
        assert!(run.start(b));
        run.complete(b, Outcome::Failed, &mut ready).unwrap();
        run.complete(b, Outcome::Pending, &mut ready).unwrap();
        assert_eq!(run.state(b).unwrap(), State::Failed);
        assert!(run.is_complete());
    }

    #[test]
    fn a_task_completes_once() {
        let run = Run::new();
        let mut ready = Vec::new();
        let a = run.add_task(0, &[], &mut ready).unwrap();
        let waiting = run.add_task(1, &[Dep::data(a)], &mut ready).unwrap();
        assert_eq!(
            run.complete(waiting, Outcome::Pending, &mut ready),
            Err(CoreError::NotRunning(waiting.0)),
            "pending before it started is misuse"
        );
        assert!(run.start(a));
        run.complete(a, Outcome::Finished, &mut ready).unwrap();
        for again in [Outcome::Finished, Outcome::Failed, Outcome::Cancelled] {
            assert_eq!(run.complete(a, again, &mut ready), Err(CoreError::NotRunning(a.0)));
        }
        assert_eq!(run.counts().finished, 1);
        assert_eq!(run.running(), 0, "no double decrement");
    }

    #[test]
    fn abandoning_a_pending_task_cancels_its_dependents() {
        let run = Run::new();
        let mut ready = Vec::new();
        let a = run.add_task(0, &[], &mut ready).unwrap();
        let b = run.add_task(1, &[Dep::data(a)], &mut ready).unwrap();
        let c = run.add_task(2, &[Dep::data(b)], &mut ready).unwrap();
        assert!(run.start(a));
        run.complete(a, Outcome::Pending, &mut ready).unwrap();
        run.cancel();
        assert_eq!(run.running(), 1, "the canceller waits for it ...");
        run.complete(a, Outcome::Cancelled, &mut ready).unwrap(); // ... or abandons it
        assert_eq!(run.running(), 0);
        run.cancel_pending();
        for id in [a, b, c] {
            assert_eq!(run.state(id).unwrap(), State::Cancelled);
        }
        assert!(run.is_complete());
        assert_eq!(run.counts().cancelled, 3);
    }

    #[test]
    fn cancel_makes_everything_terminal() {
        let run = Run::new();
        let mut ready = Vec::new();
        let a = run.add_task(0, &[], &mut ready).unwrap();
        let _b = run.add_task(1, &[Dep::data(a)], &mut ready).unwrap();
        run.cancel();
        assert!(!run.start(a));
        run.cancel_pending();
        assert!(run.is_complete());
        assert_eq!(run.counts().cancelled, 2);
    }
}

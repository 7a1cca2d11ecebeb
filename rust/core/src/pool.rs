//! A persistent work-stealing pool that executes the ready tasks of one run at a time.
//!
//! Each worker owns a LIFO deque: a task made ready by a finishing worker runs next on that same
//! worker (no cross-thread wake, which costs ~22 µs on a VM), surplus is stolen in batches from
//! the global injector or from peers, and idle workers spin briefly before parking. Queue
//! entries pack a run epoch with the task id, so entries left behind by a cancelled run are
//! recognised and dropped by the next one.
//!
//! The pool knows nothing about Python: the binding passes a `thread_hook` that wraps each
//! worker's whole life (the PyO3 crate attaches once there, with a persistent thread state).

use crate::ids::TaskId;
use crate::run::Run;
use crate::state::Outcome;
use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use parking_lot::{Condvar, Mutex, RwLock};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Runs one task of a run. Implemented by the Python binding (and by tests with plain closures).
pub trait Executor<P>: Send + Sync {
    fn execute(&self, run: &Run<P>, id: TaskId, payload: &P) -> Outcome;
    /// What the pool calls; the default forwards to `execute`. `ready` collects the tasks made
    /// ready during the call (pass it to [`Run::add_task`] when a task expands the run): the
    /// pool queues them on this worker's deque once the call returns, even if it panicked. An
    /// executor that adds tasks from inside a task, and has no other route to the pool (such
    /// as [`Pool::inject`]), overrides this method; the pool then never calls its `execute`.
    fn execute_into(
        &self,
        run: &Run<P>,
        id: TaskId,
        payload: &P,
        ready: &mut Vec<TaskId>,
    ) -> Outcome {
        let _ = ready;
        self.execute(run, id, payload)
    }
    /// Called when the execution panicked; the task is then reported as failed.
    fn on_panic(&self, _id: TaskId, _message: String) {}
}

/// A run bound to its executor, as the pool sees it.
pub trait Job: Send + Sync {
    fn step(&self, id: TaskId, ready: &mut Vec<TaskId>);
    fn is_complete(&self) -> bool;
}

/// A [`Run`] plus the executor that runs its tasks.
pub struct RunJob<P, E> {
    pub run: Arc<Run<P>>,
    pub executor: E,
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

impl<P: Send + Sync, E: Executor<P>> Job for RunJob<P, E> {
    fn step(&self, id: TaskId, ready: &mut Vec<TaskId>) {
        if !self.run.start(id) {
            return;
        }
        let outcome = match self.run.payload(id) {
            Ok(payload) => {
                let call = || self.executor.execute_into(&self.run, id, payload, ready);
                match catch_unwind(AssertUnwindSafe(call)) {
                    Ok(outcome) => outcome,
                    Err(panic) => {
                        self.executor.on_panic(id, panic_message(panic.as_ref()));
                        Outcome::Failed
                    }
                }
            }
            Err(_) => Outcome::Failed,
        };
        if self.run.complete(id, outcome, ready).is_err() {
            // A suspend naming unknown children: fail the task instead (state is unchanged).
            let _ = self.run.complete(id, Outcome::Failed, ready);
        }
    }

    fn is_complete(&self) -> bool {
        self.run.is_complete()
    }
}

/// Wraps the whole life of a worker thread (the binding attaches to the interpreter here).
pub type ThreadHook = Arc<dyn Fn(Box<dyn FnOnce() + Send>) + Send + Sync>;

/// Returned by [`Pool::start`] when another run holds the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolBusy;

/// A worker's clone of the current job, with the run epoch it belongs to.
type Held = (u32, Arc<dyn Job>);

struct Shared {
    injector: Injector<u64>,
    stealers: Vec<Stealer<u64>>,
    current: RwLock<Option<Arc<dyn Job>>>,
    epoch: AtomicU32,
    busy: AtomicBool,
    /// Each worker's clone of the current job (and its epoch). `finish` takes them all back,
    /// so that the job (and any Python objects in it) is dropped by the thread that started
    /// the run.
    slots: Vec<Mutex<Option<Held>>>,
    sleepers: AtomicUsize,
    events: AtomicU64,
    sleep_lock: Mutex<()>,
    sleep_cv: Condvar,
    done_lock: Mutex<()>,
    done_cv: Condvar,
    shutdown: AtomicBool,
}

#[inline]
fn pack(epoch: u32, id: TaskId) -> u64 {
    (u64::from(epoch) << 32) | u64::from(id.0)
}

#[inline]
fn unpack(entry: u64) -> (u32, TaskId) {
    ((entry >> 32) as u32, TaskId(entry as u32))
}

impl Shared {
    fn announce(&self, wake_all: bool) {
        self.events.fetch_add(1, SeqCst);
        if self.sleepers.load(SeqCst) > 0 {
            let _guard = self.sleep_lock.lock();
            if wake_all {
                self.sleep_cv.notify_all();
            } else {
                self.sleep_cv.notify_one();
            }
        }
    }

    fn find(&self, local: &Worker<u64>, index: usize) -> Option<u64> {
        if let Some(entry) = local.pop() {
            return Some(entry);
        }
        let stolen = self.steal(local, index);
        if stolen.is_some() && !local.is_empty() {
            // A batch brought surplus: wake one more sleeper, which may steal from us in turn,
            // so a wide expansion fans out over every worker instead of just two.
            self.announce(false);
        }
        stolen
    }

    fn steal(&self, local: &Worker<u64>, index: usize) -> Option<u64> {
        loop {
            match self.injector.steal_batch_and_pop(local) {
                Steal::Success(entry) => return Some(entry),
                Steal::Empty => break,
                Steal::Retry => continue,
            }
        }
        let n = self.stealers.len();
        for k in 1..n {
            let victim = &self.stealers[(index + k) % n];
            loop {
                match victim.steal_batch_and_pop(local) {
                    Steal::Success(entry) => return Some(entry),
                    Steal::Empty => break,
                    Steal::Retry => continue,
                }
            }
        }
        None
    }
}

/// The pool. Create it once and reuse it for many runs (thread start-up is not free).
pub struct Pool {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    size: usize,
}

const SPIN_ROUNDS: u32 = 64;

fn worker_main(shared: Arc<Shared>, local: Worker<u64>, index: usize) {
    // This worker's hold on the current job: taken again only when the epoch changes, so a
    // task costs no read of `current`; locked while a task runs, so `finish` takes it back
    // (waiting only for a task still running) without this worker's help.
    let slot = &shared.slots[index];
    let mut ready: Vec<TaskId> = Vec::new();
    let mut idle_rounds = 0u32;
    loop {
        if let Some(entry) = shared.find(&local, index) {
            idle_rounds = 0;
            let (epoch, id) = unpack(entry);
            let mut held = slot.lock();
            if held.as_ref().map(|c| c.0) != Some(epoch) {
                *held = None; // (`finish` emptied it already: never the job's last holder)
                let current = shared.current.read();
                if shared.epoch.load(SeqCst) == epoch {
                    if let Some(job) = current.as_ref() {
                        *held = Some((epoch, job.clone()));
                    }
                }
            }
            let Some((_, job)) = held.as_ref().filter(|c| c.0 == epoch) else {
                continue; // an entry of a finished run
            };
            job.step(id, &mut ready);
            let complete = job.is_complete();
            drop(held);
            let made = ready.len();
            for next in ready.drain(..).rev() {
                local.push(pack(epoch, next));
            }
            if made > 1 {
                shared.announce(false);
            }
            if complete {
                let _guard = shared.done_lock.lock();
                shared.done_cv.notify_all();
            }
            continue;
        }
        if idle_rounds < SPIN_ROUNDS {
            idle_rounds += 1;
            if idle_rounds % 8 == 0 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
            continue;
        }
        if shared.shutdown.load(SeqCst) {
            return;
        }
        let seen = shared.events.load(SeqCst);
        if let Some(entry) = shared.find(&local, index) {
            local.push(entry);
            continue;
        }
        let mut guard = shared.sleep_lock.lock();
        shared.sleepers.fetch_add(1, SeqCst);
        if shared.events.load(SeqCst) == seen && !shared.shutdown.load(SeqCst) {
            shared.sleep_cv.wait(&mut guard);
        }
        shared.sleepers.fetch_sub(1, SeqCst);
        idle_rounds = 0;
    }
}

impl Pool {
    /// Start `size` workers (at least one). Each runs inside `hook`.
    pub fn new(size: usize, hook: ThreadHook) -> std::io::Result<Pool> {
        let size = size.max(1);
        let locals: Vec<Worker<u64>> = (0..size).map(|_| Worker::new_lifo()).collect();
        let shared = Arc::new(Shared {
            injector: Injector::new(),
            stealers: locals.iter().map(Worker::stealer).collect(),
            current: RwLock::new(None),
            epoch: AtomicU32::new(0),
            busy: AtomicBool::new(false),
            slots: (0..size).map(|_| Mutex::new(None)).collect(),
            sleepers: AtomicUsize::new(0),
            events: AtomicU64::new(0),
            sleep_lock: Mutex::new(()),
            sleep_cv: Condvar::new(),
            done_lock: Mutex::new(()),
            done_cv: Condvar::new(),
            shutdown: AtomicBool::new(false),
        });
        let pool = Pool { shared: shared.clone(), threads: Mutex::new(Vec::new()), size };
        for (index, local) in locals.into_iter().enumerate() {
            let shared = shared.clone();
            let hook = hook.clone();
            let handle = std::thread::Builder::new()
                .name(format!("ferroflow-worker-{index}"))
                .spawn(move || hook(Box::new(move || worker_main(shared, local, index))));
            match handle {
                Ok(h) => pool.threads.lock().push(h),
                Err(e) => {
                    pool.shutdown();
                    return Err(e);
                }
            }
        }
        Ok(pool)
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Install `job` and queue its initially ready tasks. Fails if another run holds the pool.
    pub fn start(&self, job: Arc<dyn Job>, ready: &[TaskId]) -> Result<u32, PoolBusy> {
        if self.shared.busy.compare_exchange(false, true, SeqCst, SeqCst).is_err() {
            return Err(PoolBusy);
        }
        let epoch = {
            let mut current = self.shared.current.write();
            *current = Some(job);
            self.shared.epoch.fetch_add(1, SeqCst) + 1
        };
        self.inject(epoch, ready);
        Ok(epoch)
    }

    /// Queue ready tasks from outside the workers (initial tasks, expansion from the caller).
    pub fn inject(&self, epoch: u32, ready: &[TaskId]) {
        if ready.is_empty() {
            return;
        }
        for id in ready {
            self.shared.injector.push(pack(epoch, *id));
        }
        self.shared.announce(true);
    }

    /// Wake the thread blocked in [`Pool::wait`] so that it checks for completion now: for a
    /// run whose last task was completed outside the workers ([`Outcome::Pending`] tasks
    /// completed by another thread), which no worker notices.
    pub fn notify_waiters(&self) {
        let _guard = self.shared.done_lock.lock();
        self.shared.done_cv.notify_all();
    }

    /// Wait up to `timeout` for the installed job to complete. Call it detached from Python.
    pub fn wait(&self, timeout: Duration) -> bool {
        let complete = || self.shared.current.read().as_ref().is_none_or(|job| job.is_complete());
        let mut guard = self.shared.done_lock.lock();
        if complete() {
            return true;
        }
        self.shared.done_cv.wait_for(&mut guard, timeout);
        drop(guard);
        complete()
    }

    /// Uninstall the current job once it is complete or cancelled, take it back from the
    /// workers (waiting only for a task still running, as after a cancel), and hand it back so
    /// the caller decides where it is dropped. Workers are neither woken nor waited for: an
    /// idle one has nothing to give back that this cannot take itself. (Waiting for each
    /// worker to notice the end and let go, as before, cost a small run's end tens of µs of
    /// yielding on a busy VM, and waking parked workers a futex wake each.)
    pub fn finish(&self) -> Option<Arc<dyn Job>> {
        let mut job = {
            let mut current = self.shared.current.write();
            self.shared.epoch.fetch_add(1, SeqCst);
            current.take()
        }; // (released before taking slots: a worker takes `current` with its slot held)
        for slot in &self.shared.slots {
            if let Some((_, held)) = slot.lock().take() {
                if job.is_none() {
                    job = Some(held); // then the caller drops the last clone, as always
                }
            }
        }
        self.shared.busy.store(false, SeqCst);
        job
    }

    /// Stop and join every worker. Idempotent. Call it detached from Python.
    pub fn shutdown(&self) {
        self.shared.shutdown.store(true, SeqCst);
        {
            let _guard = self.shared.sleep_lock.lock();
            self.shared.sleep_cv.notify_all();
        }
        let threads: Vec<JoinHandle<()>> = std::mem::take(&mut *self.threads.lock());
        for handle in threads {
            let _ = handle.join();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Run `run` to completion on `pool`, blocking the calling thread: a convenience for Rust
/// callers and tests (the Python binding drives `start`/`wait`/`finish` itself to poll Ctrl-C).
pub fn run_blocking<P, E>(pool: &Pool, run: Arc<Run<P>>, executor: E, ready: &[TaskId])
where
    P: Send + Sync + 'static,
    E: Executor<P> + 'static,
{
    let job: Arc<dyn Job> = Arc::new(RunJob { run, executor });
    if pool.start(job, ready).is_err() {
        panic!("pool is busy");
    }
    while !pool.wait(Duration::from_millis(50)) {}
    pool.finish();
}

/// A hook that runs the worker body as is (for pure-Rust users and tests).
pub fn plain_hook() -> ThreadHook {
    Arc::new(|body: Box<dyn FnOnce() + Send>| body())
}

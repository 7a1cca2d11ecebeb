//! `ferroflow._core`: the thin PyO3 layer over `ferroflow-core`.
//!
//! Python owns the API, sockets and provenance; this module only exposes the scheduler:
//! [`PyPool`] (persistent worker threads, each attached to the interpreter once for its whole
//! life) and [`PyRun`] (a live task graph whose payloads are Python objects). Rules kept here:
//! never block while attached (every wait is inside `Python::detach`), never call Python while
//! detached, and drop Python objects only while attached.

mod call;
mod fast;
mod pks;
mod rows;
mod sql_writer;
mod sqlite;
mod submit;
mod uuid7;

use fast::{FastContext, FastTask, Payload};
use ferroflow_core::{
    Dep, Executor, Job, LimitId, Outcome, Pool, Run, RunJob, State, TaskId, ThreadHook,
};
use pyo3::exceptions::{PyRuntimeError, PyTimeoutError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyList, PyString, PyTuple, PyType};
use std::cell::{Cell, RefCell};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the waiting thread stays detached before it checks for Ctrl-C.
const POLL: Duration = Duration::from_millis(20);

/// What a runner returns for a task it handed to another executor (a Dask cluster): the task
/// stays RUNNING until `Run.resolve` / `Run.resolve_many` report its outcome.
const PENDING: &str = "pending";

/// What a runner returns for a task it gave up on because the run was cancelled (a task that
/// was waiting for its next attempt): the task becomes CANCELLED, as if it had never started.
const CANCELLED: &str = "cancelled";

/// While a cancelled run still has tasks pending elsewhere, `on_cancel` is called again after
/// this long (a runner may hand a task over just after the previous call).
const CANCEL_RETRY: Duration = Duration::from_millis(10);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Each worker attaches once (creating its persistent thread state) and detaches at once; the
/// per-task attach inside `execute` then reuses that state (~50 ns instead of ~7.6 µs).
fn python_thread_hook() -> ThreadHook {
    Arc::new(|body: Box<dyn FnOnce() + Send>| {
        IN_WORKER.with(|w| w.set(true));
        let mut body = Some(body);
        let attached = Python::try_attach(|py| {
            if let Some(b) = body.take() {
                py.detach(b);
            }
        });
        if attached.is_none() {
            if let Some(b) = body.take() {
                b();
            }
        }
    })
}

/// A persistent pool of worker threads. Reuse one across runs.
#[pyclass(name = "Pool", module = "ferroflow._core", frozen)]
struct PyPool {
    inner: Arc<Pool>,
}

#[pymethods]
impl PyPool {
    #[new]
    #[pyo3(signature = (workers))]
    fn new(py: Python<'_>, workers: usize) -> PyResult<Self> {
        if workers == 0 {
            return Err(PyValueError::new_err("a pool needs at least one worker"));
        }
        let pool = py
            .detach(|| Pool::new(workers, python_thread_hook()))
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start worker threads: {e}")))?;
        Ok(Self { inner: Arc::new(pool) })
    }

    /// Number of worker threads.
    #[getter]
    fn size(&self) -> usize {
        self.inner.size()
    }

    /// Stop and join the workers (idempotent). Joining happens detached.
    fn shutdown(&self, py: Python<'_>) {
        let pool = self.inner.clone();
        py.detach(move || pool.shutdown());
    }
}

/// Errors a run collected from its executor: Python exceptions escaping the runner and panics.
#[derive(Default)]
struct Failures {
    runner_error: Option<PyErr>,
    panics: Vec<(u32, String)>,
}

struct PyExecutor {
    runner: Py<PyAny>,
    failures: Arc<Mutex<Failures>>,
    fast: Option<Py<FastContext>>,
}

impl PyExecutor {
    fn interpret(result: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        if result.is_none() {
            return Ok(Outcome::Finished);
        }
        if result.is_instance_of::<PyBool>() {
            let ok: bool = result.extract()?;
            return Ok(if ok { Outcome::Finished } else { Outcome::Failed });
        }
        if let Ok(text) = result.cast::<PyString>() {
            let text = text.to_cow()?;
            return match text.as_ref() {
                PENDING => Ok(Outcome::Pending),
                CANCELLED => Ok(Outcome::Cancelled),
                _ => Err(PyValueError::new_err(format!(
                    "a runner returns None, a bool, a list of task ids, {PENDING:?} or \
                     {CANCELLED:?}, not {text:?}"
                ))),
            };
        }
        let children: Vec<u32> = result.extract()?;
        Ok(Outcome::Suspend(children.into_iter().map(TaskId).collect()))
    }
}

thread_local! {
    /// True on the pool's worker threads (Python asks, to word errors about task calls).
    static IN_WORKER: Cell<bool> = const { Cell::new(false) };
    /// While a worker executes a task: (address of its run, tasks that became ready because
    /// the task called `Run.add_task`). They go to this worker's own deque afterwards instead
    /// of the global injector, so an expansion wakes no thread per added task.
    static SINK: RefCell<Option<(usize, Vec<TaskId>)>> = const { RefCell::new(None) };
}

fn run_key<P>(run: &Run<P>) -> usize {
    run as *const Run<P> as usize
}

/// Moves what the task made ready into the pool's `ready` vector, also when the call unwinds.
struct SinkGuard<'a> {
    ready: &'a mut Vec<TaskId>,
}

impl Drop for SinkGuard<'_> {
    fn drop(&mut self) {
        if let Some((_, made)) = SINK.with(|s| s.borrow_mut().take()) {
            self.ready.extend(made);
        }
    }
}

impl Executor<Payload> for PyExecutor {
    fn execute_into(
        &self,
        run: &Run<Payload>,
        id: TaskId,
        payload: &Payload,
        ready: &mut Vec<TaskId>,
    ) -> Outcome {
        if let Payload::Slow(_) = payload {
            SINK.with(|s| *s.borrow_mut() = Some((run_key(run), Vec::new())));
            let _guard = SinkGuard { ready };
            return self.execute(run, id, payload);
        }
        self.execute(run, id, payload)
    }

    fn execute(&self, run: &Run<Payload>, id: TaskId, payload: &Payload) -> Outcome {
        Python::attach(|py| {
            let outcome = match (payload, &self.fast) {
                (Payload::Slow(node), _) => self
                    .runner
                    .bind(py)
                    .call1((node.bind(py),))
                    .and_then(|result| Self::interpret(&result)),
                (Payload::Fast(task), Some(ctx)) => fast::execute(py, run, id, task, ctx.get()),
                (Payload::Fast(_), None) => {
                    Err(PyRuntimeError::new_err("internal error: fast task without a context"))
                }
                (Payload::Released, _) => {
                    Err(PyRuntimeError::new_err("internal error: a released task was run"))
                }
            };
            match outcome {
                Ok(outcome) => outcome,
                Err(err) => {
                    let mut failures = lock(&self.failures);
                    if failures.runner_error.is_none() {
                        failures.runner_error = Some(err);
                    }
                    Outcome::Failed
                }
            }
        })
    }

    fn on_panic(&self, id: TaskId, message: String) {
        lock(&self.failures).panics.push((id.0, message));
    }
}

/// A run that released at least this many fast tasks hands the freed heap pages back to the
/// system (`malloc_trim`, ~1 ms for a million tasks): their small allocations lie between
/// others that live on, so the allocator alone keeps them resident.
const TRIM_AFTER: usize = 10_000;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn give_back_freed_memory() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: glibc's malloc_trim only returns free pages of the heap to the system; it takes
    // the allocator's own locks.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_back_freed_memory() {}

/// Where ready tasks go while the run executes (set by `execute`, cleared after).
struct Active {
    pool: Arc<Pool>,
    epoch: u32,
}

/// A live task graph. Payloads are arbitrary Python objects handed to the runner.
#[pyclass(name = "Run", module = "ferroflow._core", frozen)]
struct PyRun {
    /// The run; swapped for nothing, but behind a lock so that `results` can change it in place
    /// once nothing else shares it (see there).
    inner: Mutex<Arc<Run<Payload>>>,
    /// Tasks that became ready before `execute` installed the run in a pool.
    pending: Mutex<Vec<TaskId>>,
    active: Mutex<Option<Active>>,
    panics: Mutex<Vec<(u32, String)>>,
}

impl PyRun {
    /// The run (shared: an `Arc` clone).
    fn run(&self) -> Arc<Run<Payload>> {
        lock(&self.inner).clone()
    }

    fn add(&self, payload: Payload, deps: Vec<u32>, limit: Option<u32>) -> PyResult<u32> {
        let mut ready = Vec::new();
        let id = Self::add_into(&self.run(), payload, deps, limit, &mut ready);
        self.schedule(ready);
        id
    }

    /// `add`, leaving the tasks it makes ready in `ready` for one `schedule` of a whole batch.
    fn add_into(
        run: &Run<Payload>,
        payload: Payload,
        deps: Vec<u32>,
        limit: Option<u32>,
        ready: &mut Vec<TaskId>,
    ) -> PyResult<u32> {
        let deps: Vec<Dep> = deps.into_iter().map(|d| Dep::data(TaskId(d))).collect();
        let id = run
            .add_task_limited(payload, &deps, limit.map(LimitId), ready)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(id.0)
    }

    fn schedule(&self, ready: Vec<TaskId>) {
        if ready.is_empty() {
            return;
        }
        let key = run_key(&self.run());
        let ready = SINK.with(|s| match s.borrow_mut().as_mut() {
            Some((k, made)) if *k == key => {
                made.extend(ready);
                None
            }
            _ => Some(ready),
        });
        let Some(ready) = ready else { return };
        let active = lock(&self.active);
        match active.as_ref() {
            Some(a) => a.pool.inject(a.epoch, &ready),
            None => lock(&self.pending).extend(ready),
        }
    }

    /// Cancel, let running bodies finish, mark the rest CANCELLED. Tasks pending elsewhere count
    /// as running: `on_cancel()` is asked to abandon them (`Run.abandon`), and asked again every
    /// `CANCEL_RETRY` while any task still runs.
    fn stop(&self, py: Python<'_>, on_cancel: Option<&Py<PyAny>>) {
        let run = self.run();
        run.cancel();
        if let Some(callback) = on_cancel {
            loop {
                if let Err(err) = callback.bind(py).call0() {
                    err.write_unraisable(py, Some(callback.bind(py)));
                }
                let r = run.clone();
                let idle = py.detach(move || {
                    let until = Instant::now() + CANCEL_RETRY;
                    while r.running() > 0 && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    r.running() == 0
                });
                if idle {
                    break;
                }
            }
        }
        py.detach(|| {
            while run.running() > 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            run.cancel_pending();
        });
    }

    /// Complete tasks that were pending elsewhere and queue what they make ready; wake the
    /// thread waiting in `execute` if that was the run's last task (no worker will notice).
    fn complete_external(&self, outcomes: impl IntoIterator<Item = (u32, Outcome)>) -> usize {
        let run = self.run();
        let mut ready = Vec::new();
        let mut applied = 0;
        for (id, outcome) in outcomes {
            if run.complete(TaskId(id), outcome, &mut ready).is_ok() {
                applied += 1;
            }
        }
        self.schedule(ready);
        if run.is_complete() {
            if let Some(active) = lock(&self.active).as_ref() {
                active.pool.notify_waiters();
            }
        }
        applied
    }
}

#[pymethods]
impl PyRun {
    #[new]
    fn new() -> Self {
        Self {
            inner: Mutex::new(Arc::new(Run::new())),
            pending: Mutex::new(Vec::new()),
            active: Mutex::new(None),
            panics: Mutex::new(Vec::new()),
        }
    }

    /// Create a concurrency limit: at most `cap` tasks added with `limit=` this id run at once.
    fn add_limit(&self, cap: u32) -> PyResult<u32> {
        if cap == 0 {
            return Err(PyValueError::new_err("a concurrency limit must be at least 1"));
        }
        Ok(self.run().add_limit(cap).0)
    }

    /// Add a task that depends on the tasks `deps` (ids returned earlier), optionally counted
    /// against a concurrency limit. Returns its id. Safe to call while the run executes
    /// (dynamic expansion).
    #[pyo3(signature = (payload, deps = Vec::new(), limit = None))]
    fn add_task(&self, payload: Py<PyAny>, deps: Vec<u32>, limit: Option<u32>) -> PyResult<u32> {
        self.add(Payload::Slow(payload), deps, limit)
    }

    /// Add the task nodes `tasks` (a graph's, in order) to the run, each in its lane (see
    /// `submit.rs`), counted against `limit`; set each node's `id` and register it in
    /// `registry`, the run's list of nodes by id (ids are dense: a list holds a million-task
    /// run in 8 B per task, a dict in ~50). `fast_box` None turns the fast lane off. Returns
    /// the ids. A task whose producer has no id raises `LookupError((task, producer))`.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (tasks, registry, fast_box, store, recording, caller_pk, data_node, future_socket, limit = None))]
    fn submit<'py>(
        &self,
        py: Python<'py>,
        tasks: &Bound<'py, PyList>,
        registry: &Bound<'py, PyList>,
        fast_box: Option<Bound<'py, PyAny>>,
        store: &Bound<'py, PyAny>,
        recording: bool,
        caller_pk: i64,
        data_node: &Bound<'py, PyType>,
        future_socket: &Bound<'py, PyType>,
        limit: Option<u32>,
    ) -> PyResult<Vec<u32>> {
        let pks = if recording {
            Some(store.getattr(intern!(py, "pk_stream"))?.cast_into::<pks::PkStream>()?)
        } else {
            None
        };
        let lanes = submit::Lanes {
            fast_box: fast_box.as_ref(),
            store,
            pks: pks.as_ref(),
            recording,
            caller_pk,
            data_node,
            future_socket,
        };
        let mut ids = Vec::with_capacity(tasks.len());
        let mut cache = submit::SubmitCache::default();
        // The tasks made ready are scheduled once, at the end (also when a task is refused:
        // those added before it run).
        let mut ready = Vec::new();
        let run = self.run();
        let added = (|| -> PyResult<()> {
            for task in tasks.iter() {
                let id = match submit::fast_spec(py, &task, &lanes, &mut cache)? {
                    Some((spec, deps)) => Self::add_into(
                        &run,
                        Payload::Fast(Box::new(FastTask::new(spec))),
                        deps,
                        limit,
                        &mut ready,
                    )?,
                    None => {
                        let deps = submit::producer_ids(py, &task)?;
                        Self::add_into(
                            &run,
                            Payload::Slow(task.clone().unbind()),
                            deps,
                            limit,
                            &mut ready,
                        )?
                    }
                };
                if registry.len() != id as usize {
                    return Err(PyRuntimeError::new_err(format!(
                        "task id {id} registered after {} tasks: ids are not dense",
                        registry.len()
                    )));
                }
                task.setattr(intern!(py, "id"), id)?;
                registry.append(&task)?;
                ids.push(id);
            }
            Ok(())
        })();
        self.schedule(ready);
        added.map(|()| ids)
    }

    /// The result of a finished fast task: (value, output uuid, process uuid, ctime, mtime)
    /// with uuids as 16 bytes; None while it has none.
    fn fast_done<'py>(&self, py: Python<'py>, id: u32) -> PyResult<Option<DoneTuple<'py>>> {
        match self.run().payload(TaskId(id)) {
            Ok(Payload::Fast(task)) => Ok(task.done().map(|d| done_tuple(py, d))),
            Ok(Payload::Slow(_) | Payload::Released) => Ok(None),
            Err(e) => Err(PyValueError::new_err(e.to_string())),
        }
    }

    /// The fast tasks' results, out of the run (which holds the Python task nodes of the
    /// general lane): task nodes may keep these alive without keeping the run alive. Called
    /// once the run ended: when nothing else shares the run any more, each result moves out and
    /// the rest of its fast task (function, arguments, labels) is dropped, so a finished run
    /// keeps its results once, not twice; otherwise they are copied.
    fn results(&self, py: Python<'_>) -> PyResults {
        let mut guard = lock(&self.inner);
        let n = guard.len();
        let mut done = Vec::with_capacity(n);
        if let Some(run) = Arc::get_mut(&mut guard) {
            // The released tasks are dropped once the lock is let go: dropping their Python
            // objects may run Python code, which may ask this run something.
            let mut released = Vec::new();
            for i in 0..n as u32 {
                let slot = run.payload_mut(TaskId(i));
                done.push(match slot {
                    Ok(payload @ Payload::Fast(_)) => {
                        match std::mem::replace(payload, Payload::Released) {
                            Payload::Fast(mut task) => {
                                let result = task.take_done();
                                released.push(task);
                                result
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                });
            }
            drop(guard);
            let count = released.len();
            drop(released);
            if count >= TRIM_AFTER {
                py.detach(give_back_freed_memory);
            }
            return PyResults { done };
        }
        for i in 0..n as u32 {
            done.push(match guard.payload(TaskId(i)) {
                Ok(Payload::Fast(task)) => task.done().map(|d| fast::Done {
                    value: d.value.clone_ref(py),
                    uuid: d.uuid,
                    out_uuid: d.out_uuid,
                    ctime: d.ctime,
                    mtime: d.mtime,
                }),
                _ => None,
            });
        }
        PyResults { done }
    }

    /// Number of tasks in the run.
    fn __len__(&self) -> usize {
        self.run().len()
    }

    /// The state name of a task: WAITING, READY, RUNNING, SUSPENDED, FINISHED, FAILED,
    /// SKIPPED or CANCELLED.
    fn state(&self, id: u32) -> PyResult<&'static str> {
        self.run()
            .state(TaskId(id))
            .map(|s| s.name())
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// State names of every task, indexed by id.
    /// (Interned strings: a million-task run makes one list, not a million new strs.)
    fn states<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyString>> {
        let run = self.run();
        (0..run.len() as u32)
            .map(|i| {
                let name = run.state(TaskId(i)).map(|s| s.name()).unwrap_or("UNKNOWN");
                PyString::intern(py, name)
            })
            .collect()
    }

    /// Settle the finished tasks of a run that ended: set `state` to FINISHED on each node of
    /// `registry` (the nodes by id, as `submit` made it) that the core finished and no panic failed, and with
    /// `reset_pks` set the `pk` of the general lane's nodes to None (a run without provenance:
    /// the null store's pks name nothing). Returns the ids of the other tasks, for Python to
    /// settle one by one. (A million-task run so costs no Python loop.)
    fn settle_finished<'py>(
        &self,
        py: Python<'py>,
        registry: &Bound<'py, PyList>,
        reset_pks: bool,
    ) -> PyResult<Vec<u32>> {
        let run = self.run();
        let panicked: std::collections::HashSet<u32> =
            lock(&self.panics).iter().map(|(id, _)| *id).collect();
        let finished = PyString::intern(py, State::Finished.name());
        let mut others = Vec::new();
        for (index, task) in registry.iter().enumerate() {
            let id = u32::try_from(index).map_err(|e| PyValueError::new_err(e.to_string()))?;
            let state = run.state(TaskId(id)).map_err(|e| PyValueError::new_err(e.to_string()))?;
            if state == State::Finished && !panicked.contains(&id) {
                task.setattr(intern!(py, "state"), &finished)?;
            } else {
                others.push(id);
            }
            if reset_pks && matches!(run.payload(TaskId(id)), Ok(Payload::Slow(_))) {
                task.setattr(intern!(py, "pk"), py.None())?;
            }
        }
        Ok(others)
    }

    /// Totals per terminal state plus `total` and `remaining`.
    fn counts(&self) -> std::collections::HashMap<&'static str, usize> {
        let run = self.run();
        let c = run.counts();
        [
            ("total", c.total),
            ("finished", c.finished),
            ("failed", c.failed),
            ("skipped", c.skipped),
            ("cancelled", c.cancelled),
            ("remaining", run.remaining()),
            ("running", run.running()),
        ]
        .into_iter()
        .collect()
    }

    /// Panics caught while executing tasks, as (task id, message).
    fn panics(&self) -> Vec<(u32, String)> {
        lock(&self.panics).clone()
    }

    /// Execute every task on `pool`, calling `runner(payload)` for each on a worker thread.
    /// The runner returns None/True (finished), False (failed) or a list of task ids added with
    /// `add_task` that the task must wait for (it is then called again once they are all done).
    ///
    /// Ctrl-C (or `timeout` seconds) cancels the run: no task starts afterwards, running ones
    /// finish, every other task becomes CANCELLED, and KeyboardInterrupt (TimeoutError) is raised.
    ///
    /// `fast` (a `FastContext`) drives the fast lane (tasks `submit` put there): `fail(id,
    /// exc, ctime)` records a failure and returns False, `odd(id, returned)` turns a returned
    /// dict or data node into the output value, and each finished fast task appends one
    /// provenance entry to `queue` when it is a list, calling `throttle()` when more than
    /// `queue_limit` entries wait.
    ///
    /// The runner may also return "pending" for a task it handed elsewhere (a Dask cluster):
    /// the task stays RUNNING until `resolve`/`resolve_many` report it. On cancellation
    /// `on_cancel()` is then called (attached, repeatedly while such tasks remain) to abandon
    /// them with `abandon`, instead of waiting for their results. It returns "cancelled" for a
    /// task it gave up on because the run was cancelled (one waiting for a retry): CANCELLED.
    #[pyo3(signature = (pool, runner, timeout = None, fast = None, on_cancel = None))]
    fn execute(
        &self,
        py: Python<'_>,
        pool: &Bound<'_, PyPool>,
        runner: Py<PyAny>,
        timeout: Option<f64>,
        fast: Option<Py<FastContext>>,
        on_cancel: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let pool = pool.get().inner.clone();
        let failures = Arc::new(Mutex::new(Failures::default()));
        let job: Arc<dyn Job> = Arc::new(RunJob {
            run: self.run(),
            executor: PyExecutor { runner, failures: failures.clone(), fast },
        });
        let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.max(0.0)));
        let ready = std::mem::take(&mut *lock(&self.pending));
        {
            let mut active = lock(&self.active);
            let epoch = pool.start(job, &ready).map_err(|_| {
                PyRuntimeError::new_err("this pool is already executing another run")
            })?;
            *active = Some(Active { pool: pool.clone(), epoch });
        }
        let mut interrupted: Option<PyErr> = None;
        loop {
            let p = pool.clone();
            if py.detach(move || p.wait(POLL)) {
                break;
            }
            if let Err(err) = py.check_signals() {
                interrupted = Some(err);
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                interrupted = Some(PyTimeoutError::new_err(format!(
                    "run cancelled after its timeout of {:.3} s",
                    timeout.unwrap_or(0.0)
                )));
            }
            if interrupted.is_some() || self.run().is_cancelled() {
                self.stop(py, on_cancel.as_ref());
                break;
            }
        }
        *lock(&self.active) = None;
        let p = pool.clone();
        let job = py.detach(move || p.finish());
        drop(job); // attached: the executor's Python objects are released here
        let mut failures = std::mem::take(&mut *lock(&failures));
        lock(&self.panics).append(&mut failures.panics);
        if let Some(err) = interrupted {
            return Err(err);
        }
        if let Some(err) = failures.runner_error {
            return Err(err);
        }
        Ok(())
    }

    /// Cancel the run from another thread (the executing call then returns).
    fn cancel(&self) {
        self.run().cancel();
    }

    /// True once the run was cancelled (Ctrl-C, timeout or `cancel`).
    #[getter]
    fn cancelled(&self) -> bool {
        self.run().is_cancelled()
    }

    /// The outcome of a task whose runner returned "pending": True finished, False failed.
    /// Call it from any thread once its result is known (and its outputs are set); tasks it
    /// makes ready are queued on the pool. Returns False if the task was no longer running
    /// (already resolved, or abandoned because the run was cancelled).
    fn resolve(&self, id: u32, ok: bool) -> bool {
        let outcome = if ok { Outcome::Finished } else { Outcome::Failed };
        self.complete_external([(id, outcome)]) == 1
    }

    /// `resolve` for many tasks at once, as (id, ok) pairs; returns how many were applied.
    fn resolve_many(&self, outcomes: Vec<(u32, bool)>) -> usize {
        self.complete_external(
            outcomes
                .into_iter()
                .map(|(id, ok)| (id, if ok { Outcome::Finished } else { Outcome::Failed })),
        )
    }

    /// Give up on tasks pending elsewhere (the run was cancelled): each becomes CANCELLED,
    /// and so do its data dependents. Returns how many were still running.
    fn abandon(&self, ids: Vec<u32>) -> usize {
        self.complete_external(ids.into_iter().map(|id| (id, Outcome::Cancelled)))
    }
}

type DoneTuple<'py> = (Py<PyAny>, Bound<'py, PyBytes>, Bound<'py, PyBytes>, f64, f64);

fn done_tuple<'py>(py: Python<'py>, d: &fast::Done) -> DoneTuple<'py> {
    (
        d.value.clone_ref(py),
        PyBytes::new(py, &d.out_uuid),
        PyBytes::new(py, &d.uuid),
        d.ctime,
        d.mtime,
    )
}

/// Results of a run's fast tasks, detached from the run (see `Run.results`).
#[pyclass(name = "Results", module = "ferroflow._core", frozen)]
struct PyResults {
    done: Vec<Option<fast::Done>>,
}

#[pymethods]
impl PyResults {
    /// Like `Run.fast_done`.
    fn fast_done<'py>(&self, py: Python<'py>, id: u32) -> Option<DoneTuple<'py>> {
        self.done.get(id as usize).and_then(|d| d.as_ref()).map(|d| done_tuple(py, d))
    }

    fn __len__(&self) -> usize {
        self.done.len()
    }
}

/// A new time-ordered uuid (version 7 layout) as the canonical 36-character text.
#[pyfunction]
fn new_uuid() -> String {
    let b = uuid7::uuid7();
    let mut out = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(byte & 0xF), 16).unwrap_or('0'));
    }
    out
}

/// Reseed the uuid generators in a forked child (registered with `os.register_at_fork`).
#[pyfunction]
fn after_fork() {
    uuid7::after_fork();
}

/// How fast tasks are called in this process: `"vectorcall"` (the interpreter exports it) or
/// `"dict"` (the 3.10 limited API's `PyObject_Call`); see `call.rs`.
#[pyfunction]
fn call_route() -> &'static str {
    call::route()
}

/// True when called on one of the pools' worker threads.
#[pyfunction]
fn in_worker() -> bool {
    IN_WORKER.with(|w| w.get())
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPool>()?;
    m.add_class::<FastContext>()?;
    m.add("PENDING", PENDING)?;
    m.add("CANCELLED", CANCELLED)?;
    m.add_class::<PyRun>()?;
    m.add_class::<PyResults>()?;
    m.add_class::<sql_writer::SqlWriter>()?;
    m.add_class::<pks::PkStream>()?;
    m.add_class::<sql_writer::PreparedBatch>()?;
    m.add_class::<sql_writer::SqliteConnection>()?;
    rows::register(m)?;
    m.add_function(wrap_pyfunction!(in_worker, m)?)?;
    m.add_function(wrap_pyfunction!(call_route, m)?)?;
    m.add_function(wrap_pyfunction!(fast::current_fast_task, m)?)?;
    m.add_function(wrap_pyfunction!(new_uuid, m)?)?;
    m.add_function(wrap_pyfunction!(after_fork, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("FATAL_MESSAGES", PyTuple::new(m.py(), sql_writer::FATAL_MESSAGES)?)?;
    Ok(())
}

//! Multi-threaded tests of the work-stealing `Pool` driving a `Run` (1-4 workers, plain hook).
//!
//! Order is checked with a logical clock (one atomic counter stamped at the start and the end
//! of every task body), never with wall time.
#![cfg(not(loom))]

use ferroflow_core::{
    plain_hook, run_blocking, Dep, Executor, Job, Outcome, Pool, PoolBusy, Run, RunJob, State,
    TaskId,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn pools() -> Vec<Pool> {
    (1..=4).map(|n| Pool::new(n, plain_hook()).expect("spawn workers")).collect()
}

/// Per-task bookkeeping shared by the executor and the checks.
struct Stamps {
    clock: AtomicU64,
    runs: Vec<AtomicU32>,
    start: Vec<AtomicU64>,
    end: Vec<AtomicU64>,
}

impl Stamps {
    fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Stamps {
            clock: AtomicU64::new(1),
            runs: (0..capacity).map(|_| AtomicU32::new(0)).collect(),
            start: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            end: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    fn enter(&self, id: TaskId) -> u32 {
        self.start[id.index()].store(self.clock.fetch_add(1, SeqCst), SeqCst);
        self.runs[id.index()].fetch_add(1, SeqCst) + 1
    }

    fn leave(&self, id: TaskId) {
        self.end[id.index()].store(self.clock.fetch_add(1, SeqCst), SeqCst);
    }

    fn runs(&self, i: usize) -> u32 {
        self.runs[i].load(SeqCst)
    }

    fn start(&self, i: usize) -> u64 {
        self.start[i].load(SeqCst)
    }

    fn end(&self, i: usize) -> u64 {
        self.end[i].load(SeqCst)
    }
}

fn spin(iterations: u32) {
    for _ in 0..iterations {
        std::hint::spin_loop();
    }
}

// ---------------------------------------------------------------------------------------------
// Random DAGs: exactly once and ordering under stealing.

#[derive(Clone, Debug)]
struct Dag {
    deps: Vec<Vec<usize>>,
    fails: Vec<bool>,
    /// Busy-work per task, so that workers overlap and steal.
    work: Vec<u32>,
}

fn dag(max: usize) -> impl Strategy<Value = Dag> {
    prop::collection::vec(
        (prop::collection::vec(any::<Index>(), 0..4), prop::bool::weighted(0.08), 0u32..2000),
        1..=max,
    )
    .prop_map(|nodes| {
        let mut dag = Dag { deps: Vec::new(), fails: Vec::new(), work: Vec::new() };
        for (j, (picks, fails, work)) in nodes.into_iter().enumerate() {
            let deps = if j == 0 { Vec::new() } else { picks.iter().map(|p| p.index(j)).collect() };
            dag.deps.push(deps);
            dag.fails.push(fails);
            dag.work.push(work);
        }
        dag
    })
}

struct DagExecutor {
    stamps: Arc<Stamps>,
    dag: Arc<Dag>,
}

impl Executor<u32> for DagExecutor {
    fn execute(&self, _run: &Run<u32>, id: TaskId, payload: &u32) -> Outcome {
        assert_eq!(*payload, id.0);
        self.stamps.enter(id);
        spin(self.dag.work[id.index()]);
        self.stamps.leave(id);
        if self.dag.fails[id.index()] {
            Outcome::Failed
        } else {
            Outcome::Finished
        }
    }
}

/// Sequential reference: the terminal state of every task.
fn reference_states(dag: &Dag) -> Vec<State> {
    let mut states = Vec::with_capacity(dag.deps.len());
    for (j, deps) in dag.deps.iter().enumerate() {
        let st = if deps.iter().any(|&d| states[d] != State::Finished) {
            State::Skipped
        } else if dag.fails[j] {
            State::Failed
        } else {
            State::Finished
        };
        states.push(st);
    }
    states
}

fn check_dag_on(pool: &Pool, dag: Dag) {
    let dag = Arc::new(dag);
    let n = dag.deps.len();
    let run = Arc::new(Run::new());
    let mut ready = Vec::new();
    for (j, deps) in dag.deps.iter().enumerate() {
        let deps: Vec<Dep> = deps.iter().map(|&d| Dep::data(TaskId(d as u32))).collect();
        run.add_task(j as u32, &deps, &mut ready).unwrap();
    }
    let stamps = Stamps::new(n);
    let executor = DagExecutor { stamps: stamps.clone(), dag: dag.clone() };
    run_blocking(pool, run.clone(), executor, &ready);

    assert!(run.is_complete());
    assert_eq!(run.running(), 0);
    let want = reference_states(&dag);
    for (j, &want) in want.iter().enumerate() {
        let st = run.state(TaskId(j as u32)).unwrap();
        assert_eq!(st, want, "task {j}");
        let expected_runs = u32::from(st != State::Skipped);
        assert_eq!(stamps.runs(j), expected_runs, "task {j} ran {} times", stamps.runs(j));
        if expected_runs == 1 {
            assert!(stamps.start(j) < stamps.end(j));
            for &d in &dag.deps[j] {
                assert!(
                    stamps.start(j) > stamps.end(d),
                    "task {j} started at {} before input {d} ended at {}",
                    stamps.start(j),
                    stamps.end(d)
                );
            }
        }
    }
    let c = run.counts();
    assert_eq!(c.finished + c.failed + c.skipped + c.cancelled, c.total);
    assert_eq!(c.total, n);
    assert_eq!(Arc::strong_count(&run), 1, "no worker still holds the run");
}

#[test]
fn random_dags_run_exactly_once_in_order() {
    let pools = pools();
    // 64 cases unless `PROPTEST_CASES` says otherwise.
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let mut runner = TestRunner::new(Config { cases, ..Config::default() });
    runner
        .run(&(dag(60), 0..pools.len()), |(dag, p)| {
            check_dag_on(&pools[p], dag);
            Ok(())
        })
        .unwrap();
}

/// Large random DAGs with cheap tasks: lots of stealing between workers.
#[test]
fn large_random_dags_under_stealing() {
    let pools = pools();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for pool in &pools {
        for _ in 0..3 {
            let n = 20_000;
            let mut dag = Dag { deps: Vec::new(), fails: Vec::new(), work: Vec::new() };
            for j in 0..n {
                let k = if j == 0 { 0 } else { next() % 4 };
                // Mostly near predecessors (deep, narrow regions) and some far ones (wide).
                let deps = (0..k)
                    .map(|_| {
                        let back = if next() % 4 == 0 {
                            next() as usize % j
                        } else {
                            next() as usize % j.min(64)
                        };
                        j - 1 - back
                    })
                    .collect();
                dag.deps.push(deps);
                dag.fails.push(next() % 2000 == 0);
                dag.work.push((next() % 64) as u32);
            }
            check_dag_on(pool, dag);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dynamic expansion from inside `execute`.

/// Task 0 adds `fanout` children on its first execution (every tenth one waits for the one
/// before it) and suspends on them; it finishes on its second execution. Task 1 needs task 0.
struct Expander {
    stamps: Arc<Stamps>,
    fanout: usize,
    children: Arc<Mutex<Vec<TaskId>>>,
}

impl Executor<u32> for Expander {
    fn execute(&self, _run: &Run<u32>, _id: TaskId, _payload: &u32) -> Outcome {
        unreachable!("the pool calls execute_into")
    }

    fn execute_into(
        &self,
        run: &Run<u32>,
        id: TaskId,
        payload: &u32,
        ready: &mut Vec<TaskId>,
    ) -> Outcome {
        let nth = self.stamps.enter(id);
        let outcome = if *payload == 0 && nth == 1 {
            let mut children = Vec::with_capacity(self.fanout);
            for k in 0..self.fanout {
                let deps = if k % 10 == 9 { vec![Dep::data(children[k - 1])] } else { Vec::new() };
                children.push(run.add_task(2, &deps, ready).unwrap());
            }
            *self.children.lock().unwrap() = children.clone();
            Outcome::Suspend(children)
        } else {
            spin(50);
            Outcome::Finished
        };
        self.stamps.leave(id);
        outcome
    }
}

#[test]
fn expansion_from_inside_execute() {
    let fanout = 5000;
    for pool in pools() {
        let run = Arc::new(Run::new());
        let mut ready = Vec::new();
        let root = run.add_task(0u32, &[], &mut ready).unwrap();
        let after = run.add_task(1, &[Dep::data(root)], &mut ready).unwrap();
        let stamps = Stamps::new(fanout + 2);
        let children = Arc::new(Mutex::new(Vec::new()));
        let executor = Expander { stamps: stamps.clone(), fanout, children: children.clone() };
        run_blocking(&pool, run.clone(), executor, &ready);

        assert!(run.is_complete(), "{} workers", pool.size());
        let c = run.counts();
        assert_eq!((c.total, c.finished), (fanout + 2, fanout + 2));
        assert_eq!(stamps.runs(root.index()), 2, "a suspended task runs exactly twice");
        let children = children.lock().unwrap().clone();
        assert_eq!(children.len(), fanout);
        let resumed_at = stamps.start(root.index());
        for child in &children {
            assert_eq!(stamps.runs(child.index()), 1);
            assert!(stamps.end(child.index()) < resumed_at, "resumed before child {child:?} ended");
        }
        for k in (9..fanout).step_by(10) {
            assert!(stamps.start(children[k].index()) > stamps.end(children[k - 1].index()));
        }
        assert!(stamps.start(after.index()) > stamps.end(root.index()));
        assert_eq!(run.state(after).unwrap(), State::Finished);
    }
}

// ---------------------------------------------------------------------------------------------
// Panics, reuse, finish, cancellation.

struct Panicky {
    panics_on: u32,
    seen: Arc<Mutex<Vec<(u32, String)>>>,
}

impl Executor<u32> for Panicky {
    fn execute(&self, _run: &Run<u32>, id: TaskId, _payload: &u32) -> Outcome {
        if id.0 == self.panics_on {
            panic!("boom in task {}", id.0);
        }
        Outcome::Finished
    }

    fn on_panic(&self, id: TaskId, message: String) {
        self.seen.lock().unwrap().push((id.0, message));
    }
}

#[test]
fn panic_in_execute_fails_the_task() {
    for pool in pools() {
        // 0 -> 1 -> 2, 3 independent; task 1 panics.
        let run = Arc::new(Run::new());
        let mut ready = Vec::new();
        let a = run.add_task(0u32, &[], &mut ready).unwrap();
        let b = run.add_task(1, &[Dep::data(a)], &mut ready).unwrap();
        let c = run.add_task(2, &[Dep::data(b)], &mut ready).unwrap();
        let d = run.add_task(3, &[], &mut ready).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        run_blocking(&pool, run.clone(), Panicky { panics_on: 1, seen: seen.clone() }, &ready);
        assert_eq!(run.state(a).unwrap(), State::Finished);
        assert_eq!(run.state(b).unwrap(), State::Failed);
        assert_eq!(run.state(c).unwrap(), State::Skipped);
        assert_eq!(run.state(d).unwrap(), State::Finished);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen, vec![(1, "boom in task 1".to_string())]);

        // The worker survived: the pool still runs work afterwards.
        let run = Arc::new(Run::new());
        let mut ready = Vec::new();
        for i in 0..100u32 {
            run.add_task(i, &[], &mut ready).unwrap();
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        run_blocking(&pool, run.clone(), Panicky { panics_on: u32::MAX, seen }, &ready);
        assert_eq!(run.counts().finished, 100);
    }
}

struct Noop;

impl Executor<u32> for Noop {
    fn execute(&self, _run: &Run<u32>, _id: TaskId, _payload: &u32) -> Outcome {
        Outcome::Finished
    }
}

#[test]
fn pool_is_reused_for_many_small_runs() {
    let pool = Pool::new(2, plain_hook()).unwrap();
    let started = Instant::now();
    for round in 0..1000u32 {
        // A diamond plus a few independent tasks.
        let run = Arc::new(Run::new());
        let mut ready = Vec::new();
        let a = run.add_task(round, &[], &mut ready).unwrap();
        let b = run.add_task(round, &[Dep::data(a)], &mut ready).unwrap();
        let c = run.add_task(round, &[Dep::data(a)], &mut ready).unwrap();
        run.add_task(round, &[Dep::data(b), Dep::data(c)], &mut ready).unwrap();
        for _ in 0..(round % 7) {
            run.add_task(round, &[], &mut ready).unwrap();
        }
        run_blocking(&pool, run.clone(), Noop, &ready);
        assert!(run.is_complete(), "round {round}");
        assert_eq!(run.counts().finished, run.len());
        assert_eq!(Arc::strong_count(&run), 1, "round {round}: a worker kept the run");
    }
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn finish_returns_the_job_with_no_holder_left() {
    for pool in pools() {
        let run = Arc::new(Run::new());
        let mut ready = Vec::new();
        for i in 0..1000u32 {
            run.add_task(i, &[], &mut ready).unwrap();
        }
        let job: Arc<dyn Job> = Arc::new(RunJob { run: run.clone(), executor: Noop });
        pool.start(job, &ready).unwrap();
        let other: Arc<dyn Job> =
            Arc::new(RunJob { run: Arc::new(Run::<u32>::new()), executor: Noop });
        assert_eq!(pool.start(other, &[]), Err(PoolBusy), "one run at a time");
        while !pool.wait(Duration::from_millis(50)) {}
        let job = pool.finish().expect("the installed job comes back");
        assert_eq!(Arc::strong_count(&job), 1, "a worker still holds the job");
        assert!(job.is_complete());
        drop(job);
        assert_eq!(Arc::strong_count(&run), 1);
        assert!(pool.finish().is_none(), "nothing installed any more");
    }
}

#[test]
fn finish_takes_the_job_back_from_parked_workers() {
    for pool in pools() {
        let run = Arc::new(Run::new());
        let mut ready = Vec::new();
        for i in 0..200u32 {
            run.add_task(i, &[], &mut ready).unwrap();
        }
        let job: Arc<dyn Job> =
            Arc::new(RunJob { run: run.clone(), executor: Spinner { iterations: 2_000 } });
        pool.start(job, &ready).unwrap();
        while !pool.wait(Duration::from_millis(50)) {}
        // Long enough for every worker to stop spinning and park: none is woken by finish.
        std::thread::sleep(Duration::from_millis(100));
        let job = pool.finish().expect("the installed job comes back");
        assert_eq!(Arc::strong_count(&job), 1, "a parked worker still holds the job");
        drop(job);
        assert_eq!(Arc::strong_count(&run), 1);
    }
}

/// Spins for `iterations` per task: long enough that several workers take part.
struct Spinner {
    iterations: u32,
}

impl Executor<u32> for Spinner {
    fn execute(&self, _run: &Run<u32>, _id: TaskId, _payload: &u32) -> Outcome {
        spin(self.iterations);
        Outcome::Finished
    }
}

#[test]
fn finish_waits_for_a_task_still_running_after_a_cancel() {
    for pool in pools() {
        let run = Arc::new(Run::new());
        let mut ready = Vec::new();
        run.add_task(0u32, &[], &mut ready).unwrap();
        let open = Arc::new(AtomicBool::new(false));
        let entered = Arc::new(AtomicBool::new(false));
        let ran = Arc::new(AtomicU32::new(0));
        let executor = Gate { open: open.clone(), entered: entered.clone(), ran };
        let job: Arc<dyn Job> = Arc::new(RunJob { run: run.clone(), executor });
        pool.start(job, &ready).unwrap();
        while !entered.load(SeqCst) {
            std::thread::yield_now();
        }
        run.cancel();
        let opener = {
            let open = open.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                open.store(true, SeqCst);
            })
        };
        let job = pool.finish().expect("the installed job comes back");
        assert!(open.load(SeqCst), "finish returned while the task was still running");
        assert_eq!(run.running(), 0);
        assert_eq!(Arc::strong_count(&job), 1, "the worker that ran the task still holds it");
        opener.join().unwrap();
    }
}

/// Task 0 blocks until released; every other task is ready from the start and counts itself.
struct Gate {
    open: Arc<AtomicBool>,
    entered: Arc<AtomicBool>,
    ran: Arc<AtomicU32>,
}

impl Executor<u32> for Gate {
    fn execute(&self, _run: &Run<u32>, id: TaskId, _payload: &u32) -> Outcome {
        if id.0 == 0 {
            self.entered.store(true, SeqCst);
            while !self.open.load(SeqCst) {
                std::thread::yield_now();
            }
        } else {
            self.ran.fetch_add(1, SeqCst);
            spin(200);
        }
        Outcome::Finished
    }
}

#[test]
fn cancel_mid_run_then_reuse_the_pool() {
    for pool in pools() {
        let run = Arc::new(Run::new());
        let mut ready = Vec::new();
        let gate = run.add_task(0u32, &[], &mut ready).unwrap();
        for i in 1..20_000u32 {
            let deps = if i % 2 == 0 { vec![Dep::data(gate)] } else { Vec::new() };
            run.add_task(i, &deps, &mut ready).unwrap();
        }
        let open = Arc::new(AtomicBool::new(false));
        let entered = Arc::new(AtomicBool::new(false));
        let ran = Arc::new(AtomicU32::new(0));
        let executor = Gate { open: open.clone(), entered: entered.clone(), ran: ran.clone() };
        let job: Arc<dyn Job> = Arc::new(RunJob { run: run.clone(), executor });
        pool.start(job, &ready).unwrap();
        while !entered.load(SeqCst) {
            std::thread::yield_now();
        }
        // The binding's stop(): cancel, let running tasks finish, cancel the rest.
        run.cancel();
        open.store(true, SeqCst);
        while run.running() > 0 {
            std::thread::yield_now();
        }
        let ran_at_cancel = ran.load(SeqCst);
        run.cancel_pending();
        assert!(run.is_complete());
        assert!(pool.wait(Duration::from_millis(1)));
        let job = pool.finish().unwrap();
        assert_eq!(Arc::strong_count(&job), 1);
        assert_eq!(ran.load(SeqCst), ran_at_cancel, "a task started after the cancel");
        let c = run.counts();
        assert_eq!(c.finished + c.failed + c.skipped + c.cancelled, c.total);
        assert!(c.cancelled >= 10_000 - 1, "gated tasks are cancelled: {c:?}");
        assert_eq!(run.state(gate).unwrap(), State::Finished);

        // Entries of the cancelled run may still sit in the queues: the next run ignores them.
        let stamps = Stamps::new(64);
        let dag = Arc::new(Dag {
            deps: (0..64).map(|j| if j == 0 { vec![] } else { vec![j - 1] }).collect(),
            fails: vec![false; 64],
            work: vec![10; 64],
        });
        let run2 = Arc::new(Run::new());
        let mut ready = Vec::new();
        for j in 0..64u32 {
            let deps = if j == 0 { vec![] } else { vec![Dep::data(TaskId(j - 1))] };
            run2.add_task(j, &deps, &mut ready).unwrap();
        }
        run_blocking(&pool, run2.clone(), DagExecutor { stamps: stamps.clone(), dag }, &ready);
        assert_eq!(run2.counts().finished, 64);
        assert!((0..64).all(|j| stamps.runs(j) == 1));
    }
}

/// Tasks added from outside the workers while the run executes reach the pool via `inject`.
#[test]
fn inject_from_outside_while_running() {
    let pool = Pool::new(2, plain_hook()).unwrap();
    let run = Arc::new(Run::new());
    let mut ready = Vec::new();
    let gate = run.add_task(0u32, &[], &mut ready).unwrap();
    let open = Arc::new(AtomicBool::new(false));
    let entered = Arc::new(AtomicBool::new(false));
    let ran = Arc::new(AtomicU32::new(0));
    let executor = Gate { open: open.clone(), entered: entered.clone(), ran: ran.clone() };
    let job: Arc<dyn Job> = Arc::new(RunJob { run: run.clone(), executor });
    let epoch = pool.start(job, &ready).unwrap();
    while !entered.load(SeqCst) {
        std::thread::yield_now();
    }
    let mut late = Vec::new();
    let mut ids = HashSet::new();
    for i in 1..1000u32 {
        let deps = if i % 3 == 0 { vec![Dep::data(gate)] } else { Vec::new() };
        ids.insert(run.add_task(i, &deps, &mut late).unwrap());
    }
    pool.inject(epoch, &late);
    open.store(true, SeqCst);
    while !pool.wait(Duration::from_millis(50)) {}
    pool.finish();
    assert_eq!(run.counts().finished, 1000);
    assert_eq!(ran.load(SeqCst), 999);
    assert_eq!(ids.len(), 999);
}

/// Counts overlapping bodies per limit group and spins a little so that overlaps can happen.
struct Overlap {
    now: Vec<AtomicU32>,
    peak: Vec<AtomicU32>,
    ran: AtomicU32,
}

struct OverlapExec(Arc<Overlap>);

impl Executor<usize> for OverlapExec {
    fn execute(&self, _run: &Run<usize>, _id: TaskId, group: &usize) -> Outcome {
        let this = &self.0;
        let now = this.now[*group].fetch_add(1, SeqCst) + 1;
        this.peak[*group].fetch_max(now, SeqCst);
        let until = Instant::now() + Duration::from_micros(200);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        this.now[*group].fetch_sub(1, SeqCst);
        this.ran.fetch_add(1, SeqCst);
        Outcome::Finished
    }
}

#[test]
fn limits_cap_overlapping_tasks_per_group_under_stealing() {
    for pool in pools() {
        let run = Arc::new(Run::new());
        let caps = [1u32, 2];
        let limits: Vec<_> = caps.iter().map(|c| run.add_limit(*c)).collect();
        let mut ready = Vec::new();
        let mut total = 0;
        // two capped groups plus an unlimited one (group 2), with some chains between them
        let mut last = None;
        for i in 0..120usize {
            let group = i % 3;
            let deps: Vec<Dep> = match (i % 7 == 0, last) {
                (true, Some(prev)) => vec![Dep::data(prev)],
                _ => Vec::new(),
            };
            let limit = limits.get(group).copied();
            let id = run.add_task_limited(group, &deps, limit, &mut ready).unwrap();
            last = Some(id);
            total += 1;
        }
        let overlap = Arc::new(Overlap {
            now: (0..3).map(|_| AtomicU32::new(0)).collect(),
            peak: (0..3).map(|_| AtomicU32::new(0)).collect(),
            ran: AtomicU32::new(0),
        });
        run_blocking(&pool, run.clone(), OverlapExec(overlap.clone()), &ready);
        assert!(run.is_complete());
        assert_eq!(overlap.ran.load(SeqCst), total);
        for (group, cap) in caps.iter().enumerate() {
            let peak = overlap.peak[group].load(SeqCst);
            assert!(peak >= 1 && peak <= *cap, "group {group}: peak {peak} > cap {cap}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// External completion: tasks handed to "a cluster" (another thread) that completes them later.

/// Hands every task whose id is odd to the `remote` channel and reports `Outcome::Pending`;
/// runs the others itself.
struct Offloader {
    stamps: Arc<Stamps>,
    dag: Arc<Dag>,
    remote: Mutex<std::sync::mpsc::Sender<TaskId>>,
}

impl Executor<u32> for Offloader {
    fn execute(&self, _run: &Run<u32>, id: TaskId, _payload: &u32) -> Outcome {
        self.stamps.enter(id);
        if id.0 % 2 == 1 {
            self.remote.lock().unwrap().send(id).unwrap();
            return Outcome::Pending;
        }
        spin(self.dag.work[id.index()]);
        self.stamps.leave(id);
        if self.dag.fails[id.index()] {
            Outcome::Failed
        } else {
            Outcome::Finished
        }
    }
}

/// The "cluster": completes offloaded tasks in batches, out of order, queueing what they make
/// ready on the pool as `Run.resolve` does in the binding.
fn remote_completer(
    pool: Arc<Pool>,
    run: Arc<Run<u32>>,
    stamps: Arc<Stamps>,
    dag: Arc<Dag>,
    epoch: u32,
    incoming: std::sync::mpsc::Receiver<TaskId>,
) {
    let mut batch: Vec<TaskId> = Vec::new();
    while let Ok(first) = incoming.recv() {
        batch.push(first);
        batch.extend(incoming.try_iter());
        batch.reverse();
        let mut ready = Vec::new();
        for id in batch.drain(..) {
            spin(dag.work[id.index()]);
            stamps.leave(id);
            let outcome = if dag.fails[id.index()] { Outcome::Failed } else { Outcome::Finished };
            run.complete(id, outcome, &mut ready).unwrap();
        }
        pool.inject(epoch, &ready);
        if run.is_complete() {
            pool.notify_waiters();
        }
    }
}

#[test]
fn pending_tasks_completed_from_another_thread() {
    let mut runner = TestRunner::new(Config { cases: 32, ..Config::default() });
    let pools: Vec<Arc<Pool>> = pools().into_iter().map(Arc::new).collect();
    runner
        .run(&(dag(60), 0..pools.len()), |(dag, p)| {
            let pool = pools[p].clone();
            let dag = Arc::new(dag);
            let n = dag.deps.len();
            let run = Arc::new(Run::new());
            let mut ready = Vec::new();
            for (j, deps) in dag.deps.iter().enumerate() {
                let deps: Vec<Dep> = deps.iter().map(|&d| Dep::data(TaskId(d as u32))).collect();
                run.add_task(j as u32, &deps, &mut ready).unwrap();
            }
            let stamps = Stamps::new(n);
            let (send, recv) = std::sync::mpsc::channel();
            let executor =
                Offloader { stamps: stamps.clone(), dag: dag.clone(), remote: Mutex::new(send) };
            let job: Arc<dyn Job> = Arc::new(RunJob { run: run.clone(), executor });
            let epoch = pool.start(job, &ready).expect("idle pool");
            let completer = {
                let (pool, run, stamps, dag) =
                    (pool.clone(), run.clone(), stamps.clone(), dag.clone());
                std::thread::spawn(move || remote_completer(pool, run, stamps, dag, epoch, recv))
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while !pool.wait(Duration::from_secs(1)) {
                assert!(Instant::now() < deadline, "the run never completed");
            }
            drop(pool.finish()); // drops the executor, so its sender: the completer ends
            completer.join().unwrap();

            assert_eq!(run.running(), 0);
            let want = reference_states(&dag);
            for (j, &want) in want.iter().enumerate() {
                prop_assert_eq!(run.state(TaskId(j as u32)).unwrap(), want, "task {}", j);
                prop_assert_eq!(stamps.runs(j), u32::from(want != State::Skipped));
                if want != State::Skipped {
                    for &d in &dag.deps[j] {
                        prop_assert!(stamps.start(j) > stamps.end(d), "{} before input {}", j, d);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}

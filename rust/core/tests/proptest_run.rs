//! Property tests of the `Run` readiness state machine against a plain sequential reference.
//!
//! A case is a random DAG (n <= 60, edges i < j), a random set of failing tasks and random
//! dynamic expansions: a task may, on its first execution, add children (which may depend on
//! earlier siblings or on static tasks below the expanding task, by data or await edges, and
//! may expand again, up to three levels) and suspend until they are all terminal; it is then
//! executed a second time. The engine is driven single-threaded through `start`/`complete` in
//! a random ready order; the reference evaluates the same specification recursively in index
//! order, expanding inline.
//!
//! With `offload`, the driver also plays an executor that hands some tasks to "a cluster": the
//! execution reports `Outcome::Pending`, and the final outcome is reported later, interleaved
//! at random with other tasks (external completion).
#![cfg(not(loom))]

use ferroflow_core::{Dep, DepKind, Outcome, Run, State, TaskId};
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::BTreeMap;

/// One dependency of a child: `(pick, on_sibling, is_await)`. `pick` selects an earlier sibling
/// (when `on_sibling` and there is one) or a static task below the expanding static ancestor.
type DepPick = (Index, bool, bool);

#[derive(Clone, Debug)]
struct ChildSpec {
    deps: Vec<DepPick>,
    fails: bool,
    expand: Option<Vec<ChildSpec>>,
}

#[derive(Clone, Debug)]
struct NodeSpec {
    deps: Vec<Index>,
    fails: bool,
    expand: Option<Vec<ChildSpec>>,
}

#[derive(Clone, Debug)]
struct Case {
    nodes: Vec<NodeSpec>,
    /// Seed of the order in which ready tasks are picked.
    seed: u64,
}

fn dep_pick() -> impl Strategy<Value = DepPick> {
    (any::<Index>(), any::<bool>(), prop::bool::weighted(0.25))
}

fn child_spec() -> impl Strategy<Value = ChildSpec> {
    let leaf = (prop::collection::vec(dep_pick(), 0..3), prop::bool::weighted(0.15))
        .prop_map(|(deps, fails)| ChildSpec { deps, fails, expand: None });
    // Depth 2 below a static task: expansions nest up to three levels.
    leaf.prop_recursive(2, 32, 4, |inner| {
        (
            prop::collection::vec(dep_pick(), 0..3),
            prop::bool::weighted(0.15),
            prop::option::weighted(0.3, prop::collection::vec(inner, 0..4)),
        )
            .prop_map(|(deps, fails, expand)| ChildSpec { deps, fails, expand })
    })
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    (
        prop::collection::vec(any::<Index>(), 0..4),
        prop::bool::weighted(0.1),
        prop::option::weighted(0.15, prop::collection::vec(child_spec(), 0..5)),
    )
        .prop_map(|(deps, fails, expand)| NodeSpec { deps, fails, expand })
}

fn case() -> impl Strategy<Value = Case> {
    (prop::collection::vec(node_spec(), 1..=60), any::<u64>())
        .prop_map(|(nodes, seed)| Case { nodes, seed })
}

/// A task's identity independent of allocation order: `[static index, child, grandchild, ..]`.
type Path = Vec<usize>;

/// Resolved dependencies of a static node: indices of earlier static nodes (data edges).
fn static_deps(nodes: &[NodeSpec], j: usize) -> Vec<usize> {
    if j == 0 {
        return Vec::new();
    }
    nodes[j].deps.iter().map(|pick| pick.index(j)).collect()
}

/// Where a child dependency points: an earlier sibling (by position) or a static node.
#[derive(Clone, Copy, Debug)]
enum Target {
    Sibling(usize),
    Static(usize),
}

fn child_deps(spec: &ChildSpec, root: usize, position: usize) -> Vec<(Target, DepKind)> {
    let mut out = Vec::new();
    for &(pick, on_sibling, is_await) in &spec.deps {
        let kind = if is_await { DepKind::Await } else { DepKind::Data };
        if on_sibling && position > 0 {
            out.push((Target::Sibling(pick.index(position)), kind));
        } else if root > 0 {
            out.push((Target::Static(pick.index(root)), kind));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reference: a plain recursive evaluation in index order, expanding inline.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Expected {
    state: State,
    executions: u32,
}

fn outcome_state(fails: bool) -> State {
    if fails {
        State::Failed
    } else {
        State::Finished
    }
}

fn reference(nodes: &[NodeSpec]) -> BTreeMap<Path, Expected> {
    let mut out = BTreeMap::new();
    let mut statics: Vec<State> = Vec::new();
    for (j, node) in nodes.iter().enumerate() {
        let ok = static_deps(nodes, j).iter().all(|&d| statics[d] == State::Finished);
        let expected = if !ok {
            Expected { state: State::Skipped, executions: 0 }
        } else if let Some(children) = &node.expand {
            reference_children(children, j, &[j], &statics, &mut out);
            Expected { state: outcome_state(node.fails), executions: 2 }
        } else {
            Expected { state: outcome_state(node.fails), executions: 1 }
        };
        statics.push(expected.state);
        out.insert(vec![j], expected);
    }
    out
}

fn reference_children(
    children: &[ChildSpec],
    root: usize,
    parent: &[usize],
    statics: &[State],
    out: &mut BTreeMap<Path, Expected>,
) {
    let mut siblings: Vec<State> = Vec::new();
    for (k, child) in children.iter().enumerate() {
        let mut path = parent.to_vec();
        path.push(k);
        let ok = child_deps(child, root, k).iter().all(|&(target, kind)| {
            let st = match target {
                Target::Sibling(s) => siblings[s],
                Target::Static(s) => statics[s],
            };
            kind == DepKind::Await || st == State::Finished
        });
        let expected = if !ok {
            Expected { state: State::Skipped, executions: 0 }
        } else if let Some(grand) = &child.expand {
            reference_children(grand, root, &path, statics, out);
            Expected { state: outcome_state(child.fails), executions: 2 }
        } else {
            Expected { state: outcome_state(child.fails), executions: 1 }
        };
        siblings.push(expected.state);
        out.insert(path, expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Engine driver.

struct Meta<'a> {
    path: Path,
    root: usize,
    deps: Vec<Dep>,
    fails: bool,
    expand: Option<&'a [ChildSpec]>,
    /// Children added by the first execution (checked terminal at the resume).
    children: Vec<TaskId>,
    executions: u32,
}

struct Driver<'a> {
    run: Run<()>,
    meta: Vec<Meta<'a>>,
    ready: Vec<TaskId>,
    rng: u64,
    /// Hand about half of the leaf executions to "the cluster" (`Outcome::Pending`).
    offload: bool,
    /// Offloaded tasks and the outcome the cluster will report for them.
    pending: Vec<(TaskId, Outcome)>,
}

impl<'a> Driver<'a> {
    fn new(case: &'a Case) -> Self {
        let mut driver = Driver {
            run: Run::new(),
            meta: Vec::new(),
            ready: Vec::new(),
            rng: case.seed | 1,
            offload: false,
            pending: Vec::new(),
        };
        for (j, node) in case.nodes.iter().enumerate() {
            let deps: Vec<Dep> = static_deps(&case.nodes, j)
                .into_iter()
                .map(|d| Dep::data(TaskId(d as u32)))
                .collect();
            let meta = Meta {
                path: vec![j],
                root: j,
                deps,
                fails: node.fails,
                expand: node.expand.as_deref(),
                children: Vec::new(),
                executions: 0,
            };
            driver.add(meta);
        }
        driver
    }

    fn add(&mut self, meta: Meta<'a>) -> TaskId {
        let id = self.run.add_task((), &meta.deps, &mut self.ready).expect("valid task");
        assert_eq!(id.index(), self.meta.len(), "single-threaded ids are dense");
        self.meta.push(meta);
        id
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Pop a random ready task, or None.
    fn pick(&mut self) -> Option<TaskId> {
        if self.ready.is_empty() {
            return None;
        }
        let i = (self.next_random() % self.ready.len() as u64) as usize;
        Some(self.ready.swap_remove(i))
    }

    fn check_inputs(&self, id: TaskId) {
        let meta = &self.meta[id.index()];
        for dep in &meta.deps {
            let st = self.run.state(dep.on).unwrap();
            match dep.kind {
                DepKind::Data => {
                    assert_eq!(st, State::Finished, "{id:?} started before data input {dep:?}")
                }
                DepKind::Await => assert!(st.is_terminal(), "{id:?} started before {dep:?}"),
            }
        }
        for child in &meta.children {
            assert!(self.run.state(*child).unwrap().is_terminal(), "{id:?} resumed too early");
        }
    }

    /// Claim a ready task as a worker would.
    fn claim(&mut self, id: TaskId) {
        assert_eq!(self.run.state(id).unwrap(), State::Ready);
        assert!(self.run.start(id), "a ready task is claimed exactly once");
        assert_eq!(self.run.state(id).unwrap(), State::Running);
        self.check_inputs(id);
    }

    /// The body of a claimed task: its outcome (children are added to the run here, as an
    /// executor would from inside the task).
    fn body(&mut self, id: TaskId) -> Outcome {
        let index = id.index();
        self.meta[index].executions += 1;
        let first = self.meta[index].executions == 1;
        match self.meta[index].expand {
            Some(children) if first => {
                let root = self.meta[index].root;
                let parent_path = self.meta[index].path.clone();
                let mut ids: Vec<TaskId> = Vec::new();
                for (k, spec) in children.iter().enumerate() {
                    let deps = child_deps(spec, root, k)
                        .into_iter()
                        .map(|(target, kind)| {
                            let on = match target {
                                Target::Sibling(s) => ids[s],
                                Target::Static(s) => TaskId(s as u32),
                            };
                            Dep { on, kind }
                        })
                        .collect();
                    let mut path = parent_path.clone();
                    path.push(k);
                    let child = self.add(Meta {
                        path,
                        root,
                        deps,
                        fails: spec.fails,
                        expand: spec.expand.as_deref(),
                        children: Vec::new(),
                        executions: 0,
                    });
                    ids.push(child);
                }
                self.meta[index].children = ids.clone();
                Outcome::Suspend(ids)
            }
            _ => {
                if self.meta[index].fails {
                    Outcome::Failed
                } else {
                    Outcome::Finished
                }
            }
        }
    }

    fn complete(&mut self, id: TaskId, outcome: Outcome) {
        self.run.complete(id, outcome, &mut self.ready).unwrap();
    }

    fn step(&mut self) -> bool {
        let resolve_now =
            !self.pending.is_empty() && (self.ready.is_empty() || self.next_random() % 3 == 0);
        if resolve_now {
            let i = (self.next_random() % self.pending.len() as u64) as usize;
            let (id, outcome) = self.pending.swap_remove(i);
            assert_eq!(self.run.state(id).unwrap(), State::Running, "pending means running");
            self.complete(id, outcome);
            return true;
        }
        match self.pick() {
            Some(id) => {
                self.claim(id);
                let outcome = self.body(id);
                let leaf = matches!(outcome, Outcome::Finished | Outcome::Failed);
                if self.offload && leaf && self.next_random() % 2 == 0 {
                    let running = self.run.running();
                    self.complete(id, Outcome::Pending);
                    assert_eq!(self.run.running(), running, "still counted as running");
                    self.pending.push((id, outcome));
                    return true;
                }
                self.complete(id, outcome);
                true
            }
            None => false,
        }
    }

    fn assert_counts_add_up(&self) {
        let c = self.run.counts();
        assert_eq!(c.total, self.meta.len());
        assert_eq!(c.finished + c.failed + c.skipped + c.cancelled, c.total, "{c:?}");
        assert_eq!(self.run.remaining(), 0);
        assert_eq!(self.run.running(), 0);
        assert!(self.run.is_complete());
        let mut by_state = [0usize; 8];
        for i in 0..self.meta.len() {
            let st = self.run.state(TaskId(i as u32)).unwrap();
            assert!(st.is_terminal(), "task {i} ends {st:?}");
            by_state[st as usize] += 1;
        }
        assert_eq!(
            (c.finished, c.failed, c.skipped, c.cancelled),
            (
                by_state[State::Finished as usize],
                by_state[State::Failed as usize],
                by_state[State::Skipped as usize],
                by_state[State::Cancelled as usize]
            ),
            "counters agree with the states"
        );
    }
}

fn run_to_completion(case: &Case, offload: bool) -> Result<(), TestCaseError> {
    let expected = reference(&case.nodes);
    let mut driver = Driver::new(case);
    driver.offload = offload;
    while driver.step() {}
    prop_assert!(driver.pending.is_empty());
    driver.assert_counts_add_up();

    let mut got = BTreeMap::new();
    for (i, meta) in driver.meta.iter().enumerate() {
        let state = driver.run.state(TaskId(i as u32)).unwrap();
        let previous =
            got.insert(meta.path.clone(), Expected { state, executions: meta.executions });
        prop_assert!(previous.is_none(), "two tasks share the path {:?}", meta.path);
    }
    prop_assert_eq!(got.len(), expected.len(), "same set of tasks");
    for (path, want) in &expected {
        prop_assert_eq!(got.get(path), Some(want), "task {:?}", path);
    }
    prop_assert_eq!(driver.run.counts().cancelled, 0);
    Ok(())
}

/// Where the run is cancelled: after `after` steps, either between tasks or while one runs.
#[derive(Clone, Copy, Debug)]
struct CancelAt {
    after: usize,
    /// Cancel while a task runs (it then reports after the cancel).
    mid_task: bool,
    /// With `mid_task`: run the body (and so expand) before the cancel rather than after it.
    body_first: bool,
    /// Try to start every queued task after the cancel (all must be refused).
    poke: bool,
}

fn cancel_at() -> impl Strategy<Value = CancelAt> {
    (0usize..80, any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(after, mid_task, body_first, poke)| CancelAt { after, mid_task, body_first, poke },
    )
}

fn run_with_cancel(case: &Case, at: CancelAt, offload: bool) -> Result<(), TestCaseError> {
    let mut driver = Driver::new(case);
    driver.offload = offload;
    for _ in 0..at.after {
        if !driver.step() {
            break;
        }
    }
    let in_flight = if at.mid_task { driver.pick() } else { None };
    let mut outcome = None;
    if let Some(id) = in_flight {
        driver.claim(id);
        if at.body_first {
            outcome = Some(driver.body(id));
        }
    }
    let before: Vec<State> =
        (0..driver.meta.len()).map(|i| driver.run.state(TaskId(i as u32)).unwrap()).collect();

    driver.run.cancel();
    prop_assert!(driver.run.is_cancelled());
    if at.poke {
        for &id in &driver.ready {
            prop_assert!(!driver.run.start(id), "{:?} started after cancel", id);
        }
    }
    // The running task reports after the cancel; if it expands now, its children are
    // cancelled on arrival.
    if let Some(id) = in_flight {
        prop_assert_eq!(driver.run.running(), 1 + driver.pending.len());
        let outcome = match outcome {
            Some(outcome) => outcome,
            None => driver.body(id),
        };
        driver.complete(id, outcome);
    }
    // Tasks pending on "the cluster" are abandoned, as the binding does on Ctrl-C.
    let abandoned: Vec<TaskId> = driver.pending.drain(..).map(|(id, _)| id).collect();
    prop_assert_eq!(driver.run.running(), abandoned.len());
    for &id in &abandoned {
        driver.complete(id, Outcome::Cancelled);
        prop_assert_eq!(driver.run.state(id).unwrap(), State::Cancelled);
    }
    prop_assert_eq!(driver.run.running(), 0);
    driver.run.cancel_pending();
    driver.assert_counts_add_up();

    // Nothing starts after a cancel, and adding a task now cancels it on arrival.
    for &id in &driver.ready {
        prop_assert!(!driver.run.start(id));
    }
    let mut ready = Vec::new();
    let late = driver.run.add_task((), &[], &mut ready).unwrap();
    prop_assert!(ready.is_empty());
    prop_assert_eq!(driver.run.state(late).unwrap(), State::Cancelled);
    prop_assert!(driver.run.is_complete());

    for (i, meta) in driver.meta.iter().enumerate() {
        let id = TaskId(i as u32);
        let st = driver.run.state(id).unwrap();
        if let Some(&was) = before.get(i).filter(|s| s.is_terminal()) {
            prop_assert_eq!(st, was, "a terminal task {:?} changed state", id);
        }
        match st {
            State::Finished | State::Failed => {
                let want = if meta.expand.is_some() { 2 } else { 1 };
                prop_assert_eq!(meta.executions, want, "task {:?}", id);
                prop_assert_eq!(st, outcome_state(meta.fails));
                for dep in meta.deps.iter().filter(|d| d.kind == DepKind::Data) {
                    prop_assert_eq!(driver.run.state(dep.on).unwrap(), State::Finished);
                }
            }
            State::Skipped => {
                prop_assert_eq!(meta.executions, 0);
                let cause = meta.deps.iter().any(|d| {
                    d.kind == DepKind::Data
                        && matches!(driver.run.state(d.on).unwrap(), State::Failed | State::Skipped)
                });
                prop_assert!(cause, "{:?} skipped without a failed or skipped input", id);
            }
            State::Cancelled => {
                // Only a suspended task has run (once) and is then cancelled, or a task that
                // was abandoned while pending elsewhere.
                prop_assert!(
                    meta.executions == 0
                        || (meta.executions == 1 && meta.expand.is_some())
                        || abandoned.contains(&id)
                );
            }
            other => prop_assert!(false, "{:?} ends {:?}", id, other),
        }
    }
    Ok(())
}

/// 512 cases unless `PROPTEST_CASES` says otherwise.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn run_matches_sequential_reference(case in case()) {
        run_to_completion(&case, false)?;
    }

    #[test]
    fn external_completion_matches_sequential_reference(case in case()) {
        run_to_completion(&case, true)?;
    }

    #[test]
    fn cancellation_leaves_every_task_terminal(case in case(), at in cancel_at()) {
        run_with_cancel(&case, at, false)?;
    }

    #[test]
    fn cancellation_with_tasks_pending_elsewhere(case in case(), at in cancel_at()) {
        run_with_cancel(&case, at, true)?;
    }
}

//! Loom models of the racy spots of `Run` (design §5.7). Every model runs the real core code
//! under every interleaving loom permits; keep them tiny (2-3 threads, 2-3 tasks).
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p ferroflow-core --test loom --release
//! ```
#![cfg(loom)]

use ferroflow_core::{Dep, Outcome, Run, State, TaskId};
use loom::sync::Arc;
use loom::thread;

fn occurrences(ids: &[TaskId], id: TaskId) -> usize {
    ids.iter().filter(|&&x| x == id).count()
}

fn assert_complete(run: &Run<u32>) {
    assert_eq!(run.remaining(), 0);
    assert_eq!(run.running(), 0);
    for i in 0..run.len() as u32 {
        assert!(run.state(TaskId(i)).unwrap().is_terminal(), "task {i} not terminal");
    }
    let c = run.counts();
    assert_eq!(c.finished + c.failed + c.skipped + c.cancelled, c.total);
}

/// (a) Two predecessors complete concurrently; both decrement their common successor, which
/// must become ready exactly once (on whichever thread took it to zero).
#[test]
fn concurrent_decrements_make_successor_ready_once() {
    loom::model(|| {
        let run = Arc::new(Run::new());
        let mut ready = Vec::new();
        let a = run.add_task(0u32, &[], &mut ready).unwrap();
        let b = run.add_task(1, &[], &mut ready).unwrap();
        let s = run.add_task(2, &[Dep::data(a), Dep::data(b)], &mut ready).unwrap();
        assert_eq!(ready, vec![a, b]);

        let finish = |id: TaskId| {
            let run = run.clone();
            thread::spawn(move || {
                let mut ready = Vec::new();
                assert!(run.start(id));
                run.complete(id, Outcome::Finished, &mut ready).unwrap();
                if ready.contains(&s) {
                    // Whoever released `s` saw both predecessors finished.
                    assert_eq!(run.state(a).unwrap(), State::Finished);
                    assert_eq!(run.state(b).unwrap(), State::Finished);
                }
                ready
            })
        };
        let ta = finish(a);
        let tb = finish(b);
        let mut all = ta.join().unwrap();
        all.extend(tb.join().unwrap());
        assert_eq!(all, vec![s], "the successor is made ready exactly once");
        assert_eq!(run.state(s).unwrap(), State::Ready);

        let mut ready = Vec::new();
        assert!(run.start(s));
        run.complete(s, Outcome::Finished, &mut ready).unwrap();
        assert_complete(&run);
        assert_eq!(run.counts().finished, 3);
    });
}

/// (b) `add_task` with an edge to a predecessor races with that predecessor's `complete`: the
/// new task becomes ready exactly once, and never before the predecessor finished.
#[test]
fn add_task_races_with_predecessor_completion() {
    for pred_fails in [false, true] {
        loom::model(move || {
            let run = Arc::new(Run::new());
            let mut ready = Vec::new();
            let p = run.add_task(0u32, &[], &mut ready).unwrap();
            assert!(run.start(p));

            let completer = {
                let run = run.clone();
                thread::spawn(move || {
                    let mut ready = Vec::new();
                    let outcome = if pred_fails { Outcome::Failed } else { Outcome::Finished };
                    run.complete(p, outcome, &mut ready).unwrap();
                    ready
                })
            };
            let adder = {
                let run = run.clone();
                thread::spawn(move || {
                    let mut ready = Vec::new();
                    let s = run.add_task(1, &[Dep::data(p)], &mut ready).unwrap();
                    if ready.contains(&s) {
                        assert_eq!(run.state(p).unwrap(), State::Finished, "ready too early");
                    }
                    (s, ready)
                })
            };
            let mut all = completer.join().unwrap();
            let (s, from_add) = adder.join().unwrap();
            all.extend(from_add);

            if pred_fails {
                assert!(all.is_empty(), "a skipped task is never ready");
                assert_eq!(run.state(s).unwrap(), State::Skipped);
            } else {
                assert_eq!(occurrences(&all, s), 1, "ready exactly once");
                assert_eq!(all.len(), 1);
                let mut ready = Vec::new();
                assert!(run.start(s));
                run.complete(s, Outcome::Finished, &mut ready).unwrap();
            }
            assert_complete(&run);
        });
    }
}

/// (c) `cancel` races with `start`. The canceller follows the documented protocol (cancel,
/// wait until nothing runs, cancel_pending). Either the worker claimed the task before the
/// flag (and the canceller waited for it) or the claim was refused; afterwards the run is
/// complete.
#[test]
fn cancel_races_with_start() {
    loom::model(|| {
        let run = Arc::new(Run::new());
        let mut ready = Vec::new();
        let t = run.add_task(0u32, &[], &mut ready).unwrap();
        let after = run.add_task(1, &[Dep::data(t)], &mut ready).unwrap();

        let worker = {
            let run = run.clone();
            thread::spawn(move || {
                let started = run.start(t);
                if started {
                    assert_eq!(run.state(t).unwrap(), State::Running);
                    let mut ready = Vec::new();
                    run.complete(t, Outcome::Finished, &mut ready).unwrap();
                    for id in ready {
                        // The run is cancelled by now or not: a claim must respect the flag.
                        if run.start(id) {
                            let mut more = Vec::new();
                            run.complete(id, Outcome::Finished, &mut more).unwrap();
                        }
                    }
                }
                started
            })
        };
        let canceller = {
            let run = run.clone();
            thread::spawn(move || {
                run.cancel();
                while run.running() > 0 {
                    thread::yield_now();
                }
                // Nothing may be mid-execution once `running()` reads zero after the flag.
                assert_ne!(run.state(t).unwrap(), State::Running);
                assert_ne!(run.state(after).unwrap(), State::Running);
                run.cancel_pending();
            })
        };
        let started = worker.join().unwrap();
        canceller.join().unwrap();
        if started {
            assert_eq!(run.state(t).unwrap(), State::Finished);
        } else {
            assert_eq!(run.state(t).unwrap(), State::Cancelled);
            assert_eq!(run.state(after).unwrap(), State::Cancelled);
        }
        assert!(!run.start(after), "nothing starts after cancel");
        assert_complete(&run);
    });
}

/// (d) A task suspends (awaiting a child) while the run is cancelled. The canceller must not
/// observe `running() == 0` while the task is still between `Running` and `Suspended`, or
/// `cancel_pending` skips it and the run never completes (regression: `complete` used to
/// decrement `running` before moving the task out of `Running`).
#[test]
fn cancel_races_with_suspend() {
    loom::model(|| {
        let run = Arc::new(Run::new());
        let mut ready = Vec::new();
        let g = run.add_task(0u32, &[], &mut ready).unwrap();
        assert!(run.start(g));
        let child = run.add_task(1, &[], &mut ready).unwrap();

        let worker = {
            let run = run.clone();
            thread::spawn(move || {
                let mut ready = Vec::new();
                run.complete(g, Outcome::Suspend(vec![child]), &mut ready).unwrap();
            })
        };
        let canceller = {
            let run = run.clone();
            thread::spawn(move || {
                run.cancel();
                while run.running() > 0 {
                    thread::yield_now();
                }
                run.cancel_pending();
            })
        };
        worker.join().unwrap();
        canceller.join().unwrap();
        assert_complete(&run);
        assert_eq!(run.state(child).unwrap(), State::Cancelled);
    });
}

/// (e) A task suspends on a child while that child completes on another thread (the Await
/// edge push races with the child sealing its successor list): the parent is made ready again
/// exactly once, and only after the child is terminal.
#[test]
fn suspend_races_with_child_completion() {
    loom::model(|| {
        let run = Arc::new(Run::new());
        let mut ready = Vec::new();
        let g = run.add_task(0u32, &[], &mut ready).unwrap();
        assert!(run.start(g));
        ready.clear();
        let child = run.add_task(1, &[], &mut ready).unwrap();
        assert!(run.start(child));

        let parent = {
            let run = run.clone();
            thread::spawn(move || {
                let mut ready = Vec::new();
                run.complete(g, Outcome::Suspend(vec![child]), &mut ready).unwrap();
                if ready.contains(&g) {
                    assert!(run.state(child).unwrap().is_terminal(), "resumed too early");
                }
                ready
            })
        };
        let kid = {
            let run = run.clone();
            thread::spawn(move || {
                let mut ready = Vec::new();
                run.complete(child, Outcome::Failed, &mut ready).unwrap();
                ready
            })
        };
        let mut all = parent.join().unwrap();
        all.extend(kid.join().unwrap());
        assert_eq!(all, vec![g], "the parent resumes exactly once");
        let mut ready = Vec::new();
        assert!(run.start(g));
        run.complete(g, Outcome::Finished, &mut ready).unwrap();
        assert_complete(&run);
        let c = run.counts();
        assert_eq!((c.finished, c.failed), (1, 1));
    });
}

/// (f) External completion: the result of a task handed to a cluster arrives on another thread
/// while the worker is still reporting `Outcome::Pending`. Either order leaves the task
/// finished, its successor ready exactly once, and `running` back at zero (no double count).
#[test]
fn external_completion_races_with_pending_report() {
    loom::model(|| {
        let run = Arc::new(Run::new());
        let mut ready = Vec::new();
        let t = run.add_task(0u32, &[], &mut ready).unwrap();
        let s = run.add_task(1, &[Dep::data(t)], &mut ready).unwrap();
        assert!(run.start(t));

        let worker = {
            let run = run.clone();
            thread::spawn(move || {
                let mut ready = Vec::new();
                run.complete(t, Outcome::Pending, &mut ready).unwrap();
                ready
            })
        };
        let resolver = {
            let run = run.clone();
            thread::spawn(move || {
                let mut ready = Vec::new();
                run.complete(t, Outcome::Finished, &mut ready).unwrap();
                ready
            })
        };
        let mut all = worker.join().unwrap();
        all.extend(resolver.join().unwrap());
        assert_eq!(all, vec![s]);
        assert_eq!(run.running(), 0);
        let mut ready = Vec::new();
        assert!(run.start(s));
        run.complete(s, Outcome::Finished, &mut ready).unwrap();
        assert_complete(&run);
    });
}

/// (g) Ctrl-C while a task is pending elsewhere: the canceller abandons it
/// (`Outcome::Cancelled`) while its result arrives on another thread. Exactly one of the two
/// completions wins; the canceller's wait for `running() == 0` ends; the run completes.
#[test]
fn abandon_races_with_external_completion() {
    loom::model(|| {
        let run = Arc::new(Run::new());
        let mut ready = Vec::new();
        let t = run.add_task(0u32, &[], &mut ready).unwrap();
        let s = run.add_task(1, &[Dep::data(t)], &mut ready).unwrap();
        assert!(run.start(t));
        run.complete(t, Outcome::Pending, &mut ready).unwrap();

        let resolver = {
            let run = run.clone();
            thread::spawn(move || {
                let mut ready = Vec::new();
                let won = run.complete(t, Outcome::Finished, &mut ready).is_ok();
                if won {
                    assert_eq!(ready, vec![s]);
                } else {
                    assert!(ready.is_empty());
                }
                won
            })
        };
        let canceller = {
            let run = run.clone();
            thread::spawn(move || {
                run.cancel();
                let mut sink = Vec::new();
                let won = run.complete(t, Outcome::Cancelled, &mut sink).is_ok();
                while run.running() > 0 {
                    thread::yield_now();
                }
                run.cancel_pending();
                won
            })
        };
        let resolved = resolver.join().unwrap();
        let abandoned = canceller.join().unwrap();
        assert!(resolved != abandoned, "exactly one completion wins");
        let want = if resolved { State::Finished } else { State::Cancelled };
        assert_eq!(run.state(t).unwrap(), want);
        assert_eq!(run.state(s).unwrap(), State::Cancelled);
        assert_complete(&run);
    });
}

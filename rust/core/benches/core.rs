//! Throughput of the core alone (no Python): readiness and dispatch, in tasks per second.
//!
//! Every measurement includes building the run (`add_task`), executing every task and dropping
//! the run, so the numbers are end-to-end per task:
//! * `run/*`: single-threaded, the caller drives `start`/`complete` itself;
//! * `pool/*`: through a persistent `Pool` of 1 and 2 workers with a no-op executor.
//!
//! ```text
//! cargo bench -p ferroflow-core --bench core            # ~30 s once built
//! cargo bench -p ferroflow-core --bench core -- --quick # ~20 s once built
//! ```

// The pool is not compiled under `--cfg loom`: the bench is then an empty program.
#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
criterion::criterion_main!(bench::benches);

#[cfg(not(loom))]
mod bench {
    use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
    use ferroflow_core::{plain_hook, run_blocking, Dep, Executor, Outcome, Pool, Run, TaskId};
    use std::hint::black_box;
    use std::sync::Arc;
    use std::time::Duration;

    const N: usize = 100_000;

    #[derive(Clone, Copy)]
    enum Shape {
        /// N independent tasks, all ready at once.
        Scatter,
        /// N tasks, each depending on the one before.
        Chain,
    }

    impl Shape {
        fn name(self) -> &'static str {
            match self {
                Shape::Scatter => "scatter",
                Shape::Chain => "chain",
            }
        }
    }

    /// Build a run of `N` tasks (payloads are pointer-sized, as in the Python binding) and return
    /// it with its initially ready tasks.
    fn build(shape: Shape) -> (Run<usize>, Vec<TaskId>) {
        let run = Run::new();
        let mut ready = Vec::with_capacity(match shape {
            Shape::Scatter => N,
            Shape::Chain => 1,
        });
        let mut previous: Option<TaskId> = None;
        for i in 0..N {
            let id = match (shape, previous) {
                (Shape::Chain, Some(p)) => run.add_task(i, &[Dep::data(p)], &mut ready),
                _ => run.add_task(i, &[], &mut ready),
            };
            previous = Some(id.expect("valid task"));
        }
        (run, ready)
    }

    /// Execute every task on the calling thread, as a worker would (LIFO: successors run next).
    fn drive(run: &Run<usize>, mut ready: Vec<TaskId>) {
        while let Some(id) = ready.pop() {
            if run.start(id) {
                black_box(run.payload(id).ok());
                run.complete(id, Outcome::Finished, &mut ready).expect("claimed task");
            }
        }
        assert!(run.is_complete());
    }

    struct Noop;

    impl Executor<usize> for Noop {
        fn execute(&self, _run: &Run<usize>, _id: TaskId, payload: &usize) -> Outcome {
            black_box(payload);
            Outcome::Finished
        }
    }

    fn single_threaded(c: &mut Criterion) {
        let mut group = c.benchmark_group("run");
        group.throughput(Throughput::Elements(N as u64));
        group.sample_size(10).warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        for shape in [Shape::Scatter, Shape::Chain] {
            group.bench_function(BenchmarkId::new(shape.name(), N), |b| {
                b.iter(|| {
                    let (run, ready) = build(shape);
                    drive(&run, ready);
                    run
                })
            });
        }
        group.finish();
    }

    fn pooled(c: &mut Criterion) {
        let mut group = c.benchmark_group("pool");
        group.throughput(Throughput::Elements(N as u64));
        group.sample_size(10).warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        for workers in [1usize, 2] {
            let pool = Pool::new(workers, plain_hook()).expect("spawn workers");
            for shape in [Shape::Scatter, Shape::Chain] {
                let id = BenchmarkId::new(format!("{}/{workers}w", shape.name()), N);
                group.bench_function(id, |b| {
                    b.iter(|| {
                        let (run, ready) = build(shape);
                        let run = Arc::new(run);
                        run_blocking(&pool, run.clone(), Noop, &ready);
                        assert!(run.is_complete());
                        run
                    })
                });
            }
        }
        group.finish();
    }

    criterion_group!(benches, single_threaded, pooled);
}

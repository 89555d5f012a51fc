//! Runtime end to end (docs/performance.md, "Runtime"): `start()` at the leader until the
//! command is applied on all 3 peers, through the simulated network on its reliable setting,
//! with 1 proposer and with 64 concurrent proposers. Wall-clock bound: the runtime ticks
//! every 10 ms and heartbeats every 100 ms.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use raft_benches::runtime_cluster::RuntimeCluster;
use raft_benches::{machine, tally};

const PROPOSERS: [usize; 2] = [1, 64];

fn runtime(c: &mut Criterion) {
    let mut group = c.benchmark_group("runtime");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for proposers in PROPOSERS {
        let cluster = RuntimeCluster::start(3, 7);
        let rpcs_before = cluster.rpc_count();
        let mut commits = 0u64;
        group.throughput(Throughput::Elements(proposers as u64));
        group.bench_function(BenchmarkId::new("commit", proposers), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|scope| {
                    for p in 0..proposers {
                        let cluster = &cluster;
                        scope.spawn(move || {
                            for i in 0..iters {
                                cluster.commit(i * proposers as u64 + p as u64);
                            }
                        });
                    }
                });
                let elapsed = start.elapsed();
                commits += iters * proposers as u64;
                tally::record(
                    &format!("runtime/{proposers}"),
                    iters * proposers as u64,
                    elapsed,
                );
                elapsed
            })
        });
        let rpcs = cluster.rpc_count() - rpcs_before;
        println!(
            "runtime, {proposers} proposer(s): {:.1} commits/s applied on all 3 peers; {:.2} RPCs per commit",
            tally::rate(&format!("runtime/{proposers}")).unwrap_or(f64::NAN),
            rpcs as f64 / commits.max(1) as f64
        );
        cluster.shutdown();
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    runtime(&mut criterion);
    criterion.final_summary();
    println!("(machine: {})", machine::describe());
}

//! Election after the leader is cut off (docs/performance.md, "Election"): a 3- and a
//! 5-peer cluster elect a leader, the leader is partitioned away, and the others tick until
//! one of them leads. Criterion times the wall clock of that recovery; the binary then
//! prints the virtual ticks it took over many seeds. raft-rs runs the same scenario with the
//! same timing (elections after 30..60 ticks, heartbeats every 10) for comparison.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use raft_benches::{machine, CoreCluster, RaftRsCluster};

const MAX_TICKS: u64 = 10_000;
static TICKS: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());

fn record_ticks(key: String, ticks: u64) {
    TICKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((key, ticks));
}

/// Ticks for our cluster to elect a new leader after the first one is cut off.
fn ours_recovery(servers: usize, seed: u64) -> (u64, Duration) {
    let mut cluster = CoreCluster::new(servers, seed);
    let (old, _) = cluster.tick_until_leader(MAX_TICKS);
    cluster.cut_off(old);
    let start = Instant::now();
    let (new, ticks) = cluster.tick_until_leader(MAX_TICKS);
    let elapsed = start.elapsed();
    assert_ne!(new, old, "the cut-off leader cannot be re-elected");
    (ticks, elapsed)
}

fn raft_rs_recovery(servers: usize) -> (u64, Duration) {
    let mut cluster = RaftRsCluster::with_timing(servers, false, 30, 10);
    cluster.elect_first();
    cluster.cut_off(0);
    let old_term = cluster.term(0);
    let start = Instant::now();
    for ticks in 1..=MAX_TICKS {
        cluster.tick_all();
        if cluster
            .reachable_leader()
            .is_some_and(|leader| cluster.term(leader) > old_term)
        {
            return (ticks, start.elapsed());
        }
    }
    panic!("raft-rs: no leader after {MAX_TICKS} ticks");
}

fn election(c: &mut Criterion) {
    let mut group = c.benchmark_group("election");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    for servers in [3usize, 5] {
        let mut seed = 0u64;
        group.bench_function(BenchmarkId::new("ours", servers), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    seed += 1;
                    let (ticks, elapsed) = ours_recovery(servers, seed);
                    record_ticks(format!("ours/{servers}"), ticks);
                    total += elapsed;
                }
                total
            })
        });
        group.bench_function(BenchmarkId::new("raft-rs", servers), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (ticks, elapsed) = raft_rs_recovery(servers);
                    record_ticks(format!("raft-rs/{servers}"), ticks);
                    total += elapsed;
                }
                total
            })
        });
    }
    group.finish();
}

fn print_ticks() {
    println!("\n== election summary ({}) ==", machine::describe());
    println!(
        "virtual ticks from the leader being cut off to a new leader (10 ms ticks in the runtime)"
    );
    let all = TICKS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for key in ["ours/3", "raft-rs/3", "ours/5", "raft-rs/5"] {
        let mut ticks: Vec<u64> = all
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, t)| *t)
            .collect();
        if ticks.is_empty() {
            continue;
        }
        ticks.sort_unstable();
        let mean = ticks.iter().sum::<u64>() as f64 / ticks.len() as f64;
        let pct = |p: f64| ticks[((ticks.len() - 1) as f64 * p) as usize];
        println!(
            "{key:>10}: n={:<6} mean {mean:6.1}  p50 {:>4}  p99 {:>4}  max {:>4} ticks  (mean {:.0} ms)",
            ticks.len(),
            pct(0.5),
            pct(0.99),
            ticks[ticks.len() - 1],
            mean * 10.0
        );
    }
}

fn main() {
    // Side by side, both libraries must see the same allocator whatever ran before.
    raft_benches::allocator::pin_thresholds();
    let mut criterion = Criterion::default().configure_from_args();
    election(&mut criterion);
    criterion.final_summary();
    print_ticks();
}

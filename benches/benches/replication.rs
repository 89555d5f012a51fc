//! Core replication, ours and tikv/raft-rs side by side (docs/performance.md, figure 1):
//! three peers in one process, messages handed over in memory, `in_flight` proposals per
//! round committed and applied on every peer. Criterion reports time per round and entries
//! per second; after the run the binary prints the ratio ours / raft-rs for every case and
//! the log-length check (throughput with 10 000 entries in the log vs 100).

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use raft_benches::workload::prefilled;
use raft_benches::{allocator, machine, round, tally, Cluster, CoreCluster, RaftRsCluster};

const PAYLOADS: [usize; 3] = [0, 128, 4096];
const IN_FLIGHT: [usize; 2] = [1, 64];
/// A cluster is rebuilt (untimed) once its log is this long, so every case measures logs of
/// 0..LOG_LIMIT entries; the log-length check below measures longer logs on purpose.
const LOG_LIMIT: u64 = 1024;
const SEED: u64 = 5;

fn key(library: &str, payload: usize, in_flight: usize) -> String {
    format!("{library}/{payload}B/x{in_flight}")
}

/// Times `iters` rounds on a cluster kept across criterion's calls.
fn timed_rounds<C: Cluster>(
    slot: &mut Option<C>,
    make: &impl Fn() -> C,
    iters: u64,
    in_flight: usize,
    payload: &[u8],
) -> (u64, Duration) {
    let mut elapsed = Duration::ZERO;
    let mut entries = 0;
    for _ in 0..iters {
        if slot.as_ref().is_none_or(|c| c.last_index() >= LOG_LIMIT) {
            *slot = Some(make());
        }
        let cluster = slot.as_mut().expect("just made");
        let start = Instant::now();
        entries += round(cluster, in_flight, payload);
        elapsed += start.elapsed();
    }
    (entries, elapsed)
}

fn bench_case<C: Cluster>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    make: impl Fn() -> C,
    payload_bytes: usize,
    in_flight: usize,
) {
    let payload = vec![0xA5u8; payload_bytes];
    let mut slot: Option<C> = None;
    let tally_key = key(name, payload_bytes, in_flight);
    group.bench_function(BenchmarkId::new(name, format!("x{in_flight}")), |b| {
        b.iter_custom(|iters| {
            let (entries, elapsed) = timed_rounds(&mut slot, &make, iters, in_flight, &payload);
            tally::record(&tally_key, entries, elapsed);
            elapsed
        })
    });
}

fn replication(c: &mut Criterion) {
    for payload in PAYLOADS {
        let mut group = c.benchmark_group(format!("replication/{payload}B"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
        for in_flight in IN_FLIGHT {
            group.throughput(Throughput::Elements(in_flight as u64));
            let ours = || CoreCluster::with_leader(3, SEED);
            bench_case(&mut group, "ours", ours, payload, in_flight);
            let peer = || RaftRsCluster::with_leader(3, SEED);
            bench_case(&mut group, "raft-rs", peer, payload, in_flight);
            let batched = || RaftRsCluster::with_leader_batched(3);
            bench_case(&mut group, "raft-rs-batch", batched, payload, in_flight);
        }
        group.finish();
    }
}

/// How often our core needs a heartbeat before every follower learns the commit index.
fn print_heartbeat_waits() {
    for in_flight in IN_FLIGHT {
        let mut cluster = CoreCluster::with_leader(3, SEED);
        let rounds = 100;
        for _ in 0..rounds {
            round(&mut cluster, in_flight, &[0xA5; 128]);
        }
        println!(
            "ours, x{in_flight}: {} of {rounds} rounds needed a heartbeat (leader ticked) before \
             every follower applied",
            cluster.heartbeat_waits()
        );
    }
}

fn print_ratios() {
    println!("\n== replication summary ({}) ==", machine::describe());
    println!("entries/s over every timed round of this run (3 peers, in-memory)");
    println!(
        "{:>8} {:>6} {:>14} {:>14} {:>14} {:>10} {:>10}",
        "payload", "inflt", "ours", "raft-rs", "raft-rs-batch", "ours/rs", "ours/best"
    );
    for payload in PAYLOADS {
        for in_flight in IN_FLIGHT {
            let rate = |name| tally::rate(&key(name, payload, in_flight)).unwrap_or(f64::NAN);
            let (ours, peer, batched) = (rate("ours"), rate("raft-rs"), rate("raft-rs-batch"));
            println!(
                "{:>7}B {:>6} {:>14.0} {:>14.0} {:>14.0} {:>10.2} {:>10.2}",
                payload,
                in_flight,
                ours,
                peer,
                batched,
                ours / peer,
                ours / peer.max(batched)
            );
        }
    }
}

/// What one length measured: median entries/s of a round, and minor page faults per round.
struct AtLength {
    rate: f64,
    faults_per_round: Option<f64>,
}

/// Rounds of 64 proposals of 128 B on each cluster's log, `trials` on each (the logs grow by
/// 64 a round, which is small beside the lengths compared).
///
/// Both libraries are measured the same way: the clusters filled on a warm heap (see
/// `log_length_check`), one untimed warm-up round each, then timed rounds on the clusters
/// taken in turn, so that none runs on memory another one freed. Page faults are counted
/// outside the timed part, so a residual memory effect shows in the report.
fn rates_at_lengths<C: Cluster>(clusters: &mut [C], trials: usize) -> Vec<AtLength> {
    let payload = vec![0xA5u8; 128];
    for cluster in clusters.iter_mut() {
        round(cluster, 64, &payload);
    }
    let mut rates = vec![Vec::new(); clusters.len()];
    let mut faults = vec![Some(0); clusters.len()];
    for _ in 0..trials {
        for (which, cluster) in clusters.iter_mut().enumerate() {
            let before = machine::minor_faults();
            let start = Instant::now();
            let entries = round(cluster, 64, &payload);
            rates[which].push(entries as f64 / start.elapsed().as_secs_f64());
            let during = machine::minor_faults().zip(before).map(|(a, b)| a - b);
            faults[which] = faults[which].zip(during).map(|(sum, n)| sum + n);
        }
    }
    rates
        .into_iter()
        .zip(faults)
        .map(|(mut rates, faults)| {
            rates.sort_by(f64::total_cmp);
            AtLength {
                rate: rates[rates.len() / 2],
                faults_per_round: faults.map(|sum| sum as f64 / trials as f64),
            }
        })
        .collect()
}

/// Target: throughput with 10 000 entries in the log within 20% of that with 100; 100 000
/// entries are measured too, to show the trend.
///
/// The clusters are filled on a warm heap (`allocator::warm_heap`). On a cold one, the long
/// clusters' vectors, doubled past a few hundred KiB, sit on fresh pages and page-fault as
/// rounds first touch them, while the short cluster's small vectors reuse memory freed by
/// earlier allocations: ratios of 0.63–0.75 (ours) that were page faults, 5 a round against
/// 0, not the log's length. The faults per round are printed, so the report shows whether
/// any memory effect is left.
fn log_length_check() {
    let (lengths, trials, warm): (&[u64], usize, usize) = if machine::test_mode() {
        (&[100, 1_000], 3, 16 << 20)
    } else {
        (&[100, 10_000, 100_000], 11, 256 << 20)
    };
    let payload = vec![0xA5u8; 128];
    println!(
        "\n== log-length check: 64 x 128 B per round, median of {trials} rounds, the lengths \
         in turn, clusters filled on a warm heap ({} MiB) ==",
        warm >> 20
    );
    allocator::warm_heap(warm);
    let fill = Instant::now();
    let mut clusters: Vec<CoreCluster> = lengths
        .iter()
        .map(|&n| prefilled(n, &payload, SEED))
        .collect();
    let fill = fill.elapsed();
    let longest = lengths[lengths.len() - 1];
    let saved_bytes = clusters[clusters.len() - 1].saved_state_bytes(0);
    let ours = rates_at_lengths(&mut clusters, trials);
    drop(clusters);
    let mut peers: Vec<RaftRsCluster> = lengths
        .iter()
        .map(|&n| prefilled(n, &payload, SEED))
        .collect();
    let peer = rates_at_lengths(&mut peers, trials);
    for (name, at) in [("ours", ours), ("raft-rs", peer)] {
        let base = at[0].rate;
        for (&length, at) in lengths.iter().zip(&at) {
            let faults = at
                .faults_per_round
                .map_or("?".into(), |f| format!("{f:.1}"));
            let ratio = at.rate / base;
            let verdict = match length {
                100 => String::new(),
                10_000 | 1_000 => {
                    let pass = if ratio >= 0.8 { "PASS" } else { "FAIL" };
                    format!(" (target >= 0.80: {pass})")
                }
                _ => " (trend)".into(),
            };
            println!(
                "{name:>8} at {length:>7} entries: {:>10.0} entries/s, ratio to 100: {ratio:.2}\
                 {verdict}; minor page faults per round {faults}",
                at.rate
            );
        }
    }
    println!(
        "    (ours: filling the clusters took {:.2} s; persisted state at {longest} entries: \
         {saved_bytes} bytes)",
        fill.as_secs_f64()
    );
}

fn main() {
    // Side by side, both libraries must see the same allocator whatever ran before.
    raft_benches::allocator::pin_thresholds();
    let mut criterion = Criterion::default().configure_from_args();
    replication(&mut criterion);
    criterion.final_summary();
    print_ratios();
    print_heartbeat_waits();
    log_length_check();
}

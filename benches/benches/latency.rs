//! Pipelining across a link with real latency: what `NodeConfig::max_inflight_appends` (the
//! AppendEntries a leader keeps outstanding per follower) does when every message takes a
//! fixed one-way delay.
//!
//! Three `raft_impl::node::Node`s in one process on in-memory storage, as in the end-to-end
//! bench (`benches/src/node_cluster.rs`, `NodeCluster::memory_config`), except that every
//! message goes through a [`DelayedNetwork`]: it reaches its target a fixed delay after it was
//! sent (default 0.5 ms; `RAFT_BENCH_LINK_DELAY_MICROS=N` to change it), in order per link.
//! Clients are tokio tasks each awaiting `Node::write(..)` at the leader, one write at a time,
//! 1 or 64 of them. Each client count runs with a window of 1 (Figure 2: one AppendEntries
//! at a time) and of 4 (the default), one after the other on fresh clusters.
//!
//! A commit needs one round trip (AppendEntries out, reply back: 2 × delay), so one client
//! cannot exceed 1 / (2 × delay) writes/s. With a window of 1 the AppendEntries that only
//! tells the followers the new commit index occupies the window for a round trip after each
//! commit, so the next write should wait for its reply first: about 4 × delay per write,
//! against about 2 × delay with a window of 4. The summary prints writes/s, p50/p99 commit
//! latency (from the call to `write` until it returned, applied at the leader) and the ratio
//! window 4 / window 1 at each client count, to check that: the p50 in round trips (as asked
//! and as delivered, since a sleeping delivery thread wakes up late), the share of writes
//! that took over 1.5 round trips as delivered, and the messages delivered per write (1
//! client, 3 peers: AppendEntries and reply to 2 followers, and the same again for the
//! commit notice, is 8 when each goes once; more means requests were re-sent).
//!
//! `RAFT_BENCH_LATENCY_PEERS=2` runs 2 servers instead of 3: a commit then waits for the one
//! follower, whose window the commit notice always fills (with 3, the slower follower's reply
//! may arrive after the next write, which then leaves with it).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use raft_benches::append_memory::AppendMemory;
use raft_benches::clients::quantile;
use raft_benches::delayed_network::{DelayedNetwork, Lateness};
use raft_benches::node_cluster::NodeCluster;
use raft_benches::{machine, tally};
use raft_impl::node::{Network, NodeConfig};
use raft_impl::storage::Storage;

const CLIENTS: [usize; 2] = [1, 64];
/// `max_inflight_appends`: Figure 2's one request at a time, and the default.
const WINDOWS: [usize; 2] = [1, 4];
/// Servers in the cluster: 3, or `RAFT_BENCH_LATENCY_PEERS` (2 makes the one follower's
/// reply the only one a commit waits for).
fn peers() -> usize {
    std::env::var("RAFT_BENCH_LATENCY_PEERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}
/// The command every client writes (16 bytes, as in the end-to-end bench).
const COMMAND: &[u8] = b"set key-0 val-00";

/// The one-way delay of every link: `RAFT_BENCH_LINK_DELAY_MICROS`, default 500 µs.
fn link_delay() -> Duration {
    Duration::from_micros(
        std::env::var("RAFT_BENCH_LINK_DELAY_MICROS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(500),
    )
}

fn key(clients: usize, window: usize) -> String {
    format!("latency/window-{window}/{clients}")
}

/// What a case measured beyond criterion's estimate: every write's latency, and how late
/// the links delivered.
#[derive(Default)]
struct Case {
    latencies: Vec<Duration>,
    late_mean: Duration,
    late_max: Duration,
    /// Messages delivered (all links, both directions).
    messages: u64,
    /// Writes timed, warm-up included.
    written: u64,
    busy: u64,
}

/// Three nodes on in-memory storage whose messages all take `delay`, with a window of
/// `window` AppendEntries per follower.
fn start_cluster(window: usize, delay: Duration, lateness: &Arc<Lateness>) -> NodeCluster {
    let servers = peers();
    let storages = (0..servers)
        .map(|_| Box::new(AppendMemory::new()) as Box<dyn Storage>)
        .collect();
    NodeCluster::start_with(
        storages,
        |id, servers| NodeConfig {
            max_inflight_appends: window,
            ..NodeCluster::memory_config(id, servers)
        },
        |id, inner| {
            Arc::new(
                DelayedNetwork::new(id, servers, inner, delay, Arc::clone(lateness))
                    .expect("start the delivery threads"),
            ) as Arc<dyn Network>
        },
    )
    .expect("start the cluster")
}

fn latency(c: &mut Criterion, cases: &Mutex<BTreeMap<String, Case>>) {
    let command = Bytes::from_static(COMMAND);
    let delay = link_delay();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = NodeCluster::client_runtime(workers);
    let mut group = c.benchmark_group("latency");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for clients in CLIENTS {
        group.throughput(Throughput::Elements(clients as u64));
        for window in WINDOWS {
            let lateness = Arc::new(Lateness::default());
            let cluster = start_cluster(window, delay, &lateness);
            // The election and the warm-up write are not part of the case.
            lateness.reset();
            let before = cluster.applied();
            let mut written = 0u64;
            let mut latencies = Vec::new();
            group.bench_function(BenchmarkId::new(format!("window-{window}"), clients), |b| {
                b.iter_custom(|iters| {
                    let mut round = cluster
                        .write_tasks(&runtime, clients, iters, &command)
                        .expect("the clients' writes");
                    written += iters * clients as u64;
                    tally::record(&key(clients, window), iters * clients as u64, round.elapsed);
                    latencies.append(&mut round.latencies);
                    round.elapsed
                })
            });
            // Every write acknowledged at the leader reaches every node's service.
            let target = before.iter().max().copied().unwrap_or(0) + written;
            assert!(
                cluster.wait_applied_on_all(target, Duration::from_secs(30)),
                "window {window}: applied {:?}, expected at least {target} on every node",
                cluster.applied()
            );
            let case = Case {
                latencies,
                late_mean: lateness.mean(),
                late_max: lateness.max(),
                messages: lateness.messages(),
                written,
                busy: cluster.busy(),
            };
            cluster.shutdown();
            cases
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key(clients, window), case);
        }
    }
    group.finish();
}

fn millis(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1e3))
}

fn summary(cases: &Mutex<BTreeMap<String, Case>>) {
    let delay = link_delay();
    let round_trip = 2 * delay;
    let mut cases = cases.lock().unwrap_or_else(|p| p.into_inner());
    println!(
        "\npipelining across a link with real latency: {} peers in one process, in-memory \
         storage, every message delayed {} µs one way (writes/s over all timed work; \
         latency from write to applied at the leader, ms; a round trip as delivered is \
         2 × (delay + mean lateness)):",
        peers(),
        delay.as_micros()
    );
    println!(
        "| clients | window | writes/s | p50 ms | p99 ms | p50 / round trip | p50 / round trip as delivered | writes over 1.5 round trips as delivered | writes/s window 4 / window 1 |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for clients in CLIENTS {
        let base = tally::rate(&key(clients, WINDOWS[0])).unwrap_or(f64::NAN);
        for window in WINDOWS {
            let Some(rate) = tally::rate(&key(clients, window)) else {
                continue; // Filtered out.
            };
            let Some(case) = cases.get_mut(&key(clients, window)) else {
                continue;
            };
            let p50 = quantile(&mut case.latencies, 0.5);
            let p99 = quantile(&mut case.latencies, 0.99);
            let in_round_trips =
                p50.map_or(f64::NAN, |p| p.as_secs_f64() / round_trip.as_secs_f64());
            let delivered = 2.0 * (delay + case.late_mean).as_secs_f64();
            let in_delivered = p50.map_or(f64::NAN, |p| p.as_secs_f64() / delivered);
            let over = case
                .latencies
                .iter()
                .filter(|l| l.as_secs_f64() > 1.5 * delivered)
                .count();
            let over = 100.0 * over as f64 / case.latencies.len().max(1) as f64;
            let ratio = if window == WINDOWS[0] {
                String::new()
            } else {
                format!("{:.2}", rate / base)
            };
            println!(
                "| {clients} | {window} | {rate:.0} | {} | {} | {in_round_trips:.2} | {in_delivered:.2} | {over:.0} % | {ratio} |",
                millis(p50),
                millis(p99)
            );
        }
    }
    println!(
        "ideal for 1 client: a commit needs one round trip (2 × {} µs), so at most {:.0} writes/s",
        delay.as_micros(),
        1.0 / round_trip.as_secs_f64()
    );
    for clients in CLIENTS {
        for window in WINDOWS {
            if let Some(case) = cases.get(&key(clients, window)).filter(|c| c.written > 0) {
                println!(
                    "  {clients} client(s), window {window}: {:.1} messages per write; delivered \
                     late by {:.0} µs on average (max {:.2} ms){}",
                    case.messages as f64 / case.written as f64,
                    case.late_mean.as_secs_f64() * 1e6,
                    case.late_max.as_secs_f64() * 1e3,
                    if case.busy > 0 {
                        format!("; {} proposals refused as Busy (retried)", case.busy)
                    } else {
                        String::new()
                    }
                );
            }
        }
    }
}

fn main() {
    let cases = Mutex::new(BTreeMap::new());
    let mut criterion = Criterion::default().configure_from_args();
    latency(&mut criterion, &cases);
    criterion.final_summary();
    summary(&cases);
    println!(
        "(machine: {}; load: {})",
        machine::describe(),
        machine::load()
    );
}

//! Legs of the durable bench's in-memory log-length check, outside criterion, for a profiler
//! (docs/performance.md §8): three `Node`s on in-memory storage (`AppendMemory`) whose logs
//! hold `ENTRIES` entries before they start (`benches/src/prefill.rs`), settled (every
//! node has applied them), then `ROUNDS` rounds of 64 clients × 15 commits, as in
//! `benches/benches/durable.rs`. Prints each round's commits/s and the minor page faults
//! the rounds took.
//!
//! ```sh
//! CARGO_TARGET_DIR=target-bench cargo build --profile bench -p raft-benches --example log_length_profile
//! valgrind --tool=callgrind target-bench/release/examples/log_length_profile 100000 20
//! ```
//!
//! Arguments: `ENTRIES` (default 100 000; a list such as `100000,1000,100000` runs one leg
//! after the other in this process, as the bench does) and `ROUNDS` (default 20; 0
//! measures the start-up alone, to subtract). `RAFT_BENCH_PROFILE_TICK_MS=N` lengthens the node's tick
//! (heartbeats and election timeouts scale with it), so that a leader slowed down by a
//! profiler is not deposed; `RAFT_BENCH_PROFILE_PAUSE_MS=N` leaves each cluster idle that
//! long between the settle and the first round (docs/performance.md §8: the loops' spin
//! back-off after a long catch-up).

use std::time::{Duration, Instant};

use bytes::Bytes;
use raft_benches::append_memory::AppendMemory;
use raft_benches::node_cluster::NodeCluster;
use raft_benches::{example_args, machine, prefill};
use raft_impl::node::NodeConfig;
use raft_impl::storage::Storage;

const PEERS: usize = 3;
const CLIENTS: usize = 64;
const PER_CLIENT: u64 = 15;
/// The durable bench's command.
const COMMAND: &[u8] = b"set key-0 val-00";

fn config(id: usize, servers: usize) -> NodeConfig {
    let config = NodeCluster::config(id, servers);
    match std::env::var("RAFT_BENCH_PROFILE_TICK_MS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        Some(ms) => {
            let scale = (ms / 10).max(1);
            NodeConfig {
                tick: Duration::from_millis(u64::from(ms)),
                heartbeat_interval: config.heartbeat_interval * scale,
                election_timeout_min: config.election_timeout_min * scale,
                election_timeout_max: config.election_timeout_max * scale,
                ..config
            }
        }
        None => config,
    }
}

/// One leg: a fresh cluster holding `entries`, settled, then `rounds` rounds; shut down
/// before it returns (one cluster alive at a time, as in the bench).
fn leg(
    entries: u64,
    rounds: usize,
    runtime: &tokio::runtime::Runtime,
    command: &Bytes,
) -> Result<(), String> {
    let mut storages = Vec::new();
    for _ in 0..PEERS {
        let mut storage = AppendMemory::new();
        prefill::prefill(&mut storage, entries, command).map_err(|e| format!("prefill: {e}"))?;
        storages.push(Box::new(storage) as Box<dyn Storage>);
    }
    let started = Instant::now();
    let cluster = NodeCluster::start(storages, config)?;
    if !cluster.wait_applied_on_all(entries, Duration::from_secs(600)) {
        return Err(format!("not settled: {:?}", cluster.applied()));
    }
    let settled = started.elapsed();
    if let Some(ms) = std::env::var("RAFT_BENCH_PROFILE_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
    let faults = machine::minor_faults();
    let mut rates = Vec::new();
    for _ in 0..rounds {
        let r = cluster.write_tasks(runtime, CLIENTS, PER_CLIENT, command)?;
        rates.push((CLIENTS as u64 * PER_CLIENT) as f64 / r.elapsed.as_secs_f64());
    }
    let faults = machine::minor_faults().zip(faults).map(|(a, b)| a - b);
    println!(
        "{entries:>7} entries: settled in {settled:.2?}; rounds (K commits/s) {:?}; {faults:?} minor faults",
        rates.iter().map(|r| (r / 1e3) as u64).collect::<Vec<_>>(),
    );
    cluster.shutdown();
    Ok(())
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let legs: Vec<u64> = args
        .next()
        .unwrap_or_else(|| "100000".into())
        .split(',')
        .map(|a| a.trim().parse().map_err(|e| format!("ENTRIES: {e}")))
        .collect::<Result<_, _>>()?;
    let rounds = example_args::count(&mut args, 20, "ROUNDS")?;
    let command = Bytes::from_static(COMMAND);
    let runtime =
        NodeCluster::client_runtime(std::thread::available_parallelism().map_or(2, |n| n.get()));
    for entries in legs {
        leg(entries, rounds, &runtime, &command)?;
    }
    println!("load {}", machine::load());
    Ok(())
}

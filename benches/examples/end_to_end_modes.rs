//! Fresh in-memory clusters with their event loops as tasks, one after the other, each
//! measured for a few rounds of 64 clients (the `end_to_end/ours-tasks/64` case of
//! docs/performance.md §7, outside criterion): prints every cluster's commits/s with what
//! may tell a slow cluster from a fast one — the CPU time of each thread of the process,
//! the leader's syncs (with `sync_on_loop`, one per loop iteration that wrote), and the
//! nodes' counters.
//!
//! ```sh
//! CARGO_TARGET_DIR=target-bench cargo run --profile bench -p raft-benches --example end_to_end_modes -- 10 20
//! ```
//!
//! Arguments: `CLUSTERS` (default 10), `ROUNDS` per cluster (default 20) of 64 clients × 50
//! writes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use raft_benches::node_cluster::NodeCluster;
use raft_benches::{example_args, machine};

const PEERS: usize = 3;
const CLIENTS: usize = 64;
const PER_CLIENT: u64 = 50;
const COMMAND: &[u8] = b"set key-0 val-00";

/// CPU time (user + system, clock ticks) of every thread of this process, by thread name
/// and id (`/proc/self/task/*/stat`).
fn thread_times() -> BTreeMap<(String, u32), (u64, u64)> {
    let mut times = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return times;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let tid = stat[..open].trim().parse().unwrap_or(0);
        // After the name: state is field 3; utime and stime are fields 14 and 15.
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let ticks = fields
            .get(11)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0);
        // Context switches (`status`): a worker that parks switches voluntarily.
        let switches = std::fs::read_to_string(task.path().join("status"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("ctxt_switches"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
        times.insert((name, tid), (ticks, switches));
    }
    times
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let clusters = example_args::count(&mut args, 10, "CLUSTERS")?;
    let rounds = example_args::count(&mut args, 20, "ROUNDS")?;
    let command = Bytes::from_static(COMMAND);
    let runtime = NodeCluster::client_runtime(2);
    for cluster_no in 0..clusters {
        let cluster = NodeCluster::start_memory_tasks(PEERS, &runtime)?;
        std::thread::sleep(Duration::from_millis(200));
        let leader = cluster.leader_id();
        let before = cluster.status();
        let cpu = thread_times();
        let started = Instant::now();
        let mut rates = Vec::new();
        for _ in 0..rounds {
            let r = cluster.write_tasks(&runtime, CLIENTS, PER_CLIENT, &command)?;
            rates.push((CLIENTS as u64 * PER_CLIENT) as f64 / r.elapsed.as_secs_f64());
        }
        let wall = started.elapsed();
        let slow: Vec<String> = rates
            .iter()
            .enumerate()
            .filter(|(_, r)| **r < 100e3)
            .map(|(i, r)| {
                format!(
                    "#{i} {:.1} ms",
                    (CLIENTS as u64 * PER_CLIENT) as f64 / r * 1e3
                )
            })
            .collect();
        let after = cluster.status();
        let cpu_after = thread_times();
        let commits = CLIENTS as u64 * PER_CLIENT * rounds as u64;
        let mut sorted = rates.clone();
        sorted.sort_by(f64::total_cmp);
        let syncs: Vec<u64> = after
            .iter()
            .zip(&before)
            .map(|(a, b)| a.syncs - b.syncs)
            .collect();
        println!(
            "cluster {cluster_no}: leader {leader}, median {:.0} K commits/s (min {:.0}, max {:.0}), {:.0} ms; syncs per node {syncs:?} ({:.1} commits per leader sync)",
            sorted[sorted.len() / 2] / 1e3,
            sorted[0] / 1e3,
            sorted[sorted.len() - 1] / 1e3,
            wall.as_secs_f64() * 1e3,
            commits as f64 / syncs[leader].max(1) as f64,
        );
        let mut busy: Vec<String> = cpu_after
            .iter()
            .filter_map(|(key, t)| {
                let (t0, s0) = cpu.get(key).copied().unwrap_or((0, 0));
                let used = t.0 - t0;
                let switched = t.1 - s0;
                (used > 0).then(|| format!("{}/{}: {used} ticks {switched} switches", key.0, key.1))
            })
            .collect();
        busy.sort();
        println!(
            "  terms {:?} -> {:?}; rounds under 100 K commits/s: {slow:?}",
            before.iter().map(|s| s.state.term).collect::<Vec<_>>(),
            after.iter().map(|s| s.state.term).collect::<Vec<_>>()
        );
        let blocks: Vec<u64> = rates
            .chunks(10)
            .map(|c| (c.len() as f64 / c.iter().map(|r| 1.0 / r).sum::<f64>() / 1e3) as u64)
            .collect();
        println!("  K commits/s per 10 rounds: {blocks:?}");
        println!("  thread CPU (ticks of 10 ms): {}", busy.join(", "));
        cluster.shutdown();
    }
    println!("load {}", machine::load());
    Ok(())
}

//! Heap allocations per committed write in the `end_to_end/ours-tasks` setup (three
//! in-process nodes on in-memory storage, their event loops tasks on a 2-worker tokio
//! runtime, clients as tasks calling `Node::write`; docs/performance.md §7, "Allocations per
//! commit"). A counting global allocator wraps the system one; the counts cover the whole
//! process — the three nodes, the clients and the runtime — over the measured rounds only
//! (after the cluster started and warmed up), divided by the writes committed.
//!
//! ```sh
//! CARGO_TARGET_DIR=target-bench cargo run --profile bench -p raft-benches --example alloc_count -- 3 20
//! ```
//!
//! Arguments: `CLUSTERS` (default 3), `ROUNDS` per cluster and case (default 20); a round
//! is 64 clients × 50 writes, or one client × 500 writes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use raft_benches::node_cluster::NodeCluster;
use raft_benches::{example_args, machine};

const PEERS: usize = 3;
const COMMAND: &[u8] = b"set key-0 val-00";

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting every allocation (a `realloc` counts as one, as it is a
/// call into malloc that may move the block) and the bytes asked for.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's own arguments, so `Counting`
// upholds `GlobalAlloc`'s contract exactly as `System` does; the counters are atomics that
// never allocate. `unsafe` is unavoidable: `GlobalAlloc` is an unsafe trait.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(
            new_size.saturating_sub(layout.size()) as u64,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counts() -> (u64, u64, u64) {
    (
        ALLOCS.load(Ordering::Relaxed),
        REALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    )
}

/// Runs `rounds` rounds of `clients` × `per_client` writes and prints the allocations per
/// committed write, with the commits/s of the median round.
fn measure(
    cluster: &NodeCluster,
    runtime: &tokio::runtime::Runtime,
    clients: usize,
    per_client: u64,
    rounds: usize,
    command: &Bytes,
) -> Result<(f64, f64), String> {
    // One round first, so that the queues and buffers have grown to their working size.
    cluster.write_tasks(runtime, clients, per_client, command)?;
    let before = counts();
    let mut rates = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let round = cluster.write_tasks(runtime, clients, per_client, command)?;
        rates.push((clients as u64 * per_client) as f64 / round.elapsed.as_secs_f64());
    }
    let after = counts();
    let commits = (clients as u64 * per_client * rounds as u64) as f64;
    rates.sort_by(f64::total_cmp);
    let allocs = (after.0 - before.0) as f64 / commits;
    println!(
        "  {clients:>2} clients: {allocs:.1} allocations + {:.2} reallocs, {:.0} bytes per commit; median {:.0} K commits/s",
        (after.1 - before.1) as f64 / commits,
        (after.2 - before.2) as f64 / commits,
        rates[rates.len() / 2] / 1e3,
    );
    Ok((allocs, rates[rates.len() / 2]))
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let clusters = example_args::count(&mut args, 3, "CLUSTERS")?;
    let rounds = example_args::count(&mut args, 20, "ROUNDS")?;
    let command = Bytes::from_static(COMMAND);
    let runtime = NodeCluster::client_runtime(2);
    for cluster_no in 0..clusters {
        let started = Instant::now();
        let cluster = NodeCluster::start_memory_tasks(PEERS, &runtime)?;
        std::thread::sleep(Duration::from_millis(200));
        println!(
            "cluster {cluster_no} (leader {}, started in {:.0} ms):",
            cluster.leader_id(),
            started.elapsed().as_secs_f64() * 1e3
        );
        measure(&cluster, &runtime, 64, 50, rounds, &command)?;
        measure(&cluster, &runtime, 1, 500, rounds.div_ceil(4), &command)?;
        cluster.shutdown();
    }
    println!("load {}", machine::load());
    Ok(())
}

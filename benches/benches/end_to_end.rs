//! End to end in one process (docs/performance.md, "End to end, ours vs openraft"): three
//! peers, in-memory storage, in-process transport, N concurrent clients each writing one
//! command at a time at the leader until it is applied there; writes/s for N = 1, 64, 256.
//!
//! - **ours**: `raft_impl::node::Node` × 3 on an in-memory storage that appends in place
//!   (`benches/src/append_memory.rs`; `RAFT_BENCH_MEMORY_STORAGE=1` uses
//!   `raft_impl::storage::MemoryStorage` instead, whose sync copies the whole log), messages
//!   encoded and handed to the target's `Node::receive` (`benches/src/node_cluster.rs`);
//!   the nodes sync on their loops (`NodeConfig::sync_on_loop`: in-memory storage;
//!   `RAFT_BENCH_STORAGE_WORKER=1` keeps the storage worker); a client is a tokio task
//!   awaiting `Node::write(..)` on a runtime of as many workers as openraft's
//!   (`RAFT_BENCH_CLIENT_THREADS=1`: an OS thread calling `propose(..)` then
//!   `Proposal::wait()`).
//! - **openraft** 0.9 (crates.io, pinned): `Raft` × 3 on one tokio runtime with an in-memory
//!   log store, a counting state machine and a function-call network, as openraft's cluster
//!   benchmark builds them (`benches/src/openraft_peer/`); a client is a tokio task calling
//!   `client_write(..).await`.
//!
//! Both sides write the same 16-byte command. For each client count the two clusters run one
//! after the other in the same binary; the summary prints writes/s over all timed work and
//! the ratio ours / openraft.
//!
//! `RAFT_BENCH_OPENRAFT_WORKERS=N` sets the tokio runtimes' worker threads, openraft's and
//! our clients' (default: the number of logical CPUs).
//!
//! `RAFT_BENCH_HOGS=N` runs N threads that only burn CPU for the whole run, both sides
//! alike: other work keeping the CPUs busy, as on a shared server (docs/performance.md §7,
//! "Under co-located load").

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use raft_benches::node_cluster::NodeCluster;
use raft_benches::openraft_peer::OpenraftCluster;
use raft_benches::{machine, tally};

const CLIENTS: [usize; 3] = [1, 64, 256];
const PEERS: usize = 3;
/// The command both sides write (16 bytes).
const COMMAND: &[u8] = b"set key-0 val-00";

fn openraft_workers() -> usize {
    std::env::var("RAFT_BENCH_OPENRAFT_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// `RAFT_BENCH_CLIENT_THREADS=1`: our clients are OS threads calling `propose` then
/// `Proposal::wait` (the blocking API) instead of tasks awaiting `Node::write`.
fn thread_clients() -> bool {
    std::env::var_os("RAFT_BENCH_CLIENT_THREADS").is_some()
}

fn key(side: &str, clients: usize) -> String {
    format!("end_to_end/{side}/{clients}")
}

fn end_to_end(c: &mut Criterion) {
    let command = Bytes::from_static(COMMAND);
    let workers = openraft_workers();
    // Our clients' runtime: as many workers as openraft's (the nodes' own threads are
    // outside it).
    let runtime = NodeCluster::client_runtime(workers);
    let mut group = c.benchmark_group("end_to_end");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for clients in CLIENTS {
        group.throughput(Throughput::Elements(clients as u64));

        let ours = if std::env::var_os("RAFT_BENCH_MEMORY_STORAGE").is_some() {
            NodeCluster::start_memory_storage(PEERS)
        } else {
            NodeCluster::start_memory(PEERS)
        }
        .expect("start our cluster");
        run_ours(&mut group, OURS, ours, &runtime, clients, &command);

        let tasks = NodeCluster::start_memory_tasks(PEERS, &runtime).expect("start our cluster");
        run_ours(&mut group, OURS_TASKS, tasks, &runtime, clients, &command);

        let openraft = OpenraftCluster::start(PEERS, workers).expect("start openraft");
        let mut written = 0u64;
        group.bench_function(BenchmarkId::new("openraft", clients), |b| {
            b.iter_custom(|iters| {
                let elapsed = openraft.write(clients, iters, &command);
                written += iters * clients as u64;
                tally::record(&key("openraft", clients), iters * clients as u64, elapsed);
                elapsed
            })
        });
        assert!(
            openraft.wait_applied_on_all(written, Duration::from_secs(30)),
            "openraft: applied {:?}, expected {written} on every node",
            openraft.applied()
        );
        openraft.shutdown();
    }
    group.finish();
}

/// Our side's name: nodes with a loop thread each (the default), and with their loops as
/// tasks on the clients' runtime (`NodeConfig::spawn_loop`).
const OURS: &str = "ours";
const OURS_TASKS: &str = "ours-tasks";

/// Measures `ours` as case `side`, checks that every acknowledged write reached every
/// node's service, and shuts it down.
fn run_ours(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    side: &str,
    ours: NodeCluster,
    runtime: &tokio::runtime::Runtime,
    clients: usize,
    command: &Bytes,
) {
    let mut written = 0u64;
    let before = ours.applied();
    if thread_clients() {
        let pool = ours.clients(clients, command.clone());
        group.bench_function(BenchmarkId::new(side, clients), |b| {
            b.iter_custom(|iters| {
                let round = pool.run(iters).expect("our clients' writes");
                written += iters * clients as u64;
                tally::record(&key(side, clients), iters * clients as u64, round.elapsed);
                round.elapsed
            })
        });
    } else {
        group.bench_function(BenchmarkId::new(side, clients), |b| {
            b.iter_custom(|iters| {
                let elapsed = ours
                    .write_tasks(runtime, clients, iters, command)
                    .expect("our clients' writes")
                    .elapsed;
                written += iters * clients as u64;
                tally::record(&key(side, clients), iters * clients as u64, elapsed);
                elapsed
            })
        });
    }
    // Every write acknowledged at the leader reaches every node's service.
    let target = before.iter().max().copied().unwrap_or(0) + written;
    assert!(
        ours.wait_applied_on_all(target, Duration::from_secs(30)),
        "{side}: applied {:?}, expected at least {target} on every node",
        ours.applied()
    );
    let busy = ours.busy();
    ours.shutdown();
    if busy > 0 {
        println!(
            "end_to_end, {side}, {clients} client(s): {busy} proposals refused as Busy (retried)"
        );
    }
}

fn summary() {
    println!(
        "\nend to end, 3 peers in one process, in-memory storage (writes/s over all timed work):"
    );
    println!(
        "| clients | ours (loop threads) | ours (loop tasks) | openraft | threads / openraft | tasks / openraft |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for clients in CLIENTS {
        let ours = tally::rate(&key(OURS, clients)).unwrap_or(f64::NAN);
        let tasks = tally::rate(&key(OURS_TASKS, clients)).unwrap_or(f64::NAN);
        let openraft = tally::rate(&key("openraft", clients)).unwrap_or(f64::NAN);
        println!(
            "| {clients} | {ours:.0} | {tasks:.0} | {openraft:.0} | {:.2} | {:.2} |",
            ours / openraft,
            tasks / openraft
        );
    }
    println!(
        "(openraft on a tokio runtime of {} worker threads)",
        openraft_workers()
    );
}

/// `RAFT_BENCH_HOGS=N`: N threads that keep a CPU busy each until the returned flag is set.
fn start_hogs() -> (Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let hogs: usize = std::env::var("RAFT_BENCH_HOGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let threads = (0..hogs)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    if hogs > 0 {
        println!("end_to_end: {hogs} busy thread(s) running throughout (RAFT_BENCH_HOGS)");
    }
    (stop, threads)
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let (stop_hogs, hogs) = start_hogs();
    end_to_end(&mut criterion);
    stop_hogs.store(true, Ordering::Relaxed);
    for hog in hogs {
        let _ = hog.join();
    }
    criterion.final_summary();
    summary();
    println!(
        "(machine: {}; load: {})",
        machine::describe(),
        machine::load()
    );
}

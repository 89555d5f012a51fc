//! Durable end to end (docs/performance.md, "Durable"): three `Node`s on
//! `raft_impl::storage::DiskStorage` in temporary directories on one file system, 64
//! clients each writing at the leader and waiting until applied, one at a time (a client is
//! a tokio task awaiting `Node::write`, as in the end_to_end bench).
//!
//! One run measures, in order:
//! 1. the fsync floor of that file system (`benches/src/fsync_floor.rs`): 4 KiB + fdatasync,
//!    in place, appended, and three streams in parallel — three times through the run
//!    (before, between and after the cases), keeping the lowest median;
//! 2. the non-disk part of a commit: the commit latency of the same cluster on
//!    `MemoryStorage` with 1 client;
//! 3. commits/s and p50/p99 commit latency with 64 clients (criterion, `durable/commit/64`);
//! 4. the log-length check: a cluster whose log already holds 100 000 entries against one
//!    with 1 000, 21 rounds of 64 × 15 commits taken in turn (after every node has applied
//!    the prefilled log), median of rounds; then the same
//!    on in-memory storage (append in place) as a control;
//!
//! and prints the group-commit bound `clients / (fsync floor + in-memory commit latency)`,
//! with the lowest median floor of any variant and window
//! beside the measured throughput (docs/performance.md explains the bound).
//!
//! `RAFT_BENCH_DIR=/some/dir` puts the storages and the floor's files there (default: the
//! temp dir).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use raft_benches::append_memory::AppendMemory;
use raft_benches::clients::quantile;
use raft_benches::fsync_floor::{self, Floor};
use raft_benches::node_cluster::NodeCluster;
use raft_benches::{machine, prefill, tally};
use raft_impl::storage::{DiskOptions, DiskStorage, Storage, StorageError};

const PEERS: usize = 3;
const CLIENTS: usize = 64;
/// The command every client writes (16 bytes, as in the end_to_end bench).
const COMMAND: &[u8] = b"set key-0 val-00";
/// The two log lengths of the log-length check.
const SHORT_LOG: u64 = 1_000;
const LONG_LOG: u64 = 100_000;

/// The clients' tokio runtime (as many workers as CPUs, as in the end_to_end bench): a
/// client is a task awaiting `Node::write`.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        NodeCluster::client_runtime(std::thread::available_parallelism().map_or(2, |n| n.get()))
    })
}

fn bench_dir() -> PathBuf {
    std::env::var_os("RAFT_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// Opens a fresh disk storage in `dir` holding `entries` entries of `command`: created,
/// filled, synced, closed and opened again (a storage reports what it held when opened).
fn disk_storage(dir: &Path, entries: u64, command: &Bytes) -> Result<Box<dyn Storage>, String> {
    let fail = |what: &str, e: StorageError| format!("{what} {}: {e}", dir.display());
    let mut storage =
        DiskStorage::create(dir, DiskOptions::default()).map_err(|e| fail("create", e))?;
    prefill::prefill(&mut storage, entries, command).map_err(|e| fail("prefill", e))?;
    drop(storage);
    let storage = DiskStorage::open(dir, DiskOptions::default()).map_err(|e| fail("open", e))?;
    Ok(Box::new(storage))
}

/// The log-length check's control: the same prefilled log on in-memory storage that
/// appends in place, to tell the storage's share from the runtime's.
fn memory_cluster(entries: u64, command: &Bytes) -> Result<DiskCluster, String> {
    let mut storages = Vec::new();
    for _ in 0..PEERS {
        let mut storage = AppendMemory::new();
        prefill::prefill(&mut storage, entries, command).map_err(|e| format!("prefill: {e}"))?;
        storages.push(Box::new(storage) as Box<dyn Storage>);
    }
    let cluster = NodeCluster::start(storages, NodeCluster::config)?;
    settle(&cluster, entries)?;
    Ok(DiskCluster {
        cluster,
        _dirs: Vec::new(),
    })
}

/// Waits until every node has applied the prefilled entries (committed by the leader's
/// first entry), so no timed round shares the CPUs with that backlog.
fn settle(cluster: &NodeCluster, entries: u64) -> Result<(), String> {
    if cluster.wait_applied_on_all(entries, Duration::from_secs(120)) {
        Ok(())
    } else {
        Err(format!(
            "the prefilled {entries} entries were not applied everywhere: {:?}",
            cluster.applied()
        ))
    }
}

/// A cluster on disk storages in temporary directories (removed when dropped).
struct DiskCluster {
    cluster: NodeCluster,
    _dirs: Vec<tempfile::TempDir>,
}

impl DiskCluster {
    fn start(entries: u64, command: &Bytes) -> Result<DiskCluster, String> {
        let mut dirs = Vec::new();
        let mut storages = Vec::new();
        for id in 0..PEERS {
            let dir = tempfile::Builder::new()
                .prefix(&format!("raft-bench-durable-{id}-"))
                .tempdir_in(bench_dir())
                .map_err(|e| format!("temp dir: {e}"))?;
            storages.push(disk_storage(dir.path(), entries, command)?);
            dirs.push(dir);
        }
        let cluster = NodeCluster::start(storages, NodeCluster::config)?;
        settle(&cluster, entries)?;
        Ok(DiskCluster {
            cluster,
            _dirs: dirs,
        })
    }

    fn shutdown(self) {
        self.cluster.shutdown();
    }
}

/// Everything the summary prints.
#[derive(Default)]
struct Results {
    overwrite: Option<Floor>,
    append: Option<Floor>,
    parallel: Option<Floor>,
    memory_commit: Option<Duration>,
    commit_p50: Option<Duration>,
    commit_p99: Option<Duration>,
    commits_per_sync: Option<f64>,
    short_log: Option<f64>,
    long_log: Option<f64>,
    short_log_memory: Option<f64>,
    long_log_memory: Option<f64>,
    errors: Vec<String>,
}

/// Keeps the lower median of `old` and `new`: the floor is the best the disk shows in the
/// run (other work on the machine only ever adds to it), which makes the bound strictest.
fn lower(old: Option<Floor>, new: Floor) -> Option<Floor> {
    match old {
        Some(old) if old.p50 <= new.p50 => Some(old),
        _ => Some(new),
    }
}

/// Measures the three floors once more, keeping the lowest median of each so far.
fn floors(results: &mut Results, samples: usize) {
    let dir = match tempfile::Builder::new()
        .prefix("raft-bench-fsync-")
        .tempdir_in(bench_dir())
    {
        Ok(dir) => dir,
        Err(e) => return results.errors.push(format!("fsync floor: temp dir: {e}")),
    };
    match fsync_floor::overwrite(dir.path(), samples) {
        Ok(f) => results.overwrite = lower(results.overwrite, f),
        Err(e) => results.errors.push(format!("fsync floor (overwrite): {e}")),
    }
    match fsync_floor::append(dir.path(), samples) {
        Ok(f) => results.append = lower(results.append, f),
        Err(e) => results.errors.push(format!("fsync floor (append): {e}")),
    }
    match fsync_floor::overwrite_parallel(dir.path(), PEERS, samples) {
        Ok(f) => results.parallel = lower(results.parallel, f),
        Err(e) => results.errors.push(format!("fsync floor (parallel): {e}")),
    }
}

/// The commit latency of the in-memory cluster with one client: everything a commit costs
/// but the disk.
fn memory_commit(results: &mut Results, writes: u64, command: &Bytes) {
    let cluster = match NodeCluster::start_memory(PEERS) {
        Ok(c) => c,
        Err(e) => return results.errors.push(format!("memory cluster: {e}")),
    };
    match cluster.write_tasks(runtime(), 1, writes, command) {
        Ok(mut round) => results.memory_commit = quantile(&mut round.latencies, 0.5),
        Err(e) => results.errors.push(format!("memory cluster writes: {e}")),
    }
    cluster.shutdown();
}

fn durable_commits(c: &mut Criterion, results: &mut Results, command: &Bytes) {
    let disk = match DiskCluster::start(SHORT_LOG, command) {
        Ok(d) => d,
        Err(e) => return results.errors.push(format!("durable cluster: {e}")),
    };
    let syncs_before: u64 = disk.cluster.leader().status().syncs;
    let mut latencies = Vec::new();
    let mut written = 0u64;
    let mut group = c.benchmark_group("durable");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(CLIENTS as u64));
    group.bench_function(BenchmarkId::new("commit", CLIENTS), |b| {
        b.iter_custom(|iters| {
            let round = disk
                .cluster
                .write_tasks(runtime(), CLIENTS, iters, command)
                .expect("durable writes");
            written += iters * CLIENTS as u64;
            latencies.extend_from_slice(&round.latencies);
            tally::record("durable/commit", iters * CLIENTS as u64, round.elapsed);
            round.elapsed
        })
    });
    group.finish();
    let syncs = disk.cluster.leader().status().syncs - syncs_before;
    results.commit_p50 = quantile(&mut latencies, 0.5);
    results.commit_p99 = quantile(&mut latencies, 0.99);
    results.commits_per_sync = (syncs > 0).then(|| written as f64 / syncs as f64);
    disk.shutdown();
}

/// Rounds of `CLIENTS × per_client` commits on a short-log and a long-log cluster, taken in
/// turn; the median commits/s of each.
fn log_length(
    results: &mut Results,
    rounds: usize,
    per_client: u64,
    command: &Bytes,
    on_disk: bool,
) {
    let clusters = [SHORT_LOG, LONG_LOG].map(|entries| {
        if on_disk {
            DiskCluster::start(entries, command)
        } else {
            memory_cluster(entries, command)
        }
    });
    let [Ok(short), Ok(long)] = clusters else {
        for c in clusters {
            match c {
                Ok(c) => c.shutdown(),
                Err(e) => results.errors.push(format!("log-length cluster: {e}")),
            }
        }
        return;
    };
    let clusters = [&short.cluster, &long.cluster];
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    // One untimed round each first.
    let mut failed = None;
    for round in 0..=rounds {
        // The order flips every round, so a drift in the machine's load falls on both.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            match clusters[i].write_tasks(runtime(), CLIENTS, per_client, command) {
                Ok(r) if round > 0 => {
                    rates[i].push((CLIENTS as u64 * per_client) as f64 / r.elapsed.as_secs_f64())
                }
                Ok(_) => {}
                Err(e) => failed = Some(e),
            }
        }
    }
    if let Some(e) = failed {
        results.errors.push(format!("log-length writes: {e}"));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let rates = (median(&mut rates[0]), median(&mut rates[1]));
    if on_disk {
        (results.short_log, results.long_log) = rates;
    } else {
        (results.short_log_memory, results.long_log_memory) = rates;
    }
    short.shutdown();
    long.shutdown();
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("—".into(), |d| format!("{:.3} ms", d.as_secs_f64() * 1e3))
}

fn summary(r: &Results) {
    println!(
        "\ndurable, 3 peers on DiskStorage in {}, {CLIENTS} clients:",
        bench_dir().display()
    );
    for (name, floor) in [
        ("overwrite 4 KiB + fdatasync", r.overwrite),
        ("append 4 KiB + fdatasync", r.append),
        ("overwrite, 3 streams in parallel", r.parallel),
    ] {
        match floor {
            Some(f) => println!(
                "  fsync floor, {name}: p50 {} p99 {} ({} samples)",
                ms(Some(f.p50)),
                ms(Some(f.p99)),
                f.samples
            ),
            None => println!("  fsync floor, {name}: not measured"),
        }
    }
    println!(
        "  in-memory commit latency, 1 client (p50): {}",
        ms(r.memory_commit)
    );
    let rate = tally::rate("durable/commit");
    match rate {
        Some(rate) => println!(
            "  durable commits/s: {rate:.0}; commit latency p50 {} p99 {}; {:.1} commits per leader sync",
            ms(r.commit_p50),
            ms(r.commit_p99),
            r.commits_per_sync.unwrap_or(f64::NAN)
        ),
        None => println!("  durable commits/s: not measured"),
    }
    // The floor of the bound: the lowest median of any variant in any window, the best the
    // disk showed in this run (a strict bound: other load only adds to a sync).
    let floor = [r.overwrite, r.append, r.parallel]
        .into_iter()
        .flatten()
        .map(|f| f.p50)
        .min();
    if let (Some(floor), Some(memory)) = (floor, r.memory_commit) {
        let bound = CLIENTS as f64 / (floor + memory).as_secs_f64();
        println!(
            "  group-commit bound {CLIENTS} / (fsync floor {} + in-memory commit {}) = {bound:.0} commits/s",
            ms(Some(floor)),
            ms(Some(memory))
        );
        if let Some(rate) = rate {
            println!(
                "  measured / bound = {:.2} (target >= 0.50: {})",
                rate / bound,
                if rate / bound >= 0.5 { "met" } else { "MISSED" }
            );
        }
    }
    match (r.short_log, r.long_log) {
        (Some(short), Some(long)) => println!(
            "  log-length check: {SHORT_LOG} entries {short:.0} commits/s, {LONG_LOG} entries {long:.0} commits/s, ratio {:.2} (target within 10%: {})",
            long / short,
            if (long / short - 1.0).abs() <= 0.10 { "met" } else { "MISSED" }
        ),
        _ => println!("  log-length check: not measured"),
    }
    if let (Some(short), Some(long)) = (r.short_log_memory, r.long_log_memory) {
        println!(
            "  log-length control, in-memory storage: {SHORT_LOG} entries {short:.0} commits/s, {LONG_LOG} entries {long:.0} commits/s, ratio {:.2}",
            long / short
        );
    }
    for e in &r.errors {
        println!("  NOT MEASURED: {e}");
    }
}

fn main() {
    let test_mode = machine::test_mode();
    let command = Bytes::from_static(COMMAND);
    let load_before = machine::load();
    let mut results = Results::default();
    // The floor is measured three times through the run (other work on the machine makes
    // it vary by 10x); the lowest median of each variant is kept.
    let samples = if test_mode { 10 } else { 300 };
    floors(&mut results, samples);
    memory_commit(&mut results, if test_mode { 20 } else { 2_000 }, &command);
    let mut criterion = Criterion::default().configure_from_args();
    durable_commits(&mut criterion, &mut results, &command);
    criterion.final_summary();
    floors(&mut results, samples);
    let (rounds, per_client) = if test_mode { (1, 2) } else { (21, 15) };
    log_length(&mut results, rounds, per_client, &command, true);
    if !test_mode {
        log_length(&mut results, rounds, per_client, &command, false);
    }
    floors(&mut results, samples);
    summary(&results);
    println!(
        "(machine: {}; load before: {load_before}, after: {})",
        machine::describe(),
        machine::load()
    );
}

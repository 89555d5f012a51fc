//! raft-kv against etcd (docs/performance.md, "raft-kv against etcd"): a 3-node etcd and a
//! 3-node raft-kv, each as three server processes on 127.0.0.1 with their data on the same
//! disk and fsync on, driven by the same compiled client code: N client threads (1, 16, 64),
//! each putting a 128-byte value to a new key, one put at a time (a closed loop). For each
//! N, the two systems run one after the other in the same run; the summary prints puts/s,
//! p50 and p99 latency, the ratio raft-kv / etcd, and the CPU the clients and the servers
//! used per put.
//!
//! - **etcd** 3.4 (Debian's `etcd-server`; `scripts/install-etcd.sh`), defaults (its WAL is
//!   fsynced on every commit), over its JSON gateway: `POST /v3/kv/put` with base64 key and
//!   value, HTTP/1.1 keep-alive (ureq), to the leader.
//! - **raft-kv**: `raft-kv server` × 3 (the `raft-kv` binary next to this bench, or
//!   `RAFT_KV_BIN`) on the disk storage, with raft-kv's client library (leader discovery).
//!
//! That the client is not the limit is shown twice: the CPU time this process (all client
//! threads) used per put, and the same client code against servers that answer at once
//! (`instant_servers.rs`).
//!
//! Under `cargo test` (criterion's test mode) every step runs once, and what cannot run is
//! skipped with the reason (etcd not installed, raft-kv binary not built).
//!
//! Environment: `RAFT_BENCH_ETCD_SECONDS` (measurement time per system and client count,
//! default 10), `RAFT_BENCH_ETCD_DIR` (where the data directories go; default the target
//! directory's `tmp`, on the disk the build is on), `RAFT_KV_BIN`,
//! `RAFT_BENCH_ETCD_SYSTEMS` (`etcd`, `raft-kv` or both, comma-separated; default both),
//! `RAFT_BENCH_ETCD_BIN` (the etcd program; default `etcd`).

mod etcd_cluster;
mod instant_servers;
mod kv_cluster;
mod processes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use raft_benches::clients::{quantile, ClientPool};
use raft_benches::machine;

use crate::etcd_cluster::{EtcdClient, EtcdCluster};
use crate::instant_servers::{InstantHttp, InstantKv};
use crate::kv_cluster::KvCluster;
use crate::processes::{file_system_of, own_cpu_time};

/// Concurrent clients.
const CLIENTS: [usize; 3] = [1, 16, 64];
/// Bytes of every value put.
const VALUE_BYTES: usize = 128;

/// A client that can put: the one operation of the workload.
pub trait Putter: Send {
    /// Sets `key` to `value`, returning once the system acknowledged it.
    fn put(&mut self, key: &str, value: &str) -> Result<(), String>;
}

/// What one (system, client count) measured over all timed rounds.
#[derive(Default)]
struct Measured {
    puts: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// CPU time of this process (the client threads) over the timed rounds.
    client_cpu: Duration,
    /// CPU time of the system's server processes over the timed rounds.
    server_cpu: Duration,
}

static RESULTS: Mutex<BTreeMap<(&'static str, usize), Measured>> = Mutex::new(BTreeMap::new());

fn results() -> std::sync::MutexGuard<'static, BTreeMap<(&'static str, usize), Measured>> {
    RESULTS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The value every put writes: 128 printable bytes.
fn value() -> String {
    (0..VALUE_BYTES)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

fn measurement_time() -> Duration {
    let seconds = std::env::var("RAFT_BENCH_ETCD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    Duration::from_secs(seconds)
}

/// Runs the closed loop of `clients` threads, each with its own client from `connect`,
/// under criterion, and records puts, latencies and CPU time under `(system, clients)`.
fn measure(
    group: &mut BenchmarkGroup<'_, WallTime>,
    system: &'static str,
    clients: usize,
    connect: &dyn Fn() -> Box<dyn Putter>,
    server_cpu: &dyn Fn() -> Duration,
) {
    let connections: Arc<Vec<Mutex<Box<dyn Putter>>>> =
        Arc::new((0..clients).map(|_| Mutex::new(connect())).collect());
    let value = value();
    let pool = {
        let connections = Arc::clone(&connections);
        ClientPool::new(
            clients,
            Arc::new(move |client: usize, seq: u64| {
                // A new key every put, never reused within a run.
                let key = format!("bench/{clients}/{client:02}/{seq:09}");
                connections[client]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .put(&key, &value)
            }),
        )
    };
    // Connections, leader discovery: before the timed work.
    if let Err(error) = pool.run(if machine::test_mode() { 1 } else { 20 }) {
        panic!("{system}, {clients} client(s): warm-up: {error}");
    }
    let mut measured = Measured::default();
    group.throughput(Throughput::Elements(clients as u64));
    group.bench_function(BenchmarkId::new(system, clients), |b| {
        b.iter_custom(|iters| {
            // CPU time is taken around each round only: criterion's own analysis between
            // benchmarks runs in this process too and is not the client's work.
            let (cpu_before, server_before) = (own_cpu_time().unwrap_or_default(), server_cpu());
            let round = pool
                .run(iters)
                .unwrap_or_else(|error| panic!("{system}, {clients} client(s): {error}"));
            measured.client_cpu += own_cpu_time()
                .unwrap_or_default()
                .saturating_sub(cpu_before);
            measured.server_cpu += server_cpu().saturating_sub(server_before);
            measured.puts += iters * clients as u64;
            measured.elapsed += round.elapsed;
            measured.latencies.extend(round.latencies);
            round.elapsed
        })
    });
    drop(pool);
    // Nothing measured when a filter on the command line left this benchmark out.
    if measured.puts > 0 {
        results().insert((system, clients), measured);
    }
}

/// Whether `system` is among `RAFT_BENCH_ETCD_SYSTEMS` (comma-separated; default both).
fn selected(system: &str) -> bool {
    std::env::var("RAFT_BENCH_ETCD_SYSTEMS")
        .map_or(true, |list| list.split(',').any(|s| s.trim() == system))
}

/// Where the data directories go: on the disk, not a RAM file system.
fn data_root() -> PathBuf {
    std::env::var_os("RAFT_BENCH_ETCD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
}

/// The last lines of every log under `dir`, to explain a failed start.
fn log_tails(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "log") {
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            text.push_str(&format!("--- {}\n", path.display()));
            for line in &lines[lines.len().saturating_sub(10)..] {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(measurement_time())
        // The plots' density estimates take seconds of CPU per benchmark on a small machine.
        .without_plots()
        .configure_from_args();
    let test_mode = machine::test_mode();
    let load_before = machine::load();
    let mut notes: Vec<String> = Vec::new();

    // The clusters' data directories, removed at the end (declared first: dropped last).
    let root = data_root();
    std::fs::create_dir_all(&root).expect("create the data root");
    let dir = tempfile::Builder::new()
        .prefix("bench-etcd-")
        .tempdir_in(&root)
        .expect("create the bench's data directory");
    let (etcd_dir, kv_dir) = (dir.path().join("etcd"), dir.path().join("raft-kv"));
    std::fs::create_dir_all(&etcd_dir).expect("create etcd's data directory");
    std::fs::create_dir_all(&kv_dir).expect("create raft-kv's data directory");
    let file_system = file_system_of(dir.path());
    if matches!(file_system.as_str(), "tmpfs" | "ramfs") {
        // fsync on a RAM file system costs nothing: the comparison would not be of durable
        // writes.
        notes.push(format!(
            "WARNING: the data directories are on {file_system}, not a disk: set RAFT_BENCH_ETCD_DIR"
        ));
    }

    let etcd_version = etcd_cluster::version();
    let etcd = match &etcd_version {
        _ if !selected("etcd") => None,
        None => {
            notes.push(format!(
                "etcd: SKIPPED: etcd not installed (`{}` not found): run scripts/install-etcd.sh",
                etcd_cluster::program().to_string_lossy()
            ));
            None
        }
        Some(_) => match EtcdCluster::start(&etcd_dir) {
            Ok(cluster) => Some(cluster),
            Err(error) => panic!("etcd did not start: {error}\n{}", log_tails(&etcd_dir)),
        },
    };
    let binary = kv_cluster::binary();
    let kv = if !selected("raft-kv") {
        None
    } else if binary.is_file() {
        match KvCluster::start(&binary, &kv_dir) {
            Ok(cluster) => Some(cluster),
            Err(error) => panic!("raft-kv did not start: {error}\n{}", log_tails(&kv_dir)),
        }
    } else {
        notes.push(format!(
            "raft-kv: SKIPPED: no raft-kv binary at {}: build it with \
             `cargo build --release -p raft-kv` (scripts/bench-etcd.sh does) or set RAFT_KV_BIN",
            binary.display()
        ));
        None
    };

    {
        let mut group = criterion.benchmark_group("etcd_vs_raft_kv");
        for (round, clients) in CLIENTS.into_iter().enumerate() {
            // Alternate which system goes first, so neither always runs on the fresher
            // machine state.
            for side in [round % 2, 1 - round % 2] {
                match (side, &etcd, &kv) {
                    (0, Some(etcd), _) => measure(
                        &mut group,
                        "etcd",
                        clients,
                        &|| Box::new(etcd.client()),
                        &|| etcd.cpu_time(),
                    ),
                    (1, _, Some(kv)) => measure(
                        &mut group,
                        "raft-kv",
                        clients,
                        &|| Box::new(kv.client()),
                        &|| kv.cpu_time(),
                    ),
                    _ => {}
                }
            }
        }
        group.finish();
    }
    let load_after = machine::load();
    drop(etcd);
    drop(kv);

    // The client alone: the same client code against servers that answer at once.
    {
        let mut group = criterion.benchmark_group("client_alone");
        group.measurement_time(measurement_time() / 3);
        let http = InstantHttp::start().expect("start the instant HTTP server");
        let kv = InstantKv::start().expect("start the instant raft-kv server");
        for clients in CLIENTS {
            let url = http.base_url();
            measure(
                &mut group,
                "instant-http",
                clients,
                &|| Box::new(EtcdClient::new(&url)),
                &Duration::default,
            );
            let address = kv.address();
            measure(
                &mut group,
                "instant-kv",
                clients,
                &|| Box::new(raft_kv::Client::new(vec![address])),
                &Duration::default,
            );
        }
        group.finish();
    }
    criterion.final_summary();

    if test_mode {
        // One put per client and step: nothing to report but that every step worked.
        let done: Vec<String> = results()
            .iter()
            .map(|((system, clients), m)| format!("{system}/{clients}: {} puts", m.puts))
            .collect();
        println!(
            "\nraft-kv against etcd, test mode: ran once each: {}",
            done.join(", ")
        );
        for note in &notes {
            println!("{note}");
        }
        println!("(no figures in test mode: `scripts/bench-etcd.sh` runs the measurement)");
        return;
    }
    summary(&SummaryContext {
        etcd_version: etcd_version.as_deref().unwrap_or("not installed"),
        binary: &binary,
        data: dir.path(),
        file_system: &file_system,
        load_before: &load_before,
        load_after: &load_after,
    });
    for note in &notes {
        println!("{note}");
    }
}

struct SummaryContext<'a> {
    etcd_version: &'a str,
    binary: &'a Path,
    data: &'a Path,
    file_system: &'a str,
    load_before: &'a str,
    load_after: &'a str,
}

fn millis(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1e3))
}

/// One (system, client count)'s figures.
struct Row {
    rate: f64,
    p50: Option<Duration>,
    p99: Option<Duration>,
    /// Microseconds of CPU per put: the client threads, the servers.
    client_us: f64,
    server_us: f64,
}

fn row(system: &'static str, clients: usize) -> Option<Row> {
    let mut results = results();
    let measured = results.get_mut(&(system, clients))?;
    let per_put = |cpu: Duration| cpu.as_secs_f64() * 1e6 / measured.puts.max(1) as f64;
    Some(Row {
        rate: measured.puts as f64 / measured.elapsed.as_secs_f64().max(1e-9),
        p50: quantile(&mut measured.latencies, 0.50),
        p99: quantile(&mut measured.latencies, 0.99),
        client_us: per_put(measured.client_cpu),
        server_us: per_put(measured.server_cpu),
    })
}

fn summary(context: &SummaryContext<'_>) {
    println!("\nraft-kv against etcd: 3 server processes each on 127.0.0.1, fsync on, puts of {VALUE_BYTES}-byte values to new keys, closed loop");
    println!("| clients | etcd puts/s | etcd p50 ms | etcd p99 ms | raft-kv puts/s | raft-kv p50 ms | raft-kv p99 ms | puts/s raft-kv / etcd | p99 raft-kv / etcd |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut cpu_rows = Vec::new();
    for clients in CLIENTS {
        let etcd = row("etcd", clients);
        let kv = row("raft-kv", clients);
        let cell = |r: &Option<Row>| match r {
            Some(r) => format!("{:.0} | {} | {}", r.rate, millis(r.p50), millis(r.p99)),
            None => "- | - | -".into(),
        };
        let ratio = match (&etcd, &kv) {
            (Some(e), Some(k)) => {
                let p99 = match (e.p99, k.p99) {
                    (Some(e), Some(k)) => format!("{:.2}", k.as_secs_f64() / e.as_secs_f64()),
                    _ => "-".into(),
                };
                format!("{:.2} | {p99}", k.rate / e.rate)
            }
            _ => "- | -".into(),
        };
        println!("| {clients} | {} | {} | {ratio} |", cell(&etcd), cell(&kv));
        for (system, r) in [("etcd", &etcd), ("raft-kv", &kv)] {
            if let Some(r) = r {
                cpu_rows.push(format!(
                    "| {system} | {clients} | {:.1} | {:.1} % | {:.1} |",
                    r.client_us,
                    r.client_us * r.rate / 1e4,
                    r.server_us
                ));
            }
        }
    }
    println!("\nCPU per put (client: this process, all client threads; server: the three server processes together):");
    println!(
        "| system | clients | client CPU µs/put | client CPU, % of one core | server CPU µs/put |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for line in cpu_rows {
        println!("{line}");
    }
    println!("\nthe client alone: the same client code against a server in this process that answers at once (puts/s):");
    println!("| clients | etcd client (HTTP/JSON) | raft-kv client |");
    println!("| ---: | ---: | ---: |");
    for clients in CLIENTS {
        let rate =
            |system| row(system, clients).map_or_else(|| "-".into(), |r| format!("{:.0}", r.rate));
        let (http, kv) = (rate("instant-http"), rate("instant-kv"));
        println!("| {clients} | {http} | {kv} |");
    }
    println!(
        "\n(etcd: {}; raft-kv: {}; data in {} ({}); machine: {}; load before: {}, after the clusters' runs: {})",
        context.etcd_version,
        context.binary.display(),
        context.data.display(),
        context.file_system,
        machine::describe(),
        context.load_before,
        context.load_after,
    );
}

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
//! Both sides write the same 16-byte command. The binary runs two parts:
//! 1. `criterion`: for each client count one cluster per side, measured by criterion one
//!    after the other (`end_to_end/ours/64`, ...); the summary prints writes/s over all
//!    timed work and the ratio ours / openraft. One cluster a side: its ratio compares one
//!    draw of each side's level of throughput (a fresh cluster settles into one of a few
//!    levels and mostly stays there, docs/performance.md §7), so it is no verdict.
//! 2. `pairs`, the paired check ([`paired`]): for each client count, pairs of legs, each
//!    leg a fresh cluster (ours with loop tasks, openraft; optionally ours with loop
//!    threads), settled,
//!    then untimed and timed rounds, its figure the median round's writes/s; the ratios of
//!    each pair summarized on logarithms (`benches/src/paired_ratio.rs`), with the A/A
//!    control of `benches/src/paired_legs.rs`, and a verdict on "ours ≥ 1.0× openraft".
//!
//! `RAFT_BENCH_E2E_PARTS=criterion,pairs` runs only the parts named (default both);
//! `RAFT_BENCH_E2E_PAIRS=N` sets the pairs per client count (default [`PAIRS`]; 1 under
//! `cargo test --benches`); `RAFT_BENCH_E2E_CLIENTS=1,64` the paired check's client counts
//! (default 1, 64, 256); `RAFT_BENCH_E2E_THREADS=1` adds legs of ours with loop threads
//! (default: ours with loop tasks against openraft only).
//!
//! `RAFT_BENCH_OPENRAFT_WORKERS=N` sets the tokio runtimes' worker threads, openraft's and
//! our clients' (default: the number of logical CPUs).
//!
//! `RAFT_BENCH_HOGS=N` runs N threads that only burn CPU for the whole run, both sides
//! alike: other work keeping the CPUs busy, as on a shared server (docs/performance.md §7,
//! "Under co-located load").

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use raft_benches::node_cluster::NodeCluster;
use raft_benches::openraft_peer::OpenraftCluster;
use raft_benches::paired_legs::{self, Legs};
use raft_benches::paired_ratio::summarize;
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

/// Pairs of legs per client count in the paired check ([`paired`]), unless
/// `RAFT_BENCH_E2E_PAIRS=N`.
const PAIRS: usize = 12;

/// How long a leg's fresh cluster stays idle once it has a leader (and, ours, committed an
/// entry of its term), before its first round: as the durable bench's `QUIET`, twice the
/// event loop's spin back-off (100 ms, `SPIN_BACKOFF` in `impl/src/node/event_loop.rs`), so
/// a back-off the start-up's bursts set off has ended; openraft's legs wait alike.
const QUIET: Duration = Duration::from_millis(200);

/// A paired check's legs: which sides, how many pairs, the rounds of each leg and their
/// size.
#[derive(Clone, Copy)]
struct Shape {
    pairs: usize,
    /// Untimed rounds first (the clients' first writes, the pipeline filling), then timed.
    warm_rounds: usize,
    timed_rounds: usize,
    quiet: Duration,
    /// Whether the loop-thread legs run (`RAFT_BENCH_E2E_THREADS=1`). Off by default: the
    /// target is about the loop tasks, two sides take half the time, and with three sides
    /// a pair's order (threads, tasks, openraft, then reversed) put the A/A control's
    /// estimate at 256 clients at 1.04–1.20 in four runs of four, its interval above 1.00
    /// in two (docs/performance.md §7, "Paired legs"); with two sides it contained 1.00 in
    /// all three runs made.
    threads: bool,
}

impl Shape {
    fn from_env() -> Shape {
        let test_mode = machine::test_mode();
        Shape {
            pairs: std::env::var("RAFT_BENCH_E2E_PAIRS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(if test_mode { 1 } else { PAIRS }),
            warm_rounds: if test_mode { 1 } else { 2 },
            timed_rounds: if test_mode { 1 } else { 8 },
            quiet: if test_mode {
                Duration::from_millis(10)
            } else {
                QUIET
            },
            threads: std::env::var("RAFT_BENCH_E2E_THREADS")
                .is_ok_and(|v| !v.is_empty() && v != "0"),
        }
    }

    /// The sides of a pair, in the order of an even pair (odd pairs reverse it,
    /// `paired_legs::order`): ours with loop tasks in the middle, so that in every pair it
    /// runs right before or right after openraft, and in turn before and after it.
    fn sides(&self) -> Vec<Side> {
        if self.threads {
            vec![Side::Threads, Side::Tasks, Side::Openraft]
        } else {
            vec![Side::Tasks, Side::Openraft]
        }
    }

    /// Writes per client per round: 8 192 writes a round at 64 and 256 clients, 1 000 at
    /// one (each round some 10–50 ms at the rates of §7, so a leg's ten rounds take under
    /// a second); 2 under `cargo test --benches`.
    fn per_client(&self, clients: usize) -> u64 {
        if machine::test_mode() {
            2
        } else {
            (8192 / clients as u64).clamp(16, 1000)
        }
    }
}

/// The clusters a paired check compares.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    /// Ours, every node's event loop a task on the clients' runtime (`OURS_TASKS`).
    Tasks,
    /// Ours, a thread per event loop (`OURS`).
    Threads,
    Openraft,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Tasks => OURS_TASKS,
            Side::Threads => OURS,
            Side::Openraft => "openraft",
        }
    }
}

/// One client count's paired check.
struct Check {
    clients: usize,
    sides: Vec<Side>,
    legs: Legs,
    elapsed: Duration,
}

/// `RAFT_BENCH_E2E_CLIENTS=1,64`: the paired check's client counts (default [`CLIENTS`];
/// under `cargo test --benches` 64 only: each of our legs waits for an election, 0.3–0.6 s,
/// and the test run of the check must stay within a second or two).
fn paired_clients() -> Vec<usize> {
    std::env::var("RAFT_BENCH_E2E_CLIENTS")
        .ok()
        .map(|v| v.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| {
            if machine::test_mode() {
                vec![64]
            } else {
                CLIENTS.to_vec()
            }
        })
}

/// The paired check at every client count; a count whose legs failed is reported and
/// left out (the others still run).
fn paired_checks() -> Vec<Check> {
    let shape = Shape::from_env();
    let command = Bytes::from_static(COMMAND);
    let mut checks = Vec::new();
    for clients in paired_clients() {
        match paired(clients, shape, &command) {
            Ok(check) => checks.push(check),
            Err(e) => {
                println!("end_to_end, paired check at {clients} client(s): NOT MEASURED: {e}")
            }
        }
    }
    checks
}

/// The paired check at `clients` clients: `shape.pairs` pairs of legs ([`leg`]), one per
/// side, back to back, the order reversing every pair (`benches/src/paired_legs.rs`; only
/// one cluster is ever alive). Each pair's legs are printed as they finish.
///
/// Why: a fresh cluster of either side settles into a level of throughput and mostly
/// stays there for seconds (at 64 clients with loop tasks about 270 000, 420 000 or
/// 600 000 commits/s, `benches/examples/end_to_end_modes.rs`), so the criterion part, one
/// cluster a side, compares one draw with one draw: six runs of it read tasks / openraft
/// from 0.65 to 1.21 at 64 clients within twenty minutes. Fresh clusters per leg make the
/// draws independent, and the estimate over many pairs sees through them.
fn paired(clients: usize, shape: Shape, command: &Bytes) -> Result<Check, String> {
    let started = Instant::now();
    let sides = shape.sides();
    let per_client = shape.per_client(clients);
    println!(
        "\nend_to_end, paired check, {clients} client(s): {} pairs of fresh clusters ({}), {} untimed + {} timed rounds of {clients} × {per_client} writes a leg",
        shape.pairs,
        sides.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "),
        shape.warm_rounds,
        shape.timed_rounds
    );
    let legs = paired_legs::run(
        shape.pairs,
        sides.len(),
        |side, _pair| leg(sides[side], clients, per_client, shape, command),
        |pair, rates| {
            let legs: Vec<String> = sides
                .iter()
                .zip(rates)
                .map(|(side, rate)| format!("{} {rate:.0}", side.name()))
                .collect();
            println!("  pair {pair:2}: {} writes/s", legs.join(", "));
        },
    )?;
    Ok(Check {
        clients,
        sides,
        legs,
        elapsed: started.elapsed(),
    })
}

/// One leg: a fresh cluster of `side` (with its own tokio runtime), [`Shape::quiet`] idle
/// once it has a leader, `shape.warm_rounds` untimed and `shape.timed_rounds` timed rounds
/// of `clients × per_client` writes; the median timed round's writes/s. Before the cluster
/// is shut down, every write acknowledged at the leader must have reached every node's
/// state machine.
fn leg(
    side: Side,
    clients: usize,
    per_client: u64,
    shape: Shape,
    command: &Bytes,
) -> Result<f64, String> {
    let workers = openraft_workers();
    let writes = clients as u64 * per_client;
    let rounds = shape.warm_rounds + shape.timed_rounds;
    let mut rates = Vec::with_capacity(shape.timed_rounds);
    let mut record = |round: usize, elapsed: Duration| {
        if round >= shape.warm_rounds {
            rates.push(writes as f64 / elapsed.as_secs_f64());
        }
    };
    if side == Side::Openraft {
        let cluster = OpenraftCluster::start(PEERS, workers)?;
        std::thread::sleep(shape.quiet);
        for round in 0..rounds {
            // `write` panics on a failed write: no faults are injected, so there is none to
            // tolerate.
            record(round, cluster.write(clients, per_client, command));
        }
        let written = writes * rounds as u64;
        let reached = cluster.wait_applied_on_all(written, Duration::from_secs(30));
        let applied = cluster.applied();
        cluster.shutdown();
        if !reached {
            return Err(format!(
                "openraft: applied {applied:?}, expected {written} on every node"
            ));
        }
    } else {
        let runtime = NodeCluster::client_runtime(workers);
        let cluster = if side == Side::Tasks {
            NodeCluster::start_memory_tasks(PEERS, &runtime)
        } else {
            threads_cluster()
        }?;
        std::thread::sleep(shape.quiet);
        let before = cluster.applied().into_iter().max().unwrap_or(0);
        let mut result = Ok(());
        for round in 0..rounds {
            match cluster.write_tasks(&runtime, clients, per_client, command) {
                Ok(r) => record(round, r.elapsed),
                Err(e) => {
                    result = Err(format!("{}: writes: {e}", side.name()));
                    break;
                }
            }
        }
        if result.is_ok() {
            let target = before + writes * rounds as u64;
            if !cluster.wait_applied_on_all(target, Duration::from_secs(30)) {
                result = Err(format!(
                    "{}: applied {:?}, expected at least {target} on every node",
                    side.name(),
                    cluster.applied()
                ));
            }
        }
        cluster.shutdown();
        runtime.shutdown_timeout(Duration::from_secs(5));
        result?;
    }
    Ok(paired_legs::median(&rates))
}

/// Ours with loop threads as the criterion part starts it (`RAFT_BENCH_MEMORY_STORAGE=1`:
/// on `MemoryStorage`).
fn threads_cluster() -> Result<NodeCluster, String> {
    if std::env::var_os("RAFT_BENCH_MEMORY_STORAGE").is_some() {
        NodeCluster::start_memory_storage(PEERS)
    } else {
        NodeCluster::start_memory(PEERS)
    }
}

/// The paired checks' summary: per client count, each side's median leg, the ratios ours /
/// openraft (estimate, interval, quartiles), the A/A control and the verdicts.
fn paired_summary(checks: &[Check]) {
    println!(
        "\nend to end, paired check (fresh clusters, pairs back to back, order reversing; writes/s = median of a leg's timed rounds):"
    );
    for check in checks {
        println!(
            "  {} client(s), {:.0} s:",
            check.clients,
            check.elapsed.as_secs_f64()
        );
        let medians: Vec<String> = check
            .sides
            .iter()
            .enumerate()
            .map(|(i, side)| format!("{} {:.0}", side.name(), check.legs.median(i)))
            .collect();
        println!("    median of legs: {} writes/s", medians.join(", "));
        let control = summarize(&check.legs.same);
        match &control {
            Some(c) => println!(
                "    A/A control (one side's legs back to back where pairs meet): {}",
                paired_legs::describe(c)
            ),
            None => println!("    A/A control: no two legs of one side met (one pair)"),
        }
        // The control's meetings by side: one side's position effect (slower or faster as
        // the first leg of a pair) moves the control, while the ratios below, whose order
        // alternates, only widen.
        let by_side: Vec<String> = check
            .sides
            .iter()
            .enumerate()
            .filter_map(|(i, side)| {
                let mine: Vec<f64> = check
                    .legs
                    .same
                    .iter()
                    .zip(&check.legs.same_sides)
                    .filter(|(_, &s)| s == i)
                    .map(|(r, _)| *r)
                    .collect();
                (!mine.is_empty()).then(|| {
                    format!(
                        "{} {:.3} ({} meetings)",
                        side.name(),
                        paired_legs::median(&mine),
                        mine.len()
                    )
                })
            })
            .collect();
        if !by_side.is_empty() {
            println!("      median by side: {}", by_side.join(", "));
        }
        let Some(openraft) = check.sides.iter().position(|&s| s == Side::Openraft) else {
            continue;
        };
        // The target's ratio first, then the loop threads' for comparison.
        for side in [Side::Tasks, Side::Threads] {
            let Some(i) = check.sides.iter().position(|&s| s == side) else {
                continue;
            };
            let Some(ratio) = summarize(&check.legs.ratios(i, openraft)) else {
                println!("    {} / openraft: no pair", side.name());
                continue;
            };
            let name = format!("{} / openraft", side.name());
            println!("    {name}: {}", paired_legs::describe(&ratio));
            println!(
                "      ≥ 1.00 ({}): {}",
                if side == Side::Tasks {
                    "the target"
                } else {
                    "loop threads, for comparison"
                },
                paired_legs::verdict_at_least(1.0, &name, &ratio, control.as_ref())
            );
        }
    }
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

/// `RAFT_BENCH_E2E_PARTS`: whether part `name` runs (see the module docs).
fn part(name: &str) -> bool {
    match std::env::var("RAFT_BENCH_E2E_PARTS") {
        Ok(parts) => parts.split(',').any(|p| p.trim() == name),
        Err(_) => true,
    }
}

fn main() {
    let load_before = machine::load();
    let (stop_hogs, hogs) = start_hogs();
    let mut criterion = Criterion::default().configure_from_args();
    if part("criterion") {
        end_to_end(&mut criterion);
    }
    let checks = if part("pairs") {
        paired_checks()
    } else {
        Vec::new()
    };
    stop_hogs.store(true, Ordering::Relaxed);
    for hog in hogs {
        let _ = hog.join();
    }
    criterion.final_summary();
    if part("criterion") {
        summary();
    }
    if part("pairs") {
        paired_summary(&checks);
    }
    println!(
        "(machine: {}; load before: {load_before}, after: {})",
        machine::describe(),
        machine::load()
    );
}

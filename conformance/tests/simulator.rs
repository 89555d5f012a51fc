//! The deterministic simulator over 10,000 seeds (each 1,000 events with every fault on),
//! plus 2,500 seeds with faults ten times as often, checking the safety invariants after
//! every event. Split into tests so the harness runs them on both cores. `SIM_SEED=n` runs only seed `n` (3 and 5 servers);
//! `SIM_SEEDS=m` changes how many seeds each test runs.

use std::time::Instant;

use raft_conformance::sim::{run, run_checked, BadSnapshots, SimConfig};

const EVENTS: usize = 1_000;
const SEEDS_PER_TEST: u64 = 2_500;

fn seeds(block: u64) -> std::ops::Range<u64> {
    if let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        return seed..seed + 1;
    }
    let per = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEEDS_PER_TEST);
    block * per..(block + 1) * per
}

fn run_block(block: u64, servers: usize) {
    run_block_with(block, SimConfig::faulty(servers, EVENTS));
}

fn run_block_with(block: u64, config: SimConfig) {
    run_seeds(block, seeds(block), config);
}

fn run_seeds(block: u64, seeds: std::ops::Range<u64>, config: SimConfig) {
    let servers = config.servers;
    let start = Instant::now();
    let (mut runs, mut ticks, mut events, mut committed) = (0u64, 0u64, 0usize, 0usize);
    let mut failures = Vec::new();
    for seed in seeds {
        let result = run_checked(seed, &config);
        assert!(result.events >= EVENTS || result.violation.is_some());
        runs += 1;
        ticks += result.ticks;
        events += result.events;
        committed += result.committed;
        if let Some(v) = result.violation {
            failures.push(format!(
                "seed {seed} event {} {:?}: {}\n  replay: SIM_SEED={seed} cargo test -p raft-conformance \
                 --test simulator, or cargo run -p raft-conformance --release --bin raft-sim -- \
                 --seed {seed} --servers {servers}{}",
                v.event_number,
                v.event,
                v.message,
                if config.crash > SimConfig::faulty(servers, EVENTS).crash { " --stormy" } else { "" }
            ) + &if config.max_inflight_appends > 1 {
                format!(" --window {}", config.max_inflight_appends)
            } else {
                String::new()
            });
        }
    }
    let wall = start.elapsed().as_secs_f64();
    println!(
        "simulator block {block}: {runs} runs x {EVENTS} events, {servers} servers, {events} events, \
         {committed} entries committed; simulated {:.0} s (10 ms ticks) in {wall:.2} s wall; {} failing",
        ticks as f64 / 100.0,
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn seeds_block_0_three_servers() {
    run_block(0, 3);
}

#[test]
fn seeds_block_1_three_servers() {
    run_block(1, 3);
}

#[test]
fn seeds_block_2_five_servers() {
    run_block(2, 5);
}

#[test]
fn seeds_block_3_five_servers() {
    run_block(3, 5);
}

/// Beyond the 10,000: faults ten times as often (`SimConfig::stormy`).
#[test]
fn seeds_block_4_three_servers_stormy() {
    run_block_with(4, SimConfig::stormy(3, EVENTS));
}

/// Small batches: leaders send at most 4 entries per AppendEntries, so catching up takes
/// several round trips, interleaved with faults (the shipped cap of 512 rarely binds in
/// 1,000-event runs).
#[test]
fn seeds_block_5_three_servers_four_entries_per_message() {
    let config = SimConfig {
        max_entries_per_message: 4,
        ..SimConfig::faulty(3, EVENTS)
    };
    let mut seeds = seeds(5);
    if std::env::var("SIM_SEEDS").is_err() {
        // A fifth of a block: the other blocks already cover the rest of the behaviour.
        seeds.end = seeds.start + (seeds.end - seeds.start).min(500);
    }
    run_seeds(5, seeds, config);
}

/// Pipelined replication (`max_inflight_appends` 4, rule L5) with small batches: catching
/// up sends several AppendEntries without waiting, and a lost or overtaken one is
/// recovered through a rejection, interleaved with every fault.
#[test]
fn seeds_block_6_three_servers_pipelined() {
    let config = SimConfig {
        max_entries_per_message: 4,
        ..SimConfig::faulty(3, EVENTS).pipelined(4)
    };
    let mut seeds = seeds(6);
    if std::env::var("SIM_SEEDS").is_err() {
        // A fifth of a block, as for block 5.
        seeds.end = seeds.start + (seeds.end - seeds.start).min(500);
    }
    run_seeds(6, seeds, config);
}

/// A run is a pure function of (seed, config): the same seed gives the same trace hash, a
/// different seed (almost surely) a different one.
#[test]
fn a_seed_replays_to_the_identical_trace() {
    let config = SimConfig::faulty(5, EVENTS);
    for seed in [0, 1, 42, 9_999] {
        let first = run(seed, &config, &mut |_, _, _, _| true);
        let second = run(seed, &config, &mut |_, _, _, _| true);
        assert_eq!(first, second, "seed {seed} is not deterministic");
        let other = run(seed + 1, &config, &mut |_, _, _, _| true);
        assert_ne!(first.trace_hash, other.trace_hash, "seed {seed}");
    }
}

/// The runs are not idle: elections, commits, crashes (some losing a leader's unsynced
/// entries) and snapshots all happen.
#[test]
fn runs_exercise_elections_commits_crashes_and_snapshots() {
    let config = SimConfig::faulty(3, EVENTS);
    let results: Vec<_> = (0..50)
        .map(|seed| run(seed, &config, &mut |_, _, _, _| true))
        .collect();
    let committed: usize = results.iter().map(|r| r.committed).sum();
    let crashes: usize = results.iter().map(|r| r.crashes).sum();
    let terms: u64 = results.iter().map(|r| r.max_term).sum();
    let losing: usize = results.iter().map(|r| r.crashes_losing_entries).sum();
    println!(
        "50 runs: {committed} committed, {crashes} crashes ({losing} lost unsynced entries), {terms} summed max terms"
    );
    assert!(committed > 50 * 5, "too few commits: {committed}");
    assert!(crashes > 50, "too few crashes: {crashes}");
    // The durable prefix is exercised: some crashes hit a leader before its sync (§10.2.1).
    assert!(
        losing > 5,
        "too few crashes lose unsynced entries: {losing}"
    );
    assert!(terms > 50 * 2, "too few elections: {terms}");
    let mut snapshots = 0;
    for seed in 0..50 {
        run(seed, &config, &mut |_, cluster, event, _| {
            if let raft_conformance::cluster::Event::Snapshot(i, index) = event {
                snapshots += usize::from(cluster.cores[*i].snapshot_index() == *index);
            }
            true
        });
    }
    assert!(snapshots > 50, "too few snapshots: {snapshots}");
}

/// A service that misuses `snapshot` (`SimConfig::with_bad_snapshots`): the correct core
/// ignores every bad request — none breaks an invariant, none moves its snapshot or writes
/// its disk — over `faulty` and `stormy` runs. Fails if the runs made no bad request of
/// each kind the scheduler can reach (below the snapshot, past commit, past the log's end).
/// `SIM_SEEDS=m` changes the seed count.
#[test]
fn bad_snapshot_requests_are_ignored() {
    let seeds = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000u64);
    let start = Instant::now();
    let mut counts = BadSnapshots::default();
    let mut failures = Vec::new();
    for config in [SimConfig::faulty(3, EVENTS), SimConfig::stormy(3, EVENTS)] {
        let config = config.with_bad_snapshots();
        for seed in 0..seeds {
            let result = run_checked(seed, &config);
            counts.add(&result.bad_snapshots);
            if let Some(v) = result.violation {
                failures.push(format!(
                    "seed {seed} event {} {:?}: {}",
                    v.event_number, v.event, v.message
                ));
            }
        }
    }
    println!(
        "bad snapshots over 2 x {seeds} runs (faulty, stormy; 3 servers) in {:.2} s: {counts:?}, {} issued",
        start.elapsed().as_secs_f64(),
        counts.issued()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        counts.at_or_below_snapshot > 0 && counts.past_commit > 0 && counts.past_log_end > 0,
        "the misusing service did not make every kind of bad request: {counts:?}"
    );
    assert_eq!(
        counts.ignored,
        counts.issued(),
        "the core took a bad snapshot: {counts:?}"
    );
}

/// The option changes nothing unless on: a profile with it off is the profile itself, and
/// with it on the same seed takes a different course (it draws from the same stream).
#[test]
fn bad_snapshots_are_opt_in() {
    for profile in [
        SimConfig::faulty(3, EVENTS),
        SimConfig::stormy(3, EVENTS),
        SimConfig::for_validation(3, EVENTS),
    ] {
        assert_eq!(
            profile.bad_snapshot, 0,
            "a standard profile misuses snapshot"
        );
        let plain = run(7, &profile, &mut |_, _, _, _| true);
        assert_eq!(plain.bad_snapshots, BadSnapshots::default());
        let misusing = run(7, &profile.with_bad_snapshots(), &mut |_, _, _, _| true);
        assert!(misusing.bad_snapshots.issued() > 0);
        assert_ne!(plain.trace_hash, misusing.trace_hash);
    }
}

//! The deterministic simulator over 10,000 seeds (each 1,000 events with every fault on),
//! plus 2,500 seeds with faults ten times as often, checking the safety invariants after
//! every event. Split into tests so the harness runs them on both cores. `SIM_SEED=n` runs only seed `n` (3 and 5 servers);
//! `SIM_SEEDS=m` changes how many seeds each test runs.

use std::time::Instant;

use raft_conformance::sim::{run, run_checked, SimConfig};

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
    let servers = config.servers;
    let start = Instant::now();
    let (mut runs, mut ticks, mut events, mut committed) = (0u64, 0u64, 0usize, 0usize);
    let mut failures = Vec::new();
    for seed in seeds(block) {
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
            ));
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

/// The runs are not idle: elections, commits, crashes and snapshots all happen.
#[test]
fn runs_exercise_elections_commits_crashes_and_snapshots() {
    let config = SimConfig::faulty(3, EVENTS);
    let results: Vec<_> = (0..50)
        .map(|seed| run(seed, &config, &mut |_, _, _, _| true))
        .collect();
    let committed: usize = results.iter().map(|r| r.committed).sum();
    let crashes: usize = results.iter().map(|r| r.crashes).sum();
    let terms: u64 = results.iter().map(|r| r.max_term).sum();
    println!("50 runs: {committed} committed, {crashes} crashes, {terms} summed max terms");
    assert!(committed > 50 * 5, "too few commits: {committed}");
    assert!(crashes > 50, "too few crashes: {crashes}");
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

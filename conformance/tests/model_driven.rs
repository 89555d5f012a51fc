//! Model-driven tests, model -> impl: model paths replayed on real cores, the mapped core
//! state compared with the model's after every action. `DRIVE_SEED=n` changes the seed of
//! the random walks (printed on failure).

use std::time::Instant;

use raft_conformance::drive::{default_bound, explore, random_walks, small_bound, snapshot_bound};

fn seed() -> u64 {
    std::env::var("DRIVE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

#[test]
fn every_action_from_every_small_model_state_replays_on_the_cores() {
    let start = Instant::now();
    let depth = 12;
    let stats = explore(small_bound(), depth, 0).unwrap_or_else(|m| {
        panic!("path {:?}\n{}", m.path, m.why);
    });
    println!(
        "bounded exhaustive (small bound, depth {depth}): {} states expanded, {} actions replayed \
         ({} model actions with compositions), {} states at the depth bound, {} eager actions skipped, {:.2} s\ncoverage: {:?}",
        stats.states,
        stats.replayed,
        stats.model_actions,
        stats.paths,
        stats.unreplayable,
        start.elapsed().as_secs_f64(),
        stats.coverage
    );
    assert!(stats.replayed > 1_000);
    assert_eq!(
        stats.unreplayable, 0,
        "the cores left a BecomeLeader/AdvanceCommitIndex enabled"
    );
}

#[test]
fn random_walks_at_the_default_bound_replay_on_the_cores() {
    let start = Instant::now();
    let seed = seed();
    let (walks, length) = (2_000, 60);
    let stats = random_walks(default_bound(), walks, length, seed).unwrap_or_else(|m| {
        panic!(
            "seed {seed}: path {:?}\n{}\n  replay: DRIVE_SEED={seed} cargo test -p raft-conformance --test model_driven",
            m.path, m.why
        );
    });
    println!(
        "random walks (default bound, seed {seed}): {} walks, {} actions replayed ({} model actions \
         with compositions), {:.2} s\ncoverage: {:?}",
        stats.paths,
        stats.replayed,
        stats.model_actions,
        start.elapsed().as_secs_f64(),
        stats.coverage
    );
    assert_eq!(stats.paths, walks);
    // Every action with a core input is replayed (BecomeLeader and AdvanceCommitIndex are
    // taken eagerly by the cores, inside the replayed steps).
    let missing: Vec<_> = raft_conformance::mapping::ACTION_NAMES
        .iter()
        .filter(|n| !matches!(**n, "BecomeLeader" | "AdvanceCommitIndex"))
        .filter(|n| !stats.coverage.contains_key(*n))
        .collect();
    assert!(missing.is_empty(), "never replayed: {missing:?}");
    assert_eq!(
        stats.unreplayable, 0,
        "the cores left a BecomeLeader/AdvanceCommitIndex enabled"
    );
}

/// A second bound, chosen so that a follower falls behind a leader's snapshot within the
/// depth: every interleaving of one election, two proposals and a compaction.
#[test]
fn every_action_from_every_snapshot_bound_state_replays_on_the_cores() {
    let start = Instant::now();
    let depth = 15;
    let stats = explore(snapshot_bound(), depth, 0).unwrap_or_else(|m| {
        panic!("path {:?}\n{}", m.path, m.why);
    });
    println!(
        "bounded exhaustive (snapshot bound, depth {depth}): {} states expanded, {} actions replayed \
         ({} model actions with compositions), {:.2} s\ncoverage: {:?}",
        stats.states,
        stats.replayed,
        stats.model_actions,
        start.elapsed().as_secs_f64(),
        stats.coverage
    );
    for kind in [
        "Receive(InstallSnapshot)",
        "Receive(InstallSnapshotReply)",
        "Snapshot",
    ] {
        assert!(stats.coverage.contains_key(kind), "{kind} never replayed");
    }
    assert_eq!(stats.unreplayable, 0);
}

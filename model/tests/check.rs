//! Whole-model checks: the main job's bound holds exhaustively, symmetry reduction changes
//! the state count but never a verdict, and the state count is pinned where runs are
//! deterministic (single-threaded, no symmetry).

use raft_model::check::{run, CheckOptions, Completion, StopWhen, Strategy, Verdict};
use raft_model::{Bug, Config, RaftModel};

fn small() -> Config {
    Config {
        max_term: 2,
        max_requests: 1,
        max_crashes: 1,
        ..Config::default()
    }
}

fn check(config: Config, symmetry: bool, threads: usize) -> raft_model::check::CheckReport {
    let options = CheckOptions {
        symmetry,
        threads,
        ..CheckOptions::default()
    };
    run(RaftModel::new(config), &options)
}

#[test]
fn the_default_check_holds_exhaustively() {
    let report = check(Config::default(), true, 2);
    for p in &report.properties {
        println!("{:<28} {:?}", p.name, p.verdict);
    }
    println!(
        "{} unique states, depth {}, {:.1}s",
        report.unique_states,
        report.max_depth,
        report.elapsed.as_secs_f64()
    );
    assert_eq!(report.completion, Completion::Exhaustive);
    assert!(report.all_hold());
    assert!(
        report.properties.len() == 12,
        "all twelve properties are checked"
    );
}

#[test]
fn symmetry_reduction_gives_the_same_verdicts_with_fewer_states() {
    let with = check(small(), true, 2);
    let without = check(small(), false, 2);
    assert_eq!(with.completion, Completion::Exhaustive);
    assert_eq!(without.completion, Completion::Exhaustive);
    let verdicts = |r: &raft_model::check::CheckReport| {
        r.properties
            .iter()
            .map(|p| (p.name, p.verdict))
            .collect::<Vec<_>>()
    };
    assert_eq!(verdicts(&with), verdicts(&without));
    assert!(with.all_hold());
    assert!(with.unique_states < without.unique_states);
    println!(
        "symmetry: {} states, without: {}",
        with.unique_states, without.unique_states
    );
}

#[test]
fn symmetry_reduction_still_finds_a_bug() {
    for symmetry in [true, false] {
        let options = CheckOptions {
            symmetry,
            stop_when: StopWhen::Found(Bug::VoteTwice.expected_violation()),
            ..CheckOptions::default()
        };
        let report = run(RaftModel::new(Bug::VoteTwice.bound()), &options);
        let verdict = report
            .property(Bug::VoteTwice.expected_violation())
            .unwrap()
            .verdict;
        assert_eq!(verdict, Verdict::Fail, "symmetry {symmetry}");
    }
}

#[test]
fn bfs_finds_the_shortest_counterexample() {
    // Two candidates of term 1, a voter granting both, and two BecomeLeader steps, with room
    // for only two messages in flight (each Timeout and BecomeLeader sends two, so earlier
    // messages must be delivered or lost first): 12 steps, and no shorter path exists.
    let options = CheckOptions {
        strategy: Strategy::Bfs,
        symmetry: false,
        stop_when: StopWhen::Found(Bug::VoteTwice.expected_violation()),
        ..CheckOptions::default()
    };
    let report = run(RaftModel::new(Bug::VoteTwice.bound()), &options);
    let path = report
        .property("ElectionSafety")
        .unwrap()
        .path
        .clone()
        .unwrap();
    assert_eq!(path.len() - 1, 12);
}

#[test]
fn the_state_count_is_pinned_single_threaded() {
    // A deliberate change to the model's meaning changes this number; update it knowingly.
    let tiny = Config {
        max_term: 1,
        max_requests: 1,
        max_crashes: 0,
        snapshots: false,
        ..Config::default()
    };
    let report = check(tiny, false, 1);
    assert_eq!(report.completion, Completion::Exhaustive);
    assert!(report.all_hold());
    assert_eq!(report.unique_states, PINNED_TINY_STATES);
}

const PINNED_TINY_STATES: usize = 15443;

#[test]
fn pruning_dead_messages_keeps_verdicts_with_fewer_states() {
    let config = |prune_dead_messages| Config {
        max_term: 2,
        max_requests: 1,
        max_crashes: 0,
        prune_dead_messages,
        ..Config::default()
    };
    let pruned = check(config(true), true, 2);
    let full = check(config(false), true, 2);
    assert!(pruned.all_hold() && full.all_hold());
    assert!(pruned.unique_states < full.unique_states);
    println!(
        "pruned: {} states, unpruned: {}",
        pruned.unique_states, full.unique_states
    );
}

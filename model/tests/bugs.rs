//! Every bug variant is caught: at its stated bound the checker finds a counterexample to
//! the property that bug is expected to break (not just any property).

use raft_model::check::{run, CheckOptions, StopWhen, Verdict};
use raft_model::{Bug, RaftModel};

fn assert_caught(bug: Bug) {
    let expected = bug.expected_violation();
    let options = CheckOptions {
        stop_when: StopWhen::Found(expected),
        ..CheckOptions::default()
    };
    let report = run(RaftModel::new(bug.bound()), &options);
    let result = report
        .property(expected)
        .expect("expected property is checked");
    assert_eq!(
        result.verdict,
        Verdict::Fail,
        "bug {} should violate {expected} at its bound ({} states explored)",
        bug.name(),
        report.unique_states
    );
    let path = result.path.as_ref().expect("a counterexample path");
    assert!(path.len() > 1);
    println!(
        "{}: {expected} violated in {} steps",
        bug.name(),
        path.len() - 1
    );
}

#[test]
fn no_election_restriction_breaks_leader_completeness() {
    assert_caught(Bug::NoElectionRestriction);
}

#[test]
fn commit_previous_term_breaks_leader_completeness() {
    assert_caught(Bug::CommitPreviousTerm);
}

#[test]
fn forget_vote_on_restart_breaks_election_safety() {
    assert_caught(Bug::ForgetVoteOnRestart);
}

#[test]
fn vote_twice_breaks_election_safety() {
    assert_caught(Bug::VoteTwice);
}

#[test]
fn truncate_on_every_append_breaks_leader_completeness() {
    assert_caught(Bug::TruncateOnEveryAppend);
}

#[test]
fn accept_stale_reply_breaks_election_safety() {
    assert_caught(Bug::AcceptStaleReply);
}

#[test]
fn install_older_snapshot_breaks_applied_never_regresses() {
    assert_caught(Bug::InstallOlderSnapshot);
}

#[test]
fn restart_without_snapshot_breaks_applied_never_regresses() {
    assert_caught(Bug::RestartWithoutSnapshot);
}

#[test]
fn leader_keeps_leading_breaks_election_safety() {
    assert_caught(Bug::LeaderKeepsLeading);
}

#[test]
fn no_prev_log_check_breaks_log_matching() {
    assert_caught(Bug::NoPrevLogCheck);
}

#[test]
fn snapshot_uncommitted_breaks_snapshot_is_committed_prefix() {
    assert_caught(Bug::SnapshotUncommitted);
}

#[test]
fn every_bug_has_a_test_and_a_distinct_name() {
    let mut names: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Bug::ALL.len());
    assert!(Bug::ALL.len() >= 8);
    for bug in Bug::ALL {
        assert_eq!(Bug::from_name(bug.name()), Some(bug));
    }
}

#[test]
fn the_correct_model_passes_at_the_small_bug_bounds() {
    // The counterexample is the bug's, not the bound's: without the bug the same bound
    // holds exhaustively. (The larger bounds are checked by `examples/bug_bounds.rs`.)
    use raft_model::check::Completion;
    for bug in [
        Bug::NoElectionRestriction,
        Bug::CommitPreviousTerm,
        Bug::ForgetVoteOnRestart,
        Bug::VoteTwice,
        Bug::AcceptStaleReply,
        Bug::LeaderKeepsLeading,
        Bug::SnapshotUncommitted,
    ] {
        let config = raft_model::Config {
            bug: None,
            ..bug.bound()
        };
        let report = run(RaftModel::new(config), &CheckOptions::default());
        assert_eq!(report.completion, Completion::Exhaustive, "{}", bug.name());
        assert!(report.all_hold(), "correct model at {}'s bound", bug.name());
    }
}

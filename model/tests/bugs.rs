//! Every bug variant is caught by the plain default portfolio (the bounds `raft-model
//! check` runs with no bound flags) with the property named for it, and at its small
//! `--quick` bound too. (That the correct model passes the whole portfolio, with pinned
//! state counts, is `tests/check.rs`.)
//!
//! Each variant is checked at the portfolio bound named for it below (the "caught by"
//! column of docs/model.md), with the bug, at that bound's full size, stopping at the first
//! counterexample to the expected property. The bounds before it are not re-run for every
//! variant: they would only show again that an earlier bound misses the bug, which no
//! safety claim rests on, and they were four fifths of this file's time (most variants are
//! inert in `elections` and explored its 257k states each; a variant caught at
//! `stale-leader` explored 2.5M states of earlier bounds first). That the portfolio runner
//! explores every bound before the catching one fully, and names the catching one, is
//! shown through `run_portfolio` itself for one variant
//! (`the_portfolio_runner_stops_at_the_pinned_bound`) and by `tests/cli.rs` for `--bug`.

use raft_model::check::{
    run, run_portfolio, CheckOptions, CheckReport, Completion, Outcome, StopWhen, Verdict,
};
use raft_model::portfolio::default_portfolio;
use raft_model::{Bug, Config, RaftModel};

/// Runs the default portfolio with `bug` through the checker's own portfolio runner (what
/// `raft-model check --bug NAME` runs), each bound stopping at the first counterexample to
/// the bug's expected property; returns the bound that found it.
fn caught_by_portfolio(bug: Bug) -> &'static str {
    let expected = bug.expected_violation();
    let options = CheckOptions {
        stop_when: StopWhen::Found(expected),
        ..CheckOptions::default()
    };
    let bounds = default_portfolio(Some(bug));
    assert!(
        bounds.iter().all(|b| b.config.bug == Some(bug)),
        "every bound carries the bug"
    );
    let report = run_portfolio(&bounds, &options, |_| {}).expect("no portfolio bound is vacuous");
    assert_eq!(report.outcome(), Outcome::Fail, "{}", bug.name());
    let caught = report.caught_by().unwrap_or_else(|| {
        panic!(
            "bug {} is not caught by the default portfolio ({expected})",
            bug.name()
        )
    });
    let result = caught
        .report
        .property(expected)
        .expect("expected property is checked");
    assert_eq!(
        result.verdict,
        Verdict::Fail,
        "bug {}: bound {} fails, but not {expected}",
        bug.name(),
        caught.bound.name
    );
    let path = result.path.as_ref().expect("a counterexample path");
    assert!(path.len() > 1);
    // Every bound before the catching one was explored fully: a bound that misses the bug
    // must say so honestly, not stop early.
    for run in &report.runs[..report.runs.len() - 1] {
        assert_eq!(
            run.report.completion,
            Completion::Exhaustive,
            "{} at {}: a bound that misses the bug must be explored fully",
            bug.name(),
            run.bound.name
        );
    }
    println!(
        "{}: {expected} violated at bound {} in {} steps ({} states, {:.1}s)",
        bug.name(),
        caught.bound.name,
        path.len() - 1,
        caught.report.unique_states,
        report.elapsed.as_secs_f64()
    );
    caught.bound.name
}

/// Checks `config` (which carries `bug`), stopping at the first counterexample to the bug's
/// expected property; fails unless that property is violated. `at` names the bound in the
/// failure message. Returns the report (its counterexample is the expected property's path).
fn assert_caught(config: Config, bug: Bug, at: &str) -> CheckReport {
    let expected = bug.expected_violation();
    let options = CheckOptions {
        stop_when: StopWhen::Found(expected),
        ..CheckOptions::default()
    };
    let report = run(RaftModel::new(config), &options);
    let result = report
        .property(expected)
        .expect("expected property is checked");
    assert_eq!(
        result.verdict,
        Verdict::Fail,
        "bug {} is not caught at {at} ({expected}; {} states explored, {:?})",
        bug.name(),
        report.unique_states,
        report.completion
    );
    report
}

/// The bug's `--quick` bound finds the same property. Skipped (already shown) when the
/// quick bound is the portfolio bound `caught_at` that `caught_at_portfolio_bound` ran.
fn caught_at_quick_bound(bug: Bug, caught_at: &str) {
    if default_portfolio(Some(bug))
        .iter()
        .any(|b| b.name == caught_at && b.config == bug.bound())
    {
        return;
    }
    assert_caught(bug.bound(), bug, "its quick bound");
}

/// Checks `bug` at the default portfolio's bound `bound_name` (the bound exactly as the
/// portfolio runs it, with the bug), stopping at the first counterexample to the bug's
/// expected property; fails unless that property is violated there.
fn caught_at_portfolio_bound(bug: Bug, bound_name: &str) {
    let expected = bug.expected_violation();
    let bounds = default_portfolio(Some(bug));
    let bound = bounds
        .iter()
        .find(|b| b.name == bound_name)
        .unwrap_or_else(|| panic!("no bound {bound_name} in the default portfolio"));
    assert_eq!(bound.config.bug, Some(bug), "the bound carries the bug");
    let at = format!("the default portfolio's bound {bound_name}");
    let report = assert_caught(bound.config.clone(), bug, &at);
    let path = report
        .property(expected)
        .and_then(|result| result.path.as_ref())
        .expect("a counterexample path");
    assert!(path.len() > 1);
    println!(
        "{}: {expected} violated at bound {bound_name} in {} steps ({} states, {:.1}s)",
        bug.name(),
        path.len() - 1,
        report.unique_states,
        report.elapsed.as_secs_f64()
    );
}

macro_rules! bug_tests {
    ($($test:ident => $bug:ident at $bound:literal,)*) => {
        $(
            #[test]
            fn $test() {
                caught_at_portfolio_bound(Bug::$bug, $bound);
                caught_at_quick_bound(Bug::$bug, $bound);
            }
        )*

        #[test]
        fn every_variant_has_a_test_here() {
            let tested = [$(Bug::$bug),*];
            for bug in Bug::ALL {
                assert!(tested.contains(&bug), "{} has no test", bug.name());
            }
        }
    };
}

// The portfolio bound that catches each variant first (docs/model.md, "Bug variants").
bug_tests! {
    no_election_restriction => NoElectionRestriction at "snapshots",
    up_to_date_ignores_term => UpToDateIgnoresTerm at "figure-8",
    up_to_date_ignores_index => UpToDateIgnoresIndex at "snapshots",
    commit_previous_term => CommitPreviousTerm at "figure-8",
    commit_without_majority => CommitWithoutMajority at "snapshots",
    forget_vote_on_restart => ForgetVoteOnRestart at "elections",
    forget_term_on_restart => ForgetTermOnRestart at "elections",
    forget_log_on_restart => ForgetLogOnRestart at "one-entry",
    vote_twice => VoteTwice at "elections",
    candidate_forgets_self_vote => CandidateForgetsSelfVote at "elections",
    count_refused_votes => CountRefusedVotes at "elections",
    elect_without_majority => ElectWithoutMajority at "elections",
    truncate_on_every_append => TruncateOnEveryAppend at "snapshots",
    keep_conflicting_suffix => KeepConflictingSuffix at "three-entries",
    append_from_wrong_offset => AppendFromWrongOffset at "snapshots",
    accept_stale_reply => AcceptStaleReply at "elections",
    accept_stale_append => AcceptStaleAppend at "stale-leader",
    install_older_snapshot => InstallOlderSnapshot at "snapshots",
    discard_log_on_install => DiscardLogOnInstall at "snapshots",
    keep_log_on_snapshot_mismatch => KeepLogOnSnapshotMismatch at "snapshot-conflict",
    install_without_service => InstallWithoutService at "snapshots",
    install_keeps_commit_index => InstallKeepsCommitIndex at "snapshots",
    restart_without_snapshot => RestartWithoutSnapshot at "one-entry",
    leader_keeps_leading => LeaderKeepsLeading at "elections",
    no_prev_log_check => NoPrevLogCheck at "three-entries",
    no_log_length_check => NoLogLengthCheck at "snapshots",
    no_snapshot_skip => NoSnapshotSkip at "snapshots",
    commit_index_decreases => CommitIndexDecreases at "snapshots",
    reply_match_last_log => ReplyMatchLastLog at "figure-8",
    match_index_from_own_log => MatchIndexFromOwnLog at "snapshots",
    snapshot_reply_match_own_log => SnapshotReplyMatchOwnLog at "snapshots",
    apply_uncommitted => ApplyUncommitted at "snapshots",
    snapshot_uncommitted => SnapshotUncommitted at "snapshots",
    leader_counts_undurable => LeaderCountsUndurable at "one-entry",
    follower_acks_undurable => FollowerAcksUndurable at "one-entry",
    match_on_send => MatchOnSend at "pipelined",
    commit_by_last_entry_term => CommitByLastEntryTerm at "three-entries",
}

/// The portfolio runner itself, for one variant whose first catching bound is not the
/// first bound: `elections` is explored fully and misses the bug, `snapshots` catches it
/// with the expected property, the rest are not run (what `raft-model check --bug
/// no-log-length-check` prints).
#[test]
fn the_portfolio_runner_stops_at_the_pinned_bound() {
    assert_eq!(caught_by_portfolio(Bug::NoLogLengthCheck), "snapshots");
}

#[test]
fn every_bug_has_a_distinct_name_and_a_rule() {
    let mut names: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Bug::ALL.len());
    assert!(Bug::ALL.len() >= 20);
    for bug in Bug::ALL {
        assert_eq!(Bug::from_name(bug.name()), Some(bug));
        assert!(bug.description().contains(bug.rule()), "{}", bug.name());
    }
}

#[test]
fn no_bound_of_the_default_portfolio_prunes_messages() {
    // Dead-message pruning reasons about what the correct handlers do; a handler bug
    // could make a "dead" message live, so the default check never prunes.
    for bound in default_portfolio(None) {
        assert!(!bound.config.prune_dead_messages, "{}", bound.name);
    }
}

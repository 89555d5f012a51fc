//! Every bug variant is caught by the plain default portfolio (the bounds `raft-model
//! check` runs with no bound flags) with the property named for it, and at its small
//! `--quick` bound too. (That the correct model passes the whole portfolio, with pinned
//! state counts, is `tests/check.rs`.)

use raft_model::check::{run, run_portfolio, CheckOptions, Completion, Outcome, StopWhen, Verdict};
use raft_model::portfolio::default_portfolio;
use raft_model::{Bug, RaftModel};

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

/// The bug's `--quick` bound finds the same property. Skipped (already shown) when the
/// quick bound is one of the portfolio's bounds, which `caught_by_portfolio` ran.
fn caught_at_quick_bound(bug: Bug) {
    if default_portfolio(Some(bug))
        .iter()
        .any(|b| b.config == bug.bound())
    {
        return;
    }
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
        "bug {} should violate {expected} at its quick bound ({} states explored)",
        bug.name(),
        report.unique_states
    );
}

macro_rules! bug_tests {
    ($($test:ident => $bug:ident,)*) => {
        $(
            #[test]
            fn $test() {
                caught_by_portfolio(Bug::$bug);
                caught_at_quick_bound(Bug::$bug);
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

bug_tests! {
    no_election_restriction => NoElectionRestriction,
    up_to_date_ignores_term => UpToDateIgnoresTerm,
    up_to_date_ignores_index => UpToDateIgnoresIndex,
    commit_previous_term => CommitPreviousTerm,
    commit_without_majority => CommitWithoutMajority,
    forget_vote_on_restart => ForgetVoteOnRestart,
    forget_term_on_restart => ForgetTermOnRestart,
    forget_log_on_restart => ForgetLogOnRestart,
    vote_twice => VoteTwice,
    candidate_forgets_self_vote => CandidateForgetsSelfVote,
    count_refused_votes => CountRefusedVotes,
    elect_without_majority => ElectWithoutMajority,
    truncate_on_every_append => TruncateOnEveryAppend,
    keep_conflicting_suffix => KeepConflictingSuffix,
    append_from_wrong_offset => AppendFromWrongOffset,
    accept_stale_reply => AcceptStaleReply,
    accept_stale_append => AcceptStaleAppend,
    install_older_snapshot => InstallOlderSnapshot,
    discard_log_on_install => DiscardLogOnInstall,
    keep_log_on_snapshot_mismatch => KeepLogOnSnapshotMismatch,
    install_without_service => InstallWithoutService,
    install_keeps_commit_index => InstallKeepsCommitIndex,
    restart_without_snapshot => RestartWithoutSnapshot,
    leader_keeps_leading => LeaderKeepsLeading,
    no_prev_log_check => NoPrevLogCheck,
    no_log_length_check => NoLogLengthCheck,
    no_snapshot_skip => NoSnapshotSkip,
    commit_index_decreases => CommitIndexDecreases,
    reply_match_last_log => ReplyMatchLastLog,
    match_index_from_own_log => MatchIndexFromOwnLog,
    snapshot_reply_match_own_log => SnapshotReplyMatchOwnLog,
    apply_uncommitted => ApplyUncommitted,
    snapshot_uncommitted => SnapshotUncommitted,
    leader_counts_undurable => LeaderCountsUndurable,
    follower_acks_undurable => FollowerAcksUndurable,
    match_on_send => MatchOnSend,
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

//! Test-only bugs ("mutations") that show the conformance checks have teeth
//! (`conformance/tests/mutations.rs`, `docs/conformance.md`, "Mutation check").
//!
//! Each `Mutation` switches off one rule of Figure 2 / §5 / §7 / thesis §10.2.1 and is the
//! implementation counterpart of the model's bug variant of the same name
//! (`raft_model::Bug`).
//!
//! **Fault points.** A rule that a mutation breaks carries a fault point,
//! `mutated!(self.mutation, Name)`. Without the cargo feature `mutations` the macro expands
//! to the constant `false` and its first argument is not even compiled: a normal build has
//! no mutation type, no field, no branch and no public item from this module. With the
//! feature the fault point tests the core's private `mutation` field, which is `None` unless
//! a test selects one.
//!
//! **Selecting a mutation** (feature `mutations` only): every core created or restored on a
//! thread inside [`with_mutation`] carries that mutation (the conformance simulator builds
//! and restarts its cores internally, so it is mutated without an API of its own);
//! `Core::set_mutation` changes one core's. Neither is part of `Config`, whose shape is the
//! same with and without the feature.
//!
//! The model's `RestartWithoutSnapshot` has no counterpart: restoring the service from the
//! snapshot after a restart is the service's (and the harness's) job, not the core's, which
//! only hands the snapshot bytes back (`Core::restore`). Nor has `FollowerAcksUndurable`:
//! the core hands out a reply with the step's `Persist`, and sending it only after the sync
//! is the caller's obligation (`Ready`).

/// Fault point: whether the test-only mutation `$name` is selected, where `$selected` is an
/// `Option<Mutation>` (the core's private `mutation` field). Without the `mutations`
/// feature: `false`, and `$selected` is not compiled.
#[cfg(feature = "mutations")]
macro_rules! mutated {
    ($selected:expr, $name:ident) => {
        $selected == Some($crate::core::mutation::Mutation::$name)
    };
}

#[cfg(not(feature = "mutations"))]
macro_rules! mutated {
    ($selected:expr, $name:ident) => {
        false
    };
}

#[cfg(feature = "mutations")]
pub use enabled::*;

#[cfg(feature = "mutations")]
mod enabled {
    use std::cell::Cell;

    /// One rule switched off (names as the model's `Bug`s).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Mutation {
        /// §5.4.1: votes are granted without the up-to-date check.
        NoElectionRestriction,
        /// §5.4.2, Figure 8: a leader commits an entry of an earlier term by counting replicas.
        CommitPreviousTerm,
        /// Figure 2 (persistent state): `voted_for` is lost in a restart.
        ForgetVoteOnRestart,
        /// Figure 2 RequestVote rule 2: a voter grants a second candidate its vote in the
        /// same term (its recorded `voted_for` stays the first: a leader must have voted for
        /// itself, which `Core::check_invariants` asserts).
        VoteTwice,
        /// Figure 2 AppendEntries rule 3: the follower truncates after `prev_log_index` on
        /// every request, even when the entries match (a stale or duplicate request then
        /// removes later entries).
        TruncateOnEveryAppend,
        /// Figure 2 "All Servers": a reply from an older term is used instead of dropped.
        AcceptStaleReply,
        /// §7: a follower installs a snapshot that is not newer than its commit index.
        InstallOlderSnapshot,
        /// Figure 2 "All Servers": a leader that sees a higher term adopts it but keeps
        /// leading. It keeps `voted_for` (itself), where the model's variant clears it: the
        /// core asserts that a leader has voted for itself.
        LeaderKeepsLeading,
        /// Figure 2 AppendEntries rule 2: the follower accepts entries after a
        /// `prev_log_index` whose term differs from `prev_log_term`.
        NoPrevLogCheck,
        /// §7: the core accepts a service snapshot past `last_applied` (up to its last
        /// index). Unreachable from the conformance harness, whose service only snapshots
        /// what it applied (`conformance/tests/mutations.rs`).
        SnapshotUncommitted,
        /// Raft thesis §10.2.1: the leader counts its whole log toward a commit quorum,
        /// including entries not yet on its stable storage (a crash loses them).
        LeaderCountsUndurable,
        /// Figure 2 Leaders (rule L1 under L5): a pipelined leader advances
        /// `match_index[peer]`, not only `next_index[peer]`, past the entries it sends,
        /// counting a request as an acknowledgement. No effect with a window of one.
        MatchOnSend,
    }

    impl Mutation {
        /// Every mutation, in declaration order.
        pub const ALL: [Mutation; 12] = [
            Mutation::NoElectionRestriction,
            Mutation::CommitPreviousTerm,
            Mutation::ForgetVoteOnRestart,
            Mutation::VoteTwice,
            Mutation::TruncateOnEveryAppend,
            Mutation::AcceptStaleReply,
            Mutation::InstallOlderSnapshot,
            Mutation::LeaderKeepsLeading,
            Mutation::NoPrevLogCheck,
            Mutation::SnapshotUncommitted,
            Mutation::LeaderCountsUndurable,
            Mutation::MatchOnSend,
        ];

        /// The name of the model's bug variant (`check --bug NAME`).
        pub fn name(self) -> &'static str {
            match self {
                Mutation::NoElectionRestriction => "no-election-restriction",
                Mutation::CommitPreviousTerm => "commit-previous-term",
                Mutation::ForgetVoteOnRestart => "forget-vote-on-restart",
                Mutation::VoteTwice => "vote-twice",
                Mutation::TruncateOnEveryAppend => "truncate-on-every-append",
                Mutation::AcceptStaleReply => "accept-stale-reply",
                Mutation::InstallOlderSnapshot => "install-older-snapshot",
                Mutation::LeaderKeepsLeading => "leader-keeps-leading",
                Mutation::NoPrevLogCheck => "no-prev-log-check",
                Mutation::SnapshotUncommitted => "snapshot-uncommitted",
                Mutation::LeaderCountsUndurable => "leader-counts-undurable",
                Mutation::MatchOnSend => "match-on-send",
            }
        }
    }

    thread_local! {
        static AMBIENT: Cell<Option<Mutation>> = const { Cell::new(None) };
    }

    /// Runs `f` with `mutation` selected in every core created or restored on this thread
    /// (`Core::new`, `Core::restore`). Test harnesses that build their cores internally (the
    /// conformance simulator, crash-restarts included) are mutated this way without an API
    /// of their own; the previous selection is restored even if `f` panics.
    pub fn with_mutation<R>(mutation: Option<Mutation>, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<Mutation>);
        impl Drop for Restore {
            fn drop(&mut self) {
                AMBIENT.with(|a| a.set(self.0));
            }
        }
        let _restore = Restore(AMBIENT.with(|a| a.replace(mutation)));
        f()
    }

    /// The mutation of a core created on this thread now (`None` unless inside
    /// [`with_mutation`]).
    pub(crate) fn ambient() -> Option<Mutation> {
        AMBIENT.with(Cell::get)
    }
}

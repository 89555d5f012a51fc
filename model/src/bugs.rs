//! Bug variants: each switches off exactly one numbered rule of `docs/protocol.md` (Figure 2,
//! Figure 13, §5, §7) and names the property the checker then finds violated. They show that
//! the properties and the default portfolio have teeth: a check that passes the correct
//! model but catches each of these is checking something. Rules whose breaking is safe in
//! this model (it costs only liveness) have no variant; `docs/model.md` ("Bug variants")
//! says why for each.

use crate::config::Config;
use crate::properties;

/// One rule switched off. The rule labels (`AE3b`, `IS6`, …) are those of `docs/protocol.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bug {
    /// Rule E2c: votes ignore the whole up-to-date check.
    NoElectionRestriction,
    /// Rule E2c-i: the up-to-date check compares only log lengths, not last terms.
    UpToDateIgnoresTerm,
    /// Rule E2c-ii: the up-to-date check compares only last terms: a shorter log of the same last term wins.
    UpToDateIgnoresIndex,
    /// Rule L3b: leader commits an older-term entry by counting replicas.
    CommitPreviousTerm,
    /// Rule L3a: leader commits with half the servers instead of a majority.
    CommitWithoutMajority,
    /// Rule P2: voted_for is not persisted across a restart.
    ForgetVoteOnRestart,
    /// Rule P1: current_term is not persisted across a restart.
    ForgetTermOnRestart,
    /// Rule P3: log entries after the snapshot are not persisted across a restart.
    ForgetLogOnRestart,
    /// Rule E2b: a server votes for two candidates in one term.
    VoteTwice,
    /// Rule E1: a candidate counts its own vote but does not record it in voted_for.
    CandidateForgetsSelfVote,
    /// Rule E3: a candidate counts a refused vote as granted.
    CountRefusedVotes,
    /// Rule E4: a candidate becomes leader with half the votes instead of a majority.
    ElectWithoutMajority,
    /// Rule AE3a: follower truncates on every AppendEntries, even matching ones.
    TruncateOnEveryAppend,
    /// Rule AE3b: follower overwrites a conflicting entry but keeps the entries after it.
    KeepConflictingSuffix,
    /// Rule AE4: follower appends every entry of the request after its log, even those it already has.
    AppendFromWrongOffset,
    /// Rule T3: replies from an older term are used.
    AcceptStaleReply,
    /// Rule AE1: follower handles an AppendEntries from an older term.
    AcceptStaleAppend,
    /// Rule IS5: follower installs a snapshot not newer than its commit index.
    InstallOlderSnapshot,
    /// Rule IS6: follower discards its whole log on InstallSnapshot, even entries after a matching snapshot entry.
    DiscardLogOnInstall,
    /// Rule IS7: follower keeps its log after the snapshot index although it disagrees with the snapshot's last entry.
    KeepLogOnSnapshotMismatch,
    /// Rule IS8a: an installed snapshot is not handed to the service.
    InstallWithoutService,
    /// Rule IS8b: an installed snapshot does not raise commit_index.
    InstallKeepsCommitIndex,
    /// Rule P4: restart does not restore the service from the snapshot.
    RestartWithoutSnapshot,
    /// Rule T1: leader adopts a higher term but keeps leading.
    LeaderKeepsLeading,
    /// Rule AE2b: follower skips the prev_log_term comparison.
    NoPrevLogCheck,
    /// Rule AE2a: follower accepts a prev_log_index past the end of its log.
    NoLogLengthCheck,
    /// Rule AE2s: follower does not skip entries at or below its snapshot.
    NoSnapshotSkip,
    /// Rule AE5a: follower sets commit_index from leader_commit even when that lowers it.
    CommitIndexDecreases,
    /// Rule AE6: follower reports its whole log as matching instead of prev_log_index + entries.
    ReplyMatchLastLog,
    /// Rule L1: leader sets match_index from its own last index instead of the reply's.
    MatchIndexFromOwnLog,
    /// Rule IS9: on an InstallSnapshotReply the leader sets match_index from its own last index instead of the snapshot's.
    SnapshotReplyMatchOwnLog,
    /// Rule L4: entries are applied up to the last log index, not the commit index.
    ApplyUncommitted,
    /// Rule S1: service snapshots entries past the commit index.
    SnapshotUncommitted,
    /// Rule D1: the leader counts itself toward a commit quorum for entries not yet on its stable storage.
    LeaderCountsUndurable,
    /// Rule D2: a follower acknowledges AppendEntries before the appended entries are on its stable storage.
    FollowerAcksUndurable,
    /// Rule L1 under L5: a pipelined leader advances match_index, not only next_index, past the entries it sends.
    MatchOnSend,
    /// Rule L3b: the current-term check reads the leader's last entry instead of the
    /// entry being committed.
    CommitByLastEntryTerm,
}

impl Bug {
    /// Every variant, in the order of `docs/model.md`'s table.
    pub const ALL: [Bug; 37] = [
        Bug::NoElectionRestriction,
        Bug::UpToDateIgnoresTerm,
        Bug::UpToDateIgnoresIndex,
        Bug::CommitPreviousTerm,
        Bug::CommitWithoutMajority,
        Bug::ForgetVoteOnRestart,
        Bug::ForgetTermOnRestart,
        Bug::ForgetLogOnRestart,
        Bug::VoteTwice,
        Bug::CandidateForgetsSelfVote,
        Bug::CountRefusedVotes,
        Bug::ElectWithoutMajority,
        Bug::TruncateOnEveryAppend,
        Bug::KeepConflictingSuffix,
        Bug::AppendFromWrongOffset,
        Bug::AcceptStaleReply,
        Bug::AcceptStaleAppend,
        Bug::InstallOlderSnapshot,
        Bug::DiscardLogOnInstall,
        Bug::KeepLogOnSnapshotMismatch,
        Bug::InstallWithoutService,
        Bug::InstallKeepsCommitIndex,
        Bug::RestartWithoutSnapshot,
        Bug::LeaderKeepsLeading,
        Bug::NoPrevLogCheck,
        Bug::NoLogLengthCheck,
        Bug::NoSnapshotSkip,
        Bug::CommitIndexDecreases,
        Bug::ReplyMatchLastLog,
        Bug::MatchIndexFromOwnLog,
        Bug::SnapshotReplyMatchOwnLog,
        Bug::ApplyUncommitted,
        Bug::SnapshotUncommitted,
        Bug::LeaderCountsUndurable,
        Bug::FollowerAcksUndurable,
        Bug::MatchOnSend,
        Bug::CommitByLastEntryTerm,
    ];

    /// The name used on the command line (`--bug NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Bug::NoElectionRestriction => "no-election-restriction",
            Bug::UpToDateIgnoresTerm => "up-to-date-ignores-term",
            Bug::UpToDateIgnoresIndex => "up-to-date-ignores-index",
            Bug::CommitPreviousTerm => "commit-previous-term",
            Bug::CommitWithoutMajority => "commit-without-majority",
            Bug::ForgetVoteOnRestart => "forget-vote-on-restart",
            Bug::ForgetTermOnRestart => "forget-term-on-restart",
            Bug::ForgetLogOnRestart => "forget-log-on-restart",
            Bug::VoteTwice => "vote-twice",
            Bug::CandidateForgetsSelfVote => "candidate-forgets-self-vote",
            Bug::CountRefusedVotes => "count-refused-votes",
            Bug::ElectWithoutMajority => "elect-without-majority",
            Bug::TruncateOnEveryAppend => "truncate-on-every-append",
            Bug::KeepConflictingSuffix => "keep-conflicting-suffix",
            Bug::AppendFromWrongOffset => "append-from-wrong-offset",
            Bug::AcceptStaleReply => "accept-stale-reply",
            Bug::AcceptStaleAppend => "accept-stale-append",
            Bug::InstallOlderSnapshot => "install-older-snapshot",
            Bug::DiscardLogOnInstall => "discard-log-on-install",
            Bug::KeepLogOnSnapshotMismatch => "keep-log-on-snapshot-mismatch",
            Bug::InstallWithoutService => "install-without-service",
            Bug::InstallKeepsCommitIndex => "install-keeps-commit-index",
            Bug::RestartWithoutSnapshot => "restart-without-snapshot",
            Bug::LeaderKeepsLeading => "leader-keeps-leading",
            Bug::NoPrevLogCheck => "no-prev-log-check",
            Bug::NoLogLengthCheck => "no-log-length-check",
            Bug::NoSnapshotSkip => "no-snapshot-skip",
            Bug::CommitIndexDecreases => "commit-index-decreases",
            Bug::ReplyMatchLastLog => "reply-match-last-log",
            Bug::MatchIndexFromOwnLog => "match-index-from-own-log",
            Bug::SnapshotReplyMatchOwnLog => "snapshot-reply-match-own-log",
            Bug::ApplyUncommitted => "apply-uncommitted",
            Bug::SnapshotUncommitted => "snapshot-uncommitted",
            Bug::LeaderCountsUndurable => "leader-counts-undurable",
            Bug::FollowerAcksUndurable => "follower-acks-undurable",
            Bug::MatchOnSend => "match-on-send",
            Bug::CommitByLastEntryTerm => "commit-by-last-entry-term",
        }
    }

    /// The variant named `name` on the command line.
    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The rule of `docs/protocol.md` this variant switches off (`AE3b`, `IS6`, …).
    pub fn rule(self) -> &'static str {
        match self {
            Bug::NoElectionRestriction => "E2c",
            Bug::UpToDateIgnoresTerm => "E2c-i",
            Bug::UpToDateIgnoresIndex => "E2c-ii",
            Bug::CommitPreviousTerm => "L3b",
            Bug::CommitWithoutMajority => "L3a",
            Bug::ForgetVoteOnRestart => "P2",
            Bug::ForgetTermOnRestart => "P1",
            Bug::ForgetLogOnRestart => "P3",
            Bug::VoteTwice => "E2b",
            Bug::CandidateForgetsSelfVote => "E1",
            Bug::CountRefusedVotes => "E3",
            Bug::ElectWithoutMajority => "E4",
            Bug::TruncateOnEveryAppend => "AE3a",
            Bug::KeepConflictingSuffix => "AE3b",
            Bug::AppendFromWrongOffset => "AE4",
            Bug::AcceptStaleReply => "T3",
            Bug::AcceptStaleAppend => "AE1",
            Bug::InstallOlderSnapshot => "IS5",
            Bug::DiscardLogOnInstall => "IS6",
            Bug::KeepLogOnSnapshotMismatch => "IS7",
            Bug::InstallWithoutService => "IS8a",
            Bug::InstallKeepsCommitIndex => "IS8b",
            Bug::RestartWithoutSnapshot => "P4",
            Bug::LeaderKeepsLeading => "T1",
            Bug::NoPrevLogCheck => "AE2b",
            Bug::NoLogLengthCheck => "AE2a",
            Bug::NoSnapshotSkip => "AE2s",
            Bug::CommitIndexDecreases => "AE5a",
            Bug::ReplyMatchLastLog => "AE6",
            Bug::MatchIndexFromOwnLog => "L1",
            Bug::SnapshotReplyMatchOwnLog => "IS9",
            Bug::ApplyUncommitted => "L4",
            Bug::SnapshotUncommitted => "S1",
            Bug::LeaderCountsUndurable => "D1",
            Bug::FollowerAcksUndurable => "D2",
            Bug::MatchOnSend => "L1",
            Bug::CommitByLastEntryTerm => "L3b",
        }
    }

    /// The rule switched off, with its label in `docs/protocol.md` and its place in the paper.
    pub fn description(self) -> &'static str {
        match self {
            Bug::NoElectionRestriction => "votes ignore the whole up-to-date check (rule E2c, §5.4.1)",
            Bug::UpToDateIgnoresTerm => "the up-to-date check compares only log lengths, not last terms (rule E2c-i, §5.4.1)",
            Bug::UpToDateIgnoresIndex => "the up-to-date check compares only last terms: a shorter log of the same last term wins (rule E2c-ii, §5.4.1)",
            Bug::CommitPreviousTerm => "leader commits an older-term entry by counting replicas (rule L3b, Figure 8, §5.4.2)",
            Bug::CommitWithoutMajority => "leader commits with half the servers instead of a majority (rule L3a, §5.3)",
            Bug::ForgetVoteOnRestart => "voted_for is not persisted across a restart (rule P2, Figure 2)",
            Bug::ForgetTermOnRestart => "current_term is not persisted across a restart (rule P1, Figure 2)",
            Bug::ForgetLogOnRestart => "log entries after the snapshot are not persisted across a restart (rule P3, Figure 2)",
            Bug::VoteTwice => "a server votes for two candidates in one term (rule E2b, Figure 2)",
            Bug::CandidateForgetsSelfVote => "a candidate counts its own vote but does not record it in voted_for (rule E1, §5.2)",
            Bug::CountRefusedVotes => "a candidate counts a refused vote as granted (rule E3, Figure 2)",
            Bug::ElectWithoutMajority => "a candidate becomes leader with half the votes instead of a majority (rule E4, §5.2)",
            Bug::TruncateOnEveryAppend => "follower truncates on every AppendEntries, even matching ones (rule AE3a, Figure 2 AppendEntries rule 3)",
            Bug::KeepConflictingSuffix => "follower overwrites a conflicting entry but keeps the entries after it (rule AE3b, Figure 2 AppendEntries rule 3)",
            Bug::AppendFromWrongOffset => "follower appends every entry of the request after its log, even those it already has (rule AE4, Figure 2 AppendEntries rule 4)",
            Bug::AcceptStaleReply => "replies from an older term are used (rule T3, Figure 2 All Servers)",
            Bug::AcceptStaleAppend => "follower handles an AppendEntries from an older term (rule AE1, Figure 2 AppendEntries rule 1)",
            Bug::InstallOlderSnapshot => "follower installs a snapshot not newer than its commit index (rule IS5, Figure 13 rule 5, §7)",
            Bug::DiscardLogOnInstall => "follower discards its whole log on InstallSnapshot, even entries after a matching snapshot entry (rule IS6, Figure 13 rule 6)",
            Bug::KeepLogOnSnapshotMismatch => "follower keeps its log after the snapshot index although it disagrees with the snapshot's last entry (rule IS7, Figure 13 rule 7)",
            Bug::InstallWithoutService => "an installed snapshot is not handed to the service (rule IS8a, Figure 13 rule 8)",
            Bug::InstallKeepsCommitIndex => "an installed snapshot does not raise commit_index (rule IS8b, §7)",
            Bug::RestartWithoutSnapshot => "restart does not restore the service from the snapshot (rule P4, §7)",
            Bug::LeaderKeepsLeading => "leader adopts a higher term but keeps leading (rule T1, Figure 2 All Servers)",
            Bug::NoPrevLogCheck => "follower skips the prev_log_term comparison (rule AE2b, Figure 2 AppendEntries rule 2)",
            Bug::NoLogLengthCheck => "follower accepts a prev_log_index past the end of its log (rule AE2a, Figure 2 AppendEntries rule 2)",
            Bug::NoSnapshotSkip => "follower does not skip entries at or below its snapshot (rule AE2s, §7)",
            Bug::CommitIndexDecreases => "follower sets commit_index from leader_commit even when that lowers it (rule AE5a, Figure 2 AppendEntries rule 5)",
            Bug::ReplyMatchLastLog => "follower reports its whole log as matching instead of prev_log_index + entries (rule AE6)",
            Bug::MatchIndexFromOwnLog => "leader sets match_index from its own last index instead of the reply's (rule L1, Figure 2 Leaders)",
            Bug::SnapshotReplyMatchOwnLog => "on an InstallSnapshotReply the leader sets match_index from its own last index instead of the snapshot's (rule IS9, §7)",
            Bug::ApplyUncommitted => "entries are applied up to the last log index, not the commit index (rule L4, Figure 2 All Servers)",
            Bug::SnapshotUncommitted => "service snapshots entries past the commit index (rule S1, §7)",
            Bug::LeaderCountsUndurable => "the leader counts itself toward a commit quorum for entries not yet on its stable storage (rule D1, Raft thesis §10.2.1)",
            Bug::FollowerAcksUndurable => "a follower acknowledges AppendEntries before the appended entries are on its stable storage (rule D2, Raft thesis §10.2.1)",
            Bug::MatchOnSend => "a pipelined leader advances match_index past the entries it sends, before any reply (rule L1 under L5, Figure 2 Leaders)",
            Bug::CommitByLastEntryTerm => "leader commits an older-term entry on a majority when its last entry is of its term (rule L3b read at the wrong index, Figure 8)",
        }
    }

    /// The property the checker reports violated for this bug (the default portfolio finds
    /// a counterexample to exactly this property; `tests/bugs.rs` asserts it).
    pub fn expected_violation(self) -> &'static str {
        match self {
            Bug::NoElectionRestriction => properties::LEADER_COMPLETENESS,
            Bug::UpToDateIgnoresTerm => properties::LEADER_COMPLETENESS,
            Bug::UpToDateIgnoresIndex => properties::LEADER_COMPLETENESS,
            Bug::CommitPreviousTerm => properties::LEADER_COMPLETENESS,
            Bug::CommitWithoutMajority => properties::LEADER_COMPLETENESS,
            Bug::ForgetVoteOnRestart => properties::ELECTION_SAFETY,
            Bug::ForgetTermOnRestart => properties::ELECTION_SAFETY,
            Bug::ForgetLogOnRestart => properties::LEADER_COMPLETENESS,
            Bug::VoteTwice => properties::ELECTION_SAFETY,
            Bug::CandidateForgetsSelfVote => properties::ELECTION_SAFETY,
            Bug::CountRefusedVotes => properties::ELECTION_SAFETY,
            Bug::ElectWithoutMajority => properties::ELECTION_SAFETY,
            Bug::TruncateOnEveryAppend => properties::LEADER_COMPLETENESS,
            Bug::KeepConflictingSuffix => properties::LOG_TERMS_NEVER_DECREASE,
            Bug::AppendFromWrongOffset => properties::LOG_MATCHING,
            Bug::AcceptStaleReply => properties::ELECTION_SAFETY,
            Bug::AcceptStaleAppend => properties::STATE_MACHINE_SAFETY,
            Bug::InstallOlderSnapshot => properties::APPLIED_NEVER_REGRESSES,
            Bug::DiscardLogOnInstall => properties::LEADER_COMPLETENESS,
            Bug::KeepLogOnSnapshotMismatch => properties::LOG_TERMS_NEVER_DECREASE,
            Bug::InstallWithoutService => properties::APPLIED_NEVER_REGRESSES,
            Bug::InstallKeepsCommitIndex => properties::APPLIED_WITHIN_COMMIT,
            Bug::RestartWithoutSnapshot => properties::APPLIED_NEVER_REGRESSES,
            Bug::LeaderKeepsLeading => properties::ELECTION_SAFETY,
            Bug::NoPrevLogCheck => properties::LOG_MATCHING,
            Bug::NoLogLengthCheck => properties::STATE_MACHINE_SAFETY,
            Bug::NoSnapshotSkip => properties::COMMITTED_AT_ONE_INDEX,
            Bug::CommitIndexDecreases => properties::APPLIED_WITHIN_COMMIT,
            Bug::ReplyMatchLastLog => properties::LEADER_COMPLETENESS,
            Bug::MatchIndexFromOwnLog => properties::LEADER_COMPLETENESS,
            Bug::SnapshotReplyMatchOwnLog => properties::LEADER_COMPLETENESS,
            Bug::ApplyUncommitted => properties::APPLIED_WITHIN_COMMIT,
            Bug::SnapshotUncommitted => properties::SNAPSHOT_IS_COMMITTED_PREFIX,
            Bug::LeaderCountsUndurable => properties::LEADER_COMPLETENESS,
            Bug::FollowerAcksUndurable => properties::LEADER_COMPLETENESS,
            Bug::MatchOnSend => properties::LEADER_COMPLETENESS,
            Bug::CommitByLastEntryTerm => properties::ELECTABLE_HOLDS_COMMITTED,
        }
    }

    /// A small bound at which the violation is found in seconds (`check --bug NAME
    /// --quick`, for a short counterexample). The default portfolio catches every variant
    /// too; this is only the fastest place to see it (see `docs/model.md`, "Bug variants").
    pub fn bound(self) -> Config {
        // No pruning: `network::is_dead` assumes correct handlers, and a handler bug can
        // make a "dead" message (a refusal, a stale reply) matter.
        let quiet = Config {
            bug: Some(self),
            prune_dead_messages: false,
            max_crashes: 0,
            snapshots: false,
            max_term: 2,
            max_requests: 1,
            ..Config::default()
        };
        // Elections only: no entries are needed to elect two leaders in one term.
        let elections = Config {
            max_requests: 0,
            ..quiet.clone()
        };
        // Two entries in reliable networks: enough for conflicting or misplaced entries.
        let two_entries = Config {
            max_requests: 2,
            duplicates: false,
            drops: false,
            ..quiet.clone()
        };
        let snapshots = Config {
            snapshots: true,
            ..quiet.clone()
        };
        match self {
            // Two candidates of term 1 and one voter that grants both.
            Bug::VoteTwice => Config {
                max_term: 1,
                ..elections
            },
            Bug::CandidateForgetsSelfVote | Bug::ElectWithoutMajority | Bug::LeaderKeepsLeading => {
                elections
            }
            // A granted vote of term 1 arrives after its candidate moved to term 2, or a
            // refusal (which needs a second candidate) is counted: three messages must be
            // in flight at once.
            Bug::AcceptStaleReply | Bug::CountRefusedVotes => Config {
                max_inflight: Some(3),
                ..elections
            },
            // A voter forgets its term-1 vote (or its term) in a restart and votes again.
            Bug::ForgetVoteOnRestart | Bug::ForgetTermOnRestart => Config {
                max_crashes: 1,
                ..elections
            },
            Bug::ForgetLogOnRestart => Config {
                max_crashes: 1,
                ..quiet
            },
            // One entry commits; a voter or a leader without the rule loses it.
            Bug::NoElectionRestriction
            | Bug::CommitWithoutMajority
            | Bug::CommitIndexDecreases
            | Bug::ApplyUncommitted => quiet,
            // Figure 8 needs four terms: the old entry commits in term 3 and is lost in term 4.
            Bug::CommitPreviousTerm => Config {
                max_term: 4,
                ..two_entries
            },
            // Two single-entry logs of terms 1 and 2: the older one is elected in term 3.
            Bug::UpToDateIgnoresTerm => Config {
                max_term: 3,
                ..two_entries
            },
            // An AppendEntries of a deposed leader, overtaken by a lost message, rewrites a
            // follower of the next term.
            Bug::AcceptStaleAppend => Config {
                max_term: 3,
                max_requests: 2,
                duplicates: false,
                ..quiet
            },
            // A stale shorter AppendEntries removes a committed entry from a follower.
            Bug::TruncateOnEveryAppend => Config {
                max_requests: 2,
                ..quiet
            },
            Bug::UpToDateIgnoresIndex
            | Bug::AppendFromWrongOffset
            | Bug::NoLogLengthCheck
            | Bug::MatchIndexFromOwnLog => two_entries,
            // Conflicting suffixes need three entries from three leaders.
            Bug::NoPrevLogCheck | Bug::ReplyMatchLastLog => Config {
                max_term: 3,
                max_requests: 3,
                ..two_entries
            },
            // §7 bugs need snapshots; restart bugs need a crash.
            Bug::InstallOlderSnapshot | Bug::NoSnapshotSkip => Config {
                max_requests: 2,
                ..snapshots
            },
            // A snapshot of index 1 reaches a follower after it acknowledged index 2.
            Bug::DiscardLogOnInstall => Config {
                max_requests: 2,
                duplicates: false,
                drops: false,
                ..snapshots
            },
            // Two entries of term 1 on the old leader; a leader of term 2 elected without them
            // overwrites the first one and leaves the second behind its own.
            Bug::KeepConflictingSuffix => Config {
                max_term: 2,
                max_requests: 3,
                ..two_entries
            },
            // The same shape, but the newer leader's entry reaches the old leader as a
            // snapshot.
            Bug::KeepLogOnSnapshotMismatch => Config {
                max_term: 2,
                max_requests: 3,
                duplicates: false,
                drops: false,
                ..snapshots
            },
            // A follower acknowledges a snapshot of index 1; the leader counts it for index 2
            // and commits an entry only it holds, which the next leader lacks.
            Bug::SnapshotReplyMatchOwnLog => Config {
                max_term: 2,
                max_requests: 2,
                max_inflight: Some(2),
                duplicates: false,
                drops: false,
                ..snapshots
            },
            Bug::InstallWithoutService
            | Bug::InstallKeepsCommitIndex
            | Bug::SnapshotUncommitted => snapshots,
            Bug::RestartWithoutSnapshot => Config {
                max_crashes: 1,
                ..snapshots
            },
            // The leader commits one entry with itself and one follower, one of the two
            // loses it in a crash (the leader's copy, or the follower's, was never synced),
            // and the server that never had it is elected in term 2 with the crashed one's vote.
            Bug::LeaderCountsUndurable | Bug::FollowerAcksUndurable => Config {
                max_crashes: 1,
                durable_prefix: true,
                ..quiet
            },
            // Only a pipelined leader sends ahead of its replies. It counts its one entry on a
            // follower the moment the request leaves and commits it; the request is still in
            // flight when the third server, which never had the entry, is elected in term 2.
            Bug::MatchOnSend => Config {
                pipelined: true,
                duplicates: false,
                drops: false,
                ..quiet
            },
            // Three entries of terms 1, 2 and 3: the leader of term 3 commits the term-1
            // entry once one follower has it and its own term-3 entry is last, while the
            // term-2 log can still win (Figure 8). Seeing that needs no fourth term.
            Bug::CommitByLastEntryTerm => Config {
                max_term: 3,
                max_requests: 3,
                ..two_entries
            },
        }
    }
}

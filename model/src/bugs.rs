//! Bug variants: each switches off exactly one rule of Figure 2 / §5 / §7, and names the
//! property the checker should then find violated and a bound at which it does. They show
//! that the properties and bounds have teeth: a check that passes the correct model but
//! catches each of these is checking something.

use crate::config::Config;
use crate::properties;

/// One rule switched off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bug {
    /// §5.4.1: a voter grants its vote without checking the candidate's log is up to date.
    NoElectionRestriction,
    /// §5.4.2 / Figure 8: a leader commits an entry of an earlier term by counting replicas.
    CommitPreviousTerm,
    /// Figure 2: `voted_for` is not persisted, so a restart forgets the vote.
    ForgetVoteOnRestart,
    /// Figure 2 RequestVote rule 2: a voter grants a second vote in the same term.
    VoteTwice,
    /// Figure 2 AppendEntries rule 3: the follower truncates after `prev_log_index` on every
    /// request, even when the entries match (a stale or duplicated request removes entries).
    TruncateOnEveryAppend,
    /// Figure 2 "All Servers": replies from an older term are used instead of dropped.
    AcceptStaleReply,
    /// §7: a follower installs a snapshot that is not newer than what it has committed.
    InstallOlderSnapshot,
    /// §7: a restarted server does not restore its service from the snapshot.
    RestartWithoutSnapshot,
    /// Figure 2 "All Servers": a leader adopts a higher term but keeps leading.
    LeaderKeepsLeading,
    /// Figure 2 AppendEntries rule 2: the follower skips the `prev_log_index/term` check.
    NoPrevLogCheck,
    /// §7: the service snapshots entries it has not applied (past the commit index).
    SnapshotUncommitted,
}

impl Bug {
    pub const ALL: [Bug; 11] = [
        Bug::NoElectionRestriction,
        Bug::CommitPreviousTerm,
        Bug::ForgetVoteOnRestart,
        Bug::VoteTwice,
        Bug::TruncateOnEveryAppend,
        Bug::AcceptStaleReply,
        Bug::InstallOlderSnapshot,
        Bug::RestartWithoutSnapshot,
        Bug::LeaderKeepsLeading,
        Bug::NoPrevLogCheck,
        Bug::SnapshotUncommitted,
    ];

    /// The name used on the command line (`--bug NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Bug::NoElectionRestriction => "no-election-restriction",
            Bug::CommitPreviousTerm => "commit-previous-term",
            Bug::ForgetVoteOnRestart => "forget-vote-on-restart",
            Bug::VoteTwice => "vote-twice",
            Bug::TruncateOnEveryAppend => "truncate-on-every-append",
            Bug::AcceptStaleReply => "accept-stale-reply",
            Bug::InstallOlderSnapshot => "install-older-snapshot",
            Bug::RestartWithoutSnapshot => "restart-without-snapshot",
            Bug::LeaderKeepsLeading => "leader-keeps-leading",
            Bug::NoPrevLogCheck => "no-prev-log-check",
            Bug::SnapshotUncommitted => "snapshot-uncommitted",
        }
    }

    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The rule switched off, with its place in the paper.
    pub fn description(self) -> &'static str {
        match self {
            Bug::NoElectionRestriction => "votes ignore the up-to-date check (§5.4.1)",
            Bug::CommitPreviousTerm => {
                "leader commits an older-term entry by counting replicas (Figure 8, §5.4.2)"
            }
            Bug::ForgetVoteOnRestart => "voted_for is not persisted across a restart (Figure 2)",
            Bug::VoteTwice => "a server votes for two candidates in one term (Figure 2)",
            Bug::TruncateOnEveryAppend => {
                "follower truncates on every AppendEntries, even matching ones (Figure 2 rule 3)"
            }
            Bug::AcceptStaleReply => "replies from an older term are used (Figure 2, All Servers)",
            Bug::InstallOlderSnapshot => "follower installs a snapshot older than its commit (§7)",
            Bug::RestartWithoutSnapshot => {
                "restart does not restore the service from the snapshot (§7)"
            }
            Bug::LeaderKeepsLeading => "leader adopts a higher term but keeps leading (Figure 2)",
            Bug::NoPrevLogCheck => "follower skips the prev_log_index/term check (Figure 2 rule 2)",
            Bug::SnapshotUncommitted => "service snapshots entries past the commit index (§7)",
        }
    }

    /// The property the checker reports violated for this bug.
    pub fn expected_violation(self) -> &'static str {
        match self {
            Bug::NoElectionRestriction | Bug::CommitPreviousTerm | Bug::TruncateOnEveryAppend => {
                properties::LEADER_COMPLETENESS
            }
            Bug::ForgetVoteOnRestart
            | Bug::VoteTwice
            | Bug::AcceptStaleReply
            | Bug::LeaderKeepsLeading => properties::ELECTION_SAFETY,
            Bug::InstallOlderSnapshot | Bug::RestartWithoutSnapshot => {
                properties::APPLIED_NEVER_REGRESSES
            }
            Bug::NoPrevLogCheck => properties::LOG_MATCHING,
            Bug::SnapshotUncommitted => properties::SNAPSHOT_IS_COMMITTED_PREFIX,
        }
    }

    /// A bound at which `check --bug NAME` finds the violation: small enough to be found in
    /// seconds, large enough to contain the scenario (see `docs/model.md`, "Bug variants").
    pub fn bound(self) -> Config {
        let quiet = Config {
            bug: Some(self),
            max_crashes: 0,
            snapshots: false,
            max_term: 2,
            max_requests: 1,
            ..Config::default()
        };
        match self {
            // Two candidates of term 1 and one voter that grants both.
            Bug::VoteTwice => Config {
                max_term: 1,
                max_requests: 0,
                ..quiet
            },
            // A leader of term 2 never learns of term 2's real leader.
            Bug::LeaderKeepsLeading => Config {
                max_requests: 0,
                ..quiet
            },
            // A voter forgets its term-1 vote in a restart and votes again in term 1.
            Bug::ForgetVoteOnRestart => Config {
                max_requests: 0,
                max_crashes: 1,
                ..quiet
            },
            // A granted vote of term 1 arrives after its candidate moved to term 2: three
            // messages must be in flight at once.
            Bug::AcceptStaleReply => Config {
                max_requests: 0,
                max_inflight: Some(3),
                ..quiet
            },
            // An entry commits in term 1; a voter without the check elects an empty log.
            Bug::NoElectionRestriction => quiet,
            // Figure 8 needs four terms: the old entry commits in term 3 and is lost in term 4.
            Bug::CommitPreviousTerm => Config {
                max_term: 4,
                max_requests: 2,
                duplicates: false,
                drops: false,
                ..quiet
            },
            // A stale shorter AppendEntries removes a committed entry from a follower.
            Bug::TruncateOnEveryAppend => Config {
                max_requests: 2,
                ..quiet
            },
            // A follower keeps a conflicting entry under a new leader's entry: three terms and
            // three proposals (one per leader) make two logs that agree at index 2 only.
            Bug::NoPrevLogCheck => Config {
                max_term: 3,
                max_requests: 3,
                duplicates: false,
                drops: false,
                ..quiet
            },
            // §7 bugs need snapshots; restart bugs need a crash.
            // A follower that committed 2 entries receives a snapshot of 1.
            Bug::InstallOlderSnapshot => Config {
                snapshots: true,
                max_requests: 2,
                ..quiet
            },
            Bug::SnapshotUncommitted => Config {
                snapshots: true,
                ..quiet
            },
            Bug::RestartWithoutSnapshot => Config {
                snapshots: true,
                max_crashes: 1,
                ..quiet
            },
        }
    }
}

//! Commitment (§5.3, §5.4.2) and applying committed entries to the service. A leader
//! commits only entries of its own term by counting replicas; earlier entries commit
//! indirectly (Figure 8). `last_applied` catches up with `commit_index` in the same step.

use crate::bugs::Bug;
use crate::server::ServerState;
use crate::types::{majority, Index, Role, ServerId};

/// `AdvanceCommitIndex(i)` (Figure 2, Leaders, last rule): the largest `N > commit_index`
/// stored on a majority (the leader counts itself only if `N` is on its stable storage,
/// rule D1) with `term_at(N) == current_term`.
/// Returns whether the commit index moved.
pub fn advance_commit_index(
    s: &mut ServerState,
    me: ServerId,
    servers: usize,
    bug: Option<Bug>,
) -> bool {
    match commit_target(s, me, servers, bug) {
        Some(n) => {
            s.commit_index = n;
            apply_committed(s, bug);
            true
        }
        None => false,
    }
}

/// The commit rule itself, without changing anything: the index leader `s` may commit now
/// (`None` if its commit index cannot move). `advance_commit_index` applies it, and the
/// model's `actions()` asks it whether `AdvanceCommitIndex` is enabled, so the rule (and
/// each bug variant of it) lives in this one place.
pub fn commit_target(
    s: &ServerState,
    me: ServerId,
    servers: usize,
    bug: Option<Bug>,
) -> Option<Index> {
    if s.role != Role::Leader {
        return None;
    }
    // Rule L3b: only entries of the current term commit by counting (Figure 8).
    let current_term_only = bug != Some(Bug::CommitPreviousTerm);
    // Rule L3a: a majority, counting the leader itself (`quorum`) if rule D1 lets it.
    let quorum = quorum(servers, bug);
    (s.commit_index + 1..=s.last_log_index()).rev().find(|&n| {
        // The term of entry `n` itself; `commit-by-last-entry-term` reads the last entry's.
        let at = if bug == Some(Bug::CommitByLastEntryTerm) {
            s.last_log_index()
        } else {
            n
        };
        let own_term = s.term_at(at) == Some(s.current_term);
        (own_term || !current_term_only) && replicas(s, me, n, bug) >= quorum
    })
}

/// Rule D1 (Raft thesis §10.2.1): the leader may send entries before its own write is
/// durable, but counts itself toward a commit quorum only for an entry on its stable
/// storage, `index <= durable_index`: a crash loses the rest, and an entry counted on a
/// copy that a crash can lose could commit on fewer than a majority of durable copies.
/// The `leader-counts-undurable` variant counts the leader whatever it has synced.
pub fn leader_counts_itself(s: &ServerState, index: Index, bug: Option<Bug>) -> bool {
    index <= s.durable_index || bug == Some(Bug::LeaderCountsUndurable)
}

/// Rule L3a: how many servers (the leader counts itself) must store an entry for the
/// leader to commit it by counting: a majority, or half under `commit-without-majority`.
/// The model's enabling condition for `AdvanceCommitIndex` uses the same number.
pub fn quorum(servers: usize, bug: Option<Bug>) -> usize {
    if bug == Some(Bug::CommitWithoutMajority) {
        servers / 2
    } else {
        majority(servers)
    }
}

/// How many servers are known to store the entry at `index` durably: the followers whose
/// match index covers it (a follower acknowledges only durable entries, rule D2), and the
/// leader itself if rule D1 counts it.
fn replicas(s: &ServerState, me: ServerId, index: Index, bug: Option<Bug>) -> usize {
    let others = s
        .match_index
        .iter()
        .enumerate()
        .filter(|&(j, &m)| j != me.index() && m >= index)
        .count();
    usize::from(leader_counts_itself(s, index, bug)) + others
}

/// Hands the newly committed entries to the service, in index order, each once (rule L4,
/// Figure 2, All Servers, first rule). The `apply-uncommitted` variant applies the whole log.
pub fn apply_committed(s: &mut ServerState, bug: Option<Bug>) {
    let limit = if bug == Some(Bug::ApplyUncommitted) {
        s.last_log_index()
    } else {
        s.commit_index
    };
    while s.last_applied < limit {
        match s.value_at(s.last_applied + 1) {
            Some(value) => {
                s.applied.push(value);
                s.last_applied += 1;
            }
            // Only reachable in bug variants that lose committed entries.
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::election;
    use crate::types::Entry;

    fn leader_with_log(terms: &[u8], current_term: u8) -> ServerState {
        let mut s = ServerState::new();
        s.current_term = current_term - 1;
        election::timeout(&mut s, ServerId(0), None);
        s.current_term = current_term;
        election::handle_request_vote_reply(&mut s, ServerId(1), true, None);
        s.log = terms
            .iter()
            .enumerate()
            .map(|(k, &term)| Entry {
                term,
                value: k as u8 + 1,
            })
            .collect();
        s.durable_index = s.last_log_index();
        election::become_leader(&mut s, ServerId(0), 3);
        s
    }

    #[test]
    fn leader_only_commits_log_from_current_term() {
        // Reference: §5.4.2 / Figure 8.
        let mut s = leader_with_log(&[1], 2);
        s.match_index[1] = 1;
        assert!(!advance_commit_index(&mut s, ServerId(0), 3, None));
        assert!(advance_commit_index(
            &mut s,
            ServerId(0),
            3,
            Some(Bug::CommitPreviousTerm)
        ));
        assert_eq!(s.commit_index, 1);
    }

    #[test]
    fn the_current_term_check_reads_the_entry_being_committed() {
        // Reference: §5.4.2 / Figure 8: the leader's own entry being last does not let an
        // earlier-term entry below it commit by counting.
        let mut s = leader_with_log(&[1, 3], 3);
        s.match_index[1] = 1;
        assert_eq!(commit_target(&s, ServerId(0), 3, None), None);
        let bug = Some(Bug::CommitByLastEntryTerm);
        assert_eq!(commit_target(&s, ServerId(0), 3, bug), Some(1));
        s.match_index[1] = 2;
        assert_eq!(commit_target(&s, ServerId(0), 3, None), Some(2));
    }

    #[test]
    fn the_leader_counts_itself_only_up_to_its_durable_index() {
        // Reference: Raft thesis §10.2.1 (rule D1).
        let mut s = leader_with_log(&[2, 2], 2);
        s.durable_index = 1;
        s.match_index[1] = 2;
        assert_eq!(commit_target(&s, ServerId(0), 3, None), Some(1));
        assert_eq!(
            commit_target(&s, ServerId(0), 3, Some(Bug::LeaderCountsUndurable)),
            Some(2)
        );
        s.durable_index = 0;
        assert_eq!(commit_target(&s, ServerId(0), 3, None), None);
        // Two followers are a majority of three without the leader.
        s.match_index[2] = 2;
        assert!(advance_commit_index(&mut s, ServerId(0), 3, None));
        assert_eq!(s.commit_index, 2);
    }

    #[test]
    fn committing_an_own_term_entry_commits_and_applies_the_prefix() {
        let mut s = leader_with_log(&[1, 2], 2);
        s.match_index[2] = 2;
        assert!(advance_commit_index(&mut s, ServerId(0), 3, None));
        assert_eq!((s.commit_index, s.last_applied), (2, 2));
        assert_eq!(s.applied, vec![1, 2]);
    }
}

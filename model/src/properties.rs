//! The properties checked, named after Figure 3 of the paper, plus two for §7. Each
//! `always` property is checked from two sides where the step matters: on the state itself
//! and, through `History::violations`, on the step that led to it (see `history.rs`).
//! `sometimes` properties make sure a pass is not vacuous: the interesting places of the
//! protocol are reached within the bound.

use crate::server::ServerState;
use crate::state::{reached, violation, ClusterState, Committed};
use crate::types::{Index, Role};

pub const ELECTION_SAFETY: &str = "ElectionSafety";
pub const LOG_MATCHING: &str = "LogMatching";
pub const LEADER_COMPLETENESS: &str = "LeaderCompleteness";
pub const STATE_MACHINE_SAFETY: &str = "StateMachineSafety";
pub const APPLIED_NEVER_REGRESSES: &str = "AppliedNeverRegresses";
pub const SNAPSHOT_IS_COMMITTED_PREFIX: &str = "SnapshotIsCommittedPrefix";
pub const LEADER_ELECTED: &str = "LeaderElected";
pub const ENTRY_COMMITTED: &str = "EntryCommitted";
pub const SNAPSHOT_INSTALLED_ON_FOLLOWER: &str = "SnapshotInstalledOnFollower";
pub const COMMIT_AFTER_RESTART: &str = "CommitAfterRestart";

/// Figure 3, Election Safety: at most one leader can be elected in a given term. Checked
/// on the state (no two current leaders share a term) and on the history (no term saw two
/// `BecomeLeader` steps).
pub fn election_safety(state: &ClusterState) -> bool {
    if state.history.violations & violation::ELECTION_SAFETY != 0 {
        return false;
    }
    let leaders = state.servers.iter().filter(|s| s.role == Role::Leader);
    let mut terms: Vec<u8> = leaders.map(|s| s.current_term).collect();
    terms.sort_unstable();
    terms.windows(2).all(|w| w[0] != w[1])
}

/// Figure 3, Log Matching: if two logs contain an entry with the same index and term, the
/// logs are identical in all entries up through that index. The snapshot's last included
/// entry counts as an entry; below it, a server knows only values (its snapshot data).
pub fn log_matching(state: &ClusterState) -> bool {
    let servers = &state.servers;
    (0..servers.len()).all(|a| (a + 1..servers.len()).all(|b| logs_match(&servers[a], &servers[b])))
}

fn logs_match(a: &ServerState, b: &ServerState) -> bool {
    let last = a.last_log_index().min(b.last_log_index());
    let Some(anchor) = (1..=last)
        .rev()
        .find(|&i| a.term_at(i).is_some() && a.term_at(i) == b.term_at(i))
    else {
        return true;
    };
    (1..=anchor).all(|i| {
        let terms_agree = match (a.term_at(i), b.term_at(i)) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        };
        terms_agree && a.value_at(i) == b.value_at(i)
    })
}

/// Figure 3, Leader Completeness: an entry committed in term `T` is present in the logs of
/// the leaders of every term after `T`.
pub fn leader_completeness(state: &ClusterState) -> bool {
    state
        .servers
        .iter()
        .filter(|s| s.role == Role::Leader)
        .all(|leader| {
            state.history.committed.iter().enumerate().all(|(k, c)| {
                c.commit_term >= leader.current_term || holds(leader, (k + 1) as Index, c)
            })
        })
}

/// Whether `s` holds the committed entry `c` at `index` (in its log or its snapshot).
fn holds(s: &ServerState, index: Index, c: &Committed) -> bool {
    if index < s.snapshot.last_included_index {
        return s.value_at(index) == Some(c.value);
    }
    s.term_at(index) == Some(c.term) && s.value_at(index) == Some(c.value)
}

/// Figure 3, State Machine Safety: no two servers apply different values at one index,
/// including values a service received in a snapshot. Every service's applied sequence
/// must be a prefix of the committed history, and no step committed a second value at an
/// index.
pub fn state_machine_safety(state: &ClusterState) -> bool {
    if state.history.violations & violation::STATE_MACHINE_SAFETY != 0 {
        return false;
    }
    let committed = &state.history.committed;
    state.servers.iter().all(|s| {
        s.applied.len() <= committed.len()
            && s.applied.iter().zip(committed).all(|(v, c)| *v == c.value)
    })
}

/// §7 / Figure 2: a service's applied state never moves backwards (only a restart restores
/// it, to the snapshot), and Raft's `last_applied` matches what the service holds and is
/// never below the snapshot.
pub fn applied_never_regresses(state: &ClusterState) -> bool {
    if state.history.violations & violation::APPLIED_NEVER_REGRESSES != 0 {
        return false;
    }
    state.servers.iter().all(|s| {
        usize::from(s.last_applied) == s.applied.len()
            && s.last_applied >= s.snapshot.last_included_index
            && s.applied.starts_with(&s.snapshot.data)
    })
}

/// §7: a snapshot only ever covers committed entries: its data is a prefix of the
/// committed history, its last term is the committed entry's, and it is within the
/// server's commit index.
pub fn snapshot_is_committed_prefix(state: &ClusterState) -> bool {
    let committed = &state.history.committed;
    state.servers.iter().all(|s| {
        let snap = &s.snapshot;
        let n = usize::from(snap.last_included_index);
        n <= committed.len()
            && snap.data.len() == n
            && snap.data.iter().zip(committed).all(|(v, c)| *v == c.value)
            && (n == 0 || committed[n - 1].term == snap.last_included_term)
            && snap.last_included_index <= s.commit_index
    })
}

/// An `always` property that fails in one state, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The property's name (one of the constants above).
    pub property: &'static str,
    /// A sentence naming the servers, terms and entries involved.
    pub reason: String,
}

/// CONTRACT (used by the state's text, the explorer picture and the CLI): every `always`
/// property of `model` that fails in `state`, evaluated by the same code the checker runs.
/// The reason is generic for now; each property will explain itself.
pub fn violations(model: &crate::RaftModel, state: &ClusterState) -> Vec<Violation> {
    use stateright::{Expectation, Model};
    model
        .properties()
        .into_iter()
        .filter(|p| p.expectation == Expectation::Always && !(p.condition)(model, state))
        .map(|p| Violation {
            property: p.name,
            reason: format!("{} does not hold in this state", p.name),
        })
        .collect()
}

pub fn leader_elected(state: &ClusterState) -> bool {
    state.servers.iter().any(|s| s.role == Role::Leader)
}

pub fn entry_committed(state: &ClusterState) -> bool {
    !state.history.committed.is_empty()
}

pub fn snapshot_installed_on_follower(state: &ClusterState) -> bool {
    state.history.reached & reached::SNAPSHOT_INSTALLED_ON_FOLLOWER != 0
}

pub fn commit_after_restart(state: &ClusterState) -> bool {
    state.history.reached & reached::COMMIT_AFTER_RESTART != 0
}

#[cfg(test)]
mod tests;

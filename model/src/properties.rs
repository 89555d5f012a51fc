//! The properties checked, named after Figure 3 of the paper, plus two for §7. Each
//! `always` property is checked from two sides where the step matters: on the state itself
//! and, through `History::violations`, on the step that led to it (see `history.rs`).
//! `sometimes` properties make sure a pass is not vacuous: the interesting places of the
//! protocol are reached within the bound.

use crate::server::ServerState;
use crate::state::{reached, violation, ClusterState, Committed};
use crate::types::{Index, Role, ServerId};

/// Name of the Election Safety property (Figure 3).
pub const ELECTION_SAFETY: &str = "ElectionSafety";
/// Name of the Log Matching property (Figure 3).
pub const LOG_MATCHING: &str = "LogMatching";
/// Name of the Leader Completeness property (Figure 3).
pub const LEADER_COMPLETENESS: &str = "LeaderCompleteness";
/// Name of the State Machine Safety property (Figure 3).
pub const STATE_MACHINE_SAFETY: &str = "StateMachineSafety";
/// Name of the property that a service's applied state never moves backwards (§7).
pub const APPLIED_NEVER_REGRESSES: &str = "AppliedNeverRegresses";
/// Name of the property that no server applies past its commit index (Figure 2).
pub const APPLIED_WITHIN_COMMIT: &str = "AppliedWithinCommit";
/// Name of the property that a committed value occupies exactly one index.
pub const COMMITTED_AT_ONE_INDEX: &str = "CommittedAtOneIndex";
/// Name of the property that a snapshot only covers committed entries (§7).
pub const SNAPSHOT_IS_COMMITTED_PREFIX: &str = "SnapshotIsCommittedPrefix";
/// The name of [`log_terms_never_decrease`].
pub const LOG_TERMS_NEVER_DECREASE: &str = "LogTermsNeverDecrease";
/// The name of [`electable_holds_committed`].
pub const ELECTABLE_HOLDS_COMMITTED: &str = "ElectableHoldsCommitted";
/// Name of the `sometimes` property: some server becomes leader.
pub const LEADER_ELECTED: &str = "LeaderElected";
/// Name of the `sometimes` property: some entry commits.
pub const ENTRY_COMMITTED: &str = "EntryCommitted";
/// Name of the `sometimes` property: a follower installs a snapshot sent by a leader (§7).
pub const SNAPSHOT_INSTALLED_ON_FOLLOWER: &str = "SnapshotInstalledOnFollower";
/// Name of the `sometimes` property: an entry commits after a crash and restart.
pub const COMMIT_AFTER_RESTART: &str = "CommitAfterRestart";

/// What a property check returns: `Err` carries a sentence naming the servers, terms and
/// entries involved. The checker's condition is `.is_ok()` of the same function.
pub type Check = Result<(), String>;

/// A property's check function.
pub type CheckFn = fn(&ClusterState) -> Check;

/// Every `always` property with the function that decides it, in report order.
pub const ALWAYS: [(&str, CheckFn); 10] = [
    (ELECTION_SAFETY, check_election_safety),
    (LOG_MATCHING, check_log_matching),
    (LEADER_COMPLETENESS, check_leader_completeness),
    (STATE_MACHINE_SAFETY, check_state_machine_safety),
    (APPLIED_NEVER_REGRESSES, check_applied_never_regresses),
    (APPLIED_WITHIN_COMMIT, check_applied_within_commit),
    (COMMITTED_AT_ONE_INDEX, check_committed_at_one_index),
    (
        SNAPSHOT_IS_COMMITTED_PREFIX,
        check_snapshot_is_committed_prefix,
    ),
    (LOG_TERMS_NEVER_DECREASE, check_log_terms_never_decrease),
    (ELECTABLE_HOLDS_COMMITTED, check_electable_holds_committed),
];

fn id(k: usize) -> ServerId {
    ServerId::from(k)
}

fn show(s: &ServerState, index: Index) -> String {
    match (s.term_at(index), s.value_at(index)) {
        (Some(t), Some(v)) => format!("(t{t}, v{v})"),
        (None, Some(v)) => format!("v{v} (in its snapshot)"),
        (Some(t), None) => format!("term {t} (no value)"),
        (None, None) => "nothing".to_string(),
    }
}

/// Figure 3, Election Safety: at most one leader can be elected in a given term. Checked
/// on the state (no two current leaders share a term) and on the history (no term saw two
/// `BecomeLeader` steps).
pub fn election_safety(state: &ClusterState) -> bool {
    check_election_safety(state).is_ok()
}

/// Election Safety (see [`election_safety`]), with a sentence naming the offending servers on
/// failure.
pub fn check_election_safety(state: &ClusterState) -> Check {
    for (a, x) in state.servers.iter().enumerate() {
        for (b, y) in state.servers.iter().enumerate().skip(a + 1) {
            if x.role == Role::Leader && y.role == Role::Leader && x.current_term == y.current_term
            {
                return Err(format!(
                    "{} and {} both lead term {}",
                    id(a),
                    id(b),
                    x.current_term
                ));
            }
        }
    }
    if state.history.violations & violation::ELECTION_SAFETY != 0 {
        return Err(
            "a second leader was elected in a term that already had one \
                    (the history remembers the second BecomeLeader)"
                .to_string(),
        );
    }
    Ok(())
}

/// Figure 3, Log Matching: if two logs contain an entry with the same index and term, the
/// logs are identical in all entries up through that index. The snapshot's last included
/// entry counts as an entry; below it, a server knows only values (its snapshot data).
pub fn log_matching(state: &ClusterState) -> bool {
    check_log_matching(state).is_ok()
}

/// Log Matching (see [`log_matching`]), with a sentence naming the first disagreement on
/// failure.
pub fn check_log_matching(state: &ClusterState) -> Check {
    let servers = &state.servers;
    for a in 0..servers.len() {
        for b in a + 1..servers.len() {
            logs_match(servers, a, b)?;
        }
    }
    Ok(())
}

fn logs_match(servers: &[ServerState], ia: usize, ib: usize) -> Check {
    let (a, b) = (&servers[ia], &servers[ib]);
    let last = a.last_log_index().min(b.last_log_index());
    let Some(anchor) = (1..=last)
        .rev()
        .find(|&i| a.term_at(i).is_some() && a.term_at(i) == b.term_at(i))
    else {
        return Ok(());
    };
    for i in 1..=anchor {
        let terms_agree = match (a.term_at(i), b.term_at(i)) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        };
        if !terms_agree || a.value_at(i) != b.value_at(i) {
            return Err(format!(
                "{} and {} agree on term {} at index {anchor} but differ at index {i}: \
                 {} has {}, {} has {}",
                id(ia),
                id(ib),
                a.term_at(anchor).unwrap_or(0),
                id(ia),
                show(a, i),
                id(ib),
                show(b, i)
            ));
        }
    }
    Ok(())
}

/// Figure 3, Leader Completeness, across snapshots: an entry first committed in term `T`
/// at index `i` is held by every leader of a term after `T`, either in its log (same term
/// and value at `i`) or inside its snapshot (the snapshot's value at `i`, and at the
/// snapshot's last index its term too, equal the committed entry's).
pub fn leader_completeness(state: &ClusterState) -> bool {
    check_leader_completeness(state).is_ok()
}

/// Leader Completeness (see [`leader_completeness`]), with a sentence naming the leader and the
/// missing entry on failure.
pub fn check_leader_completeness(state: &ClusterState) -> Check {
    for (l, leader) in state.servers.iter().enumerate() {
        if leader.role != Role::Leader {
            continue;
        }
        for (k, c) in state.history.committed.iter().enumerate() {
            let index = (k + 1) as Index;
            if c.commit_term < leader.current_term && !holds(leader, index, c) {
                return Err(format!(
                    "{} leads term {} without (t{}, v{}) committed at index {index} in term {}; \
                     it has {} there",
                    id(l),
                    leader.current_term,
                    c.term,
                    c.value,
                    c.commit_term,
                    show(leader, index)
                ));
            }
        }
    }
    Ok(())
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
    check_state_machine_safety(state).is_ok()
}

/// State Machine Safety (see [`state_machine_safety`]), with a sentence naming the server and
/// index on failure.
pub fn check_state_machine_safety(state: &ClusterState) -> Check {
    let committed = &state.history.committed;
    for (k, s) in state.servers.iter().enumerate() {
        for (i, (v, c)) in s.applied.iter().zip(committed).enumerate() {
            if *v != c.value {
                return Err(format!(
                    "{} applied v{v} at index {} where v{} is committed",
                    id(k),
                    i + 1,
                    c.value
                ));
            }
        }
        if s.applied.len() > committed.len() {
            return Err(format!(
                "{} applied {} values but only {} entries are committed",
                id(k),
                s.applied.len(),
                committed.len()
            ));
        }
    }
    if state.history.violations & violation::STATE_MACHINE_SAFETY != 0 {
        return Err(
            "a step applied a value different from the one already committed at \
                    its index (the history remembers it)"
                .to_string(),
        );
    }
    Ok(())
}

/// §7 / Figure 2: a service's applied state never moves backwards (only a restart restores
/// it, to the snapshot), and Raft's `last_applied` matches what the service holds and is
/// never below the snapshot.
pub fn applied_never_regresses(state: &ClusterState) -> bool {
    check_applied_never_regresses(state).is_ok()
}

/// Applied Never Regresses (see [`applied_never_regresses`]), with a sentence naming the server
/// on failure.
pub fn check_applied_never_regresses(state: &ClusterState) -> Check {
    for (k, s) in state.servers.iter().enumerate() {
        if usize::from(s.last_applied) != s.applied.len() {
            return Err(format!(
                "{} has last_applied {} but its service holds {} values",
                id(k),
                s.last_applied,
                s.applied.len()
            ));
        }
        if s.last_applied < s.snapshot.last_included_index {
            return Err(format!(
                "{} has last_applied {} below its snapshot index {}",
                id(k),
                s.last_applied,
                s.snapshot.last_included_index
            ));
        }
        if !s.applied.starts_with(&s.snapshot.data) {
            return Err(format!(
                "{}'s service {:?} does not start with its snapshot's data {:?}",
                id(k),
                s.applied,
                s.snapshot.data
            ));
        }
    }
    if state.history.violations & violation::APPLIED_NEVER_REGRESSES != 0 {
        return Err(
            "a step shortened or changed a service's applied values other than a \
                    restart restoring its snapshot (the history remembers it)"
                .to_string(),
        );
    }
    Ok(())
}

/// Figure 2 ("if commitIndex > lastApplied: apply"): no server has applied past what it
/// knows is committed, `last_applied <= commit_index`.
pub fn applied_within_commit(state: &ClusterState) -> bool {
    check_applied_within_commit(state).is_ok()
}

/// Applied Within Commit (see [`applied_within_commit`]), with a sentence naming the server on
/// failure.
pub fn check_applied_within_commit(state: &ClusterState) -> Check {
    for (k, s) in state.servers.iter().enumerate() {
        if s.last_applied > s.commit_index {
            return Err(format!(
                "{} applied up to index {} but its commit index is {}",
                id(k),
                s.last_applied,
                s.commit_index
            ));
        }
    }
    Ok(())
}

/// A committed value occupies exactly one index: it is committed at one index only, and
/// no server holds it (in its log, its snapshot or its service) at any other index. Every
/// proposal carries a fresh value and entries are only ever copied to the same index, so
/// a value found elsewhere is a misplaced entry (an offset error).
pub fn committed_at_one_index(state: &ClusterState) -> bool {
    check_committed_at_one_index(state).is_ok()
}

/// Committed At One Index (see [`committed_at_one_index`]), with a sentence naming the value
/// and its indices on failure.
pub fn check_committed_at_one_index(state: &ClusterState) -> Check {
    let committed = &state.history.committed;
    let index_of = |value| committed.iter().position(|c| c.value == value);
    for (k, c) in committed.iter().enumerate() {
        if let Some(first) = index_of(c.value).filter(|&first| first != k) {
            return Err(format!(
                "v{} is committed at index {} and at index {}",
                c.value,
                first + 1,
                k + 1
            ));
        }
    }
    for (k, s) in state.servers.iter().enumerate() {
        let held = (1..=s.last_log_index())
            .filter_map(|i| s.value_at(i).map(|v| (i, v, "log or snapshot")))
            .chain(
                s.applied
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| ((i + 1) as Index, v, "service")),
            );
        for (i, v, place) in held {
            if let Some(at) = index_of(v) {
                if at + 1 != usize::from(i) {
                    return Err(format!(
                        "v{v}, committed at index {}, sits at index {i} in {}'s {place}",
                        at + 1,
                        id(k)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// §7: a snapshot only ever covers committed entries: its data is a prefix of the
/// committed history, its last term is the committed entry's, and it is within the
/// server's commit index.
pub fn snapshot_is_committed_prefix(state: &ClusterState) -> bool {
    check_snapshot_is_committed_prefix(state).is_ok()
}

/// Snapshot Is Committed Prefix (see [`snapshot_is_committed_prefix`]), with a sentence naming
/// the server on failure.
pub fn check_snapshot_is_committed_prefix(state: &ClusterState) -> Check {
    let committed = &state.history.committed;
    for (k, s) in state.servers.iter().enumerate() {
        let snap = &s.snapshot;
        let n = usize::from(snap.last_included_index);
        let who = id(k);
        if n > committed.len() {
            return Err(format!(
                "{who}'s snapshot reaches index {n} but only {} entries are committed",
                committed.len()
            ));
        }
        if snap.data.len() != n {
            return Err(format!(
                "{who}'s snapshot at index {n} holds {} values",
                snap.data.len()
            ));
        }
        if let Some(i) = snap
            .data
            .iter()
            .zip(committed)
            .position(|(v, c)| *v != c.value)
        {
            return Err(format!(
                "{who}'s snapshot has v{} at index {} where v{} is committed",
                snap.data[i],
                i + 1,
                committed[i].value
            ));
        }
        if n > 0 && committed[n - 1].term != snap.last_included_term {
            return Err(format!(
                "{who}'s snapshot ends in term {} but the entry committed at index {n} has term {}",
                snap.last_included_term,
                committed[n - 1].term
            ));
        }
        if snap.last_included_index > s.commit_index {
            return Err(format!(
                "{who}'s snapshot reaches index {n} past its commit index {}",
                s.commit_index
            ));
        }
    }
    Ok(())
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
/// property of `model` that fails in `state`, evaluated by the same code the checker runs
/// (the model's property conditions), each with the sentence its check function gives.
pub fn violations(model: &crate::RaftModel, state: &ClusterState) -> Vec<Violation> {
    use stateright::{Expectation, Model};
    model
        .properties()
        .into_iter()
        .filter(|p| p.expectation == Expectation::Always && !(p.condition)(model, state))
        .map(|p| Violation {
            property: p.name,
            reason: explain(p.name, state)
                .unwrap_or_else(|| format!("{} does not hold in this state", p.name)),
        })
        .collect()
}

/// The reason `name` fails in `state`, from the same check function the checker's
/// condition calls; `None` if it holds or is not an `always` property.
pub fn explain(name: &str, state: &ClusterState) -> Option<String> {
    ALWAYS
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, check)| check(state).err())
}

/// `sometimes`: some server is a leader.
pub fn leader_elected(state: &ClusterState) -> bool {
    state.servers.iter().any(|s| s.role == Role::Leader)
}

/// `sometimes`: at least one entry has committed.
pub fn entry_committed(state: &ClusterState) -> bool {
    !state.history.committed.is_empty()
}

/// `sometimes` (§7): a follower has installed a snapshot sent by a leader.
pub fn snapshot_installed_on_follower(state: &ClusterState) -> bool {
    state.history.reached & reached::SNAPSHOT_INSTALLED_ON_FOLLOWER != 0
}

/// `sometimes`: an entry first committed after a crash and restart.
pub fn commit_after_restart(state: &ClusterState) -> bool {
    state.history.reached & reached::COMMIT_AFTER_RESTART != 0
}

#[cfg(test)]
mod tests;

/// A lemma behind Figure 3's Log Matching (§5.3): along every log the terms never
/// decrease, starting from the snapshot's last included term. A leader appends only
/// entries of its current term, which is at least every term it holds, and a follower
/// keeps a prefix of its log and copies the leader's entries after it (AE3/AE4, IS6/IS7),
/// so no log ever holds an entry after one of a later term. A log that does has kept
/// entries of an abandoned leader behind a newer leader's entry: with three servers no
/// other server can still hold them (the newer leader was elected by a majority without
/// them), so Log Matching cannot see the damage yet; with five it can (`docs/model.md`).
pub fn log_terms_never_decrease(state: &ClusterState) -> bool {
    check_log_terms_never_decrease(state).is_ok()
}

/// [`log_terms_never_decrease`] with the first decrease found, named by server and index.
pub fn check_log_terms_never_decrease(state: &ClusterState) -> Check {
    for (k, s) in state.servers.iter().enumerate() {
        let base = s.snapshot.last_included_index;
        let mut previous = s.snapshot.last_included_term;
        for (offset, entry) in s.log.iter().enumerate() {
            if entry.term < previous {
                let index = base + 1 + offset as Index;
                return Err(format!(
                    "{}'s log has term {} at index {index} after term {previous} at index {}",
                    id(k),
                    entry.term,
                    index - 1
                ));
            }
            previous = entry.term;
        }
    }
    Ok(())
}

/// Figure 3's Leader Completeness, one election ahead (the inductive step of §5.4.3's
/// argument): no server that lacks a committed entry could win an election. In a fresh
/// term every server has no vote yet, so a candidate wins with the votes of a majority
/// (itself included) whose logs its own is at least as up-to-date as (§5.4.1); each
/// voter is compared by its durable prefix (thesis §10.2.1), since a crash before the
/// vote leaves it only that much. Leader Completeness itself fails only once such a
/// server *is* elected, which may need more terms than a bound allows: a leader that
/// commits an earlier-term entry by counting (L3b) when its *last* entry is of its term
/// is only caught here within three terms. Raft (correct, unbounded) reaches no state
/// failing this, since from such a state the crash, timeout and votes that elect the
/// server are all enabled and Leader Completeness would then fail.
pub fn electable_holds_committed(state: &ClusterState) -> bool {
    check_electable_holds_committed(state).is_ok()
}

/// [`electable_holds_committed`] with the server, the entry it lacks and its voters.
pub fn check_electable_holds_committed(state: &ClusterState) -> Check {
    let servers = &state.servers;
    let needed = crate::types::majority(servers.len());
    for (k, c) in state.history.committed.iter().enumerate() {
        let index = (k + 1) as Index;
        for (a, s) in servers.iter().enumerate() {
            if holds(s, index, c) {
                continue;
            }
            let (last_index, last_term) = (s.last_log_index(), s.last_log_term());
            // The candidate votes for itself; another server grants if the candidate's
            // log is at least as up-to-date as its durable prefix.
            let voters: Vec<usize> = (0..servers.len())
                .filter(|&v| {
                    let d = &servers[v];
                    let durable_term = d.term_at(d.durable_index).unwrap_or(0);
                    v == a
                        || last_term > durable_term
                        || (last_term == durable_term && last_index >= d.durable_index)
                })
                .collect();
            if voters.len() >= needed {
                let names: Vec<String> = voters.iter().map(|&v| id(v).to_string()).collect();
                return Err(format!(
                    "{} lacks (t{}, v{}) committed at index {index} but could be elected \
                     with the votes of {} (its last entry: index {last_index}, term \
                     {last_term}); it has {} there",
                    id(a),
                    c.term,
                    c.value,
                    names.join(", "),
                    show(s, index)
                ));
            }
        }
    }
    Ok(())
}

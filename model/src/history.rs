//! Updating the history variables after each step, and the checks that need the step as
//! well as the state: a second election in a term (Election Safety), a committed index
//! committing a different entry (State Machine Safety), a service moving backwards other
//! than by a restart restoring its snapshot (Applied Never Regresses).

use crate::model::Action;
use crate::state::{reached, violation, ClusterState, Committed};
use crate::types::Index;

/// Records what the step `before --action--> after` did into `after.history`.
pub fn observe(before: &ClusterState, action: &Action, after: &mut ClusterState) {
    if let Action::BecomeLeader(i) = action {
        record_election(after, after.servers[i.index()].current_term);
    }
    for id in 0..after.servers.len() {
        check_service_progress(before, action, after, id);
        record_commits(before, after, id);
    }
}

fn record_election(after: &mut ClusterState, term: u8) {
    let bit = 1u32 << term;
    if after.history.elected & bit != 0 {
        after.history.violations |= violation::ELECTION_SAFETY;
    }
    after.history.elected |= bit;
}

/// The service only moves forwards, except that a restart restores it to the snapshot.
fn check_service_progress(
    before: &ClusterState,
    action: &Action,
    after: &mut ClusterState,
    id: usize,
) {
    let (old, new) = (&before.servers[id], &after.servers[id]);
    let ok = match action {
        Action::Restart(i) if i.index() == id => new.applied == new.snapshot.data,
        _ => new.applied.starts_with(&old.applied),
    };
    if !ok {
        after.history.violations |= violation::APPLIED_NEVER_REGRESSES;
    }
}

/// Entries a server newly applied are committed: record the first commit of each index,
/// and flag a different entry committing at an index already committed.
fn record_commits(before: &ClusterState, after: &mut ClusterState, id: usize) {
    let old_applied = before.servers[id].applied.len();
    let new_len = after.servers[id].applied.len();
    for k in old_applied..new_len {
        let index = (k + 1) as Index;
        let server = &after.servers[id];
        let value = server.applied[k];
        let term = server.term_at(index).unwrap_or(0);
        match after.history.committed.get(k) {
            Some(c) if c.value != value => {
                after.history.violations |= violation::STATE_MACHINE_SAFETY;
            }
            Some(_) => {}
            None if k == after.history.committed.len() => {
                let commit_term = server.current_term;
                after.history.committed.push(Committed {
                    term,
                    value,
                    commit_term,
                });
                if after.history.crashes > 0 {
                    after.history.reached |= reached::COMMIT_AFTER_RESTART;
                }
            }
            None => after.history.violations |= violation::STATE_MACHINE_SAFETY,
        }
    }
}

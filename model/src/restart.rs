//! Crash and restart (Figure 2's persistent/volatile split, §7's "restores its state from
//! the snapshot"). One action covers both: while down a server takes no steps and its
//! messages wait in the network, which an idle server that is up also allows, so a separate
//! "down" state would add states but no behaviours.

use crate::bugs::Bug;
use crate::server::ServerState;

/// `Restart(i)`: volatile state is lost; term, vote, snapshot and the durable prefix of the
/// log survive (the entries past `durable_index` were never synced, §10.2.1); the service
/// is restored from the snapshot, and commit/applied fall back to it.
pub fn restart(s: &mut ServerState, bug: Option<Bug>) {
    s.become_follower();
    // Rules P1-P3: term, vote and log are persistent; each variant loses one of them.
    // Term and vote are written before any message that depends on them leaves (rule D3),
    // so they are always durable; the log is durable up to `durable_index`.
    match bug {
        Some(Bug::ForgetTermOnRestart) => s.current_term = 0,
        Some(Bug::ForgetVoteOnRestart) => s.voted_for = None,
        Some(Bug::ForgetLogOnRestart) => s.log.clear(),
        _ => {}
    }
    s.truncate_from(s.durable_index + 1);
    s.commit_index = s.snapshot.last_included_index;
    s.last_applied = s.snapshot.last_included_index;
    s.applied = if bug == Some(Bug::RestartWithoutSnapshot) {
        Vec::new()
    } else {
        s.snapshot.data.clone()
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Snapshot;
    use crate::types::{Entry, Role, ServerId};

    #[test]
    fn restart_keeps_persistent_state_and_falls_back_to_the_snapshot() {
        let mut s = ServerState::new();
        s.current_term = 3;
        s.voted_for = Some(ServerId(1));
        s.role = Role::Leader;
        s.snapshot = Snapshot {
            last_included_index: 1,
            last_included_term: 2,
            data: vec![7],
        };
        s.log = vec![Entry { term: 3, value: 8 }, Entry { term: 3, value: 9 }];
        s.durable_index = 2;
        s.commit_index = 2;
        s.last_applied = 2;
        s.applied = vec![7, 8];
        restart(&mut s, None);
        assert_eq!((s.current_term, s.voted_for), (3, Some(ServerId(1))));
        assert_eq!(s.role, Role::Follower);
        assert_eq!(
            (s.commit_index, s.last_applied, s.applied.clone()),
            (1, 1, vec![7])
        );
        assert_eq!(s.log.len(), 1, "the entry past the durable index is lost");
        assert_eq!(s.durable_index, 2);
    }
}

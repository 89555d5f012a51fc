//! Log compaction (§7): the service snapshots what it has applied (`Snapshot(i, index)`),
//! and a leader brings a follower that lags behind its snapshot up to date with
//! InstallSnapshot. A snapshot never moves a server or its service backwards.

use crate::bugs::Bug;
use crate::network::Message;
use crate::server::{ServerState, Snapshot};
use crate::types::{Index, Term, Value};

/// `Snapshot(i, index)`: the service hands Raft a snapshot of its state at `index`; the
/// log keeps only what follows. Allowed for `snapshot < index <= last_applied`; anything else
/// is ignored. Returns whether the snapshot was taken.
pub fn take_snapshot(s: &mut ServerState, index: Index, bug: Option<Bug>) -> bool {
    let limit = if bug == Some(Bug::SnapshotUncommitted) {
        s.last_log_index()
    } else {
        s.last_applied
    };
    if index <= s.snapshot.last_included_index || index > limit {
        return false;
    }
    let Some(term) = s.term_at(index) else {
        return false;
    };
    let data: Vec<Value> = (1..=index).filter_map(|i| service_value(s, i)).collect();
    s.log = s.entries_from(index + 1);
    s.snapshot = Snapshot {
        last_included_index: index,
        last_included_term: term,
        data,
    };
    // The snapshot is written atomically and covers the log up to `index`, so at least
    // that much is durable (§10.2.1; `docs/protocol.md`, "Durability").
    s.durable_index = s.durable_index.max(index);
    true
}

/// The service's value at `index`: what it applied, or (bug variant only) the log's.
fn service_value(s: &ServerState, index: Index) -> Option<Value> {
    s.applied
        .get(usize::from(index) - 1)
        .copied()
        .or_else(|| s.value_at(index))
}

/// §7, InstallSnapshot receiver, for a request of the current term (normalised by the
/// caller). Returns the reply and whether the snapshot was installed.
pub fn handle_install_snapshot(
    s: &mut ServerState,
    bug: Option<Bug>,
    last_included_index: Index,
    last_included_term: Term,
    data: &[Value],
) -> (Message, bool) {
    s.become_follower();
    let reply = Message::InstallSnapshotReply {
        term: s.current_term,
        last_included_index,
    };
    let older = last_included_index <= s.commit_index;
    if older && bug != Some(Bug::InstallOlderSnapshot) {
        // An older or equal snapshot never moves the server or its service backwards.
        return (reply, false);
    }
    // Rules IS6/IS7: keep the log after the snapshot only if it agrees at the snapshot's
    // last entry; otherwise discard all of it.
    let agrees = s.term_at(last_included_index) == Some(last_included_term);
    let keep = match bug {
        Some(Bug::DiscardLogOnInstall) => false,
        Some(Bug::KeepLogOnSnapshotMismatch) => true,
        _ => agrees,
    };
    s.log = if keep {
        s.entries_from(last_included_index + 1)
    } else {
        Vec::new()
    };
    // The installed snapshot is durable; a kept suffix stays as durable as it was, a
    // discarded log takes its durable part with it.
    s.durable_index = if keep {
        s.durable_index.max(last_included_index)
    } else {
        last_included_index
    };
    s.snapshot = Snapshot {
        last_included_index,
        last_included_term,
        data: data.to_vec(),
    };
    // Rule IS8: the snapshot is committed; the service is reset to it.
    if bug != Some(Bug::InstallKeepsCommitIndex) {
        s.commit_index = last_included_index;
    }
    s.last_applied = last_included_index;
    if bug != Some(Bug::InstallWithoutService) {
        s.applied = data.to_vec();
    }
    (reply, true)
}

/// Leader, on an InstallSnapshotReply of its term: the follower now holds the snapshot.
pub fn handle_install_snapshot_reply(
    s: &mut ServerState,
    from: crate::types::ServerId,
    last_included_index: Index,
    bug: Option<Bug>,
) {
    if s.role != crate::types::Role::Leader {
        return;
    }
    let j = from.index();
    // Rule IS9: the follower proved only the snapshot's index (echoed in the reply), never
    // the leader's own last index, which may have grown since the snapshot was sent.
    let proved = if bug == Some(Bug::SnapshotReplyMatchOwnLog) {
        s.last_log_index()
    } else {
        last_included_index
    };
    s.match_index[j] = s.match_index[j].max(proved);
    s.next_index[j] = s.next_index[j].max(proved + 1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Entry;

    fn applied_follower() -> ServerState {
        let mut s = ServerState::new();
        s.current_term = 1;
        s.log = vec![Entry { term: 1, value: 1 }, Entry { term: 1, value: 2 }];
        s.commit_index = 2;
        s.last_applied = 2;
        s.applied = vec![1, 2];
        s
    }

    #[test]
    fn snapshot_only_up_to_what_is_applied() {
        let mut s = applied_follower();
        s.log.push(Entry { term: 1, value: 3 });
        assert!(!take_snapshot(&mut s, 3, None));
        assert!(take_snapshot(&mut s, 2, None));
        assert_eq!(s.snapshot.last_included_index, 2);
        assert_eq!(s.snapshot.data, vec![1, 2]);
        assert_eq!(s.log, vec![Entry { term: 1, value: 3 }]);
        assert!(!take_snapshot(&mut s, 1, None), "never backwards");
    }

    #[test]
    fn an_older_snapshot_is_not_installed() {
        // Reference: §7 ("If instead the follower receives a snapshot that describes a prefix of its log…").
        let mut s = applied_follower();
        let (_, installed) = handle_install_snapshot(&mut s, None, 1, 1, &[1]);
        assert!(!installed);
        assert_eq!((s.commit_index, s.applied.len()), (2, 2));
        let (_, buggy) =
            handle_install_snapshot(&mut s, Some(Bug::InstallOlderSnapshot), 1, 1, &[1]);
        assert!(buggy);
        assert_eq!(s.applied, vec![1]);
    }

    #[test]
    fn a_newer_snapshot_keeps_the_matching_suffix_of_the_log() {
        let mut s = ServerState::new();
        s.current_term = 1;
        s.log = vec![Entry { term: 1, value: 1 }, Entry { term: 1, value: 2 }];
        let (_, installed) = handle_install_snapshot(&mut s, None, 1, 1, &[1]);
        assert!(installed);
        assert_eq!(s.log, vec![Entry { term: 1, value: 2 }]);
        assert_eq!(
            (s.commit_index, s.last_applied, s.applied.clone()),
            (1, 1, vec![1])
        );
    }
}

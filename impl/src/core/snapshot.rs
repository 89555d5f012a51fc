//! Snapshots (§7): the service compacts the log; a leader brings a lagging follower up to
//! date with InstallSnapshot; nothing ever moves a server or its service backwards.

use std::sync::Arc;

use super::role::RoleState;
use super::{Apply, Core, Message, Role};

impl Core {
    /// Snapshot(i, index): allowed for `snapshot_index < index <= last_applied`; any other
    /// index is ignored.
    pub(super) fn compact(&mut self, index: u64, data: Vec<u8>) {
        // Mutation SnapshotUncommitted breaks §7: the limit is the log's end, not applied.
        let limit = if mutated!(self.mutation, SnapshotUncommitted) {
            self.log.last_index()
        } else {
            self.last_applied
        };
        if index <= self.log.snapshot_index() || index > limit {
            return;
        }
        let term = self
            .log
            .term_at(index)
            .expect("applied entries after the snapshot are in the log");
        self.log
            .compact(index, term)
            .expect("checked above: index > snapshot_index");
        self.snapshot_data = Arc::new(data);
        self.mark_dirty();
    }

    pub(super) fn send_install_snapshot(&mut self, peer: usize) {
        let request = Message::InstallSnapshot {
            term: self.current_term,
            leader: self.config.id,
            last_included_index: self.log.snapshot_index(),
            last_included_term: self.log.snapshot_term(),
            data: self.snapshot_data.as_ref().clone(),
        };
        self.send(peer, request);
    }

    /// InstallSnapshot receiver, after term normalisation (`term == current_term`).
    pub(super) fn handle_install_snapshot(
        &mut self,
        leader: usize,
        last_included_index: u64,
        last_included_term: u64,
        data: Vec<u8>,
    ) {
        if self.role() == Role::Leader {
            return; // Two leaders in one term cannot happen (§5.2); the bytes are bogus.
        }
        self.become_follower(self.current_term);
        self.leader_id = Some(leader);
        self.reset_election_timer();
        // An older or equal snapshot never moves the server or its service backwards.
        // Mutation InstallOlderSnapshot breaks §7: a snapshot at or below commit (but past
        // our own snapshot, which the log cannot represent) installs.
        let newer = last_included_index > self.commit_index
            || (mutated!(self.mutation, InstallOlderSnapshot)
                && last_included_index > self.log.snapshot_index());
        if newer && last_included_term <= self.current_term {
            self.log
                .compact(last_included_index, last_included_term)
                .expect("newer: past commit_index, which is at least snapshot_index");
            let data = Arc::new(data);
            self.snapshot_data = Arc::clone(&data);
            self.commit_index = last_included_index;
            self.last_applied = last_included_index;
            self.mark_dirty();
            self.ready.applies.push(Apply::Snapshot {
                index: last_included_index,
                term: last_included_term,
                data,
            });
        }
        let reply = Message::InstallSnapshotReply {
            term: self.current_term,
            last_included_index,
        };
        self.send(leader, reply);
    }

    /// Leader, on an InstallSnapshot reply of its own term: the follower now holds at least
    /// the snapshot.
    pub(super) fn handle_install_snapshot_reply(&mut self, from: usize, last_included_index: u64) {
        let last_index = self.log.last_index();
        let RoleState::Leader(progress) = &mut self.state else {
            return;
        };
        progress.in_flight[from] = None;
        if last_included_index > last_index {
            return; // We never sent a snapshot past our log: bogus reply.
        }
        progress.match_index[from] = progress.match_index[from].max(last_included_index);
        progress.next_index[from] = progress.next_index[from].max(last_included_index + 1);
        if !self.advance_commit_index() && self.follower_is_behind(from) {
            self.send_append_entries(from);
        }
    }
}

//! Snapshots (§7): the service compacts the log; a leader brings a lagging follower up to
//! date with InstallSnapshot; nothing ever moves a server or its service backwards.

use std::sync::Arc;

use super::chunk::{self, Received, SnapshotKey, Transfer};
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

    /// InstallSnapshot to `peer`: the chunk of `snapshot_chunk_bytes` at the transfer's
    /// offset, or at 0 if the transfer is of an older snapshot or has not started
    /// (Figure 13; a snapshot that fits one chunk is one message, offset 0 and `done`).
    pub(super) fn send_install_snapshot(&mut self, peer: usize) {
        let RoleState::Leader(progress) = &mut self.state else {
            return;
        };
        let index = self.log.snapshot_index();
        let data = self.snapshot_data.as_slice();
        let len = data.len() as u64;
        let offset = match progress.transfers[peer] {
            Some(t) if t.index == index && t.offset < len => t.offset,
            _ => 0,
        };
        progress.transfers[peer] = Some(Transfer { index, offset });
        let chunk = self.config.snapshot_chunk_bytes as u64;
        let end = len.min(offset + chunk);
        let request = Message::InstallSnapshot {
            term: self.current_term,
            leader: self.config.id,
            last_included_index: index,
            last_included_term: self.log.snapshot_term(),
            offset,
            data: data[offset as usize..end as usize].to_vec(),
            done: end == len,
        };
        self.send(peer, request);
    }

    /// InstallSnapshot receiver, after term normalisation (`term == current_term`): Figure
    /// 13 rules 2–5 assemble the chunks (`chunk.rs`); the complete snapshot installs by
    /// rules IS5–IS8 (`docs/protocol.md`).
    #[allow(clippy::too_many_arguments)] // The fields of one Figure 13 request.
    pub(super) fn handle_install_snapshot(
        &mut self,
        leader: usize,
        last_included_index: u64,
        last_included_term: u64,
        offset: u64,
        data: Vec<u8>,
        done: bool,
    ) {
        if self.role() == Role::Leader {
            return; // Two leaders in one term cannot happen (§5.2); the bytes are bogus.
        }
        self.become_follower(self.current_term);
        self.leader_id = Some(leader);
        self.reset_election_timer();
        // A partial snapshot of an older term or one the log has overtaken is never needed.
        let (term, commit) = (self.current_term, self.commit_index);
        if self
            .receiving_snapshot
            .as_ref()
            .is_some_and(|p| p.key.leader_term != term || p.key.index <= commit)
        {
            self.receiving_snapshot = None;
        }
        // An older or equal snapshot never moves the server or its service backwards.
        // Mutation InstallOlderSnapshot breaks §7: a snapshot at or below commit (but past
        // our own snapshot, which the log cannot represent) installs.
        let newer = last_included_index > self.commit_index
            || (mutated!(self.mutation, InstallOlderSnapshot)
                && last_included_index > self.log.snapshot_index());
        let key = SnapshotKey {
            leader_term: term,
            index: last_included_index,
            term: last_included_term,
        };
        let installable = newer && last_included_term <= self.current_term;
        let held = if installable {
            match chunk::receive(&mut self.receiving_snapshot, key, offset, data, done) {
                Received::Complete(data) => {
                    self.install_snapshot(last_included_index, last_included_term, data);
                    None
                }
                Received::Holding(held) => Some(held),
            }
        } else {
            None // IS5: the server holds all of it already; the leader may move on (IS9).
        };
        let reply = Message::InstallSnapshotReply {
            term: self.current_term,
            last_included_index,
            offset: held.unwrap_or(0),
            done: held.is_none(),
        };
        self.send(leader, reply);
    }

    /// IS6–IS8: the snapshot replaces the log up to its index (the entries after it are
    /// kept if the log agrees at the index), is committed and applied, and goes to the
    /// service.
    fn install_snapshot(&mut self, index: u64, term: u64, data: Vec<u8>) {
        self.log
            .compact(index, term)
            .expect("newer: past commit_index, which is at least snapshot_index");
        let data = Arc::new(data);
        self.snapshot_data = Arc::clone(&data);
        self.commit_index = index;
        self.last_applied = index;
        self.mark_dirty();
        self.ready
            .applies
            .push(Apply::Snapshot { index, term, data });
    }

    /// Leader, on an InstallSnapshot reply of its own term. `done`: the follower now holds
    /// at least the snapshot (IS9). Otherwise it holds `offset` bytes of it: a reply past
    /// the chunk last sent acknowledges it, and the next chunk goes out; one before it (the
    /// follower lost its partial snapshot, or a late reply) rewinds the transfer there; one
    /// at it is the reply that already caused the chunk outstanding (the heartbeat resends
    /// it if it is lost).
    pub(super) fn handle_install_snapshot_reply(
        &mut self,
        from: usize,
        last_included_index: u64,
        offset: u64,
        done: bool,
    ) {
        let last_index = self.log.last_index();
        let snapshot_index = self.log.snapshot_index();
        let snapshot_len = self.snapshot_data.len() as u64;
        let RoleState::Leader(progress) = &mut self.state else {
            return;
        };
        progress.in_flight[from].replied();
        if last_included_index > last_index {
            return; // We never sent a snapshot past our log: bogus reply.
        }
        if !done {
            let transfer = &mut progress.transfers[from];
            let Some(t) = transfer.filter(|t| t.index == last_included_index) else {
                return; // A reply about a snapshot we no longer send.
            };
            if last_included_index != snapshot_index || offset >= snapshot_len {
                // Not our snapshot any more, or more bytes than it has: start over.
                *transfer = None;
            } else if offset != t.offset {
                *transfer = Some(Transfer {
                    index: t.index,
                    offset,
                });
            } else {
                return;
            }
            if progress.next_index[from] <= snapshot_index {
                self.send_append_entries(from);
            }
            return;
        }
        if progress.transfers[from].is_some_and(|t| t.index <= last_included_index) {
            progress.transfers[from] = None;
        }
        progress.match_index[from] = progress.match_index[from].max(last_included_index);
        progress.next_index[from] = progress.next_index[from].max(last_included_index + 1);
        // The reply-driven send asks the window, as after an AppendEntries reply: with a
        // chunk re-sent by a forced heartbeat still out, the window stays full. (The next
        // chunk above does not ask: the window for chunks is 1 and the reply that acknowledges
        // a chunk sends the next one; the duplicate's reply names the offset already sent
        // and sends nothing, so one chunk again is outstanding.)
        if !self.advance_commit_index() && self.follower_is_behind(from) && self.has_room(from) {
            self.send_append_entries(from);
        }
    }
}

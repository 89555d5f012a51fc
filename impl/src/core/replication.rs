//! Log replication (§5.3): ClientRequest, AppendEntries and its reply with the fast
//! nextIndex back-up (the Lab's XTerm/XIndex/XLen, `docs/protocol.md`).

use super::message::{APPEND_ENTRIES_FIXED_BYTES, MAX_INDEX_OR_TERM};
use super::role::{Progress, RoleState};
use super::{Bytes, Core, Entry, Message, Role};

impl Core {
    /// ClientRequest: a leader appends the command in its term and starts replicating it.
    /// A command over [`Config::max_command_bytes`](super::Config::max_command_bytes) is
    /// refused (no AppendEntries could carry it), and so is one whose index would reach
    /// [`MAX_INDEX_OR_TERM`] (the state encoder refuses such an index): `proposed` stays
    /// `None`.
    pub(super) fn propose(&mut self, command: Bytes) {
        if self.role() != Role::Leader {
            return;
        }
        let max = self.config.max_command_bytes();
        if command.len() > max {
            tracing::debug!(bytes = command.len(), max, "command too large; refused");
            return;
        }
        if self.log.last_index() + 1 >= MAX_INDEX_OR_TERM {
            tracing::warn!(
                me = self.config.id,
                "the log is at the largest index; command refused"
            );
            return;
        }
        let term = self.current_term;
        self.log.append(Entry { term, command });
        self.mark_dirty();
        let last_index = self.log.last_index();
        let me = self.config.id;
        if let RoleState::Leader(progress) = &mut self.state {
            progress.match_index[me] = last_index;
        }
        self.ready.proposed = Some((last_index, term));
        // Send now only to peers with nothing outstanding; the others get the entry with
        // the reply-driven send or the next heartbeat. This batches bursts of proposals.
        self.broadcast_append_entries(false);
        self.advance_commit_index();
    }

    /// Sends AppendEntries (or InstallSnapshot) to every peer; with `force == false` (new
    /// entries, a new commit index) only to peers whose window of outstanding requests has
    /// room ([`Core::window`]); `force` (the heartbeat, §5.2) sends to all.
    pub(super) fn broadcast_append_entries(&mut self, force: bool) {
        // Peer by peer, not a collected list of targets: this runs on every proposal, and
        // the list was an allocation per commit. The same peers are chosen: a send changes
        // only its own peer's progress, never another's window.
        for peer in 0..self.config.servers {
            let RoleState::Leader(progress) = &self.state else {
                return;
            };
            if peer != self.config.id && (force || self.window_has_room(progress, peer)) {
                self.send_append_entries(peer);
            }
        }
    }

    /// Whether the window of requests outstanding to `peer` has room for one more (or has
    /// timed out, [`InFlight::timed_out`](super::role::InFlight::timed_out)).
    fn window_has_room(&self, progress: &Progress, peer: usize) -> bool {
        let timeout = u64::from(self.config.in_flight_timeout_ticks);
        let window = self.window(progress.next_index[peer]);
        !progress.in_flight[peer].is_full(window, self.ticks, timeout)
    }

    /// How many requests may be outstanding to a follower whose `next_index` is
    /// `next_index`: `max_inflight_appends` AppendEntries, but one InstallSnapshot chunk at a
    /// time (each chunk goes at the offset the previous reply acknowledged, Figure 13).
    /// Flow control only: it decides when a request goes out, never what it says.
    pub(super) fn window(&self, next_index: u64) -> usize {
        if next_index <= self.log.snapshot_index() {
            1
        } else {
            self.config.max_inflight_appends
        }
    }

    /// AppendEntries with the entries from `next_index[peer]`, at most
    /// `max_entries_per_message` of them and at most `max_bytes_per_message` in all (but at
    /// least one), or InstallSnapshot when those entries are already compacted (§7).
    ///
    /// Pipelining (rule L5 of `docs/protocol.md`; `max_inflight_appends > 1`): a request
    /// that carries entries advances `next_index[peer]` past them at once, optimistically,
    /// so the next request carries the entries after them without waiting for the reply.
    /// Safety does not depend on it: `next_index` only chooses what the leader offers, the
    /// follower's consistency check (AppendEntries rule 2) decides what it accepts, and
    /// `match_index` moves only on a success reply (rule L1). A request lost in the middle
    /// makes the next one fail that check; its rejection backs `next_index` up (rule L2).
    /// With a window of 1 `next_index` moves only on replies (Figure 2 as written).
    pub(super) fn send_append_entries(&mut self, peer: usize) {
        let window = self.window(match &self.state {
            RoleState::Leader(progress) => progress.next_index[peer],
            _ => return,
        });
        let pipelined = self.config.max_inflight_appends > 1;
        let RoleState::Leader(progress) = &mut self.state else {
            return;
        };
        let timeout = u64::from(self.config.in_flight_timeout_ticks);
        progress.in_flight[peer].sent(window, self.ticks, timeout);
        let next_index = progress.next_index[peer];
        if next_index <= self.log.snapshot_index() {
            self.send_install_snapshot(peer);
            return;
        }
        let prev_log_index = next_index - 1;
        let prev_log_term = self
            .log
            .term_at(prev_log_index)
            .expect("next_index is after the snapshot and at most last_index + 1");
        progress.sent_commit[peer] = self.commit_index;
        let entries = self.log.slice_bounded(
            next_index,
            self.config.max_entries_per_message,
            self.config
                .max_bytes_per_message
                .saturating_sub(APPEND_ENTRIES_FIXED_BYTES),
        );
        if pipelined && !entries.is_empty() {
            progress.next_index[peer] = prev_log_index + entries.len() as u64 + 1;
            // Mutation MatchOnSend breaks rule L1: only a success reply proves the entries
            // are on the follower; sending them proves nothing.
            if mutated!(self.mutation, MatchOnSend) {
                let sent = prev_log_index + entries.len() as u64;
                progress.match_index[peer] = progress.match_index[peer].max(sent);
            }
        }
        let request = Message::AppendEntries {
            term: self.current_term,
            leader: self.config.id,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit: self.commit_index,
        };
        self.send(peer, request);
    }

    /// AppendEntries receiver (Figure 2), after term normalisation (`term == current_term`).
    pub(super) fn handle_append_entries(
        &mut self,
        leader: usize,
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
    ) {
        if self.role() == Role::Leader {
            return; // Two leaders in one term cannot happen (§5.2); the bytes are bogus.
        }
        self.become_follower(self.current_term);
        self.leader_id = Some(leader);
        self.reset_election_timer();
        let received = entries.len();
        let (prev_log_index, prev_log_term, entries) =
            self.skip_compacted(prev_log_index, prev_log_term, entries);
        let reply = match self.log.term_at(prev_log_index) {
            // Mutation NoPrevLogCheck breaks AppendEntries rule 2: any term at prev matches.
            Some(term) if term == prev_log_term || mutated!(self.mutation, NoPrevLogCheck) => {
                if self
                    .first_conflict(prev_log_index, &entries)
                    .is_some_and(|i| i <= self.commit_index)
                {
                    return; // Would delete a committed entry (§5.4): bogus bytes, drop them.
                }
                let match_index = prev_log_index + entries.len() as u64;
                self.merge_entries(prev_log_index, entries, received);
                let new_commit = leader_commit.min(match_index);
                if new_commit > self.commit_index {
                    self.commit_index = new_commit;
                }
                accept(self.current_term, match_index)
            }
            Some(term) => {
                let conflict_index = self.log.first_index_of_term_run(prev_log_index, term);
                reject(self.current_term, conflict_index, Some(term))
            }
            None => reject(self.current_term, self.log.last_index() + 1, None),
        };
        self.send(leader, reply);
    }

    /// Rule 1 of `docs/protocol.md`: entries at or below our snapshot are committed already;
    /// the consistency check starts from the snapshot instead.
    fn skip_compacted(
        &self,
        prev_log_index: u64,
        prev_log_term: u64,
        mut entries: Vec<Entry>,
    ) -> (u64, u64, Vec<Entry>) {
        let snapshot_index = self.log.snapshot_index();
        if prev_log_index >= snapshot_index {
            return (prev_log_index, prev_log_term, entries);
        }
        let covered = snapshot_index - prev_log_index;
        if covered > entries.len() as u64 {
            // The request ends at or before our snapshot: all of it is committed here.
            return (snapshot_index, self.log.snapshot_term(), Vec::new());
        }
        // The leader's entry at our snapshot index becomes the one the check compares
        // with our snapshot's term (as the model does).
        let covered = covered as usize;
        let new_prev_term = entries[covered - 1].term;
        entries.drain(..covered);
        (snapshot_index, new_prev_term, entries)
    }

    /// The index of the first entry that conflicts with ours (same index, other term).
    fn first_conflict(&self, prev_log_index: u64, entries: &[Entry]) -> Option<u64> {
        (prev_log_index + 1..)
            .zip(entries)
            .find(|(index, entry)| self.log.term_at(*index).is_some_and(|t| t != entry.term))
            .map(|(index, _)| index)
    }

    /// Figure 2 AppendEntries rules 3–4: keep matching entries, truncate at the first
    /// conflict only, append the rest. A matching (stale or duplicate) request never
    /// truncates, so it cannot remove entries appended later.
    fn merge_entries(&mut self, prev_log_index: u64, entries: Vec<Entry>, received: usize) {
        if mutated!(self.mutation, TruncateOnEveryAppend) {
            // Breaks rule 3: matching entries go.
            self.log
                .truncate_from(prev_log_index + 1)
                .expect("skip_compacted starts the merge at or after the snapshot");
            self.mark_dirty();
        }
        let mut index = prev_log_index;
        let mut entries = entries.into_iter();
        let mut unshare = false;
        for entry in entries.by_ref() {
            index += 1;
            match self.log.term_at(index) {
                Some(term) if term == entry.term => continue,
                Some(_) => {
                    self.log
                        .truncate_from(index)
                        .expect("skip_compacted starts the merge at or after the snapshot");
                }
                None => {}
            }
            // A command decoded with `Message::decode_shared` is a slice of the whole
            // received frame, and keeps all of it allocated for as long as the entry lives
            // (in the log until compaction, in an apply, in a storage's copy). When only a
            // tail of the request is new (a resend after a lost reply or an in-flight
            // timeout, or a request reaching below our snapshot), a few kept entries would
            // pin a frame of mostly duplicates, up to `max_bytes_per_message` each: copy
            // them out. Where every entry is kept (the usual case) the frame holds little
            // but the entries themselves, and they stay shared.
            unshare = entries.len() + 1 < received;
            self.log.append(owned(entry, unshare));
            self.mark_dirty();
            break;
        }
        for entry in entries {
            self.log.append(owned(entry, unshare));
        }
    }

    /// Leader, on an AppendEntries reply of its own term.
    pub(super) fn handle_append_entries_reply(
        &mut self,
        from: usize,
        success: bool,
        match_index: u64,
        conflict_index: u64,
        conflict_term: Option<u64>,
    ) {
        let last_index = self.log.last_index();
        let backed_up_next =
            (!success).then(|| self.backed_up_next_index(conflict_index, conflict_term));
        let RoleState::Leader(progress) = &mut self.state else {
            return;
        };
        progress.in_flight[from].replied();
        if success {
            if match_index > last_index {
                return; // A follower cannot hold entries we never had: bogus reply.
            }
            // Rule L1. Replies may be reordered or duplicated (and, pipelined, answer
            // requests sent before later ones): never move backwards.
            progress.match_index[from] = progress.match_index[from].max(match_index);
            progress.next_index[from] = progress.next_index[from].max(match_index + 1);
        } else if let Some(next) = backed_up_next {
            // Rule L2: back up from the hints, never below what the follower is known to
            // hold nor past our log.
            let floor = progress.match_index[from] + 1;
            progress.next_index[from] = next.clamp(floor, last_index + 1);
            // Requests still outstanding were sent after the one that failed the check
            // (pipelining): they fail it too, so the window starts empty again.
            progress.in_flight[from].count = 0;
        }
        // Advancing the commit index tells every follower whose window has room, `from`
        // included. Otherwise the reply-driven send: `from` gets what it lacks (after a
        // rejection, the entries from the backed-up `next_index`, rule L2) if the reply
        // freed a slot. It asks the window like any non-forced send: the reply to one of
        // `window + 1` requests (the window and a forced heartbeat, `InFlight::sent`)
        // leaves it full, and sending anyway would keep `window + 1` requests in flight for
        // as long as the follower stays behind. The request still out brings its own reply,
        // and with it this send (if it is lost: the next heartbeat, which carries what the
        // follower lacks, and after the in-flight timeout any send).
        // A rejection emptied the window above, so the back-up always goes at once.
        if !self.advance_commit_index()
            && (!success || self.follower_is_behind(from))
            && self.has_room(from)
        {
            self.send_append_entries(from);
        }
    }

    /// Whether this leader's window to `peer` has room ([`Self::window_has_room`]).
    pub(super) fn has_room(&self, peer: usize) -> bool {
        match &self.state {
            RoleState::Leader(progress) => self.window_has_room(progress, peer),
            _ => false,
        }
    }

    /// Whether `peer` lacks entries, or has not been told the current commit index.
    pub(super) fn follower_is_behind(&self, peer: usize) -> bool {
        match &self.state {
            RoleState::Leader(progress) => {
                progress.next_index[peer] <= self.log.last_index()
                    || progress.sent_commit[peer] < self.commit_index
            }
            _ => false,
        }
    }

    /// The fast back-up of `next_index` from a rejection's hints.
    fn backed_up_next_index(&self, conflict_index: u64, conflict_term: Option<u64>) -> u64 {
        conflict_term
            .and_then(|term| self.log.last_index_of_term(term))
            .map_or(conflict_index, |last| last + 1)
    }
}

/// A successful AppendEntries reply in `term` acknowledging entries up to `match_index`.
pub(super) fn accept(term: u64, match_index: u64) -> Message {
    Message::AppendEntriesReply {
        term,
        success: true,
        match_index,
        conflict_index: 0,
        conflict_term: None,
    }
}

fn reject(term: u64, conflict_index: u64, conflict_term: Option<u64>) -> Message {
    Message::AppendEntriesReply {
        term,
        success: false,
        match_index: 0,
        conflict_index,
        conflict_term,
    }
}

/// `entry`, with its command copied into a buffer of its own if `unshare` (see
/// `merge_entries`: a kept tail must not pin the frame it arrived in).
fn owned(entry: Entry, unshare: bool) -> Entry {
    if unshare && !entry.command.is_empty() {
        Entry {
            term: entry.term,
            command: Bytes::copy_from_slice(&entry.command),
        }
    } else {
        entry
    }
}

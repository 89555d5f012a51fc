//! Log replication (§5.3): `ClientRequest`, the AppendEntries RPC a leader sends to one
//! follower (or InstallSnapshot when the follower needs what the leader compacted, §7), the
//! follower's handling, and the leader's handling of the reply with fast back-up hints.

use crate::bugs::Bug;
use crate::commit::apply_committed;
use crate::network::Message;
use crate::server::ServerState;
use crate::types::{Entry, Index, Role, ServerId, Term, Value};

/// `ClientRequest(i, v)` (§5.3): the leader appends `(current_term, v)`. With
/// `durable_prefix` the entry is not yet on stable storage: the leader may send it before
/// its own write completes (§10.2.1), and `Sync(i)` makes it durable later. Without it the
/// entry is durable at once.
pub fn client_request(s: &mut ServerState, value: Value, durable_prefix: bool) {
    debug_assert_eq!(s.role, Role::Leader);
    s.log.push(Entry {
        term: s.current_term,
        value,
    });
    if !durable_prefix {
        s.durable_index = s.last_log_index();
    }
}

/// What leader `s` sends to `peer` now: AppendEntries with every entry from
/// `next_index[peer]` (at most `cap` of them, if capped: a prefix is as good a request,
/// the follower's rules hold for any suffix of the leader's log it is sent), or
/// InstallSnapshot if that index is already compacted (§7).
pub fn append_entries_for(
    s: &ServerState,
    me: ServerId,
    peer: ServerId,
    cap: Option<u8>,
) -> Message {
    debug_assert_eq!(s.role, Role::Leader);
    let next = s.next_index[peer.index()];
    if next <= s.snapshot.last_included_index {
        return Message::InstallSnapshot {
            term: s.current_term,
            leader: me,
            last_included_index: s.snapshot.last_included_index,
            last_included_term: s.snapshot.last_included_term,
            data: s.snapshot.data.clone(),
        };
    }
    let prev_log_index = next - 1;
    Message::AppendEntries {
        term: s.current_term,
        leader: me,
        prev_log_index,
        prev_log_term: s.term_at(prev_log_index).unwrap_or(0),
        entries: match cap {
            Some(cap) => s
                .entries_from(next)
                .into_iter()
                .take(usize::from(cap))
                .collect(),
            None => s.entries_from(next),
        },
        leader_commit: s.commit_index,
    }
}

/// Rule L5 (pipelining, `Config::pipelined`): after sending `msg` to `peer`, a leader's
/// `next_index[peer]` moves past the entries it carries, before any reply; a request with
/// no entries (a heartbeat) leaves it. Returns whether it moved. Safety does not depend on
/// it: `next_index` only chooses what the leader offers; the follower's check (AE2) decides
/// what it accepts and only a success reply moves `match_index` (L1). A lost request makes
/// the next one fail AE2, and its rejection backs `next_index` up (L2). The variant
/// `match-on-send` moves `match_index` here too, counting a request as an acknowledgement.
pub fn advance_next_index_on_send(
    s: &mut ServerState,
    peer: ServerId,
    msg: &Message,
    bug: Option<Bug>,
) -> bool {
    let Message::AppendEntries {
        prev_log_index,
        entries,
        ..
    } = msg
    else {
        return false;
    };
    if entries.is_empty() {
        return false;
    }
    let next = prev_log_index + entries.len() as Index + 1;
    let slot = &mut s.next_index[peer.index()];
    let mut moved = *slot != next;
    *slot = next;
    if bug == Some(Bug::MatchOnSend) {
        // Breaks L1: the leader has sent these entries, not learned that the peer holds them.
        let matched = &mut s.match_index[peer.index()];
        moved |= *matched < next - 1;
        *matched = (*matched).max(next - 1);
    }
    moved
}

/// Figure 2, AppendEntries receiver, for a request of the current term (normalised by the
/// caller). Steps 1–5 are those of `docs/protocol.md`.
pub fn handle_append_entries(
    s: &mut ServerState,
    bug: Option<Bug>,
    prev_log_index: Index,
    prev_log_term: Term,
    entries: &[Entry],
    leader_commit: Index,
) -> Message {
    s.become_follower();
    // 1. Entries at or below our snapshot are committed: skip them, check from the snapshot.
    let base = s.snapshot.last_included_index;
    let (mut prev, mut prev_term, mut entries) = (prev_log_index, prev_log_term, entries);
    if prev < base && bug != Some(Bug::NoSnapshotSkip) {
        let covered = usize::from(base - prev);
        if entries.len() >= covered {
            prev_term = entries[covered - 1].term;
            entries = &entries[covered..];
        } else {
            prev_term = s.snapshot.last_included_term;
            entries = &[];
        }
        prev = base;
    }
    // 2. The log must contain an entry at prev with the leader's term there.
    if let Some(reply) = reject_if_mismatch(s, bug, prev, prev_term) {
        return reply;
    }
    // 3. Keep matching entries; truncate only from the first conflict (never on a match).
    append_new_entries(s, bug, prev, entries);
    // AE5. Learn the leader's commit, bounded by what this request proved we hold, and
    // never lower what we already know committed.
    let last_new = prev + entries.len() as Index;
    let learned = leader_commit.min(last_new);
    s.commit_index = if bug == Some(Bug::CommitIndexDecreases) {
        learned
    } else {
        s.commit_index.max(learned)
    };
    apply_committed(s, bug);
    // AE6. Success, telling the leader how far this request proved we match.
    let match_index = if bug == Some(Bug::ReplyMatchLastLog) {
        s.last_log_index()
    } else {
        last_new
    };
    Message::AppendEntriesReply {
        term: s.current_term,
        success: true,
        match_index,
        conflict_index: 0,
        conflict_term: None,
    }
}

/// Step 2 with the fast back-up hints (Lab 2C's XLen/XIndex/XTerm).
fn reject_if_mismatch(
    s: &ServerState,
    bug: Option<Bug>,
    prev: Index,
    prev_term: Term,
) -> Option<Message> {
    let reject = |conflict_index, conflict_term| {
        Some(Message::AppendEntriesReply {
            term: s.current_term,
            success: false,
            match_index: 0,
            conflict_index,
            conflict_term,
        })
    };
    // AE2a: the log must reach `prev`.
    if prev > s.last_log_index() && bug != Some(Bug::NoLogLengthCheck) {
        return reject(s.last_log_index() + 1, None);
    }
    match s.term_at(prev) {
        // AE2b: the entry at `prev` must carry the leader's term there.
        Some(t) if t != prev_term && bug != Some(Bug::NoPrevLogCheck) => {
            let mut first = prev;
            while first > s.snapshot.last_included_index + 1 && s.term_at(first - 1) == Some(t) {
                first -= 1;
            }
            reject(first, Some(t))
        }
        _ => None,
    }
}

/// Steps AE3/AE4: an existing entry with the same index and term is kept; at the first
/// conflict that entry and all after it go, and the rest of the request is appended.
fn append_new_entries(s: &mut ServerState, bug: Option<Bug>, prev: Index, entries: &[Entry]) {
    if bug == Some(Bug::TruncateOnEveryAppend) {
        if prev < s.last_log_index() {
            s.truncate_from(prev + 1);
        }
        s.log.extend_from_slice(entries);
        return;
    }
    for (k, entry) in entries.iter().enumerate() {
        let index = prev + 1 + k as Index;
        match s.term_at(index) {
            Some(term) if term == entry.term => continue,
            Some(_) if bug == Some(Bug::KeepConflictingSuffix) => {
                overwrite_from(s, index, &entries[k..]);
                return;
            }
            Some(_) => {
                s.truncate_from(index);
                s.log.extend_from_slice(&entries[k..]);
                return;
            }
            None if bug == Some(Bug::AppendFromWrongOffset) => {
                s.log.extend_from_slice(entries);
                return;
            }
            None => {
                s.log.extend_from_slice(&entries[k..]);
                return;
            }
        }
    }
}

/// The `keep-conflicting-suffix` variant of AE3b: entries from `index` on are overwritten
/// one by one, and whatever the old log had after them stays.
fn overwrite_from(s: &mut ServerState, index: Index, entries: &[Entry]) {
    let base = s.snapshot.last_included_index;
    s.durable_index = s.durable_index.min(index.saturating_sub(1)).max(base);
    for (k, entry) in entries.iter().enumerate() {
        let at = usize::from(index.saturating_sub(base + 1)) + k;
        if at < s.log.len() {
            s.log[at] = *entry;
        } else {
            s.log.push(*entry);
        }
    }
}

/// Leader, on an AppendEntriesReply of its term. Replies may be reordered or duplicated,
/// so success never moves `next_index`/`match_index` backwards; a rejection uses the hints.
pub fn handle_append_entries_reply(
    s: &mut ServerState,
    from: ServerId,
    success: bool,
    match_index: Index,
    conflict_index: Index,
    conflict_term: Option<Term>,
    bug: Option<Bug>,
) {
    if s.role != Role::Leader {
        return;
    }
    let j = from.index();
    if success {
        // Rule L1: the reply's index, which the follower proved; never the leader's own.
        let match_index = if bug == Some(Bug::MatchIndexFromOwnLog) {
            s.last_log_index()
        } else {
            match_index
        };
        s.match_index[j] = s.match_index[j].max(match_index);
        s.next_index[j] = s.next_index[j].max(match_index + 1);
        return;
    }
    let hinted = match conflict_term.and_then(|t| s.last_index_of_term(t)) {
        Some(last_of_term) => last_of_term + 1,
        None => conflict_index,
    };
    s.next_index[j] = hinted.max(s.match_index[j] + 1).max(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(term: Term, value: Value) -> Entry {
        Entry { term, value }
    }

    fn follower(log: &[Entry]) -> ServerState {
        let mut s = ServerState::new();
        s.current_term = 2;
        s.log = log.to_vec();
        s
    }

    #[test]
    fn a_stale_shorter_request_never_truncates_matching_entries() {
        // Reference: Figure 2, AppendEntries rule 3 ("if an existing entry conflicts").
        let mut s = follower(&[e(1, 1), e(1, 2)]);
        let reply = handle_append_entries(&mut s, None, 0, 0, &[e(1, 1)], 0);
        assert_eq!(s.log, vec![e(1, 1), e(1, 2)]);
        assert!(matches!(
            reply,
            Message::AppendEntriesReply {
                success: true,
                match_index: 1,
                ..
            }
        ));
        let mut buggy = follower(&[e(1, 1), e(1, 2)]);
        handle_append_entries(
            &mut buggy,
            Some(Bug::TruncateOnEveryAppend),
            0,
            0,
            &[e(1, 1)],
            0,
        );
        assert_eq!(buggy.log, vec![e(1, 1)]);
    }

    #[test]
    fn a_capped_request_carries_the_first_entries_from_next_index() {
        let mut s = follower(&[e(1, 1), e(1, 2), e(2, 3), e(2, 4)]);
        s.role = Role::Leader;
        s.next_index = vec![0, 2];
        let entries = |m: Message| match m {
            Message::AppendEntries {
                prev_log_index,
                entries,
                ..
            } => (prev_log_index, entries),
            other => panic!("{other:?}"),
        };
        let (me, peer) = (ServerId(0), ServerId(1));
        let all = entries(append_entries_for(&s, me, peer, None));
        assert_eq!(all, (1, vec![e(1, 2), e(2, 3), e(2, 4)]));
        let capped = entries(append_entries_for(&s, me, peer, Some(2)));
        assert_eq!(capped, (1, vec![e(1, 2), e(2, 3)]));
    }

    #[test]
    fn a_pipelined_send_advances_next_index_past_its_entries_only() {
        // Rule L5: entries move next_index at once; a heartbeat (no entries) does not.
        let mut s = follower(&[e(1, 1), e(1, 2), e(2, 3)]);
        s.role = Role::Leader;
        s.next_index = vec![0, 2];
        s.match_index = vec![0, 0];
        let (me, peer) = (ServerId(0), ServerId(1));
        let capped = append_entries_for(&s, me, peer, Some(1));
        assert!(advance_next_index_on_send(&mut s, peer, &capped, None));
        assert_eq!(s.next_index[1], 3, "past the one entry sent");
        let rest = append_entries_for(&s, me, peer, None);
        assert!(advance_next_index_on_send(&mut s, peer, &rest, None));
        assert_eq!(s.next_index[1], 4);
        let heartbeat = append_entries_for(&s, me, peer, None);
        assert!(!advance_next_index_on_send(&mut s, peer, &heartbeat, None));
        assert_eq!(s.next_index[1], 4);
        // The reply to the first request never moves it back (L1).
        handle_append_entries_reply(&mut s, peer, true, 2, 0, None, None);
        assert_eq!((s.match_index[1], s.next_index[1]), (2, 4));
    }

    #[test]
    fn only_the_match_on_send_variant_moves_match_index_on_send() {
        // Rule L1: sending entries proves nothing about the follower's log.
        let (me, peer) = (ServerId(0), ServerId(1));
        for (bug, matched) in [(None, 0), (Some(Bug::MatchOnSend), 3)] {
            let mut s = follower(&[e(1, 1), e(1, 2), e(2, 3)]);
            s.role = Role::Leader;
            s.next_index = vec![0, 2];
            s.match_index = vec![0, 0];
            let msg = append_entries_for(&s, me, peer, None);
            assert!(advance_next_index_on_send(&mut s, peer, &msg, bug));
            assert_eq!((s.match_index[1], s.next_index[1]), (matched, 4), "{bug:?}");
        }
    }

    #[test]
    fn a_conflict_truncates_from_the_first_differing_entry() {
        let mut s = follower(&[e(1, 1), e(1, 2), e(1, 3)]);
        handle_append_entries(&mut s, None, 1, 1, &[e(2, 4)], 0);
        assert_eq!(s.log, vec![e(1, 1), e(2, 4)]);
    }

    #[test]
    fn mismatch_replies_carry_the_conflicting_term_and_its_first_index() {
        let mut s = follower(&[e(1, 1), e(1, 2)]);
        let reply = handle_append_entries(&mut s, None, 2, 2, &[], 0);
        assert_eq!(
            reply,
            Message::AppendEntriesReply {
                term: 2,
                success: false,
                match_index: 0,
                conflict_index: 1,
                conflict_term: Some(1)
            }
        );
        let short = handle_append_entries(&mut s, None, 5, 2, &[], 0);
        assert!(matches!(
            short,
            Message::AppendEntriesReply {
                conflict_index: 3,
                conflict_term: None,
                ..
            }
        ));
    }

    #[test]
    fn commit_is_learned_only_up_to_what_the_request_proved() {
        let mut s = follower(&[e(1, 1), e(1, 2)]);
        handle_append_entries(&mut s, None, 1, 1, &[], 2);
        assert_eq!(s.commit_index, 1);
        assert_eq!(s.applied, vec![1]);
    }
}

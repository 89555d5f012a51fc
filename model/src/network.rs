//! The network: every message in flight, as a sorted multiset. Loss, duplication and
//! reordering are explicit actions (`Drop`, `Duplicate`, and `Receive` of any message in
//! any order). Sending a message identical to one already in flight adds nothing: the two
//! copies would be indistinguishable from one copy plus a `Duplicate`, so only `Duplicate`
//! raises a multiplicity. That keeps redundant re-sends from inflating the state space.

use crate::types::{Entry, Index, ServerId, Term, Value};
use stateright::{Rewrite, RewritePlan};

/// The RPCs of Figure 2 and §7, with the field names of `docs/protocol.md`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Message {
    /// A vote request from a candidate (§5.2, Figure 2 "RequestVote RPC").
    RequestVote {
        /// Candidate's term.
        term: Term,
        /// Candidate requesting the vote.
        candidate: ServerId,
        /// Index of the candidate's last log entry (§5.4).
        last_log_index: Index,
        /// Term of the candidate's last log entry (§5.4).
        last_log_term: Term,
    },
    /// The answer to a `RequestVote`.
    RequestVoteReply {
        /// The voter's `current_term`, for the candidate to update itself.
        term: Term,
        /// True means the candidate received the vote.
        vote_granted: bool,
    },
    /// Log replication and heartbeat from a leader (§5.3, Figure 2 "AppendEntries RPC").
    AppendEntries {
        /// Leader's term.
        term: Term,
        /// The leader, so the follower knows who leads the term.
        leader: ServerId,
        /// Index of the log entry immediately preceding new ones.
        prev_log_index: Index,
        /// Term of the entry at `prev_log_index`.
        prev_log_term: Term,
        /// Log entries to store (empty for a heartbeat): all entries from `next_index` on.
        entries: Vec<Entry>,
        /// Leader's `commit_index`.
        leader_commit: Index,
    },
    /// The answer to an `AppendEntries`, with the fast back-up hints of `docs/protocol.md`.
    AppendEntriesReply {
        /// The follower's `current_term`, for the leader to update itself.
        term: Term,
        /// True if the follower held an entry matching `prev_log_index` and `prev_log_term`.
        success: bool,
        /// On success, the index the follower's log now matches the leader's up to
        /// (`prev_log_index + len(entries)`); 0 on rejection.
        match_index: Index,
        /// On rejection, where the leader should resume: the follower's `last_log_index + 1` if
        /// its log is too short, else the first index of `conflict_term`; 0 on success.
        conflict_index: Index,
        /// On rejection, the term of the follower's conflicting entry at `prev_log_index`
        /// (`None` if its log is too short or on success).
        conflict_term: Option<Term>,
    },
    /// A whole snapshot sent by a leader to a lagging follower (§7, Figure 13), in one message.
    InstallSnapshot {
        /// Leader's term.
        term: Term,
        /// The leader, so the follower knows who leads the term.
        leader: ServerId,
        /// The snapshot replaces all entries up through and including this index.
        last_included_index: Index,
        /// Term of the entry at `last_included_index`.
        last_included_term: Term,
        /// The service state the snapshot stands for: the applied values
        /// `1..=last_included_index`.
        data: Vec<Value>,
    },
    /// The answer to an `InstallSnapshot`.
    InstallSnapshotReply {
        /// The follower's `current_term`, for the leader to update itself.
        term: Term,
        /// The request's `last_included_index`, echoed so the leader can advance `match_index`
        /// (0 in the rejection of a stale request, which claims nothing).
        last_included_index: Index,
    },
}

impl Message {
    /// The sender's term, which every message carries (Figure 2, "All Servers").
    pub fn term(&self) -> Term {
        match self {
            Message::RequestVote { term, .. }
            | Message::RequestVoteReply { term, .. }
            | Message::AppendEntries { term, .. }
            | Message::AppendEntriesReply { term, .. }
            | Message::InstallSnapshot { term, .. }
            | Message::InstallSnapshotReply { term, .. } => *term,
        }
    }

    /// Replies answer a request; only requests are answered.
    pub fn is_reply(&self) -> bool {
        matches!(
            self,
            Message::RequestVoteReply { .. }
                | Message::AppendEntriesReply { .. }
                | Message::InstallSnapshotReply { .. }
        )
    }
}

impl Rewrite<ServerId> for Message {
    fn rewrite<S>(&self, plan: &RewritePlan<ServerId, S>) -> Self {
        let mut out = self.clone();
        match &mut out {
            Message::RequestVote { candidate, .. } => *candidate = plan.rewrite(candidate),
            Message::AppendEntries { leader, .. } | Message::InstallSnapshot { leader, .. } => {
                *leader = plan.rewrite(leader)
            }
            _ => {}
        }
        out
    }
}

/// A message with its sender and receiver.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Packet {
    /// The sending server.
    pub src: ServerId,
    /// The receiving server.
    pub dst: ServerId,
    /// The message carried.
    pub msg: Message,
}

impl Rewrite<ServerId> for Packet {
    fn rewrite<S>(&self, plan: &RewritePlan<ServerId, S>) -> Self {
        Packet {
            src: plan.rewrite(&self.src),
            dst: plan.rewrite(&self.dst),
            msg: self.msg.rewrite(plan),
        }
    }
}

/// Messages in flight: sorted by packet, each with its number of copies (at least 1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Network {
    /// Each distinct packet with its number of copies (at least 1), sorted by packet.
    pub in_flight: Vec<(Packet, u8)>,
}

impl Network {
    /// Total number of copies in flight (what `--max-inflight` bounds).
    pub fn len(&self) -> usize {
        self.in_flight.iter().map(|(_, n)| usize::from(*n)).sum()
    }

    /// Whether no message is in flight.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// The distinct packets in flight, in order (the order actions are listed in).
    pub fn packets(&self) -> impl Iterator<Item = &Packet> {
        self.in_flight.iter().map(|(p, _)| p)
    }

    /// How many copies of `packet` are in flight (0 if none).
    pub fn copies_of(&self, packet: &Packet) -> u8 {
        match self.in_flight.binary_search_by(|(p, _)| p.cmp(packet)) {
            Ok(at) => self.in_flight[at].1,
            Err(_) => 0,
        }
    }

    /// Puts a packet in flight unless an identical one already is.
    pub fn send(&mut self, packet: Packet) {
        if let Err(at) = self.in_flight.binary_search_by(|(p, _)| p.cmp(&packet)) {
            self.in_flight.insert(at, (packet, 1));
        }
    }

    /// Adds one more copy of a packet already in flight; false if it is not in flight.
    pub fn duplicate(&mut self, packet: &Packet) -> bool {
        match self.in_flight.binary_search_by(|(p, _)| p.cmp(packet)) {
            Ok(at) => {
                self.in_flight[at].1 += 1;
                true
            }
            Err(_) => false,
        }
    }

    /// Takes one copy of a packet out of flight; false if it is not in flight.
    pub fn remove_one(&mut self, packet: &Packet) -> bool {
        match self.in_flight.binary_search_by(|(p, _)| p.cmp(packet)) {
            Ok(at) => {
                if self.in_flight[at].1 > 1 {
                    self.in_flight[at].1 -= 1;
                } else {
                    self.in_flight.remove(at);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Keeps only the packets for which `keep` holds (all their copies).
    pub fn retain(&mut self, mut keep: impl FnMut(&Packet) -> bool) {
        self.in_flight.retain(|(p, _)| keep(p));
    }
}

impl Rewrite<ServerId> for Network {
    fn rewrite<S>(&self, plan: &RewritePlan<ServerId, S>) -> Self {
        let mut in_flight: Vec<(Packet, u8)> = self
            .in_flight
            .iter()
            .map(|(p, n)| (p.rewrite(plan), *n))
            .collect();
        in_flight.sort();
        Network { in_flight }
    }
}

/// Whether `packet` can no longer change anything when delivered, now or later, given the
/// current states of its receiver and sender. Delivering such a message is the same step as
/// losing it, so the model drops it at once instead of carrying it: fewer states, the same
/// behaviours. Terms never decrease, and a server never regains a role in a term it has left
/// (a new candidacy needs a new term), which is what makes each case permanent:
/// - a reply from an older term (dropped on receipt, Figure 2);
/// - a vote reply to a server no longer a candidate of that term, a refusal, or a vote
///   already counted;
/// - a replication reply to a follower of that term (it can never lead in it), or one
///   reporting a match the leader already has (`match_index` never decreases within a term,
///   and `next_index` never falls below `match_index + 1`);
/// - a request from an older term when both ends are at `max_term` and the sender is a
///   follower: the rejection carries the receiver's term at delivery, which could otherwise
///   still grow and teach the sender a new term.
pub fn is_dead(
    packet: &Packet,
    receiver: &crate::server::ServerState,
    sender: &crate::server::ServerState,
    max_term: Term,
) -> bool {
    use crate::types::Role;
    let msg = &packet.msg;
    let term = msg.term();
    if !msg.is_reply() {
        return term < receiver.current_term
            && receiver.current_term == max_term
            && sender.current_term == max_term
            && sender.role == Role::Follower;
    }
    if term != receiver.current_term {
        return term < receiver.current_term;
    }
    let j = packet.src.index();
    match msg {
        Message::RequestVoteReply { vote_granted, .. } => {
            receiver.role != Role::Candidate
                || !vote_granted
                || receiver.votes_granted.contains(packet.src)
        }
        // A follower never leads in its term; a candidate still may.
        _ if receiver.role == Role::Follower => true,
        _ if receiver.role == Role::Candidate => false,
        Message::AppendEntriesReply {
            success: true,
            match_index,
            ..
        } => *match_index <= receiver.match_index[j],
        Message::InstallSnapshotReply {
            last_included_index,
            ..
        } => *last_included_index <= receiver.match_index[j],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(term: Term) -> Packet {
        Packet {
            src: ServerId(0),
            dst: ServerId(1),
            msg: Message::RequestVoteReply {
                term,
                vote_granted: true,
            },
        }
    }

    #[test]
    fn a_resend_of_an_in_flight_message_adds_no_copy_but_duplicate_does() {
        let mut net = Network::default();
        net.send(reply(1));
        net.send(reply(1));
        assert_eq!(net.len(), 1);
        assert!(net.duplicate(&reply(1)));
        assert_eq!(net.len(), 2);
        assert!(net.remove_one(&reply(1)));
        assert_eq!(net.copies_of(&reply(1)), 1);
        assert!(net.remove_one(&reply(1)));
        assert!(net.is_empty());
        assert!(!net.remove_one(&reply(1)));
    }

    #[test]
    fn replies_die_with_their_term_or_role_and_known_matches() {
        use crate::server::ServerState;
        use crate::types::Role;
        let mut leader = ServerState::new();
        leader.current_term = 2;
        leader.role = Role::Leader;
        leader.next_index = vec![0, 3];
        leader.match_index = vec![0, 2];
        let follower = ServerState::new();
        let ae_reply = |term, match_index| Packet {
            src: ServerId(1),
            dst: ServerId(0),
            msg: Message::AppendEntriesReply {
                term,
                success: true,
                match_index,
                conflict_index: 0,
                conflict_term: None,
            },
        };
        assert!(
            is_dead(&ae_reply(1, 3), &leader, &follower, 3),
            "older term"
        );
        assert!(
            is_dead(&ae_reply(2, 2), &leader, &follower, 3),
            "match already known"
        );
        assert!(
            !is_dead(&ae_reply(2, 3), &leader, &follower, 3),
            "news for the leader"
        );
        let mut candidate = ServerState::new();
        candidate.current_term = 1;
        candidate.role = Role::Candidate;
        assert!(!is_dead(&reply(1), &candidate, &follower, 3));
        candidate.votes_granted.insert(ServerId(0));
        assert!(
            is_dead(&reply(1), &candidate, &follower, 3),
            "vote already counted"
        );
    }

    #[test]
    fn a_stale_request_dies_only_when_its_rejection_would() {
        use crate::server::ServerState;
        use crate::types::Role;
        let request = Packet {
            src: ServerId(0),
            dst: ServerId(1),
            msg: Message::RequestVote {
                term: 1,
                candidate: ServerId(0),
                last_log_index: 0,
                last_log_term: 0,
            },
        };
        let mut receiver = ServerState::new();
        receiver.current_term = 2;
        let mut sender = ServerState::new();
        sender.current_term = 1;
        sender.role = Role::Candidate;
        assert!(
            !is_dead(&request, &receiver, &sender, 2),
            "the rejection teaches term 2"
        );
        sender.current_term = 2;
        sender.role = Role::Follower;
        assert!(
            !is_dead(&request, &receiver, &sender, 3),
            "the receiver may reach term 3"
        );
        assert!(
            is_dead(&request, &receiver, &sender, 2),
            "no term above 2 exists"
        );
    }

    #[test]
    fn packets_stay_sorted_whatever_the_send_order() {
        let mut a = Network::default();
        a.send(reply(2));
        a.send(reply(1));
        let mut b = Network::default();
        b.send(reply(1));
        b.send(reply(2));
        assert_eq!(a, b);
    }
}

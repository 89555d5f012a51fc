//! Leader election (§5.2) with the election restriction (§5.4.1): `Timeout`, the
//! RequestVote RPC and its reply, and `BecomeLeader`. Each function changes one server.

use crate::bugs::Bug;
use crate::network::Message;
use crate::server::ServerState;
use crate::types::{majority, Role, ServerId};

/// `Timeout(i)` (§5.2): a follower or candidate starts an election in the next term,
/// voting for itself. Returns the RequestVote it then sends to every other server.
pub fn timeout(s: &mut ServerState, me: ServerId, bug: Option<Bug>) -> Message {
    debug_assert!(s.role != Role::Leader, "leaders do not time out");
    s.current_term += 1;
    // Rule E1: the self-vote is recorded (and persisted), so no other candidate gets it.
    s.voted_for = if bug == Some(Bug::CandidateForgetsSelfVote) {
        None
    } else {
        Some(me)
    };
    s.become_follower();
    s.role = Role::Candidate;
    s.votes_granted.insert(me);
    request_vote(s, me)
}

/// The RequestVote a candidate sends (and may resend) in its current term.
pub fn request_vote(s: &ServerState, me: ServerId) -> Message {
    debug_assert_eq!(s.role, Role::Candidate);
    Message::RequestVote {
        term: s.current_term,
        candidate: me,
        last_log_index: s.last_log_index(),
        last_log_term: s.last_log_term(),
    }
}

/// Figure 2, RequestVote receiver (the term is already normalised and not stale): grant iff
/// we have not voted for someone else this term and the candidate's log is at least as
/// up-to-date as ours (§5.4.1). The vote is persisted before the reply leaves.
pub fn handle_request_vote(
    s: &mut ServerState,
    bug: Option<Bug>,
    candidate: ServerId,
    last_log_index: u8,
    last_log_term: u8,
) -> Message {
    let vote_free = match s.voted_for {
        None => true,
        Some(v) => v == candidate || bug == Some(Bug::VoteTwice),
    };
    // Rule E2c (§5.4.1): last terms first (E2c-i), then lengths for equal terms (E2c-ii).
    let up_to_date = match bug {
        Some(Bug::NoElectionRestriction) => true,
        Some(Bug::UpToDateIgnoresTerm) => last_log_index >= s.last_log_index(),
        Some(Bug::UpToDateIgnoresIndex) => last_log_term >= s.last_log_term(),
        _ => s.is_up_to_date(last_log_index, last_log_term),
    };
    let vote_granted = vote_free && up_to_date;
    if vote_granted {
        s.voted_for = Some(candidate);
    }
    Message::RequestVoteReply {
        term: s.current_term,
        vote_granted,
    }
}

/// Figure 2, candidate (rule E3): count a granted vote from the current term.
pub fn handle_request_vote_reply(
    s: &mut ServerState,
    from: ServerId,
    vote_granted: bool,
    bug: Option<Bug>,
) {
    if s.role == Role::Candidate && (vote_granted || bug == Some(Bug::CountRefusedVotes)) {
        s.votes_granted.insert(from);
    }
}

/// Whether a candidate holds votes from a majority of `servers` (rule E4; the
/// `elect-without-majority` variant settles for half).
pub fn has_majority(s: &ServerState, servers: usize, bug: Option<Bug>) -> bool {
    let needed = if bug == Some(Bug::ElectWithoutMajority) {
        servers / 2
    } else {
        majority(servers)
    };
    s.role == Role::Candidate && s.votes_granted.len() >= needed
}

/// `BecomeLeader(i)` (§5.2): reinitialise `next_index`/`match_index` (Figure 2, "volatile
/// state on leaders"). The caller then sends heartbeats to every other server.
pub fn become_leader(s: &mut ServerState, me: ServerId, servers: usize) {
    debug_assert_eq!(s.role, Role::Candidate, "only a candidate becomes leader");
    s.become_follower();
    s.role = Role::Leader;
    s.next_index = vec![s.last_log_index() + 1; servers];
    s.match_index = vec![0; servers];
    s.next_index[me.index()] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Entry;

    #[test]
    fn a_vote_is_granted_once_per_term() {
        // Reference: Figure 2, RequestVote rule 2 ("votedFor is null or candidateId").
        let mut s = ServerState::new();
        s.current_term = 1;
        let first = handle_request_vote(&mut s, None, ServerId(1), 0, 0);
        let second = handle_request_vote(&mut s, None, ServerId(2), 0, 0);
        assert!(matches!(
            first,
            Message::RequestVoteReply {
                vote_granted: true,
                ..
            }
        ));
        assert!(matches!(
            second,
            Message::RequestVoteReply {
                vote_granted: false,
                ..
            }
        ));
        assert_eq!(s.voted_for, Some(ServerId(1)));
    }

    #[test]
    fn a_candidate_with_a_stale_log_gets_no_vote() {
        // Reference: §5.4.1, the election restriction.
        let mut s = ServerState::new();
        s.current_term = 2;
        s.log.push(Entry { term: 2, value: 1 });
        let reply = handle_request_vote(&mut s, None, ServerId(1), 1, 1);
        assert!(matches!(
            reply,
            Message::RequestVoteReply {
                vote_granted: false,
                ..
            }
        ));
        let buggy =
            handle_request_vote(&mut s, Some(Bug::NoElectionRestriction), ServerId(1), 1, 1);
        assert!(matches!(
            buggy,
            Message::RequestVoteReply {
                vote_granted: true,
                ..
            }
        ));
    }

    #[test]
    fn timeout_then_majority_makes_a_leader() {
        let mut s = ServerState::new();
        timeout(&mut s, ServerId(0), None);
        assert_eq!(
            (s.role, s.current_term, s.voted_for),
            (Role::Candidate, 1, Some(ServerId(0)))
        );
        assert!(!has_majority(&s, 3, None));
        handle_request_vote_reply(&mut s, ServerId(2), true, None);
        assert!(has_majority(&s, 3, None));
        become_leader(&mut s, ServerId(0), 3);
        assert_eq!(s.role, Role::Leader);
        assert_eq!(s.next_index, vec![0, 1, 1]);
    }
}

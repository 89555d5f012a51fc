//! Leader election (§5.2) with the election restriction (§5.4.1).

use super::role::RoleState;
use super::{Core, Message, Role, MAX_TERM};

impl Core {
    /// Timeout: a follower or candidate that heard from no leader starts an election —
    /// unless its term is [`MAX_TERM`]: the next term could not be sent (peers drop it as
    /// malformed) nor written (the state encoder refuses it), so the server stays as it
    /// is, logs it, and waits another timeout.
    pub(super) fn campaign(&mut self) {
        if self.current_term >= MAX_TERM {
            tracing::warn!(
                me = self.config.id,
                term = self.current_term,
                "at the largest term: no election can start"
            );
            self.reset_election_timer();
            return;
        }
        self.become_candidate();
        if self.has_vote_majority() {
            self.become_leader_and_announce(); // A cluster of one elects itself.
            return;
        }
        let request = Message::RequestVote {
            term: self.current_term,
            candidate: self.config.id,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        for peer in self.peers().collect::<Vec<_>>() {
            self.send(peer, request.clone());
        }
    }

    /// RequestVote receiver (Figure 2), after term normalisation (`term == current_term`).
    pub(super) fn handle_request_vote(
        &mut self,
        candidate: usize,
        last_log_index: u64,
        last_log_term: u64,
    ) {
        // Mutation VoteTwice breaks RequestVote rule 2: a second candidate gets a vote too.
        let free_to_vote = self.voted_for.is_none()
            || self.voted_for == Some(candidate)
            || mutated!(self.mutation, VoteTwice);
        // Mutation NoElectionRestriction breaks §5.4.1: any candidate's log is up to date.
        let grant = free_to_vote
            && (self.candidate_is_up_to_date(last_log_index, last_log_term)
                || mutated!(self.mutation, NoElectionRestriction));
        if grant {
            if self.voted_for.is_none() {
                self.voted_for = Some(candidate);
                self.mark_dirty();
            }
            // Granting a vote defers our own candidacy (§5.2; avoids needless elections).
            self.reset_election_timer();
        }
        let reply = Message::RequestVoteReply {
            term: self.current_term,
            vote_granted: grant,
        };
        self.send(candidate, reply);
    }

    /// §5.4.1: the candidate's log is at least as up-to-date as ours.
    fn candidate_is_up_to_date(&self, last_log_index: u64, last_log_term: u64) -> bool {
        let (my_index, my_term) = (self.log.last_index(), self.log.last_term());
        last_log_term > my_term || (last_log_term == my_term && last_log_index >= my_index)
    }

    /// A vote arrives; only a candidate of the same term counts it.
    pub(super) fn handle_request_vote_reply(&mut self, from: usize, vote_granted: bool) {
        let RoleState::Candidate { votes_granted } = &mut self.state else {
            return;
        };
        if vote_granted {
            votes_granted[from] = true;
        }
        if self.has_vote_majority() {
            self.become_leader_and_announce();
        }
    }

    fn has_vote_majority(&self) -> bool {
        match &self.state {
            RoleState::Candidate { votes_granted } => {
                votes_granted.iter().filter(|&&v| v).count() >= self.majority()
            }
            _ => false,
        }
    }

    /// BecomeLeader, then the initial empty AppendEntries (heartbeats) to every server.
    fn become_leader_and_announce(&mut self) {
        self.become_leader();
        debug_assert_eq!(self.role(), Role::Leader);
        self.broadcast_append_entries(true);
        self.advance_commit_index();
    }
}

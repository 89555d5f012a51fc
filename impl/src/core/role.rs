//! The three roles of §5.1 and the volatile state each one carries (Figure 2).

/// Which role a server is in (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Answers requests; starts an election when its timeout passes.
    Follower,
    /// Asks for votes in its own term.
    Candidate,
    /// Replicates the log and decides what is committed.
    Leader,
}

/// A role with its role-specific volatile state. Changed only by `Core::become_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RoleState {
    Follower,
    /// `votes_granted[j]`: server `j` granted this candidate its vote in the current term.
    Candidate {
        votes_granted: Vec<bool>,
    },
    Leader(Progress),
}

/// A leader's view of each follower (Figure 2 "Volatile state on leaders"), plus when the
/// AppendEntries/InstallSnapshot outstanding to it was sent — used only to batch sends,
/// never to decide what is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Progress {
    pub next_index: Vec<u64>,
    pub match_index: Vec<u64>,
    /// The tick count at which the outstanding request was sent, if any.
    pub in_flight: Vec<Option<u64>>,
    /// The `leader_commit` last sent to each follower, so a newer one is passed on.
    pub sent_commit: Vec<u64>,
    /// The InstallSnapshot transfer to each follower, while one is under way.
    pub transfers: Vec<Option<super::chunk::Transfer>>,
}

impl RoleState {
    pub fn role(&self) -> Role {
        match self {
            RoleState::Follower => Role::Follower,
            RoleState::Candidate { .. } => Role::Candidate,
            RoleState::Leader(_) => Role::Leader,
        }
    }
}

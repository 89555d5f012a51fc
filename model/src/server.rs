//! One server's state, split as Figure 2 splits it: persistent state (`current_term`,
//! `voted_for`, the log, the snapshot — kept across a crash) and volatile state (role, commit
//! index, last applied, votes, `next_index`/`match_index` — lost on a crash). The service's
//! applied values are modelled too, so that State Machine Safety is checked on what the
//! service actually received, including values handed over in a snapshot (§7).

use crate::types::{Entry, Index, Role, ServerId, ServerSet, Term, Value};
use stateright::{Rewrite, RewritePlan};

/// A snapshot (§7): the last included index and term, and the service state it stands for
/// (the applied values `1..=last_included_index`, in order).
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Snapshot {
    /// Index of the last entry the snapshot replaces (0: no snapshot).
    pub last_included_index: Index,
    /// Term of the entry at `last_included_index` (0: no snapshot).
    pub last_included_term: Term,
    /// The applied values `1..=last_included_index`, in index order.
    pub data: Vec<Value>,
}

/// One server. Leader-only arrays are empty on followers and candidates, and
/// `votes_granted` is empty except on candidates, so equal protocol states compare equal.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerState {
    // Persistent (Figure 2), written before any message that depends on it leaves.
    /// Latest term the server has seen (Figure 2; 0 initially, increases monotonically).
    pub current_term: Term,
    /// Candidate that received this server's vote in `current_term`, if any (Figure 2).
    pub voted_for: Option<ServerId>,
    /// Entries after the snapshot: `log[k]` has index `snapshot.last_included_index + 1 + k`.
    pub log: Vec<Entry>,
    /// The last snapshot taken or installed (§7).
    pub snapshot: Snapshot,
    /// The last log index whose entry is on stable storage (Raft thesis §10.2.1): a crash
    /// keeps the log only up to here. Always `snapshot.last_included_index <= durable_index
    /// <= last_log_index()`. Equal to `last_log_index()` unless `Config::durable_prefix` is
    /// on and a leader has appended entries its storage has not yet synced
    /// (`Action::Sync` makes them durable). An absolute index, like every index here.
    pub durable_index: Index,
    // Volatile.
    /// Follower, candidate or leader.
    pub role: Role,
    /// Index of the highest log entry known to be committed (Figure 2).
    pub commit_index: Index,
    /// Index of the highest log entry applied to the service (Figure 2).
    pub last_applied: Index,
    /// Candidates only: who granted a vote in `current_term` (including itself).
    pub votes_granted: ServerSet,
    /// Leaders only, indexed by server id (the leader's own slot stays 0).
    pub next_index: Vec<Index>,
    /// Leaders only, indexed by server id: the highest index known replicated on each server
    /// (Figure 2; the leader's own slot stays 0).
    pub match_index: Vec<Index>,
    // The service (the state machine above Raft).
    /// The values the service has applied, in index order: `applied[k]` is index `k + 1`.
    pub applied: Vec<Value>,
}

impl ServerState {
    /// A fresh server: term 0, no vote, empty log, follower.
    pub fn new() -> Self {
        ServerState {
            current_term: 0,
            voted_for: None,
            log: Vec::new(),
            snapshot: Snapshot::default(),
            durable_index: 0,
            role: Role::Follower,
            commit_index: 0,
            last_applied: 0,
            votes_granted: ServerSet::default(),
            next_index: Vec::new(),
            match_index: Vec::new(),
            applied: Vec::new(),
        }
    }

    /// Figure 2, "All Servers": on a higher term, adopt it, forget the vote, follow.
    pub fn become_follower_in(&mut self, term: Term) {
        debug_assert!(term >= self.current_term, "terms never decrease");
        if term > self.current_term {
            self.current_term = term;
            self.voted_for = None;
        }
        self.become_follower();
    }

    /// Drops candidate/leader volatile state; used when stepping down in the same term.
    pub fn become_follower(&mut self) {
        self.role = Role::Follower;
        self.votes_granted = ServerSet::default();
        self.next_index.clear();
        self.match_index.clear();
    }
}

impl Default for ServerState {
    fn default() -> Self {
        Self::new()
    }
}

impl Rewrite<ServerId> for ServerState {
    fn rewrite<S>(&self, plan: &RewritePlan<ServerId, S>) -> Self {
        // Slot `j` moves to wherever server `j` is renamed to.
        let reindex = |v: &Vec<Index>| {
            let mut out = vec![0; v.len()];
            for (j, &x) in v.iter().enumerate() {
                out[plan.rewrite(&ServerId::from(j)).index()] = x;
            }
            out
        };
        ServerState {
            current_term: self.current_term,
            voted_for: self.voted_for.rewrite(plan),
            log: self.log.clone(),
            snapshot: self.snapshot.clone(),
            durable_index: self.durable_index,
            role: self.role,
            commit_index: self.commit_index,
            last_applied: self.last_applied,
            votes_granted: self.votes_granted.rewrite(plan),
            next_index: reindex(&self.next_index),
            match_index: reindex(&self.match_index),
            applied: self.applied.clone(),
        }
    }
}

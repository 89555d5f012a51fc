//! Small value types shared by every part of the model: server ids, terms, indices, log
//! entries, roles and sets of servers. Everything is a `u8` because the bounds the model is
//! checked under are tiny, and a compact state hashes and clones fast (the checker does both
//! for every generated state).

use stateright::{Rewrite, RewritePlan};
use std::fmt;

/// A term number (§5.1). Term 0 is "before any election".
pub type Term = u8;
/// A log index (§5.3). Index 0 is the sentinel "before everything".
pub type Index = u8;
/// A client command. The model proposes the values 1, 2, 3, … in order, so every proposed
/// entry carries a distinct value and State Machine Safety can tell entries apart.
pub type Value = u8;

/// A server's id. Ids are interchangeable (symmetry reduction permutes them), so this is a
/// newtype that stateright's rewrite API can map.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub u8);

impl ServerId {
    /// The id as an index into per-server arrays.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl From<usize> for ServerId {
    fn from(index: usize) -> Self {
        ServerId(u8::try_from(index).expect("server ids fit in u8 (at most 8 servers)"))
    }
}

impl From<ServerId> for usize {
    fn from(id: ServerId) -> Self {
        id.index()
    }
}

impl Rewrite<ServerId> for ServerId {
    fn rewrite<S>(&self, plan: &RewritePlan<ServerId, S>) -> Self {
        plan.rewrite(self)
    }
}

impl fmt::Debug for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S{}", self.0 + 1)
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S{}", self.0 + 1)
    }
}

/// A log entry `(term, command)` (Figure 2, `log[]`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Entry {
    /// The term in which a leader created the entry.
    pub term: Term,
    /// The client command.
    pub value: Value,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}:v{}", self.term, self.value)
    }
}

impl<R> Rewrite<R> for Entry {
    fn rewrite<S>(&self, _: &RewritePlan<R, S>) -> Self {
        *self
    }
}

/// A server's role (Figure 2, "Rules for Servers").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Waits for a leader and, on an election timeout, becomes a candidate (§5.2).
    Follower,
    /// Runs an election: votes for itself and asks the others for votes (§5.2).
    Candidate,
    /// Handles client requests and replicates its log (§5.3).
    Leader,
}

impl<R> Rewrite<R> for Role {
    fn rewrite<S>(&self, _: &RewritePlan<R, S>) -> Self {
        *self
    }
}

/// A set of servers as a bit mask (bit `i` = server `i`): `votes_granted` on candidates.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerSet(pub u8);

impl ServerSet {
    /// Whether `id` is in the set.
    pub fn contains(self, id: ServerId) -> bool {
        self.0 & (1 << id.0) != 0
    }

    /// Adds `id` to the set.
    pub fn insert(&mut self, id: ServerId) {
        self.0 |= 1 << id.0;
    }

    /// The number of servers in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The servers in the set, in id order.
    pub fn iter(self) -> impl Iterator<Item = ServerId> {
        (0..8u8)
            .filter(move |i| self.0 & (1 << i) != 0)
            .map(ServerId)
    }
}

impl Rewrite<ServerId> for ServerSet {
    fn rewrite<S>(&self, plan: &RewritePlan<ServerId, S>) -> Self {
        let mut out = ServerSet::default();
        for id in self.iter() {
            out.insert(plan.rewrite(&id));
        }
        out
    }
}

impl fmt::Debug for ServerSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// The number of servers that make a majority of `servers`.
pub fn majority(servers: usize) -> usize {
    servers / 2 + 1
}

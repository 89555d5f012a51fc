//! The whole cluster as one state, in the style of Ongaro's raft.tla: every server, the
//! messages in flight, and a few history ("ghost") variables that only the properties and
//! the bounds read. History is kept as small as possible because every bit of it can split
//! otherwise-equal states.

use crate::config::Config;
use crate::network::Network;
use crate::server::ServerState;
use crate::types::{Index, Term, Value};

/// One committed entry as first committed anywhere (for Leader Completeness and State
/// Machine Safety).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Committed {
    /// Term of the committed entry.
    pub term: Term,
    /// Value (client command) of the committed entry.
    pub value: Value,
    /// The committing server's term when the entry first committed (Figure 3 quantifies
    /// Leader Completeness over leaders of later terms).
    pub commit_term: Term,
}

/// History variables: never read by the protocol, only by properties and bounds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct History {
    /// Bit `t` is set once a leader has been elected in term `t`.
    pub elected: u32,
    /// `committed[k]` is the entry at index `k + 1` when it first committed anywhere.
    pub committed: Vec<Committed>,
    /// Client requests so far (the next value proposed is `proposals + 1`).
    pub proposals: u8,
    /// Crash-and-restart events so far.
    pub crashes: u8,
    /// `Snapshot` actions so far (counted only if `--max-snapshots` is set).
    pub snapshots: u8,
    /// Rare events `sometimes` properties look for (bits of `reached::*`).
    pub reached: u8,
    /// Properties a transition broke (bits of `violation::*`); a state can only show some
    /// violations (a second election in one term, a service moving backwards) by remembering
    /// the step that caused them.
    pub violations: u8,
}

/// Bits of `History::reached`.
pub mod reached {
    /// Set by `Receive`: a follower installed a snapshot sent by a leader (§7).
    pub const SNAPSHOT_INSTALLED_ON_FOLLOWER: u8 = 1;
    /// Set when an index first commits after some server has crashed and restarted.
    pub const COMMIT_AFTER_RESTART: u8 = 2;
}

/// Bits of `History::violations`.
pub mod violation {
    /// Two leaders were elected in one term.
    pub const ELECTION_SAFETY: u8 = 1;
    /// A server applied a value different from the one already committed at its index.
    pub const STATE_MACHINE_SAFETY: u8 = 2;
    /// A service's applied values moved backwards other than by a restart restoring its
    /// snapshot.
    pub const APPLIED_NEVER_REGRESSES: u8 = 4;
}

/// The cluster: servers indexed by id, the network, and history.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterState {
    /// Every server's state, indexed by server id.
    pub servers: Vec<ServerState>,
    /// The messages in flight.
    pub network: Network,
    /// History (ghost) variables, read only by properties and bounds.
    pub history: History,
}

impl ClusterState {
    /// Every server a fresh follower in term 0, nothing in flight.
    pub fn initial(config: &Config) -> Self {
        ClusterState {
            servers: vec![ServerState::new(); usize::from(config.servers)],
            network: Network::default(),
            history: History::default(),
        }
    }

    /// The highest index known committed anywhere, ever.
    pub fn committed_len(&self) -> Index {
        self.history.committed.len() as Index
    }
}

//! What a node tells observers: [`Status`] counters for metrics, and a [`Watch`] on its
//! role, term and leader.

use std::time::Duration;

use crate::core::Role;
use crate::sync::{lock, Arc};

use super::queue::deadline_after;
use super::shared::Shared;
use super::{NodeError, StopReason};

/// The role, term and leader a node is in (what [`Watch`] reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// The role (§5.1).
    pub role: Role,
    /// The current term.
    pub term: u64,
    /// The leader this node knows of in `term` (itself if leader).
    pub leader: Option<usize>,
}

impl Default for State {
    fn default() -> Self {
        State {
            role: Role::Follower,
            term: 0,
            leader: None,
        }
    }
}

/// A node's counters, as of its event loop's last iteration (queue depths and counters as
/// of the call).
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// This server's id.
    pub id: usize,
    /// Role, term and leader.
    pub state: State,
    /// Figure 2 `commitIndex`.
    pub commit_index: u64,
    /// The last index handed to the service (entries or a snapshot).
    pub applied: u64,
    /// The last log index.
    pub last_index: u64,
    /// The last log index known durable (reported by the storage after a sync).
    pub durable_index: u64,
    /// The snapshot's last index.
    pub snapshot_index: u64,
    /// Received messages waiting for the event loop.
    pub inbox_messages: usize,
    /// Proposals waiting for the event loop.
    pub inbox_proposals: usize,
    /// Writes handed to the storage worker and not yet synced.
    pub storage_queue: usize,
    /// Committed entries released but not yet taken by the service (the loop's backlog
    /// and the applier's queue).
    pub apply_queue: usize,
    /// Messages and applies waiting for a sync (replies and votes leave only once durable).
    pub held: usize,
    /// Proposals accepted and not yet resolved.
    pub pending_proposals: usize,
    /// Proposals accepted since start.
    pub proposals_accepted: u64,
    /// Proposals refused since start (not leader, too large, busy).
    pub proposals_rejected: u64,
    /// Received messages dropped since start (inbox full, undecodable).
    pub messages_dropped: u64,
    /// Storage syncs since start.
    pub syncs: u64,
    /// Why the node stopped, if it stopped on an error.
    pub stopped: Option<StopReason>,
    /// Whether the node was shut down.
    pub shut_down: bool,
}

/// Notifications of role, term and leader changes ([`Node::watch`](super::Node::watch)).
///
/// A blocking, level-triggered watch: [`changed`](Watch::changed) returns the state as soon
/// as it differs from the last one this `Watch` returned (intermediate states may be
/// skipped). Each `Watch` keeps its own position; clone one to get another.
#[derive(Clone)]
pub struct Watch {
    pub(crate) shared: Arc<Shared>,
    pub(crate) seen: u64,
}

impl Watch {
    /// The state now.
    pub fn current(&self) -> State {
        lock(&self.shared.published).state
    }

    /// Waits until the state differs from the last one returned, and returns it. Once the
    /// node has ended, the error says how ([`NodeError::Shutdown`], [`NodeError::Stopped`]).
    pub fn changed(&mut self) -> Result<State, NodeError> {
        self.wait(None)
            .map(|state| state.expect("no deadline, no timeout"))
    }

    /// [`changed`](Watch::changed), waiting at most `timeout` (`Ok(None)`: no change).
    pub fn changed_timeout(&mut self, timeout: Duration) -> Result<Option<State>, NodeError> {
        self.wait(deadline_after(timeout))
    }

    fn wait(&mut self, deadline: Option<std::time::Instant>) -> Result<Option<State>, NodeError> {
        let shared = &self.shared;
        let mut published = lock(&shared.published);
        loop {
            if published.version != self.seen {
                self.seen = published.version;
                return Ok(Some(published.state));
            }
            if let Some(end) = &published.end {
                return Err(end.clone());
            }
            published = match deadline {
                None => shared
                    .published_changed
                    .wait(published)
                    .unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        return Ok(None);
                    }
                    shared
                        .published_changed
                        .wait_timeout(published, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }
}

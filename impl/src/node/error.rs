//! The node's errors: every one an enum with matchable variants.

use std::sync::Arc;

use crate::core;
use crate::storage::StorageError;

use super::{NodeConfigError, TimingError};

/// Why a node stopped on its own. Once stopped it does nothing more: its event loop has
/// exited, its storage is no longer written, and the apply stream ends with
/// [`Applied::Stopped`](super::Applied::Stopped) carrying this reason.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum StopReason {
    /// A storage write or sync returned an error: what is durable is unknown beyond the
    /// last successful sync, so the peer stops rather than answer on state it may lose.
    #[error("storage failed")]
    Storage(#[source] Arc<StorageError>),
    /// A storage write or sync panicked.
    #[error("storage panicked: {message}")]
    StoragePanicked {
        /// The panic's message, if it had one.
        message: String,
    },
    /// The service could not decode the committed entry at `index` (a command of another
    /// version, or damaged): applying past it would skip a committed command, so the peer
    /// stops.
    #[error("committed entry {index} cannot be decoded by the service: {reason}")]
    Undecodable {
        /// The entry's log index.
        index: u64,
        /// The decoder's error.
        reason: String,
    },
    /// The event loop panicked (a broken invariant in the core).
    #[error("event loop panicked: {message}")]
    Panicked {
        /// The panic's message, if it had one.
        message: String,
    },
    /// The event loop, run as a task ([`LoopSpawner`](super::LoopSpawner)), was dropped
    /// unfinished by its executor (the runtime shut down) with no stop requested before:
    /// nothing steps the core any more.
    #[error("event loop task dropped by its executor before it ended")]
    LoopDropped,
}

/// Why a node could not be started, or a request to it failed.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum NodeError {
    /// A bound or size in the [`NodeConfig`](super::NodeConfig) is unusable.
    #[error("invalid node configuration")]
    Config(#[from] NodeConfigError),
    /// The timings, rounded to ticks, are unusable.
    #[error("invalid timing configuration")]
    Timing(#[from] TimingError),
    /// What the storage recovered is not a state this peer can start from.
    #[error("could not restore from the recovered state")]
    Restore(#[from] core::RestoreError),
    /// The node was shut down.
    #[error("the node was shut down")]
    Shutdown,
    /// The node stopped on an error.
    #[error("the node stopped")]
    Stopped(#[source] StopReason),
    /// Called on the node's own event loop (from a
    /// [`StateMachine`](super::StateMachine)), where waiting for the loop would never end.
    #[error("called on the node's own event loop, which cannot wait for itself")]
    OnNodeThread,
}

/// Why [`Node::propose`](super::Node::propose) refused a command. Nothing was appended.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    /// This node is not the leader; `leader` is the one it last heard from in `term`.
    #[error("not the leader (term {term}, leader {leader:?})")]
    NotLeader {
        /// The leader this node knows of, if any.
        leader: Option<usize>,
        /// This node's current term.
        term: u64,
    },
    /// The command is larger than `max_command_bytes`.
    #[error("command of {bytes} bytes is over the limit of {max}")]
    TooLarge {
        /// The command's size.
        bytes: usize,
        /// `NodeConfig::max_command_bytes`.
        max: usize,
    },
    /// `max_pending_proposals` proposals are unresolved: try again later.
    #[error("too many proposals pending")]
    Busy,
    /// The node was shut down.
    #[error("the node was shut down")]
    Shutdown,
    /// The node stopped on an error.
    #[error("the node stopped")]
    Stopped(#[source] StopReason),
    /// Called on the node's own event loop (from a
    /// [`StateMachine`](super::StateMachine)), which cannot wait for its own answer: use
    /// [`Node::write`](super::Node::write) there, without waiting on it.
    #[error("called on the node's own event loop, which cannot wait for itself")]
    OnNodeThread,
}

/// Why a [`Proposal`](super::Proposal) will not be applied by this node, as far as it can
/// tell.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposalError {
    /// This node stopped leading before the entry was committed. The outcome is unknown:
    /// the next leader may still commit the entry (§5.4.2) or overwrite it. Retry through
    /// `leader` with a command the service can recognise as a duplicate.
    #[error("leadership lost before the entry committed (leader now {leader:?})")]
    LeadershipLost {
        /// The leader this node knows of now, if any.
        leader: Option<usize>,
    },
    /// Another entry was committed at this index: the proposal is lost for certain.
    #[error("entry {index} of term {term} was overwritten by one of term {committed_term}")]
    Overwritten {
        /// The proposal's index.
        index: u64,
        /// The proposal's term.
        term: u64,
        /// The term of the entry committed there instead.
        committed_term: u64,
    },
    /// The node was shut down before the entry was applied.
    #[error("the node was shut down")]
    Shutdown,
    /// The node stopped on an error before the entry was applied.
    #[error("the node stopped")]
    Stopped(#[source] StopReason),
}

/// Why a [`Write`](super::Write) did not apply its command: refused before anything was
/// appended, or appended and then not applied (as a [`Proposal`](super::Proposal) would
/// have resolved).
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// Refused: nothing was appended ([`Node::propose`](super::Node::propose)'s errors).
    #[error(transparent)]
    Refused(#[from] ProposeError),
    /// Appended, but not applied as this command ([`Proposal::wait`](super::Proposal::wait)'s
    /// errors).
    #[error(transparent)]
    Failed(#[from] ProposalError),
    /// [`Write::wait`](super::Write::wait) called on the node's own event loop (from a
    /// [`StateMachine`](super::StateMachine)), where the outcome can never arrive while it
    /// waits. The command is still queued and may be applied.
    #[error("waited for a write on the node's own event loop")]
    OnNodeThread,
}

/// The message of a caught panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_string()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "(no message)".to_string()
    }
}

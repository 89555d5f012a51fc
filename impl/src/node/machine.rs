//! A state machine the node calls in place: the alternative to the [`Applies`] stream for a
//! service whose apply is quick and never blocks (an in-memory map, a counter).
//!
//! With the stream, every batch of committed entries is handed to another thread (the
//! service's reader), which must be woken; on a small machine those wake-ups, not the
//! work, set the pace (docs/performance.md §7). A [`StateMachine`] is called by the node
//! itself instead, as openraft calls its `RaftStateMachine` itself: on the node's event
//! loop, right after the entries are known committed and durable. A long backlog committed
//! at once (a new leader's first commit, a follower catching up) is applied there for about
//! a millisecond per loop iteration, and the rest on the node's applier thread, so that the
//! loop keeps sending heartbeats and answering votes meanwhile; the loop applies in place
//! again once the applier is done. Entries reach it once each, in index order, whichever
//! thread calls it, and a [`Proposal`] resolves only after its entry was applied.
//! [`StateMachine::stopped`] is called as the node ends: where the failing apply ran (the
//! event loop) when the machine itself failed, on the applier thread otherwise.
//!
//! Because it may run on the event loop, an apply that blocks (disk, network, a lock held
//! elsewhere) delays heartbeats and votes (the budget is checked between applies, never
//! inside one): such a service should read [`Applies`] on a thread of its own.
//!
//! A machine may call back into its node (it can hold a [`Node`](super::Node) handle; on
//! the applier thread the calls behave as on the loop):
//! [`Node::snapshot`](super::Node::snapshot) there returns at once and the loop takes the
//! snapshot after the current batch, and [`Node::write`](super::Node::write) queues a
//! command. Whatever would wait for the loop's answer — `propose`, `tick`, `with_core`,
//! [`Write::wait`](super::Write::wait) — is refused with an `OnNodeThread` error instead
//! of waiting forever for the loop that is running the apply. Other waits are not
//! detected and must not be made in `apply`: [`Proposal::wait`](super::Proposal::wait) on a proposal made
//! elsewhere, [`Watch::changed`](super::Watch::changed), blocking on a `Write` future.
//! [`Node::shutdown`](super::Node::shutdown) there requests the stop and returns; the rest
//! of the current batch may still be applied. (A machine that holds its node keeps it
//! alive: shut it down with `Node::shutdown`.)
//!
//! [`Applies`]: super::Applies
//! [`Proposal`]: super::Proposal

use std::sync::Arc;

use bytes::Bytes;

use crate::core::Apply;

use super::applier::{ApplySink, SinkError, TryDeliverError};
use super::StopReason;

/// A service's state machine, called in place by the node
/// ([`Node::start_with_machine`](super::Node::start_with_machine)).
///
/// A one-server cluster whose state machine keeps a running sum:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use raft_impl::core::{Bytes, Role};
/// use raft_impl::node::{ApplyError, Network, Node, NodeConfig, StateMachine};
/// use raft_impl::storage::MemoryStorage;
///
/// /// Each command is a decimal number; the state is their sum.
/// struct Sum(Arc<Mutex<i64>>);
///
/// impl StateMachine for Sum {
///     fn apply(&mut self, _index: u64, _term: u64, command: Bytes) -> Result<(), ApplyError> {
///         let n: i64 = std::str::from_utf8(&command)
///             .ok()
///             .and_then(|s| s.parse().ok())
///             .ok_or_else(|| ApplyError::new("not a number"))?;
///         *self.0.lock().unwrap() += n;
///         Ok(())
///     }
///
///     fn restore(&mut self, _index: u64, _term: u64, data: Arc<Vec<u8>>) -> Result<(), ApplyError> {
///         let text = std::str::from_utf8(&data).map_err(|e| ApplyError::new(e.to_string()))?;
///         *self.0.lock().unwrap() = text.parse().map_err(|_| ApplyError::new("bad snapshot"))?;
///         Ok(())
///     }
/// }
///
/// struct Alone; // one server: nobody to send to
/// impl Network for Alone {
///     fn send(&self, _to: usize, _message: Bytes) {}
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sum = Arc::new(Mutex::new(0));
/// let config = NodeConfig { id: 0, servers: 1, ..NodeConfig::default() };
/// let node = Node::start_with_machine(
///     config,
///     Box::new(MemoryStorage::new()),
///     Arc::new(Alone),
///     Sum(Arc::clone(&sum)),
/// )?;
/// let mut watch = node.watch();
/// while watch.current().role != Role::Leader {
///     watch.changed_timeout(Duration::from_secs(5))?;
/// }
/// for n in ["40", "2"] {
///     node.write(Bytes::from(n)).wait()?; // returns once applied
/// }
/// assert_eq!(*sum.lock().unwrap(), 42);
/// node.shutdown();
/// # Ok(())
/// # }
/// ```
pub trait StateMachine: Send + 'static {
    /// Applies the committed entry at `index`, proposed in `term`. Called once per entry, in
    /// index order. An error stops the node ([`StopReason::Undecodable`]): applying past a
    /// committed command would skip it. A panic stops it too ([`StopReason::Panicked`]).
    fn apply(&mut self, index: u64, term: u64, command: Bytes) -> Result<(), ApplyError>;

    /// Replaces the machine's state with a snapshot received from the leader, which covers
    /// every entry up to `index` (§7: the service's state, not the log). Entries after
    /// `index` follow through [`StateMachine::apply`].
    fn restore(&mut self, index: u64, term: u64, data: Arc<Vec<u8>>) -> Result<(), ApplyError>;

    /// The node stopped on an error and nothing more will be applied (called at most once,
    /// after the last apply). A shutdown is not an error and does not call it.
    fn stopped(&mut self, reason: &StopReason) {
        let _ = reason;
    }
}

/// Why a [`StateMachine`] could not take a committed entry (typically: it cannot decode
/// it). The node stops with [`StopReason::Undecodable`] carrying `reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ApplyError {
    /// What went wrong, for the stop reason.
    pub reason: String,
}

impl ApplyError {
    /// An error with `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        ApplyError {
            reason: reason.into(),
        }
    }
}

/// The sink that calls a [`StateMachine`] in place.
pub(crate) struct MachineSink<M> {
    pub machine: M,
}

impl<M: StateMachine> ApplySink for MachineSink<M> {
    fn deliver(&mut self, apply: Apply) -> Result<(), SinkError> {
        let (index, result) = match apply {
            Apply::Entry {
                index,
                term,
                command,
            } => (index, self.machine.apply(index, term, command)),
            Apply::Snapshot { index, term, data } => {
                (index, self.machine.restore(index, term, data))
            }
        };
        result.map_err(|error| {
            SinkError::Failed(StopReason::Undecodable {
                index,
                reason: error.reason,
            })
        })
    }

    /// Called in place on the loop: it never hands the apply back.
    fn try_deliver(&mut self, apply: Apply) -> Result<(), TryDeliverError> {
        self.deliver(apply).map_err(TryDeliverError::Sink)
    }

    fn end(&mut self, reason: Option<StopReason>) {
        if let Some(reason) = reason {
            self.machine.stopped(&reason);
        }
    }
}

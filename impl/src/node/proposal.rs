//! [`Proposal`]: the handle of an accepted command, resolved once it is applied or can no
//! longer be by this node.

use std::time::Duration;

use super::queue::{deadline_after, OneshotReceiver, PopError};
use super::ProposalError;

/// An accepted proposal: its log position, and its outcome once known.
///
/// It resolves `Ok` once the entry at `(index, term)` has been handed to the service (on
/// [`Applies`](super::Applies), applied by a [`StateMachine`](super::StateMachine), or sent
/// on the Lab's apply channel), and with a [`ProposalError`]
/// when this node can tell it will not be: it stopped leading before the entry committed
/// (`LeadershipLost`, outcome unknown), another entry was committed at the index
/// (`Overwritten`), or the node shut down or stopped. Dropping the handle does not withdraw
/// the command.
pub struct Proposal {
    pub(crate) index: u64,
    pub(crate) term: u64,
    pub(crate) outcome: OneshotReceiver<Result<(), ProposalError>>,
}

impl std::fmt::Debug for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proposal")
            .field("index", &self.index)
            .field("term", &self.term)
            .finish_non_exhaustive()
    }
}

impl Proposal {
    /// The entry's log index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The term the entry was appended in.
    pub fn term(&self) -> u64 {
        self.term
    }

    /// Waits for the outcome.
    pub fn wait(self) -> Result<(), ProposalError> {
        self.outcome.recv().unwrap_or(Err(ProposalError::Shutdown))
    }

    /// Waits at most `timeout` for the outcome; `None` if it is not known by then (the
    /// handle stays usable).
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<(), ProposalError>> {
        match self.outcome.recv_until(deadline_after(timeout)) {
            Ok(outcome) => Some(outcome),
            Err(PopError::Closed) => Some(Err(ProposalError::Shutdown)),
            Err(PopError::Timeout) => None,
        }
    }
}

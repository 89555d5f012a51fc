//! [`Write`]: a command proposed and awaited in one call ([`Node::write`](super::Node::write)).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::sync::Arc;

use super::queue::OneshotReceiver;
use super::shared::Shared;
use super::{ProposalError, ProposeError, WriteError};

/// A command on its way to being applied: a future of the entry's `(index, term)`, or of
/// why it was not applied. It resolves once, when the entry is handed to the service, as
/// a [`Proposal`](super::Proposal) would. Dropping it does not withdraw the command.
#[must_use = "a write resolves only when awaited or waited on"]
pub struct Write {
    state: WriteState,
}

enum WriteState {
    /// Refused before anything was queued.
    Refused(Option<ProposeError>),
    /// Queued for the loop; `shared` tells a closed slot's reason.
    Pending {
        shared: Arc<Shared>,
        rx: OneshotReceiver<Result<(u64, u64), WriteError>>,
    },
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Write").finish_non_exhaustive()
    }
}

impl Write {
    pub(crate) fn refused(error: ProposeError) -> Self {
        Write {
            state: WriteState::Refused(Some(error)),
        }
    }

    pub(crate) fn pending(
        shared: Arc<Shared>,
        rx: OneshotReceiver<Result<(u64, u64), WriteError>>,
    ) -> Self {
        Write {
            state: WriteState::Pending { shared, rx },
        }
    }

    /// Blocks until the outcome is known. On the node's own event loop (inside a
    /// [`StateMachine`](super::StateMachine)) the outcome can never come while it waits:
    /// [`WriteError::OnNodeThread`] at once (the command stays queued).
    pub fn wait(self) -> Result<(u64, u64), WriteError> {
        match self.state {
            WriteState::Refused(error) => Err(refusal(error)),
            WriteState::Pending { shared, .. } if shared.on_loop() => Err(WriteError::OnNodeThread),
            WriteState::Pending { shared, rx } => rx.recv().unwrap_or_else(|| Err(closed(&shared))),
        }
    }
}

impl Future for Write {
    type Output = Result<(u64, u64), WriteError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            WriteState::Refused(error) => Poll::Ready(Err(refusal(error.take()))),
            WriteState::Pending { shared, rx } => match rx.poll_recv(cx) {
                Poll::Ready(Some(outcome)) => Poll::Ready(outcome),
                Poll::Ready(None) => Poll::Ready(Err(closed(shared))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// A refusal, or (polled again after it was returned) a shut-down node.
fn refusal(error: Option<ProposeError>) -> WriteError {
    WriteError::Refused(error.unwrap_or(ProposeError::Shutdown))
}

/// The slot closed unanswered: the node ended before the loop took or resolved the command.
fn closed(shared: &Shared) -> WriteError {
    match shared.end() {
        Some(end) => WriteError::Failed(end.proposal_error()),
        None => WriteError::Failed(ProposalError::Shutdown),
    }
}

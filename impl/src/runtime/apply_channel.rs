//! The Lab's apply channel as the node's apply sink: each committed entry is decoded into
//! the service's command type and sent as an [`ApplyMsg`].
//!
//! An entry the service's type cannot decode stops the peer (issue 10: the old applier
//! stopped alone while the peer kept voting and replicating). The service sees the apply
//! channel close (its receiver returns `Err(Disconnected)`), and
//! [`Raft::stop_reason`](super::Raft::stop_reason) returns
//! [`StopReason::Undecodable`] with the entry's index.

use std::sync::mpsc::Sender;

use crate::core::{codec, Apply};
use crate::node::{ApplySink, SinkError, StopReason};
use crate::{ApplyMsg, Command};

pub(crate) struct ApplyChannel<C> {
    pub tx: Option<Sender<ApplyMsg<C>>>,
    pub max_command_bytes: u64,
}

impl<C: Command> ApplySink for ApplyChannel<C> {
    fn deliver(&mut self, apply: Apply) -> Result<(), SinkError> {
        let Some(tx) = &self.tx else {
            return Err(SinkError::Closed);
        };
        let message = match apply {
            Apply::Entry { index, command, .. } => {
                match codec::decode::<C>(&command, self.max_command_bytes) {
                    Ok(command) => ApplyMsg::Command {
                        command,
                        command_index: index,
                    },
                    Err(error) => {
                        return Err(SinkError::Failed(StopReason::Undecodable {
                            index,
                            reason: error.to_string(),
                        }))
                    }
                }
            }
            Apply::Snapshot { index, term, data } => ApplyMsg::Snapshot {
                snapshot: data.as_ref().clone(),
                snapshot_term: term,
                snapshot_index: index,
            },
        };
        tx.send(message).map_err(|_| SinkError::Closed)
    }

    fn end(&mut self, _reason: Option<StopReason>) {
        // Dropping the sender closes the service's channel.
        self.tx = None;
    }
}

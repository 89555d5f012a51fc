//! What the library hands to the service on the apply channel.

use serde::{de::DeserializeOwned, Serialize};

/// A command the service replicates. Go's `interface{}` becomes any serde type.
pub trait Command: Clone + Serialize + DeserializeOwned + Send + 'static {}
impl<T: Clone + Serialize + DeserializeOwned + Send + 'static> Command for T {}

/// One message on the apply channel (the Lab's `ApplyMsg`).
///
/// The Lab's `CommandValid`/`SnapshotValid` flags become the two variants; the
/// accessors below keep the Lab's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyMsg<C> {
    /// A committed log entry, delivered exactly once, in index order.
    Command {
        /// The command, as passed to `start`.
        command: C,
        /// Its log index (the Lab's `CommandIndex`).
        command_index: u64,
    },
    /// A snapshot to install in the service; it always moves the service forwards.
    Snapshot {
        /// The service's snapshot bytes, as taken by some server's service.
        snapshot: Vec<u8>,
        /// The term of the last index it covers.
        snapshot_term: u64,
        /// The last index it covers.
        snapshot_index: u64,
    },
}

impl<C> ApplyMsg<C> {
    /// The Lab's `CommandValid`.
    pub fn command_valid(&self) -> bool {
        matches!(self, ApplyMsg::Command { .. })
    }

    /// The Lab's `SnapshotValid`.
    pub fn snapshot_valid(&self) -> bool {
        matches!(self, ApplyMsg::Snapshot { .. })
    }
}

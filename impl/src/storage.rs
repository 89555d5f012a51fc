//! Where a peer keeps Figure 2's persistent state (currentTerm, votedFor, log[]) and the
//! service's snapshot (§7), driven by the core's [`Persist`] deltas: a storage appends and
//! truncates, it never rewrites the log.
//!
//! The runtime calls [`Storage::write`] once per step that changed the persistent state, in
//! step order, and [`Storage::sync`] to make every write so far durable. One `sync` covers
//! every write queued before it (group commit): a storage must not fsync inside `write`.
//! A write is not durable, and nothing that depends on it may leave the peer, until a
//! `sync` after it has returned `Ok` (Figure 2: "respond to RPCs only after updating
//! stable storage"; Raft thesis §10.2.1).

use std::sync::Arc;

use crate::core::{Persist, PersistentState, StateError};

mod disk;
mod format;
mod fs;
mod memory;
#[cfg(test)]
mod sim_fs;

pub use disk::{DiskOptions, DiskStorage};
pub use format::{Corruption, RecordDamage, SnapshotDamage};
pub use memory::MemoryStorage;

/// Why a storage could not be opened, written or synced.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The file system refused an operation on `path`.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file or directory acted on.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A delta does not fit the stored state, or a state could not be encoded or checked.
    #[error("invalid raft state")]
    State(#[from] StateError),
    /// `open` of a directory that does not exist: a lost volume is an error, never a fresh
    /// server (use `create` for a new one).
    #[error("storage directory {} does not exist", path.display())]
    Missing {
        /// The directory.
        path: std::path::PathBuf,
    },
    /// `open` of a directory that holds no storage (no marker file): a directory that was
    /// emptied or replaced is an error, never a fresh server.
    #[error("{} holds no raft storage (no marker file)", path.display())]
    NotAStorage {
        /// The directory.
        path: std::path::PathBuf,
    },
    /// `create` in a directory that already holds a storage.
    #[error("{} already holds a raft storage", path.display())]
    AlreadyExists {
        /// The directory.
        path: std::path::PathBuf,
    },
    /// `create` in a directory holding files that are not a storage's.
    #[error("{} is not empty: it holds {name:?}", path.display())]
    NotEmpty {
        /// The directory.
        path: std::path::PathBuf,
        /// One entry that is in the way.
        name: String,
    },
    /// Another storage, in this process or another, has the directory open.
    #[error("storage directory {} is locked by another opener", path.display())]
    Locked {
        /// The directory.
        path: std::path::PathBuf,
    },
    /// The files cannot be recovered without possibly losing an acknowledged write (a
    /// torn tail is not this: it is cut off at open).
    #[error("storage file {} is corrupt at offset {offset}: {reason}", path.display())]
    Corrupt {
        /// The damaged file (or the directory, for a missing file).
        path: std::path::PathBuf,
        /// The byte offset of the damage in the file (0 when it is the whole file).
        offset: u64,
        /// What is wrong (in the message, so not also a `source`).
        reason: Corruption,
    },
    /// The storage failed earlier and refuses further writes (what it holds on disk is still
    /// consistent; reopen it to recover).
    #[error("storage failed earlier and accepts no more writes")]
    Failed,
}

/// What a storage held when it was opened: the state to restore a core from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Term, vote, snapshot point and the log after it.
    pub state: PersistentState,
    /// The service snapshot saved with `state.snapshot_index` (empty if none).
    pub snapshot: Arc<Vec<u8>>,
}

/// A peer's stable storage, driven by [`Persist`] deltas.
///
/// Owned by one I/O thread of the runtime (hence `&mut self` and `Send`, not `Sync`).
pub trait Storage: Send + 'static {
    /// What the storage held when it was opened: what [`crate::core::Core::recover`]
    /// starts from. (Writes since then are not reflected; a storage need not keep the
    /// whole state in memory.)
    fn recovered(&self) -> Recovered;

    /// Queues one step's delta. It may reach the operating system at once, but it is not
    /// durable until a later [`sync`](Storage::sync) returns `Ok`. Deltas must be written in
    /// the order the core produced them; one that does not fit the stored state is an error.
    fn write(&mut self, delta: &Persist) -> Result<(), StorageError>;

    /// Makes every write so far durable (one fsync, or as few as the format needs, for all
    /// of them: group commit).
    fn sync(&mut self) -> Result<(), StorageError>;
}

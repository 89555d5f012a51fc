//! Where a peer keeps its persistent state (Figure 2: currentTerm, votedFor, log[]) and the
//! service's snapshot (§7). Both are saved together, atomically, so that a restart never
//! sees a log that does not match its snapshot.

use std::path::PathBuf;
use std::sync::Arc;

mod blob_storage;
mod cached;
mod file;
mod format;
pub use blob_storage::{BlobOpenError, PersisterStorage};
use cached::{Cached, Saved};
pub use file::FilePersister;
pub use format::FileFormatError;

/// Why persistent state could not be saved or read back.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The file system refused an operation on `path`.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file or directory acted on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The state file at `path` exists but is damaged or of another format.
    #[error("persisted state file {} is corrupt", path.display())]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        reason: FileFormatError,
    },
    /// The raft state could not be encoded (too large, for example), so nothing was saved.
    #[error("raft state could not be encoded; nothing was saved")]
    Encode(#[source] crate::core::StateError),
}

/// Storage for a peer's raft state and snapshot (the Lab's `Persister`).
pub trait Persister: Send + Sync + 'static {
    /// Replaces both the raft state and the snapshot, atomically.
    fn save(&self, raft_state: &[u8], snapshot: &[u8]) -> Result<(), PersistError>;
    /// The raft state last saved (empty if none).
    fn read_raft_state(&self) -> Result<Vec<u8>, PersistError>;
    /// The snapshot last saved (empty if none).
    fn read_snapshot(&self) -> Result<Vec<u8>, PersistError>;
    /// Size in bytes of the saved raft state (the Lab's `RaftStateSize`).
    fn raft_state_size(&self) -> usize;
    /// Size in bytes of the saved snapshot (the Lab's `SnapshotSize`).
    fn snapshot_size(&self) -> usize;
}

/// An in-memory persister with the Lab's semantics: a crashed peer's persister is replaced
/// by a [`copy`](MemoryPersister::copy), so writes the dead peer makes late are never seen
/// by its successor.
#[derive(Debug, Default, Clone)]
pub struct MemoryPersister {
    saved: Arc<Cached>,
}

impl MemoryPersister {
    /// An empty persister: a fresh server.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new, independent persister holding the same bytes.
    pub fn copy(&self) -> Self {
        let saved = self.saved.lock().clone();
        MemoryPersister {
            saved: Arc::new(Cached::new(saved)),
        }
    }
}

impl Persister for MemoryPersister {
    fn save(&self, raft_state: &[u8], snapshot: &[u8]) -> Result<(), PersistError> {
        *self.saved.lock() = Saved::copied(raft_state, snapshot);
        Ok(())
    }

    fn read_raft_state(&self) -> Result<Vec<u8>, PersistError> {
        Ok(self.saved.raft_state())
    }

    fn read_snapshot(&self) -> Result<Vec<u8>, PersistError> {
        Ok(self.saved.snapshot())
    }

    fn raft_state_size(&self) -> usize {
        self.saved.raft_state_size()
    }

    fn snapshot_size(&self) -> usize {
        self.saved.snapshot_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy is independent: writes to the original after the copy are not seen in it.
    #[test]
    fn copy_does_not_see_later_writes() {
        let original = MemoryPersister::new();
        original.save(b"state-1", b"snap-1").unwrap();
        let copy = original.copy();
        original.save(b"state-2", b"snap-2").unwrap();
        assert_eq!(copy.read_raft_state().unwrap(), b"state-1");
        assert_eq!(copy.read_snapshot().unwrap(), b"snap-1");
        assert_eq!(original.raft_state_size(), 7);
    }
}

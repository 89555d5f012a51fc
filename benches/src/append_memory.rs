//! An in-memory [`Storage`] for the end-to-end bench whose writes cost O(delta): each
//! `write` applies the step's [`Persist`] delta in place (`Persist::apply_to` truncates and
//! extends the stored log), and `sync` has nothing to do.
//!
//! Why not `raft_impl::storage::MemoryStorage`: it models crashes (only what was synced
//! survives `reopen`) and so keeps the deltas until `sync`, where it clones the whole durable
//! state, applies them and swaps it in. That makes every sync O(log length): with the log
//! growing through a run, the profile of the 1-client case was dominated by cloning the log
//! (`Vec::clone` and `Bytes` reference counts, over 30 % of samples), and the bench measured
//! that copy rather than the runtime. The openraft peer's store appends in place too
//! (`openraft_peer::log_store`), so this is the like-for-like storage.

use std::sync::Arc;

use raft_impl::core::{Persist, PersistentState};
use raft_impl::storage::{Recovered, Storage, StorageError};

/// A fresh server's storage kept in memory, appended in place; nothing survives the process.
#[derive(Debug, Default)]
pub struct AppendMemory {
    state: PersistentState,
    snapshot: Arc<Vec<u8>>,
}

impl AppendMemory {
    /// An empty storage (a new server).
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries currently stored.
    pub fn len(&self) -> usize {
        self.state.entries.len()
    }

    /// True when no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.state.entries.is_empty()
    }
}

impl Storage for AppendMemory {
    fn recovered(&self) -> Recovered {
        // Only called at start, on a new server.
        Recovered {
            state: self.state.clone(),
            snapshot: Arc::clone(&self.snapshot),
        }
    }

    fn write(&mut self, delta: &Persist) -> Result<(), StorageError> {
        delta.apply_to(&mut self.state, &mut self.snapshot)?;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        // Memory: written is as durable as it gets.
        Ok(())
    }
}

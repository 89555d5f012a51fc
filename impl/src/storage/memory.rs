//! A storage in memory, with the crash semantics tests need: only what a `sync` covered
//! survives [`MemoryStorage::reopen`].

use std::sync::{Arc, Mutex, PoisonError};

use super::{Recovered, Storage, StorageError};
use crate::core::Persist;

/// A storage in memory. Clones share the durable content; [`reopen`](Self::reopen) gives
/// what a restarted peer would find after a crash: everything synced, nothing else.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    durable: Arc<Mutex<Recovered>>,
    opened: Recovered,
    pending: Vec<Persist>,
}

impl MemoryStorage {
    /// An empty storage (a fresh server).
    pub fn new() -> Self {
        Self::default()
    }

    /// A storage holding what this one has made durable: unsynced writes are lost, as in a
    /// crash. The two share the durable content from then on (only one should be written).
    pub fn reopen(&self) -> Self {
        let opened = self.lock().clone();
        MemoryStorage {
            durable: Arc::clone(&self.durable),
            opened,
            pending: Vec::new(),
        }
    }

    /// What is durable now.
    pub fn durable(&self) -> Recovered {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recovered> {
        // A delta is applied only once it is known to fit, and applying one cannot panic,
        // so a poisoned lock still holds a consistent state.
        self.durable.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Storage for MemoryStorage {
    fn recovered(&self) -> Recovered {
        self.opened.clone()
    }

    fn write(&mut self, delta: &Persist) -> Result<(), StorageError> {
        self.pending.push(delta.clone());
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        // In place: a sync costs O(what changed), not O(log) (cloning the state here made
        // every sync proportional to the log's length). Each delta is checked to fit before
        // it is applied, so a misfit leaves the durable state as the last delta left it.
        let pending = std::mem::take(&mut self.pending);
        let mut durable = self.lock();
        for delta in pending {
            if let Some(change) = &delta.log {
                let (first, last) = match &delta.snapshot {
                    Some(snapshot) => (snapshot.index, snapshot.index),
                    None => (
                        durable.state.snapshot_index,
                        durable.state.snapshot_index + durable.state.entries.len() as u64,
                    ),
                };
                if change.after < first || change.after > last {
                    return Err(StorageError::State(
                        crate::core::StateError::LogChangeMisfit {
                            after: change.after,
                            first,
                            last,
                        },
                    ));
                }
            }
            let Recovered { state, snapshot } = &mut *durable;
            delta.apply_to(state, snapshot)?;
        }
        Ok(())
    }
}

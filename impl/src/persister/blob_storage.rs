//! [`PersisterStorage`]: a [`Storage`] over a Lab-style blob [`Persister`].
//!
//! The Lab's persister saves the whole raft state and the snapshot together, atomically.
//! This adapter keeps an in-memory copy of the persistent state, applies each `Persist`
//! delta to it on `write`, and saves the whole blob on `sync` (once per group of writes).
//! It is what the Lab layer ([`crate::Raft`]) runs on; a production node uses a storage
//! that appends ([`crate::storage`]).

use std::sync::Arc;

use crate::core::{Persist, PersistentState, RestoreError};
use crate::storage::{Recovered, Storage, StorageError};

use super::{PersistError, Persister};

/// Why a persister's content cannot be opened as a storage.
#[derive(Debug, thiserror::Error)]
pub enum BlobOpenError {
    /// The persister could not be read.
    #[error("could not read the persisted state")]
    Read(#[from] PersistError),
    /// What it holds is not a state a peer can restore.
    #[error("could not restore from the persisted state")]
    Restore(#[from] RestoreError),
}

/// A [`Storage`] that saves whole blobs to a [`Persister`] on every sync.
pub struct PersisterStorage {
    persister: Arc<dyn Persister>,
    opened: Recovered,
    state: PersistentState,
    snapshot: Arc<Vec<u8>>,
    dirty: bool,
    failed: bool,
}

impl std::fmt::Debug for PersisterStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersisterStorage")
            .field("dirty", &self.dirty)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl PersisterStorage {
    /// Reads and checks what `persister` holds (empty: a fresh server).
    pub fn open(persister: Arc<dyn Persister>) -> Result<Self, BlobOpenError> {
        let raft_state = persister.read_raft_state()?;
        let snapshot = persister.read_snapshot()?;
        let state = if raft_state.is_empty() {
            if !snapshot.is_empty() {
                return Err(RestoreError::SnapshotWithoutState {
                    snapshot_bytes: snapshot.len(),
                }
                .into());
            }
            PersistentState::default()
        } else {
            PersistentState::decode(&raft_state).map_err(RestoreError::State)?
        };
        let snapshot = Arc::new(snapshot);
        Ok(PersisterStorage {
            persister,
            opened: Recovered {
                state: state.clone(),
                snapshot: Arc::clone(&snapshot),
            },
            state,
            snapshot,
            dirty: false,
            failed: false,
        })
    }
}

impl Storage for PersisterStorage {
    fn recovered(&self) -> Recovered {
        self.opened.clone()
    }

    fn write(&mut self, delta: &Persist) -> Result<(), StorageError> {
        if self.failed {
            return Err(StorageError::Failed);
        }
        let applied = delta.apply_to(&mut self.state, &mut self.snapshot);
        self.dirty = true;
        applied.map_err(|error| {
            self.failed = true;
            StorageError::State(error)
        })
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        if self.failed {
            return Err(StorageError::Failed);
        }
        if !self.dirty {
            return Ok(());
        }
        let saved = self
            .state
            .encode()
            .map_err(StorageError::State)
            .and_then(|bytes| {
                self.persister
                    .save(&bytes, &self.snapshot)
                    .map_err(storage_error)
            });
        match saved {
            Ok(()) => {
                self.dirty = false;
                Ok(())
            }
            Err(error) => {
                self.failed = true;
                Err(error)
            }
        }
    }
}

fn storage_error(error: PersistError) -> StorageError {
    match error {
        PersistError::Io { path, source } => StorageError::Io { path, source },
        PersistError::Encode(error) => StorageError::State(error),
        corrupt @ PersistError::Corrupt { .. } => {
            let path = match &corrupt {
                PersistError::Corrupt { path, .. } => path.clone(),
                _ => std::path::PathBuf::new(),
            };
            StorageError::Io {
                path,
                source: std::io::Error::other(corrupt),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Entry, HardState, LogChange};
    use crate::MemoryPersister;

    /// Writes are saved whole on sync, and a reopened adapter recovers them.
    #[test]
    fn deltas_are_saved_on_sync_and_recovered() {
        let persister = MemoryPersister::new();
        let mut storage = PersisterStorage::open(Arc::new(persister.clone())).unwrap();
        storage
            .write(&Persist {
                hard_state: Some(HardState {
                    current_term: 3,
                    voted_for: Some(1),
                }),
                snapshot: None,
                log: Some(LogChange {
                    after: 0,
                    entries: vec![Entry {
                        term: 2,
                        command: vec![9].into(),
                    }],
                }),
            })
            .unwrap();
        assert!(
            persister.read_raft_state().unwrap().is_empty(),
            "no sync yet"
        );
        storage.sync().unwrap();
        let reopened = PersisterStorage::open(Arc::new(persister)).unwrap();
        let state = reopened.recovered().state;
        assert_eq!((state.current_term, state.voted_for), (3, Some(1)));
        assert_eq!(state.entries.len(), 1);
    }

    /// A delta that does not fit is an error, and the adapter refuses everything after.
    #[test]
    fn a_misfit_delta_fails_the_storage() {
        let mut storage = PersisterStorage::open(Arc::new(MemoryPersister::new())).unwrap();
        let misfit = Persist {
            hard_state: None,
            snapshot: None,
            log: Some(LogChange {
                after: 5,
                entries: Vec::new(),
            }),
        };
        assert!(matches!(
            storage.write(&misfit),
            Err(StorageError::State(_))
        ));
        assert!(matches!(storage.sync(), Err(StorageError::Failed)));
    }
}

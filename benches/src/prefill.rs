//! Fills a storage with a log before its node starts, so a bench can compare a short log
//! with a long one without first committing 100 000 entries through the cluster.
//!
//! Every peer gets the same entries, all of term 1, and term 1 with no vote: the state of a
//! cluster whose term-1 leader replicated them everywhere and then failed. That is a state a
//! real cluster can be in, so the nodes recover it as they would any other: the next leader
//! (term ≥ 2) commits them with its first entry (§5.4.2), and they are applied then.

use bytes::Bytes;
use raft_impl::core::{Entry, HardState, LogChange, Persist};
use raft_impl::storage::{Storage, StorageError};

/// Entries per write: a bounded delta, as a runtime's steps are.
const BATCH: u64 = 10_000;

/// Writes `entries` entries of `command` (term 1) after whatever `storage` holds (a fresh
/// storage: none), then syncs.
pub fn prefill(
    storage: &mut dyn Storage,
    entries: u64,
    command: &Bytes,
) -> Result<(), StorageError> {
    storage.write(&Persist {
        hard_state: Some(HardState {
            current_term: 1,
            voted_for: None,
        }),
        ..Persist::default()
    })?;
    let mut written = 0;
    while written < entries {
        let batch = BATCH.min(entries - written);
        storage.write(&Persist {
            log: Some(LogChange {
                after: written,
                entries: (0..batch)
                    .map(|_| Entry {
                        term: 1,
                        command: command.clone(),
                    })
                    .collect(),
            }),
            ..Persist::default()
        })?;
        written += batch;
    }
    storage.sync()
}

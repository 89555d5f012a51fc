//! The last saved raft state and snapshot, kept in memory by both persisters so that reads
//! and sizes (the Lab's `ReadRaftState`, `RaftStateSize`, …) never touch storage.

use std::sync::{Mutex, MutexGuard};

/// One saved pair. Replaced only as a whole, so both halves always come from the same save
/// (the snapshot must match the log it compacted, §7).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Saved {
    pub(super) raft_state: Vec<u8>,
    pub(super) snapshot: Vec<u8>,
}

impl Saved {
    pub(super) fn copied(raft_state: &[u8], snapshot: &[u8]) -> Saved {
        Saved {
            raft_state: raft_state.to_vec(),
            snapshot: snapshot.to_vec(),
        }
    }
}

/// A [`Saved`] pair behind a lock, with the persisters' shared read accessors.
#[derive(Debug, Default)]
pub(super) struct Cached {
    saved: Mutex<Saved>,
}

impl Cached {
    pub(super) fn new(saved: Saved) -> Cached {
        Cached {
            saved: Mutex::new(saved),
        }
    }

    /// The pair, locked. A save holds this guard across its write so saves stay in order.
    pub(super) fn lock(&self) -> MutexGuard<'_, Saved> {
        // `Saved` is only ever replaced by one whole assignment, so a panic while the lock
        // was held cannot have left it half-written: a poisoned lock is still consistent.
        self.saved
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn raft_state(&self) -> Vec<u8> {
        self.lock().raft_state.clone()
    }

    pub(super) fn snapshot(&self) -> Vec<u8> {
        self.lock().snapshot.clone()
    }

    pub(super) fn raft_state_size(&self) -> usize {
        self.lock().raft_state.len()
    }

    pub(super) fn snapshot_size(&self) -> usize {
        self.lock().snapshot.len()
    }
}

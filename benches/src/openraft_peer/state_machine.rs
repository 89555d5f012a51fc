//! The openraft peer's state machine: it applies an entry by counting it.
//!
//! The counter is shared with the bench (an `Arc<AtomicU64>`), which checks after a run that
//! every write was applied. A snapshot is the count and the last applied log id; openraft's
//! default policy builds one every 5 000 entries and purges the log behind it.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::RaftStateMachine;
use openraft::{
    EmptyNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta,
    StorageError, StoredMembership,
};

use super::TypeConfig;

#[derive(Default)]
struct Inner {
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, EmptyNode>,
    snapshot: Option<(SnapshotMeta<u64, EmptyNode>, Vec<u8>)>,
    snapshots_built: u64,
}

/// A state machine that counts the commands applied to it.
#[derive(Clone, Default)]
pub struct CountingStateMachine {
    inner: Arc<Mutex<Inner>>,
    applied: Arc<AtomicU64>,
}

impl CountingStateMachine {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shared count of commands (normal entries) applied so far.
    pub fn applied(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.applied)
    }
}

/// The snapshot's bytes: the applied count, little-endian.
fn encode(count: u64) -> Vec<u8> {
    count.to_le_bytes().to_vec()
}

impl RaftSnapshotBuilder<TypeConfig> for CountingStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        let count = self.applied.load(Ordering::Acquire);
        let mut inner = self.lock();
        inner.snapshots_built += 1;
        let meta = SnapshotMeta {
            last_log_id: inner.last_applied,
            last_membership: inner.membership.clone(),
            snapshot_id: format!("{:?}-{}", inner.last_applied, inner.snapshots_built),
        };
        let data = encode(count);
        inner.snapshot = Some((meta.clone(), data.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for CountingStateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, EmptyNode>), StorageError<u64>> {
        let inner = self.lock();
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<u64>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut inner = self.lock();
        let mut responses = Vec::new();
        for entry in entries {
            inner.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(_) => {
                    self.applied.fetch_add(1, Ordering::AcqRel);
                }
                EntryPayload::Membership(membership) => {
                    inner.membership = StoredMembership::new(Some(entry.log_id), membership);
                }
            }
            responses.push(self.applied.load(Ordering::Acquire));
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, EmptyNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let data = snapshot.into_inner();
        // A snapshot this bench did not build is a bug of the bench, not a reason to panic
        // inside openraft: keep the count unchanged.
        if let Ok(bytes) = <[u8; 8]>::try_from(data.as_slice()) {
            self.applied
                .store(u64::from_le_bytes(bytes), Ordering::Release);
        }
        let mut inner = self.lock();
        inner.last_applied = meta.last_log_id;
        inner.membership = meta.last_membership.clone();
        inner.snapshot = Some((meta.clone(), data));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        Ok(self.lock().snapshot.as_ref().map(|(meta, data)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(data.clone())),
        }))
    }
}

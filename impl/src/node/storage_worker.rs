//! The storage I/O thread: group commit outside the event loop.
//!
//! The loop hands it one [`Write`] per iteration that changed persistent state (the deltas
//! of every step in that iteration, in step order). The worker takes *every* write queued
//! while its previous sync ran, writes them in order, syncs once, and reports "durable up to
//! write `seq`, whose log ended at `(index, term)`" back to the loop. Nothing here holds a
//! lock the loop needs while it writes or syncs: the core is owned by the loop alone.
//!
//! A write or sync that fails or panics stops the node (the loop is told; the worker
//! exits). What was synced before stays durable; nothing after it is acknowledged.

use crate::core::Persist;
use crate::storage::Storage;
use crate::sync::Arc;

use super::error::panic_message;
use super::queue::Queue;
use super::shared::{End, Shared, Synced};
use super::StopReason;

/// The persistent changes of one loop iteration.
pub(crate) struct Write {
    /// Position in the loop's sequence of writes (1, 2, ...).
    pub seq: u64,
    /// The deltas, in step order.
    pub deltas: Vec<Persist>,
    /// The log's last `(index, term)` after them.
    pub log_end: (u64, u64),
}

/// Runs until the queue is closed and drained, or a write fails.
pub(crate) fn run_storage(
    shared: Arc<Shared>,
    queue: Arc<Queue<Write>>,
    mut storage: Box<dyn Storage>,
    syncs: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    while let Some(writes) = queue.pop_all_wait() {
        let Some(last) = writes.last() else { continue };
        let synced = Synced {
            seq: last.seq,
            index: last.log_end.0,
            term: last.log_end.1,
        };
        if let Err(reason) = write_and_sync(&mut *storage, &writes) {
            tracing::error!(id = shared.id, %reason, "storage failed; the node stops");
            shared.request_stop(End::Stopped(reason));
            return;
        }
        syncs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        shared.notify(|inbox| {
            // Reports only move forwards; the loop takes the latest.
            if inbox.synced.is_none_or(|old| old.seq < synced.seq) {
                inbox.synced = Some(synced);
            }
        });
    }
}

/// Writes `writes` in order and syncs once; a failure or a panic of the storage becomes the
/// reason the node stops. (Shared by the worker and by a loop that syncs itself,
/// `NodeConfig::sync_on_loop`.)
pub(crate) fn write_and_sync(
    storage: &mut dyn Storage,
    writes: &[Write],
) -> Result<(), StopReason> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for write in writes {
            for delta in &write.deltas {
                storage.write(delta)?;
            }
        }
        storage.sync()
    }));
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(StopReason::Storage(std::sync::Arc::new(error))),
        Err(payload) => Err(StopReason::StoragePanicked {
            message: panic_message(&*payload),
        }),
    }
}

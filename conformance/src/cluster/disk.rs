//! One server's stable storage with a durable prefix (Raft thesis §10.2.1): writes land at
//! once in what the server reads back, but only a sync makes them survive a crash.

use std::sync::Arc;

use raft_impl::core::{Persist, PersistentState, StateError};

/// What one server has on storage. Every `Ready`'s persistence delta is written in order
/// ([`Disk::write`]) to the *written* state (`raft_state`, `snapshot`: what the core's
/// persistent state must equal after every step); a crash keeps only the *durable* state
/// (`durable`, `durable_snapshot`), which a [`Disk::sync`] brings up to the written one,
/// as a storage's `write` (no fsync) and `sync` (fsync of every write so far) do. A
/// snapshot is written atomically: it is durable at once, with the durable entries after
/// it (as `raft_impl::storage` writes it: temp file, fsync, rename).
///
/// Both states are kept incrementally (a sync costs what was written since the previous
/// one), so the benchmarks' harness stays O(change) per step.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    /// The raft state (term, vote, log), as every delta written so far left it.
    pub raft_state: PersistentState,
    /// The last snapshot written.
    pub snapshot: Arc<Vec<u8>>,
    /// The raft state a crash keeps: as of the last sync, with any snapshot written since.
    pub durable: PersistentState,
    /// The snapshot a crash keeps (the last one written: snapshots are atomic).
    pub durable_snapshot: Arc<Vec<u8>>,
    /// The lowest log index written since the last sync (`u64::MAX`: none); the durable
    /// entries before it are the written ones.
    unsynced_from: u64,
    /// Whether anything was written since the last sync.
    unsynced: bool,
}

impl Disk {
    /// A disk holding `state` and `snapshot`, all of it durable (a server restored from it).
    pub fn synced(state: PersistentState, snapshot: Arc<Vec<u8>>) -> Disk {
        Disk {
            durable: state.clone(),
            durable_snapshot: Arc::clone(&snapshot),
            raft_state: state,
            snapshot,
            unsynced_from: u64::MAX,
            unsynced: false,
        }
    }

    /// Whether a write since the last sync would be lost by a crash.
    pub fn unsynced(&self) -> bool {
        self.unsynced
    }

    /// Writes one step's delta (no sync). A snapshot in it is durable at once; the rest
    /// waits for [`Disk::sync`]. An error if the delta does not fit the written state.
    pub fn write(&mut self, persist: &Persist) -> Result<(), StateError> {
        persist.apply_to(&mut self.raft_state, &mut self.snapshot)?;
        if persist.hard_state.is_some() {
            self.unsynced = true;
        }
        if let Some(change) = &persist.snapshot {
            // Atomic: the durable log becomes the snapshot plus the durable entries after
            // it, if those are the written ones (same term at the snapshot index, and not
            // rewritten since the last sync).
            let d = &mut self.durable;
            let keep =
                change.index < self.unsynced_from && term_at(d, change.index) == Some(change.term);
            if keep {
                let covered = (change.index - d.snapshot_index) as usize;
                d.entries.drain(..covered);
            } else {
                d.entries.clear();
            }
            d.snapshot_index = change.index;
            d.snapshot_term = change.term;
            self.durable_snapshot = Arc::clone(&change.data);
        } else if let Some(log) = &persist.log {
            // A snapshot's log change only re-supplies the entries kept after it (the core
            // never truncates in the step that takes or installs a snapshot).
            self.unsynced_from = self.unsynced_from.min(log.after + 1);
            self.unsynced = true;
        }
        Ok(())
    }

    /// Makes every write so far durable; returns the written log's last `(index, term)`,
    /// what the caller reports to the core as `Input::Persisted`.
    pub fn sync(&mut self) -> (u64, u64) {
        if self.unsynced {
            let (w, d) = (&self.raft_state, &mut self.durable);
            debug_assert_eq!(w.snapshot_index, d.snapshot_index, "snapshots are atomic");
            d.current_term = w.current_term;
            d.voted_for = w.voted_for;
            let same = (self.unsynced_from.saturating_sub(d.snapshot_index + 1) as usize)
                .min(d.entries.len())
                .min(w.entries.len());
            d.entries.truncate(same);
            d.entries.extend_from_slice(&w.entries[same..]);
            self.unsynced_from = u64::MAX;
            self.unsynced = false;
        }
        last_position(&self.raft_state)
    }

    /// A crash: every write since the last sync is lost; returns what survived.
    pub fn crash(&mut self) -> &PersistentState {
        self.raft_state = self.durable.clone();
        self.snapshot = Arc::clone(&self.durable_snapshot);
        self.unsynced_from = u64::MAX;
        self.unsynced = false;
        &self.raft_state
    }
}

/// The last log index of `state` and its term (the snapshot's if no entry is kept).
pub fn last_position(state: &PersistentState) -> (u64, u64) {
    let index = state.snapshot_index + state.entries.len() as u64;
    let term = state.entries.last().map_or(state.snapshot_term, |e| e.term);
    (index, term)
}

fn term_at(state: &PersistentState, index: u64) -> Option<u64> {
    if index == state.snapshot_index {
        return Some(state.snapshot_term);
    }
    let offset = index.checked_sub(state.snapshot_index + 1)?;
    state.entries.get(offset as usize).map(|e| e.term)
}

//! Durability (Raft thesis §10.2.1, `docs/protocol.md`): which prefix of the log is on
//! stable storage, as far as the core knows.
//!
//! The caller writes each step's [`Persist`](super::Persist) and tells the core, with
//! [`Input::Persisted`](super::Input::Persisted), once a sync has made the writes durable.
//! The core keeps the answer as its durable index, with `snapshot_index <= durable_index
//! <= last_index`:
//!
//! - `Persisted { index, term }` raises it to `index`, if the log still holds `term` there
//!   (otherwise the write it reports was of entries the log has since replaced, and it
//!   proves nothing about the current ones);
//! - a write below it (a truncation, Figure 2 AppendEntries rule 3) lowers it to the
//!   write's start: the new entries there are not on disk until the next sync;
//! - a snapshot taken or installed (§7) raises it to at least the snapshot index: the
//!   snapshot is written atomically, and it covers only committed entries;
//! - a restored core's whole log came from disk: durable up to its last index.
//!
//! Only the leader uses it: it counts itself toward a commit quorum only up to its durable
//! index (`commit.rs`, AdvanceCommitIndex). A follower acknowledges entries only after they
//! are durable because the caller sends its replies only after the sync (`Ready`'s
//! obligations), not because of this index.

use super::persist::LogChange;
use super::{Core, Role};

impl Core {
    /// `Input::Persisted`: every write up to the one whose log ended at `(index, term)` is
    /// durable. Ignored if the log no longer has `term` at `index` (rewritten since, or
    /// never written: past the end); never lowers the durable index. A leader whose durable
    /// index rises may now commit (AdvanceCommitIndex, §10.2.1).
    pub(super) fn persisted(&mut self, index: u64, term: u64) {
        if self.log.term_at(index) != Some(term) || index <= self.durable_index {
            return;
        }
        self.durable_index = index;
        if self.role() == Role::Leader {
            self.advance_commit_index();
        }
    }

    /// Adjusts the durable index to what this step wrote (called when the step's `Persist`
    /// is handed out): a snapshot raises it to at least the snapshot index; a log change
    /// that rewrote entries from `after + 1` on lowers it to `after` (those entries are new
    /// and unsynced); it never exceeds the last index.
    pub(super) fn note_written(&mut self, snapshot_changed: bool, log: Option<&LogChange>) {
        if snapshot_changed {
            // The snapshot's change re-supplies the kept entries after it; they are the
            // same entries as before (`Log::compact` keeps them only if the log matched at
            // the snapshot index), so their durability is unchanged.
            self.durable_index = self.durable_index.max(self.log.snapshot_index());
        } else if let Some(change) = log {
            self.durable_index = self.durable_index.min(change.after);
        }
        self.durable_index = self.durable_index.min(self.log.last_index());
    }
}

//! The replicated log with a compacted prefix (Figure 2 `log[]`, §7).
//!
//! Indices start at 1. The entries up to and including `snapshot_index` have been replaced by
//! a snapshot; the log keeps only the entries after it. The snapshot's last entry still counts
//! as an entry for the log-matching checks (§7): `term_at(snapshot_index) == snapshot_term`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// One log entry: the term in which a leader received it and the opaque command bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The term of the leader that received the command.
    pub term: u64,
    /// The service's command bytes.
    //
    // Shared, not copied, by the log, messages, persistence deltas and applies; `Bytes`
    // serializes as one length-prefixed byte string, as `serde_bytes` did: format unchanged.
    pub command: Bytes,
}

impl Entry {
    /// The bytes this entry takes in an encoded message or state: its term and the
    /// command's length as varints, then the command.
    pub fn encoded_len(&self) -> usize {
        super::codec::varint_len(self.term)
            + super::codec::varint_len(self.command.len() as u64)
            + self.command.len()
    }
}

/// A [`Log`] change that would break the log's shape; the log is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// `truncate_from(from)` at or below the snapshot: the snapshot's entries are committed
    /// and never deleted.
    #[error("truncating at {from} would delete the snapshot ending at {snapshot_index}")]
    TruncateIntoSnapshot {
        /// The requested first index to delete.
        from: u64,
        /// The log's snapshot index.
        snapshot_index: u64,
    },
    /// `compact(index, ..)` at or below the current snapshot: compaction only moves forwards.
    #[error("compacting at {index} would move the snapshot ending at {snapshot_index} back")]
    CompactBackwards {
        /// The requested new snapshot index.
        index: u64,
        /// The log's snapshot index.
        snapshot_index: u64,
    },
}

/// The log: a snapshot's last included index/term followed by the entries after it.
///
/// Invariant: `entries[k]` has index `snapshot_index + 1 + k`, and terms never decrease
/// along the log (starting from `snapshot_term`).
#[derive(Debug, Clone, Default)]
pub struct Log {
    snapshot_index: u64,
    snapshot_term: u64,
    entries: Vec<Entry>,
    /// What changed since the last [`Log::take_changes`], so a step persists only that.
    changes: Changes,
}

/// Book-keeping for incremental persistence; not part of the log's value.
#[derive(Debug, Clone, Copy, Default)]
struct Changes {
    /// The lowest index appended or truncated at; every entry before it is unchanged.
    first_written: Option<u64>,
    snapshot: bool,
}

/// Two logs are equal when they hold the same snapshot position and entries, whatever
/// is still to be persisted.
impl PartialEq for Log {
    fn eq(&self, other: &Log) -> bool {
        self.snapshot_index == other.snapshot_index
            && self.snapshot_term == other.snapshot_term
            && self.entries == other.entries
    }
}

impl Eq for Log {}

impl Log {
    /// A log that starts after a snapshot ending at `(snapshot_index, snapshot_term)`.
    pub fn new(snapshot_index: u64, snapshot_term: u64, entries: Vec<Entry>) -> Self {
        Log {
            snapshot_index,
            snapshot_term,
            entries,
            changes: Changes::default(),
        }
    }

    /// The last index the snapshot covers (0: no snapshot).
    pub fn snapshot_index(&self) -> u64 {
        self.snapshot_index
    }

    /// The term of the entry at [`Log::snapshot_index`] (0: no snapshot).
    pub fn snapshot_term(&self) -> u64 {
        self.snapshot_term
    }

    /// The entries after the snapshot, the first one at index `snapshot_index + 1`.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The index of the last entry (the snapshot's if no entry is kept).
    pub fn last_index(&self) -> u64 {
        self.snapshot_index + self.entries.len() as u64
    }

    /// The term of the last entry (the snapshot's if no entry is kept).
    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snapshot_term, |e| e.term)
    }

    /// The term at `index`, if the log knows it: the snapshot's last entry or a kept entry.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.entry(index).map(|e| e.term)
    }

    /// The kept entry at `index` (`None` at or below the snapshot or past the end).
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        let offset = self.offset(index)?;
        self.entries.get(offset)
    }

    /// Clones of the entries from `from` to the end, at most `max` of them.
    pub fn slice(&self, from: u64, max: usize) -> Vec<Entry> {
        match self.offset(from) {
            Some(offset) if offset < self.entries.len() => {
                let end = self.entries.len().min(offset.saturating_add(max));
                self.entries[offset..end].to_vec()
            }
            _ => Vec::new(),
        }
    }

    /// Clones of the entries from `from` on: at most `max_entries`, and no more than
    /// `max_bytes` of them ([`Entry::encoded_len`]) — but at least one if there is one, so
    /// a long entry is still sent (alone).
    pub fn slice_bounded(&self, from: u64, max_entries: usize, max_bytes: usize) -> Vec<Entry> {
        let Some(offset) = self.offset(from).filter(|&o| o < self.entries.len()) else {
            return Vec::new();
        };
        let mut bytes = 0usize;
        let count = self.entries[offset..]
            .iter()
            .take(max_entries)
            .take_while(|entry| {
                bytes = bytes.saturating_add(entry.encoded_len());
                bytes <= max_bytes
            })
            .count()
            .max(1);
        self.entries[offset..offset + count].to_vec()
    }

    /// Appends `entry` at `last_index() + 1`. Its term must not be below `last_term()`
    /// (terms never decrease along a log; debug builds check).
    pub fn append(&mut self, entry: Entry) {
        debug_assert!(
            entry.term >= self.last_term(),
            "log terms must not decrease"
        );
        self.wrote_at(self.last_index() + 1);
        self.entries.push(entry);
    }

    fn wrote_at(&mut self, index: u64) {
        let first = self.changes.first_written.map_or(index, |i| i.min(index));
        self.changes.first_written = Some(first);
    }

    /// What changed since the previous call: whether a snapshot replaced the prefix (then
    /// the whole kept log is returned as changed), and the changed tail as "keep up to
    /// `after`, then these entries". Only the changed entries are cloned.
    pub fn take_changes(&mut self) -> (bool, Option<super::persist::LogChange>) {
        self.take_changes_with(&mut Vec::new())
    }

    /// [`Log::take_changes`], with the changed entries cloned into `spare` (emptied first;
    /// taken only if there is a change) instead of a new vector: the core hands out a
    /// change on nearly every step of a busy leader or follower, and reusing a vector its
    /// runtime gave back ([`super::Core::recycle`]) saves an allocation each time.
    pub fn take_changes_with(
        &mut self,
        spare: &mut Vec<Entry>,
    ) -> (bool, Option<super::persist::LogChange>) {
        let changes = std::mem::take(&mut self.changes);
        let first = if changes.snapshot {
            Some(self.snapshot_index + 1)
        } else {
            changes.first_written
        };
        let change = first.map(|first| {
            // `first` may be past the end after a truncation; never below the snapshot.
            let after = (first - 1).clamp(self.snapshot_index, self.last_index());
            let mut entries = std::mem::take(spare);
            entries.clear();
            // `after` is within the log, so the offset is in range (and empty at the end).
            let offset = (after - self.snapshot_index) as usize;
            entries.extend_from_slice(&self.entries[offset..]);
            super::persist::LogChange { after, entries }
        });
        (changes.snapshot, change)
    }

    /// Deletes the entry at `from` and all that follow (Figure 2, AppendEntries rule 3).
    /// An error, changing nothing, if `from` is at or below the snapshot: committed entries
    /// are never deleted.
    pub fn truncate_from(&mut self, from: u64) -> Result<(), LogError> {
        if from <= self.snapshot_index {
            return Err(LogError::TruncateIntoSnapshot {
                from,
                snapshot_index: self.snapshot_index,
            });
        }
        if let Some(offset) = self.offset(from) {
            if offset < self.entries.len() {
                self.wrote_at(from);
            }
            self.entries.truncate(offset);
        }
        Ok(())
    }

    /// Replaces the prefix up to and including `index` by a snapshot ending at
    /// `(index, term)` (§7). If the log has an entry at `index` with `term`, the entries after
    /// it are kept; otherwise the whole log is discarded. The dropped entries are freed.
    /// An error, changing nothing, if `index` is at or below the current snapshot.
    pub fn compact(&mut self, index: u64, term: u64) -> Result<(), LogError> {
        if index <= self.snapshot_index {
            return Err(LogError::CompactBackwards {
                index,
                snapshot_index: self.snapshot_index,
            });
        }
        if self.term_at(index) == Some(term) {
            let offset = self.offset(index).map_or(0, |o| o + 1);
            self.entries.drain(..offset);
            if self.entries.capacity() > 2 * self.entries.len() + 16 {
                self.entries.shrink_to_fit();
            }
        } else {
            self.entries = Vec::new();
        }
        self.snapshot_index = index;
        self.snapshot_term = term;
        self.changes.snapshot = true;
        Ok(())
    }

    /// The first index holding `term` in the run of `term` that ends at `index`, never at or
    /// below the snapshot (the follower's XIndex hint).
    pub fn first_index_of_term_run(&self, index: u64, term: u64) -> u64 {
        let mut first = index;
        while first > self.snapshot_index + 1 && self.term_at(first - 1) == Some(term) {
            first -= 1;
        }
        first.max(self.snapshot_index + 1)
    }

    /// The last index holding `term` (the leader's XTerm lookup). The snapshot's last entry
    /// counts as an entry (`docs/protocol.md`), so a term whose entries were all compacted
    /// is still found at the snapshot index.
    pub fn last_index_of_term(&self, term: u64) -> Option<u64> {
        match self.entries.iter().rposition(|e| e.term == term) {
            Some(position) => Some(self.snapshot_index + 1 + position as u64),
            None => (self.snapshot_term == term).then_some(self.snapshot_index),
        }
    }

    /// Position in `entries` of `index`, if `index` is after the snapshot.
    fn offset(&self, index: u64) -> Option<usize> {
        let offset = index.checked_sub(self.snapshot_index + 1)?;
        usize::try_from(offset).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(term: u64) -> Entry {
        Entry {
            term,
            command: vec![term as u8].into(),
        }
    }

    /// Index arithmetic around a compacted prefix: the snapshot's last entry keeps its term,
    /// indices below it are unknown, and slicing starts at the right entry.
    #[test]
    fn term_at_and_slice_count_from_the_snapshot() {
        let log = Log::new(5, 2, vec![entry(2), entry(3), entry(3)]);
        assert_eq!(log.last_index(), 8);
        assert_eq!(log.last_term(), 3);
        assert_eq!(log.term_at(5), Some(2));
        assert_eq!(log.term_at(4), None);
        assert_eq!(log.term_at(6), Some(2));
        assert_eq!(log.term_at(8), Some(3));
        assert_eq!(log.term_at(9), None);
        assert_eq!(log.slice(7, 10), vec![entry(3), entry(3)]);
        assert_eq!(log.slice(6, 1), vec![entry(2)]);
        assert!(log.slice(9, 10).is_empty());
        assert!(log.slice(3, 10).is_empty());
    }

    /// Compacting at a matching entry keeps the suffix; at an unknown one it drops everything.
    #[test]
    fn compact_keeps_suffix_only_when_entry_matches() {
        let mut log = Log::new(0, 0, vec![entry(1), entry(1), entry(2)]);
        log.compact(2, 1).unwrap();
        assert_eq!((log.snapshot_index(), log.snapshot_term()), (2, 1));
        assert_eq!(log.entries(), &[entry(2)]);
        let mut log = Log::new(0, 0, vec![entry(1), entry(1), entry(2)]);
        log.compact(2, 7).unwrap();
        assert!(log.entries().is_empty());
        assert_eq!(log.last_index(), 2);
        assert_eq!(log.last_term(), 7);
    }

    /// Deleting into the snapshot or compacting backwards is an error that changes nothing.
    #[test]
    fn changes_into_the_snapshot_are_errors() {
        let mut log = Log::new(2, 1, vec![entry(1), entry(2)]);
        let before = log.clone();
        assert_eq!(
            log.truncate_from(2),
            Err(LogError::TruncateIntoSnapshot {
                from: 2,
                snapshot_index: 2
            })
        );
        assert_eq!(
            log.compact(1, 1),
            Err(LogError::CompactBackwards {
                index: 1,
                snapshot_index: 2
            })
        );
        assert_eq!(log.compact(2, 1).err().map(|_| ()), Some(()));
        assert_eq!(log, before);
        assert_eq!(log.take_changes(), (false, None), "nothing to persist");
        log.truncate_from(3).unwrap();
        assert_eq!(log.last_index(), 2);
    }

    /// A batch stops before the entry that would pass the byte cap, at the count cap, or at
    /// the end, and never comes back empty while an entry is left.
    #[test]
    fn slice_bounded_caps_bytes_and_count_but_sends_one() {
        let big = |term| Entry {
            term,
            command: vec![0; 100].into(),
        };
        let log = Log::new(0, 0, vec![big(1), big(1), big(1), entry(1)]);
        let each = big(1).encoded_len();
        assert_eq!(each, 1 + 1 + 100);
        assert_eq!(log.slice_bounded(1, 10, 2 * each).len(), 2);
        assert_eq!(log.slice_bounded(1, 10, 2 * each - 1).len(), 1);
        assert_eq!(log.slice_bounded(1, 10, 1).len(), 1, "at least one");
        assert_eq!(log.slice_bounded(1, 2, usize::MAX).len(), 2);
        assert_eq!(log.slice_bounded(3, 10, usize::MAX).len(), 2);
        assert!(log.slice_bounded(5, 10, usize::MAX).is_empty());
    }

    /// The conflict hints find the boundaries of a term's run.
    #[test]
    fn term_run_boundaries() {
        let log = Log::new(1, 1, vec![entry(1), entry(2), entry(2), entry(3)]);
        assert_eq!(log.first_index_of_term_run(4, 2), 3);
        assert_eq!(log.first_index_of_term_run(2, 1), 2);
        assert_eq!(log.last_index_of_term(2), Some(4));
        assert_eq!(log.last_index_of_term(4), None);
        let compacted = Log::new(2, 1, vec![entry(2)]);
        assert_eq!(
            compacted.last_index_of_term(1),
            Some(2),
            "the snapshot entry counts"
        );
        assert_eq!(compacted.last_index_of_term(2), Some(3));
    }
}

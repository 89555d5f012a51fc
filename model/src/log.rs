//! Log arithmetic around a compacted prefix (Figure 2 `log[]`, §7). The snapshot's last
//! included entry counts as an entry: its index and term answer `term_at` and the
//! up-to-date check, exactly as if the entry were still in the log.

use crate::server::ServerState;
use crate::types::{Entry, Index, Term, Value};

impl ServerState {
    /// Index of the last entry (the snapshot's last included index when the log is empty).
    pub fn last_log_index(&self) -> Index {
        self.snapshot.last_included_index + self.log.len() as Index
    }

    /// Term of the last entry (§5.4.1 compares it in the up-to-date check).
    pub fn last_log_term(&self) -> Term {
        self.log
            .last()
            .map_or(self.snapshot.last_included_term, |e| e.term)
    }

    /// Term at `index`, if this server still knows it: `None` below the snapshot or past the end.
    pub fn term_at(&self, index: Index) -> Option<Term> {
        let base = self.snapshot.last_included_index;
        if index == base {
            Some(self.snapshot.last_included_term)
        } else if index > base {
            self.log.get(usize::from(index - base - 1)).map(|e| e.term)
        } else {
            None
        }
    }

    /// The entry at `index` if it is still in the log (after the snapshot).
    pub fn entry_at(&self, index: Index) -> Option<Entry> {
        let base = self.snapshot.last_included_index;
        if index > base {
            self.log.get(usize::from(index - base - 1)).copied()
        } else {
            None
        }
    }

    /// The command at `index` if this server knows it: from the log, or from the snapshot's data.
    pub fn value_at(&self, index: Index) -> Option<Value> {
        if index == 0 {
            return None;
        }
        match self.entry_at(index) {
            Some(entry) => Some(entry.value),
            None => self.snapshot.data.get(usize::from(index - 1)).copied(),
        }
    }

    /// The entries from `from` (inclusive) to the end of the log; empty if `from` is past it.
    pub fn entries_from(&self, from: Index) -> Vec<Entry> {
        let base = self.snapshot.last_included_index;
        let start = usize::from(from.saturating_sub(base + 1));
        self.log
            .get(start..)
            .map_or_else(Vec::new, <[Entry]>::to_vec)
    }

    /// Deletes the entry at `index` and all that follow (Figure 2, AppendEntries rule 3).
    /// The correct model never truncates into the snapshot; a bug variant that tries to
    /// (`no-snapshot-skip`) empties the log rather than panic, so the checker reports the
    /// property it breaks.
    /// A truncation lowers the durable index to the truncation point (§10.2.1: what was
    /// on stable storage past it is gone).
    pub fn truncate_from(&mut self, index: Index) {
        let base = self.snapshot.last_included_index;
        self.log
            .truncate(usize::from(index.saturating_sub(base + 1)));
        self.durable_index = self.durable_index.min(self.last_log_index());
    }

    /// `Sync(i)` (§10.2.1): the server's pending write completes, so its whole log is on
    /// stable storage. Returns whether anything was not durable before.
    pub fn sync(&mut self) -> bool {
        let last = self.last_log_index();
        let changed = self.durable_index < last;
        self.durable_index = last;
        changed
    }

    /// §5.4.1: a candidate's log is at least as up-to-date as ours.
    pub fn is_up_to_date(&self, last_log_index: Index, last_log_term: Term) -> bool {
        last_log_term > self.last_log_term()
            || (last_log_term == self.last_log_term() && last_log_index >= self.last_log_index())
    }

    /// The last index holding an entry of `term` (the snapshot's last entry included).
    pub fn last_index_of_term(&self, term: Term) -> Option<Index> {
        let first = self.snapshot.last_included_index;
        (first..=self.last_log_index())
            .rev()
            .find(|&i| self.term_at(i) == Some(term))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Snapshot;

    fn server_with(
        snapshot_index: Index,
        snapshot_term: Term,
        log: &[(Term, Value)],
    ) -> ServerState {
        let mut s = ServerState::new();
        s.snapshot = Snapshot {
            last_included_index: snapshot_index,
            last_included_term: snapshot_term,
            data: (1..=snapshot_index).collect(),
        };
        s.log = log
            .iter()
            .map(|&(term, value)| Entry { term, value })
            .collect();
        s
    }

    #[test]
    fn term_at_counts_the_snapshot_last_entry_and_nothing_below() {
        let s = server_with(2, 1, &[(2, 3), (3, 4)]);
        assert_eq!(s.term_at(1), None);
        assert_eq!(s.term_at(2), Some(1));
        assert_eq!(s.term_at(3), Some(2));
        assert_eq!(s.term_at(4), Some(3));
        assert_eq!(s.term_at(5), None);
        assert_eq!(s.last_log_index(), 4);
        assert_eq!(s.last_log_term(), 3);
    }

    #[test]
    fn values_come_from_the_snapshot_below_it_and_the_log_above() {
        let s = server_with(2, 1, &[(2, 9)]);
        assert_eq!(s.value_at(1), Some(1));
        assert_eq!(s.value_at(2), Some(2));
        assert_eq!(s.value_at(3), Some(9));
        assert_eq!(s.value_at(4), None);
        assert_eq!(s.entries_from(3), vec![Entry { term: 2, value: 9 }]);
        assert_eq!(s.entries_from(5), vec![]);
    }

    #[test]
    fn up_to_date_compares_last_term_then_length() {
        let s = server_with(0, 0, &[(1, 1), (2, 2)]);
        assert!(s.is_up_to_date(1, 3));
        assert!(s.is_up_to_date(2, 2));
        assert!(!s.is_up_to_date(1, 2));
        assert!(!s.is_up_to_date(5, 1));
    }

    #[test]
    fn last_index_of_term_includes_the_snapshot_entry() {
        let s = server_with(2, 1, &[(2, 3)]);
        assert_eq!(s.last_index_of_term(1), Some(2));
        assert_eq!(s.last_index_of_term(2), Some(3));
        assert_eq!(s.last_index_of_term(3), None);
    }
}

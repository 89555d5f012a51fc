//! Commit (§5.3, §5.4.2, and the leader's durable index of Raft thesis §10.2.1) and
//! handing committed entries to the service.

use super::role::RoleState;
use super::{Apply, Core};

impl Core {
    /// AdvanceCommitIndex: the largest `N` replicated on a majority with `term_at(N) ==
    /// current_term`. Entries of earlier terms commit only indirectly (§5.4.2, Figure 8).
    /// Returns whether the commit index moved; if it did, idle followers are told at once
    /// so they can apply.
    ///
    /// The leader counts itself only up to its durable index (Raft thesis §10.2.1): it may
    /// send entries before its own write completes, but a copy that a crash can still lose
    /// is no replica; counting it could commit an entry that a majority of disks lacks.
    /// Followers count with their match index, which only durable entries reach (they
    /// acknowledge after their sync, `Ready`'s obligations).
    pub(super) fn advance_commit_index(&mut self) -> bool {
        let RoleState::Leader(progress) = &self.state else {
            return false;
        };
        // A copy to sort, on the stack for clusters of up to `ON_STACK` servers: this runs
        // on every proposal and every AppendEntries reply, and a cloned vector was the
        // leader's largest source of allocations (docs/performance.md §7, "Allocations
        // per commit").
        const ON_STACK: usize = 16;
        let mut stack = [0u64; ON_STACK];
        let mut heap = Vec::new();
        let matched: &mut [u64] = if progress.match_index.len() <= ON_STACK {
            let matched = &mut stack[..progress.match_index.len()];
            matched.copy_from_slice(&progress.match_index);
            matched
        } else {
            heap.extend_from_slice(&progress.match_index);
            &mut heap
        };
        // Mutation LeaderCountsUndurable breaks §10.2.1: the leader counts its whole log.
        matched[self.config.id] = if mutated!(self.mutation, LeaderCountsUndurable) {
            self.log.last_index()
        } else {
            self.durable_index
        };
        matched.sort_unstable_by(|a, b| b.cmp(a));
        // Terms never decrease along the log and the leader's last term is its current
        // term, so the majority-replicated index is either of this term or no index at or
        // below it is.
        let candidate = matched[self.majority() - 1];
        // Mutation CommitPreviousTerm breaks §5.4.2 (Figure 8): replicas alone commit.
        let of_this_term = self.log.term_at(candidate) == Some(self.current_term)
            || mutated!(self.mutation, CommitPreviousTerm);
        if candidate <= self.commit_index || !of_this_term {
            return false;
        }
        self.commit_index = candidate;
        self.broadcast_append_entries(false);
        true
    }

    /// `last_applied` catches up with `commit_index` in the step that raised it; the entries
    /// go out in this step's `Ready`, in index order.
    pub(super) fn apply_committed(&mut self) {
        while self.last_applied < self.commit_index {
            let index = self.last_applied + 1;
            let entry = self
                .log
                .entry(index)
                .expect("committed entries after the snapshot are in the log")
                .clone();
            self.ready.applies.push(Apply::Entry {
                index,
                term: entry.term,
                command: entry.command,
            });
            self.last_applied = index;
        }
    }
}

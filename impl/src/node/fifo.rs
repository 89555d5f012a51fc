//! The event loop's own FIFOs (outputs held until durable, applies waiting for the
//! service): a `VecDeque` that gives back the room a burst left once it has drained.
//!
//! Why: a `VecDeque` keeps its largest capacity, and used as a FIFO its head advances with
//! every pop and wraps only at the end of the buffer, so even one or two items at a time
//! walk through all of it. A burst sets that capacity: a new leader that commits a long
//! log of earlier terms with its first entry (§5.4.2), or a follower told of such a commit,
//! releases every entry at once — 131 072 slots of room after a backlog of 100 000, 8 MiB
//! for the applies alone. Every later item then lands on memory untouched for a whole lap:
//! on its first lap a page fault every 64 items, after that a cache miss per item
//! (measured: docs/performance.md §8, the log-length check). A FIFO drained to a quarter of
//! its room shrinks to what it holds (at least [`KEEP`]), so its items cycle through a
//! buffer that stays warm.

use std::collections::VecDeque;

/// Items a FIFO keeps room for however far it drains: a few iterations' worth at the
/// node's default bounds (`apply_queue`, the clients' proposals per iteration), so a
/// steady load never reallocates.
pub(crate) const KEEP: usize = 1024;

/// A FIFO that gives back the room a burst left ([module docs](self)). Reads go to the
/// `VecDeque` itself.
#[derive(Debug)]
pub(crate) struct Fifo<T> {
    items: VecDeque<T>,
}

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo {
            items: VecDeque::new(),
        }
    }
}

impl<T> Fifo<T> {
    /// Appends `item` at the back.
    pub(crate) fn push_back(&mut self, item: T) {
        self.items.push_back(item);
    }

    /// Puts `item` back at the front (one just taken that could not be handed on).
    pub(crate) fn push_front(&mut self, item: T) {
        self.items.push_front(item);
    }

    /// Takes the front item. Once at most a quarter of the room is used, the room shrinks
    /// to what is left (at least [`KEEP`]): each shrink moves at most a quarter of the
    /// items the room was grown for, so the cost stays constant per item.
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let item = self.items.pop_front();
        let room = self.items.capacity();
        if room > KEEP && self.items.len() <= room / 4 {
            self.items.shrink_to(self.items.len().max(KEEP));
        }
        item
    }

    /// Removes every item and gives back the room beyond [`KEEP`].
    pub(crate) fn clear(&mut self) {
        self.items.clear();
        self.items.shrink_to(KEEP);
    }
}

impl<T> std::ops::Deref for Fifo<T> {
    type Target = VecDeque<T>;
    fn deref(&self) -> &VecDeque<T> {
        &self.items
    }
}

impl<T> IntoIterator for Fifo<T> {
    type Item = T;
    type IntoIter = std::collections::vec_deque::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After a burst of 100 000 items is drained, the room is back to [`KEEP`], and a
    /// steady trickle afterwards cycles within it (a plain `VecDeque` keeps 131 072 slots
    /// and walks the trickle through all of them).
    #[test]
    fn a_drained_burst_gives_its_room_back() {
        let mut fifo = Fifo::default();
        for i in 0..100_000u64 {
            fifo.push_back(i);
        }
        assert!(fifo.capacity() >= 100_000);
        for i in 0..100_000u64 {
            assert_eq!(fifo.pop_front(), Some(i), "order kept while shrinking");
        }
        assert!(fifo.is_empty());
        assert!(
            fifo.capacity() <= 2 * KEEP,
            "room left after the burst: {}",
            fifo.capacity()
        );
        let room = fifo.capacity();
        for i in 0..10 * room as u64 {
            fifo.push_back(i);
            fifo.push_back(i + 1);
            assert_eq!(fifo.pop_front(), Some(i));
            assert_eq!(fifo.pop_front(), Some(i + 1));
        }
        assert_eq!(
            fifo.capacity(),
            room,
            "a steady trickle neither grows nor shrinks it"
        );
    }

    /// Shrinking moves a bounded number of items: draining a burst of `n` moves fewer than
    /// `n / 2` of them in all (each shrink moves at most a quarter of the room it leaves).
    #[test]
    fn shrinking_costs_a_constant_per_item() {
        let n = 1 << 17;
        let mut fifo = Fifo::default();
        for i in 0..n {
            fifo.push_back(i);
        }
        let mut moved = 0;
        let mut room = fifo.capacity();
        while fifo.pop_front().is_some() {
            if fifo.capacity() != room {
                moved += fifo.len();
                room = fifo.capacity();
            }
        }
        assert!(moved < n / 2, "moved {moved} of {n}");
    }

    /// Items put back at the front come out first; `clear` gives the room back too.
    #[test]
    fn push_front_and_clear() {
        let mut fifo = Fifo::default();
        for i in 0..5_000 {
            fifo.push_back(i);
        }
        let first = fifo.pop_front();
        fifo.push_front(first.unwrap_or_default());
        assert_eq!(fifo.front(), Some(&0));
        fifo.clear();
        assert!(fifo.is_empty() && fifo.capacity() <= 2 * KEEP);
        assert_eq!(fifo.into_iter().count(), 0);
    }
}

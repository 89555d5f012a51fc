//! Snapshot transfer in chunks (Figure 13's `offset`/`done`): the leader's per-follower
//! progress and the follower's partly received snapshot. Both are volatile: a crash of
//! either side starts the transfer over at offset 0.
//!
//! The follower accumulates the chunks of one snapshot, identified by the leader's term and
//! the snapshot's `(last_included_index, last_included_term)`, and installs it only on the
//! chunk marked `done` (the install itself is §7's, unchanged: `snapshot.rs`). Chunks are
//! positioned by offset, so lost, duplicated and reordered chunks never put a wrong byte in
//! place: a chunk is appended only where the held bytes end; an earlier one is a duplicate
//! and a later one leaves a gap, and both are left out. Every reply says how many bytes the
//! follower holds, which is where the leader's next chunk starts.

/// A leader's InstallSnapshot transfer to one follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transfer {
    /// The snapshot being sent (its last included index); a newer snapshot starts over.
    pub index: u64,
    /// Where the chunk last sent starts; the next one starts where the follower's reply says.
    pub offset: u64,
}

/// Which snapshot a chunk belongs to. The leader's term is part of it: two leaders may
/// hold different bytes for the same `(index, term)` (a service's encoding need not be
/// deterministic), and one term has one leader, whose snapshot at an index never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SnapshotKey {
    /// The term of the leader sending it.
    pub leader_term: u64,
    /// `last_included_index`.
    pub index: u64,
    /// `last_included_term`.
    pub term: u64,
}

/// A follower's partly received snapshot: the bytes `0..data.len()` of the snapshot `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Partial {
    pub key: SnapshotKey,
    pub data: Vec<u8>,
}

/// What a follower did with one chunk.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// The last chunk completed the snapshot: these are all its bytes.
    Complete(Vec<u8>),
    /// The snapshot is not complete; the follower holds this many bytes of it.
    Holding(u64),
}

/// Figure 13 receiver rules 2–5 on `partial`, the follower's partly received snapshot (if
/// any), for the chunk `data` at `offset` of snapshot `key`:
///
/// - rule 2: a first chunk (offset 0) of another snapshot starts a new one, discarding the
///   partial snapshot held (rule 5: any partial snapshot is discarded for a newer one);
/// - rule 3: a chunk that starts where the held bytes end is written there;
/// - rule 4: without `done`, the reply says how many bytes are held and the follower waits;
/// - rule 5: with `done`, the held bytes are the snapshot, handed back to be installed.
///
/// A chunk of the held snapshot that starts before the held bytes end is a duplicate, one
/// that starts after leaves a gap: neither is written. A chunk of another snapshot past
/// offset 0 cannot be used (its start was lost); it discards the held partial snapshot only
/// if it is newer (a later term or index: the leader moved on, so the held one will never
/// complete), not if it is a late chunk of an older one.
pub(crate) fn receive(
    partial: &mut Option<Partial>,
    key: SnapshotKey,
    offset: u64,
    data: Vec<u8>,
    done: bool,
) -> Received {
    match partial {
        Some(held) if held.key == key => {
            let len = held.data.len() as u64;
            if offset != len {
                return Received::Holding(len); // A duplicate or a gap: nothing written.
            }
            held.data.extend_from_slice(&data);
        }
        _ if offset == 0 => {
            if done {
                // The whole snapshot in one chunk: nothing to accumulate.
                *partial = None;
                return Received::Complete(data);
            }
            *partial = Some(Partial { key, data });
        }
        _ => {
            if partial.as_ref().is_some_and(|held| held.key < key) {
                *partial = None;
            }
            return Received::Holding(0);
        }
    }
    match partial.take() {
        Some(held) if done => Received::Complete(held.data),
        held => {
            let len = held.as_ref().map_or(0, |h| h.data.len() as u64);
            *partial = held;
            Received::Holding(len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: SnapshotKey = SnapshotKey {
        leader_term: 2,
        index: 10,
        term: 1,
    };

    /// In-order chunks assemble the snapshot; duplicates and gaps write nothing.
    #[test]
    fn chunks_are_written_only_where_the_held_bytes_end() {
        let mut partial = None;
        assert_eq!(
            receive(&mut partial, KEY, 0, vec![1, 2], false),
            Received::Holding(2)
        );
        assert_eq!(
            receive(&mut partial, KEY, 0, vec![1, 2], false),
            Received::Holding(2),
            "a duplicate first chunk does not start over"
        );
        assert_eq!(
            receive(&mut partial, KEY, 4, vec![5], true),
            Received::Holding(2),
            "a gap"
        );
        assert_eq!(
            receive(&mut partial, KEY, 2, vec![3, 4], false),
            Received::Holding(4)
        );
        assert_eq!(
            receive(&mut partial, KEY, 4, vec![5], true),
            Received::Complete(vec![1, 2, 3, 4, 5])
        );
        assert_eq!(partial, None);
        assert_eq!(
            receive(&mut partial, KEY, 0, vec![9], true),
            Received::Complete(vec![9]),
            "a snapshot in one chunk"
        );
    }

    /// A chunk of another snapshot never mixes with the held one: a first chunk replaces
    /// it, a later chunk of a newer snapshot discards it, one of an older snapshot does not.
    #[test]
    fn chunks_of_another_snapshot_never_mix() {
        let newer_leader = SnapshotKey {
            leader_term: 3,
            ..KEY
        };
        let older_index = SnapshotKey { index: 9, ..KEY };
        let mut partial = None;
        receive(&mut partial, KEY, 0, vec![1, 2], false);
        assert_eq!(
            receive(&mut partial, older_index, 2, vec![7], true),
            Received::Holding(0)
        );
        assert_eq!(partial.as_ref().map(|p| p.data.len()), Some(2), "kept");
        assert_eq!(
            receive(&mut partial, newer_leader, 2, vec![7], true),
            Received::Holding(0)
        );
        assert_eq!(partial, None, "the leader moved on: discarded");
        receive(&mut partial, KEY, 0, vec![1, 2], false);
        assert_eq!(
            receive(&mut partial, newer_leader, 0, vec![4], false),
            Received::Holding(1)
        );
        assert_eq!(
            partial,
            Some(Partial {
                key: newer_leader,
                data: vec![4]
            })
        );
    }
}

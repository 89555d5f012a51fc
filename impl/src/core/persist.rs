//! Encoding of the persistent state of Figure 2 (`currentTerm`, `votedFor`, `log[]`) plus the
//! snapshot's last included index/term (§7).
//!
//! Format (all integers little-endian):
//! `magic "RAFT"` · `version: u8 (= 1)` · `crc32(payload): u32` · `payload`, where the payload
//! is bincode (varint integers) of [`PersistentState`], at most [`MAX_STATE_BYTES`]. The
//! snapshot bytes themselves are opaque service data saved beside this by the persister.
//! Decoding never panics: every damaged input is a [`StateError`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::log::Entry;

const MAGIC: &[u8; 4] = b"RAFT";
const VERSION: u8 = 1;
const HEADER_BYTES: usize = 4 + 1 + 4;
/// Largest raft state the core decodes.
pub const MAX_STATE_BYTES: u64 = 1 << 32;

/// What must survive a crash (Figure 2 "Persistent state on all servers", plus §7's
/// snapshot position).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistentState {
    pub current_term: u64,
    pub voted_for: Option<usize>,
    pub snapshot_index: u64,
    pub snapshot_term: u64,
    /// The entries after the snapshot, the first at `snapshot_index + 1`.
    pub entries: Vec<Entry>,
}

/// Persisted raft state that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("raft state is truncated: {0} bytes, header needs {HEADER_BYTES}")]
    Truncated(usize),
    #[error("raft state has a bad magic number (not a raft-impl state file)")]
    BadMagic,
    #[error("raft state has unsupported format version {0} (this build reads {VERSION})")]
    UnsupportedVersion(u8),
    #[error("raft state checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum { stored: u32, computed: u32 },
    #[error("raft state payload is malformed: {0}")]
    Malformed(String),
}

/// The same fields as [`PersistentState`], borrowed: serialises to the same bytes, so the
/// core can encode its state without cloning the log.
#[derive(Serialize)]
pub(crate) struct PersistentStateRef<'a> {
    pub current_term: u64,
    pub voted_for: Option<usize>,
    pub snapshot_index: u64,
    pub snapshot_term: u64,
    pub entries: &'a [Entry],
}

/// Figure 2's `currentTerm` and `votedFor`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HardState {
    pub current_term: u64,
    pub voted_for: Option<usize>,
}

/// A new snapshot (§7): the log now starts after `(index, term)`, and `data` is the service
/// state up to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotChange {
    pub index: u64,
    pub term: u64,
    pub data: Arc<Vec<u8>>,
}

/// A change of the log's tail: delete every entry after index `after`, then append
/// `entries`, the first at index `after + 1` (Figure 2, AppendEntries rules 3–4, and new
/// proposals). Entries at or before `after` are unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChange {
    pub after: u64,
    pub entries: Vec<Entry>,
}

/// What one step changed in the persistent state, as raft-rs/etcd hand it out: only the
/// parts that changed, so a step costs O(change), not O(log). Applied in order to the state
/// the core started from, the deltas give exactly [`Core::persistent_state`]
/// (see [`Persist::apply_to`]).
///
/// [`Core::persistent_state`]: super::Core::persistent_state
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Persist {
    /// The new term and vote, if either changed.
    pub hard_state: Option<HardState>,
    /// The new snapshot, if one was taken or installed. It always comes with a
    /// [`LogChange`] from its index that re-supplies the entries kept after it.
    pub snapshot: Option<SnapshotChange>,
    /// The new tail of the log, if it changed.
    pub log: Option<LogChange>,
}

impl Persist {
    /// Applies this delta to `state` and `snapshot`, a stored copy of the persistent state
    /// and the service snapshot saved beside it (for persisters that keep the whole state,
    /// and for tests). In order: hard state, snapshot (which clears the stored log), log.
    ///
    /// Deltas must be applied in the order the core produced them, starting from the state
    /// it was created or restored from; a delta that does not fit `state` (its log change
    /// starts past the stored log's end or before its snapshot) is an error and leaves
    /// `state` partly updated.
    pub fn apply_to(
        &self,
        state: &mut PersistentState,
        snapshot: &mut Arc<Vec<u8>>,
    ) -> Result<(), StateError> {
        if let Some(hard) = self.hard_state {
            state.current_term = hard.current_term;
            state.voted_for = hard.voted_for;
        }
        if let Some(change) = &self.snapshot {
            state.snapshot_index = change.index;
            state.snapshot_term = change.term;
            state.entries.clear();
            *snapshot = Arc::clone(&change.data);
        }
        if let Some(change) = &self.log {
            let last = state.snapshot_index + state.entries.len() as u64;
            if change.after < state.snapshot_index || change.after > last {
                return Err(StateError::Malformed(format!(
                    "log change after index {} does not fit a stored log of {}..={last}",
                    change.after, state.snapshot_index
                )));
            }
            state
                .entries
                .truncate((change.after - state.snapshot_index) as usize);
            state.entries.extend_from_slice(&change.entries);
        }
        Ok(())
    }
}

impl PersistentState {
    pub fn encode(&self) -> Vec<u8> {
        self.view().encode()
    }

    fn view(&self) -> PersistentStateRef<'_> {
        PersistentStateRef {
            current_term: self.current_term,
            voted_for: self.voted_for,
            snapshot_index: self.snapshot_index,
            snapshot_term: self.snapshot_term,
            entries: &self.entries,
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<PersistentState, StateError> {
        use bincode::Options;
        if bytes.len() < HEADER_BYTES {
            return Err(StateError::Truncated(bytes.len()));
        }
        if &bytes[..4] != MAGIC {
            return Err(StateError::BadMagic);
        }
        if bytes[4] != VERSION {
            return Err(StateError::UnsupportedVersion(bytes[4]));
        }
        let stored = u32::from_le_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
        let payload = &bytes[HEADER_BYTES..];
        let computed = crc32fast::hash(payload);
        if stored != computed {
            return Err(StateError::Checksum { stored, computed });
        }
        let state: PersistentState = options()
            .deserialize(payload)
            .map_err(|e| StateError::Malformed(e.to_string()))?;
        state.validate()?;
        Ok(state)
    }

    /// Checks what the checksum cannot: that the state is one a correct server could have
    /// written (log terms never decrease, and none exceeds the current term).
    fn validate(&self) -> Result<(), StateError> {
        use super::message::MAX_INDEX_OR_TERM;
        if self.current_term >= MAX_INDEX_OR_TERM || self.snapshot_index >= MAX_INDEX_OR_TERM {
            return Err(StateError::Malformed("term or index out of range".into()));
        }
        let mut previous = self.snapshot_term;
        for entry in &self.entries {
            if entry.term < previous {
                return Err(StateError::Malformed("log terms decrease".into()));
            }
            previous = entry.term;
        }
        if previous > self.current_term {
            return Err(StateError::Malformed(
                "log holds a term after the current term".into(),
            ));
        }
        if self.snapshot_index == 0 && self.snapshot_term != 0 {
            return Err(StateError::Malformed(
                "snapshot at index 0 with a term".into(),
            ));
        }
        Ok(())
    }
}

impl PersistentStateRef<'_> {
    /// The documented format: header, then the bincode payload.
    pub(crate) fn encode(&self) -> Vec<u8> {
        use bincode::Options;
        // Serialising integers and byte vectors into memory fails only past the size limit.
        let payload = options().serialize(self).unwrap_or_default();
        let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.push(VERSION);
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        bytes
    }
}

fn options() -> impl bincode::Options {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_limit(MAX_STATE_BYTES)
        .with_varint_encoding()
        .reject_trailing_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PersistentState {
        PersistentState {
            current_term: 7,
            voted_for: Some(2),
            snapshot_index: 10,
            snapshot_term: 3,
            entries: vec![
                Entry {
                    term: 4,
                    command: vec![1, 2].into(),
                },
                Entry {
                    term: 7,
                    command: vec![].into(),
                },
            ],
        }
    }

    /// Encoding then decoding gives back the same state.
    #[test]
    fn state_round_trips() {
        assert_eq!(
            PersistentState::decode(&sample().encode()).unwrap(),
            sample()
        );
    }

    /// `serde_bytes` on `Entry::command` changes speed, not bytes: the payload equals the
    /// one serde writes for a plain `Vec<u8>` (one `u8` per element), so format version 1
    /// files written before the annotation still decode.
    #[test]
    fn byte_annotation_keeps_the_format() {
        use bincode::Options;
        #[derive(Serialize)]
        struct PlainEntry {
            term: u64,
            command: Vec<u8>,
        }
        #[derive(Serialize)]
        struct PlainState {
            current_term: u64,
            voted_for: Option<usize>,
            snapshot_index: u64,
            snapshot_term: u64,
            entries: Vec<PlainEntry>,
        }
        let mut state = sample();
        state.entries[1].command = (0..=255).collect();
        let plain = PlainState {
            current_term: state.current_term,
            voted_for: state.voted_for,
            snapshot_index: state.snapshot_index,
            snapshot_term: state.snapshot_term,
            entries: state
                .entries
                .iter()
                .map(|e| PlainEntry {
                    term: e.term,
                    command: e.command.to_vec(),
                })
                .collect(),
        };
        let expected = options().serialize(&plain).unwrap();
        assert_eq!(&state.encode()[HEADER_BYTES..], expected.as_slice());
    }

    fn entry(term: u64) -> Entry {
        Entry {
            term,
            command: vec![term as u8].into(),
        }
    }

    /// Deltas replace the tail after `after`, a snapshot resets the log it comes with, and
    /// a delta that does not fit the stored log is an error rather than a silent gap.
    #[test]
    fn deltas_apply_in_order() {
        let mut state = PersistentState::default();
        let mut snapshot = Arc::new(Vec::new());
        let append = |after, terms: &[u64]| Persist {
            log: Some(LogChange {
                after,
                entries: terms.iter().map(|&t| entry(t)).collect(),
            }),
            ..Persist::default()
        };
        let hard = Persist {
            hard_state: Some(HardState {
                current_term: 3,
                voted_for: Some(1),
            }),
            ..Persist::default()
        };
        hard.apply_to(&mut state, &mut snapshot).unwrap();
        append(0, &[1, 1, 2])
            .apply_to(&mut state, &mut snapshot)
            .unwrap();
        append(1, &[3]).apply_to(&mut state, &mut snapshot).unwrap();
        assert_eq!(state.entries, vec![entry(1), entry(3)]);
        assert_eq!((state.current_term, state.voted_for), (3, Some(1)));
        let compact = Persist {
            snapshot: Some(SnapshotChange {
                index: 1,
                term: 1,
                data: Arc::new(vec![9]),
            }),
            ..append(1, &[3])
        };
        compact.apply_to(&mut state, &mut snapshot).unwrap();
        assert_eq!((state.snapshot_index, state.snapshot_term), (1, 1));
        assert_eq!(state.entries, vec![entry(3)]);
        assert_eq!(snapshot.as_slice(), &[9]);
        assert!(append(5, &[3]).apply_to(&mut state, &mut snapshot).is_err());
        assert!(append(0, &[3]).apply_to(&mut state, &mut snapshot).is_err());
    }

    /// Every truncation of a valid encoding is an error, never a panic or an empty state.
    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            assert!(PersistentState::decode(&bytes[..len]).is_err(), "len {len}");
        }
    }

    /// Flipping any single bit is detected (by the header checks or the checksum).
    #[test]
    fn every_bit_flip_is_an_error() {
        let bytes = sample().encode();
        for position in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[position / 8] ^= 1 << (position % 8);
            assert!(PersistentState::decode(&damaged).is_err(), "bit {position}");
        }
    }

    /// A well-formed payload describing an impossible state is refused.
    #[test]
    fn impossible_state_is_refused() {
        let mut state = sample();
        state.entries[0].term = 9;
        assert!(matches!(
            PersistentState::decode(&state.encode()),
            Err(StateError::Malformed(_))
        ));
    }
}

//! Encoding of the persistent state of Figure 2 (`currentTerm`, `votedFor`, `log[]`) plus the
//! snapshot's last included index/term (§7).
//!
//! Format (all integers little-endian):
//! `magic "RAFT"` · `version: u8 (= 1)` · `crc32(payload): u32` · `payload`, where the payload
//! is bincode (varint integers) of [`PersistentState`], at most [`MAX_STATE_BYTES`]. The
//! snapshot bytes themselves are opaque service data saved beside this by the persister.
//! Decoding never panics: every damaged input is a [`StateError`].

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

impl PersistentState {
    pub fn encode(&self) -> Vec<u8> {
        use bincode::Options;
        let payload = options().serialize(self).unwrap_or_default();
        let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.push(VERSION);
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        bytes
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
                    command: vec![1, 2],
                },
                Entry {
                    term: 7,
                    command: vec![],
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
                    command: e.command.clone(),
                })
                .collect(),
        };
        let expected = options().serialize(&plain).unwrap();
        assert_eq!(&state.encode()[HEADER_BYTES..], expected.as_slice());
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

//! Encoding of the persistent state of Figure 2 (`currentTerm`, `votedFor`, `log[]`) plus the
//! snapshot's last included index/term (§7).
//!
//! Format version 2 (header integers little-endian):
//! `magic "RAFT"` · `version: u8 (= 2)` · `crc32(payload): u32` · `payload`, where the payload
//! is the postcard encoding (see [`codec`]) of [`PersistentState`], at most
//! [`MAX_STATE_BYTES`]. Version 1 had a bincode 1 payload; this build refuses it with
//! [`StateError::UnsupportedVersion`] (no migration: see docs/impl.md). The snapshot bytes
//! themselves are opaque service data saved beside this by the persister.
//!
//! Encoding refuses a state over the size limit or one its own decoder would refuse, so what
//! is written can always be read back. Decoding never panics: every damaged input is a
//! [`StateError`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::codec::{self, EncodeError, PayloadError};
use super::log::Entry;
use super::message::MAX_INDEX_OR_TERM;

const MAGIC: &[u8; 4] = b"RAFT";
/// The state format this build writes and reads. Version 1 was bincode 1.
pub const STATE_VERSION: u8 = 2;
/// Bytes before the payload: magic, version, checksum.
pub const HEADER_BYTES: usize = 4 + 1 + 4;
/// Largest raft state payload the core encodes or decodes.
pub const MAX_STATE_BYTES: u64 = 1 << 32;

/// What must survive a crash (Figure 2 "Persistent state on all servers", plus §7's
/// snapshot position).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistentState {
    /// Figure 2 `currentTerm`.
    pub current_term: u64,
    /// Figure 2 `votedFor` in `current_term`.
    pub voted_for: Option<usize>,
    /// The last index the snapshot replaces (§7), 0 if none.
    pub snapshot_index: u64,
    /// The term of the entry at `snapshot_index` (§7), 0 if none.
    pub snapshot_term: u64,
    /// The entries after the snapshot, the first at `snapshot_index + 1`.
    pub entries: Vec<Entry>,
}

/// Raft state that cannot be encoded or decoded, or a delta that does not fit it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Fewer bytes than the header.
    #[error("raft state is truncated: {len} bytes, the header needs {HEADER_BYTES}")]
    Truncated {
        /// How many bytes there were.
        len: usize,
    },
    /// Not a raft-impl state (the magic number is missing).
    #[error("raft state has a bad magic number (not a raft-impl state file)")]
    BadMagic,
    /// A state of another format version, for example version 1 (bincode) of older builds.
    #[error("raft state has format version {found}; this build reads version {expected}")]
    UnsupportedVersion {
        /// The version in the header.
        found: u8,
        /// [`STATE_VERSION`].
        expected: u8,
    },
    /// The payload does not match its checksum (damaged on disk).
    #[error("raft state checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// The checksum in the header.
        stored: u32,
        /// The checksum of the payload as read.
        computed: u32,
    },
    /// The payload is not an encoding of [`PersistentState`].
    #[error("raft state payload is malformed")]
    Payload(#[from] PayloadError),
    /// The state could not be encoded (over [`MAX_STATE_BYTES`], or a serializer error).
    #[error("raft state could not be encoded")]
    Encode(#[from] EncodeError),
    /// The current term or the snapshot index is at or past [`MAX_INDEX_OR_TERM`].
    #[error("raft state out of range: term {current_term}, snapshot index {snapshot_index} (limit {MAX_INDEX_OR_TERM})")]
    OutOfRange {
        /// The stored current term.
        current_term: u64,
        /// The stored snapshot index.
        snapshot_index: u64,
    },
    /// The log's terms decrease at `index` (Figure 3, Log Matching: terms never decrease).
    #[error("log terms decrease at index {index}: term {term} after {previous}")]
    TermsDecrease {
        /// The log index of the entry whose term is smaller.
        index: u64,
        /// Its term.
        term: u64,
        /// The term before it.
        previous: u64,
    },
    /// The log holds an entry from a term after the current term.
    #[error("log holds term {term}, after the current term {current_term}")]
    TermAfterCurrent {
        /// The last entry's term.
        term: u64,
        /// The stored current term.
        current_term: u64,
    },
    /// A snapshot at index 0 (no snapshot) with a nonzero term.
    #[error("snapshot at index 0 with term {term}")]
    SnapshotTermWithoutIndex {
        /// The stored snapshot term.
        term: u64,
    },
    /// A [`LogChange`] that does not fit the stored log (see [`Persist::apply_to`]).
    #[error("log change after index {after} does not fit a stored log of {first}..={last}")]
    LogChangeMisfit {
        /// The change's `after`.
        after: u64,
        /// The stored snapshot index.
        first: u64,
        /// The stored log's last index.
        last: u64,
    },
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
    /// Figure 2 `currentTerm`.
    pub current_term: u64,
    /// Figure 2 `votedFor`.
    pub voted_for: Option<usize>,
}

/// A new snapshot (§7): the log now starts after `(index, term)`, and `data` is the service
/// state up to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotChange {
    /// The snapshot's last included index.
    pub index: u64,
    /// The snapshot's last included term.
    pub term: u64,
    /// The service's snapshot.
    pub data: Arc<Vec<u8>>,
}

/// A change of the log's tail: delete every entry after index `after`, then append
/// `entries`, the first at index `after + 1` (Figure 2, AppendEntries rules 3–4, and new
/// proposals). Entries at or before `after` are unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChange {
    /// Every entry after this index is deleted.
    pub after: u64,
    /// The entries appended after `after`.
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
                return Err(StateError::LogChangeMisfit {
                    after: change.after,
                    first: state.snapshot_index,
                    last,
                });
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
    /// The documented format (module docs). A state over [`MAX_STATE_BYTES`], or one that
    /// [`PersistentState::decode`] would refuse, is an error: nothing may be saved then.
    pub fn encode(&self) -> Result<Vec<u8>, StateError> {
        self.view().encode()
    }

    /// The checks [`PersistentState::decode`] runs on a decoded state (indices and terms in
    /// range, log terms never decreasing, none past the current term), for a state that
    /// was recovered some other way (a storage that keeps records of its own).
    pub fn check(&self) -> Result<(), StateError> {
        self.view().validate()
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

    /// Decodes and checks a saved state. Bytes from disk are untrusted: every damaged or
    /// impossible input is a [`StateError`], never a panic.
    pub fn decode(bytes: &[u8]) -> Result<PersistentState, StateError> {
        let Some((header, payload)) = bytes.split_first_chunk::<HEADER_BYTES>() else {
            return Err(StateError::Truncated { len: bytes.len() });
        };
        let [m0, m1, m2, m3, version, c0, c1, c2, c3] = *header;
        if &[m0, m1, m2, m3] != MAGIC {
            return Err(StateError::BadMagic);
        }
        if version != STATE_VERSION {
            return Err(StateError::UnsupportedVersion {
                found: version,
                expected: STATE_VERSION,
            });
        }
        let stored = u32::from_le_bytes([c0, c1, c2, c3]);
        let computed = crc32fast::hash(payload);
        if stored != computed {
            return Err(StateError::Checksum { stored, computed });
        }
        let state: PersistentState = codec::decode(payload, MAX_STATE_BYTES)?;
        state.view().validate()?;
        Ok(state)
    }
}

impl PersistentStateRef<'_> {
    /// The documented format: header, then the postcard payload, checked as
    /// [`PersistentState::encode`] documents.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, StateError> {
        self.encode_limited(MAX_STATE_BYTES)
    }

    /// [`encode`](Self::encode) with another payload limit (tests use a small one).
    fn encode_limited(&self, limit: u64) -> Result<Vec<u8>, StateError> {
        self.validate()?;
        let mut header = Vec::with_capacity(HEADER_BYTES);
        header.extend_from_slice(MAGIC);
        header.push(STATE_VERSION);
        header.extend_from_slice(&[0; 4]); // The checksum, once the payload is known.
        let mut bytes = codec::encode_into(self, limit, header)?;
        let checksum = crc32fast::hash(&bytes[HEADER_BYTES..]).to_le_bytes();
        bytes[HEADER_BYTES - 4..HEADER_BYTES].copy_from_slice(&checksum);
        Ok(bytes)
    }

    /// Checks what the checksum cannot: that the state is one a correct server could have
    /// written (indices and terms in range, log terms never decrease, and none exceeds the
    /// current term). Run on encode as well as decode, so that a state that would not read
    /// back is never written.
    fn validate(&self) -> Result<(), StateError> {
        if self.current_term >= MAX_INDEX_OR_TERM || self.snapshot_index >= MAX_INDEX_OR_TERM {
            return Err(StateError::OutOfRange {
                current_term: self.current_term,
                snapshot_index: self.snapshot_index,
            });
        }
        check_log_terms(
            self.snapshot_index,
            self.snapshot_term,
            self.entries,
            self.current_term,
        )?;
        if self.snapshot_index == 0 && self.snapshot_term != 0 {
            return Err(StateError::SnapshotTermWithoutIndex {
                term: self.snapshot_term,
            });
        }
        Ok(())
    }
}

/// The terms of a log never decrease (an entry's term is the term of the leader that
/// created it, and a log only ever holds one leader's entries after another's, §5.3), and
/// none is above the current term. `entries` follow index `after`, whose term is
/// `after_term`. Shared by the state decoder and the disk storage's replay.
pub(crate) fn check_log_terms(
    after: u64,
    after_term: u64,
    entries: &[Entry],
    current_term: u64,
) -> Result<(), StateError> {
    let mut previous = after_term;
    for (index, entry) in (after + 1..).zip(entries) {
        if entry.term < previous {
            return Err(StateError::TermsDecrease {
                index,
                term: entry.term,
                previous,
            });
        }
        previous = entry.term;
    }
    if previous > current_term {
        return Err(StateError::TermAfterCurrent {
            term: previous,
            current_term,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state file as a format 1 build (bincode 1) wrote it: term 300, voted for 2,
    /// snapshot (10, 3), entries (4, [1, 2]) and (300, "set x 1").
    const FORMAT_1_STATE: &[u8] = &[
        82, 65, 70, 84, 1, 191, 133, 29, 35, 251, 44, 1, 1, 2, 10, 3, 2, 4, 2, 1, 2, 251, 44, 1, 7,
        115, 101, 116, 32, 120, 32, 49,
    ];

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
            PersistentState::decode(&sample().encode().unwrap()).unwrap(),
            sample()
        );
    }

    /// The payload is postcard, pinned byte by byte: a change of serializer, of its
    /// settings or of a field order changes these bytes and must bump [`STATE_VERSION`].
    #[test]
    fn payload_bytes_are_pinned() {
        let bytes = sample().encode().unwrap();
        assert_eq!(&bytes[..5], b"RAFT\x02");
        assert_eq!(
            &bytes[HEADER_BYTES..],
            // term 7, Some(2), snapshot (10, 3), 2 entries: (4, [1, 2]), (7, []).
            &[7, 1, 2, 10, 3, 2, 4, 2, 1, 2, 7, 0]
        );
    }

    /// A version 1 state (bincode 1; these bytes were written by a version 1 build) is
    /// refused by version: no panic, and no empty state taken for a fresh server.
    #[test]
    fn format_1_state_is_refused_by_version() {
        assert_eq!(
            PersistentState::decode(FORMAT_1_STATE),
            Err(StateError::UnsupportedVersion {
                found: 1,
                expected: STATE_VERSION
            })
        );
    }

    /// A state over the size limit is an encode error, and nothing is produced.
    #[test]
    fn oversized_state_is_an_encode_error() {
        let state = sample();
        let size = state.encode().unwrap().len() - HEADER_BYTES;
        assert!(state.view().encode_limited(size as u64).is_ok());
        assert_eq!(
            state.view().encode_limited(size as u64 - 1),
            Err(StateError::Encode(EncodeError::TooLarge {
                limit: size as u64 - 1
            }))
        );
    }

    /// A state at the real limit: one command of 4 GiB. The allocation is zeroed lazily and
    /// the size check comes before any copy, so this costs no real memory or time.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn state_over_four_gib_is_refused() {
        let mut state = sample();
        state.entries[1].command = vec![0u8; MAX_STATE_BYTES as usize].into();
        assert_eq!(
            state.encode(),
            Err(StateError::Encode(EncodeError::TooLarge {
                limit: MAX_STATE_BYTES
            }))
        );
    }

    /// The core side of the same limit: a follower that accepted a 4 GiB entry (handed to
    /// `step` directly; no 4 GiB message could be decoded) has a persistent state that
    /// cannot be encoded, and `encode_persistent_state` says so instead of returning an
    /// empty blob for the runtime to save over the good one. Nothing is copied: the entry's
    /// zeroed pages are never touched.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn core_state_over_the_limit_is_an_encode_error() {
        use crate::core::{Config, Core, Input, Message};
        let mut core = Core::new(Config::new(1, 3, 7)).expect("valid configuration");
        let entry = Entry {
            term: 1,
            command: vec![0u8; MAX_STATE_BYTES as usize].into(),
        };
        let ready = core.step(Input::Message {
            from: 0,
            message: Message::AppendEntries {
                term: 1,
                leader: 0,
                prev_log_index: 0,
                prev_log_term: 0,
                entries: vec![entry],
                leader_commit: 0,
            },
        });
        assert!(ready.persist.is_some(), "the entry was accepted");
        assert_eq!(
            core.encode_persistent_state(),
            Err(StateError::Encode(EncodeError::TooLarge {
                limit: MAX_STATE_BYTES
            }))
        );
    }

    /// A state the decoder would refuse is not written: encode checks it too.
    #[test]
    fn unreadable_state_is_not_encoded() {
        let mut state = sample();
        state.current_term = MAX_INDEX_OR_TERM;
        assert!(matches!(state.encode(), Err(StateError::OutOfRange { .. })));
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
        assert_eq!(
            append(5, &[3]).apply_to(&mut state, &mut snapshot),
            Err(StateError::LogChangeMisfit {
                after: 5,
                first: 1,
                last: 2
            })
        );
        assert!(matches!(
            append(0, &[3]).apply_to(&mut state, &mut snapshot),
            Err(StateError::LogChangeMisfit { after: 0, .. })
        ));
    }

    /// Every truncation of a valid encoding is an error, never a panic or an empty state.
    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample().encode().unwrap();
        for len in 0..bytes.len() {
            assert!(PersistentState::decode(&bytes[..len]).is_err(), "len {len}");
        }
    }

    /// Flipping any single bit is detected (by the header checks or the checksum).
    #[test]
    fn every_bit_flip_is_an_error() {
        let bytes = sample().encode().unwrap();
        for position in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[position / 8] ^= 1 << (position % 8);
            assert!(PersistentState::decode(&damaged).is_err(), "bit {position}");
        }
    }

    /// A well-formed payload describing an impossible state is refused on decode (the
    /// payload is written here without the encoder's own check).
    #[test]
    fn impossible_state_is_refused() {
        let mut state = sample();
        state.entries[1].term = 9;
        let payload = codec::encode(&state, MAX_STATE_BYTES).unwrap();
        let mut bytes = MAGIC.to_vec();
        bytes.push(STATE_VERSION);
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        assert_eq!(
            PersistentState::decode(&bytes),
            Err(StateError::TermAfterCurrent {
                term: 9,
                current_term: 7
            })
        );
        assert_eq!(
            state.encode(),
            Err(StateError::TermAfterCurrent {
                term: 9,
                current_term: 7
            })
        );
        state.entries[0].term = 10;
        assert_eq!(
            state.encode(),
            Err(StateError::TermsDecrease {
                index: 12,
                term: 9,
                previous: 10
            })
        );
    }
}

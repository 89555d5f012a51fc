//! Property tests of everything the core reads back from bytes: the persisted raft state
//! (`raft_impl::core::persist`), the RPC messages (`raft_impl::core::message`) and the
//! `FilePersister`'s file.
//!
//! Each encoding must round-trip, and any damaged or arbitrary input must give an error or
//! a *valid* value — never a panic, never a value a correct server could not have written
//! (design: "a damaged file is a clear error, never a panic or silent data loss"). Damage is
//! generated three ways: truncation, bit flips, and splicing a varint/length field with a
//! huge value (postcard's integers and length prefixes are LEB128 varints), plus wholly
//! arbitrary bytes.
//!
//! Case counts are explicit (`PROPTEST_CASES` overrides them); the run's seed is printed and
//! `PROPTEST_RNG_SEED` replays it; failures are saved under `conformance/proptest-regressions/`.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use raft_impl::core::codec;
use raft_impl::core::message::MAX_INDEX_OR_TERM;
use raft_impl::core::persist::{HEADER_BYTES, MAX_STATE_BYTES, STATE_VERSION};
use raft_impl::core::{Entry, Message, PersistentState};
use raft_impl::{FilePersister, PersistError, Persister};

mod common;

/// Explicit case count and a printed, replayable seed (`PROPTEST_CASES`, `PROPTEST_RNG_SEED`).
fn config(test: &str, default_cases: u32) -> Config {
    common::proptest_config::config(
        test,
        default_cases,
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/prop_persist.txt"
        ),
    )
}

const DEFAULT_CASES: u32 = 256;

// ---- Strategies ----

/// Terms and indices: mostly small (realistic, one-byte varints), sometimes huge (multi-byte
/// varints and the arithmetic edges).
fn number() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..20, 1 => any::<u64>()]
}

fn command() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..12)
}

/// A state a correct server could have written: terms never decrease along the log (from
/// the snapshot's term) and none exceeds the current term; a snapshot at index 0 has term 0;
/// the term and the snapshot index are below `MAX_INDEX_OR_TERM` (far from overflow).
fn valid_state() -> impl Strategy<Value = PersistentState> {
    (
        prop_oneof![4 => 0u64..20, 1 => 0..MAX_INDEX_OR_TERM],
        prop::option::of(prop_oneof![0usize..5, any::<usize>()]),
        0u64..1000,
        vec((0u64..3, command()), 0..8),
        0u64..3,
    )
        .prop_map(
            |(snapshot_index, voted_for, snapshot_term_raw, steps, extra_terms)| {
                // Keep terms far from u64::MAX so increments cannot overflow.
                let snapshot_term = if snapshot_index == 0 {
                    0
                } else {
                    snapshot_term_raw
                };
                let mut term = snapshot_term;
                let entries = steps
                    .into_iter()
                    .map(|(bump, command)| {
                        term += bump;
                        Entry {
                            term,
                            command: command.into(),
                        }
                    })
                    .collect();
                PersistentState {
                    current_term: term + extra_terms,
                    voted_for,
                    snapshot_index,
                    snapshot_term,
                    entries,
                }
            },
        )
}

fn message() -> impl Strategy<Value = Message> {
    let entries = vec((number(), command()), 0..5).prop_map(|v| {
        v.into_iter()
            .map(|(term, command)| Entry {
                term,
                command: command.into(),
            })
            .collect()
    });
    common::messages::message(
        number().boxed(),
        prop_oneof![0usize..5, any::<usize>()].boxed(),
        entries.boxed(),
        vec(any::<u8>(), 0..64).boxed(),
    )
}

/// One way of damaging an encoding. Positions are taken modulo the input's length.
#[derive(Debug, Clone)]
enum Damage {
    /// Keep only a strict prefix.
    Truncate(usize),
    /// Flip one bit.
    FlipBit(usize),
    /// Overwrite one byte.
    SetByte(usize, u8),
    /// Replace one byte by a multi-byte LEB128 varint (postcard's integers and length
    /// prefixes), typically a huge length; `overlong` pads it past the 10 bytes a `u64`
    /// may take.
    SpliceVarint(usize, u64, bool),
    /// Append bytes.
    Append(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<usize>().prop_map(Damage::Truncate),
        any::<usize>().prop_map(Damage::FlipBit),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Damage::SetByte(p, b)),
        (
            any::<usize>(),
            prop_oneof![
                Just(u64::MAX),
                Just(1 << 60),
                Just(u64::from(u32::MAX)),
                any::<u64>()
            ],
            prop::bool::weighted(0.1),
        )
            .prop_map(|(p, value, overlong)| Damage::SpliceVarint(p, value, overlong)),
        vec(any::<u8>(), 1..8).prop_map(Damage::Append),
    ]
}

impl Damage {
    fn apply(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        if out.is_empty() {
            if let Damage::Append(extra) = self {
                out.extend_from_slice(extra);
            }
            return out;
        }
        match self {
            Damage::Truncate(len) => out.truncate(len % out.len()),
            Damage::FlipBit(bit) => {
                let bit = bit % (out.len() * 8);
                out[bit / 8] ^= 1 << (bit % 8);
            }
            Damage::SetByte(position, byte) => {
                let position = position % out.len();
                out[position] = *byte;
            }
            Damage::SpliceVarint(position, value, overlong) => {
                let position = position % out.len();
                let mut varint = leb128(*value);
                if *overlong {
                    // Continuation bits on every byte, then more: not a valid `u64`.
                    varint.iter_mut().for_each(|b| *b |= 0x80);
                    varint.resize(11, 0x80);
                    varint.push(0x01);
                }
                out.splice(position..=position, varint);
            }
            Damage::Append(extra) => out.extend_from_slice(extra),
        }
        out
    }
}

// ---- Helpers ----

/// LEB128, as postcard writes integers: 7 bits a byte, low first, high bit = more follows.
fn leb128(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// What a decoder may accept: a state a correct server could have written.
fn is_valid_state(state: &PersistentState) -> bool {
    let mut previous = state.snapshot_term;
    for entry in &state.entries {
        if entry.term < previous {
            return false;
        }
        previous = entry.term;
    }
    previous <= state.current_term
        && (state.snapshot_index != 0 || state.snapshot_term == 0)
        && state.current_term < MAX_INDEX_OR_TERM
        && state.snapshot_index < MAX_INDEX_OR_TERM
}

/// The documented raft-state header (`persist.rs`): magic, version, crc32 of the payload.
/// Used to get damaged *payloads* past the checksum, to exercise the payload decoder.
fn with_valid_header(payload: &[u8]) -> Vec<u8> {
    let mut bytes = b"RAFT".to_vec();
    bytes.push(STATE_VERSION);
    bytes.extend_from_slice(&crc32_ieee(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// CRC-32 (IEEE), bitwise: the test does not depend on the checksum crate it checks.
fn crc32_ieee(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A decoded state must be valid and re-encode to something that decodes to itself.
fn check_decoded_state(
    result: Result<PersistentState, impl std::fmt::Debug>,
) -> Result<(), TestCaseError> {
    if let Ok(state) = result {
        prop_assert!(
            is_valid_state(&state),
            "decoder accepted an impossible state {state:?}"
        );
        prop_assert_eq!(
            PersistentState::decode(&state.encode().unwrap()).ok(),
            Some(state)
        );
    }
    Ok(())
}

fn check_decoded_message(
    result: Result<Message, impl std::fmt::Debug>,
) -> Result<(), TestCaseError> {
    if let Ok(message) = result {
        prop_assert_eq!(
            Message::decode(&message.encode().unwrap()).ok(),
            Some(message)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config("prop_persist", DEFAULT_CASES))]

    /// The persisted raft state round-trips exactly, and its encoding is deterministic.
    #[test]
    fn persistent_state_round_trips(state in valid_state()) {
        let bytes = state.encode().unwrap();
        prop_assert_eq!(&PersistentState::decode(&bytes).unwrap(), &state);
        prop_assert_eq!(state.encode().unwrap(), bytes);
    }

    /// A damaged state encoding is an error, never a panic. Truncation and bit flips are
    /// always detected (postcard is prefix-free; CRC-32 catches every burst of up to 32
    /// bits); for the other damage a CRC collision has odds of 2^-32 per case.
    #[test]
    fn damaged_persistent_state_is_rejected(state in valid_state(), damage in damage()) {
        let bytes = state.encode().unwrap();
        let damaged = damage.apply(&bytes);
        let result = PersistentState::decode(&damaged);
        if damaged != bytes {
            prop_assert!(result.is_err(), "{damage:?} accepted: {result:?}");
        }
        check_decoded_state(result)?;
    }

    /// With the checksum made to match, a damaged *payload* reaches the postcard decoder and
    /// the validity checks: still an error or a valid state, never a panic or a huge
    /// allocation. Truncated payloads are always errors (postcard is prefix-free).
    #[test]
    fn damaged_payload_behind_valid_checksum_is_rejected(state in valid_state(), damage in damage()) {
        let payload = state.encode().unwrap()[HEADER_BYTES..].to_vec();
        let damaged = with_valid_header(&damage.apply(&payload));
        let result = PersistentState::decode(&damaged);
        if matches!(damage, Damage::Truncate(_)) {
            prop_assert!(result.is_err(), "truncated payload accepted: {result:?}");
        }
        check_decoded_state(result)?;
    }

    /// A valid payload that describes an impossible state (terms decreasing along the log,
    /// or after the current term) is refused even with a correct checksum; and the encoder
    /// refuses to write it in the first place.
    #[test]
    fn impossible_state_is_refused(mut state in valid_state(), position in any::<usize>(), term in any::<u64>()) {
        if state.entries.is_empty() {
            state.entries.push(Entry { term: state.current_term, command: Vec::new().into() });
        }
        let position = position % state.entries.len();
        state.entries[position].term = term;
        let payload = codec::encode(&state, MAX_STATE_BYTES).unwrap();
        let result = PersistentState::decode(&with_valid_header(&payload));
        prop_assert_eq!(result.is_ok(), is_valid_state(&state), "{:?}", result);
        let encoded = state.encode();
        prop_assert_eq!(encoded.is_ok(), is_valid_state(&state), "{:?}", encoded);
    }

    /// A term or snapshot index at or above `MAX_INDEX_OR_TERM` is refused (arithmetic on
    /// it could overflow).
    #[test]
    fn out_of_range_state_is_refused(mut state in valid_state(), huge in MAX_INDEX_OR_TERM.., index in any::<bool>()) {
        if index {
            state.snapshot_index = huge;
            state.snapshot_term = state.snapshot_term.max(1);
        } else {
            state.current_term = huge;
        }
        let payload = codec::encode(&state, MAX_STATE_BYTES).unwrap();
        prop_assert!(PersistentState::decode(&with_valid_header(&payload)).is_err());
        prop_assert!(state.encode().is_err());
    }

    /// Arbitrary bytes, raw or behind a valid header: an error or a valid state.
    #[test]
    fn arbitrary_bytes_are_not_a_state(bytes in vec(any::<u8>(), 0..64), framed in any::<bool>()) {
        let bytes = if framed { with_valid_header(&bytes) } else { bytes };
        check_decoded_state(PersistentState::decode(&bytes))?;
    }

    /// Every RPC message round-trips exactly.
    #[test]
    fn message_round_trips(message in message()) {
        let bytes = message.encode().unwrap();
        prop_assert_eq!(Message::decode(&bytes).unwrap(), message);
    }

    /// A damaged message is an error (always, for truncation) or a message that itself
    /// round-trips; never a panic or a huge allocation (messages carry no checksum, so this
    /// is the postcard decoder's bounds at work).
    #[test]
    fn damaged_message_is_rejected(message in message(), damage in damage()) {
        let damaged = damage.apply(&message.encode().unwrap());
        let result = Message::decode(&damaged);
        if matches!(damage, Damage::Truncate(_)) {
            prop_assert!(result.is_err(), "truncated message accepted: {result:?}");
        }
        check_decoded_message(result)?;
    }

    /// Arbitrary bytes: an error or a message that round-trips.
    #[test]
    fn arbitrary_bytes_are_not_a_message(bytes in vec(any::<u8>(), 0..64)) {
        check_decoded_message(Message::decode(&bytes))?;
    }
}

// ---- FilePersister ----

fn file_config(test: &str) -> Config {
    // Each case creates a directory and fsyncs: fewer cases than the pure decoders.
    config(test, 48)
}

/// The one file a `FilePersister` keeps in its directory (its temp file is renamed away).
fn state_file(dir: &std::path::Path) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        files.len(),
        1,
        "expected exactly one state file, found {files:?}"
    );
    files.into_iter().next().unwrap()
}

fn saves() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    vec((vec(any::<u8>(), 0..40), vec(any::<u8>(), 0..40)), 1..4)
}

proptest! {
    #![proptest_config(file_config("prop_persist::file"))]

    /// The last of several saves is what a reopened persister reads, sizes included.
    #[test]
    fn file_persister_round_trips(saves in saves()) {
        let dir = tempfile::tempdir().unwrap();
        let persister = FilePersister::open(dir.path()).unwrap();
        for (raft_state, snapshot) in &saves {
            persister.save(raft_state, snapshot).unwrap();
        }
        let (raft_state, snapshot) = saves.last().unwrap();
        let reopened = FilePersister::open(dir.path()).unwrap();
        prop_assert_eq!(&reopened.read_raft_state().unwrap(), raft_state);
        prop_assert_eq!(&reopened.read_snapshot().unwrap(), snapshot);
        prop_assert_eq!(reopened.raft_state_size(), raft_state.len());
        prop_assert_eq!(reopened.snapshot_size(), snapshot.len());
    }

    /// A damaged state file is `Corrupt`: opening never panics and never silently yields
    /// an empty or different state.
    #[test]
    fn damaged_file_is_corrupt(raft_state in vec(any::<u8>(), 0..40), snapshot in vec(any::<u8>(), 0..40), damage in damage()) {
        let dir = tempfile::tempdir().unwrap();
        FilePersister::open(dir.path()).unwrap().save(&raft_state, &snapshot).unwrap();
        let path = state_file(dir.path());
        let bytes = std::fs::read(&path).unwrap();
        let damaged = damage.apply(&bytes);
        std::fs::write(&path, &damaged).unwrap();
        match FilePersister::open(dir.path()) {
            Err(PersistError::Corrupt { .. }) => {}
            Err(other) => prop_assert!(false, "{damage:?}: expected Corrupt, got {other:?}"),
            Ok(reopened) => {
                // Only an unchanged file may open (a byte overwritten with itself); every
                // change alters the lengths or is a burst the CRC always detects.
                prop_assert!(damaged == bytes, "{damage:?} was not detected");
                prop_assert_eq!(reopened.read_raft_state().unwrap(), raft_state);
                prop_assert_eq!(reopened.read_snapshot().unwrap(), snapshot);
            }
        }
    }

    /// The header's two length fields rewritten to any other split of the same body, or
    /// to lengths that do not add up, are caught.
    #[test]
    fn file_length_fields_are_checked(raft_state in vec(any::<u8>(), 0..40), snapshot in vec(any::<u8>(), 0..40), raft_len in any::<u64>(), keep_sum in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        FilePersister::open(dir.path()).unwrap().save(&raft_state, &snapshot).unwrap();
        let path = state_file(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        let total = (raft_state.len() + snapshot.len()) as u64;
        let mut raft_len = if keep_sum { raft_len % (total + 1) } else { raft_len };
        if raft_len == raft_state.len() as u64 {
            // Make it a real change; past `total` the lengths no longer add up (also caught).
            raft_len = raft_len.wrapping_add(1);
        }
        let snapshot_len = if keep_sum { total.wrapping_sub(raft_len) } else { snapshot.len() as u64 };
        // Documented layout: magic (8) · version (1) · raft_state_len u64 · snapshot_len u64.
        bytes[9..17].copy_from_slice(&raft_len.to_le_bytes());
        bytes[17..25].copy_from_slice(&snapshot_len.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let result = FilePersister::open(dir.path());
        prop_assert!(matches!(result, Err(PersistError::Corrupt { .. })), "{:?}", result.map(|_| ()));
    }

    /// Arbitrary file contents, the empty file included, are `Corrupt`, never a panic.
    #[test]
    fn arbitrary_file_never_panics(bytes in vec(any::<u8>(), 0..80)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state"), &bytes).unwrap();
        // Accepting needs the 8-byte magic, matching lengths and CRC: odds below 2^-64.
        let result = FilePersister::open(dir.path());
        prop_assert!(matches!(result, Err(PersistError::Corrupt { .. })), "{:?}", result.map(|_| ()));
    }
}

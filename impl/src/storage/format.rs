//! The bytes of the disk storage (docs/storage.md, "Format").
//!
//! A storage directory holds:
//! - `raft-storage`: the marker, written last by `create`; its exact bytes name the format;
//! - `LOCK`: the lock file (empty), locked while a storage is open;
//! - `segment-<id, 16 hex digits>.log`: the log, consecutive ids, each file a sequence of
//!   framed records, the first one a [`Base`];
//! - `snapshot-<generation, 16 hex digits>.snap`: service snapshots, one per generation, the
//!   one the log names is the live one;
//! - `write.tmp`: a file being written before its rename (marker or snapshot);
//! - `segment.next`: the next segment being zero-filled before it is renamed into place.
//!
//! Since format 2 a segment file may be *preallocated*: created at its full size with
//! zeros written and made durable before its first record, so that a sync overwrites
//! blocks in place instead of growing the file. The records end where the rest of the
//! file is all zeros. Format 1 (segments that end at their last record) reads the same way.
//!
//! A framed record is `len: u32` · `crc: u32` (crc32 of the payload) · `head: u32` (crc32 of
//! the 8 bytes before it) · `payload` (`len` bytes, the postcard encoding of a record), all
//! integers little-endian. The header's own checksum lets a reader that meets a damaged
//! record search the rest of the file for a valid one in linear time (to tell a torn tail
//! from damage in the middle), and makes a run of zeros (a file extended but not written)
//! invalid at once.

use serde::{Deserialize, Serialize};

use crate::core::codec::{self, EncodeError, PayloadError};
use crate::core::{Entry, StateError};

/// The marker file's name.
pub(crate) const MARKER_FILE: &str = "raft-storage";
/// The marker file's exact content: this format.
pub(crate) const MARKER: &[u8] = b"raft-impl disk storage, format 2\n";
/// The marker of format 1 (no zero tails: every segment ended at its last record), which
/// `open` reads and upgrades: format 2 only adds zero tails, which a format 1 reader would
/// call damage in a finished segment.
pub(crate) const MARKER_V1: &[u8] = b"raft-impl disk storage, format 1\n";
/// The lock file's name.
pub(crate) const LOCK_FILE: &str = "LOCK";
/// A file being written before it is renamed into place.
pub(crate) const TEMP_FILE: &str = "write.tmp";
/// The next segment, zero-filled at full size, before it is renamed into place.
pub(crate) const PREPARED_FILE: &str = "segment.next";

const SEGMENT_PREFIX: &str = "segment-";
const SEGMENT_SUFFIX: &str = ".log";
const SNAPSHOT_PREFIX: &str = "snapshot-";
const SNAPSHOT_SUFFIX: &str = ".snap";

/// Bytes of a record's frame before its payload.
pub(crate) const FRAME_BYTES: usize = 12;
/// Largest record payload (the frame's length field is a `u32`).
pub(crate) const MAX_RECORD_BYTES: u64 = u32::MAX as u64;

const SNAPSHOT_MAGIC: &[u8; 4] = b"RSNP";
const SNAPSHOT_VERSION: u8 = 1;
/// Snapshot file header: magic, version, crc32, generation, index, term.
pub(crate) const SNAPSHOT_HEADER_BYTES: usize = 4 + 1 + 4 + 8 + 8 + 8;

/// The file name of segment `id`.
pub(crate) fn segment_name(id: u64) -> String {
    format!("{SEGMENT_PREFIX}{id:016x}{SEGMENT_SUFFIX}")
}

/// The file name of snapshot generation `generation`.
pub(crate) fn snapshot_name(generation: u64) -> String {
    format!("{SNAPSHOT_PREFIX}{generation:016x}{SNAPSHOT_SUFFIX}")
}

fn parse_hex_name(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let hex = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// The id of a segment file name, if it is one.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    parse_hex_name(name, SEGMENT_PREFIX, SEGMENT_SUFFIX)
}

/// The generation of a snapshot file name, if it is one.
pub(crate) fn parse_snapshot_name(name: &str) -> Option<u64> {
    parse_hex_name(name, SNAPSHOT_PREFIX, SNAPSHOT_SUFFIX)
}

/// Figure 2's `currentTerm` and `votedFor`, as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hard {
    pub term: u64,
    pub vote: Option<u64>,
}

/// Which snapshot the log starts after (§7), and the file holding its data. Generation 0
/// is "no snapshot file" (a fresh server).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SnapshotRef {
    pub generation: u64,
    pub index: u64,
    pub term: u64,
}

/// The first record of every segment: the state at the segment's start, so that the
/// segments before it can be deleted once a snapshot covers their entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Base {
    /// This segment's id (a copy renamed or restored in the wrong place is caught).
    pub segment: u64,
    pub hard: Hard,
    pub snapshot: SnapshotRef,
    /// The last log index written before this segment: the entries up to it are in
    /// earlier segments (or covered by the snapshot).
    pub last_index: u64,
}

/// A log change as written: delete the entries after `after`, then append `entries`.
#[derive(Debug, Serialize)]
pub(crate) struct TailRef<'a> {
    pub after: u64,
    pub entries: &'a [Entry],
}

/// One record as written (the same shape as [`Record`], borrowing the entries).
#[derive(Debug, Serialize)]
pub(crate) enum RecordRef<'a> {
    Base(Base),
    /// One `Persist` delta, whole: a torn write loses whole deltas, never part of one.
    Delta {
        hard: Option<Hard>,
        /// A new snapshot point: entries up to its index are dropped; those after it are
        /// kept (the log change that follows says what changes after it).
        reset: Option<SnapshotRef>,
        tail: Option<TailRef<'a>>,
    },
}

/// A log change as read back.
#[derive(Debug, Deserialize)]
pub(crate) struct Tail {
    pub after: u64,
    pub entries: Vec<Entry>,
}

/// One record as read back.
#[derive(Debug, Deserialize)]
pub(crate) enum Record {
    Base(Base),
    Delta {
        hard: Option<Hard>,
        reset: Option<SnapshotRef>,
        tail: Option<Tail>,
    },
}

/// What is wrong with a record's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordDamage {
    /// Fewer bytes than a frame header left in the file.
    #[error("{available} bytes left, a record header needs {FRAME_BYTES}")]
    ShortHeader {
        /// Bytes left in the file.
        available: usize,
    },
    /// The header's checksum does not match (garbage, zeros or a torn header).
    #[error("record header checksum mismatch")]
    HeaderChecksum,
    /// The record claims more bytes than the file has left.
    #[error("record of {len} bytes, only {available} left in the file")]
    PastEnd {
        /// The payload length in the header.
        len: u32,
        /// Bytes left after the header.
        available: usize,
    },
    /// The payload does not match its checksum.
    #[error("record payload checksum mismatch")]
    Checksum,
    /// The payload is not a record.
    #[error("record payload is malformed")]
    Payload(#[source] PayloadError),
}

/// Appends the framed encoding of `record` to `buffer`. On error `buffer` is unchanged.
pub(crate) fn frame_into(buffer: &mut Vec<u8>, record: &RecordRef<'_>) -> Result<(), EncodeError> {
    // Refuse an oversized record before encoding it: the bound is an upper bound of the
    // encoding (commands plus at most 32 bytes of varints per entry and of fields).
    if let RecordRef::Delta {
        tail: Some(tail), ..
    } = record
    {
        let bound = tail.entries.iter().fold(128u64, |sum, entry| {
            sum.saturating_add(entry.command.len() as u64 + 32)
        });
        if bound > MAX_RECORD_BYTES {
            return Err(EncodeError::TooLarge {
                limit: MAX_RECORD_BYTES,
            });
        }
    }
    let start = buffer.len();
    buffer.extend_from_slice(&[0; FRAME_BYTES]);
    if let Err(error) = postcard::to_io(record, &mut *buffer) {
        buffer.truncate(start);
        return Err(EncodeError::Serializer(error));
    }
    let payload = &buffer[start + FRAME_BYTES..];
    // At most MAX_RECORD_BYTES: the bound above.
    let len = payload.len() as u32;
    let mut head = [0u8; 8];
    head[..4].copy_from_slice(&len.to_le_bytes());
    head[4..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let head_crc = crc32fast::hash(&head);
    buffer[start..start + 8].copy_from_slice(&head);
    buffer[start + 8..start + FRAME_BYTES].copy_from_slice(&head_crc.to_le_bytes());
    Ok(())
}

/// The framed encoding of `record`.
pub(crate) fn frame(record: &RecordRef<'_>) -> Result<Vec<u8>, EncodeError> {
    let mut buffer = Vec::new();
    frame_into(&mut buffer, record)?;
    Ok(buffer)
}

/// The record starting at `offset` and the offset after it, or why there is none.
pub(crate) fn read_record(bytes: &[u8], offset: usize) -> Result<(Record, usize), RecordDamage> {
    let rest = bytes.get(offset..).unwrap_or_default();
    let Some((header, rest)) = rest.split_first_chunk::<FRAME_BYTES>() else {
        return Err(RecordDamage::ShortHeader {
            available: rest.len(),
        });
    };
    let [l0, l1, l2, l3, c0, c1, c2, c3, h0, h1, h2, h3] = *header;
    if crc32fast::hash(&header[..8]) != u32::from_le_bytes([h0, h1, h2, h3]) {
        return Err(RecordDamage::HeaderChecksum);
    }
    let len = u32::from_le_bytes([l0, l1, l2, l3]);
    let Some(payload) = rest.get(..len as usize) else {
        return Err(RecordDamage::PastEnd {
            len,
            available: rest.len(),
        });
    };
    if crc32fast::hash(payload) != u32::from_le_bytes([c0, c1, c2, c3]) {
        return Err(RecordDamage::Checksum);
    }
    let record = codec::decode(payload, MAX_RECORD_BYTES).map_err(RecordDamage::Payload)?;
    Ok((record, offset + FRAME_BYTES + len as usize))
}

/// The offset of the first valid record after `offset`, if any: a damaged record followed
/// by a valid one is damage in the middle of the log, not a torn tail.
///
/// A header of zeros is never valid (the crc32 of 8 zero bytes is not 0), so runs of
/// zeros — a preallocated segment's unused tail, 64 MiB by default — are skipped, not
/// tried at every offset.
pub(crate) fn valid_record_after(bytes: &[u8], offset: usize) -> Option<usize> {
    let mut candidate = offset + 1;
    while candidate + FRAME_BYTES <= bytes.len() {
        let zeros = bytes[candidate..]
            .iter()
            .position(|&byte| byte != 0)
            .unwrap_or(bytes.len() - candidate);
        if zeros >= FRAME_BYTES {
            // Every candidate whose header lies inside the run has an all-zero header.
            candidate += zeros - (FRAME_BYTES - 1);
            continue;
        }
        if read_record(bytes, candidate).is_ok() {
            return Some(candidate);
        }
        candidate += 1;
    }
    None
}

/// The length of `bytes` without its trailing zeros.
pub(crate) fn end_of_data(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .rposition(|&byte| byte != 0)
        .map_or(0, |at| at + 1)
}

/// What is wrong with a snapshot file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotDamage {
    /// Shorter than the header.
    #[error("snapshot file of {len} bytes is shorter than its header")]
    Truncated {
        /// The file's length.
        len: usize,
    },
    /// Not a snapshot file of this format.
    #[error("snapshot file has a bad magic number or version")]
    BadHeader,
    /// The content does not match its checksum.
    #[error("snapshot file checksum mismatch")]
    Checksum,
}

/// A snapshot as stored: which generation, which log point, and the service's bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SnapshotFile {
    pub generation: u64,
    pub index: u64,
    pub term: u64,
    pub data: Vec<u8>,
}

/// The header of a snapshot file holding `data` (written before the data itself).
pub(crate) fn snapshot_header(generation: u64, index: u64, term: u64, data: &[u8]) -> Vec<u8> {
    let mut fields = Vec::with_capacity(24);
    fields.extend_from_slice(&generation.to_le_bytes());
    fields.extend_from_slice(&index.to_le_bytes());
    fields.extend_from_slice(&term.to_le_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&fields);
    hasher.update(data);
    let mut header = Vec::with_capacity(SNAPSHOT_HEADER_BYTES);
    header.extend_from_slice(SNAPSHOT_MAGIC);
    header.push(SNAPSHOT_VERSION);
    header.extend_from_slice(&hasher.finalize().to_le_bytes());
    header.extend_from_slice(&fields);
    header
}

/// Decodes a snapshot file. Never panics on any bytes.
pub(crate) fn read_snapshot(mut bytes: Vec<u8>) -> Result<SnapshotFile, SnapshotDamage> {
    let Some(header) = bytes.first_chunk::<SNAPSHOT_HEADER_BYTES>() else {
        return Err(SnapshotDamage::Truncated { len: bytes.len() });
    };
    if &header[..4] != SNAPSHOT_MAGIC || header[4] != SNAPSHOT_VERSION {
        return Err(SnapshotDamage::BadHeader);
    }
    let u64_at = |at: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&header[at..at + 8]);
        u64::from_le_bytes(word)
    };
    let stored = u32::from_le_bytes([header[5], header[6], header[7], header[8]]);
    let (generation, index, term) = (u64_at(9), u64_at(17), u64_at(25));
    if crc32fast::hash(&bytes[9..]) != stored {
        return Err(SnapshotDamage::Checksum);
    }
    let data = bytes.split_off(SNAPSHOT_HEADER_BYTES);
    Ok(SnapshotFile {
        generation,
        index,
        term,
        data,
    })
}

/// Why the files of a storage directory cannot be recovered. The storage refuses to open:
/// cutting more than a torn tail could lose an acknowledged write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// The marker file does not hold this format's marker.
    #[error("the marker file is not a raft-impl disk storage marker of this format")]
    BadMarker,
    /// There is no segment file.
    #[error("no segment file")]
    NoSegments,
    /// A damaged record in a segment that is not the last (all of it was synced before
    /// the next segment was created).
    #[error("damaged record in a finished segment: {0}")]
    DamagedRecord(#[source] RecordDamage),
    /// A damaged record with a valid record after it: damage in the middle of the log.
    #[error("damaged record ({damage}) followed by a valid record at offset {valid_at}")]
    ValidAfterDamage {
        /// What is wrong with the damaged record.
        damage: RecordDamage,
        /// Where the next valid record starts.
        valid_at: u64,
    },
    /// A segment does not start with its base record (or the base names another segment).
    #[error("segment does not start with its own base record")]
    NoBase,
    /// A segment's base record disagrees with the state the records before it built.
    #[error("segment base record disagrees with the log before it")]
    BaseMismatch,
    /// A base record in the middle of a segment.
    #[error("base record in the middle of a segment")]
    MisplacedBase,
    /// A term or index at or past the limit no correct writer reaches.
    #[error("term or index {value} out of range")]
    OutOfRange {
        /// The value.
        value: u64,
    },
    /// A log change that does not fit the log the records before it built.
    #[error("log change after {after} does not fit the log {first}..={last}")]
    Misfit {
        /// The change's `after`.
        after: u64,
        /// The snapshot index.
        first: u64,
        /// The last index.
        last: u64,
    },
    /// Entries after the snapshot are in segments that no longer exist.
    #[error("entries {from}..={to} after the snapshot are missing")]
    MissingEntries {
        /// The first missing index.
        from: u64,
        /// The last missing index.
        to: u64,
    },
    /// The snapshot the log names has no file.
    #[error("the snapshot file of generation {generation} is missing")]
    SnapshotMissing {
        /// The snapshot's generation.
        generation: u64,
    },
    /// The snapshot file is damaged.
    #[error("snapshot file damaged")]
    SnapshotDamaged(#[source] SnapshotDamage),
    /// The snapshot file holds another snapshot than the one the log names.
    #[error("snapshot file holds generation {found_generation} at index {found_index}, term {found_term}; the log names index {index}, term {term}")]
    SnapshotMismatch {
        /// The generation in the file.
        found_generation: u64,
        /// The index in the file.
        found_index: u64,
        /// The term in the file.
        found_term: u64,
        /// The index the log names.
        index: u64,
        /// The term the log names.
        term: u64,
    },
    /// A stored vote that does not fit this platform's server ids.
    #[error("stored vote {vote} is not a server id on this platform")]
    VoteOutOfRange {
        /// The stored vote.
        vote: u64,
    },
    /// The recovered state is not one a correct server could have written.
    #[error("recovered state is invalid")]
    State(#[source] StateError),
}

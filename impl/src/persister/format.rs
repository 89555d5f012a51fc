//! The state file's format, version 1 (integers little-endian). It holds the two blobs as
//! they are, with a fixed-layout header and no serializer: the raft state inside carries
//! its own format version (`core::persist`), so the serializer's change from bincode to
//! postcard left this layout and its version unchanged.
//!
//! ```text
//! magic "RAFTPST\0" (8) · version u8 · raft_state_len u64 · snapshot_len u64 ·
//! crc32 u32 (over every byte before it and both payloads) · raft_state · snapshot
//! ```
//!
//! Bytes that are short, long, of another version or fail the checksum are rejected with a
//! [`FileFormatError`]: never a panic, never silently an empty state.

use super::Saved;

const MAGIC: &[u8; 8] = b"RAFTPST\0";
const VERSION: u8 = 1;
const HEADER_BYTES: usize = 8 + 1 + 8 + 8 + 4;

pub(super) fn encode(raft_state: &[u8], snapshot: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES + raft_state.len() + snapshot.len());
    bytes.extend_from_slice(MAGIC);
    bytes.push(VERSION);
    bytes.extend_from_slice(&(raft_state.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&(snapshot.len() as u64).to_le_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&bytes);
    hasher.update(raft_state);
    hasher.update(snapshot);
    bytes.extend_from_slice(&hasher.finalize().to_le_bytes());
    bytes.extend_from_slice(raft_state);
    bytes.extend_from_slice(snapshot);
    bytes
}

/// A state file that cannot be read: short, of another format, or damaged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileFormatError {
    /// Fewer bytes than the header.
    #[error("{len} bytes, shorter than the {HEADER_BYTES}-byte header")]
    Truncated {
        /// The file's length.
        len: usize,
    },
    /// Not a raft-impl state file.
    #[error("bad magic number (not a raft-impl state file)")]
    BadMagic,
    /// A file of another format version.
    #[error("unsupported file format version {found} (this build reads {expected})")]
    UnsupportedVersion {
        /// The version in the header.
        found: u8,
        /// The version this build reads.
        expected: u8,
    },
    /// The lengths in the header do not add up to the file's payload.
    #[error("header announces {raft_state} + {snapshot} payload bytes, file holds {payload}")]
    LengthMismatch {
        /// The announced raft state length.
        raft_state: u64,
        /// The announced snapshot length.
        snapshot: u64,
        /// The payload bytes actually present.
        payload: usize,
    },
    /// Header and payloads do not match the checksum.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// The checksum in the header.
        stored: u32,
        /// The checksum of what was read.
        computed: u32,
    },
}

pub(super) fn decode(bytes: &[u8]) -> Result<Saved, FileFormatError> {
    let Some((header, body)) = bytes.split_first_chunk::<HEADER_BYTES>() else {
        return Err(FileFormatError::Truncated { len: bytes.len() });
    };
    let (magic, rest) = header.split_at(8);
    if magic != MAGIC {
        return Err(FileFormatError::BadMagic);
    }
    let (version, rest) = (rest[0], &rest[1..]);
    if version != VERSION {
        return Err(FileFormatError::UnsupportedVersion {
            found: version,
            expected: VERSION,
        });
    }
    let (raft_len, rest) = read_u64(rest);
    let (snapshot_len, rest) = read_u64(rest);
    let (stored, _) = read_u32(rest);
    if raft_len.checked_add(snapshot_len) != Some(body.len() as u64) {
        return Err(FileFormatError::LengthMismatch {
            raft_state: raft_len,
            snapshot: snapshot_len,
            payload: body.len(),
        });
    }
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[..HEADER_BYTES - 4]);
    hasher.update(body);
    let computed = hasher.finalize();
    if computed != stored {
        return Err(FileFormatError::Checksum { stored, computed });
    }
    // `raft_len <= body.len()` by the length check above.
    let (raft_state, snapshot) = body.split_at(raft_len as usize);
    Ok(Saved::copied(raft_state, snapshot))
}

/// The little-endian `u64` at the start of `bytes` (the header is a fixed-size array, so
/// the callers' slices are long enough), and the rest.
fn read_u64(bytes: &[u8]) -> (u64, &[u8]) {
    let mut array = [0u8; 8];
    array.copy_from_slice(&bytes[..8]);
    (u64::from_le_bytes(array), &bytes[8..])
}

fn read_u32(bytes: &[u8]) -> (u32, &[u8]) {
    let mut array = [0u8; 4];
    array.copy_from_slice(&bytes[..4]);
    (u32::from_le_bytes(array), &bytes[4..])
}

//! The state file's format, version 1 (integers little-endian):
//!
//! ```text
//! magic "RAFTPST\0" (8) · version u8 · raft_state_len u64 · snapshot_len u64 ·
//! crc32 u32 (over every byte before it and both payloads) · raft_state · snapshot
//! ```
//!
//! Bytes that are short, long, of another version or fail the checksum are rejected with a
//! reason: never a panic, never silently an empty state.

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

pub(super) fn decode(bytes: &[u8]) -> Result<Saved, String> {
    if bytes.len() < HEADER_BYTES {
        return Err(format!(
            "{} bytes, shorter than the {HEADER_BYTES}-byte header",
            bytes.len()
        ));
    }
    if &bytes[..8] != MAGIC {
        return Err("bad magic number (not a raft-impl state file)".into());
    }
    if bytes[8] != VERSION {
        return Err(format!(
            "unsupported format version {} (this build reads {VERSION})",
            bytes[8]
        ));
    }
    let raft_len = read_u64(&bytes[9..17]);
    let snapshot_len = read_u64(&bytes[17..25]);
    let stored_crc = u32::from_le_bytes([bytes[25], bytes[26], bytes[27], bytes[28]]);
    let body = &bytes[HEADER_BYTES..];
    let expected = raft_len.checked_add(snapshot_len);
    if expected != Some(body.len() as u64) {
        return Err(format!(
            "header announces {raft_len} + {snapshot_len} payload bytes, file holds {}",
            body.len()
        ));
    }
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&bytes[..25]);
    hasher.update(body);
    let computed = hasher.finalize();
    if computed != stored_crc {
        return Err(format!(
            "checksum mismatch: stored {stored_crc:#010x}, computed {computed:#010x}"
        ));
    }
    let (raft_state, snapshot) = body.split_at(raft_len as usize);
    Ok(Saved::copied(raft_state, snapshot))
}

fn read_u64(bytes: &[u8]) -> u64 {
    let mut array = [0u8; 8];
    array.copy_from_slice(bytes);
    u64::from_le_bytes(array)
}

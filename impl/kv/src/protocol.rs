//! The client protocol: one TCP connection per client and server, request/reply frames of
//! `length (u32 LE) | postcard payload`, at most [`MAX_FRAME_BYTES`]. The protocol is for a
//! trusted network (clients are not authenticated; the peers' Raft traffic is, see
//! raft-tcp). Malformed or oversized frames close the connection, never panic.

use std::io::{self, Read, Write};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::command::{Outcome, Request};

/// The largest request or reply frame.
pub const MAX_FRAME_BYTES: u32 = 16 << 20;

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// An operation to run through the log.
    Request(Request),
    /// Fault injection and inspection, accepted only by a server started with
    /// `--fault-admin` (the fault test).
    Admin(Admin),
}

/// Fault-injection commands (the fault test's partitions go through the transport's hook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Admin {
    /// Drop all Raft traffic between this server and these peers.
    Cut(Vec<usize>),
    /// Remove every cut.
    HealAll,
    /// Report the server's Raft status.
    Status,
}

/// What a server answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The request was applied (now or, for a retry, earlier) with this outcome.
    Outcome(Outcome),
    /// This server is not the leader; `leader` is its guess.
    NotLeader {
        /// The leader's id, if known.
        leader: Option<usize>,
    },
    /// The leader's proposal queue is full; retry later.
    Busy,
    /// The request may or may not be applied (leadership lost, or it took too long):
    /// retry it with the same sequence number.
    Retry,
    /// The request cannot succeed (too large, malformed, admin disabled).
    Refused(String),
    /// An admin command was done.
    AdminDone,
    /// The server's status, for [`Admin::Status`].
    Status {
        /// Its current term.
        term: u64,
        /// Whether it leads.
        leader: bool,
        /// Its commit index.
        commit_index: u64,
    },
}

/// Writes one frame, in one `write` call: on a `TCP_NODELAY` socket two writes would be
/// two segments, and the reader could wake for the length alone.
pub fn write_frame<T: Serialize>(out: &mut impl Write, message: &T) -> io::Result<()> {
    // The length is filled in once the payload is encoded after it.
    let mut frame = postcard::to_extend(message, vec![0; 4])
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    let len = u32::try_from(frame.len() - 4)
        .ok()
        .filter(|&len| len <= MAX_FRAME_BYTES)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame over the limit"))?;
    frame[..4].copy_from_slice(&len.to_le_bytes());
    out.write_all(&frame)?;
    out.flush()
}

/// Reads one frame; `Ok(None)` at a clean end of the connection.
pub fn read_frame<T: DeserializeOwned>(input: &mut impl Read) -> io::Result<Option<T>> {
    let mut len = [0; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is over the {MAX_FRAME_BYTES}-byte limit"),
        ));
    }
    let mut payload = vec![0; len as usize];
    input.read_exact(&mut payload)?;
    postcard::from_bytes(&payload)
        .map(Some)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}

//! Frames on an authenticated connection: `length (u32 LE) | payload | tag (32 bytes)`,
//! where `tag = HMAC-SHA256(K, direction || sequence || length || payload)`.
//!
//! The tag is the frame's checksum and more: a flipped bit, a frame from another
//! connection (another `K`), and a frame replayed, dropped or reordered within this one
//! (the sequence number is implicit, counted by both ends per direction) all fail it. The
//! length is checked against the limit before anything is allocated.

use std::io::{self, Read, Write};

use bytes::Bytes;
use hmac::Mac;

use crate::auth::{mac, Session, TAG_BYTES};

/// Why a connection was closed while reading frames. Logged and counted; never a panic.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The announced length is over the limit (nothing was allocated for it).
    #[error("frame of {len} bytes is over the {max}-byte limit")]
    TooLarge {
        /// The announced payload length.
        len: u32,
        /// The configured limit.
        max: u32,
    },
    /// The tag does not match: damaged, forged, replayed or reordered.
    #[error("frame {sequence} failed authentication (damaged, forged, replayed or reordered)")]
    BadTag {
        /// The sequence number the frame should have had.
        sequence: u64,
    },
    /// The connection ended inside a frame.
    #[error("connection closed inside a frame")]
    Truncated,
    /// The connection ended between frames.
    #[error("connection closed")]
    Closed,
    /// Any other I/O failure (a timeout among them).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

fn tag(
    key: &[u8; TAG_BYTES],
    direction: u8,
    sequence: u64,
    payload: &[u8],
) -> hmac::Hmac<sha2::Sha256> {
    let mut mac = mac(key);
    mac.update(&[direction]);
    mac.update(&sequence.to_le_bytes());
    mac.update(&(payload.len() as u32).to_le_bytes());
    mac.update(payload);
    mac
}

/// Direction bytes: frames from the dialer and from the acceptor are tagged differently, so
/// a frame cannot be reflected back to its sender.
fn direction(dialer_sends: bool) -> u8 {
    if dialer_sends {
        0
    } else {
        1
    }
}

/// Writes frames of one connection.
pub(crate) struct FrameWriter {
    key: [u8; TAG_BYTES],
    direction: u8,
    sequence: u64,
}

impl FrameWriter {
    pub(crate) fn new(session: &Session) -> Self {
        FrameWriter {
            key: session.key,
            direction: direction(session.dialer),
            sequence: 0,
        }
    }

    /// Writes one frame (the caller checked its length against the limit).
    pub(crate) fn write(&mut self, out: &mut impl Write, payload: &[u8]) -> io::Result<()> {
        let len = u32::try_from(payload.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over 4 GiB"))?;
        let tag = tag(&self.key, self.direction, self.sequence, payload)
            .finalize()
            .into_bytes();
        self.sequence += 1;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(payload)?;
        out.write_all(&tag)
    }
}

/// Reads frames of one connection.
pub(crate) struct FrameReader {
    key: [u8; TAG_BYTES],
    direction: u8,
    sequence: u64,
    max: u32,
}

impl FrameReader {
    pub(crate) fn new(session: &Session, max: u32) -> Self {
        FrameReader {
            key: session.key,
            // We read what the other end wrote.
            direction: direction(!session.dialer),
            sequence: 0,
            max,
        }
    }

    /// Reads one frame and checks its tag.
    pub(crate) fn read(&mut self, input: &mut impl Read) -> Result<Bytes, FrameError> {
        let mut len = [0; 4];
        read_exact(input, &mut len, true)?;
        let len = u32::from_le_bytes(len);
        if len > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        let mut payload = vec![0; len as usize];
        read_exact(input, &mut payload, false)?;
        let mut received = [0; TAG_BYTES];
        read_exact(input, &mut received, false)?;
        tag(&self.key, self.direction, self.sequence, &payload)
            .verify_slice(&received)
            .map_err(|_| FrameError::BadTag {
                sequence: self.sequence,
            })?;
        self.sequence += 1;
        Ok(Bytes::from(payload))
    }
}

/// `read_exact` that tells a clean end between frames from one inside a frame.
fn read_exact(
    input: &mut impl Read,
    buf: &mut [u8],
    at_frame_start: bool,
) -> Result<(), FrameError> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 && at_frame_start => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(FrameError::Io(error)),
        }
    }
    Ok(())
}

//! The RPCs of Figure 2 and §7, and their wire encoding.
//!
//! Requests and replies are both [`Message`]s; the runtime carries a request over a
//! transport call and feeds the reply back into the core. Decoding is bounded and returns
//! errors: bytes from the network are untrusted.

use serde::{Deserialize, Serialize};

use super::codec::{self, EncodeError, PayloadError};
use super::log::Entry;

/// Indices and terms at or above this are refused, so that no arithmetic on them can
/// overflow (a cluster would need 2^62 entries or elections to get there).
pub const MAX_INDEX_OR_TERM: u64 = 1 << 62;

/// Largest message frame, header included, that the core encodes or decodes (a whole
/// snapshot travels in one InstallSnapshot, so a larger snapshot cannot be sent: its encode
/// is an [`EncodeError::TooLarge`]).
pub const MAX_MESSAGE_BYTES: u64 = 256 * 1024 * 1024;

/// A Raft RPC request or reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// §5.2: a candidate asks for a vote.
    RequestVote {
        /// Candidate's term.
        term: u64,
        /// Candidate requesting the vote.
        candidate: usize,
        /// Index of the candidate's last log entry (§5.4.1).
        last_log_index: u64,
        /// Term of the candidate's last log entry (§5.4.1).
        last_log_term: u64,
    },
    /// §5.2: the answer to a RequestVote.
    RequestVoteReply {
        /// The voter's current term, for the candidate to update itself.
        term: u64,
        /// True means the candidate received the vote.
        vote_granted: bool,
    },
    /// §5.3: replication and heartbeats.
    AppendEntries {
        /// Leader's term.
        term: u64,
        /// The leader, so followers can redirect clients.
        leader: usize,
        /// Index of the log entry immediately preceding the new ones.
        prev_log_index: u64,
        /// Term of the entry at `prev_log_index`.
        prev_log_term: u64,
        /// Entries to store (empty for a heartbeat).
        entries: Vec<Entry>,
        /// Leader's commit index.
        leader_commit: u64,
    },
    /// `match_index` is meaningful on success; the conflict hints on rejection (fast backup).
    AppendEntriesReply {
        /// The follower's current term, for the leader to update itself.
        term: u64,
        /// True if the follower held an entry matching `prev_log_index`/`prev_log_term`.
        success: bool,
        /// On success, the last index the follower now knows matches the leader's log.
        match_index: u64,
        /// On rejection, where the leader should back `next_index` up to.
        conflict_index: u64,
        /// On rejection, the term of the follower's conflicting entry (`None`: log too short).
        conflict_term: Option<u64>,
    },
    /// §7: the whole snapshot in one message.
    InstallSnapshot {
        /// Leader's term.
        term: u64,
        /// The leader, so followers can redirect clients.
        leader: usize,
        /// The snapshot replaces all entries up through and including this index.
        last_included_index: u64,
        /// Term of `last_included_index`.
        last_included_term: u64,
        /// The service's snapshot bytes.
        // Length prefix plus one copy, not one serde call per byte; same bytes on the wire.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// Echoes the request's `last_included_index`.
    InstallSnapshotReply {
        /// The follower's current term, for the leader to update itself.
        term: u64,
        /// The request's `last_included_index`, echoed so the leader can update `match_index`.
        last_included_index: u64,
    },
}

impl Message {
    /// The sender's term, used for term normalisation (Figure 2, "All Servers").
    pub fn term(&self) -> u64 {
        match self {
            Message::RequestVote { term, .. }
            | Message::RequestVoteReply { term, .. }
            | Message::AppendEntries { term, .. }
            | Message::AppendEntriesReply { term, .. }
            | Message::InstallSnapshot { term, .. }
            | Message::InstallSnapshotReply { term, .. } => *term,
        }
    }

    /// Whether this is a request (RequestVote, AppendEntries, InstallSnapshot), not a reply.
    pub fn is_request(&self) -> bool {
        matches!(
            self,
            Message::RequestVote { .. }
                | Message::AppendEntries { .. }
                | Message::InstallSnapshot { .. }
        )
    }

    /// The server a request claims to come from (`None` for replies).
    pub fn sender(&self) -> Option<usize> {
        match self {
            Message::RequestVote { candidate, .. } => Some(*candidate),
            Message::AppendEntries { leader, .. } | Message::InstallSnapshot { leader, .. } => {
                Some(*leader)
            }
            _ => None,
        }
    }

    /// Whether the message is one a correct server could send: indices and terms far from
    /// overflow, entries in non-decreasing term order after `prev_log_term` and not after
    /// the sender's term, a snapshot not from a later term. Anything else is forged or
    /// damaged and is dropped before it reaches a rule (no panic on bytes from the network).
    pub fn is_well_formed(&self) -> bool {
        let small = |n: u64| n < MAX_INDEX_OR_TERM;
        match self {
            Message::RequestVote {
                term,
                last_log_index,
                last_log_term,
                ..
            } => small(*term) && small(*last_log_index) && last_log_term <= term,
            Message::RequestVoteReply { term, .. } => small(*term),
            Message::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                ..
            } => {
                let mut previous = *prev_log_term;
                let ordered = entries.iter().all(|e| {
                    let ok = previous <= e.term;
                    previous = e.term;
                    ok
                });
                small(*term)
                    && small(*prev_log_index)
                    && small(*leader_commit)
                    && ordered
                    && previous <= *term
            }
            Message::AppendEntriesReply {
                term,
                match_index,
                conflict_index,
                conflict_term,
                ..
            } => {
                small(*term)
                    && small(*match_index)
                    && small(*conflict_index)
                    && conflict_term.iter().all(|&t| small(t))
            }
            Message::InstallSnapshot {
                term,
                last_included_index,
                last_included_term,
                ..
            } => small(*term) && small(*last_included_index) && last_included_term <= term,
            Message::InstallSnapshotReply {
                term,
                last_included_index,
            } => small(*term) && small(*last_included_index),
        }
    }

    /// The wire encoding: the header byte [`WIRE_HEADER`], then the postcard payload (see
    /// [`codec`]). A message whose encoding would pass [`MAX_MESSAGE_BYTES`]
    /// (an InstallSnapshot of a huge snapshot, a huge batch of entries) is an error: it must
    /// not be sent, and it is not truncated or replaced by an empty frame.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        // The header counts towards the limit: a frame is at most `MAX_MESSAGE_BYTES`.
        codec::encode_into(self, MAX_MESSAGE_BYTES - 1, vec![WIRE_HEADER])
    }

    /// Decodes one message from a whole frame. Bytes from the network are untrusted: every
    /// malformed input is a [`DecodeError`], never a panic or a large allocation.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let (&header, payload) = bytes.split_first().ok_or(DecodeError::Empty)?;
        if header != WIRE_HEADER {
            return Err(match header {
                // Format 1 (bincode, before the header existed) starts with the variant tag.
                0..=5 => DecodeError::UnsupportedVersion {
                    found: 1,
                    expected: WIRE_VERSION,
                },
                h if h & VERSIONED != 0 => DecodeError::UnsupportedVersion {
                    found: h & !VERSIONED,
                    expected: WIRE_VERSION,
                },
                byte => DecodeError::BadHeader { byte },
            });
        }
        Ok(codec::decode(payload, MAX_MESSAGE_BYTES - 1)?)
    }
}

/// The high bit marks a versioned frame; format 1 frames began with a variant tag (0–5).
const VERSIONED: u8 = 0x80;
/// The wire format this build writes and reads: 2 (postcard). Format 1 was bincode 1.
pub const WIRE_VERSION: u8 = 2;
/// The first byte of every message: the high bit set, then [`WIRE_VERSION`].
pub const WIRE_HEADER: u8 = VERSIONED | WIRE_VERSION;

/// Bytes that are not a valid [`Message`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A frame of zero bytes.
    #[error("empty message frame")]
    Empty,
    /// A frame of another wire format version (1: a bincode frame of an older build).
    #[error("message of wire format version {found}; this build reads version {expected}")]
    UnsupportedVersion {
        /// The version the frame announces (1 for a headerless format 1 frame).
        found: u8,
        /// [`WIRE_VERSION`].
        expected: u8,
    },
    /// A first byte that is no version header.
    #[error("message frame starts with {byte:#04x}, not a version header")]
    BadHeader {
        /// The first byte.
        byte: u8,
    },
    /// The payload after the header is not a message.
    #[error("malformed message payload")]
    Payload(#[from] PayloadError),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `RequestVote { term: 5, candidate: 2, last_log_index: 12, last_log_term: 4 }` as a
    /// format 1 build (bincode 1, varint) sent it. Read as a headerless postcard frame it
    /// would decode to the very same message: without the header the two formats could not
    /// be told apart.
    const FORMAT_1_REQUEST_VOTE: &[u8] = &[0, 5, 2, 12, 4];
    /// An AppendEntries of term 300 with two entries, as a format 1 build sent it (bincode's
    /// varint writes 300 as 251 followed by a `u16`).
    const FORMAT_1_APPEND_ENTRIES: &[u8] = &[
        2, 251, 44, 1, 1, 10, 3, 2, 4, 2, 1, 2, 251, 44, 1, 7, 115, 101, 116, 32, 120, 32, 49, 10,
    ];

    /// Every message survives an encode/decode round trip.
    #[test]
    fn messages_round_trip() {
        let messages = vec![
            Message::RequestVote {
                term: 3,
                candidate: 1,
                last_log_index: 7,
                last_log_term: 2,
            },
            Message::AppendEntries {
                term: 4,
                leader: 0,
                prev_log_index: 2,
                prev_log_term: 1,
                entries: vec![Entry {
                    term: 4,
                    command: vec![1, 2, 3].into(),
                }],
                leader_commit: 2,
            },
            Message::AppendEntriesReply {
                term: 4,
                success: false,
                match_index: 0,
                conflict_index: 3,
                conflict_term: Some(2),
            },
            Message::InstallSnapshot {
                term: 5,
                leader: 2,
                last_included_index: 9,
                last_included_term: 4,
                data: vec![9; 100],
            },
        ];
        for message in messages {
            assert_eq!(
                Message::decode(&message.encode().unwrap()).unwrap(),
                message
            );
        }
    }

    /// Garbage, truncated input and absurd length prefixes are errors, not panics or huge
    /// allocations.
    #[test]
    fn malformed_bytes_are_errors() {
        let good = Message::RequestVoteReply {
            term: 1,
            vote_granted: true,
        }
        .encode()
        .unwrap();
        assert_eq!(good, [WIRE_HEADER, 1, 1, 1]);
        assert!(matches!(
            Message::decode(&good[..good.len() - 1]),
            Err(DecodeError::Payload(PayloadError::Malformed(_)))
        ));
        assert_eq!(Message::decode(&[]), Err(DecodeError::Empty));
        assert_eq!(
            Message::decode(&[0x7f, 1]),
            Err(DecodeError::BadHeader { byte: 0x7f })
        );
        assert!(matches!(
            Message::decode(&[WIRE_HEADER, 200, 255, 255, 255, 255]),
            Err(DecodeError::Payload(PayloadError::Malformed(_)))
        ));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            Message::decode(&trailing),
            Err(DecodeError::Payload(PayloadError::TrailingBytes {
                count: 1
            }))
        );
        // An AppendEntries claiming 2^60 entries (varint 0x80.. 0x10).
        let huge = [
            WIRE_HEADER,
            2,
            1,
            0,
            0,
            0,
            0x80,
            0x80,
            0x80,
            0x80,
            0x80,
            0x80,
            0x80,
            0x80,
            0x10,
        ];
        assert!(matches!(
            Message::decode(&huge),
            Err(DecodeError::Payload(PayloadError::Malformed(_)))
        ));
    }

    /// Frames written by a format 1 build (bincode 1, no header; bytes recorded from that
    /// build) and frames announcing a later version are refused by version, never misread.
    #[test]
    fn other_versions_are_refused_by_version() {
        let old = DecodeError::UnsupportedVersion {
            found: 1,
            expected: WIRE_VERSION,
        };
        assert_eq!(Message::decode(FORMAT_1_REQUEST_VOTE), Err(old.clone()));
        assert_eq!(Message::decode(FORMAT_1_APPEND_ENTRIES), Err(old));
        assert_eq!(
            Message::decode(&[VERSIONED | 3, 1, 1, 1]),
            Err(DecodeError::UnsupportedVersion {
                found: 3,
                expected: WIRE_VERSION
            })
        );
    }

    /// A message over the frame limit is an encode error, not an empty or cut frame; the
    /// snapshot bytes are never copied (the check comes first), so this test is cheap.
    #[test]
    fn oversized_message_is_an_encode_error() {
        let message = Message::InstallSnapshot {
            term: 1,
            leader: 0,
            last_included_index: 1,
            last_included_term: 1,
            data: vec![0; MAX_MESSAGE_BYTES as usize],
        };
        assert_eq!(
            message.encode(),
            Err(EncodeError::TooLarge {
                limit: MAX_MESSAGE_BYTES - 1
            })
        );
    }
}

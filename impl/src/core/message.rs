//! The RPCs of Figure 2 and §7, and their wire encoding.
//!
//! Requests and replies are both [`Message`]s; the runtime carries a request over a
//! transport call and feeds the reply back into the core. Decoding is bounded and returns
//! errors: bytes from the network are untrusted.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::codec::{self, EncodeError, PayloadError};
use super::log::Entry;

/// Indices and terms at or above this are refused, so that no arithmetic on them can
/// overflow (a cluster would need 2^62 entries or elections to get there). The persistent
/// state's encoder and decoder refuse a term or snapshot index at or above it
/// ([`super::StateError::OutOfRange`]).
pub const MAX_INDEX_OR_TERM: u64 = 1 << 62;

/// The largest term a server ever takes: a message with a later term is malformed (dropped
/// before term normalisation), and a server at this term does not start an election (it
/// logs a warning instead). One bound for both, so that every term a server sends is one
/// its peers accept, and every term it takes is one its state encoder writes
/// (`MAX_TERM < MAX_INDEX_OR_TERM`, with room for `term + 1`).
///
/// Before this bound, one well-formed RequestVote of term `2^62 - 1` (a buggy or hostile
/// peer) moved every server to that term; the next election moved to `2^62`, a term no
/// peer accepted and no encoder wrote: no leader was ever elected again and restarts
/// failed. A message at `MAX_TERM` itself still stops elections (there is no term left to
/// campaign in): Raft assumes peers that do not lie, and this bound only keeps a lie from
/// corrupting what is written.
pub const MAX_TERM: u64 = MAX_INDEX_OR_TERM - 2;

/// Largest message frame, header included, that the core encodes or decodes. The core
/// never builds a larger one: AppendEntries are cut at `Config::max_bytes_per_message`
/// and snapshots travel in chunks of `Config::snapshot_chunk_bytes`, both validated
/// against this (only an AppendEntries whose single entry is larger, from a log written
/// under another configuration, can pass it: its encode is an [`EncodeError::TooLarge`]).
pub const MAX_MESSAGE_BYTES: u64 = 256 * 1024 * 1024;

/// Room reserved in a message for everything but the commands of its entries or the data
/// of its snapshot chunk: the header byte, the variant, every other field (varints of at
/// most 10 bytes) and the length prefixes of one entry. An AppendEntries carrying one
/// command of `max_bytes_per_message - MESSAGE_OVERHEAD_BYTES` bytes, and an
/// InstallSnapshot carrying a chunk of `snapshot_chunk_bytes`, encode to at most
/// `max_bytes_per_message` and `snapshot_chunk_bytes + MESSAGE_OVERHEAD_BYTES` bytes.
pub const MESSAGE_OVERHEAD_BYTES: usize = 128;

/// Upper bound on an AppendEntries frame without its entries: header, variant, term,
/// leader, prev_log_index, prev_log_term, the entry count and leader_commit.
pub(crate) const APPEND_ENTRIES_FIXED_BYTES: usize = 1 + 1 + 10 * 6;

/// The largest command any valid configuration lets a leader accept (with
/// `max_bytes_per_message` at [`MAX_MESSAGE_BYTES`]); a given core's limit is
/// `Config::max_command_bytes`.
pub const MAX_COMMAND_BYTES: usize = MAX_MESSAGE_BYTES as usize - MESSAGE_OVERHEAD_BYTES;

/// The largest snapshot a follower assembles from chunks: a chunk that would take it past
/// this is malformed, so one transfer holds at most this much memory. A leader whose
/// service snapshot is larger cannot bring a follower up to date by InstallSnapshot.
pub const MAX_SNAPSHOT_BYTES: u64 = 1 << 32;

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
    /// §7 and Figure 13: one chunk of a snapshot, the bytes `offset..offset + data.len()`;
    /// a snapshot that fits one chunk is one message with `offset == 0` and `done`.
    InstallSnapshot {
        /// Leader's term.
        term: u64,
        /// The leader, so followers can redirect clients.
        leader: usize,
        /// The snapshot replaces all entries up through and including this index.
        last_included_index: u64,
        /// Term of `last_included_index`.
        last_included_term: u64,
        /// Figure 13: the byte offset of this chunk in the snapshot.
        offset: u64,
        /// The chunk: the service's snapshot bytes from `offset` on.
        // Length prefix plus one copy, not one serde call per byte; same bytes on the wire.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        /// Figure 13: this is the last chunk.
        done: bool,
    },
    /// Echoes the request's `last_included_index`, and says how far the transfer got.
    InstallSnapshotReply {
        /// The follower's current term, for the leader to update itself.
        term: u64,
        /// The request's `last_included_index`, echoed so the leader can update `match_index`
        /// (0 in the rejection of a stale request, which claims nothing).
        last_included_index: u64,
        /// When not `done`: how many bytes of this snapshot the follower holds, where the
        /// leader's next chunk starts (0: start over).
        offset: u64,
        /// The follower holds the whole snapshot (it installed it, or its commit index is
        /// already past it): the leader applies IS9.
        done: bool,
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

    /// Whether the message is one a correct server could send: terms at most [`MAX_TERM`],
    /// indices far from overflow (an AppendEntries does not reach [`MAX_INDEX_OR_TERM`]
    /// with its last entry), entries in non-decreasing term order after `prev_log_term`
    /// and not after the sender's term, a snapshot not from a later term and a chunk that
    /// ends within [`MAX_SNAPSHOT_BYTES`]. Anything else is forged or damaged and is
    /// dropped before it reaches a rule (no panic on bytes from the network).
    pub fn is_well_formed(&self) -> bool {
        let small = |n: u64| n < MAX_INDEX_OR_TERM;
        // The message's own term: a later one would take the receiver past `MAX_TERM`.
        let term_ok = |t: u64| t <= MAX_TERM;
        match self {
            Message::RequestVote {
                term,
                last_log_index,
                last_log_term,
                ..
            } => term_ok(*term) && small(*last_log_index) && last_log_term <= term,
            Message::RequestVoteReply { term, .. } => term_ok(*term),
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
                // The last entry's index stays below the limit, as the log's does.
                let last_index = prev_log_index.saturating_add(entries.len() as u64);
                term_ok(*term)
                    && small(last_index)
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
                term_ok(*term)
                    && small(*match_index)
                    && small(*conflict_index)
                    && conflict_term.iter().all(|&t| small(t))
            }
            Message::InstallSnapshot {
                term,
                last_included_index,
                last_included_term,
                offset,
                data,
                ..
            } => {
                term_ok(*term)
                    && small(*last_included_index)
                    && last_included_term <= term
                    && offset
                        .checked_add(data.len() as u64)
                        .is_some_and(|end| end <= MAX_SNAPSHOT_BYTES)
            }
            Message::InstallSnapshotReply {
                term,
                last_included_index,
                offset,
                ..
            } => term_ok(*term) && small(*last_included_index) && *offset <= MAX_SNAPSHOT_BYTES,
        }
    }

    /// The wire encoding: the header byte [`WIRE_HEADER`], then the postcard payload (see
    /// [`codec`]). A message whose encoding would pass [`MAX_MESSAGE_BYTES`]
    /// (an InstallSnapshot of a huge snapshot, a huge batch of entries) is an error: it must
    /// not be sent, and it is not truncated or replaced by an empty frame.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        // Sized exactly, up front. Growing the buffer field by field cost a reallocation
        // every time it doubled (several per AppendEntries), and a buffer with room to
        // spare costs one more allocation when it becomes a `Bytes` for the network (a
        // shared header; an exactly full one becomes a `Bytes` as it is). Both were
        // measurable shares of a commit's malloc traffic (docs/performance.md §7,
        // "Allocations per commit"). A length past the limit is clamped: the limit stops
        // the encoding before the buffer could fill.
        let capacity = self
            .encoded_len()
            .min(usize::try_from(MAX_MESSAGE_BYTES).unwrap_or(usize::MAX));
        let mut buffer = Vec::with_capacity(capacity);
        buffer.push(WIRE_HEADER);
        // The header counts towards the limit: a frame is at most `MAX_MESSAGE_BYTES`.
        codec::encode_into(self, MAX_MESSAGE_BYTES - 1, buffer)
    }

    /// The length of this message's frame ([`Message::encode`]), header included: postcard
    /// writes each integer as a varint, a `bool` and an option tag as one byte, a byte
    /// string or sequence as its varint length and then its items, and the variant as its
    /// index (one byte for six variants). `encoded_len_is_exact` checks it for every
    /// variant; a wrong value would only cost a reallocation.
    fn encoded_len(&self) -> usize {
        use codec::varint_len as v;
        // Header and variant.
        const PREFIX: usize = 2;
        let fields = match self {
            Message::RequestVote {
                term,
                candidate,
                last_log_index,
                last_log_term,
            } => v(*term) + v(*candidate as u64) + v(*last_log_index) + v(*last_log_term),
            Message::RequestVoteReply { term, .. } => v(*term) + 1,
            Message::AppendEntries {
                term,
                leader,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => entries.iter().fold(
                v(*term)
                    + v(*leader as u64)
                    + v(*prev_log_index)
                    + v(*prev_log_term)
                    + v(entries.len() as u64)
                    + v(*leader_commit),
                |sum, entry| sum.saturating_add(entry.encoded_len()),
            ),
            Message::AppendEntriesReply {
                term,
                match_index,
                conflict_index,
                conflict_term,
                ..
            } => {
                v(*term) + 1 + v(*match_index) + v(*conflict_index) + 1 + conflict_term.map_or(0, v)
            }
            Message::InstallSnapshot {
                term,
                leader,
                last_included_index,
                last_included_term,
                offset,
                data,
                ..
            } => (v(*term)
                + v(*leader as u64)
                + v(*last_included_index)
                + v(*last_included_term)
                + v(*offset)
                + v(data.len() as u64)
                + 1)
            .saturating_add(data.len()),
            Message::InstallSnapshotReply {
                term,
                last_included_index,
                offset,
                ..
            } => v(*term) + v(*last_included_index) + v(*offset) + 1,
        };
        PREFIX.saturating_add(fields)
    }

    /// Decodes one message from a whole frame. Bytes from the network are untrusted: every
    /// malformed input is a [`DecodeError`], never a panic or a large allocation.
    ///
    /// Each entry's command is copied out of `bytes`; [`Message::decode_shared`] shares a
    /// frame held in [`Bytes`] instead.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        Ok(codec::decode(payload(bytes)?, MAX_MESSAGE_BYTES - 1)?)
    }

    /// [`Message::decode`] for a frame held in [`Bytes`]: every entry's command is a slice
    /// of `frame` ([`Bytes::slice_ref`], a reference count) rather than a copy, so
    /// receiving an AppendEntries of `n` entries allocates once for the entries' vector
    /// rather than `n + 1` times, and applying or persisting an entry later clones a shared
    /// `Bytes` without allocating. The price: the frame's buffer stays allocated until the
    /// last entry taken from it is dropped. A follower keeps every entry of a request in the
    /// usual case, so the frame holds little but them; when it keeps only a tail (a resend),
    /// the core copies the kept commands out (`merge_entries`), so a few entries never pin
    /// a frame of duplicates.
    /// Accepts and refuses exactly the frames [`Message::decode`] does, with the same
    /// result.
    pub fn decode_shared(frame: &Bytes) -> Result<Message, DecodeError> {
        let wire: Wire<'_> = codec::decode(payload(frame)?, MAX_MESSAGE_BYTES - 1)?;
        Ok(wire.into_message(frame))
    }
}

/// The payload of a frame after its version header.
fn payload(bytes: &[u8]) -> Result<&[u8], DecodeError> {
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
    Ok(payload)
}

/// [`Message`] as it lies in a received frame, borrowing every byte string from it: the
/// same serde shape (variants and fields in the same order, byte strings as
/// length-prefixed bytes), so the same bytes decode to both. Only for
/// [`Message::decode_shared`]; `messages_round_trip` checks that the two decoders agree.
#[derive(Deserialize)]
enum Wire<'a> {
    RequestVote {
        term: u64,
        candidate: usize,
        last_log_index: u64,
        last_log_term: u64,
    },
    RequestVoteReply {
        term: u64,
        vote_granted: bool,
    },
    AppendEntries {
        term: u64,
        leader: usize,
        prev_log_index: u64,
        prev_log_term: u64,
        #[serde(borrow)]
        entries: Vec<WireEntry<'a>>,
        leader_commit: u64,
    },
    AppendEntriesReply {
        term: u64,
        success: bool,
        match_index: u64,
        conflict_index: u64,
        conflict_term: Option<u64>,
    },
    InstallSnapshot {
        term: u64,
        leader: usize,
        last_included_index: u64,
        last_included_term: u64,
        offset: u64,
        data: &'a [u8],
        done: bool,
    },
    InstallSnapshotReply {
        term: u64,
        last_included_index: u64,
        offset: u64,
        done: bool,
    },
}

/// [`Entry`] borrowing its command from the frame.
#[derive(Deserialize)]
struct WireEntry<'a> {
    term: u64,
    command: &'a [u8],
}

impl Wire<'_> {
    /// The message, with every command a slice of `frame`, the buffer the wire message
    /// was decoded from.
    fn into_message(self, frame: &Bytes) -> Message {
        match self {
            Wire::RequestVote {
                term,
                candidate,
                last_log_index,
                last_log_term,
            } => Message::RequestVote {
                term,
                candidate,
                last_log_index,
                last_log_term,
            },
            Wire::RequestVoteReply { term, vote_granted } => {
                Message::RequestVoteReply { term, vote_granted }
            }
            Wire::AppendEntries {
                term,
                leader,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => Message::AppendEntries {
                term,
                leader,
                prev_log_index,
                prev_log_term,
                entries: entries
                    .into_iter()
                    .map(|entry| Entry {
                        term: entry.term,
                        // Borrowed from `frame` by construction, so `slice_ref` cannot
                        // panic; an empty command needs no buffer.
                        command: if entry.command.is_empty() {
                            Bytes::new()
                        } else {
                            frame.slice_ref(entry.command)
                        },
                    })
                    .collect(),
                leader_commit,
            },
            Wire::AppendEntriesReply {
                term,
                success,
                match_index,
                conflict_index,
                conflict_term,
            } => Message::AppendEntriesReply {
                term,
                success,
                match_index,
                conflict_index,
                conflict_term,
            },
            Wire::InstallSnapshot {
                term,
                leader,
                last_included_index,
                last_included_term,
                offset,
                data,
                done,
            } => Message::InstallSnapshot {
                term,
                leader,
                last_included_index,
                last_included_term,
                offset,
                data: data.to_vec(),
                done,
            },
            Wire::InstallSnapshotReply {
                term,
                last_included_index,
                offset,
                done,
            } => Message::InstallSnapshotReply {
                term,
                last_included_index,
                offset,
                done,
            },
        }
    }
}

/// The high bit marks a versioned frame; format 1 frames began with a variant tag (0–5).
const VERSIONED: u8 = 0x80;
/// The wire format this build writes and reads: 3 (postcard; InstallSnapshot in chunks,
/// with Figure 13's `offset` and `done`). Format 2 was postcard with whole snapshots,
/// format 1 bincode 1.
pub const WIRE_VERSION: u8 = 3;
/// The first byte of every message: the high bit set, then [`WIRE_VERSION`].
pub const WIRE_HEADER: u8 = VERSIONED | WIRE_VERSION;

/// Bytes that are not a valid [`Message`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A frame of zero bytes.
    #[error("empty message frame")]
    Empty,
    /// A frame of another wire format version (1: a bincode frame of an older build; 2: a
    /// frame without snapshot chunks).
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
                offset: 1 << 20,
                data: vec![9; 100],
                done: true,
            },
            Message::InstallSnapshotReply {
                term: 5,
                last_included_index: 9,
                offset: (1 << 20) + 100,
                done: false,
            },
        ];
        for message in messages {
            assert_eq!(
                Message::decode(&message.encode().unwrap()).unwrap(),
                message
            );
        }
    }

    /// One message of every variant, with entries (an empty command among them) and
    /// integers that take a varint's full 10 bytes.
    fn every_variant() -> Vec<Message> {
        let big = u64::MAX;
        vec![
            Message::RequestVote {
                term: big,
                candidate: usize::MAX,
                last_log_index: big,
                last_log_term: big,
            },
            Message::RequestVoteReply {
                term: big,
                vote_granted: true,
            },
            Message::AppendEntries {
                term: big,
                leader: usize::MAX,
                prev_log_index: big,
                prev_log_term: big,
                entries: vec![
                    Entry {
                        term: 4,
                        command: vec![1, 2, 3].into(),
                    },
                    Entry {
                        term: big,
                        command: Bytes::new(),
                    },
                    Entry {
                        term: 5,
                        command: vec![7; 300].into(),
                    },
                ],
                leader_commit: big,
            },
            Message::AppendEntriesReply {
                term: big,
                success: false,
                match_index: big,
                conflict_index: big,
                conflict_term: Some(big),
            },
            Message::InstallSnapshot {
                term: big,
                leader: usize::MAX,
                last_included_index: big,
                last_included_term: big,
                offset: big,
                data: vec![9; 200],
                done: true,
            },
            Message::InstallSnapshotReply {
                term: big,
                last_included_index: big,
                offset: big,
                done: false,
            },
        ]
    }

    /// `decode_shared` reads every variant as `decode` (the derived decoder) does, and
    /// refuses every cut of a valid frame as `decode` does: `Wire` has `Message`'s shape.
    #[test]
    fn shared_decode_agrees_with_decode() {
        for message in every_variant() {
            let frame = Bytes::from(message.encode().unwrap());
            assert_eq!(Message::decode_shared(&frame).unwrap(), message);
            for len in 0..frame.len() {
                assert_eq!(
                    Message::decode_shared(&frame.slice(..len)),
                    Message::decode(&frame[..len]),
                    "{message:?} cut at {len}"
                );
            }
            let mut long = frame.to_vec();
            long.push(0);
            assert_eq!(
                Message::decode_shared(&Bytes::from(long.clone())),
                Message::decode(&long)
            );
        }
    }

    /// The commands `decode_shared` returns point into the frame: no copy was made.
    #[test]
    fn shared_decode_borrows_commands_from_the_frame() {
        let message = &every_variant()[2];
        let frame = Bytes::from(message.encode().unwrap());
        let Ok(Message::AppendEntries { entries, .. }) = Message::decode_shared(&frame) else {
            panic!("not an AppendEntries");
        };
        let range = frame.as_ptr_range();
        for entry in entries.iter().filter(|e| !e.command.is_empty()) {
            let command = entry.command.as_ptr_range();
            assert!(
                range.start <= command.start && command.end <= range.end,
                "a command was copied out of the frame"
            );
        }
    }

    /// `encoded_len` is the frame's length, for every variant, at the smallest and the
    /// largest integers.
    #[test]
    fn encoded_len_is_exact() {
        let small = Message::AppendEntriesReply {
            term: 0,
            success: true,
            match_index: 0,
            conflict_index: 0,
            conflict_term: None,
        };
        for message in every_variant().into_iter().chain([small]) {
            let frame = message.encode().unwrap();
            assert_eq!(message.encoded_len(), frame.len(), "{message:?}");
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
    /// build), format 2 frames (whole snapshots) and frames announcing a later version are
    /// refused by version, never misread.
    #[test]
    fn other_versions_are_refused_by_version() {
        let old = DecodeError::UnsupportedVersion {
            found: 1,
            expected: WIRE_VERSION,
        };
        assert_eq!(Message::decode(FORMAT_1_REQUEST_VOTE), Err(old.clone()));
        assert_eq!(Message::decode(FORMAT_1_APPEND_ENTRIES), Err(old));
        assert_eq!(WIRE_HEADER, 0x83);
        // A format 2 InstallSnapshot (term 1, leader 0, index 1, term 1, data [7]): its
        // payload would misread as the start of a chunk (data as `offset`).
        assert_eq!(
            Message::decode(&[0x82, 4, 1, 0, 1, 1, 1, 7]),
            Err(DecodeError::UnsupportedVersion {
                found: 2,
                expected: WIRE_VERSION
            })
        );
        assert_eq!(
            Message::decode(&[VERSIONED | 4, 1, 1, 1]),
            Err(DecodeError::UnsupportedVersion {
                found: 4,
                expected: WIRE_VERSION
            })
        );
    }

    /// The bounds that keep a term from reaching what the state encoder refuses: a term up
    /// to `MAX_TERM` is well formed, one past it is not; an AppendEntries whose last entry
    /// would reach `MAX_INDEX_OR_TERM` is not; a chunk past `MAX_SNAPSHOT_BYTES` is not.
    #[test]
    fn terms_indices_and_chunks_are_bounded() {
        let vote = |term| Message::RequestVote {
            term,
            candidate: 1,
            last_log_index: 0,
            last_log_term: 0,
        };
        assert!(vote(MAX_TERM).is_well_formed());
        assert!(!vote(MAX_TERM + 1).is_well_formed());
        assert!(
            !vote(MAX_INDEX_OR_TERM - 1).is_well_formed(),
            "the finding's term"
        );
        let append = |prev_log_index, count| Message::AppendEntries {
            term: 1,
            leader: 0,
            prev_log_index,
            prev_log_term: 0,
            entries: vec![
                Entry {
                    term: 1,
                    command: Default::default()
                };
                count
            ],
            leader_commit: 0,
        };
        assert!(append(MAX_INDEX_OR_TERM - 2, 1).is_well_formed());
        assert!(!append(MAX_INDEX_OR_TERM - 2, 2).is_well_formed());
        assert!(!append(MAX_INDEX_OR_TERM - 1, 1).is_well_formed());
        let chunk = |offset, len| Message::InstallSnapshot {
            term: 1,
            leader: 0,
            last_included_index: 1,
            last_included_term: 1,
            offset,
            data: vec![0; len],
            done: false,
        };
        assert!(chunk(MAX_SNAPSHOT_BYTES - 2, 2).is_well_formed());
        assert!(!chunk(MAX_SNAPSHOT_BYTES - 2, 3).is_well_formed());
        assert!(!chunk(u64::MAX, 1).is_well_formed());
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
            offset: 0,
            data: vec![0; MAX_MESSAGE_BYTES as usize],
            done: true,
        };
        assert_eq!(
            message.encode(),
            Err(EncodeError::TooLarge {
                limit: MAX_MESSAGE_BYTES - 1
            })
        );
    }
}

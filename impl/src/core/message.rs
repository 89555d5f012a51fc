//! The RPCs of Figure 2 and §7, and their wire encoding.
//!
//! Requests and replies are both [`Message`]s; the runtime carries a request over a
//! transport call and feeds the reply back into the core. Decoding is bounded and returns
//! errors: bytes from the network are untrusted.

use serde::{Deserialize, Serialize};

use super::log::Entry;

/// Indices and terms at or above this are refused, so that no arithmetic on them can
/// overflow (a cluster would need 2^62 entries or elections to get there).
pub const MAX_INDEX_OR_TERM: u64 = 1 << 62;

/// Largest message the core decodes (a whole snapshot travels in one InstallSnapshot).
pub const MAX_MESSAGE_BYTES: u64 = 256 * 1024 * 1024;

/// A Raft RPC request or reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// §5.2: a candidate asks for a vote.
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
    /// §5.3: replication and heartbeats.
    AppendEntries {
        term: u64,
        leader: usize,
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
    },
    /// `match_index` is meaningful on success; the conflict hints on rejection (fast backup).
    AppendEntriesReply {
        term: u64,
        success: bool,
        match_index: u64,
        conflict_index: u64,
        conflict_term: Option<u64>,
    },
    /// §7: the whole snapshot in one message.
    InstallSnapshot {
        term: u64,
        leader: usize,
        last_included_index: u64,
        last_included_term: u64,
        // Length prefix plus one copy, not one serde call per byte; same bytes on the wire.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// Echoes the request's `last_included_index`.
    InstallSnapshotReply {
        term: u64,
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

    pub fn encode(&self) -> Vec<u8> {
        use bincode::Options;
        // Serialising a plain enum of integers and byte vectors into memory cannot fail
        // unless the size limit is exceeded, which only a snapshot larger than the limit can
        // do; such a message would be refused by every receiver anyway.
        options().serialize(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        use bincode::Options;
        options()
            .deserialize(bytes)
            .map_err(|e| DecodeError(e.to_string()))
    }
}

/// Bytes that are not a valid [`Message`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed message: {0}")]
pub struct DecodeError(pub String);

fn options() -> impl bincode::Options {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_limit(MAX_MESSAGE_BYTES)
        .with_varint_encoding()
        .reject_trailing_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(Message::decode(&message.encode()).unwrap(), message);
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
        .encode();
        assert!(Message::decode(&good[..good.len() - 1]).is_err());
        assert!(Message::decode(&[]).is_err());
        assert!(Message::decode(&[200, 255, 255, 255, 255]).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(Message::decode(&trailing).is_err());
        // An AppendEntries claiming 2^60 entries.
        let huge = [2u8, 1, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 16];
        assert!(Message::decode(&huge).is_err());
    }
}

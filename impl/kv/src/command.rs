//! What clients ask of the service and what it answers. A request carries the client's id
//! and a sequence number, so a request retried after a lost reply is applied once
//! (at-most-once semantics, as the Lab 3 handout asks).

use serde::{Deserialize, Serialize};

/// One operation on the key-value map.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// Sets `key` to `value`.
    Put {
        /// The key.
        key: String,
        /// Its new value.
        value: String,
    },
    /// Appends `value` to `key`'s value (an absent key counts as empty).
    Append {
        /// The key.
        key: String,
        /// What to append.
        value: String,
    },
    /// Reads `key`.
    Get {
        /// The key.
        key: String,
    },
    /// Sets `key` to `new` if its value is `expected` (`None`: absent).
    Cas {
        /// The key.
        key: String,
        /// The value it must have.
        expected: Option<String>,
        /// The value to set.
        new: String,
    },
}

impl Op {
    /// The key the operation acts on.
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. }
            | Op::Append { key, .. }
            | Op::Get { key }
            | Op::Cas { key, .. } => key,
        }
    }

    /// Whether the operation only reads.
    pub fn is_read(&self) -> bool {
        matches!(self, Op::Get { .. })
    }
}

/// An operation as it enters the log: who asked, and which of their requests it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The client's id (random, 64 bits).
    pub client: u64,
    /// The client's request number, from 1; a client has one request outstanding at a time
    /// and retries it with the same number until it is answered.
    pub seq: u64,
    /// The operation.
    pub op: Op,
}

/// The result of an applied operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// A put or append was applied.
    Done,
    /// A get's result (`None`: the key is absent).
    Value(Option<String>),
    /// A compare-and-set's result: whether it set the value, and the value it found.
    Cas {
        /// Whether the value was set.
        swapped: bool,
        /// The value found (before the set).
        found: Option<String>,
    },
}

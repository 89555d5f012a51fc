//! The replicated state machine: the map, and per client the last request applied and its
//! outcome (so a duplicate is answered without applying it twice). Both are in snapshots:
//! a server restored from a snapshot must still recognise duplicates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::{Op, Outcome, Request};

/// The largest snapshot this service decodes (a bound on untrusted bytes from disk).
const MAX_SNAPSHOT_BYTES: usize = 1 << 30;

/// Why a snapshot could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Over [`MAX_SNAPSHOT_BYTES`].
    #[error("snapshot of {0} bytes is over the limit")]
    TooLarge(usize),
    /// Not a snapshot of this service.
    #[error("snapshot does not decode")]
    Decode(#[from] postcard::Error),
}

/// The key-value map and the client sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    data: BTreeMap<String, String>,
    /// Per client: the last sequence number applied and its outcome.
    sessions: BTreeMap<u64, (u64, Outcome)>,
}

/// What applying a request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Applied now (or, for a retry of the last request, applied earlier): its outcome.
    Outcome(Outcome),
    /// An older request than the client's last: the client has moved on, so no one waits.
    Stale,
}

impl Store {
    /// Applies `request` unless it was applied already (at-most-once).
    pub fn apply(&mut self, request: &Request) -> Applied {
        if let Some((last, outcome)) = self.sessions.get(&request.client) {
            if request.seq == *last {
                return Applied::Outcome(outcome.clone());
            }
            if request.seq < *last {
                return Applied::Stale;
            }
        }
        let outcome = self.run(&request.op);
        self.sessions
            .insert(request.client, (request.seq, outcome.clone()));
        Applied::Outcome(outcome)
    }

    fn run(&mut self, op: &Op) -> Outcome {
        match op {
            Op::Put { key, value } => {
                self.data.insert(key.clone(), value.clone());
                Outcome::Done
            }
            Op::Append { key, value } => {
                self.data.entry(key.clone()).or_default().push_str(value);
                Outcome::Done
            }
            Op::Get { key } => Outcome::Value(self.data.get(key).cloned()),
            Op::Cas { key, expected, new } => {
                let found = self.data.get(key).cloned();
                let swapped = found == *expected;
                if swapped {
                    self.data.insert(key.clone(), new.clone());
                }
                Outcome::Cas { swapped, found }
            }
        }
    }

    /// Reads `key` from this server's copy, without the log (only for the deliberately
    /// broken `--stale-reads` mode).
    pub fn read_local(&self, key: &str) -> Option<String> {
        self.data.get(key).cloned()
    }

    /// The outcome recorded for `client`'s request `seq`, if it is the last one applied.
    pub fn outcome_of(&self, client: u64, seq: u64) -> Option<Outcome> {
        match self.sessions.get(&client) {
            Some((last, outcome)) if *last == seq => Some(outcome.clone()),
            _ => None,
        }
    }

    /// The snapshot bytes.
    pub fn encode(&self) -> Vec<u8> {
        // A BTreeMap of strings always serialises; an error here would be a postcard bug.
        postcard::to_stdvec(self).unwrap_or_else(|error| {
            tracing::error!(%error, "snapshot encoding failed");
            Vec::new()
        })
    }

    /// Restores from snapshot bytes (empty: the empty store).
    pub fn decode(bytes: &[u8]) -> Result<Store, SnapshotError> {
        if bytes.is_empty() {
            return Ok(Store::default());
        }
        if bytes.len() > MAX_SNAPSHOT_BYTES {
            return Err(SnapshotError::TooLarge(bytes.len()));
        }
        Ok(postcard::from_bytes(bytes)?)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(client: u64, seq: u64, op: Op) -> Request {
        Request { client, seq, op }
    }

    #[test]
    fn a_retried_request_is_applied_once() {
        let mut store = Store::default();
        let append = |seq| {
            request(
                1,
                seq,
                Op::Append {
                    key: "k".into(),
                    value: "x".into(),
                },
            )
        };
        assert_eq!(store.apply(&append(1)), Applied::Outcome(Outcome::Done));
        assert_eq!(store.apply(&append(1)), Applied::Outcome(Outcome::Done));
        assert_eq!(store.read_local("k").as_deref(), Some("x"));
        assert_eq!(store.apply(&append(2)), Applied::Outcome(Outcome::Done));
        assert_eq!(store.apply(&append(1)), Applied::Stale);
        assert_eq!(store.read_local("k").as_deref(), Some("xx"));
    }

    #[test]
    fn cas_and_snapshots_round_trip() {
        let mut store = Store::default();
        let cas = |seq, expected: Option<&str>, new: &str| {
            request(
                2,
                seq,
                Op::Cas {
                    key: "c".into(),
                    expected: expected.map(Into::into),
                    new: new.into(),
                },
            )
        };
        assert_eq!(
            store.apply(&cas(1, None, "a")),
            Applied::Outcome(Outcome::Cas {
                swapped: true,
                found: None
            })
        );
        assert_eq!(
            store.apply(&cas(2, Some("b"), "c")),
            Applied::Outcome(Outcome::Cas {
                swapped: false,
                found: Some("a".into())
            })
        );
        let restored = Store::decode(&store.encode()).unwrap();
        assert_eq!(restored, store);
        assert_eq!(restored.outcome_of(2, 2), store.outcome_of(2, 2));
        assert!(Store::decode(&[0xFF; 9]).is_err());
    }
}

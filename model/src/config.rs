//! The bounds a check runs under. Every bound is stated in the report: a bound on messages
//! in flight, crashes or proposals is an under-approximation, and the verdict holds only
//! for the runs it admits.

use crate::bugs::Bug;
use crate::types::Term;

/// The model's configuration: cluster size, bounds, which faults are on, and an optional
/// bug variant that switches off one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Number of servers (1..=8).
    pub servers: u8,
    /// No server times out into a term above this.
    pub max_term: Term,
    /// Client requests proposed over the whole run (each carries a distinct value 1, 2, …).
    pub max_requests: u8,
    /// Crash-and-restart events over the whole run (0 = no crashes).
    pub max_crashes: u8,
    /// `Snapshot` actions over the whole run; `None` = only bounded by the log.
    pub max_snapshots: Option<u8>,
    /// Message copies in flight at once; `None` = unbounded (needs duplicates off).
    pub max_inflight: Option<u8>,
    /// Whether the service may compact its log (§7).
    pub snapshots: bool,
    /// Whether the network may duplicate a message.
    pub duplicates: bool,
    /// Whether the network may lose a message.
    pub drops: bool,
    /// A rule switched off on purpose, to show the checker finds the consequence.
    pub bug: Option<Bug>,
    /// Drop replies that can no longer have an effect as soon as they become dead (see
    /// `network::is_dead`). Sound for safety; `raft-conformance` may turn it off to keep the
    /// model's network equal to a real one.
    pub prune_dead_messages: bool,
    /// At most this many entries in one AppendEntries; `None` = every entry from
    /// `next_index` (protocol.md). A cap models an implementation that sends a bounded
    /// prefix (`raft-impl`'s `max_entries_per_message`); the follower's rules are unchanged,
    /// the leader sends the rest after the reply.
    pub max_entries_per_message: Option<u8>,
    /// Whether each server has a durable prefix (Raft thesis §10.2.1, rules D1-D3 of
    /// `docs/protocol.md`): a leader's `ClientRequest` appends an entry that is not yet on
    /// stable storage, `Action::Sync` makes it durable, and a crash keeps only the durable
    /// prefix. When off, an appended entry is durable at once (the model before §10.2.1).
    pub durable_prefix: bool,
    /// Pipelined replication (rule L5 of `docs/protocol.md`, `raft-impl`'s
    /// `max_inflight_appends > 1`): an `AppendEntries` action that sends entries also
    /// advances the sender's `next_index[peer]` past them (optimistically, before any
    /// reply), so the next request carries the entries after them. How many requests may
    /// be outstanding is not modelled (flow control decides when, never what): any number,
    /// up to `max_inflight`. When off, `next_index` moves only on replies (Figure 2).
    pub pipelined: bool,
}

impl Default for Config {
    /// The main job's bound: see `docs/model.md` ("Bounds").
    fn default() -> Self {
        Config {
            servers: 3,
            max_term: 3,
            max_requests: 1,
            max_crashes: 1,
            max_snapshots: Some(1),
            max_inflight: Some(2),
            snapshots: true,
            duplicates: true,
            drops: true,
            bug: None,
            prune_dead_messages: true,
            max_entries_per_message: None,
            durable_prefix: true,
            pipelined: false,
        }
    }
}

impl Config {
    /// Checks that the bounds describe a finite, meaningful model; the message says why not
    /// and names the flag to change. (`check::refuse_vacuous` then refuses a bound under
    /// which the protocol cannot move, which needs the model.)
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=8).contains(&self.servers) {
            return Err(format!("--servers must be 1..=8, got {}", self.servers));
        }
        if self.max_term == 0 {
            return Err("--max-term must be at least 1 (no election can happen in term 0)".into());
        }
        if self.max_term > 30 || self.max_requests > 60 {
            return Err("--max-term must be <= 30 and --max-requests <= 60".into());
        }
        if self.max_inflight == Some(0) {
            return Err("--max-inflight must be at least 1 (or `unlimited`)".into());
        }
        if self.max_entries_per_message == Some(0) {
            return Err("max_entries_per_message must be at least 1 (or none)".into());
        }
        // A timeout sends RequestVote to every other server in one step (protocol.md), so
        // with less room than that no election can ever start and every property would
        // hold vacuously.
        if let Some(max) = self.max_inflight {
            if self.servers > 1 && max < self.servers - 1 {
                return Err(format!(
                    "--max-inflight must be at least servers-1 = {} for a timeout to send its \
                     RequestVotes (got {max}); raise --max-inflight or lower --servers",
                    self.servers - 1
                ));
            }
        }
        if self.max_inflight.is_none() && self.duplicates {
            return Err(
                "--max-inflight unlimited needs --no-duplicates (duplication is unbounded)".into(),
            );
        }
        Ok(())
    }

    /// Whether the bug variant `bug` is switched on.
    pub fn has_bug(&self, bug: Bug) -> bool {
        self.bug == Some(bug)
    }

    /// One line naming every bound, for reports.
    pub fn describe(&self) -> String {
        let opt = |v: Option<u8>| v.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
        format!(
            "servers={} max-term={} max-requests={} max-crashes={} snapshots={} max-snapshots={} \
             max-inflight={} duplicates={} drops={} durable-prefix={} bug={}",
            self.servers,
            self.max_term,
            self.max_requests,
            self.max_crashes,
            if self.snapshots { "on" } else { "off" },
            opt(self.max_snapshots),
            opt(self.max_inflight),
            if self.duplicates { "on" } else { "off" },
            if self.drops { "on" } else { "off" },
            if self.durable_prefix { "on" } else { "off" },
            self.bug.map_or("none", Bug::name),
        ) + &self
            .max_entries_per_message
            .map_or_else(String::new, |cap| format!(" max-entries-per-message={cap}"))
            + if self.pipelined { " pipelined=on" } else { "" }
    }
}

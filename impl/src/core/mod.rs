//! The sans-IO Raft core: one server's state machine, Figure 2 and §7 of the extended Raft
//! paper, following `docs/protocol.md` rule for rule.
//!
//! Everything enters through [`Core::step`]: a tick (the only notion of time), a received
//! message, a proposed command or a service snapshot. Everything leaves in the returned
//! [`Ready`]. There are no threads, clocks or I/O here; the only randomness (election
//! timeouts, §5.2) comes from a seeded ChaCha RNG, so a run is a pure function of its inputs.
//!
//! Files, one per Figure 2 concern: [`log`] (the log with its compacted prefix),
//! `election` (§5.2, §5.4.1), `replication` (§5.3), `commit` (§5.3, §5.4.2), `snapshot` (§7),
//! `durability` (the durable index, Raft thesis §10.2.1),
//! [`message`] (the RPCs), [`persist`] (the persistent state's encoding), [`codec`] (the
//! one binary encoding both use), [`role`].

// First: the `mutated!` fault points are macros, visible only in modules declared after it.
// The module is public only with the test feature that gives it public items.
#[cfg(feature = "mutations")]
#[macro_use]
pub mod mutation;
pub mod codec;
#[cfg(not(feature = "mutations"))]
#[macro_use]
mod mutation;
mod chunk;
mod commit;
mod durability;
#[cfg(test)]
mod durability_tests;
mod election;
#[cfg(test)]
mod fuzz_tests;
pub mod log;
pub mod message;
pub mod persist;
#[cfg(test)]
mod pipeline_tests;
mod replication;
pub mod role;
mod snapshot;
#[cfg(test)]
mod tests;

use std::sync::Arc;

/// The shared byte type of commands, re-exported so callers need no `bytes` dependency.
pub use bytes::Bytes;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use codec::{EncodeError, PayloadError};
pub use log::{Entry, Log, LogError};
pub use message::{
    DecodeError, Message, MAX_COMMAND_BYTES, MAX_MESSAGE_BYTES, MAX_TERM, MESSAGE_OVERHEAD_BYTES,
};
pub use persist::{HardState, LogChange, Persist, PersistentState, SnapshotChange, StateError};
pub use role::Role;
use role::RoleState;

/// The default `max_bytes_per_message` and `snapshot_chunk_bytes`: 1 MiB.
pub const DEFAULT_MESSAGE_BYTES: usize = 1 << 20;

/// Largest cluster a core accepts ([`ConfigError::TooManyServers`]): the per-server
/// vectors of a candidate and a leader stay small, and an absurd `servers` is an error
/// rather than an allocation failure.
pub const MAX_SERVERS: usize = 1 << 16;

/// Static configuration of one server's core. Times are in ticks. [`Core::new`] and
/// [`Core::restore`] check it ([`Config::validate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// This server's id, `0..servers`.
    pub id: usize,
    /// Number of servers in the cluster (including this one), `1..=`[`MAX_SERVERS`].
    pub servers: usize,
    /// Election timeouts are drawn uniformly from `election_timeout_ticks_min..=
    /// election_timeout_ticks_max` ticks (§5.2); the minimum is at least 1.
    pub election_timeout_ticks_min: u32,
    /// The largest election timeout, at least `election_timeout_ticks_min`.
    pub election_timeout_ticks_max: u32,
    /// A leader sends AppendEntries to every follower at least this often (at least 1).
    /// The core does not require it to be below the election timeout (deterministic tests
    /// use degenerate timings); the runtime does ([`crate::runtime::TimingError`]).
    pub heartbeat_interval_ticks: u32,
    /// Cap on entries carried by one AppendEntries (at least 1).
    pub max_entries_per_message: usize,
    /// Cap on the encoded size of one AppendEntries, in bytes: a batch stops before the
    /// entry that would pass it, but always carries at least one entry. Above
    /// [`MESSAGE_OVERHEAD_BYTES`], at most [`MAX_MESSAGE_BYTES`]. A leader refuses a
    /// command larger than [`Config::max_command_bytes`], so that one entry always fits.
    pub max_bytes_per_message: usize,
    /// Snapshot bytes per InstallSnapshot chunk (Figure 13); a chunk message encodes to at
    /// most this plus [`MESSAGE_OVERHEAD_BYTES`]. At least 1, at most [`MAX_MESSAGE_BYTES`]
    /// minus [`MESSAGE_OVERHEAD_BYTES`].
    pub snapshot_chunk_bytes: usize,
    /// A request to a follower counts as outstanding (so new entries wait for its reply)
    /// for at most this many ticks; after that it is presumed lost or delayed.
    pub in_flight_timeout_ticks: u32,
    /// AppendEntries carrying new entries that may be outstanding to one follower at once
    /// (pipelining, at least 1). With 1, new entries wait for the reply to the previous
    /// request; with more, the leader sends the next batch without waiting.
    pub max_inflight_appends: usize,
    /// Seed of the election-timeout RNG.
    pub seed: u64,
}

/// A [`Config`] that no server can run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `servers` is 0.
    #[error("a cluster needs at least one server")]
    NoServers,
    /// `servers` is above [`MAX_SERVERS`].
    #[error("a cluster of {servers} servers is above the limit of {max}")]
    TooManyServers {
        /// The configured number of servers.
        servers: usize,
        /// [`MAX_SERVERS`].
        max: usize,
    },
    /// `id` is not below `servers`.
    #[error("server id {id} is not in a cluster of {servers}")]
    IdOutOfRange {
        /// The configured id.
        id: usize,
        /// The configured number of servers.
        servers: usize,
    },
    /// The election timeout range is empty or starts at 0 ticks.
    #[error("election timeout range {min}..={max} ticks is empty or starts at 0")]
    ElectionTimeout {
        /// `election_timeout_ticks_min`.
        min: u32,
        /// `election_timeout_ticks_max`.
        max: u32,
    },
    /// `heartbeat_interval_ticks` is 0.
    #[error("the heartbeat interval is 0 ticks")]
    ZeroHeartbeatInterval,
    /// `max_entries_per_message` is 0: no entry could ever be sent.
    #[error("max_entries_per_message is 0")]
    ZeroBatch,
    /// `max_inflight_appends` is 0: nothing could ever be sent.
    #[error("max_inflight_appends is 0")]
    ZeroInflight,
    /// `max_bytes_per_message` leaves no room for a command, or is above
    /// [`MAX_MESSAGE_BYTES`].
    #[error("max_bytes_per_message {bytes} is not in {min}..={max}")]
    MessageBytes {
        /// The configured `max_bytes_per_message`.
        bytes: usize,
        /// The smallest allowed: [`MESSAGE_OVERHEAD_BYTES`] + 1.
        min: usize,
        /// The largest allowed: [`MAX_MESSAGE_BYTES`].
        max: usize,
    },
    /// `snapshot_chunk_bytes` is 0, or a chunk message could pass [`MAX_MESSAGE_BYTES`].
    #[error("snapshot_chunk_bytes {bytes} is not in 1..={max}")]
    SnapshotChunkBytes {
        /// The configured `snapshot_chunk_bytes`.
        bytes: usize,
        /// The largest allowed: [`MAX_MESSAGE_BYTES`] - [`MESSAGE_OVERHEAD_BYTES`].
        max: usize,
    },
}

/// Why [`Core::restore`] could not make a server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The configuration is invalid.
    #[error("invalid core configuration")]
    Config(#[from] ConfigError),
    /// The raft state bytes do not decode.
    #[error("persisted raft state cannot be decoded")]
    State(#[from] StateError),
    /// A snapshot was persisted without any raft state (the two are saved together, so
    /// one without the other is damage, not a fresh server).
    #[error("a snapshot of {snapshot_bytes} bytes without raft state")]
    SnapshotWithoutState {
        /// Length of the orphan snapshot.
        snapshot_bytes: usize,
    },
    /// The persisted vote names a server outside the configured cluster.
    #[error("persisted vote for server {voted_for}, outside the cluster of {servers}")]
    VoteOutsideCluster {
        /// The persisted `voted_for`.
        voted_for: usize,
        /// The configured number of servers.
        servers: usize,
    },
}

impl Config {
    /// A configuration with the runtime's defaults (10 ms ticks: heartbeats every 100 ms,
    /// elections after 300–600 ms).
    pub fn new(id: usize, servers: usize, seed: u64) -> Self {
        Config {
            id,
            servers,
            election_timeout_ticks_min: 30,
            election_timeout_ticks_max: 60,
            heartbeat_interval_ticks: 10,
            max_entries_per_message: 512,
            max_bytes_per_message: DEFAULT_MESSAGE_BYTES,
            snapshot_chunk_bytes: DEFAULT_MESSAGE_BYTES,
            in_flight_timeout_ticks: 5,
            max_inflight_appends: 1,
            seed,
        }
    }

    /// The largest command a leader with this configuration accepts: one entry of it
    /// fits an AppendEntries of `max_bytes_per_message` ([`MESSAGE_OVERHEAD_BYTES`] less).
    /// A larger `Propose` is refused (`Ready::proposed` stays `None`), so a runtime can
    /// report it as too large before stepping the core.
    pub fn max_command_bytes(&self) -> usize {
        self.max_bytes_per_message
            .saturating_sub(MESSAGE_OVERHEAD_BYTES)
    }

    /// Checks what a server needs to run: `id < servers <= MAX_SERVERS`, a non-empty
    /// election timeout range of at least one tick, positive heartbeat and batch sizes,
    /// and message and chunk sizes within [`MAX_MESSAGE_BYTES`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.servers == 0 {
            return Err(ConfigError::NoServers);
        }
        if self.servers > MAX_SERVERS {
            return Err(ConfigError::TooManyServers {
                servers: self.servers,
                max: MAX_SERVERS,
            });
        }
        if self.id >= self.servers {
            return Err(ConfigError::IdOutOfRange {
                id: self.id,
                servers: self.servers,
            });
        }
        let (min, max) = (
            self.election_timeout_ticks_min,
            self.election_timeout_ticks_max,
        );
        if min == 0 || min > max {
            return Err(ConfigError::ElectionTimeout { min, max });
        }
        if self.heartbeat_interval_ticks == 0 {
            return Err(ConfigError::ZeroHeartbeatInterval);
        }
        if self.max_entries_per_message == 0 {
            return Err(ConfigError::ZeroBatch);
        }
        if self.max_inflight_appends == 0 {
            return Err(ConfigError::ZeroInflight);
        }
        let max = MAX_MESSAGE_BYTES as usize;
        if !(MESSAGE_OVERHEAD_BYTES + 1..=max).contains(&self.max_bytes_per_message) {
            return Err(ConfigError::MessageBytes {
                bytes: self.max_bytes_per_message,
                min: MESSAGE_OVERHEAD_BYTES + 1,
                max,
            });
        }
        let max_chunk = max - MESSAGE_OVERHEAD_BYTES;
        if !(1..=max_chunk).contains(&self.snapshot_chunk_bytes) {
            return Err(ConfigError::SnapshotChunkBytes {
                bytes: self.snapshot_chunk_bytes,
                max: max_chunk,
            });
        }
        Ok(())
    }
}

/// One input to [`Core::step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// One unit of time has passed.
    Tick,
    /// A request or reply arrived from server `from`.
    Message {
        /// The server the message came from (the link it arrived on).
        from: usize,
        /// The decoded message.
        message: Message,
    },
    /// The service asks to replicate a command (ignored unless this server is leader).
    Propose(Bytes),
    /// The service has a snapshot of everything up to and including `index` (§7).
    Snapshot {
        /// The last index the snapshot covers.
        index: u64,
        /// The service's snapshot bytes (opaque to the core).
        data: Vec<u8>,
    },
    /// The caller's storage has made durable every [`Persist`] this core handed out up to
    /// and including the one whose log ends at `(index, term)` (Raft thesis §10.2.1: a
    /// leader counts itself toward a commit quorum only up to its durable index). Feed it
    /// after each successful sync, with the last log index and term as of the last
    /// `Persist` the sync covered ([`Core::last_log_index`] and the log's last term taken
    /// right after that step, or simply now if no step ran since).
    ///
    /// Ignored if the log no longer holds `term` at `index` (rewritten since, or past its
    /// end); never lowers the durable index ([`Core::durable_index`]). A leader may commit
    /// in this step, so its `Ready` can carry applies and AppendEntries requests.
    Persisted {
        /// The last log index known durable.
        index: u64,
        /// The term of the entry at `index` (so a truncated-and-rewritten index is told
        /// apart from the one that was written).
        term: u64,
    },
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The server to send it to.
    pub to: usize,
    /// What to send.
    pub message: Message,
}

/// What the service must apply, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Apply {
    /// A committed entry.
    Entry {
        /// Its log index.
        index: u64,
        /// The term it was proposed in.
        term: u64,
        /// The command, as proposed.
        command: Bytes,
    },
    /// A snapshot received from the leader; it replaces the service's state.
    Snapshot {
        /// The last index it covers.
        index: u64,
        /// The term of that index.
        term: u64,
        /// The service's snapshot bytes.
        data: Arc<Vec<u8>>,
    },
}

/// The largest vector [`Core::recycle`] keeps for reuse, in elements: a step of a busy
/// node produces a few messages, applies or new entries, and a burst (a new leader's
/// commit of a long log, §5.4.2) should give its room back rather than keep it.
const SPARE_CAPACITY: usize = 1024;

/// Everything one step produced. The caller's obligations, in this order:
///
/// 1. **`persist`**: if `Some`, write it to storage, in step order. It is a delta: apply
///    it to the stored state ([`Persist::apply_to`]), or, for a whole-state persister,
///    save [`Core::encode_persistent_state`] and [`Core::snapshot_data`] taken after this
///    step. A snapshot in it must be stored atomically (it raises the durable index at
///    once, see [`Core::durable_index`]); the hard state and log may wait for a sync.
/// 2. **`messages`**: send them, in any order; losing some is allowed (Raft retries). What
///    may leave before this step's `persist` is durable (Raft thesis §10.2.1):
///    - a leader's **requests** — `AppendEntries` and `InstallSnapshot` — may leave at
///      once: the leader counts its own copy toward a commit only up to its durable index,
///      so sending early is safe;
///    - **everything else waits for the sync**: replies (`AppendEntriesReply`,
///      `InstallSnapshotReply`: an acknowledgement promises the entries survive a crash),
///      votes (`RequestVoteReply`: a granted vote must survive, Figure 2 "respond to RPCs
///      only after updating stable storage") and a candidate's `RequestVote` (its vote
///      for itself and its term). A step without `persist` has nothing to wait for.
///
///    A message that is a reply to a request just received is the answer to that RPC.
/// 3. **`applies`**: hand them to the service in this order, after everything earlier
///    steps returned; each is committed, and they are contiguous across steps. They may
///    be handed over before the sync: a commit never depends on the leader's undurable
///    entries.
/// 4. **`Input::Persisted`**: after each successful sync, step the core with
///    [`Input::Persisted`] naming the last log index and term the sync covers. Until then
///    a leader does not count its own unsynced entries, so without it a single-server
///    cluster never commits and a larger one commits only through its followers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ready {
    /// What to make durable first (obligation 1).
    pub persist: Option<Persist>,
    /// What to send next (obligation 2).
    pub messages: Vec<Outgoing>,
    /// What to hand to the service, in order (obligation 3).
    pub applies: Vec<Apply>,
    /// For an accepted `Propose`: the new entry's `(index, term)`.
    pub proposed: Option<(u64, u64)>,
}

/// One Raft server's protocol state.
#[derive(Debug, Clone)]
pub struct Core {
    config: Config,
    // Figure 2, persistent state.
    current_term: u64,
    voted_for: Option<usize>,
    log: Log,
    snapshot_data: Arc<Vec<u8>>,
    // Figure 2, volatile state. Invariant: snapshot_index <= last_applied <= commit_index
    // <= last_index; at the end of every step last_applied == commit_index.
    commit_index: u64,
    last_applied: u64,
    state: RoleState,
    leader_id: Option<usize>,
    // Timers, in ticks.
    election_elapsed_ticks: u32,
    election_timeout_ticks: u32,
    heartbeat_elapsed_ticks: u32,
    /// Ticks since this core was created (only for `Progress::in_flight`).
    ticks: u64,
    rng: ChaCha8Rng,
    // Output of the step in progress.
    ready: Ready,
    /// Empty vectors handed back by [`Core::recycle`], for the next steps' `ready` and
    /// log change: not part of the protocol state.
    spare: Ready,
    spare_entries: Vec<Entry>,
    dirty: bool,
    /// Term and vote as last handed out in `Ready::persist`.
    persisted_hard_state: HardState,
    /// The last log index known to be on stable storage (Raft thesis §10.2.1; see
    /// `durability`). Invariant: snapshot_index <= durable_index <= last_index.
    durable_index: u64,
    /// The snapshot being received in chunks (Figure 13), if any: volatile.
    receiving_snapshot: Option<chunk::Partial>,
    /// The deliberate bug this core runs with (test feature `mutations` only).
    #[cfg(feature = "mutations")]
    mutation: Option<mutation::Mutation>,
}

impl Core {
    /// A fresh server: term 0, empty log, follower; an error if `config` is invalid.
    pub fn new(config: Config) -> Result<Core, ConfigError> {
        config.validate()?;
        Ok(Core::from_state(
            config,
            PersistentState::default(),
            Arc::new(Vec::new()),
        ))
    }

    /// A server restarting from persisted state (§7: commit and applied start at the
    /// snapshot; the service restores itself from the same snapshot). Empty `raft_state`
    /// means a fresh server.
    pub fn restore(
        config: Config,
        raft_state: &[u8],
        snapshot: Vec<u8>,
    ) -> Result<Core, RestoreError> {
        config.validate()?;
        if raft_state.is_empty() {
            if !snapshot.is_empty() {
                return Err(RestoreError::SnapshotWithoutState {
                    snapshot_bytes: snapshot.len(),
                });
            }
            return Ok(Core::from_state(
                config,
                PersistentState::default(),
                Arc::new(Vec::new()),
            ));
        }
        let state = PersistentState::decode(raft_state)?;
        Core::recover(config, state, Arc::new(snapshot))
    }

    /// A server restarting from a state its storage recovered (already decoded, for
    /// example by [`crate::storage::Storage`]), with the service snapshot saved beside it.
    /// The state is checked as [`PersistentState::decode`] checks it.
    pub fn recover(
        config: Config,
        state: PersistentState,
        snapshot: Arc<Vec<u8>>,
    ) -> Result<Core, RestoreError> {
        config.validate()?;
        state.check()?;
        if let Some(voted_for) = state.voted_for.filter(|&v| v >= config.servers) {
            return Err(RestoreError::VoteOutsideCluster {
                voted_for,
                servers: config.servers,
            });
        }
        Ok(Core::from_state(config, state, snapshot))
    }

    /// A server from a validated `config` and a decoded, validated `state`.
    fn from_state(config: Config, state: PersistentState, snapshot_data: Arc<Vec<u8>>) -> Core {
        debug_assert_eq!(config.validate(), Ok(()));
        #[cfg(feature = "mutations")]
        let mutation = mutation::ambient();
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut core = Core {
            current_term: state.current_term,
            // Mutation ForgetVoteOnRestart breaks Figure 2's persistent `votedFor`.
            voted_for: state
                .voted_for
                .filter(|_| !mutated!(mutation, ForgetVoteOnRestart)),
            log: Log::new(state.snapshot_index, state.snapshot_term, state.entries),
            snapshot_data,
            commit_index: state.snapshot_index,
            last_applied: state.snapshot_index,
            state: RoleState::Follower,
            leader_id: None,
            election_elapsed_ticks: 0,
            election_timeout_ticks: config.election_timeout_ticks_min,
            heartbeat_elapsed_ticks: 0,
            ticks: 0,
            rng,
            ready: Ready::default(),
            spare: Ready::default(),
            spare_entries: Vec::new(),
            dirty: false,
            persisted_hard_state: HardState::default(),
            durable_index: 0,
            receiving_snapshot: None,
            config,
            #[cfg(feature = "mutations")]
            mutation,
        };
        // What it was restored from is on disk already: the hard state, and the whole log.
        core.persisted_hard_state = HardState {
            current_term: core.current_term,
            voted_for: core.voted_for,
        };
        core.durable_index = core.log.last_index();
        core.reset_election_timer();
        // A decoded state passed `PersistentState::decode`'s checks (terms ordered, none
        // after the current term), so the invariants hold by construction.
        #[cfg(debug_assertions)]
        core.check_invariants();
        core
    }

    /// Selects the deliberate bug this core runs with from now on (`None`: none). Test
    /// feature `mutations` only; see [`mutation`].
    #[cfg(feature = "mutations")]
    pub fn set_mutation(&mut self, mutation: Option<mutation::Mutation>) {
        self.mutation = mutation;
    }

    /// The single entry point: consumes one input, returns what the caller must do.
    ///
    /// Every input is accepted: a message from an unknown server, a malformed or forged
    /// one, or a snapshot index out of range is dropped or ignored, never an error.
    ///
    /// # Panics
    /// Never because of an input. Only a bug of this crate that breaks an internal invariant
    /// panics: with debug assertions, [`Core::check_invariants`] at the end of every step
    /// reports it; in any build, a log index that breaks the log's shape (a committed entry
    /// missing, a truncation into the snapshot: continuing would hand the service a wrong
    /// entry or lose a committed one) stops the step.
    pub fn step(&mut self, input: Input) -> Ready {
        #[cfg(debug_assertions)]
        let term_before = self.current_term;
        match input {
            Input::Tick => self.tick(),
            Input::Message { from, message } => self.receive(from, message),
            Input::Propose(command) => self.propose(command),
            Input::Snapshot { index, data } => self.compact(index, data),
            Input::Persisted { index, term } => self.persisted(index, term),
        }
        self.apply_committed();
        // Handing out the step's writes settles the durable index (a truncation lowers
        // it), so the invariants are checked after.
        let ready = self.take_ready();
        #[cfg(debug_assertions)]
        {
            assert!(self.current_term >= term_before, "term moved backwards");
            self.check_invariants();
        }
        ready
    }

    fn tick(&mut self) {
        self.ticks += 1;
        if self.role() == Role::Leader {
            self.heartbeat_elapsed_ticks += 1;
            if self.heartbeat_elapsed_ticks >= self.config.heartbeat_interval_ticks {
                self.heartbeat_elapsed_ticks = 0;
                self.broadcast_append_entries(true);
            }
        } else {
            self.election_elapsed_ticks += 1;
            if self.election_elapsed_ticks >= self.election_timeout_ticks {
                self.campaign();
            }
        }
    }

    /// Term normalisation (Figure 2, "All Servers"), then the message's handler.
    fn receive(&mut self, from: usize, message: Message) {
        if from >= self.config.servers || from == self.config.id {
            return; // Not a peer: untrusted input is dropped, never panicked on.
        }
        if message.sender().is_some_and(|sender| sender != from) || !message.is_well_formed() {
            return;
        }
        let term = message.term();
        if term > self.current_term {
            // Mutation LeaderKeepsLeading breaks "All Servers": a leader adopts the term only.
            if mutated!(self.mutation, LeaderKeepsLeading) && self.role() == Role::Leader {
                self.current_term = term;
            } else {
                self.become_follower(term);
            }
        }
        // Mutation AcceptStaleReply breaks "All Servers": an older term's reply is used.
        let use_stale = mutated!(self.mutation, AcceptStaleReply) && !message.is_request();
        if term < self.current_term && !use_stale {
            if message.is_request() {
                self.reject_stale_request(from, &message);
            }
            return; // A stale reply is dropped without effect.
        }
        match message {
            Message::RequestVote {
                candidate,
                last_log_index,
                last_log_term,
                ..
            } => self.handle_request_vote(candidate, last_log_index, last_log_term),
            Message::RequestVoteReply { vote_granted, .. } => {
                self.handle_request_vote_reply(from, vote_granted)
            }
            Message::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                ..
            } => self.handle_append_entries(
                from,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            ),
            Message::AppendEntriesReply {
                success,
                match_index,
                conflict_index,
                conflict_term,
                ..
            } => self.handle_append_entries_reply(
                from,
                success,
                match_index,
                conflict_index,
                conflict_term,
            ),
            Message::InstallSnapshot {
                last_included_index,
                last_included_term,
                offset,
                data,
                done,
                ..
            } => self.handle_install_snapshot(
                from,
                last_included_index,
                last_included_term,
                offset,
                data,
                done,
            ),
            Message::InstallSnapshotReply {
                last_included_index,
                offset,
                done,
                ..
            } => self.handle_install_snapshot_reply(from, last_included_index, offset, done),
        }
    }

    fn reject_stale_request(&mut self, from: usize, message: &Message) {
        let term = self.current_term;
        let reply = match message {
            Message::RequestVote { .. } => Message::RequestVoteReply {
                term,
                vote_granted: false,
            },
            Message::AppendEntries { .. } => Message::AppendEntriesReply {
                term,
                success: false,
                match_index: 0,
                conflict_index: 0,
                conflict_term: None,
            },
            // Claims nothing (IS1): index 0, which IS9 ignores. Echoing the request's
            // index would tell the sender, should it lead this later term when the reply
            // arrives, that we hold its snapshot; L2 could then never back `next_index`
            // into the snapshot again (`tests.rs`, a_stale_install_snapshot_rejection_...).
            Message::InstallSnapshot { .. } => Message::InstallSnapshotReply {
                term,
                last_included_index: 0,
                offset: 0,
                done: true,
            },
            _ => return,
        };
        self.send(from, reply);
    }

    fn send(&mut self, to: usize, message: Message) {
        self.ready.messages.push(Outgoing { to, message });
    }

    /// Marks persistent state as changed, so this step's `Ready` carries it.
    fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Hands out this step's output. The persistent part is only what changed (raft-rs's
    /// `Ready` does the same): re-encoding the whole log on every step made each proposal
    /// cost O(log length).
    fn take_ready(&mut self) -> Ready {
        let hard_state = HardState {
            current_term: self.current_term,
            voted_for: self.voted_for,
        };
        let hard_changed = hard_state != self.persisted_hard_state;
        let (snapshot_changed, log) = self.log.take_changes_with(&mut self.spare_entries);
        self.note_written(snapshot_changed, log.as_ref());
        if self.dirty || hard_changed || snapshot_changed || log.is_some() {
            self.dirty = false;
            self.persisted_hard_state = hard_state;
            let snapshot = snapshot_changed.then(|| SnapshotChange {
                index: self.log.snapshot_index(),
                term: self.log.snapshot_term(),
                data: Arc::clone(&self.snapshot_data),
            });
            self.ready.persist = Some(Persist {
                hard_state: hard_changed.then_some(hard_state),
                snapshot,
                log,
            });
        }
        // The next step's output goes into the vectors `recycle` handed back, if any.
        let spare = Ready {
            messages: std::mem::take(&mut self.spare.messages),
            applies: std::mem::take(&mut self.spare.applies),
            ..Ready::default()
        };
        std::mem::replace(&mut self.ready, spare)
    }

    /// Hands back a [`Ready`] the caller is done with (its messages sent, its applies
    /// handed over, its `persist` written or merged into another delta), so that later
    /// steps reuse its vectors — `messages`, `applies` and the log change's `entries` —
    /// instead of allocating new ones: a runtime that steps the core once per proposal and
    /// per message otherwise allocates and frees up to three vectors per step
    /// (docs/performance.md §7, "Allocations per commit"). Optional. Whatever the vectors
    /// still hold is dropped; a vector longer than a burst's worth is freed rather than
    /// kept, so one burst does not pin its room.
    pub fn recycle(&mut self, ready: Ready) {
        fn keep<T>(spare: &mut Vec<T>, mut given: Vec<T>) {
            given.clear();
            if given.capacity() > spare.capacity() && given.capacity() <= SPARE_CAPACITY {
                *spare = given;
            }
        }
        keep(&mut self.spare.messages, ready.messages);
        keep(&mut self.spare.applies, ready.applies);
        if let Some(log) = ready.persist.and_then(|persist| persist.log) {
            keep(&mut self.spare_entries, log.entries);
        }
    }

    fn reset_election_timer(&mut self) {
        use rand::Rng;
        self.election_elapsed_ticks = 0;
        self.election_timeout_ticks = self.rng.gen_range(
            self.config.election_timeout_ticks_min..=self.config.election_timeout_ticks_max,
        );
    }

    fn majority(&self) -> usize {
        self.config.servers / 2 + 1
    }

    fn peers(&self) -> impl Iterator<Item = usize> {
        let me = self.config.id;
        (0..self.config.servers).filter(move |&j| j != me)
    }

    // ---- Role transitions (the only places `state` changes). ----

    /// Steps down. With a higher `term`, adopts it and forgets the vote (Figure 2, "All
    /// Servers"); with the current term, keeps the vote (a candidate that meets the leader).
    ///
    /// Callers pass a term from a message that passed term normalisation (so at least the
    /// current term), and never step a leader down within its own term (an AppendEntries or
    /// InstallSnapshot of its own term is dropped first): debug builds check both.
    fn become_follower(&mut self, term: u64) {
        debug_assert!(
            term >= self.current_term,
            "become_follower({term}) from term {}",
            self.current_term
        );
        if term > self.current_term {
            self.current_term = term;
            self.voted_for = None;
            self.leader_id = None;
            self.mark_dirty();
        } else {
            debug_assert!(
                self.role() != Role::Leader,
                "a leader stepping down within its own term {term}"
            );
        }
        self.state = RoleState::Follower;
    }

    /// §5.2: a new term, a vote for itself, a fresh randomised timeout. Only an election
    /// timeout calls it, and a leader has none (debug builds check).
    fn become_candidate(&mut self) {
        debug_assert!(
            self.role() != Role::Leader,
            "a leader cannot start an election"
        );
        self.current_term += 1;
        self.voted_for = Some(self.config.id);
        self.leader_id = None;
        self.receiving_snapshot = None; // No leader of this term will send its chunks.
        self.mark_dirty();
        let mut votes_granted = vec![false; self.config.servers];
        votes_granted[self.config.id] = true;
        self.state = RoleState::Candidate { votes_granted };
        self.reset_election_timer();
    }

    /// §5.2: a candidate with a majority leads; Figure 2 initialises next/match index. Only
    /// a candidate counts votes (debug builds check).
    fn become_leader(&mut self) {
        debug_assert!(
            self.role() == Role::Candidate,
            "only a candidate can become leader"
        );
        let servers = self.config.servers;
        let mut match_index = vec![0; servers];
        match_index[self.config.id] = self.log.last_index();
        self.state = RoleState::Leader(role::Progress {
            next_index: vec![self.log.last_index() + 1; servers],
            match_index,
            in_flight: vec![role::InFlight::default(); servers],
            sent_commit: vec![0; servers],
            transfers: vec![None; servers],
        });
        self.leader_id = Some(self.config.id);
        self.heartbeat_elapsed_ticks = 0;
    }

    // ---- Read-only accessors (for the runtime and the conformance mapping). ----

    /// The configuration this core was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// This server's id.
    pub fn id(&self) -> usize {
        self.config.id
    }

    /// Figure 2 `currentTerm`.
    pub fn current_term(&self) -> u64 {
        self.current_term
    }

    /// Figure 2 `votedFor` (in the current term).
    pub fn voted_for(&self) -> Option<usize> {
        self.voted_for
    }

    /// The role this server is in (§5.1).
    pub fn role(&self) -> Role {
        self.state.role()
    }

    /// The leader this server last heard from in the current term (itself if leader).
    pub fn leader_id(&self) -> Option<usize> {
        self.leader_id
    }

    /// Figure 2 `log[]`, after the compacted prefix.
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// The last index the snapshot covers (0: none).
    pub fn snapshot_index(&self) -> u64 {
        self.log.snapshot_index()
    }

    /// The term of [`Core::snapshot_index`].
    pub fn snapshot_term(&self) -> u64 {
        self.log.snapshot_term()
    }

    /// The service's snapshot bytes, saved beside the raft state.
    pub fn snapshot_data(&self) -> &Arc<Vec<u8>> {
        &self.snapshot_data
    }

    /// The index of the last log entry (the snapshot's if the log is empty).
    pub fn last_log_index(&self) -> u64 {
        self.log.last_index()
    }

    /// The last log index known to be on stable storage (Raft thesis §10.2.1): raised by
    /// [`Input::Persisted`] and by a snapshot, lowered by a truncation, the last index
    /// after a restore. A leader counts itself toward a commit quorum only up to it.
    /// Always `snapshot_index() <= durable_index() <= last_log_index()`.
    pub fn durable_index(&self) -> u64 {
        self.durable_index
    }

    /// Figure 2 `commitIndex`.
    pub fn commit_index(&self) -> u64 {
        self.commit_index
    }

    /// Figure 2 `lastApplied`: equal to `commit_index` after every step.
    pub fn last_applied(&self) -> u64 {
        self.last_applied
    }

    /// A leader's `next_index[peer]` (`None` unless leader).
    pub fn next_index(&self, peer: usize) -> Option<u64> {
        match &self.state {
            RoleState::Leader(progress) => progress.next_index.get(peer).copied(),
            _ => None,
        }
    }

    /// A leader's `match_index[peer]` (`None` unless leader; its own entry is its last index).
    pub fn match_index(&self, peer: usize) -> Option<u64> {
        match &self.state {
            RoleState::Leader(progress) => progress.match_index.get(peer).copied(),
            _ => None,
        }
    }

    /// A candidate's granted votes, itself included (`None` unless candidate).
    pub fn votes_granted(&self) -> Option<Vec<usize>> {
        match &self.state {
            RoleState::Candidate { votes_granted } => Some(
                (0..votes_granted.len())
                    .filter(|&j| votes_granted[j])
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The persistent state as it would be saved now.
    pub fn persistent_state(&self) -> PersistentState {
        PersistentState {
            current_term: self.current_term,
            voted_for: self.voted_for,
            snapshot_index: self.log.snapshot_index(),
            snapshot_term: self.log.snapshot_term(),
            entries: self.log.entries().to_vec(),
        }
    }

    /// [`PersistentState::encode`] of the current state, encoded from the log in place (no
    /// clone of it): the whole raft-state blob of a Lab-style `Persister`. An error (a state
    /// over the size limit) means nothing may be saved for this step.
    pub fn encode_persistent_state(&self) -> Result<Vec<u8>, StateError> {
        persist::PersistentStateRef {
            current_term: self.current_term,
            voted_for: self.voted_for,
            snapshot_index: self.log.snapshot_index(),
            snapshot_term: self.log.snapshot_term(),
            entries: self.log.entries(),
        }
        .encode()
    }

    /// Checks the invariants written on the fields.
    ///
    /// # Panics
    /// With the offending values, if one is broken.
    pub fn check_invariants(&self) {
        let snapshot_index = self.log.snapshot_index();
        let last_index = self.log.last_index();
        assert!(
            snapshot_index <= self.last_applied
                && self.last_applied <= self.commit_index
                && self.commit_index <= last_index,
            "need snapshot {snapshot_index} <= applied {} <= commit {} <= last {last_index}",
            self.last_applied,
            self.commit_index
        );
        assert!(
            snapshot_index <= self.durable_index && self.durable_index <= last_index,
            "need snapshot {snapshot_index} <= durable {} <= last {last_index}",
            self.durable_index
        );
        assert!(
            self.log.last_term() <= self.current_term,
            "log term after current term"
        );
        if let RoleState::Leader(progress) = &self.state {
            assert_eq!(
                self.voted_for,
                Some(self.config.id),
                "a leader voted for itself"
            );
            for j in self.peers() {
                let (next, matched) = (progress.next_index[j], progress.match_index[j]);
                assert!(
                    matched < next && next <= last_index + 1,
                    "peer {j}: need match {matched} < next {next} <= last {last_index} + 1"
                );
            }
        }
        if let RoleState::Candidate { .. } = &self.state {
            assert_eq!(
                self.voted_for,
                Some(self.config.id),
                "a candidate voted for itself"
            );
        }
    }
}

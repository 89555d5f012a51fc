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
//! [`message`] (the RPCs), [`persist`] (the persistent state's encoding), [`role`].

// First: the `mutated!` hooks are macros, visible only in modules declared after it.
#[macro_use]
pub mod mutation;
mod commit;
mod election;
#[cfg(test)]
mod fuzz_tests;
pub mod log;
pub mod message;
pub mod persist;
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

pub use log::{Entry, Log};
pub use message::{DecodeError, Message};
pub use persist::{HardState, LogChange, Persist, PersistentState, SnapshotChange, StateError};
pub use role::Role;
use role::RoleState;

/// Static configuration of one server's core. Times are in ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// This server's id, `0..servers`.
    pub id: usize,
    /// Number of servers in the cluster (including this one).
    pub servers: usize,
    /// Election timeouts are drawn uniformly from `min..=max` ticks (§5.2).
    pub election_timeout_ticks_min: u32,
    pub election_timeout_ticks_max: u32,
    /// A leader sends AppendEntries to every follower at least this often.
    pub heartbeat_interval_ticks: u32,
    /// Cap on entries carried by one AppendEntries.
    pub max_entries_per_message: usize,
    /// A request to a follower counts as outstanding (so new entries wait for its reply)
    /// for at most this many ticks; after that it is presumed lost or delayed.
    pub in_flight_timeout_ticks: u32,
    /// Seed of the election-timeout RNG.
    pub seed: u64,
    /// Test only (feature `mutations`): a rule to break on purpose; `None` by default.
    #[cfg(feature = "mutations")]
    pub mutation: Option<mutation::Mutation>,
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
            in_flight_timeout_ticks: 5,
            seed,
            #[cfg(feature = "mutations")]
            mutation: mutation::ambient(),
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.servers == 0 || self.id >= self.servers {
            return Err(format!(
                "id {} not in a cluster of {}",
                self.id, self.servers
            ));
        }
        if self.election_timeout_ticks_min == 0
            || self.election_timeout_ticks_min > self.election_timeout_ticks_max
        {
            return Err("election timeout range is empty".into());
        }
        if self.heartbeat_interval_ticks == 0 || self.max_entries_per_message == 0 {
            return Err("heartbeat interval and batch size must be positive".into());
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
    Message { from: usize, message: Message },
    /// The service asks to replicate a command (ignored unless this server is leader).
    Propose(Bytes),
    /// The service has a snapshot of everything up to and including `index` (§7).
    Snapshot { index: u64, data: Vec<u8> },
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub to: usize,
    pub message: Message,
}

/// What the service must apply, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Apply {
    /// A committed entry.
    Entry {
        index: u64,
        term: u64,
        command: Bytes,
    },
    /// A snapshot received from the leader; it replaces the service's state.
    Snapshot {
        index: u64,
        term: u64,
        data: Arc<Vec<u8>>,
    },
}

/// Everything one step produced. The caller's obligations, in this order:
///
/// 1. **`persist`**: if `Some`, make it durable (all its parts together, atomically)
///    *before* sending any message of this step — replies and requests may promise a vote
///    or an appended entry (Figure 2: "respond to RPCs only after updating stable storage").
///    It is a delta: apply it to the stored state in step order ([`Persist::apply_to`]), or,
///    for a whole-state persister, save [`Core::encode_persistent_state`] and
///    [`Core::snapshot_data`] taken after this step.
/// 2. **`messages`**: then send them, in any order; losing some is allowed (Raft retries).
///    A message that is a reply to a request just received is the answer to that RPC.
/// 3. **`applies`**: hand them to the service in this order, after everything earlier
///    steps returned; each is committed, and they are contiguous across steps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ready {
    pub persist: Option<Persist>,
    pub messages: Vec<Outgoing>,
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
    dirty: bool,
    /// Term and vote as last handed out in `Ready::persist`.
    persisted_hard_state: HardState,
}

impl Core {
    /// A fresh server: term 0, empty log, follower.
    ///
    /// # Panics
    /// If `config` is invalid (a programming error of the embedder).
    pub fn new(config: Config) -> Core {
        Core::from_state(config, PersistentState::default(), Arc::new(Vec::new()))
    }

    /// A server restarting from persisted state (§7: commit and applied start at the
    /// snapshot; the service restores itself from the same snapshot). Empty `raft_state`
    /// means a fresh server.
    pub fn restore(
        config: Config,
        raft_state: &[u8],
        snapshot: Vec<u8>,
    ) -> Result<Core, StateError> {
        if raft_state.is_empty() {
            if !snapshot.is_empty() {
                return Err(StateError::Malformed(
                    "a snapshot without raft state".into(),
                ));
            }
            return Ok(Core::new(config));
        }
        let state = PersistentState::decode(raft_state)?;
        if state.voted_for.is_some_and(|v| v >= config.servers) {
            return Err(StateError::Malformed(
                "voted for a server outside the cluster".into(),
            ));
        }
        Ok(Core::from_state(config, state, Arc::new(snapshot)))
    }

    fn from_state(config: Config, state: PersistentState, snapshot_data: Arc<Vec<u8>>) -> Core {
        if let Err(reason) = config.validate() {
            panic!("invalid core configuration {config:?}: {reason}");
        }
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut core = Core {
            current_term: state.current_term,
            // Mutation ForgetVoteOnRestart breaks Figure 2's persistent `votedFor`.
            voted_for: state
                .voted_for
                .filter(|_| !mutated!(config, ForgetVoteOnRestart)),
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
            dirty: false,
            persisted_hard_state: HardState::default(),
            config,
        };
        // What it was restored from is on disk already.
        core.persisted_hard_state = HardState {
            current_term: core.current_term,
            voted_for: core.voted_for,
        };
        core.reset_election_timer();
        core.check_invariants();
        core
    }

    /// The single entry point: consumes one input, returns what the caller must do.
    pub fn step(&mut self, input: Input) -> Ready {
        #[cfg(debug_assertions)]
        let term_before = self.current_term;
        match input {
            Input::Tick => self.tick(),
            Input::Message { from, message } => self.receive(from, message),
            Input::Propose(command) => self.propose(command),
            Input::Snapshot { index, data } => self.compact(index, data),
        }
        self.apply_committed();
        #[cfg(debug_assertions)]
        {
            assert!(self.current_term >= term_before, "term moved backwards");
            self.check_invariants();
        }
        self.take_ready()
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
            if mutated!(self.config, LeaderKeepsLeading) && self.role() == Role::Leader {
                self.current_term = term;
            } else {
                self.become_follower(term);
            }
        }
        // Mutation AcceptStaleReply breaks "All Servers": an older term's reply is used.
        let use_stale = mutated!(self.config, AcceptStaleReply) && !message.is_request();
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
                data,
                ..
            } => self.handle_install_snapshot(from, last_included_index, last_included_term, data),
            Message::InstallSnapshotReply {
                last_included_index,
                ..
            } => self.handle_install_snapshot_reply(from, last_included_index),
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
            Message::InstallSnapshot {
                last_included_index,
                ..
            } => Message::InstallSnapshotReply {
                term,
                last_included_index: *last_included_index,
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
        let (snapshot_changed, log) = self.log.take_changes();
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
        std::mem::take(&mut self.ready)
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
    fn become_follower(&mut self, term: u64) {
        assert!(
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
            assert!(
                self.role() != Role::Leader,
                "a leader stepping down within its own term {term}"
            );
        }
        self.state = RoleState::Follower;
    }

    /// §5.2: a new term, a vote for itself, a fresh randomised timeout.
    fn become_candidate(&mut self) {
        assert!(
            self.role() != Role::Leader,
            "a leader cannot start an election"
        );
        self.current_term += 1;
        self.voted_for = Some(self.config.id);
        self.leader_id = None;
        self.mark_dirty();
        let mut votes_granted = vec![false; self.config.servers];
        votes_granted[self.config.id] = true;
        self.state = RoleState::Candidate { votes_granted };
        self.reset_election_timer();
    }

    /// §5.2: a candidate with a majority leads; Figure 2 initialises next/match index.
    fn become_leader(&mut self) {
        assert!(
            self.role() == Role::Candidate,
            "only a candidate can become leader"
        );
        let servers = self.config.servers;
        let mut match_index = vec![0; servers];
        match_index[self.config.id] = self.log.last_index();
        self.state = RoleState::Leader(role::Progress {
            next_index: vec![self.log.last_index() + 1; servers],
            match_index,
            in_flight: vec![None; servers],
            sent_commit: vec![0; servers],
        });
        self.leader_id = Some(self.config.id);
        self.heartbeat_elapsed_ticks = 0;
    }

    // ---- Read-only accessors (for the runtime and the conformance mapping). ----

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn id(&self) -> usize {
        self.config.id
    }

    pub fn current_term(&self) -> u64 {
        self.current_term
    }

    pub fn voted_for(&self) -> Option<usize> {
        self.voted_for
    }

    pub fn role(&self) -> Role {
        self.state.role()
    }

    /// The leader this server last heard from in the current term (itself if leader).
    pub fn leader_id(&self) -> Option<usize> {
        self.leader_id
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    pub fn snapshot_index(&self) -> u64 {
        self.log.snapshot_index()
    }

    pub fn snapshot_term(&self) -> u64 {
        self.log.snapshot_term()
    }

    pub fn snapshot_data(&self) -> &Arc<Vec<u8>> {
        &self.snapshot_data
    }

    pub fn last_log_index(&self) -> u64 {
        self.log.last_index()
    }

    pub fn commit_index(&self) -> u64 {
        self.commit_index
    }

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
    /// clone of it): the whole raft-state blob of a Lab-style `Persister`.
    pub fn encode_persistent_state(&self) -> Vec<u8> {
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

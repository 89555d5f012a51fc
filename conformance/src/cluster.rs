//! A cluster of real cores (`raft_impl::core::Core`) with what surrounds each one in
//! production — a storage, a service — and the messages in flight between them. One
//! [`Event`] is one thing the environment does (a tick, a delivery, a fault, a proposal, a
//! service snapshot, a sync, a crash); [`Cluster::execute`] performs it and, when
//! recording, says which model actions ([`Step`]s) the cores' behaviour amounts to
//! (`docs/conformance.md`, "Composed steps").
//!
//! **Durability** (Raft thesis §10.2.1, `Ready`'s obligations): each step's `Persist` is
//! written to the server's [`Disk`], which a crash cuts back to what was synced. The
//! harness syncs (and feeds the core `Input::Persisted`) before it releases any message
//! that must wait for the write — a reply, a vote, a candidate's RequestVote — and after
//! every receipt of AppendEntries or InstallSnapshot, so a follower acknowledges only
//! durable entries. It leaves a leader's proposal unsynced (its AppendEntries go out at
//! once) until [`Event::Sync`], or until a later step of that server needs a sync; a
//! service snapshot is written atomically (durable at once) without syncing the rest.

mod disk;

use std::sync::Arc;

pub use disk::Disk;
use raft_impl::core::{Config, Core, Input, Message, Ready, Role};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::service::{encode_command, encode_snapshot, Service};

/// A message in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InFlight {
    /// The sender.
    pub from: usize,
    /// The receiver.
    pub to: usize,
    /// The RPC, as the core produced it.
    pub message: Message,
    /// Virtual time (ticks) before which the network does not deliver it.
    pub deliver_at: u64,
    /// Send order over the run (a duplicate keeps its original's): the network's `Vec` is
    /// not kept in order, so "oldest" is the least `sent`.
    pub sent: u64,
}

/// A message with its endpoints, as named in a [`Step`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wire {
    /// The sender.
    pub from: usize,
    /// The receiver.
    pub to: usize,
    /// The RPC.
    pub message: Message,
}

/// One thing the environment does to the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// One tick of server `i`'s clock.
    Tick(usize),
    /// The network delivers in-flight message `k` (lost if its receiver is down or cut off).
    Deliver(usize),
    /// The network loses in-flight message `k`.
    Drop(usize),
    /// The network duplicates in-flight message `k`.
    Duplicate(usize),
    /// A client proposes the next command at server `i`.
    Propose(usize),
    /// Server `i`'s service snapshots its state at `index` (§7).
    Snapshot(usize, u64),
    /// Server `i` crashes: volatile state is lost; it is rebuilt from its persisted bytes
    /// with `Core::restore` and stays down until `Restart`.
    Crash(usize),
    /// Server `i` comes back up.
    Restart(usize),
    /// The network replays candidate `i`'s current RequestVote to `j` (the model's
    /// `RequestVote(i, j)` re-send; used only by the model-driven tests).
    ResendVote(usize, usize),
    /// Server `i`'s storage completes its pending writes (a sync); the core is told with
    /// `Input::Persisted`. Nothing happens if nothing is pending.
    Sync(usize),
}

/// A model action, in the cores' vocabulary (`mapping` turns it into a `raft_model::Action`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `Timeout(i)`: server `i` starts an election.
    Timeout(usize),
    /// `RequestVote(i, j)`: candidate `i` re-sends its request to `j`.
    RequestVote(usize, usize),
    /// `BecomeLeader(i)`.
    BecomeLeader(usize),
    /// `ClientRequest(i, v)`: leader `i` appends value `v`.
    ClientRequest(usize, u32),
    /// `AdvanceCommitIndex(i)`.
    AdvanceCommitIndex(usize),
    /// `AppendEntries(i, j)`: leader `i` sends AppendEntries (or InstallSnapshot) to `j`.
    AppendEntries(usize, usize),
    /// `Snapshot(i, index)`: server `i`'s service compacts up to `index`.
    Snapshot(usize, u64),
    /// `Restart(i)`: crash and restart.
    Restart(usize),
    /// `Sync(i)`: server `i`'s pending writes become durable (§10.2.1).
    Sync(usize),
    /// The network delivers a message.
    Receive(Wire),
    /// The network loses a message.
    Drop(Wire),
    /// The network duplicates a message.
    Duplicate(Wire),
    /// The core sent a message identical to one already in flight. The model's network
    /// holds one copy of a packet unless `Duplicate` adds another (its send of a packet in
    /// flight adds nothing), so a second copy from a re-send is the model's `Duplicate`,
    /// recorded after the actions of the step that sent it.
    Resend(Wire),
}

/// How long the network holds a message, in ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delays {
    /// Most messages take `0..=short_max` ticks.
    pub short_max: u64,
    /// Per mille of messages delayed `short_max..=long_max` ticks instead.
    pub long_per_mille: u32,
    /// The longest delay, in ticks.
    pub long_max: u64,
}

impl Delays {
    /// Every message deliverable at once (the order is still the scheduler's choice).
    pub const NONE: Delays = Delays {
        short_max: 0,
        long_per_mille: 0,
        long_max: 0,
    };
}

/// The cluster's static configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// Number of servers.
    pub servers: usize,
    /// The cores' `election_timeout_ticks_min`.
    pub election_timeout_min: u32,
    /// The cores' `election_timeout_ticks_max`.
    pub election_timeout_max: u32,
    /// The cores' `heartbeat_interval_ticks`.
    pub heartbeat_interval: u32,
    /// The cores' `max_entries_per_message` (the shipped default: [`shipped_max_entries`]).
    pub max_entries_per_message: usize,
    /// The cores' `max_inflight_appends` (1, the shipped default: one AppendEntries
    /// outstanding per follower; more: pipelined replication, which trace validation
    /// checks against the model's `pipelined` variant).
    pub max_inflight_appends: usize,
    /// How long the network holds each message.
    pub delays: Delays,
    /// Lose a sent message identical to one already in flight, as the model's network does
    /// (its in-flight set holds one copy unless `Duplicate` adds another). Off in the
    /// simulator and trace validation (a re-send is recorded as [`Step::Resend`]); on in the
    /// model-driven tests, whose paths come from the model's network.
    pub dedup: bool,
    /// Build the [`Step`]s of each event (trace validation and model-driven tests).
    pub record: bool,
    /// After every core step, compare the disk with the core's persistent state (`O(log)`
    /// per step: on in every test, off in the benchmarks, which time the core).
    pub check_disk: bool,
}

/// The core's shipped `max_entries_per_message` (`raft_impl::core::Config::new`'s).
pub fn shipped_max_entries() -> usize {
    Config::new(0, 1, 0).max_entries_per_message
}

/// What one event did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// The model actions it amounts to, in order (empty: a stutter, or not recording).
    pub steps: Vec<Step>,
    /// The server whose core took a step or crashed, if any.
    pub server: Option<usize>,
    /// The server's service installed a snapshot from the leader.
    pub snapshot_applied: bool,
    /// The server crashed (its volatile state and service were rebuilt from disk).
    pub crashed: bool,
    /// Log entries the crash lost because they were written but not synced (§10.2.1).
    pub lost_unsynced: u64,
    /// The server's service refused what the core handed it (an entry out of order, a
    /// snapshot that moves it back). Reported by the run after the event was observed, so
    /// trace validation compares the event with the model first: where both see the bug
    /// in one step, the model's divergence is the verdict.
    pub service_error: Option<String>,
}

/// N cores, their disks and services, and the network between them.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// The static configuration.
    pub config: ClusterConfig,
    /// The run's seed (the cores' election RNGs and the network's delays derive from it).
    pub seed: u64,
    /// The cores, by server id.
    pub cores: Vec<Core>,
    /// Whether each server is running (a crashed one is down until `Restart`).
    pub up: Vec<bool>,
    /// Each server's stable storage.
    pub disks: Vec<Disk>,
    /// Each server's service.
    pub services: Vec<Service>,
    /// The messages in flight, in no particular order (see [`InFlight::sent`]).
    pub network: Vec<InFlight>,
    /// Partition group of each server: messages between groups are lost on delivery.
    pub group: Vec<u8>,
    /// Virtual time, in ticks.
    pub now: u64,
    /// Accepted proposals so far; the next command is `proposals + 1`.
    pub proposals: u32,
    /// Messages sent so far (the next one's [`InFlight::sent`]).
    pub sends: u64,
    incarnations: Vec<u64>,
    rng: ChaCha8Rng,
}

/// The observable state of a core before a step, to tell what the step did.
struct Before {
    role: Role,
    term: u64,
    commit: u64,
    snapshot_index: u64,
}

/// What kind of action started a core step (decides the order of the composed actions).
enum Primary {
    Tick,
    Receive(Wire),
    Propose(u32),
    Snapshot(u64),
    Sync,
}

impl Cluster {
    /// A fresh cluster: every core new (term 0, empty log), every disk empty, no message
    /// in flight.
    pub fn new(config: ClusterConfig, seed: u64) -> Cluster {
        use rand::SeedableRng;
        let n = config.servers;
        let mut cluster = Cluster {
            cores: Vec::with_capacity(n),
            up: vec![true; n],
            disks: vec![Disk::default(); n],
            services: vec![Service::default(); n],
            network: Vec::new(),
            group: vec![0; n],
            now: 0,
            proposals: 0,
            sends: 0,
            incarnations: vec![0; n],
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6e65_7477_6f72_6b21),
            seed,
            config,
        };
        for i in 0..n {
            let core = cluster
                .build_core(i, false)
                .unwrap_or_else(|e| panic!("the harness's configuration is invalid: {e}"));
            cluster.cores.push(core);
        }
        cluster
    }

    /// The one place the harness builds a core: new, or (`from_disk`) restored from the
    /// bytes of its disk — the encoded state and the snapshot (the durable part, after
    /// [`Disk::crash`]) — as after a crash. The delta path and the bytes path are both
    /// exercised.
    fn build_core(&self, i: usize, from_disk: bool) -> Result<Core, String> {
        let config = self.core_config(i);
        if !from_disk {
            return Core::new(config).map_err(|e| format!("S{i}: invalid configuration: {e}"));
        }
        let disk = &self.disks[i];
        let state = disk
            .raft_state
            .encode()
            .map_err(|e| format!("S{i} cannot encode its persisted state: {e}"))?;
        Core::restore(config, &state, disk.snapshot.as_ref().clone())
            .map_err(|e| format!("S{i} cannot restore its persisted state: {e}"))
    }

    /// Core `i`'s configuration in its current incarnation: each restart draws fresh
    /// election timeouts, all from the run's seed.
    fn core_config(&self, i: usize) -> Config {
        let c = &self.config;
        let seed = self
            .seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add((i as u64) << 32 | self.incarnations[i]);
        Config {
            election_timeout_ticks_min: c.election_timeout_min,
            election_timeout_ticks_max: c.election_timeout_max,
            heartbeat_interval_ticks: c.heartbeat_interval,
            // The model sends the same capped prefix (`raft_model::Config::max_entries_per_message`).
            max_entries_per_message: c.max_entries_per_message,
            // With more than one, the model's `pipelined` variant (`unbounded_model`).
            max_inflight_appends: c.max_inflight_appends,
            ..Config::new(i, c.servers, seed)
        }
    }

    /// Whether `a` and `b` are in the same partition group.
    pub fn connected(&self, a: usize, b: usize) -> bool {
        self.group[a] == self.group[b]
    }

    /// Performs one event. An `Err` is a broken contract of the core (undecodable state,
    /// out-of-order applies), reported like an invariant violation.
    pub fn execute(&mut self, event: &Event) -> Result<Outcome, String> {
        let outcome = self.execute_deferring_service(event)?;
        match outcome.service_error {
            Some(error) => Err(error),
            None => Ok(outcome),
        }
    }

    /// [`Cluster::execute`], except that a service's refusal is returned in
    /// [`Outcome::service_error`] with the event's outcome, for the simulator's run to
    /// report after trace validation has compared the event with the model.
    pub fn execute_deferring_service(&mut self, event: &Event) -> Result<Outcome, String> {
        let mut out = Outcome::default();
        match *event {
            Event::Tick(i) => {
                if self.up[i] {
                    self.step_core(i, Input::Tick, Primary::Tick, &mut out)?;
                }
            }
            Event::Deliver(k) => self.deliver(k, &mut out)?,
            Event::Drop(k) => {
                let m = self.network.swap_remove(k);
                self.record(&mut out, || Step::Drop(wire(&m)));
            }
            Event::Duplicate(k) => {
                let m = self.network[k].clone();
                self.record(&mut out, || Step::Duplicate(wire(&m)));
                self.network.push(m);
            }
            Event::Propose(i) => {
                if self.up[i] {
                    let value = self.proposals + 1;
                    let input = Input::Propose(encode_command(value).into());
                    self.step_core(i, input, Primary::Propose(value), &mut out)?;
                }
            }
            Event::Snapshot(i, index) => {
                let applied = &self.services[i].applied;
                if self.up[i] && index <= applied.len() as u64 {
                    let data = encode_snapshot(&applied[..index as usize]);
                    let input = Input::Snapshot { index, data };
                    self.step_core(i, input, Primary::Snapshot(index), &mut out)?;
                }
            }
            Event::Crash(i) => self.crash(i, &mut out)?,
            Event::Restart(i) => self.up[i] = true,
            Event::ResendVote(i, j) => self.resend_vote(i, j, &mut out),
            Event::Sync(i) => {
                if self.up[i] {
                    self.sync(i, &mut out)?;
                }
            }
        }
        Ok(out)
    }

    fn record(&self, out: &mut Outcome, step: impl FnOnce() -> Step) {
        if self.config.record {
            out.steps.push(step());
        }
    }

    fn deliver(&mut self, k: usize, out: &mut Outcome) -> Result<(), String> {
        let m = self.network.swap_remove(k);
        if !self.up[m.to] || !self.connected(m.from, m.to) {
            self.record(out, || Step::Drop(wire(&m)));
            return Ok(());
        }
        let primary = if self.config.record {
            Primary::Receive(wire(&m))
        } else {
            Primary::Tick // Unused when not recording.
        };
        let input = Input::Message {
            from: m.from,
            message: m.message,
        };
        self.step_core(m.to, input, primary, out)
    }

    /// The crash loses everything but the durable part of the disk; the restored core
    /// (follower, commit and applied at the snapshot, the log up to what was synced) is
    /// what the model's `Restart` produces, so the whole crash-down-restart episode is that
    /// one action.
    fn crash(&mut self, i: usize, out: &mut Outcome) -> Result<(), String> {
        self.incarnations[i] += 1;
        let written = disk::last_position(&self.disks[i].raft_state).0;
        let kept = disk::last_position(self.disks[i].crash()).0;
        out.lost_unsynced = written.saturating_sub(kept);
        let core = self.build_core(i, true)?;
        self.services[i] = Service::restore(&self.disks[i].snapshot)?;
        self.cores[i] = core;
        self.up[i] = false;
        out.server = Some(i);
        out.crashed = true;
        self.record(out, || Step::Restart(i));
        Ok(())
    }

    fn resend_vote(&mut self, i: usize, j: usize, out: &mut Outcome) {
        let core = &self.cores[i];
        let granted = core.votes_granted().unwrap_or_default();
        if core.role() != Role::Candidate || i == j || granted.contains(&j) {
            return; // Only to a server whose vote the candidate lacks, as the model.
        }
        let message = Message::RequestVote {
            term: core.current_term(),
            candidate: i,
            last_log_index: core.last_log_index(),
            last_log_term: core.log().last_term(),
        };
        self.record(out, || Step::RequestVote(i, j));
        self.send(i, j, message, out);
    }

    fn step_core(
        &mut self,
        i: usize,
        input: Input,
        primary: Primary,
        out: &mut Outcome,
    ) -> Result<(), String> {
        let core = &self.cores[i];
        let before = Before {
            role: core.role(),
            term: core.current_term(),
            commit: core.commit_index(),
            snapshot_index: core.snapshot_index(),
        };
        // Which steps may leave their writes unsynced (§10.2.1): a leader's proposal (its
        // AppendEntries may leave first) and a service snapshot (written atomically). A
        // receipt of AppendEntries or InstallSnapshot always syncs, even without a write
        // of its own (the reply says the log is on disk).
        let deferrable = matches!(input, Input::Propose(_) | Input::Snapshot { .. });
        let log_request = matches!(
            input,
            Input::Message {
                message: Message::AppendEntries { .. } | Message::InstallSnapshot { .. },
                ..
            }
        );
        let ready = self.cores[i].step(input);
        out.server = Some(i);
        if let Some(value) = ready.proposed.map(|_| self.proposals + 1) {
            self.proposals = value;
        }
        if self.config.record {
            out.steps.extend(self.compose(i, &before, &ready, primary));
        }
        let wrote = ready.persist.is_some();
        self.handle_ready(i, ready, out, (wrote && !deferrable) || log_request)?;
        if self.config.check_disk {
            check_disk(&self.cores[i], &self.disks[i])?;
        }
        Ok(())
    }

    /// Server `i`'s storage syncs; if that made entries durable that the core did not know
    /// were, the core is told (`Input::Persisted`), and what it does then (a leader may
    /// commit) is this step's too: the model's `Sync(i)`, then what it enables.
    fn sync(&mut self, i: usize, out: &mut Outcome) -> Result<(), String> {
        let (index, term) = self.disks[i].sync();
        if self.cores[i].durable_index() >= index {
            return Ok(()); // Nothing new for the core: a sync of a hard state only.
        }
        let core = &self.cores[i];
        let before = Before {
            role: core.role(),
            term: core.current_term(),
            commit: core.commit_index(),
            snapshot_index: core.snapshot_index(),
        };
        let ready = self.cores[i].step(Input::Persisted { index, term });
        out.server = Some(i);
        if ready.persist.is_some() {
            return Err(format!("S{i}: Persisted wrote persistent state"));
        }
        if self.cores[i].durable_index() != index {
            return Err(format!(
                "S{i}: synced up to ({index}, {term}), the core's durable index is {}",
                self.cores[i].durable_index()
            ));
        }
        if self.config.record {
            let steps = self.compose(i, &before, &ready, Primary::Sync);
            out.steps.extend(steps);
        }
        self.handle_ready(i, ready, out, false)
    }

    /// A client proposes the next command at server `i`, padded with zero bytes to
    /// `len` bytes (at least the 4 of the proposal number; [`crate::service`]): the
    /// benchmarks' payloads. Recorded as [`Event::Propose`] would be.
    pub fn propose_padded(&mut self, i: usize, len: usize) -> Result<Outcome, String> {
        let mut out = Outcome::default();
        if self.up[i] {
            let value = self.proposals + 1;
            let mut command = encode_command(value);
            command.resize(len.max(command.len()), 0);
            let input = Input::Propose(command.into());
            self.step_core(i, input, Primary::Propose(value), &mut out)?;
        }
        Ok(out)
    }

    /// Position in [`Cluster::network`] of the oldest message in flight, if any.
    pub fn oldest(&self) -> Option<usize> {
        (0..self.network.len()).min_by_key(|&k| self.network[k].sent)
    }

    /// Figure 2's order: write, then (`sync`) sync, then send, then apply. A step that
    /// wrote and is not synced may send only a leader's requests (`Ready`'s obligations):
    /// anything else would be the harness breaking the contract by its choice of when to
    /// sync.
    fn handle_ready(
        &mut self,
        i: usize,
        ready: Ready,
        out: &mut Outcome,
        sync: bool,
    ) -> Result<(), String> {
        if let Some(persist) = &ready.persist {
            self.disks[i]
                .write(persist)
                .map_err(|e| format!("S{i} persistence delta does not fit its disk: {e}"))?;
        }
        if sync {
            self.sync(i, out)?;
        } else if ready.persist.is_some() {
            if let Some(m) = ready
                .messages
                .iter()
                .find(|m| !may_leave_unsynced(&m.message))
            {
                return Err(format!(
                    "S{i} would send {:?} before its write is durable",
                    m.message
                ));
            }
        }
        for outgoing in ready.messages {
            self.send(i, outgoing.to, outgoing.message, out);
        }
        for apply in &ready.applies {
            out.snapshot_applied |= matches!(apply, raft_impl::core::Apply::Snapshot { .. });
            if let Err(e) = self.services[i].apply(apply) {
                // The first refusal is the one reported; the run stops after this event.
                out.service_error
                    .get_or_insert(format!("S{i} service: {e}"));
            }
        }
        Ok(())
    }

    fn send(&mut self, from: usize, to: usize, message: Message, out: &mut Outcome) {
        let in_flight = (self.config.dedup || self.config.record)
            && self
                .network
                .iter()
                .any(|m| m.from == from && m.to == to && m.message == message);
        if in_flight && self.config.dedup {
            return;
        }
        if in_flight {
            // Recorded after the step's own actions: by then the model has sent its copy.
            let w = Wire {
                from,
                to,
                message: message.clone(),
            };
            self.record(out, || Step::Resend(w));
        }
        let deliver_at = self.now + self.delay();
        self.sends += 1;
        self.network.push(InFlight {
            from,
            to,
            message,
            deliver_at,
            sent: self.sends,
        });
    }

    fn delay(&mut self) -> u64 {
        let d = self.config.delays;
        if d.long_per_mille > 0 && self.rng.gen_range(0..1000) < d.long_per_mille {
            self.rng.gen_range(d.short_max..=d.long_max)
        } else if d.short_max > 0 {
            self.rng.gen_range(0..=d.short_max)
        } else {
            0
        }
    }

    /// The model actions one core step amounts to. The core does eagerly, in one step,
    /// what the model has as separate actions; each composition is listed in
    /// `docs/conformance.md` ("Composed steps").
    fn compose(&self, i: usize, before: &Before, ready: &Ready, primary: Primary) -> Vec<Step> {
        let core = &self.cores[i];
        let became_leader = before.role != Role::Leader && core.role() == Role::Leader;
        let committed = core.role() == Role::Leader && core.commit_index() > before.commit;
        // Requests that carry log entries or a snapshot are the model's AppendEntries(i, j)
        // (BecomeLeader's heartbeats are part of BecomeLeader itself).
        let appends: Vec<Step> = if became_leader {
            Vec::new()
        } else {
            ready
                .messages
                .iter()
                .filter(|o| {
                    matches!(
                        o.message,
                        Message::AppendEntries { .. } | Message::InstallSnapshot { .. }
                    )
                })
                .map(|o| Step::AppendEntries(i, o.to))
                .collect()
        };
        let mut steps = Vec::new();
        match primary {
            Primary::Tick => {
                if core.current_term() > before.term {
                    steps.push(Step::Timeout(i));
                }
                steps.extend(appends);
            }
            Primary::Receive(w) => {
                steps.push(Step::Receive(w));
                steps.extend(appends);
            }
            Primary::Propose(value) => {
                if ready.proposed.is_some() {
                    steps.push(Step::ClientRequest(i, value));
                }
                steps.extend(appends);
            }
            Primary::Snapshot(index) => {
                if core.snapshot_index() != before.snapshot_index {
                    steps.push(Step::Snapshot(i, index));
                }
            }
            Primary::Sync => {
                steps.push(Step::Sync(i));
                steps.extend(appends);
            }
        }
        if became_leader {
            steps.push(Step::BecomeLeader(i));
        }
        if committed {
            // AdvanceCommitIndex precedes the sends it triggers on a reply (they carry the
            // new leader_commit) but follows those of a proposal (sent before it commits).
            let at = match steps.first() {
                Some(Step::Receive(_)) if !became_leader => 1,
                Some(Step::Sync(_)) => 1,
                _ => steps.len(),
            };
            steps.insert(at, Step::AdvanceCommitIndex(i));
        }
        steps
    }
}

/// The disk — every persistence delta applied in order — is exactly the core's persistent
/// state and snapshot (compared field by field, without building the state): a step that
/// changed it without handing the change out in `Ready::persist` would lose it in a crash
/// (Figure 2: persistent state is "updated on stable storage before responding").
fn check_disk(core: &Core, disk: &Disk) -> Result<(), String> {
    let d = &disk.raft_state;
    let same = d.current_term == core.current_term()
        && d.voted_for == core.voted_for()
        && d.snapshot_index == core.snapshot_index()
        && d.snapshot_term == core.snapshot_term()
        && d.entries.as_slice() == core.log().entries()
        && (Arc::ptr_eq(&disk.snapshot, core.snapshot_data())
            || disk.snapshot == *core.snapshot_data());
    if !same {
        return Err(format!(
            "S{}: the disk (persistence deltas applied in order) differs from the core's persistent state",
            core.id()
        ));
    }
    Ok(())
}

/// What may leave before the sender's write is durable (§10.2.1, `Ready`'s obligations):
/// a leader's AppendEntries and InstallSnapshot requests.
fn may_leave_unsynced(message: &Message) -> bool {
    matches!(
        message,
        Message::AppendEntries { .. } | Message::InstallSnapshot { .. }
    )
}

fn wire(m: &InFlight) -> Wire {
    Wire {
        from: m.from,
        to: m.to,
        message: m.message.clone(),
    }
}

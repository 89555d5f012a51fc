//! The deterministic simulator: a [`Cluster`] of real cores driven in virtual time by one
//! seeded RNG — ticks, delivery in random order, loss, duplication, long delays,
//! partitions, crash/restart from the persisted bytes (only what was synced survives: a
//! leader's proposals stay unsynced until a seeded [`crate::cluster::Event::Sync`] or a
//! later step of that leader syncs them), proposals and service snapshots. A
//! run is a pure function of `(seed, SimConfig)`; its trace hash proves it (running a seed
//! twice must give the same hash). After every event the [`Checker`] checks the safety
//! invariants on the real cores. An opt-in option ([`SimConfig::with_bad_snapshots`],
//! `sim/misuse.rs`) plays a buggy service that asks for snapshots it may not take.

mod misuse;

pub use misuse::BadSnapshots;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::cluster::{Cluster, ClusterConfig, Delays, Event, Outcome};
use crate::invariants::Checker;
use raft_impl::core::Role;

/// Fault and workload rates (per mille of scheduler decisions) and the run length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Number of servers.
    pub servers: usize,
    /// Events (core steps, faults, proposals) per run.
    pub events: usize,
    /// The cores' election timeout range, in ticks.
    pub election_timeout: (u32, u32),
    /// The leaders' heartbeat interval, in ticks.
    pub heartbeat_interval: u32,
    /// The cores' batch cap; every profile ships the core's default
    /// ([`crate::cluster::shipped_max_entries`]).
    pub max_entries_per_message: usize,
    /// The cores' window of AppendEntries outstanding per follower (1 in every standard
    /// profile, the shipped default; more: pipelined replication).
    pub max_inflight_appends: usize,
    /// How long the network holds each message.
    pub delays: Delays,
    /// Deliver a due message (rate per mille of scheduler decisions, like those below).
    pub deliver: u32,
    /// Lose a message in flight.
    pub drop: u32,
    /// Duplicate a message in flight.
    pub duplicate: u32,
    /// A client proposes (mostly at a leader).
    pub propose: u32,
    /// A service snapshots what it applied.
    pub snapshot: u32,
    /// A running server crashes.
    pub crash: u32,
    /// A crashed server restarts.
    pub restart: u32,
    /// A server with unsynced writes (a leader's proposals) syncs them (§10.2.1); until
    /// then a crash loses them and the leader does not count its own copy toward a commit.
    pub sync: u32,
    /// The network heals, or splits into two groups.
    pub partition: u32,
    /// The network replays a candidate's RequestVote (the model's `RequestVote(i, j)`
    /// re-send; the core itself never re-sends within a term, so this stands in for a
    /// late duplicate of the original request).
    pub replay_vote: u32,
    /// A buggy service (§7 misuse; 0 in every standard profile): asks its core for a snapshot
    /// at or below its current snapshot, or past what it applied (possibly past the commit
    /// index or the log's end), which the core must ignore. At 0 it draws no random number,
    /// so the standard profiles' runs are unchanged by its existence.
    pub bad_snapshot: u32,
    /// Record model steps (trace validation).
    pub validate: bool,
    /// Lose a re-send of a message identical to one in flight (off: the cores' network,
    /// like a real one, carries both copies; see `ClusterConfig::dedup`).
    pub dedup: bool,
    /// Run the [`Checker`] after every event (on in every profile; off only to show that
    /// trace validation's own evaluation of the model's properties has teeth).
    pub check_invariants: bool,
}

impl SimConfig {
    /// The configuration of the 10,000-seed test: every fault on.
    pub fn faulty(servers: usize, events: usize) -> SimConfig {
        SimConfig {
            servers,
            events,
            election_timeout: (10, 20),
            heartbeat_interval: 3,
            max_entries_per_message: crate::cluster::shipped_max_entries(),
            max_inflight_appends: 1,
            delays: Delays {
                short_max: 2,
                long_per_mille: 10,
                long_max: 60,
            },
            deliver: 600,
            drop: 25,
            duplicate: 10,
            propose: 40,
            snapshot: 15,
            crash: 3,
            restart: 30,
            sync: 30,
            partition: 4,
            replay_vote: 5,
            bad_snapshot: 0,
            validate: false,
            dedup: false,
            check_invariants: true,
        }
    }

    /// Faults ten times as often: crashes every few hundred events, a tenth of messages
    /// lost, frequent partitions and duplicates.
    pub fn stormy(servers: usize, events: usize) -> SimConfig {
        SimConfig {
            drop: 100,
            duplicate: 50,
            crash: 30,
            restart: 60,
            partition: 20,
            snapshot: 30,
            ..SimConfig::faulty(servers, events)
        }
    }

    /// The `faulty` profile with model steps recorded, for trace validation: the cores run
    /// with their shipped configuration (batch cap, no de-duplication of sends).
    pub fn for_validation(servers: usize, events: usize) -> SimConfig {
        SimConfig {
            validate: true,
            ..SimConfig::faulty(servers, events)
        }
    }

    /// This profile with pipelined replication: up to `window` AppendEntries outstanding
    /// per follower (`max_inflight_appends`).
    pub fn pipelined(self, window: usize) -> SimConfig {
        SimConfig {
            max_inflight_appends: window,
            ..self
        }
    }

    /// This profile plus a service that misuses `snapshot` (as often as the standard
    /// profiles snapshot correctly), to exercise the core's guard at the API boundary.
    pub fn with_bad_snapshots(self) -> SimConfig {
        SimConfig {
            bad_snapshot: 15,
            ..self
        }
    }

    /// The cluster this profile runs.
    pub fn cluster_config(&self) -> ClusterConfig {
        ClusterConfig {
            servers: self.servers,
            election_timeout_min: self.election_timeout.0,
            election_timeout_max: self.election_timeout.1,
            heartbeat_interval: self.heartbeat_interval,
            max_entries_per_message: self.max_entries_per_message,
            max_inflight_appends: self.max_inflight_appends,
            delays: self.delays,
            dedup: self.dedup,
            record: self.validate,
            check_disk: true,
        }
    }
}

/// A broken invariant (or core contract), with where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The event's number in the run, from 0 (`usize::MAX`: outside any event).
    pub event_number: usize,
    /// The event after which the check failed.
    pub event: Event,
    /// What broke.
    pub message: String,
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunResult {
    /// The run's seed.
    pub seed: u64,
    /// Events executed.
    pub events: usize,
    /// Virtual time reached, in ticks.
    pub ticks: u64,
    /// FNV-1a hash of the events and the stepped cores' state (replay proof).
    pub trace_hash: u64,
    /// Indices committed (first applied) over the run.
    pub committed: usize,
    /// Crashes over the run.
    pub crashes: usize,
    /// Crashes that lost unsynced log entries (a leader's proposals, §10.2.1).
    pub crashes_losing_entries: usize,
    /// The highest term any core reached.
    pub max_term: u64,
    /// What the misusing service asked for (all zero unless `SimConfig::bad_snapshot`).
    pub bad_snapshots: BadSnapshots,
    /// The first broken invariant, if any (the run stopped there).
    pub violation: Option<Violation>,
}

/// Runs one seed. `observe` sees the cluster after every event (with what it did) and
/// returns whether to go on (trace validation stops at the first divergence).
pub fn run(
    seed: u64,
    config: &SimConfig,
    observe: &mut dyn FnMut(usize, &Cluster, &Event, &Outcome) -> bool,
) -> RunResult {
    let mut sim = Sim::new(seed, config);
    let mut checker = Checker::new(config.servers);
    let mut result = RunResult {
        seed,
        ..RunResult::default()
    };
    while result.events < config.events {
        let Some(event) = sim.next_event() else {
            continue;
        };
        let number = result.events;
        result.events += 1;
        sim.hash_event(&event);
        // A panic inside the core (`check_invariants`, an assertion) is this event's
        // violation; the run stops right after it, so the state it left is never used.
        let executed =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.execute(&event)))
                .unwrap_or_else(|panic| Err(format!("panic: {}", panic_message(panic.as_ref()))));
        let checked = executed.and_then(|outcome| {
            // A service's refusal (reported below, after `observe`) is the more precise
            // verdict for this event than what the checker would make of its aftermath.
            if config.check_invariants && outcome.service_error.is_none() {
                checker.check(&sim.cluster, &outcome)?;
            }
            Ok(outcome)
        });
        let outcome = match checked {
            Ok(outcome) => outcome,
            Err(message) => {
                result.violation = Some(Violation {
                    event_number: number,
                    event,
                    message,
                });
                break;
            }
        };
        result.crashes += usize::from(outcome.crashed);
        result.crashes_losing_entries += usize::from(outcome.lost_unsynced > 0);
        sim.hash_outcome(&outcome);
        let go_on = observe(number, &sim.cluster, &event, &outcome);
        if let Some(message) = outcome.service_error {
            // After `observe`: a divergence the validator found in this event comes first.
            if go_on {
                result.violation = Some(Violation {
                    event_number: number,
                    event,
                    message,
                });
            }
            break;
        }
        if !go_on {
            break;
        }
    }
    result.ticks = sim.cluster.now;
    result.trace_hash = sim.hash;
    result.bad_snapshots = sim.bad_snapshots;
    result.committed = checker.committed_len();
    result.max_term = sim
        .cluster
        .cores
        .iter()
        .map(|c| c.current_term())
        .max()
        .unwrap_or(0);
    result
}

/// Runs one seed with no observer. A panic inside the core is reported by [`run`] as a
/// violation at the event that caused it; one anywhere else (the checker, the harness) is
/// caught here and reported at event `usize::MAX`.
pub fn run_checked(seed: u64, config: &SimConfig) -> RunResult {
    let outcome = std::panic::catch_unwind(|| run(seed, config, &mut |_, _, _, _| true));
    outcome.unwrap_or_else(|panic| RunResult {
        seed,
        violation: Some(Violation {
            event_number: usize::MAX,
            event: Event::Tick(0),
            message: format!("panic: {}", panic_message(panic.as_ref())),
        }),
        ..RunResult::default()
    })
}

/// The message a panic carried (`"panic"` if it was not a string).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// The scheduler: the cluster plus the RNG that picks every event.
struct Sim<'a> {
    config: &'a SimConfig,
    cluster: Cluster,
    rng: ChaCha8Rng,
    /// Servers still to tick at the current virtual time.
    pending_ticks: Vec<usize>,
    hash: u64,
    /// The event `next_event` just returned is a misusing service's snapshot request.
    bad_request: bool,
    bad_snapshots: BadSnapshots,
}

impl<'a> Sim<'a> {
    fn new(seed: u64, config: &'a SimConfig) -> Sim<'a> {
        Sim {
            config,
            cluster: Cluster::new(config.cluster_config(), seed),
            rng: ChaCha8Rng::seed_from_u64(seed),
            pending_ticks: Vec::new(),
            hash: FNV_OFFSET,
            bad_request: false,
            bad_snapshots: BadSnapshots::default(),
        }
    }

    /// One scheduler decision: an event, or `None` when only virtual time advanced.
    fn next_event(&mut self) -> Option<Event> {
        if !self.pending_ticks.is_empty() && self.rng.gen_ratio(2, 3) {
            let k = self.rng.gen_range(0..self.pending_ticks.len());
            return Some(Event::Tick(self.pending_ticks.swap_remove(k)));
        }
        let c = self.config;
        let roll = self.rng.gen_range(0..1000u32);
        let mut threshold = 0;
        let mut hit = |rate: u32| {
            threshold += rate;
            roll < threshold
        };
        if hit(c.deliver) {
            if let Some(k) = self.due_message() {
                return Some(Event::Deliver(k));
            }
        } else if hit(c.drop) {
            return self.any_message().map(Event::Drop);
        } else if hit(c.duplicate) {
            return self.any_message().map(Event::Duplicate);
        } else if hit(c.propose) {
            return Some(Event::Propose(self.proposer()));
        } else if hit(c.snapshot) {
            return self.snapshot();
        } else if hit(c.crash) {
            let i = self.rng.gen_range(0..c.servers);
            return self.cluster.up[i].then_some(Event::Crash(i));
        } else if hit(c.restart) {
            let down: Vec<usize> = (0..c.servers).filter(|&i| !self.cluster.up[i]).collect();
            if !down.is_empty() {
                return Some(Event::Restart(down[self.rng.gen_range(0..down.len())]));
            }
        } else if hit(c.partition) {
            self.repartition();
            return None;
        } else if hit(c.sync) {
            let unsynced: Vec<usize> = (0..c.servers)
                .filter(|&i| self.cluster.up[i] && self.cluster.disks[i].unsynced())
                .collect();
            if !unsynced.is_empty() {
                return Some(Event::Sync(unsynced[self.rng.gen_range(0..unsynced.len())]));
            }
        } else if hit(c.replay_vote) {
            let (i, j) = (
                self.rng.gen_range(0..c.servers),
                self.rng.gen_range(0..c.servers),
            );
            let candidate = self.cluster.cores[i].role() == Role::Candidate;
            return (i != j && candidate).then_some(Event::ResendVote(i, j));
        } else if hit(c.bad_snapshot) {
            // Last in the chain: the other events keep their odds, and at rate 0 it never
            // fires, so it draws nothing and the standard profiles' streams are unchanged.
            return self.bad_snapshot();
        }
        if self.pending_ticks.is_empty() {
            self.cluster.now += 1;
            self.pending_ticks = (0..c.servers).filter(|&i| self.cluster.up[i]).collect();
        }
        None
    }

    /// Performs `event`; a misusing service's request bypasses `Cluster::execute`, which
    /// (as a correct service) never passes a snapshot past what it applied to the core.
    fn execute(&mut self, event: &Event) -> Result<Outcome, String> {
        let bad_request = std::mem::take(&mut self.bad_request);
        match *event {
            Event::Snapshot(i, index) if bad_request => self.execute_bad_snapshot(i, index),
            _ => self.cluster.execute_deferring_service(event),
        }
    }

    fn due_message(&mut self) -> Option<usize> {
        let now = self.cluster.now;
        let due = self
            .cluster
            .network
            .iter()
            .filter(|m| m.deliver_at <= now)
            .count();
        if due == 0 {
            return None;
        }
        let pick = self.rng.gen_range(0..due);
        self.cluster
            .network
            .iter()
            .enumerate()
            .filter(|(_, m)| m.deliver_at <= now)
            .nth(pick)
            .map(|(k, _)| k)
    }

    fn any_message(&mut self) -> Option<usize> {
        let n = self.cluster.network.len();
        (n > 0).then(|| self.rng.gen_range(0..n))
    }

    /// Clients mostly find the leader; sometimes they ask a follower (which ignores it).
    fn proposer(&mut self) -> usize {
        let leaders: Vec<usize> = (0..self.config.servers)
            .filter(|&i| self.cluster.cores[i].role() == Role::Leader && self.cluster.up[i])
            .collect();
        if !leaders.is_empty() && self.rng.gen_ratio(4, 5) {
            leaders[self.rng.gen_range(0..leaders.len())]
        } else {
            self.rng.gen_range(0..self.config.servers)
        }
    }

    /// The service snapshots at an index it has applied, past its current snapshot.
    fn snapshot(&mut self) -> Option<Event> {
        let i = self.rng.gen_range(0..self.config.servers);
        let core = &self.cluster.cores[i];
        let (low, high) = (core.snapshot_index(), core.last_applied());
        (low < high).then(|| Event::Snapshot(i, self.rng.gen_range(low + 1..=high)))
    }

    /// Heals the network or splits it into two random groups.
    fn repartition(&mut self) {
        let n = self.config.servers;
        if self.rng.gen_bool(0.5) {
            self.cluster.group = vec![0; n];
        } else {
            self.cluster.group = (0..n).map(|_| self.rng.gen_range(0..2)).collect();
        }
    }

    fn hash_event(&mut self, event: &Event) {
        let (kind, a, b) = match *event {
            Event::Tick(i) => (0, i as u64, 0),
            Event::Deliver(k) => (1, k as u64, 0),
            Event::Drop(k) => (2, k as u64, 0),
            Event::Duplicate(k) => (3, k as u64, 0),
            Event::Propose(i) => (4, i as u64, 0),
            Event::Snapshot(i, index) => (5, i as u64, index),
            Event::Crash(i) => (6, i as u64, 0),
            Event::Restart(i) => (7, i as u64, 0),
            Event::ResendVote(i, j) => (8, i as u64, j as u64),
            Event::Sync(i) => (9, i as u64, 0),
        };
        for x in [kind, a, b, self.cluster.now] {
            self.hash = fnv(self.hash, x);
        }
    }

    fn hash_outcome(&mut self, outcome: &Outcome) {
        if let Some(i) = outcome.server {
            let core = &self.cluster.cores[i];
            for x in [
                core.current_term(),
                core.commit_index(),
                core.last_log_index(),
                core.role() as u64,
                self.cluster.network.len() as u64,
            ] {
                self.hash = fnv(self.hash, x);
            }
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over the 8 bytes of `x`: a stable hash (std's `DefaultHasher` may change
/// between Rust releases, which would change recorded trace hashes).
fn fnv(mut hash: u64, x: u64) -> u64 {
    for byte in x.to_le_bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

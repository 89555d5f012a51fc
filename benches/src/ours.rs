//! Our sans-IO cores in the benchmarks: a thin wrapper for timing around
//! `raft_conformance::cluster::Cluster`, the one cluster harness (`docs/conformance.md`).
//! The harness applies each `Ready` as the core's contract asks (persist the delta, send,
//! apply to the service); this file only decides what the benchmarks do with it (deliver
//! until quiet, tick for a heartbeat) and keeps no cluster logic of its own.

use raft_conformance::cluster::{Cluster as Harness, ClusterConfig, Delays, Event, Outcome};
use raft_conformance::invariants::Checker;
use raft_impl::core::{Config, Core, Role};

use crate::workload::Cluster;

/// Peers of [`Core`] in the conformance harness, with every message delivered in the order
/// it was sent and no faults. In builds with debug assertions (`cargo test`) the harness's
/// property checker runs after every step; in the benchmarks (release) it does not, so the
/// timing is the cores' and the harness's bookkeeping only.
#[derive(Clone)]
pub struct CoreCluster {
    harness: Harness,
    checker: Option<Checker>,
    leader: usize,
    heartbeat_waits: u64,
}

impl CoreCluster {
    /// A cluster with the runtime's default timing (elections after 30–60 ticks), no leader.
    pub fn new(servers: usize, seed: u64) -> CoreCluster {
        let defaults = Config::new(0, servers, seed);
        let config = ClusterConfig {
            servers,
            election_timeout_min: defaults.election_timeout_ticks_min,
            election_timeout_max: defaults.election_timeout_ticks_max,
            heartbeat_interval: defaults.heartbeat_interval_ticks,
            max_entries_per_message: defaults.max_entries_per_message,
            max_inflight_appends: defaults.max_inflight_appends,
            delays: Delays::NONE,
            dedup: false,
            record: false,
            check_disk: cfg!(debug_assertions),
        };
        CoreCluster {
            harness: Harness::new(config, seed),
            checker: cfg!(debug_assertions).then(|| Checker::new(servers)),
            leader: 0,
            heartbeat_waits: 0,
        }
    }

    /// Server `server`'s core.
    pub fn core(&self, server: usize) -> &Core {
        &self.harness.cores[server]
    }

    /// Bytes of the raft state `server` has stored, once encoded.
    pub fn saved_state_bytes(&self, server: usize) -> usize {
        self.harness.disks[server]
            .raft_state
            .encode()
            .expect("the harness state encodes")
            .len()
    }

    /// Drops every message to and from `server` from now on (a partition of one).
    pub fn cut_off(&mut self, server: usize) {
        self.harness.group[server] = 1 + server as u8;
        self.harness
            .network
            .retain(|m| m.to != server && m.from != server);
    }

    fn is_cut_off(&self, server: usize) -> bool {
        self.harness.group[server] != 0
    }

    /// One tick on every peer that is not cut off, then the cluster settles.
    pub fn tick_all(&mut self) {
        for server in 0..self.servers() {
            if !self.is_cut_off(server) {
                self.execute(&Event::Tick(server));
            }
        }
        self.deliver_all();
    }

    /// A leader among the peers that are not cut off, with the highest term.
    pub fn reachable_leader(&self) -> Option<usize> {
        (0..self.servers())
            .filter(|&i| !self.is_cut_off(i) && self.core(i).role() == Role::Leader)
            .max_by_key(|&i| self.core(i).current_term())
    }

    /// Ticks until a reachable leader exists; returns it and the ticks it took.
    ///
    /// # Panics
    /// If no leader emerges within `max_ticks`.
    pub fn tick_until_leader(&mut self, max_ticks: u64) -> (usize, u64) {
        for ticks in 1..=max_ticks {
            self.tick_all();
            if let Some(leader) = self.reachable_leader() {
                self.leader = leader;
                return (leader, ticks);
            }
        }
        panic!("no leader after {max_ticks} ticks");
    }

    /// How many times [`Cluster::settle`] found a follower that had the leader's entries but
    /// not its commit index once the network was quiet, and had to tick the leader until a
    /// heartbeat told it (see `docs/performance.md`, "commit notification").
    pub fn heartbeat_waits(&self) -> u64 {
        self.heartbeat_waits
    }

    /// Runs one event in the harness (and, with debug assertions, the property checker).
    ///
    /// # Panics
    /// If the core breaks its contract or a property: a benchmark of a broken run means
    /// nothing.
    fn execute(&mut self, event: &Event) {
        let outcome = self
            .harness
            .execute(event)
            .unwrap_or_else(|e| panic!("{event:?}: {e}"));
        self.check(&outcome);
    }

    fn check(&mut self, outcome: &Outcome) {
        if let Some(checker) = &mut self.checker {
            if let Err(e) = checker.check(&self.harness, outcome) {
                panic!("{e}");
            }
        }
    }

    /// Delivers the oldest message until none is in flight.
    fn deliver_all(&mut self) {
        while let Some(k) = self.harness.oldest() {
            self.execute(&Event::Deliver(k));
        }
    }

    fn followers_behind(&self) -> bool {
        let commit = self.core(self.leader).commit_index();
        (0..self.servers()).any(|i| !self.is_cut_off(i) && self.applied(i) < commit)
    }
}

impl Cluster for CoreCluster {
    const NAME: &'static str = "ours";

    /// Elects server 0 by ticking only it until it campaigns, so the setup is cheap and
    /// deterministic.
    fn with_leader(servers: usize, seed: u64) -> Self {
        let mut cluster = CoreCluster::new(servers, seed);
        while cluster.core(0).role() != Role::Leader {
            cluster.execute(&Event::Tick(0));
            cluster.deliver_all();
        }
        cluster.leader = 0;
        cluster
    }

    /// The payload's length is kept (the harness numbers each command in its first bytes,
    /// `Cluster::propose_padded`); its bytes are not.
    fn propose(&mut self, command: Vec<u8>) {
        let outcome = self
            .harness
            .propose_padded(self.leader, command.len())
            .unwrap_or_else(|e| panic!("propose: {e}"));
        self.check(&outcome);
    }

    /// Delivers until quiet. A follower that still lags the leader's commit index is told by
    /// the next heartbeat: the leader is ticked (virtual time, counted in the timing) until
    /// one goes out.
    fn settle(&mut self) {
        // The leader's own write of the batch, made durable once (group commit): only then
        // does it count itself toward the commit quorum (§10.2.1), as raft-rs's leader does
        // once its ready is persisted.
        self.execute(&Event::Sync(self.leader));
        self.deliver_all();
        if self.core(self.leader).role() != Role::Leader || !self.followers_behind() {
            return;
        }
        self.heartbeat_waits += 1;
        let interval = self.core(self.leader).config().heartbeat_interval_ticks;
        for _ in 0..interval {
            self.execute(&Event::Tick(self.leader));
        }
        self.deliver_all();
    }

    fn last_index(&self) -> u64 {
        self.core(self.leader).last_log_index()
    }

    fn applied(&self, server: usize) -> u64 {
        self.harness.services[server].applied.len() as u64
    }

    fn servers(&self) -> usize {
        self.harness.cores.len()
    }
}

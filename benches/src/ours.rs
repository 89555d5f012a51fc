//! A cluster of our sans-IO cores with an in-memory network.

use std::collections::VecDeque;
use std::sync::Arc;

use raft_impl::core::{Apply, Config, Core, Input, Message, PersistentState, Ready, Role};

use crate::workload::Cluster;

/// Peers of [`Core`] whose messages go through per-peer in-memory queues. A `Ready`'s
/// persistence delta is applied to an in-memory stored state (as raft-rs's `MemStorage`
/// appends a `Ready`'s entries), messages are queued, and applies advance the peer's
/// applied index.
#[derive(Clone)]
pub struct CoreCluster {
    cores: Vec<Core>,
    inboxes: Vec<VecDeque<(usize, Message)>>,
    saved_state: Vec<(PersistentState, Arc<Vec<u8>>)>,
    applied: Vec<u64>,
    cut_off: Vec<bool>,
    leader: usize,
    heartbeat_waits: u64,
}

impl CoreCluster {
    /// A cluster with the runtime's default timing (elections after 30–60 ticks), no leader.
    pub fn new(servers: usize, seed: u64) -> CoreCluster {
        let cores = (0..servers)
            .map(|id| {
                Core::new(Config::new(id, servers, seed.wrapping_add(id as u64)))
                    .expect("valid configuration")
            })
            .collect();
        CoreCluster {
            cores,
            inboxes: vec![VecDeque::new(); servers],
            saved_state: vec![(PersistentState::default(), Arc::new(Vec::new())); servers],
            applied: vec![0; servers],
            cut_off: vec![false; servers],
            leader: 0,
            heartbeat_waits: 0,
        }
    }

    pub fn core(&self, server: usize) -> &Core {
        &self.cores[server]
    }

    /// Bytes of the raft state `server` has stored, once encoded.
    pub fn saved_state_bytes(&self, server: usize) -> usize {
        self.saved_state[server].0.encode().unwrap().len()
    }

    /// Drops every message to and from `server` from now on (a partition of one).
    pub fn cut_off(&mut self, server: usize) {
        self.cut_off[server] = true;
        self.inboxes[server].clear();
    }

    /// One tick on every peer that is not cut off, then the cluster settles.
    pub fn tick_all(&mut self) {
        for server in 0..self.cores.len() {
            if !self.cut_off[server] {
                let ready = self.cores[server].step(Input::Tick);
                self.handle(server, ready);
            }
        }
        self.deliver_all();
    }

    /// A leader among the peers that are not cut off, with the highest term.
    pub fn reachable_leader(&self) -> Option<usize> {
        (0..self.cores.len())
            .filter(|&i| !self.cut_off[i] && self.cores[i].role() == Role::Leader)
            .max_by_key(|&i| self.cores[i].current_term())
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

    fn deliver_all(&mut self) {
        loop {
            let mut delivered = false;
            for server in 0..self.cores.len() {
                while let Some((from, message)) = self.inboxes[server].pop_front() {
                    delivered = true;
                    let ready = self.cores[server].step(Input::Message { from, message });
                    self.handle(server, ready);
                }
            }
            if !delivered {
                return;
            }
        }
    }

    fn followers_behind(&self) -> bool {
        let commit = self.cores[self.leader].commit_index();
        (0..self.cores.len()).any(|i| !self.cut_off[i] && self.applied[i] < commit)
    }

    fn handle(&mut self, server: usize, ready: Ready) {
        if let Some(persist) = ready.persist {
            let (state, snapshot) = &mut self.saved_state[server];
            persist
                .apply_to(state, snapshot)
                .expect("the core's deltas fit the stored state in order");
        }
        for out in ready.messages {
            if !self.cut_off[server] && !self.cut_off[out.to] {
                self.inboxes[out.to].push_back((server, out.message));
            }
        }
        for apply in ready.applies {
            let index = match apply {
                Apply::Entry { index, .. } | Apply::Snapshot { index, .. } => index,
            };
            debug_assert!(index > self.applied[server], "applies move forwards");
            self.applied[server] = index;
        }
    }
}

impl Cluster for CoreCluster {
    const NAME: &'static str = "ours";

    /// Elects server 0 by ticking only it until it campaigns, so the setup is cheap and
    /// deterministic.
    fn with_leader(servers: usize, seed: u64) -> Self {
        let mut cluster = CoreCluster::new(servers, seed);
        while cluster.cores[0].role() != Role::Leader {
            let ready = cluster.cores[0].step(Input::Tick);
            cluster.handle(0, ready);
            cluster.deliver_all();
        }
        cluster.leader = 0;
        cluster
    }

    fn propose(&mut self, command: Vec<u8>) {
        let ready = self.cores[self.leader].step(Input::Propose(command.into()));
        self.handle(self.leader, ready);
    }

    /// Delivers until quiet. A follower that still lags the leader's commit index is told by
    /// the next heartbeat: the leader is ticked (virtual time, counted in the timing) until
    /// one goes out.
    fn settle(&mut self) {
        self.deliver_all();
        if self.cores[self.leader].role() != Role::Leader || !self.followers_behind() {
            return;
        }
        self.heartbeat_waits += 1;
        let interval = self.cores[self.leader].config().heartbeat_interval_ticks;
        for _ in 0..interval {
            let ready = self.cores[self.leader].step(Input::Tick);
            self.handle(self.leader, ready);
        }
        self.deliver_all();
    }

    fn last_index(&self) -> u64 {
        self.cores[self.leader].last_log_index()
    }

    fn applied(&self, server: usize) -> u64 {
        self.applied[server]
    }

    fn servers(&self) -> usize {
        self.cores.len()
    }
}

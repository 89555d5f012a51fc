//! The peer: a cluster of tikv/raft-rs `RawNode`s over `MemStorage`, driven exactly like
//! raft-rs's own `single_mem_node` example (persist entries and hard state, send, apply,
//! `advance`), with an in-memory network.

use raft::eraftpb::{ConfState, Message};
use raft::prelude::{Config, Entry};
use raft::storage::MemStorage;
use raft::{RawNode, StateRole};

use crate::workload::Cluster;

/// How raft-rs is configured: its defaults, except messages of up to 1 MiB (raft-rs's
/// default `max_size_per_msg` of 0 sends one entry per message; TiKV uses 1 MiB).
pub fn config(id: u64) -> Config {
    Config {
        id,
        election_tick: 10,
        heartbeat_tick: 3,
        max_size_per_msg: 1024 * 1024,
        max_inflight_msgs: 256,
        ..Config::default()
    }
}

/// Peers `1..=servers` (raft-rs ids start at 1; index `i` holds id `i + 1`).
pub struct RaftRsCluster {
    nodes: Vec<RawNode<MemStorage>>,
    inboxes: Vec<Vec<Message>>,
    applied: Vec<u64>,
    cut_off: Vec<bool>,
    leader: usize,
}

impl RaftRsCluster {
    /// A cluster with no leader; `batch_append` merges queued appends to one peer.
    pub fn new(servers: usize, batch_append: bool) -> RaftRsCluster {
        Self::with_timing(servers, batch_append, 10, 3)
    }

    /// A cluster with no leader whose election timeout is drawn from
    /// `election_tick..2 * election_tick` ticks (raft-rs's rule) and heartbeats every
    /// `heartbeat_tick` ticks.
    pub fn with_timing(
        servers: usize,
        batch_append: bool,
        election_tick: usize,
        heartbeat_tick: usize,
    ) -> RaftRsCluster {
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let voters: Vec<u64> = (1..=servers as u64).collect();
        let nodes = voters
            .iter()
            .map(|&id| {
                let storage =
                    MemStorage::new_with_conf_state(ConfState::from((voters.clone(), Vec::new())));
                let mut config = config(id);
                config.batch_append = batch_append;
                config.election_tick = election_tick;
                config.heartbeat_tick = heartbeat_tick;
                RawNode::new(&config, storage, &logger).expect("a valid raft-rs configuration")
            })
            .collect();
        RaftRsCluster {
            nodes,
            inboxes: vec![Vec::new(); servers],
            applied: vec![0; servers],
            cut_off: vec![false; servers],
            leader: 0,
        }
    }

    /// Like [`Cluster::with_leader`], with raft-rs's `batch_append` switched on.
    pub fn with_leader_batched(servers: usize) -> RaftRsCluster {
        let mut cluster = RaftRsCluster::new(servers, true);
        cluster.elect_first();
        cluster
    }

    /// Makes server 0 campaign and win.
    pub fn elect_first(&mut self) {
        self.nodes[0].campaign().expect("campaign");
        self.settle();
        assert_eq!(self.nodes[0].raft.state, StateRole::Leader);
        self.leader = 0;
    }

    /// Drops every message to and from `server` from now on.
    pub fn cut_off(&mut self, server: usize) {
        self.cut_off[server] = true;
        self.inboxes[server].clear();
    }

    /// One tick on every reachable peer, then the cluster settles.
    pub fn tick_all(&mut self) {
        for server in 0..self.nodes.len() {
            if !self.cut_off[server] {
                self.nodes[server].tick();
            }
        }
        self.settle();
    }

    /// A leader among the reachable peers with the highest term.
    pub fn reachable_leader(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter(|&i| !self.cut_off[i] && self.nodes[i].raft.state == StateRole::Leader)
            .max_by_key(|&i| self.nodes[i].raft.term)
    }

    /// Server `server`'s current term.
    pub fn term(&self, server: usize) -> u64 {
        self.nodes[server].raft.term
    }

    fn route(&mut self, from: usize, messages: Vec<Message>) {
        for message in messages {
            let to = message.to as usize - 1;
            if !self.cut_off[from] && !self.cut_off[to] {
                self.inboxes[to].push(message);
            }
        }
    }

    fn apply(&mut self, server: usize, committed: Vec<Entry>) {
        if let Some(last) = committed.last() {
            self.applied[server] = last.index;
        }
    }

    /// raft-rs's documented Ready loop (`examples/single_mem_node`).
    fn on_ready(&mut self, server: usize) {
        let node = &mut self.nodes[server];
        let mut ready = node.ready();
        let messages = ready.take_messages();
        let store = node.raft.raft_log.store.clone();
        let committed = ready.take_committed_entries();
        if !ready.entries().is_empty() {
            store
                .wl()
                .append(ready.entries())
                .expect("append to MemStorage");
        }
        if let Some(hard_state) = ready.hs() {
            store.wl().set_hardstate(hard_state.clone());
        }
        let persisted_messages = ready.take_persisted_messages();
        let mut light = node.advance(ready);
        if let Some(commit) = light.commit_index() {
            store.wl().mut_hard_state().set_commit(commit);
        }
        let light_messages = light.take_messages();
        let light_committed = light.take_committed_entries();
        node.advance_apply();
        self.route(server, messages);
        self.apply(server, committed);
        self.route(server, persisted_messages);
        self.route(server, light_messages);
        self.apply(server, light_committed);
    }
}

impl Cluster for RaftRsCluster {
    const NAME: &'static str = "raft-rs";

    fn with_leader(servers: usize, _seed: u64) -> Self {
        let mut cluster = RaftRsCluster::new(servers, false);
        cluster.elect_first();
        cluster
    }

    fn propose(&mut self, command: Vec<u8>) {
        self.nodes[self.leader]
            .propose(Vec::new(), command)
            .expect("the leader accepts proposals");
    }

    fn settle(&mut self) {
        loop {
            let mut busy = false;
            for server in 0..self.nodes.len() {
                for message in std::mem::take(&mut self.inboxes[server]) {
                    busy = true;
                    // A message for a stale term is refused with an error; Raft ignores it.
                    let _ = self.nodes[server].step(message);
                }
                if self.nodes[server].has_ready() {
                    busy = true;
                    self.on_ready(server);
                }
            }
            if !busy {
                return;
            }
        }
    }

    fn last_index(&self) -> u64 {
        self.nodes[self.leader].raft.raft_log.last_index()
    }

    fn applied(&self, server: usize) -> u64 {
        self.applied[server]
    }

    fn servers(&self) -> usize {
        self.nodes.len()
    }
}

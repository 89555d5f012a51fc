//! A cluster of runtime peers ([`raft_impl::Raft`]) on the simulated network, reliable
//! setting, as the Lab's tester builds one: every peer has an end to every other, an
//! in-memory persister and an apply channel read by its own thread.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use raft_impl::simnet::Network;
use raft_impl::{ApplyMsg, MemoryPersister, Raft, RaftConfig, Transport};

/// Highest command index applied on each peer, with a condition variable to wait on.
type Applied = Arc<(Mutex<Vec<u64>>, Condvar)>;

/// Runtime peers, their network, and the threads that read their apply channels.
pub struct RuntimeCluster {
    network: Network,
    rafts: Vec<Raft<u64>>,
    applied: Applied,
    appliers: Vec<JoinHandle<()>>,
}

impl RuntimeCluster {
    /// `servers` peers on a reliable network; returns once one of them leads.
    ///
    /// # Panics
    /// If no leader is elected within 5 s (the Lab's bound).
    pub fn start(servers: usize, seed: u64) -> RuntimeCluster {
        let network = Network::new(seed);
        network.set_reliable(true);
        let applied: Applied = Arc::new((Mutex::new(vec![0; servers]), Condvar::new()));
        let mut rafts = Vec::new();
        let mut appliers = Vec::new();
        for me in 0..servers {
            let ends: Vec<Arc<dyn Transport>> = (0..servers)
                .map(|peer| {
                    let end = network.make_end();
                    network.connect(end.id(), peer);
                    network.enable(end.id(), true);
                    Arc::new(end) as Arc<dyn Transport>
                })
                .collect();
            let (apply_tx, apply_rx) = mpsc::channel();
            let config = RaftConfig {
                seed: Some(seed.wrapping_mul(31).wrapping_add(me as u64)),
                ..RaftConfig::default()
            };
            let raft = Raft::make_with_config(
                ends,
                me,
                Arc::new(MemoryPersister::new()),
                apply_tx,
                config,
            )
            .expect("a peer starts");
            network.add_server(me, Arc::new(raft.clone()));
            rafts.push(raft);
            let applied = Arc::clone(&applied);
            appliers.push(std::thread::spawn(move || {
                apply_loop(me, &applied, apply_rx)
            }));
        }
        let cluster = RuntimeCluster {
            network,
            rafts,
            applied,
            appliers,
        };
        cluster.wait_for_leader(Duration::from_secs(5));
        cluster
    }

    fn wait_for_leader(&self, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(leader) = self.rafts.iter().position(|r| r.get_state().1) {
                return leader;
            }
            assert!(Instant::now() < deadline, "no leader within {limit:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `start(command)` at the leader, then waits until every peer applied it.
    ///
    /// # Panics
    /// If it is not applied everywhere within 10 s.
    pub fn commit(&self, command: u64) {
        let index = loop {
            let leader = self.wait_for_leader(Duration::from_secs(5));
            let (index, _, is_leader) = self.rafts[leader].start(command);
            if is_leader {
                break index;
            }
        };
        let (lock, changed) = &*self.applied;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut applied = lock.lock().unwrap_or_else(|p| p.into_inner());
        while applied.iter().any(|&a| a < index) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "index {index} not applied everywhere: {applied:?}"
            );
            applied = changed
                .wait_timeout(applied, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Requests sent over the network so far.
    pub fn rpc_count(&self) -> u64 {
        self.network.total_count()
    }

    /// Kills every peer, stops the network and joins the apply readers.
    pub fn shutdown(self) {
        for raft in &self.rafts {
            raft.kill();
        }
        self.network.cleanup();
        drop(self.rafts);
        for applier in self.appliers {
            let _ = applier.join();
        }
    }
}

fn apply_loop(me: usize, applied: &Applied, apply_rx: mpsc::Receiver<ApplyMsg<u64>>) {
    for message in apply_rx {
        let index = match message {
            ApplyMsg::Command { command_index, .. } => command_index,
            ApplyMsg::Snapshot { snapshot_index, .. } => snapshot_index,
        };
        let (lock, changed) = &**applied;
        let mut applied = lock.lock().unwrap_or_else(|p| p.into_inner());
        applied[me] = applied[me].max(index);
        changed.notify_all();
    }
}

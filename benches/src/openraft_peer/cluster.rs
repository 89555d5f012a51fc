//! Three openraft nodes in one process on one tokio runtime, and the client workload.
//!
//! Setup as in openraft's cluster benchmark: `Config` with election timeouts of 200–2 000 ms
//! and `purge_batch_size = 1024`, the other fields at their defaults; node 0 initializes
//! the membership of all nodes and becomes leader; the bench waits until every node has
//! applied the membership entry. A client is a tokio task calling `client_write` in a loop,
//! one write at a time: `client_write` returns once the entry is committed and applied by
//! the leader's state machine.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use openraft::{Config, EmptyNode, Raft};

use super::log_store::MemLogStore;
use super::network::Router;
use super::state_machine::CountingStateMachine;
use super::BenchRaft;

/// How long setup may wait for a leader and for the membership entry to apply.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running openraft cluster (see the module docs).
pub struct OpenraftCluster {
    runtime: tokio::runtime::Runtime,
    rafts: Vec<BenchRaft>,
    logs: Vec<MemLogStore>,
    applied: Vec<Arc<AtomicU64>>,
    leader: BenchRaft,
}

impl OpenraftCluster {
    /// Starts `peers` nodes on a multi-threaded tokio runtime of `worker_threads` workers and
    /// waits for node 0 to lead with every node having applied the initial membership.
    pub fn start(peers: usize, worker_threads: usize) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads.max(1))
            .enable_all()
            .thread_name("openraft-bench")
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let config = Arc::new(
            Config {
                election_timeout_min: 200,
                election_timeout_max: 2000,
                purge_batch_size: 1024,
                ..Default::default()
            }
            .validate()
            .map_err(|e| format!("openraft config: {e}"))?,
        );
        let router = Router::default();
        let (rafts, logs, applied) = runtime.block_on(async {
            let mut rafts = Vec::new();
            let mut logs = Vec::new();
            let mut applied = Vec::new();
            for id in 0..peers as u64 {
                let log = MemLogStore::default();
                let machine = CountingStateMachine::default();
                applied.push(machine.applied());
                logs.push(log.clone());
                let raft = Raft::new(id, Arc::clone(&config), router.clone(), log, machine)
                    .await
                    .map_err(|e| format!("openraft node {id}: {e}"))?;
                router.add(id, raft.clone());
                rafts.push(raft);
            }
            let members: BTreeMap<u64, EmptyNode> =
                (0..peers as u64).map(|id| (id, EmptyNode {})).collect();
            rafts[0]
                .initialize(members)
                .await
                .map_err(|e| format!("initialize: {e}"))?;
            // Index 1 is the membership entry node 0 wrote on initialize.
            for (id, raft) in rafts.iter().enumerate() {
                raft.wait(Some(SETUP_TIMEOUT))
                    .applied_index_at_least(Some(1), "membership applied")
                    .await
                    .map_err(|e| format!("node {id} did not apply the membership: {e}"))?;
            }
            Ok::<_, String>((rafts, logs, applied))
        })?;
        let leader_id = rafts[0]
            .metrics()
            .borrow()
            .current_leader
            .ok_or("no leader after setup")?;
        let leader = rafts[leader_id as usize].clone();
        Ok(OpenraftCluster {
            runtime,
            rafts,
            logs,
            applied,
            leader,
        })
    }

    /// `clients` concurrent client tasks each write `command` `per_client` times, one write
    /// at a time, at the leader. Returns the wall time from the first write to the last
    /// acknowledgement. Panics if a write fails (the bench has no failures to tolerate: no
    /// faults are injected).
    pub fn write(&self, clients: usize, per_client: u64, command: &Bytes) -> Duration {
        self.runtime.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..clients)
                .map(|_| {
                    let leader = self.leader.clone();
                    let command = command.clone();
                    tokio::spawn(async move {
                        for _ in 0..per_client {
                            if let Err(e) = leader.client_write(command.clone()).await {
                                return Err(e.to_string());
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            for task in tasks {
                match task.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => panic!("openraft client_write failed: {e}"),
                    Err(e) => panic!("openraft client task failed: {e}"),
                }
            }
            start.elapsed()
        })
    }

    /// Commands applied by each node's state machine so far.
    pub fn applied(&self) -> Vec<u64> {
        self.applied
            .iter()
            .map(|a| a.load(Ordering::Acquire))
            .collect()
    }

    /// Waits until every node has applied `count` commands; false on timeout.
    pub fn wait_applied_on_all(&self, count: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.applied().iter().any(|&a| a < count) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Entries held in each node's log store (openraft purges behind its snapshots).
    pub fn log_lengths(&self) -> Vec<usize> {
        self.logs.iter().map(MemLogStore::len).collect()
    }

    /// Stops every node and the runtime.
    pub fn shutdown(self) {
        self.runtime.block_on(async {
            for raft in &self.rafts {
                // A node that already stopped has nothing more to do.
                let _ = raft.shutdown().await;
            }
        });
        self.runtime.shutdown_timeout(Duration::from_secs(5));
    }
}

//! Our `raft_impl::node::Node` runtime end to end: three nodes in one process, any
//! [`Storage`], and an in-process network that hands each encoded message straight to the
//! target's [`Node::receive_bytes`] (which shares the message's buffer with the entries it
//! decodes, where `Node::receive` of a slice copies each command).
//!
//! The network is the counterpart of the openraft peer's function-call network
//! (`openraft_peer::network`), except that our messages travel encoded, as the `Network`
//! trait defines them: `send` runs on the sender's event loop and calls the target's
//! `receive_bytes`, which decodes the bytes and queues the message in the target's bounded inbox
//! without blocking (the contract of `Network::send`). Every node's service is a
//! [`StateMachine`] that counts the entries applied, called in place by the node as
//! openraft calls the peer's counting state machine (`RAFT_BENCH_APPLY_STREAM=1`: a thread
//! per node reading the `Applies` stream counts them instead).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use raft_impl::core::Role;
use raft_impl::node::{
    Applied, ApplyError, LoopSpawner, Network, Node, NodeConfig, ProposeError, StateMachine,
    WriteError,
};
use raft_impl::storage::Storage;

use crate::append_memory::AppendMemory;
use crate::clients::{ClientPool, Operation, Round};
use crate::commit_trace::CommitTrace;

/// How long [`NodeCluster::start`] waits for a leader.
const ELECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Every node, by id, once all have started (messages sent before are dropped: Raft
/// retries).
#[derive(Default)]
struct Router {
    nodes: OnceLock<Vec<Node>>,
}

/// One node's end of the [`Router`].
struct InProcess {
    from: usize,
    router: Arc<Router>,
}

impl Network for InProcess {
    fn send(&self, to: usize, message: Bytes) {
        if let Some(node) = self.router.nodes.get().and_then(|nodes| nodes.get(to)) {
            node.receive_bytes(self.from, message);
        }
    }
}

/// The service of the default setup: a state machine that counts the entries applied,
/// called in place by the node, as openraft calls the peer's counting state machine.
struct Counter(Arc<AtomicU64>, usize, Arc<OnceLock<Arc<CommitTrace>>>);

impl StateMachine for Counter {
    fn apply(&mut self, index: u64, _term: u64, _command: Bytes) -> Result<(), ApplyError> {
        self.0.fetch_add(1, Ordering::Release);
        if let Some(trace) = self.2.get() {
            trace.applied(self.1, index);
        }
        Ok(())
    }

    fn restore(&mut self, _index: u64, _term: u64, _data: Arc<Vec<u8>>) -> Result<(), ApplyError> {
        Ok(())
    }
}

/// `RAFT_BENCH_APPLY_STREAM=1`: the service reads the node's `Applies` stream on a thread
/// of its own instead of being a [`StateMachine`] called in place.
fn apply_stream() -> bool {
    std::env::var_os("RAFT_BENCH_APPLY_STREAM").is_some()
}

/// Three (or `n`) of our nodes in one process (see the module docs).
pub struct NodeCluster {
    router: Arc<Router>,
    appliers: Vec<JoinHandle<()>>,
    applied: Vec<Arc<AtomicU64>>,
    leader: usize,
    /// Proposals refused with `Busy` (back-pressure) and retried.
    busy: Arc<AtomicU64>,
    /// Where [`NodeCluster::write_tasks`] records each write's index and times, and the
    /// state machines each apply, if traced.
    trace: Arc<OnceLock<Arc<CommitTrace>>>,
}

impl NodeCluster {
    /// The node configuration the benches use for node `id` of `servers`: the defaults,
    /// with a fixed seed per node so elections are reproducible.
    /// `RAFT_BENCH_MAX_INFLIGHT_APPENDS=N` overrides `max_inflight_appends`, and
    /// `RAFT_BENCH_SPIN_MICROS=N` overrides `spin_before_sleep` (to compare without a
    /// rebuild).
    pub fn config(id: usize, servers: usize) -> NodeConfig {
        let defaults = NodeConfig::default();
        NodeConfig {
            id,
            servers,
            seed: Some(0x5eed + id as u64),
            max_inflight_appends: std::env::var("RAFT_BENCH_MAX_INFLIGHT_APPENDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(defaults.max_inflight_appends),
            spin_before_sleep: std::env::var("RAFT_BENCH_SPIN_MICROS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map_or(defaults.spin_before_sleep, Duration::from_micros),
            ..defaults
        }
    }

    /// Starts one node per storage (node `i` on `storages[i]`) with `config(i, n)` and waits
    /// until one of them leads and has committed an entry of its term.
    pub fn start(
        storages: Vec<Box<dyn Storage>>,
        config: impl Fn(usize, usize) -> NodeConfig,
    ) -> Result<Self, String> {
        Self::start_with(storages, config, |_, network| network)
    }

    /// [`NodeCluster::start`], with node `i`'s end of the in-process network replaced by
    /// `wrap(i, network)`: a network that sends through it (e.g. with a delay, see
    /// `crate::delayed_network`).
    pub fn start_with(
        storages: Vec<Box<dyn Storage>>,
        config: impl Fn(usize, usize) -> NodeConfig,
        wrap: impl Fn(usize, Arc<dyn Network>) -> Arc<dyn Network>,
    ) -> Result<Self, String> {
        let servers = storages.len();
        let router = Arc::new(Router::default());
        let mut nodes = Vec::new();
        let mut appliers = Vec::new();
        let mut applied = Vec::new();
        let trace = Arc::new(OnceLock::new());
        for (id, storage) in storages.into_iter().enumerate() {
            let network = wrap(
                id,
                Arc::new(InProcess {
                    from: id,
                    router: Arc::clone(&router),
                }),
            );
            let count = Arc::new(AtomicU64::new(0));
            applied.push(Arc::clone(&count));
            let config = config(id, servers);
            let node = if apply_stream() {
                let (node, applies) =
                    Node::start(config, storage, network).map_err(|e| format!("node {id}: {e}"))?;
                appliers.push(
                    std::thread::Builder::new()
                        .name(format!("bench-applier-{id}"))
                        .spawn(move || {
                            // The service: counts every entry handed to it, until the
                            // stream ends.
                            for item in applies {
                                match item {
                                    Applied::Entry { .. } => {
                                        count.fetch_add(1, Ordering::Release);
                                    }
                                    Applied::Snapshot { .. } => {}
                                    Applied::Stopped(_) => break,
                                }
                            }
                        })
                        .map_err(|e| format!("applier thread: {e}"))?,
                );
                node
            } else {
                let machine = Counter(count, id, Arc::clone(&trace));
                Node::start_with_machine(config, storage, network, machine)
                    .map_err(|e| format!("node {id}: {e}"))?
            };
            nodes.push(node);
        }
        if router.nodes.set(nodes).is_err() {
            unreachable!("the router is set once");
        }
        let mut cluster = NodeCluster {
            router,
            appliers,
            applied,
            leader: 0,
            busy: Arc::new(AtomicU64::new(0)),
            trace,
        };
        cluster.leader = cluster.await_leader()?;
        Ok(cluster)
    }

    /// [`NodeCluster::config`] for in-memory storage: the loop syncs itself
    /// (`NodeConfig::sync_on_loop`: an in-memory sync does not block, so a storage worker
    /// would only add a thread hand-off per write), unless `RAFT_BENCH_STORAGE_WORKER=1`.
    pub fn memory_config(id: usize, servers: usize) -> NodeConfig {
        NodeConfig {
            sync_on_loop: std::env::var_os("RAFT_BENCH_STORAGE_WORKER").is_none(),
            ..Self::config(id, servers)
        }
    }

    /// Starts `servers` nodes on fresh in-memory storage that appends in place
    /// ([`AppendMemory`]; see there why not `MemoryStorage`), with
    /// [`NodeCluster::memory_config`].
    pub fn start_memory(servers: usize) -> Result<Self, String> {
        let storages = (0..servers)
            .map(|_| Box::new(AppendMemory::new()) as Box<dyn Storage>)
            .collect();
        Self::start(storages, Self::memory_config)
    }

    /// `config` with the node's event loop a task on `runtime` (`NodeConfig::spawn_loop`)
    /// instead of a thread of its own.
    pub fn on_runtime(config: NodeConfig, runtime: &tokio::runtime::Runtime) -> NodeConfig {
        let handle = runtime.handle().clone();
        NodeConfig {
            spawn_loop: Some(LoopSpawner::new(move |task| {
                handle.spawn(task);
            })),
            ..config
        }
    }

    /// [`NodeCluster::start_memory`] with every node's event loop a task on `runtime`
    /// (`NodeConfig::spawn_loop`) instead of a thread of its own: the loops share the
    /// runtime's worker threads with the clients, as openraft's tasks share theirs.
    pub fn start_memory_tasks(
        servers: usize,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Self, String> {
        let storages = (0..servers)
            .map(|_| Box::new(AppendMemory::new()) as Box<dyn Storage>)
            .collect();
        Self::start(storages, |id, servers| {
            Self::on_runtime(Self::memory_config(id, servers), runtime)
        })
    }

    /// Starts `servers` nodes on `raft_impl::storage::MemoryStorage` (crash-modelling: its
    /// sync clones the whole durable state), for comparison with [`NodeCluster::start_memory`].
    pub fn start_memory_storage(servers: usize) -> Result<Self, String> {
        let storages = (0..servers)
            .map(|_| Box::new(raft_impl::storage::MemoryStorage::new()) as Box<dyn Storage>)
            .collect();
        Self::start(storages, Self::memory_config)
    }

    fn nodes(&self) -> &[Node] {
        self.router.nodes.get().map_or(&[], Vec::as_slice)
    }

    /// Waits for a leader that commits a proposal (which also commits every entry of earlier
    /// terms, §5.4.2).
    fn await_leader(&self) -> Result<usize, String> {
        let deadline = Instant::now() + ELECTION_TIMEOUT;
        while Instant::now() < deadline {
            for node in self.nodes() {
                if node.state().role != Role::Leader {
                    continue;
                }
                if let Ok(proposal) = node.propose(Bytes::from_static(b"warm-up")) {
                    if let Some(Ok(())) = proposal.wait_timeout(Duration::from_secs(5)) {
                        return Ok(node.id());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Err("no leader committed a proposal within 30 s".into())
    }

    /// From now on, [`NodeCluster::write_tasks`] records every write in `trace`
    /// ([`CommitTrace::done`]), and the nodes' state machines every apply (the default
    /// setup only). Set once; later calls change nothing.
    pub fn set_trace(&self, trace: Arc<CommitTrace>) {
        let _ = self.trace.set(trace);
    }

    /// The index of the leader found at start.
    pub fn leader_id(&self) -> usize {
        self.leader
    }

    /// The leader found at start.
    pub fn leader(&self) -> &Node {
        &self.nodes()[self.leader]
    }

    /// A client pool of `clients` threads, each proposing `command` at the leader and
    /// waiting until it is applied there, one at a time. A `Busy` refusal (back-pressure) is
    /// retried after a yield and counted ([`NodeCluster::busy`]); any other error fails the
    /// round.
    pub fn clients(&self, clients: usize, command: Bytes) -> ClientPool {
        let leader = self.leader().clone();
        let busy = Arc::clone(&self.busy);
        let operation: Arc<Operation> = Arc::new(move |_client, _seq| loop {
            match leader.propose(command.clone()) {
                Ok(proposal) => return proposal.wait().map_err(|e| e.to_string()),
                Err(ProposeError::Busy) => {
                    busy.fetch_add(1, Ordering::Relaxed);
                    std::thread::yield_now();
                }
                Err(e) => return Err(e.to_string()),
            }
        });
        ClientPool::new(clients, operation)
    }

    /// `clients` tasks on `runtime`, each writing `command` `per_client` times at the leader
    /// with [`Node::write`] and awaiting each until it is applied there, one at a time — the
    /// client model of the openraft side (a tokio task per client calling
    /// `client_write(..).await`). The round's time runs from the first spawn to the last
    /// completion; every write's own latency is recorded. A `Busy` refusal (back-pressure)
    /// is retried after a yield and counted ([`NodeCluster::busy`]); any other error fails
    /// the round.
    pub fn write_tasks(
        &self,
        runtime: &tokio::runtime::Runtime,
        clients: usize,
        per_client: u64,
        command: &Bytes,
    ) -> Result<Round, String> {
        runtime.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..clients)
                .map(|_| {
                    let leader = self.leader().clone();
                    let busy = Arc::clone(&self.busy);
                    let command = command.clone();
                    let trace = self.trace.get().cloned();
                    tokio::spawn(async move {
                        let mut latencies = Vec::with_capacity(per_client as usize);
                        for _ in 0..per_client {
                            let begun = Instant::now();
                            loop {
                                match leader.write(command.clone()).await {
                                    Ok((index, _)) => {
                                        if let Some(trace) = &trace {
                                            trace.done(index, begun);
                                        }
                                        break;
                                    }
                                    Err(WriteError::Refused(ProposeError::Busy)) => {
                                        busy.fetch_add(1, Ordering::Relaxed);
                                        tokio::task::yield_now().await;
                                    }
                                    Err(e) => return Err(e.to_string()),
                                }
                            }
                            latencies.push(begun.elapsed());
                        }
                        Ok(latencies)
                    })
                })
                .collect();
            let mut latencies = Vec::with_capacity(clients * per_client as usize);
            let mut failed = None;
            for task in tasks {
                match task.await {
                    Ok(Ok(mut own)) => latencies.append(&mut own),
                    Ok(Err(e)) => failed = Some(e),
                    Err(e) => failed = Some(format!("client task: {e}")),
                }
            }
            let elapsed = start.elapsed();
            match failed {
                Some(e) => Err(e),
                None => Ok(Round { elapsed, latencies }),
            }
        })
    }

    /// A tokio runtime of `workers` threads for [`NodeCluster::write_tasks`]' clients.
    pub fn client_runtime(workers: usize) -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("bench-client")
            .enable_all()
            .build()
            .expect("a tokio runtime for the bench clients")
    }

    /// Proposals refused with `Busy` and retried so far.
    pub fn busy(&self) -> u64 {
        self.busy.load(Ordering::Relaxed)
    }

    /// Entries each node's service was handed so far.
    pub fn applied(&self) -> Vec<u64> {
        self.applied
            .iter()
            .map(|a| a.load(Ordering::Acquire))
            .collect()
    }

    /// Waits until every node's service was handed at least `count` entries; false on
    /// timeout.
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

    /// Each node's status.
    pub fn status(&self) -> Vec<raft_impl::node::Status> {
        self.nodes().iter().map(Node::status).collect()
    }

    /// Shuts every node down and joins the appliers.
    pub fn shutdown(mut self) {
        for node in self.nodes() {
            node.shutdown();
        }
        for applier in std::mem::take(&mut self.appliers) {
            let _ = applier.join();
        }
        // With the loops as tasks `shutdown` only requests the stop: wait until every
        // node has released what it owns (its storage worker has finished its writes), so
        // a caller may remove the storages' directories next. Bounded: a loop task whose
        // runtime is no longer polled would never end.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.nodes().iter().any(|node| node.running_threads() > 0)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

//! One server of the service: a Raft node on the disk storage and the TCP transport, the
//! store it applies to, and the client listener.
//!
//! Reads go through the log like writes (linearizable by construction: a get is answered
//! with the state right after its own entry is applied). The `--stale-reads` mode answers
//! gets from the local store instead, and exists only to show that the fault test catches
//! a non-linearizable service.
//!
//! The request path is built to cost few thread wake-ups per request, because on a small
//! machine the context switches, not the work, bound throughput (docs/performance.md,
//! "raft-kv against etcd"): the applier applies every entry waiting at once and then wakes
//! only the handlers whose entries it applied (not every handler on every entry); a frame
//! leaves in one write (one TCP segment with `TCP_NODELAY`) and is read through a buffer;
//! the listener blocks in `accept` instead of polling.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;
use raft_impl::node::{Applied, Applies, Network, Node, NodeConfig, ProposeError, StopReason};
use raft_impl::storage::{DiskOptions, DiskStorage, Storage};
use raft_tcp::{TcpConfig, TcpTransport};

use crate::command::{Op, Outcome, Request};
use crate::protocol::{read_frame, write_frame, Admin, ClientMessage, Reply};
use crate::store::{Applied as StoreApplied, Store};

/// Client connections served at once; more are closed at accept.
const MAX_CLIENT_CONNECTIONS: usize = 512;

/// Committed entries the applier takes from the node at once, at most, before it publishes
/// its progress and wakes the handlers whose entries it applied.
const MAX_APPLY_BATCH: usize = 1024;

/// While a handler waits for its entry, it checks this often whether the node has given
/// up on the proposal (leadership lost), so that the client retries elsewhere at once.
const PROPOSAL_CHECK: Duration = Duration::from_millis(50);

/// How a server is started.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// This server's id: an index into `raft_peers` and `client_addresses`.
    pub id: usize,
    /// Every server's Raft (peer-to-peer) address, by id.
    pub raft_peers: Vec<SocketAddr>,
    /// Where this server listens for clients.
    pub client_listen: SocketAddr,
    /// The data directory (the disk storage).
    pub data_dir: PathBuf,
    /// Create a new storage in `data_dir` (a new server) instead of opening the one there.
    pub create: bool,
    /// The cluster's id (a peer of another cluster is refused).
    pub cluster_id: u64,
    /// The cluster's shared secret (peers authenticate each other with it).
    pub secret: Vec<u8>,
    /// Take a snapshot once at least this many entries were applied since the last one
    /// *and* their commands add up to at least the size of the last snapshot. Snapshotting
    /// once the log has outgrown the previous snapshot (the policy Ongaro's thesis suggests
    /// in its chapter on log compaction) keeps the cost of writing snapshots proportional to
    /// the bytes applied, however large the state: a fixed entry count alone would write the
    /// whole state again every few thousand entries.
    pub snapshot_every: u64,
    /// Deliberately broken: answer gets from the local store, without the log.
    pub stale_reads: bool,
    /// Accept fault-injection admin commands from clients (the fault test).
    pub fault_admin: bool,
    /// How long a client request may wait for its entry to be applied.
    pub request_timeout: Duration,
}

/// Why a server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The storage could not be opened or created.
    #[error("storage in {path}")]
    Storage {
        /// The data directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: raft_impl::storage::StorageError,
    },
    /// The transport could not start.
    #[error("transport")]
    Transport(#[from] raft_tcp::TcpError),
    /// The node could not start.
    #[error("raft node")]
    Node(#[from] raft_impl::node::NodeError),
    /// The client listener could not be opened.
    #[error("client listener on {address}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The node stopped on an error (storage failure, an entry this service cannot decode).
    #[error("raft node stopped")]
    Stopped(#[source] StopReason),
    /// The snapshot the node handed over does not decode.
    #[error("snapshot does not decode")]
    Snapshot(#[from] crate::store::SnapshotError),
}

struct TcpNetwork(Arc<TcpTransport>);

impl Network for TcpNetwork {
    fn send(&self, to: usize, message: Bytes) {
        self.0.send(to, message);
    }
}

/// The applied state, shared by the applier and the client handlers.
struct Shared {
    store: Mutex<Store>,
    progress: Mutex<Progress>,
    /// Set (under the `progress` lock) when the applier has ended.
    stopped: AtomicBool,
}

/// How far the applier got, and who waits for it to get further.
struct Progress {
    /// The last index applied to the store.
    applied: u64,
    /// Handlers waiting for an index to be applied, by that index. Each is woken once,
    /// when the applier passes its index or ends.
    waiters: BTreeMap<u64, Vec<SyncSender<()>>>,
}

impl Shared {
    /// Records that everything up to `index` is applied and wakes the handlers waiting for
    /// it.
    fn publish(&self, index: u64) {
        let ready = {
            let mut progress = lock(&self.progress);
            progress.applied = progress.applied.max(index);
            let later = progress.waiters.split_off(&(index + 1));
            std::mem::replace(&mut progress.waiters, later)
        };
        wake(ready);
    }

    /// The applier has ended: no index will be applied any more; every waiter is woken.
    fn end(&self) {
        let all = {
            let mut progress = lock(&self.progress);
            self.stopped.store(true, Ordering::SeqCst);
            std::mem::take(&mut progress.waiters)
        };
        wake(all);
    }
}

fn wake(waiters: BTreeMap<u64, Vec<SyncSender<()>>>) {
    for waiter in waiters.into_values().flatten() {
        // A handler that gave up has dropped its receiver; nothing to wake then.
        let _ = waiter.try_send(());
    }
}

/// A running server.
pub struct Server {
    node: Node,
    transport: Arc<TcpTransport>,
    shared: Arc<Shared>,
    client_address: SocketAddr,
    threads: Vec<JoinHandle<Result<(), ServerError>>>,
}

impl Server {
    /// Opens (or creates) the storage, starts the transport, the node, the applier and the
    /// client listener.
    pub fn start(config: ServerConfig) -> Result<Server, ServerError> {
        let storage_error = |source| ServerError::Storage {
            path: config.data_dir.clone(),
            source,
        };
        let storage = if config.create {
            DiskStorage::create(&config.data_dir, DiskOptions::default()).map_err(storage_error)?
        } else {
            DiskStorage::open(&config.data_dir, DiskOptions::default()).map_err(storage_error)?
        };
        let initial_snapshot = storage.recovered().snapshot;
        let store = Store::decode(&initial_snapshot)?;
        let applied_from = storage.recovered().state.snapshot_index;

        let node_slot: Arc<OnceLock<raft_impl::node::Receiver>> = Arc::new(OnceLock::new());
        let deliver = {
            let node_slot = Arc::clone(&node_slot);
            Arc::new(move |from: usize, message: Bytes| {
                if let Some(node) = node_slot.get() {
                    node.receive_bytes(from, message);
                }
            })
        };
        let tcp = TcpConfig::new(
            config.cluster_id,
            config.id,
            config.raft_peers.clone(),
            config.secret.clone(),
        );
        let transport = Arc::new(TcpTransport::start(tcp, deliver)?);
        let node_config = NodeConfig {
            id: config.id,
            servers: config.raft_peers.len(),
            ..NodeConfig::default()
        };
        let (node, applies) = Node::start(
            node_config,
            Box::new(storage),
            Arc::new(TcpNetwork(Arc::clone(&transport))),
        )?;
        let _ = node_slot.set(node.receiver());

        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            progress: Mutex::new(Progress {
                applied: applied_from,
                waiters: BTreeMap::new(),
            }),
            stopped: AtomicBool::new(false),
        });
        let listener =
            TcpListener::bind(config.client_listen).map_err(|source| ServerError::Listen {
                address: config.client_listen,
                source,
            })?;
        let client_address = listener
            .local_addr()
            .map_err(|source| ServerError::Listen {
                address: config.client_listen,
                source,
            })?;
        let applier = {
            let (node, shared, every) = (node.clone(), Arc::clone(&shared), config.snapshot_every);
            thread::spawn(move || apply_loop(&node, &applies, &shared, every))
        };
        let acceptor = {
            let (node, shared, transport) =
                (node.clone(), Arc::clone(&shared), Arc::clone(&transport));
            let config = config.clone();
            thread::spawn(move || {
                accept_clients(&listener, &node, &shared, &transport, &config);
                Ok(())
            })
        };
        Ok(Server {
            node,
            transport,
            shared,
            client_address,
            threads: vec![applier, acceptor],
        })
    }

    /// Where clients connect.
    pub fn client_address(&self) -> SocketAddr {
        self.client_address
    }

    /// The Raft node (status, watch).
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Runs until the node stops; returns why.
    pub fn wait(mut self) -> Result<(), ServerError> {
        let applier = self.threads.remove(0);
        let result = applier.join().unwrap_or_else(|_| {
            Err(ServerError::Stopped(StopReason::Panicked {
                message: "applier panicked".into(),
            }))
        });
        self.stop();
        result
    }

    /// Stops everything.
    pub fn stop(&mut self) {
        self.shared.end();
        self.node.shutdown();
        self.transport.shutdown();
        // The listener blocks in `accept`: a connection of our own wakes it to see `stopped`.
        let mut wake = self.client_address;
        if wake.ip().is_unspecified() {
            wake.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        let woken = TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok();
        for thread in self.threads.drain(..) {
            if woken || thread.is_finished() {
                let _ = thread.join();
            }
            // Else the acceptor cannot be woken (it is detached, and ends with the process).
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The store is updated whole per entry; a panic elsewhere does not leave it half-written.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Applies committed entries in order, all those waiting at once, then publishes how far
/// it got; snapshots as [`ServerConfig::snapshot_every`] says.
fn apply_loop(
    node: &Node,
    applies: &Applies,
    shared: &Shared,
    every: u64,
) -> Result<(), ServerError> {
    let mut since_snapshot = 0u64;
    let mut bytes_since_snapshot = 0u64;
    let mut last_snapshot_bytes = 0u64;
    let mut batch = Vec::with_capacity(MAX_APPLY_BATCH);
    let result = 'stream: loop {
        let Some(first) = applies.recv() else {
            break Ok(());
        };
        batch.push(first);
        while batch.len() < MAX_APPLY_BATCH {
            match applies.try_recv() {
                Some(next) => batch.push(next),
                None => break,
            }
        }
        let mut applied_to = None;
        let mut snapshot = None;
        let mut store = lock(&shared.store);
        for applied in batch.drain(..) {
            match applied {
                Applied::Entry { index, command, .. } => {
                    let request: Request = match postcard::from_bytes(&command) {
                        Ok(request) => request,
                        Err(error) => {
                            // A committed entry this service cannot decode: applying past it
                            // would skip a committed command, so the server stops.
                            tracing::error!(index, %error, "committed entry does not decode; stopping");
                            drop(store);
                            if let Some(index) = applied_to {
                                shared.publish(index);
                            }
                            break 'stream Err(ServerError::Stopped(StopReason::Undecodable {
                                index,
                                reason: error.to_string(),
                            }));
                        }
                    };
                    let _: StoreApplied = store.apply(&request);
                    applied_to = Some(index);
                    since_snapshot += 1;
                    bytes_since_snapshot += command.len() as u64;
                    if since_snapshot >= every && bytes_since_snapshot >= last_snapshot_bytes {
                        let bytes = store.encode();
                        last_snapshot_bytes = bytes.len() as u64;
                        (since_snapshot, bytes_since_snapshot) = (0, 0);
                        // Taken after the batch, outside the store lock: the node accepts a
                        // snapshot of any index it has released for applying.
                        snapshot = Some((index, bytes));
                    }
                }
                Applied::Snapshot { index, data, .. } => {
                    match Store::decode(&data) {
                        Ok(restored) => *store = restored,
                        Err(error) => {
                            drop(store);
                            if let Some(index) = applied_to {
                                shared.publish(index);
                            }
                            break 'stream Err(error.into());
                        }
                    }
                    (since_snapshot, bytes_since_snapshot) = (0, 0);
                    last_snapshot_bytes = data.len() as u64;
                    // A snapshot from the leader supersedes one of ours taken earlier in
                    // this batch (the node would ignore it as not after its own).
                    snapshot = None;
                    applied_to = Some(index);
                }
                Applied::Stopped(reason) => {
                    drop(store);
                    if let Some(index) = applied_to {
                        shared.publish(index);
                    }
                    break 'stream Err(ServerError::Stopped(reason));
                }
            }
        }
        drop(store);
        if let Some(index) = applied_to {
            shared.publish(index);
        }
        if let Some((index, bytes)) = snapshot {
            if let Err(error) = node.snapshot(index, bytes) {
                tracing::warn!(%error, "snapshot not taken");
            }
        }
    };
    shared.end();
    result
}

fn accept_clients(
    listener: &TcpListener,
    node: &Node,
    shared: &Arc<Shared>,
    transport: &Arc<TcpTransport>,
    config: &ServerConfig,
) {
    let open = Arc::new(AtomicUsize::new(0));
    while !shared.stopped.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, for example: wait instead of spinning.
                tracing::debug!(%error, "accept failed");
                thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        if shared.stopped.load(Ordering::SeqCst) {
            return; // woken by `Server::stop`
        }
        if open.load(Ordering::SeqCst) >= MAX_CLIENT_CONNECTIONS {
            continue; // dropped: closed
        }
        open.fetch_add(1, Ordering::SeqCst);
        let (node, shared, transport, open, config) = (
            node.clone(),
            Arc::clone(shared),
            Arc::clone(transport),
            Arc::clone(&open),
            config.clone(),
        );
        thread::spawn(move || {
            serve_client(stream, &node, &shared, &transport, &config);
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

fn serve_client(
    mut stream: TcpStream,
    node: &Node,
    shared: &Shared,
    transport: &TcpTransport,
    config: &ServerConfig,
) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(input) = stream.try_clone() else {
        return;
    };
    // A frame's length and payload in one read system call.
    let mut input = BufReader::new(input);
    while !shared.stopped.load(Ordering::SeqCst) {
        let message: ClientMessage = match read_frame(&mut input) {
            Ok(Some(message)) => message,
            Ok(None) => return,
            Err(error) => {
                tracing::debug!(%error, "client connection closed");
                return;
            }
        };
        let reply = match message {
            ClientMessage::Request(request) => handle_request(request, node, shared, config),
            ClientMessage::Admin(admin) if config.fault_admin => {
                handle_admin(admin, node, transport)
            }
            ClientMessage::Admin(_) => Reply::Refused("admin commands are disabled".into()),
        };
        if write_frame(&mut stream, &reply).is_err() {
            return;
        }
    }
}

fn handle_request(request: Request, node: &Node, shared: &Shared, config: &ServerConfig) -> Reply {
    if config.stale_reads {
        if let Op::Get { key } = &request.op {
            // Deliberately broken: the local copy may be behind the cluster.
            return Reply::Outcome(Outcome::Value(lock(&shared.store).read_local(key)));
        }
    }
    let (client, seq) = (request.client, request.seq);
    if let Some(outcome) = lock(&shared.store).outcome_of(client, seq) {
        return Reply::Outcome(outcome); // a retry of a request applied already
    }
    let command = match postcard::to_stdvec(&request) {
        Ok(command) => Bytes::from(command),
        Err(error) => return Reply::Refused(format!("request does not encode: {error}")),
    };
    let proposal = match node.propose(command) {
        Ok(proposal) => proposal,
        Err(ProposeError::NotLeader { leader, .. }) => return Reply::NotLeader { leader },
        Err(ProposeError::Busy) => return Reply::Busy,
        Err(ProposeError::TooLarge { bytes, max }) => {
            return Reply::Refused(format!(
                "request of {bytes} bytes is over the limit of {max}"
            ))
        }
        Err(_) => return Reply::Retry,
    };
    let index = proposal.index();
    let deadline = Instant::now() + config.request_timeout;
    // Wait until this service's applier has applied the entry at `index`: it wakes this
    // handler alone, once, when it gets there (or ends).
    let (waiter, woken) = sync_channel(1);
    let must_wait = {
        let mut progress = lock(&shared.progress);
        if shared.stopped.load(Ordering::SeqCst) {
            return Reply::Retry;
        }
        let must_wait = progress.applied < index;
        if must_wait {
            progress.waiters.entry(index).or_default().push(waiter);
        }
        must_wait
    };
    if must_wait {
        // Set once the node has released the entry for applying: nothing more to ask it.
        let mut released = false;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Reply::Retry;
            }
            match woken.recv_timeout(PROPOSAL_CHECK.min(deadline - now)) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) if !released => {
                    // The node gave up on the entry (leadership lost, overwritten, stopped):
                    // its outcome is unknown here, so the client retries (same sequence
                    // number: applied at most once).
                    match proposal.wait_timeout(Duration::ZERO) {
                        Some(Ok(())) => released = true,
                        Some(Err(_)) => return Reply::Retry,
                        None => {}
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }
    if shared.stopped.load(Ordering::SeqCst) && lock(&shared.progress).applied < index {
        return Reply::Retry;
    }
    // The entry at `index` is applied. If it was this request, its outcome is recorded;
    // if another entry took the index (leadership changed), the client retries.
    match lock(&shared.store).outcome_of(client, seq) {
        Some(outcome) => Reply::Outcome(outcome),
        None => Reply::Retry,
    }
}

fn handle_admin(admin: Admin, node: &Node, transport: &TcpTransport) -> Reply {
    match admin {
        Admin::Cut(peers) => {
            transport.faults().heal_all();
            for peer in peers {
                transport.faults().cut(peer);
            }
            Reply::AdminDone
        }
        Admin::HealAll => {
            transport.faults().heal_all();
            Reply::AdminDone
        }
        Admin::Status => {
            let status = node.status();
            Reply::Status {
                term: status.state.term,
                leader: status.state.role == raft_impl::core::Role::Leader,
                commit_index: status.commit_index,
            }
        }
    }
}

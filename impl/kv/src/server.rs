//! One server of the service: a Raft node on the disk storage and the TCP transport, the
//! store it applies to, and the client listener.
//!
//! Reads go through the log like writes (linearizable by construction: a get is answered
//! with the state right after its own entry is applied). The `--stale-reads` mode answers
//! gets from the local store instead, and exists only to show that the fault test catches
//! a non-linearizable service.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
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
    /// Take a snapshot when this many entries were applied since the last one.
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
    /// The last index applied to `store`.
    applied: Mutex<u64>,
    applied_changed: Condvar,
    stopped: AtomicBool,
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
                    node.receive(from, &message);
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
            applied: Mutex::new(applied_from),
            applied_changed: Condvar::new(),
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
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.applied_changed.notify_all();
        self.node.shutdown();
        self.transport.shutdown();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
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

/// Applies committed entries in order; snapshots every `every` entries.
fn apply_loop(
    node: &Node,
    applies: &Applies,
    shared: &Shared,
    every: u64,
) -> Result<(), ServerError> {
    let mut since_snapshot = 0;
    let result = loop {
        let Some(applied) = applies.recv() else {
            break Ok(());
        };
        match applied {
            Applied::Entry { index, command, .. } => {
                let request: Request = match postcard::from_bytes(&command) {
                    Ok(request) => request,
                    Err(error) => {
                        // A committed entry this service cannot decode: applying past it would
                        // skip a committed command, so the server stops.
                        tracing::error!(index, %error, "committed entry does not decode; stopping");
                        break Err(ServerError::Stopped(StopReason::Undecodable {
                            index,
                            reason: error.to_string(),
                        }));
                    }
                };
                let mut store = lock(&shared.store);
                let _: StoreApplied = store.apply(&request);
                since_snapshot += 1;
                if since_snapshot >= every {
                    since_snapshot = 0;
                    let bytes = store.encode();
                    drop(store);
                    if let Err(error) = node.snapshot(index, bytes) {
                        tracing::warn!(%error, "snapshot not taken");
                    }
                } else {
                    drop(store);
                }
                *lock(&shared.applied) = index;
                shared.applied_changed.notify_all();
            }
            Applied::Snapshot { index, data, .. } => {
                match Store::decode(&data) {
                    Ok(store) => *lock(&shared.store) = store,
                    Err(error) => break Err(error.into()),
                }
                since_snapshot = 0;
                *lock(&shared.applied) = index;
                shared.applied_changed.notify_all();
            }
            Applied::Stopped(reason) => break Err(ServerError::Stopped(reason)),
        }
    };
    shared.stopped.store(true, Ordering::SeqCst);
    shared.applied_changed.notify_all();
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
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !shared.stopped.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => continue,
        };
        if open.load(Ordering::SeqCst) >= MAX_CLIENT_CONNECTIONS
            || stream.set_nonblocking(false).is_err()
        {
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
    while !shared.stopped.load(Ordering::SeqCst) {
        let message: ClientMessage = match read_frame(&mut stream) {
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
    match proposal.wait_timeout(config.request_timeout) {
        Some(Ok(())) => {}
        Some(Err(_)) | None => return Reply::Retry,
    }
    // The node released the entry; wait until this service's applier has applied it.
    let mut applied = lock(&shared.applied);
    while *applied < index && !shared.stopped.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= deadline {
            return Reply::Retry;
        }
        applied = shared
            .applied_changed
            .wait_timeout(applied, deadline - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    drop(applied);
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

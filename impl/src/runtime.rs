//! The Lab 2 API over a [`Node`]: `Raft::make / start / get_state / snapshot / kill`, the
//! apply channel and the RPC handler, as a thin layer.
//!
//! - The Lab's blob [`Persister`] is the node's storage through [`PersisterStorage`] (deltas
//!   applied to an in-memory copy, the whole blob saved on each sync: the Lab's semantics).
//! - The Lab's [`Transport`]s are the node's [`Network`](crate::node::Network) through a
//!   fixed pool of sender threads per destination with a bounded queue
//!   (`runtime/lab_network.rs`); each reply is fed back to the node.
//! - An incoming request ([`RpcHandler::handle`]) is posted to the node's event loop, and
//!   the handler waits for the reply that request produced, which the loop releases only
//!   once the step's state is durable (Figure 2).
//! - Committed entries are decoded into the service's `C` and sent on the apply channel
//!   (`runtime/apply_channel.rs`); one that cannot be decoded stops the peer
//!   ([`Raft::stop_reason`]).
//!
//! No lock is held across a storage write, a send or a channel send: the core belongs to
//! the node's event loop alone.

mod apply_channel;
mod lab_network;

use std::marker::PhantomData;
use std::sync::mpsc::Sender;
use std::time::Duration;

use crate::core::{self, codec, Core, Message, Role};
use crate::node::{oneshot, Node, NodeConfig, NodeError, Proposal, ProposeError, StopReason};
use crate::persister::{BlobOpenError, PersisterStorage};
use crate::sync::{AtomicBool, Ordering};
use crate::{ApplyMsg, Command, Persister, RpcHandler, Transport};

pub use crate::node::TimingError;
use apply_channel::ApplyChannel;
use lab_network::LabNetwork;

/// Length of one core tick: the granularity of heartbeats and election timeouts.
pub const TICK: Duration = Duration::from_millis(10);

/// Largest encoded command the Lab layer proposes or decodes (the node's default: one
/// entry always fits one AppendEntries of the default `max_batch_bytes`).
const MAX_COMMAND_BYTES: usize = 1024 * 1024;

/// Why a peer could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    /// `me` is not an index into `peers`.
    #[error("`me` is {me}, but there are {peers} peers")]
    NoSuchPeer {
        /// The `me` argument.
        me: usize,
        /// `peers.len()`.
        peers: usize,
    },
    /// The [`RaftConfig`] timings, rounded to ticks, are unusable.
    #[error("invalid timing configuration")]
    Timing(#[from] TimingError),
    /// The persister could not be read.
    #[error("could not read the persisted state")]
    Persist(#[from] crate::PersistError),
    /// What the persister holds is not a state this peer can restore.
    #[error("could not restore from the persisted state")]
    Restore(#[from] core::RestoreError),
    /// The node refused the rest of the configuration.
    #[error("could not start the node")]
    Node(#[source] NodeError),
}

impl From<BlobOpenError> for MakeError {
    fn from(error: BlobOpenError) -> Self {
        match error {
            BlobOpenError::Read(error) => MakeError::Persist(error),
            BlobOpenError::Restore(error) => MakeError::Restore(error),
        }
    }
}

impl From<NodeError> for MakeError {
    fn from(error: NodeError) -> Self {
        match error {
            NodeError::Timing(error) => MakeError::Timing(error),
            NodeError::Restore(error) => MakeError::Restore(error),
            other => MakeError::Node(other),
        }
    }
}

/// Timing of the runtime. Defaults satisfy the Lab: at most 10 heartbeats per second and a
/// new leader well within 5 s of a failure.
///
/// Durations are rounded up to whole [`TICK`]s (at least one) and then checked
/// ([`TimingError`]): `heartbeat_interval < election_timeout_min <= election_timeout_max`,
/// in ticks.
#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// A leader sends AppendEntries to every follower at least this often.
    pub heartbeat_interval: Duration,
    /// Election timeouts are drawn uniformly from `election_timeout_min..=
    /// election_timeout_max` (§5.2).
    pub election_timeout_min: Duration,
    /// The largest election timeout.
    pub election_timeout_max: Duration,
    /// Seed for this peer's election-timeout RNG; `None` draws one from the OS.
    pub seed: Option<u64>,
    /// Whether the node keeps time itself. Without it, time advances only through
    /// [`Raft::tick`] (deterministic tests, loom models: loom cannot model sleeping).
    pub spawn_ticker: bool,
    /// Sender threads per destination peer (each blocks in one `Transport::call` at a
    /// time). 0 sends nothing (tests that play the other peers through `handle`).
    pub sender_threads: usize,
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            heartbeat_interval: Duration::from_millis(100),
            election_timeout_min: Duration::from_millis(300),
            election_timeout_max: Duration::from_millis(600),
            seed: None,
            spawn_ticker: true,
            sender_threads: 16,
        }
    }
}

impl RaftConfig {
    /// The node's configuration for server `me` of `servers`.
    fn node_config(&self, me: usize, servers: usize) -> NodeConfig {
        NodeConfig {
            id: me,
            servers,
            tick: TICK,
            heartbeat_interval: self.heartbeat_interval,
            election_timeout_min: self.election_timeout_min,
            election_timeout_max: self.election_timeout_max,
            seed: self.seed,
            max_command_bytes: MAX_COMMAND_BYTES,
            auto_tick: self.spawn_ticker,
            // The Lab's `start` never waits for an outcome; the bound only guards memory.
            max_pending_proposals: 1 << 20,
            // Figure 2 as written: next_index moves only on replies (the Lab's rules).
            max_inflight_appends: 1,
            // The Lab's tests run many peers on few CPUs; a peer sleeps when idle.
            spin_before_sleep: Duration::ZERO,
            ..NodeConfig::default()
        }
    }
}

/// One Raft peer: a cheap, clonable handle (all clones are the same peer).
pub struct Raft<C: Command> {
    inner: std::sync::Arc<Lab>,
    _command: PhantomData<fn() -> C>,
}

struct Lab {
    me: usize,
    servers: usize,
    node: Node,
    network: std::sync::Arc<LabNetwork>,
    dead: AtomicBool,
}

/// Shows which peer this is and whether it was killed.
impl<C: Command> std::fmt::Debug for Raft<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Raft")
            .field("me", &self.inner.me)
            .field("killed", &self.killed())
            .finish_non_exhaustive()
    }
}

impl<C: Command> Clone for Raft<C> {
    fn clone(&self) -> Self {
        Raft {
            inner: std::sync::Arc::clone(&self.inner),
            _command: PhantomData,
        }
    }
}

impl<C: Command> Raft<C> {
    /// The Lab's `Make(peers, me, persister, applyCh)`: `peers[i]` reaches peer `i`
    /// (`peers[me]` is never called). Restores state from `persister`, starts the node, and
    /// returns at once.
    pub fn make(
        peers: Vec<std::sync::Arc<dyn Transport>>,
        me: usize,
        persister: std::sync::Arc<dyn Persister>,
        apply_tx: Sender<ApplyMsg<C>>,
    ) -> Result<Self, MakeError> {
        Self::make_with_config(peers, me, persister, apply_tx, RaftConfig::default())
    }

    /// [`Raft::make`] with the timing and seed of `config` (checked: [`TimingError`]).
    pub fn make_with_config(
        peers: Vec<std::sync::Arc<dyn Transport>>,
        me: usize,
        persister: std::sync::Arc<dyn Persister>,
        apply_tx: Sender<ApplyMsg<C>>,
        config: RaftConfig,
    ) -> Result<Self, MakeError> {
        let servers = peers.len();
        if me >= servers {
            return Err(MakeError::NoSuchPeer { me, peers: servers });
        }
        let node_config = config.node_config(me, servers);
        // Check the configuration before the persister is read or any thread starts.
        node_config.validate()?;
        let storage = PersisterStorage::open(persister)?;
        let network = std::sync::Arc::new(LabNetwork::new(me, peers, config.sender_threads));
        let sink = Box::new(ApplyChannel {
            tx: Some(apply_tx),
            max_command_bytes: MAX_COMMAND_BYTES as u64,
        });
        let node = match Node::start_with_sink(
            node_config,
            Box::new(storage),
            network.clone(),
            sink,
            None,
        ) {
            Ok(node) => node,
            Err(error) => {
                network.stop();
                return Err(error.into());
            }
        };
        network.attach(node.receiver());
        Ok(Raft {
            inner: std::sync::Arc::new(Lab {
                me,
                servers,
                node,
                network,
                dead: AtomicBool::new(false),
            }),
            _command: PhantomData,
        })
    }

    /// The Lab's `Start(command)`: `(index, term, is_leader)`, returning once the node has
    /// appended it (not once it is durable or committed). `(0, term, false)` unless leader
    /// (also when the command is refused: too large, or too many pending; see
    /// [`Raft::propose`] for the reason), `(0, 0, false)` once killed.
    pub fn start(&self, command: C) -> (u64, u64, bool) {
        if self.killed() {
            return (0, 0, false);
        }
        match self.propose(command) {
            Ok(proposal) => (proposal.index(), proposal.term(), true),
            Err(ProposeError::NotLeader { term, .. }) => (0, term, false),
            Err(ProposeError::Shutdown | ProposeError::Stopped(_)) => (0, 0, false),
            Err(_) => (0, self.get_state().0, false),
        }
    }

    /// `start` that says what happened: a [`Proposal`] handle that resolves once the entry
    /// is applied (or fails: leadership lost with the new leader if known, overwritten,
    /// shut down), or why the command was refused: [`ProposeError::NotLeader`] with a
    /// leader hint, [`ProposeError::TooLarge`], [`ProposeError::Busy`],
    /// [`ProposeError::Shutdown`].
    pub fn propose(&self, command: C) -> Result<Proposal, ProposeError> {
        if self.killed() {
            return Err(ProposeError::Shutdown);
        }
        let bytes = match codec::encode(&command, MAX_COMMAND_BYTES as u64) {
            Ok(bytes) => bytes,
            Err(codec::EncodeError::TooLarge { .. }) => {
                return Err(ProposeError::TooLarge {
                    bytes: encoded_size(&command),
                    max: MAX_COMMAND_BYTES,
                })
            }
            Err(error) => {
                // A serializer that refuses the value: no size to report, nothing proposed.
                tracing::error!(%error, "command could not be encoded");
                return Err(ProposeError::TooLarge {
                    bytes: 0,
                    max: MAX_COMMAND_BYTES,
                });
            }
        };
        self.inner.node.propose(bytes.into())
    }

    /// The Lab's `GetState()`: `(current_term, is_leader)`.
    pub fn get_state(&self) -> (u64, bool) {
        let state = self.inner.node.state();
        (state.term, state.role == Role::Leader && !self.killed())
    }

    /// The Lab's `Snapshot(index, snapshot)`: the service has a snapshot that includes
    /// everything up to and including `index`; the log before it may be discarded. An index
    /// beyond what was applied or at/below the current snapshot is ignored. Returns once
    /// the node has taken it.
    pub fn snapshot(&self, index: u64, snapshot: Vec<u8>) {
        if self.killed() {
            return;
        }
        let _ = self.inner.node.snapshot(index, snapshot);
    }

    /// The Lab's `Kill()`: stops the node and joins its threads (the storage is not written
    /// after this returns); the network's sender threads exit once their call in progress
    /// returns. Idempotent; never panics.
    pub fn kill(&self) {
        self.inner.dead.store(true, Ordering::SeqCst);
        self.inner.node.shutdown();
        self.inner.network.stop();
    }

    /// The Lab's `killed()`.
    pub fn killed(&self) -> bool {
        self.inner.dead.load(Ordering::SeqCst)
    }

    /// Advances time by one tick and returns once it was stepped (for peers made with
    /// `spawn_ticker: false`).
    pub fn tick(&self) {
        if !self.killed() {
            let _ = self.inner.node.tick();
        }
    }

    /// Runs `f` on the core (read-only inspection: tests, metrics), on the node's event
    /// loop; after `kill` or a stop, on the core as the loop left it.
    pub fn with_core<R: Send + 'static>(&self, f: impl FnOnce(&Core) -> R + Send + 'static) -> R {
        // A closure that did not run on the loop (it had ended) is not lost: the loop
        // leaves its core behind before it refuses input, so the second path always runs.
        let f = std::sync::Arc::new(std::sync::Mutex::new(Some(f)));
        let on_loop = {
            let f = std::sync::Arc::clone(&f);
            self.inner.node.with_core(move |core| {
                let f = f.lock().unwrap_or_else(|p| p.into_inner()).take();
                f.map(|f| f(core))
            })
        };
        if let Ok(Some(result)) = on_loop {
            return result;
        }
        let f = f.lock().unwrap_or_else(|p| p.into_inner()).take();
        match (f, self.inner.node.with_final_core(|core| core.clone())) {
            (Some(f), Some(core)) => f(&core),
            _ => unreachable!("the loop leaves its core behind before refusing input"),
        }
    }

    /// The node under this peer (status, watch, proposals with handles).
    pub fn node(&self) -> &Node {
        &self.inner.node
    }

    /// Why the peer stopped on its own, if it did (a storage failure, or a committed entry
    /// `C` cannot decode: then the apply channel is closed).
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.inner.node.stop_reason()
    }
}

impl<C: Command> RpcHandler for Raft<C> {
    fn handle(&self, request: &[u8]) -> Option<Vec<u8>> {
        if self.killed() {
            return None;
        }
        let message = Message::decode(request).ok()?;
        let from = message.sender()?;
        if from >= self.inner.servers || from == self.inner.me {
            return None;
        }
        let (reply, replied) = oneshot();
        self.inner.node.receive_request(from, message, reply);
        replied.recv()
    }
}

/// The exact encoded size of `value` (for [`ProposeError::TooLarge`]), counted without
/// storing the encoding.
fn encoded_size<C: serde::Serialize>(value: &C) -> usize {
    struct Count(usize);
    impl postcard::ser_flavors::Flavor for Count {
        type Output = usize;
        fn try_push(&mut self, _: u8) -> postcard::Result<()> {
            self.0 += 1;
            Ok(())
        }
        fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
            self.0 += data.len();
            Ok(())
        }
        fn finalize(self) -> postcard::Result<usize> {
            Ok(self.0)
        }
    }
    postcard::serialize_with_flavor(value, Count(0)).unwrap_or(0)
}

#[cfg(test)]
mod tests;

/// Runs the examples of `docs/impl.md` as doctests, so the documented API stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/impl.md")]
pub struct DocsImplMd;

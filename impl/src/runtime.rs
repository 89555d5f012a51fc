//! The Lab 2 API over the sans-IO core. (Contract stub: signatures are agreed, the
//! implementation is being written.)

use std::sync::mpsc::Sender;
use std::sync::Arc;

use crate::{ApplyMsg, Command, Persister, RpcHandler, Transport};

/// Why a peer could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    #[error("could not read persisted state: {0}")]
    Persist(#[from] crate::PersistError),
    #[error("persisted state could not be decoded: {0}")]
    Decode(String),
    #[error("bad arguments: {0}")]
    Invalid(String),
}

/// Timing of the runtime. Defaults satisfy the Lab: at most 10 heartbeats per second and a
/// new leader well within 5 s of a failure.
#[derive(Debug, Clone)]
pub struct RaftConfig {
    pub heartbeat_interval: std::time::Duration,
    pub election_timeout_min: std::time::Duration,
    pub election_timeout_max: std::time::Duration,
    /// Seed for this peer's election-timeout RNG; `None` draws one from the OS.
    pub seed: Option<u64>,
}

/// One Raft peer: a cheap, clonable handle (all clones are the same peer).
pub struct Raft<C: Command> {
    _marker: std::marker::PhantomData<fn() -> C>,
}

impl<C: Command> Clone for Raft<C> {
    fn clone(&self) -> Self {
        Raft {
            _marker: std::marker::PhantomData,
        }
    }
}

impl<C: Command> Raft<C> {
    /// The Lab's `Make(peers, me, persister, applyCh)`: `peers[i]` reaches peer `i`
    /// (`peers[me]` is never called). Restores state from `persister`, starts the ticker and
    /// applier threads, and returns at once.
    pub fn make(
        peers: Vec<Arc<dyn Transport>>,
        me: usize,
        persister: Arc<dyn Persister>,
        apply_tx: Sender<ApplyMsg<C>>,
    ) -> Result<Self, MakeError> {
        Self::make_with_config(peers, me, persister, apply_tx, RaftConfig::default())
    }

    pub fn make_with_config(
        _peers: Vec<Arc<dyn Transport>>,
        _me: usize,
        _persister: Arc<dyn Persister>,
        _apply_tx: Sender<ApplyMsg<C>>,
        _config: RaftConfig,
    ) -> Result<Self, MakeError> {
        todo!("runtime")
    }

    /// The Lab's `Start(command)`: `(index, term, is_leader)`, returning at once.
    pub fn start(&self, _command: C) -> (u64, u64, bool) {
        todo!("runtime")
    }

    /// The Lab's `GetState()`: `(current_term, is_leader)`.
    pub fn get_state(&self) -> (u64, bool) {
        todo!("runtime")
    }

    /// The Lab's `Snapshot(index, snapshot)`: the service has a snapshot that includes
    /// everything up to and including `index`; the log before it may be discarded.
    pub fn snapshot(&self, _index: u64, _snapshot: Vec<u8>) {
        todo!("runtime")
    }

    /// The Lab's `Kill()`: stops every thread this peer started; afterwards the peer
    /// answers no RPC and `start` returns `is_leader = false`.
    pub fn kill(&self) {
        todo!("runtime")
    }
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            heartbeat_interval: std::time::Duration::from_millis(100),
            election_timeout_min: std::time::Duration::from_millis(300),
            election_timeout_max: std::time::Duration::from_millis(600),
            seed: None,
        }
    }
}

impl<C: Command> RpcHandler for Raft<C> {
    fn handle(&self, _request: &[u8]) -> Option<Vec<u8>> {
        todo!("runtime")
    }
}

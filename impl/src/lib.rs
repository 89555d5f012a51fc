//! `raft-impl`: a Raft library with the API of MIT 6.5840 Lab 2.
//!
//! Layers (see `docs/impl.md`):
//! - [`core`]: the deterministic sans-IO protocol state machine (Figure 2 and §7 of the
//!   extended Raft paper). No threads, clocks or I/O.
//! - [`runtime`]: the Lab 2 API ([`Raft::make`], `start`, `get_state`, `snapshot`, `kill`)
//!   over the core, with a ticker, RPC threads and a single applier thread.
//! - [`persister`]: where persistent state goes ([`MemoryPersister`], `FilePersister`).
//! - [`transport`]: how RPCs travel ([`Transport`], [`RpcHandler`]); [`simnet`] is a
//!   labrpc-like simulated network implementing them.

pub mod apply;
pub mod core;
pub mod persister;
pub mod transport;

mod sync;

pub use apply::{ApplyMsg, Command};
pub use persister::{FilePersister, MemoryPersister, PersistError, Persister};
pub use transport::{RpcHandler, Transport};
pub mod runtime;
pub mod simnet;
pub use runtime::{MakeError, Raft, RaftConfig};

/// Compiles the README's embedding example as a doctest, so the newcomer's first code
/// stays true to the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeMd;

//! `raft-impl`: a Raft library with the API of MIT 6.5840 Lab 2.
//!
//! Layers (see `docs/impl.md`):
//! - [`core`]: the deterministic sans-IO protocol state machine (Figure 2 and §7 of the
//!   extended Raft paper). No threads, clocks or I/O.
//! - [`node`]: the runtime a service embeds ([`node::Node`]): per peer an event loop that
//!   owns the core, a storage worker with group commit and an applier, bounded queues
//!   throughout, proposal handles, status counters and a role/term watch.
//! - [`storage`]: the [`storage::Storage`] trait the node writes `Persist` deltas to, and
//!   [`storage::MemoryStorage`].
//! - [`runtime`]: the Lab 2 API ([`Raft::make`], `start`, `get_state`, `snapshot`, `kill`)
//!   as a thin layer over a [`node::Node`].
//! - [`persister`]: the Lab's blob persisters ([`MemoryPersister`], `FilePersister`) and
//!   [`PersisterStorage`], the adapter that makes one a `Storage`.
//! - [`transport`]: how the Lab's RPCs travel ([`Transport`], [`RpcHandler`]).
//!
//! Cargo features (both off by default, both test machinery that a production build does not
//! contain):
//! - `sim`: the module `simnet`, a labrpc-like simulated network implementing the
//!   transport traits, on which the Lab 2 suite (`tests/lab`) runs;
//! - `mutations`: the module `core::mutation`, deliberate protocol bugs behind fault
//!   points that are the constant `false` without it, for the conformance crate's mutation
//!   check. `core::Config` has the same fields with and without it.

#![warn(missing_docs)]

pub mod apply;
pub mod core;
pub mod node;
pub mod persister;
pub mod storage;
pub mod transport;

mod sync;

pub use apply::{ApplyMsg, Command};
pub use persister::{FilePersister, MemoryPersister, PersistError, Persister, PersisterStorage};
pub use transport::{RpcHandler, Transport};
pub mod runtime;
#[cfg(feature = "sim")]
pub mod simnet;
pub use runtime::{MakeError, Raft, RaftConfig, TimingError};

/// Compiles the README's embedding example as a doctest, so the newcomer's first code
/// stays true to the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeMd;

//! A stateright model of Raft with snapshots (Figure 2 and §7 of the extended Raft paper)
//! and a durable prefix per server (Raft thesis §10.2.1: `ServerState::durable_index`,
//! `Action::Sync`), following `docs/protocol.md` rule for rule, and checked exhaustively
//! within stated bounds. See `docs/model.md` for the guide.
//!
//! The state ([`ClusterState`]) is the whole cluster: every [`ServerState`], the messages in
//! flight ([`Network`]) and a few history variables the properties read. [`RaftModel`] is a
//! plain stateright [`Model`](stateright::Model): its actions ([`Action`]) are the protocol's
//! steps and the network's faults; `next_state` is pure and usable outside the checker
//! (`raft-conformance` replays implementation traces through it).
//!
//! [`check`] runs the checker and reports honestly (EXHAUSTIVE or INCOMPLETE, with exit
//! codes 0 PASS, 1 FAIL, 3 INCOMPLETE); `check::run_portfolio` runs the default portfolio of
//! bounds ([`portfolio`]) that the plain `raft-model check` runs. The command line is the
//! `cli` module, behind the `cli` feature (on by default; `default-features = false` leaves
//! out clap and serde_json).
//!
//! ```
//! use raft_model::{Config, RaftModel, Action, ServerId};
//! use stateright::Model;
//! let model = RaftModel::new(Config::default());
//! let init = model.init_states().remove(0);
//! let s = model.next_state(&init, Action::Timeout(ServerId(0))).unwrap();
//! assert_eq!(s.servers[0].current_term, 1);
//! assert_eq!(s.network.len(), 2); // RequestVote to S2 and S3
//! ```

#![warn(missing_docs)]

pub mod bugs;
pub mod check;
#[cfg(feature = "cli")]
pub mod cli;
pub mod commit;
pub mod config;
pub mod describe;
pub mod election;
pub mod history;
pub mod log;
pub mod model;
pub mod network;
pub mod portfolio;
pub mod properties;
pub mod receive;
pub mod replication;
pub mod restart;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod svg;
pub mod symmetry;
pub mod types;

pub use bugs::Bug;
pub use config::Config;
pub use model::{Action, RaftModel};
pub use network::{Message, Network, Packet};
pub use server::{ServerState, Snapshot};
pub use state::{ClusterState, Committed, History};
pub use types::{Entry, Index, Role, ServerId, ServerSet, Term, Value};

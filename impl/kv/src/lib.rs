//! `raft-kv`: a linearizable replicated key-value service on raft-impl.
//!
//! - [`server::Server`]: a Raft node on the disk storage (`raft_impl::storage::DiskStorage`)
//!   and the authenticated TCP transport (`raft_tcp`), applying [`command::Request`]s to a
//!   [`store::Store`]; snapshots of the store when the log grows.
//! - [`client::Client`]: leader discovery and retry; each request carries the client's id
//!   and a sequence number so a retry applies once.
//! - The `raft-kv` binary: `server`, `put`/`get`/`append`, and `cluster` (a local 3-node
//!   cluster to try it out).

#![warn(missing_docs)]

pub mod client;
pub mod command;
pub mod protocol;
pub mod server;
pub mod store;

pub use client::{Client, ClientError};
pub use command::{Op, Outcome, Request};
pub use server::{Server, ServerConfig, ServerError};

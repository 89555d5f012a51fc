//! Shared harness of the `raft-benches` benchmarks (see `docs/performance.md`).
//!
//! The replication workload is written once, against [`Cluster`], and run on two clusters of
//! three peers in one process with messages handed over in memory: [`CoreCluster`] (our
//! sans-IO [`raft_impl::core::Core`]) and [`RaftRsCluster`] (tikv/raft-rs `RawNode` over its
//! `MemStorage`). Each library is driven the way its API asks: our core returns a `Ready` from
//! every step and that `Ready` is handled at once; raft-rs steps every queued message of a
//! peer, then hands back one `Ready` for the batch.

#![warn(missing_docs)]

pub mod allocator;
pub mod append_memory;
pub mod clients;
pub mod commit_trace;
pub mod delayed_network;
pub mod example_args;
pub mod fsync_floor;
pub mod group_commit_ceiling;
pub mod machine;
pub mod node_cluster;
pub mod openraft_peer;
pub mod ours;
pub mod paired_legs;
pub mod paired_ratio;
pub mod peer;
pub mod prefill;
pub mod runtime_cluster;
pub mod tally;
pub mod tokio_link;
pub mod workload;

pub use ours::CoreCluster;
pub use peer::RaftRsCluster;
pub use workload::{round, Cluster};

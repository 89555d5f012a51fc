//! openraft 0.9 (crates.io, pinned in `Cargo.toml`) as the end-to-end peer of our `Node`
//! runtime: three `openraft::Raft` nodes in one process, built the way openraft's own
//! cluster benchmark builds them (`cluster_benchmark/` in its repository):
//!
//! - [`log_store`]: the log and vote in memory (a `BTreeMap` by index, as there);
//! - [`state_machine`]: applies entries by counting them (nothing to compute, as there);
//! - [`network`]: a function-call network: an RPC is a direct `async` call of the target
//!   node's `Raft` handle, with no encoding and no copy;
//! - [`cluster`]: three nodes on one tokio runtime, a leader elected, and N concurrent
//!   client tasks each calling `client_write` in a loop.
//!
//! Commands are `Bytes` of the same size as those our side proposes, so both libraries
//! carry the same payload.

pub mod cluster;
pub mod log_store;
pub mod network;
pub mod state_machine;

pub use cluster::OpenraftCluster;

openraft::declare_raft_types!(
    /// The bench's openraft types: commands are `Bytes`, a write's response is the number
    /// of entries the leader's state machine had applied, nodes carry no address.
    pub TypeConfig:
        D = bytes::Bytes,
        R = u64,
        NodeId = u64,
        Node = openraft::EmptyNode,
        SnapshotData = std::io::Cursor<Vec<u8>>,
);

/// An openraft node of the bench.
pub type BenchRaft = openraft::Raft<TypeConfig>;

//! The openraft peer's network: function calls. An RPC to node `target` is a direct `async`
//! call of that node's `Raft` handle (`append_entries`, `vote`, `install_snapshot`), as in
//! openraft's cluster benchmark: no encoding, no copy, no queue of our own.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{EmptyNode, RaftNetwork, RaftNetworkFactory};

use super::{BenchRaft, TypeConfig};

/// Every node's `Raft` handle by id: the factory openraft asks for connections.
#[derive(Clone, Default)]
pub struct Router {
    table: Arc<Mutex<BTreeMap<u64, BenchRaft>>>,
}

impl Router {
    /// Makes `raft` reachable as node `id`.
    pub fn add(&self, id: u64, raft: BenchRaft) {
        self.table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, raft);
    }

    fn get(&self, id: u64) -> Option<BenchRaft> {
        self.table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }
}

/// A connection to one node: its `Raft` handle, looked up once, when openraft opens it.
pub struct Connection {
    target: u64,
    raft: Option<BenchRaft>,
}

impl Connection {
    /// `Unreachable`, for a target that was not registered yet (openraft retries). The error
    /// type is the one openraft's `RaftNetwork` methods return.
    fn unreachable<E: std::error::Error>(&self) -> RPCError<u64, EmptyNode, RaftError<u64, E>> {
        RPCError::Unreachable(Unreachable::new(&std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("node {} is not registered", self.target),
        )))
    }
}

impl RaftNetworkFactory<TypeConfig> for Router {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, _node: &EmptyNode) -> Connection {
        Connection {
            target,
            raft: self.get(target),
        }
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, EmptyNode, RaftError<u64>>> {
        let Some(raft) = &self.raft else {
            return Err(self.unreachable());
        };
        raft.append_entries(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, EmptyNode, RaftError<u64, InstallSnapshotError>>,
    > {
        let Some(raft) = &self.raft else {
            return Err(self.unreachable());
        };
        raft.install_snapshot(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, EmptyNode, RaftError<u64>>> {
        let Some(raft) = &self.raft else {
            return Err(self.unreachable());
        };
        raft.vote(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

//! How RPCs travel between peers, in the shape of labrpc (the Lab layer's transport; a
//! [`crate::node::Node`] sends through a non-blocking [`crate::node::Network`], and the Lab
//! layer adapts one to the other with a fixed pool of sender threads per peer).
//!
//! Requests and replies cross the transport as bytes, so that every message is really
//! encoded and decoded (labgob's deep-copy semantics) and byte counts are honest. A peer
//! must treat every byte string it receives as untrusted: decoding errors are reported,
//! never panicked on.

/// The client side of one peer-to-peer link (labrpc's `ClientEnd`).
pub trait Transport: Send + Sync + 'static {
    /// Sends one request and waits for its reply.
    ///
    /// Returns `None` when the request or its reply was lost, the peer is unreachable or
    /// dead, or the network gave up (labrpc's `Call` returning `false`). May block for a
    /// long time (the simulated network delays up to several seconds); call it from a
    /// thread that holds no lock.
    fn call(&self, request: Vec<u8>) -> Option<Vec<u8>>;
}

/// The server side: something that answers RPC requests (a Raft peer).
pub trait RpcHandler: Send + Sync + 'static {
    /// Handles one encoded request and returns the encoded reply, or `None` when the
    /// request could not be decoded or the peer is dead (the caller sees a failed call).
    fn handle(&self, request: &[u8]) -> Option<Vec<u8>>;
}

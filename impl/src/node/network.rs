//! [`Network`]: how a node's messages leave it.

/// Message passing between peers: the node hands each outgoing message to [`send`]
/// (encoded `core::Message` bytes) and the embedding feeds each message that arrives to
/// [`Node::receive`](super::Node::receive).
///
/// `send` must not block: the node calls it from its event loop, which also drives the
/// timers and the storage hand-off. An implementation queues the bytes (bounded) and owns
/// the threads or tasks that move them; when its queue is full it drops the message. The
/// network may lose, delay, duplicate and reorder messages: Raft retries.
///
/// [`send`]: Network::send
pub trait Network: Send + Sync + 'static {
    /// Queues `message` for peer `to` (never this node itself). Must return at once.
    fn send(&self, to: usize, message: bytes::Bytes);
}

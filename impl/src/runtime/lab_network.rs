//! The Lab's RPC [`Transport`]s as a node [`Network`]: a fixed pool of sender threads per
//! destination, each taking requests from a bounded queue, calling `Transport::call`
//! (which may block for seconds on the simulated network) and feeding the reply back to
//! the node with `receive`. A full queue drops the message (Raft retries); no thread is
//! ever started per message.

use std::sync::OnceLock;

use bytes::Bytes;

use crate::node::{Network, Queue, Receiver};
use crate::sync::{lock, thread, Arc, AtomicU64, Mutex, Ordering};
use crate::Transport;

/// Requests queued per destination at most. When full, the oldest is dropped: a newer
/// AppendEntries or heartbeat supersedes it, and a peer that becomes reachable again gets
/// recent messages first.
const QUEUE_PER_PEER: usize = 16;

pub(crate) struct LabNetwork {
    links: Vec<Option<Arc<Queue<Bytes>>>>,
    target: std::sync::Arc<OnceLock<Receiver>>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
    dropped: Arc<AtomicU64>,
}

impl LabNetwork {
    /// Links to every peer but `me`, each served by `threads_per_peer` sender threads
    /// (0: nothing is ever sent, for tests that play the other peers by hand).
    pub(crate) fn new(
        me: usize,
        peers: Vec<std::sync::Arc<dyn Transport>>,
        threads_per_peer: usize,
    ) -> Self {
        let target: std::sync::Arc<OnceLock<Receiver>> = std::sync::Arc::new(OnceLock::new());
        let mut threads = Vec::new();
        let links = peers
            .into_iter()
            .enumerate()
            .map(|(to, transport)| {
                if to == me || threads_per_peer == 0 {
                    return None;
                }
                let queue: Arc<Queue<Bytes>> = Arc::new(Queue::new(QUEUE_PER_PEER));
                for _ in 0..threads_per_peer {
                    let queue = Arc::clone(&queue);
                    let transport = std::sync::Arc::clone(&transport);
                    let target = std::sync::Arc::clone(&target);
                    threads.push(thread::spawn(move || {
                        while let Some(request) = queue.pop_wait() {
                            let Some(reply) = transport.call(request.to_vec()) else {
                                continue;
                            };
                            if let Some(node) = target.get() {
                                node.receive(to, &reply);
                            }
                        }
                    }));
                }
                Some(queue)
            })
            .collect();
        LabNetwork {
            links,
            target,
            threads: Mutex::new(threads),
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Where replies go (set once the node exists).
    pub(crate) fn attach(&self, receiver: Receiver) {
        let _ = self.target.set(receiver);
    }

    /// Closes every queue: each sender thread exits once its call in progress returns
    /// (not waited for: the simulated network may hold a call for seconds).
    pub(crate) fn stop(&self) {
        for queue in self.links.iter().flatten() {
            queue.close_and_clear();
        }
        // The handles are dropped, not joined: the threads end by themselves.
        lock(&self.threads).clear();
    }
}

impl Network for LabNetwork {
    fn send(&self, to: usize, message: Bytes) {
        if let Some(Some(queue)) = self.links.get(to) {
            if !matches!(queue.push_drop_oldest(message), Ok(false)) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

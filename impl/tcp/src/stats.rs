//! Counters of what the transport did, for metrics and for tests that check a refusal
//! really happened.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters (see [`TcpStats`] for their meaning).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub frames_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub frames_received: AtomicU64,
    pub bytes_received: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub dropped_too_large: AtomicU64,
    pub dropped_by_fault: AtomicU64,
    pub connections: AtomicU64,
    pub handshakes_refused: AtomicU64,
    pub auth_failures: AtomicU64,
    pub connections_closed_bad_frame: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A snapshot of a transport's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Frames written to a connection.
    pub frames_sent: u64,
    /// Payload bytes of those frames.
    pub bytes_sent: u64,
    /// Authenticated frames delivered (or dropped by a fault after authentication).
    pub frames_received: u64,
    /// Payload bytes of those frames.
    pub bytes_received: u64,
    /// Messages dropped because the peer's send queue was full.
    pub dropped_queue_full: u64,
    /// Messages dropped because they were over the frame limit.
    pub dropped_too_large: u64,
    /// Messages dropped by the fault hook (either direction).
    pub dropped_by_fault: u64,
    /// Connections that completed the handshake.
    pub connections: u64,
    /// Connections refused during the handshake for any reason (wrong magic, version,
    /// cluster or peer, bad proof, timeout).
    pub handshakes_refused: u64,
    /// Of those, the ones whose proof did not match the shared secret.
    pub auth_failures: u64,
    /// Authenticated connections closed because a frame was over the limit, failed its tag
    /// or was cut short.
    pub connections_closed_bad_frame: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> TcpStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TcpStats {
            frames_sent: get(&self.frames_sent),
            bytes_sent: get(&self.bytes_sent),
            frames_received: get(&self.frames_received),
            bytes_received: get(&self.bytes_received),
            dropped_queue_full: get(&self.dropped_queue_full),
            dropped_too_large: get(&self.dropped_too_large),
            dropped_by_fault: get(&self.dropped_by_fault),
            connections: get(&self.connections),
            handshakes_refused: get(&self.handshakes_refused),
            auth_failures: get(&self.auth_failures),
            connections_closed_bad_frame: get(&self.connections_closed_bad_frame),
        }
    }
}

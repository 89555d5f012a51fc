//! A TCP transport for the peers of one Raft cluster.
//!
//! - **One connection per pair of peers**, dialled by the lower id and accepted by the
//!   higher, re-established with exponential back-off when it fails.
//! - **Authenticated**: a handshake proves both ends know the cluster's shared secret
//!   (HMAC-SHA256 over fresh nonces, `auth.rs`), and every frame carries a tag under the
//!   session key, so a stranger can neither connect nor inject, and a replayed or altered
//!   frame closes the connection (`frame.rs`). Raft tolerates crashes, not forgery.
//! - **Bounded**: a queue per peer ([`TcpConfig::send_queue`]); when it is full a message is
//!   dropped and counted, never queued without bound (Raft retries). Frames over
//!   [`TcpConfig::max_frame_bytes`] are refused before allocation; reads and writes time
//!   out, so a stopped peer cannot hold a thread forever.
//! - **Never a panic on bytes from the network**: a malformed, oversized, truncated or
//!   unauthenticated frame or handshake closes that connection with a logged reason and a
//!   counter ([`TcpStats`]).
//! - **A fault hook** ([`Faults`]) for tests: cut, drop or delay traffic to chosen peers.
//!
//! Messages are opaque bytes: the transport neither decodes nor trusts them, and hands
//! each authenticated one to the `deliver` callback with the id of the peer it came from.
//!
//! Threads, not async: a peer has a handful of long-lived connections, and a thread per
//! connection direction (fixed: `2 × (peers − 1) + 1`) keeps the transport free of a
//! runtime the embedding service may not use.

#![warn(missing_docs)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use bytes::Bytes;

mod auth;
mod config;
mod fault;
mod frame;
mod link;
mod stats;

pub use auth::Refusal;
pub use config::{ConfigError, TcpConfig, MIN_SECRET_BYTES};
pub use fault::Faults;
pub use frame::FrameError;
pub use stats::TcpStats;

/// What receives each authenticated message: `(from, message)`. Called on the connection's
/// reader thread; it should hand the message on quickly (a slow callback slows that link
/// only).
pub type Deliver = Arc<dyn Fn(usize, Bytes) + Send + Sync>;

/// Why a transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum TcpError {
    /// The configuration is unusable.
    #[error("invalid transport configuration")]
    Config(#[from] ConfigError),
    /// The listening socket could not be opened or set up.
    #[error("could not listen on {address}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A thread could not be started.
    #[error("could not start a transport thread")]
    Thread(#[source] std::io::Error),
}

pub(crate) struct Inner {
    config: TcpConfig,
    deliver: Deliver,
    counters: stats::Counters,
    faults: Faults,
    incoming: Vec<link::Incoming>,
    shut_down: AtomicBool,
}

impl Inner {
    fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::SeqCst)
    }
}

/// A running transport: its threads stop on [`shutdown`](Self::shutdown) or drop.
pub struct TcpTransport {
    inner: Arc<Inner>,
    queues: Vec<Option<SyncSender<Bytes>>>,
    local_address: SocketAddr,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpTransport")
            .field("me", &self.inner.config.me)
            .field("local_address", &self.local_address)
            .finish_non_exhaustive()
    }
}

impl TcpTransport {
    /// Listens on `config.peers[config.me]` and starts the links.
    pub fn start(config: TcpConfig, deliver: Deliver) -> Result<TcpTransport, TcpError> {
        config.validate()?;
        let address = config.peers[config.me];
        let listener =
            TcpListener::bind(address).map_err(|source| TcpError::Listen { address, source })?;
        Self::start_with_listener(config, listener, deliver)
    }

    /// [`start`](Self::start) with a listener bound already (tests bind port 0 first to learn
    /// every peer's address).
    pub fn start_with_listener(
        config: TcpConfig,
        listener: TcpListener,
        deliver: Deliver,
    ) -> Result<TcpTransport, TcpError> {
        config.validate()?;
        let address = config.peers[config.me];
        let listen_error = |source| TcpError::Listen { address, source };
        let local_address = listener.local_addr().map_err(listen_error)?;
        // Polled, so that shutdown is noticed without a wake-up connection.
        listener.set_nonblocking(true).map_err(listen_error)?;
        let peers = config.peers.len();
        let inner = Arc::new(Inner {
            faults: Faults::new(peers),
            incoming: (0..peers).map(|_| link::Incoming::default()).collect(),
            counters: stats::Counters::default(),
            shut_down: AtomicBool::new(false),
            deliver,
            config,
        });
        let mut transport = TcpTransport {
            inner: Arc::clone(&inner),
            queues: Vec::with_capacity(peers),
            local_address,
            threads: Mutex::new(Vec::new()),
        };
        // Every thread goes into `transport.threads` as soon as it runs, so that a failure to
        // start a later one shuts down (and joins) the earlier ones.
        for peer in 0..peers {
            if peer == inner.config.me {
                transport.queues.push(None);
                continue;
            }
            let (tx, rx) = sync_channel(inner.config.send_queue);
            transport.queues.push(Some(tx));
            let inner = Arc::clone(&inner);
            let spawned = thread::Builder::new()
                .name(format!("raft-tcp-link-{}-{peer}", inner.config.me))
                .spawn(move || link::run(inner, peer, rx));
            transport.adopt(spawned)?;
        }
        let acceptor = {
            let inner = Arc::clone(&inner);
            thread::Builder::new()
                .name(format!("raft-tcp-accept-{}", inner.config.me))
                .spawn(move || accept_loop(&inner, &listener))
        };
        transport.adopt(acceptor)?;
        Ok(transport)
    }

    /// Keeps a started thread, or, if it could not start, shuts down the ones started before
    /// it and reports the error.
    fn adopt(&self, spawned: std::io::Result<JoinHandle<()>>) -> Result<(), TcpError> {
        match spawned {
            Ok(handle) => {
                self.threads
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(handle);
                Ok(())
            }
            Err(error) => {
                self.shutdown();
                Err(TcpError::Thread(error))
            }
        }
    }

    /// Queues `message` for `to` and returns at once. Dropped (and counted) if `to` is not a
    /// peer, is this peer, its queue is full, the message is over the frame limit, or the
    /// transport is shut down: delivery is never promised (Raft retries).
    pub fn send(&self, to: usize, message: Bytes) {
        if message.len() > self.inner.config.max_frame_bytes as usize {
            stats::bump(&self.inner.counters.dropped_too_large);
            tracing::warn!(
                me = self.inner.config.me,
                to,
                bytes = message.len(),
                "message over the frame limit; dropped"
            );
            return;
        }
        let Some(Some(queue)) = self.queues.get(to) else {
            return;
        };
        if self.inner.is_shut_down() {
            return;
        }
        match queue.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => stats::bump(&self.inner.counters.dropped_queue_full),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// The address this transport listens on.
    pub fn local_address(&self) -> SocketAddr {
        self.local_address
    }

    /// The counters so far.
    pub fn stats(&self) -> TcpStats {
        self.inner.counters.snapshot()
    }

    /// The fault-injection hook (tests).
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Stops every thread and closes every connection; waits for the threads (at most about
    /// the write timeout, if a peer stopped reading). Idempotent; also run on drop.
    pub fn shutdown(&self) {
        self.inner.shut_down.store(true, Ordering::SeqCst);
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for handle in threads {
            if handle.join().is_err() {
                tracing::error!(me = self.inner.config.me, "a transport thread panicked");
            }
        }
    }
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Accepts connections and runs their handshakes; an authenticated one goes to its link.
///
/// Handshakes run here, one at a time, each bounded by `connect_timeout`: a stranger that
/// opens a connection and stalls delays other peers' reconnects by at most that long.
fn accept_loop(inner: &Arc<Inner>, listener: &TcpListener) {
    while !inner.is_shut_down() {
        match listener.accept() {
            Ok((stream, address)) => handshake(inner, stream, address),
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(error) => {
                tracing::warn!(me = inner.config.me, %error, "accept failed");
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn handshake(inner: &Inner, mut stream: TcpStream, address: SocketAddr) {
    let config = &inner.config;
    let setup = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_nodelay(true))
        .and_then(|()| stream.set_read_timeout(Some(config.connect_timeout)))
        .and_then(|()| stream.set_write_timeout(Some(config.connect_timeout)));
    if let Err(error) = setup {
        tracing::warn!(me = config.me, %address, %error, "could not set up an accepted connection");
        return;
    }
    match auth::accept(&mut stream, config) {
        Ok((peer, session)) => inner.incoming[peer].offer(stream, session),
        Err(refusal) => {
            stats::bump(&inner.counters.handshakes_refused);
            if refusal == Refusal::BadProof {
                stats::bump(&inner.counters.auth_failures);
            }
            tracing::warn!(me = config.me, %address, %refusal, "connection refused");
        }
    }
}

#[cfg(test)]
mod tests;

//! One link per peer: the connection to it (dialled by the lower id, accepted by the
//! higher), its bounded send queue, and the thread that writes the queue to the connection
//! and re-establishes it with back-off when it fails.
//!
//! Threads: one writer/manager thread per peer for the transport's life, plus one reader
//! per live connection (it ends with the connection). Nothing else is spawned per message.

use std::io::{BufWriter, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::auth::{self, Session};
use crate::fault::Verdict;
use crate::frame::{FrameError, FrameReader, FrameWriter};
use crate::stats::bump;
use crate::Inner;

/// How often an idle writer looks for shutdown, a dead reader or a newer connection.
const POLL: Duration = Duration::from_millis(50);

/// A connection the acceptor authenticated, waiting for its link's thread.
#[derive(Default)]
pub(crate) struct Incoming {
    pub slot: Mutex<Option<(TcpStream, Session)>>,
    pub arrived: Condvar,
}

impl Incoming {
    pub(crate) fn offer(&self, stream: TcpStream, session: Session) {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        // A newer connection replaces one not yet taken (the dialer gave up on it).
        *slot = Some((stream, session));
        self.arrived.notify_all();
    }

    fn take(&self, wait: Duration) -> Option<(TcpStream, Session)> {
        let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut slot, _) = self
            .arrived
            .wait_timeout_while(slot, wait, |s| s.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        slot.take()
    }

    fn waiting(&self) -> bool {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

/// Sleeps up to `duration`, waking early on shutdown.
fn nap(inner: &Inner, duration: Duration) {
    let deadline = Instant::now() + duration;
    while !inner.is_shut_down() {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        thread::sleep((deadline - now).min(POLL));
    }
}

/// The link thread for `peer`: get a connection, write the queue to it, repeat.
pub(crate) fn run(inner: Arc<Inner>, peer: usize, queue: Receiver<Bytes>) {
    let mut backoff = inner.config.backoff_min;
    while !inner.is_shut_down() {
        let connection = if inner.config.me < peer {
            match dial(&inner, peer) {
                Ok(connection) => Some(connection),
                Err(reason) => {
                    tracing::debug!(me = inner.config.me, peer, %reason, ?backoff, "dial failed; backing off");
                    nap(&inner, backoff);
                    backoff = (backoff * 2).min(inner.config.backoff_max);
                    None
                }
            }
        } else {
            inner.incoming[peer].take(POLL)
        };
        let Some((stream, session)) = connection else {
            continue;
        };
        backoff = inner.config.backoff_min;
        bump(&inner.counters.connections);
        tracing::debug!(me = inner.config.me, peer, "connected");
        serve(&inner, peer, &queue, stream, &session);
    }
}

fn dial(inner: &Inner, peer: usize) -> Result<(TcpStream, Session), String> {
    let config = &inner.config;
    let address = config.peers[peer];
    let mut stream = TcpStream::connect_timeout(&address, config.connect_timeout)
        .map_err(|e| format!("connect to {address}: {e}"))?;
    let setup = |s: &TcpStream| -> std::io::Result<()> {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(config.connect_timeout))?;
        s.set_write_timeout(Some(config.connect_timeout))
    };
    setup(&stream).map_err(|e| e.to_string())?;
    match auth::dial(&mut stream, config, peer) {
        Ok(session) => Ok((stream, session)),
        Err(refusal) => {
            bump(&inner.counters.handshakes_refused);
            if refusal == auth::Refusal::BadProof {
                bump(&inner.counters.auth_failures);
            }
            tracing::warn!(me = config.me, peer, %refusal, "peer refused: handshake failed");
            Err(refusal.to_string())
        }
    }
}

/// Writes the queue to one connection until it fails, a newer one arrives, or shutdown.
fn serve(
    inner: &Arc<Inner>,
    peer: usize,
    queue: &Receiver<Bytes>,
    stream: TcpStream,
    session: &Session,
) {
    let config = &inner.config;
    let ready = stream
        .set_read_timeout(Some(config.idle_timeout))
        .and_then(|()| stream.set_write_timeout(Some(config.write_timeout)))
        .and_then(|()| stream.try_clone());
    let read_half = match ready {
        Ok(read_half) => read_half,
        Err(error) => {
            tracing::warn!(me = config.me, peer, %error, "could not set up connection");
            return;
        }
    };
    let reader = {
        let inner = Arc::clone(inner);
        let session = session.clone();
        thread::Builder::new()
            .name(format!("raft-tcp-read-{}-{peer}", config.me))
            .spawn(move || read_loop(&inner, peer, read_half, &session))
    };
    let reader = match reader {
        Ok(reader) => reader,
        Err(error) => {
            tracing::error!(me = config.me, peer, %error, "could not start a reader thread");
            return;
        }
    };
    let mut out = BufWriter::with_capacity(64 * 1024, &stream);
    let mut frames = FrameWriter::new(session);
    let outcome: Result<(), String> = loop {
        if inner.is_shut_down() {
            break Ok(());
        }
        if reader.is_finished() {
            break Err("reader ended".into());
        }
        if config.me > peer && inner.incoming[peer].waiting() {
            break Err("replaced by a newer connection".into());
        }
        let message = match queue.recv_timeout(POLL) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break Ok(()),
        };
        if let Err(error) = write_message(inner, peer, &mut out, &mut frames, &message) {
            break Err(error.to_string());
        }
        // Batch: write whatever else is queued, then flush once.
        let mut failed = None;
        while let Ok(message) = queue.try_recv() {
            if let Err(error) = write_message(inner, peer, &mut out, &mut frames, &message) {
                failed = Some(error.to_string());
                break;
            }
        }
        if let Some(error) = failed {
            break Err(error);
        }
        if let Err(error) = out.flush() {
            break Err(error.to_string());
        }
    };
    drop(out);
    if let Err(reason) = outcome {
        tracing::debug!(me = config.me, peer, %reason, "connection closed");
    }
    // Unblocks the reader; it then ends.
    let _ = stream.shutdown(Shutdown::Both);
    let _ = reader.join();
}

fn write_message(
    inner: &Inner,
    peer: usize,
    out: &mut BufWriter<&TcpStream>,
    frames: &mut FrameWriter,
    message: &Bytes,
) -> std::io::Result<()> {
    match inner.faults.verdict(peer, true) {
        Verdict::Drop => {
            bump(&inner.counters.dropped_by_fault);
            return Ok(());
        }
        Verdict::Pass(delay) if !delay.is_zero() => {
            out.flush()?;
            nap(inner, delay);
        }
        Verdict::Pass(_) => {}
    }
    frames.write(out, message)?;
    bump(&inner.counters.frames_sent);
    inner
        .counters
        .bytes_sent
        .fetch_add(message.len() as u64, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

fn read_loop(inner: &Inner, peer: usize, stream: TcpStream, session: &Session) {
    let mut input = std::io::BufReader::with_capacity(64 * 1024, stream);
    let mut frames = FrameReader::new(session, inner.config.max_frame_bytes);
    loop {
        match frames.read(&mut input) {
            Ok(message) => {
                bump(&inner.counters.frames_received);
                inner
                    .counters
                    .bytes_received
                    .fetch_add(message.len() as u64, std::sync::atomic::Ordering::Relaxed);
                match inner.faults.verdict(peer, false) {
                    Verdict::Drop => bump(&inner.counters.dropped_by_fault),
                    Verdict::Pass(_) => (inner.deliver)(peer, message),
                }
            }
            Err(FrameError::Closed) => return,
            Err(FrameError::Io(error)) => {
                tracing::debug!(me = inner.config.me, peer, %error, "connection read failed");
                return;
            }
            Err(error) => {
                bump(&inner.counters.connections_closed_bad_frame);
                tracing::warn!(me = inner.config.me, peer, %error, "closing connection: bad frame");
                return;
            }
        }
        if inner.is_shut_down() {
            return;
        }
    }
}

//! The async contender of the transport measurement (`benches/transport.rs`,
//! docs/transport.md "Threads or async"): one connection between two endpoints carrying
//! raft-tcp's frames — `length (u32 LE) | payload | HMAC-SHA256 tag` over direction,
//! implicit sequence number, length and payload — written and read by tokio tasks instead
//! of threads. It mirrors what raft-tcp does per message on a live connection: a bounded
//! send queue that drops when full, a 64 KiB buffered writer that writes everything queued
//! and then flushes once, a 64 KiB buffered reader, and a tag computed and verified on
//! every frame. It has no handshake, reconnect or fault hook: those cost nothing per
//! message on a live connection, which is what the measurement compares.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

/// Called with every frame an endpoint receives, on its reader task.
pub type Deliver = Arc<dyn Fn(Bytes) + Send + Sync>;

/// The largest frame a reader accepts (raft-tcp's default).
const MAX_FRAME_BYTES: u32 = 16 << 20;
const TAG_BYTES: usize = 32;

/// The sending side of one endpoint.
pub struct TokioLink {
    queue: mpsc::Sender<Bytes>,
    dropped: Arc<AtomicU64>,
}

impl TokioLink {
    /// Queues `message` for the other endpoint; drops it (counted) when the queue is full,
    /// as raft-tcp does.
    pub fn send(&self, message: Bytes) {
        if self.queue.try_send(message).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Messages dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Two endpoints joined by one TCP connection on 127.0.0.1, run on `runtime`: what the
/// first sends is delivered to `deliver_b`, and what the second sends to `deliver_a`.
pub fn pair(
    runtime: &Runtime,
    key: [u8; TAG_BYTES],
    queue: usize,
    deliver_a: Deliver,
    deliver_b: Deliver,
) -> std::io::Result<(TokioLink, TokioLink)> {
    let (dialer, acceptor) = runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (dialer, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
        std::io::Result::Ok((dialer?, accepted?.0))
    })?;
    let a = endpoint(runtime, dialer, key, true, queue, deliver_a)?;
    let b = endpoint(runtime, acceptor, key, false, queue, deliver_b)?;
    Ok((a, b))
}

fn endpoint(
    runtime: &Runtime,
    stream: TcpStream,
    key: [u8; TAG_BYTES],
    dialer: bool,
    queue: usize,
    deliver: Deliver,
) -> std::io::Result<TokioLink> {
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    let (tx, rx) = mpsc::channel(queue.max(1));
    // Frames from the dialer and from the acceptor are tagged differently (raft-tcp's rule).
    let (out_direction, in_direction) = if dialer { (0, 1) } else { (1, 0) };
    runtime.spawn(async move {
        let _ = write_frames(write, rx, key, out_direction).await;
    });
    runtime.spawn(async move {
        let _ = read_frames(read, key, in_direction, deliver).await;
    });
    Ok(TokioLink {
        queue: tx,
        dropped: Arc::default(),
    })
}

fn tag(key: &[u8; TAG_BYTES], direction: u8, sequence: u64, payload: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&[direction]);
    mac.update(&sequence.to_le_bytes());
    mac.update(&(payload.len() as u32).to_le_bytes());
    mac.update(payload);
    mac
}

async fn write_frames(
    stream: impl AsyncWrite + Unpin,
    mut queue: mpsc::Receiver<Bytes>,
    key: [u8; TAG_BYTES],
    direction: u8,
) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(64 * 1024, stream);
    let mut sequence = 0u64;
    while let Some(message) = queue.recv().await {
        write_frame(&mut out, &key, direction, &mut sequence, &message).await?;
        // Batch: write whatever else is queued, then flush once.
        while let Ok(message) = queue.try_recv() {
            write_frame(&mut out, &key, direction, &mut sequence, &message).await?;
        }
        out.flush().await?;
    }
    Ok(())
}

async fn write_frame(
    out: &mut (impl AsyncWrite + Unpin),
    key: &[u8; TAG_BYTES],
    direction: u8,
    sequence: &mut u64,
    payload: &[u8],
) -> std::io::Result<()> {
    let tag = tag(key, direction, *sequence, payload)
        .finalize()
        .into_bytes();
    *sequence += 1;
    out.write_all(&(payload.len() as u32).to_le_bytes()).await?;
    out.write_all(payload).await?;
    out.write_all(&tag).await
}

async fn read_frames(
    stream: impl AsyncRead + Unpin,
    key: [u8; TAG_BYTES],
    direction: u8,
    deliver: Deliver,
) -> std::io::Result<()> {
    let mut input = BufReader::with_capacity(64 * 1024, stream);
    let mut sequence = 0u64;
    loop {
        let len = input.read_u32_le().await?;
        if len > MAX_FRAME_BYTES {
            return Err(std::io::Error::other("frame over the limit"));
        }
        let mut payload = vec![0; len as usize];
        input.read_exact(&mut payload).await?;
        let mut received = [0; TAG_BYTES];
        input.read_exact(&mut received).await?;
        tag(&key, direction, sequence, &payload)
            .verify_slice(&received)
            .map_err(|_| std::io::Error::other("bad tag"))?;
        sequence += 1;
        deliver(Bytes::from(payload));
    }
}

//! A [`Network`] whose every message takes a fixed one-way delay: a link with real latency,
//! for a cluster that otherwise runs in one process (`benches/benches/latency.rs`).
//!
//! `send` only queues `(due = now + delay, bytes)` on the link to `to` and returns (the
//! contract of `Network::send`: it runs on the sender's event loop and must not block). One
//! delivery thread per link sleeps until each message is due and then hands it to the inner
//! network. A link is FIFO, as a constant-delay link is: messages are queued in send order
//! with non-decreasing due times and one thread delivers them in that order.
//!
//! The threads end when the [`DelayedNetwork`] is dropped (its node's event loop drops its
//! network when the node shuts down): dropping it closes every link's queue, drops the
//! messages still in flight (the cluster is gone) and joins the threads.
//!
//! A sleeping thread wakes up late by the OS's timer slack and scheduling delay; [`Lateness`]
//! records by how much, so that a run can tell the delay it asked for from the one it got.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use raft_impl::node::Network;

/// How late messages were handed to the inner network, past their due time, over every
/// link that shares it.
#[derive(Debug, Default)]
pub struct Lateness {
    messages: AtomicU64,
    total_nanos: AtomicU64,
    max_nanos: AtomicU64,
}

impl Lateness {
    fn record(&self, late: Duration) {
        let nanos = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.total_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.max_nanos.fetch_max(nanos, Ordering::Relaxed);
    }

    /// Messages delivered so far.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Mean time a message was delivered after its due time (zero before any).
    pub fn mean(&self) -> Duration {
        let messages = self.messages();
        if messages == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.total_nanos.load(Ordering::Relaxed) / messages)
    }

    /// Longest time a message was delivered after its due time.
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_nanos.load(Ordering::Relaxed))
    }

    /// Forgets everything recorded so far.
    pub fn reset(&self) {
        self.messages.store(0, Ordering::Relaxed);
        self.total_nanos.store(0, Ordering::Relaxed);
        self.max_nanos.store(0, Ordering::Relaxed);
    }
}

/// A message on its way: handed to the inner network at `due`.
struct InFlight {
    due: Instant,
    message: Bytes,
}

/// One node's end of a network with a fixed one-way delay (see the module docs).
pub struct DelayedNetwork {
    delay: Duration,
    /// The queue of the link to each peer, by id (`None` for this node itself).
    links: Vec<Option<Sender<InFlight>>>,
    /// Set on drop: messages still queued are dropped instead of delivered.
    closed: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl DelayedNetwork {
    /// Node `from`'s end, for a cluster of `servers`: every message to a peer reaches
    /// `inner` `delay` after it was sent. Starts one delivery thread per peer.
    pub fn new(
        from: usize,
        servers: usize,
        inner: Arc<dyn Network>,
        delay: Duration,
        lateness: Arc<Lateness>,
    ) -> std::io::Result<Self> {
        let closed = Arc::new(AtomicBool::new(false));
        let mut links = Vec::with_capacity(servers);
        let mut threads = Vec::new();
        for to in 0..servers {
            if to == from {
                links.push(None);
                continue;
            }
            let (sender, receiver) = channel();
            let inner = Arc::clone(&inner);
            let closed = Arc::clone(&closed);
            let lateness = Arc::clone(&lateness);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("delay-{from}-{to}"))
                    .spawn(move || deliver(to, &receiver, &*inner, &closed, &lateness))?,
            );
            links.push(Some(sender));
        }
        Ok(DelayedNetwork {
            delay,
            links,
            closed,
            threads,
        })
    }

    /// The one-way delay of every link.
    pub fn delay(&self) -> Duration {
        self.delay
    }
}

/// The delivery thread of the link to `to`: hands each message to `inner` once it is due,
/// in the order sent, until the link's queue is closed.
fn deliver(
    to: usize,
    queue: &Receiver<InFlight>,
    inner: &dyn Network,
    closed: &AtomicBool,
    lateness: &Lateness,
) {
    while let Ok(InFlight { due, message }) = queue.recv() {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if closed.load(Ordering::Acquire) {
            return;
        }
        lateness.record(Instant::now().saturating_duration_since(due));
        inner.send(to, message);
    }
}

impl Network for DelayedNetwork {
    fn send(&self, to: usize, message: Bytes) {
        let due = Instant::now() + self.delay;
        if let Some(Some(link)) = self.links.get(to) {
            // The receiver lives until drop, which closes the links first: an error here
            // only means the network is going away, and Raft tolerates a lost message.
            let _ = link.send(InFlight { due, message });
        }
    }
}

impl Drop for DelayedNetwork {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        // Closing the queues ends each thread's `recv` once it has drained what is queued
        // (dropped unsent, since `closed` is set).
        self.links.clear();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Records what reached it, and when.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(usize, Bytes, Instant)>>);

    impl Network for Recorder {
        fn send(&self, to: usize, message: Bytes) {
            self.0.lock().unwrap().push((to, message, Instant::now()));
        }
    }

    /// Each message arrives no earlier than the delay, in send order per link, and `send`
    /// does not wait for it.
    #[test]
    fn delays_and_keeps_order_per_link() {
        let recorder = Arc::new(Recorder::default());
        let lateness = Arc::new(Lateness::default());
        let delay = Duration::from_millis(20);
        let network = DelayedNetwork::new(
            0,
            3,
            Arc::clone(&recorder) as Arc<dyn Network>,
            delay,
            Arc::clone(&lateness),
        )
        .unwrap();
        let start = Instant::now();
        for i in 0..10u8 {
            network.send(1 + usize::from(i % 2), Bytes::from(vec![i]));
        }
        network.send(0, Bytes::from_static(b"to self: not a link"));
        assert!(start.elapsed() < delay, "send blocked");
        let deadline = Instant::now() + Duration::from_secs(10);
        while recorder.0.lock().unwrap().len() < 10 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(network);
        let got = recorder.0.lock().unwrap();
        assert_eq!(got.len(), 10);
        for (to, message, at) in got.iter() {
            assert!(*at - start >= delay, "message {message:?} early");
            assert_eq!(usize::from(message[0] % 2) + 1, *to);
        }
        for to in [1, 2] {
            let order: Vec<u8> = got
                .iter()
                .filter(|(t, _, _)| *t == to)
                .map(|(_, m, _)| m[0])
                .collect();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(order, sorted, "link to {to} reordered");
        }
        assert_eq!(lateness.messages(), 10);
    }

    /// Dropping the network ends its threads without delivering what is still in flight.
    #[test]
    fn drop_ends_the_threads() {
        let recorder = Arc::new(Recorder::default());
        let network = DelayedNetwork::new(
            1,
            2,
            Arc::clone(&recorder) as Arc<dyn Network>,
            Duration::from_millis(200),
            Arc::new(Lateness::default()),
        )
        .unwrap();
        network.send(0, Bytes::from_static(b"late"));
        let start = Instant::now();
        drop(network);
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(recorder.0.lock().unwrap().is_empty());
        // The threads hold the inner network until they end: only ours is left.
        assert_eq!(Arc::strong_count(&recorder), 1);
    }
}

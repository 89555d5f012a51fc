//! A pool of client threads that run rounds of blocking operations, one at a time each.
//!
//! Our `Node`'s proposal API is blocking (`propose(..)` then `Proposal::wait()`), so a
//! client is an OS thread. The threads are spawned once per pool, not per round: spawning
//! 256 threads per criterion iteration would time thread creation, not the cluster. A round
//! releases every client at once (a barrier), each does `per_client` operations in a loop,
//! and the round ends when the last one finishes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One operation of client `client`, its `seq`-th since the pool started; an error ends the
/// round and is reported by [`ClientPool::run`].
pub type Operation = dyn Fn(usize, u64) -> Result<(), String> + Send + Sync;

/// What one round measured.
#[derive(Debug, Clone, Default)]
pub struct Round {
    /// From the release of the clients to the end of the last operation.
    pub elapsed: Duration,
    /// Every operation's own latency (start of the call to its return), all clients.
    pub latencies: Vec<Duration>,
}

struct Shared {
    start: Barrier,
    done: Barrier,
    per_client: AtomicU64,
    stop: AtomicBool,
    error: Mutex<Option<String>>,
    latencies: Mutex<Vec<Duration>>,
}

/// `clients` threads running [`Operation`]s in rounds.
pub struct ClientPool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl ClientPool {
    /// Spawns `clients` threads that wait for rounds.
    pub fn new(clients: usize, operation: Arc<Operation>) -> Self {
        let shared = Arc::new(Shared {
            start: Barrier::new(clients + 1),
            done: Barrier::new(clients + 1),
            per_client: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            error: Mutex::new(None),
            latencies: Mutex::new(Vec::new()),
        });
        let threads = (0..clients)
            .map(|client| {
                let shared = Arc::clone(&shared);
                let operation = Arc::clone(&operation);
                std::thread::Builder::new()
                    .name(format!("bench-client-{client}"))
                    .stack_size(256 * 1024)
                    .spawn(move || client_loop(client, &shared, &*operation))
                    .expect("spawn a bench client thread")
            })
            .collect();
        ClientPool { shared, threads }
    }

    /// Runs one round of `per_client` operations on every client.
    pub fn run(&self, per_client: u64) -> Result<Round, String> {
        self.shared.per_client.store(per_client, Ordering::SeqCst);
        self.shared.start.wait();
        let start = Instant::now();
        self.shared.done.wait();
        let elapsed = start.elapsed();
        if let Some(error) = lock(&self.shared.error).take() {
            return Err(error);
        }
        let latencies = std::mem::take(&mut *lock(&self.shared.latencies));
        Ok(Round { elapsed, latencies })
    }
}

impl Drop for ClientPool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Release the clients from their wait for a round; they see `stop` and return.
        self.shared.start.wait();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn client_loop(client: usize, shared: &Shared, operation: &Operation) {
    let mut seq = 0u64;
    let mut latencies = Vec::new();
    loop {
        shared.start.wait();
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let per_client = shared.per_client.load(Ordering::SeqCst);
        latencies.clear();
        latencies.reserve(per_client as usize);
        for _ in 0..per_client {
            let start = Instant::now();
            let result = operation(client, seq);
            latencies.push(start.elapsed());
            seq += 1;
            if let Err(error) = result {
                lock(&shared.error).get_or_insert(error);
                break;
            }
        }
        lock(&shared.latencies).extend_from_slice(&latencies);
        shared.done.wait();
    }
}

/// The `q`-quantile (0.0–1.0) of `latencies`, sorting them; `None` if empty.
pub fn quantile(latencies: &mut [Duration], q: f64) -> Option<Duration> {
    if latencies.is_empty() {
        return None;
    }
    latencies.sort_unstable();
    let rank = ((latencies.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    Some(latencies[rank])
}

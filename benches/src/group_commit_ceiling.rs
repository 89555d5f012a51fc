//! What group commit can reach on this disk with no software cost at all: the ceiling a
//! three-peer replication with an fsync per batch meets here, measured, not assumed.
//!
//! The durable bench's bound, `clients / (fsync floor + in-memory commit latency)`
//! (docs/performance.md §8), assumes each commit costs one fsync at the floor. That is
//! optimistic in two ways a formula cannot weigh: the three peers flush one disk at once,
//! and a write that arrives while its peer's sync runs waits for that sync to end. This
//! module measures both on the same disk, with nothing else in the way:
//!
//! - `peers` writer threads, each with its own zero-filled file in `dir` (as
//!   `DiskStorage`'s preallocated segments), loop: take every record queued for it, write
//!   them with one `pwrite`, `fdatasync`, report the new durable count;
//! - an entry is committed once a majority of the writers hold it (thesis §10.2.1: the
//!   leader counts only its durable prefix, so this is Raft's commit rule with the leader
//!   as one writer among the others);
//! - `clients` clients in a closed loop: each committed entry's client writes its next
//!   one. With [`Arrival::Wave`] the next entries reach every writer's queue at the
//!   instant of the commit (no network, no event loop, no scheduler hops). With
//!   [`Arrival::Spread`] they reach the queues one after another, a fixed time apart, as
//!   the clients of a real runtime do when a batch's commit wakes them in turn.
//!
//! No real implementation of this shape beats the wave: its entries are never delayed
//! between a commit and the next sync, and every sync carries every outstanding entry.
//! The spread shows what the arrival pattern alone costs.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::fsync_floor::zero_filled;

/// Bytes of one entry's record: about `DiskStorage`'s record of a 16-byte command (a
/// 12-byte frame, the term, the index, the command and its length).
pub const RECORD_BYTES: usize = 48;
/// Size of each writer's zero-filled file; writes wrap around to its start.
const FILE_BYTES: u64 = 8 << 20;

/// How the clients' next entries reach the writers after a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// All at once, at the instant of the commit: the ceiling.
    Wave,
    /// One at a time, this far apart (one thread feeds them in, spinning between).
    Spread(Duration),
}

/// One measurement.
#[derive(Debug, Clone, Copy)]
pub struct Ceiling {
    /// Committed entries per second.
    pub commits_per_sec: f64,
    /// Mean commit latency, by Little's law (`clients / throughput`).
    pub mean_latency: Duration,
    /// Syncs per second of writer 0 (the leader).
    pub syncs_per_sec: f64,
    /// Entries committed per sync of writer 0.
    pub commits_per_sync: f64,
    /// The fewest entries any writer synced at once, over the whole run.
    pub smallest_batch: u64,
}

/// The count a majority of `durable` (one durable count per writer) has reached: Raft's
/// commit rule (Figure 2, "a majority of matchIndex[i] ≥ N"), the leader's own entry being
/// its durable count (thesis §10.2.1).
pub fn majority_durable(durable: &[u64]) -> u64 {
    let mut sorted = durable.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted[durable.len() / 2]
}

/// Counts shared by the writers.
struct Progress {
    durable: Vec<u64>,
    committed: u64,
    syncs: u64,
    smallest_batch: u64,
    error: Option<std::io::Error>,
}

/// One writer's queue: how many records wait to be written.
struct Queue {
    waiting: Mutex<u64>,
    ready: Condvar,
}

impl Queue {
    fn add(&self, n: u64) {
        *self.waiting.lock().unwrap_or_else(|e| e.into_inner()) += n;
        self.ready.notify_one();
    }
}

/// What every writer shares.
struct Shared {
    queues: Vec<Queue>,
    progress: Mutex<Progress>,
    stop: AtomicBool,
    arrival: Arrival,
}

/// Measures the ceiling with `peers` writers in `dir` and `clients` clients: `warm_up`,
/// then `time` measured.
pub fn measure(
    dir: &Path,
    peers: usize,
    clients: u64,
    arrival: Arrival,
    warm_up: Duration,
    time: Duration,
) -> std::io::Result<Ceiling> {
    assert!(
        peers >= 1 && clients >= 1,
        "at least one writer and one client"
    );
    let files: Vec<File> = (0..peers)
        .map(|i| zero_filled(&dir.join(format!("group-commit-ceiling-{i}")), FILE_BYTES))
        .collect::<std::io::Result<_>>()?;
    let shared = Arc::new(Shared {
        // Every client's first entry is queued at every writer.
        queues: (0..peers)
            .map(|_| Queue {
                waiting: Mutex::new(clients),
                ready: Condvar::new(),
            })
            .collect(),
        progress: Mutex::new(Progress {
            durable: vec![0; peers],
            committed: 0,
            syncs: 0,
            smallest_batch: u64::MAX,
            error: None,
        }),
        stop: AtomicBool::new(false),
        arrival,
    });
    let (feed, fed) = std::sync::mpsc::channel::<u64>();
    let mut threads = Vec::new();
    for (id, file) in files.into_iter().enumerate() {
        let (shared, feed) = (Arc::clone(&shared), feed.clone());
        threads.push(std::thread::spawn(move || {
            if let Err(e) = writer(id, &file, &shared, &feed) {
                shared
                    .progress
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .error = Some(e);
                shared.stop.store(true, Ordering::Relaxed);
            }
        }));
    }
    drop(feed);
    if let Arrival::Spread(gap) = arrival {
        let shared = Arc::clone(&shared);
        threads.push(std::thread::spawn(move || {
            while let Ok(n) = fed.recv() {
                for _ in 0..n {
                    let started = Instant::now();
                    while started.elapsed() < gap {
                        std::hint::spin_loop();
                    }
                    if shared.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    shared.queues.iter().for_each(|q| q.add(1));
                }
            }
        }));
    }
    std::thread::sleep(warm_up);
    let snapshot = || {
        let p = shared.progress.lock().unwrap_or_else(|e| e.into_inner());
        (p.committed, p.syncs, Instant::now())
    };
    let (c0, s0, t0) = snapshot();
    std::thread::sleep(time);
    let (c1, s1, t1) = snapshot();
    shared.stop.store(true, Ordering::Relaxed);
    shared.queues.iter().for_each(|q| q.ready.notify_all());
    for thread in threads {
        if thread.join().is_err() {
            return Err(std::io::Error::other("a writer panicked"));
        }
    }
    let (error, smallest_batch) = {
        let mut p = shared.progress.lock().unwrap_or_else(|e| e.into_inner());
        (p.error.take(), p.smallest_batch)
    };
    if let Some(e) = error {
        return Err(e);
    }
    let seconds = (t1 - t0).as_secs_f64();
    let commits = (c1 - c0) as f64;
    if commits == 0.0 {
        return Err(std::io::Error::other("no entry committed while measured"));
    }
    Ok(Ceiling {
        commits_per_sec: commits / seconds,
        mean_latency: Duration::from_secs_f64(clients as f64 * seconds / commits),
        syncs_per_sec: (s1 - s0) as f64 / seconds,
        commits_per_sync: commits / (s1 - s0).max(1) as f64,
        smallest_batch,
    })
}

/// Writer `id`'s loop: take every queued record, write, sync, report; the report that
/// moves the majority forward hands the committed entries' next writes to the queues.
fn writer(id: usize, file: &File, shared: &Shared, feed: &Sender<u64>) -> std::io::Result<()> {
    let queue = &shared.queues[id];
    let mut offset = 0u64;
    let mut batch = Vec::new();
    loop {
        let n = {
            let mut waiting = queue.waiting.lock().unwrap_or_else(|e| e.into_inner());
            while *waiting == 0 {
                if shared.stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                waiting = queue
                    .ready
                    .wait_timeout(waiting, Duration::from_millis(20))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            std::mem::take(&mut *waiting)
        };
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        batch.clear();
        batch.resize(n as usize * RECORD_BYTES, 0x5a);
        if offset + batch.len() as u64 > FILE_BYTES {
            offset = 0;
        }
        file.write_all_at(&batch, offset)?;
        offset += batch.len() as u64;
        file.sync_data()?;
        let newly = {
            let mut p = shared.progress.lock().unwrap_or_else(|e| e.into_inner());
            p.durable[id] += n;
            p.smallest_batch = p.smallest_batch.min(n);
            if id == 0 {
                p.syncs += 1;
            }
            let majority = majority_durable(&p.durable);
            let newly = majority.saturating_sub(p.committed);
            p.committed = p.committed.max(majority);
            newly
        };
        if newly > 0 {
            match shared.arrival {
                Arrival::Wave => shared.queues.iter().for_each(|q| q.add(newly)),
                // The feeder is gone only once the run stops.
                Arrival::Spread(_) => {
                    let _ = feed.send(newly);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_majority_is_the_middle_of_three_and_needs_more_than_half() {
        assert_eq!(majority_durable(&[5, 9, 7]), 7);
        assert_eq!(majority_durable(&[9, 0, 0]), 0);
        assert_eq!(majority_durable(&[4, 4, 0]), 4);
        assert_eq!(majority_durable(&[3]), 3);
        // Five writers: the third largest.
        assert_eq!(majority_durable(&[1, 2, 3, 4, 5]), 3);
    }

    #[test]
    fn waves_never_split() {
        let dir = tempfile::tempdir().unwrap();
        let clients = 8;
        let c = measure(
            dir.path(),
            3,
            clients,
            Arrival::Wave,
            Duration::from_millis(20),
            Duration::from_millis(300),
        )
        .unwrap();
        assert!(c.commits_per_sec > 0.0 && c.syncs_per_sec > 0.0, "{c:?}");
        // The first wave is `clients` entries at every writer; a writer takes every entry
        // queued, and a commit queues its entries at every writer at once, so the majority
        // moves by whole waves and each later wave is `clients` entries too. A split (a
        // writer syncing part of a wave) would show as a smaller batch.
        assert!(c.smallest_batch >= clients, "{c:?}");
    }

    #[test]
    fn spread_arrivals_commit() {
        let dir = tempfile::tempdir().unwrap();
        let c = measure(
            dir.path(),
            3,
            4,
            Arrival::Spread(Duration::from_micros(1)),
            Duration::from_millis(20),
            Duration::from_millis(300),
        )
        .unwrap();
        assert!(c.commits_per_sec > 0.0 && c.smallest_batch >= 1, "{c:?}");
    }
}

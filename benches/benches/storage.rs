//! The storage alone (docs/storage.md, "Measurement"; issue 10 part 8): our `DiskStorage`
//! side by side with `raft-log` (the alternative evaluated there; as configured by default,
//! and without its 1 ms flush-batching window), on the same entries with the same fsync
//! policy: append a batch of 1 or 64 entries of 128 B or 4 KiB, then make it durable with
//! one fsync, and wait for that. `fsync/4KiB` is the floor: a 4 KiB append
//! and `fdatasync` on a plain file, the least any durable append can cost here.
//!
//! `ours` runs with the default options (preallocated segments: each sync overwrites
//! zeros already on disk) and as `ours-append` without preallocation (each sync appends,
//! as before 1 December), so the two layouts compare in one run.
//!
//! Each case keeps one store from sample to sample and replaces it (outside the timed
//! part) after 64 MiB of entries, so runs measure the steady state of appending, not a
//! growing directory, nor a fresh store's first syncs (`RAFT_BENCH_STORAGE_FRESH=1`: a
//! fresh store per sample, as before 1 December; [`run`] says why that is unfair).
//! `RAFT_BENCH_STORAGE_PROFILE=1` prints, instead of the criterion cases, the time of each
//! of the first syncs after a store's creation (see [`profile`]). Files go to
//! `$RAFT_BENCH_DIR` (default: the system temporary directory; it must be on a real disk
//! for the figures to mean anything).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use raft_impl::core::{Entry, HardState, LogChange, Persist};
use raft_impl::storage::{DiskOptions, DiskStorage, Storage};
use raft_log::api::raft_log_writer::RaftLogWriter;

const BATCHES: [usize; 2] = [1, 64];
const ENTRY_BYTES: [usize; 2] = [128, 4096];
/// Bytes appended before a storage is replaced by a fresh one.
const RECREATE_AFTER: usize = 64 << 20;

fn bench_dir() -> PathBuf {
    std::env::var_os("RAFT_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// The storage operations the bench drives, for both contenders.
trait Contender {
    fn create(dir: &std::path::Path) -> Self;
    /// Appends `batch` after `last` and returns once it is durable (one fsync).
    fn append_durably(&mut self, last: u64, batch: &[Entry]);
}

/// Our storage; `PREALLOCATE` as [`DiskOptions::preallocate`].
struct Ours<const PREALLOCATE: bool>(DiskStorage);

impl<const PREALLOCATE: bool> Contender for Ours<PREALLOCATE> {
    fn create(dir: &std::path::Path) -> Self {
        let options = DiskOptions {
            preallocate: PREALLOCATE,
            ..DiskOptions::default()
        };
        let mut storage = DiskStorage::create(dir.join("ours"), options).expect("create");
        storage
            .write(&Persist {
                hard_state: Some(HardState {
                    current_term: 1,
                    voted_for: Some(0),
                }),
                ..Persist::default()
            })
            .expect("write");
        storage.sync().expect("sync");
        Ours(storage)
    }

    fn append_durably(&mut self, last: u64, batch: &[Entry]) {
        let delta = Persist {
            log: Some(LogChange {
                after: last,
                entries: batch.to_vec(),
            }),
            ..Persist::default()
        };
        self.0.write(&delta).expect("write");
        self.0.sync().expect("sync");
    }
}

/// raft-log's types: (term, index) ids, byte payloads, a channel to wait for the flush.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct RaftLogTypes;

impl raft_log::Types for RaftLogTypes {
    type LogId = (u64, u64);
    type LogPayload = Vec<u8>;
    type Vote = (u64, u64);
    type Callback = SyncSender<io::Result<()>>;
    type UserData = String;

    fn log_index(log_id: &Self::LogId) -> u64 {
        log_id.1
    }

    fn payload_size(payload: &Self::LogPayload) -> u64 {
        payload.len() as u64
    }
}

/// raft-log; with `NO_WAIT` its flush worker does not wait (by default up to 1 ms) for more
/// requests before it syncs: our runtime batches writes itself (group commit), so a caller
/// that waits for every flush, as here, would otherwise pay that window on each batch.
struct RaftLog<const NO_WAIT: bool>(raft_log::RaftLog<RaftLogTypes>);

impl<const NO_WAIT: bool> Contender for RaftLog<NO_WAIT> {
    fn create(dir: &std::path::Path) -> Self {
        let path = dir.join("raft-log");
        std::fs::create_dir(&path).expect("a directory");
        let mut config = raft_log::Config::new(path.to_str().expect("a UTF-8 path"));
        if NO_WAIT {
            config.wal.flush_batch_wait = Some(Duration::ZERO);
        }
        let mut log = raft_log::RaftLog::open(Arc::new(config)).expect("open");
        log.save_vote((1, 0)).expect("vote");
        let mut log = RaftLog(log);
        log.flush();
        log
    }

    fn append_durably(&mut self, last: u64, batch: &[Entry]) {
        // raft-log owns its payloads: the command bytes are copied in (our storage shares
        // them with the core's log).
        let entries = (last + 1..)
            .zip(batch)
            .map(|(index, entry)| ((entry.term, index), entry.command.to_vec()));
        self.0.append(entries).expect("append");
        self.flush();
    }
}

impl<const NO_WAIT: bool> RaftLog<NO_WAIT> {
    /// `flush(sync = true)` and wait for its callback: one fsync, as ours.
    fn flush(&mut self) {
        let (done, wait) = sync_channel(1);
        self.0.flush(true, Some(done)).expect("flush");
        wait.recv()
            .expect("the flush reports")
            .expect("the flush succeeds");
    }
}

fn batch(entries: usize, bytes: usize) -> Vec<Entry> {
    let command: raft_impl::core::Bytes = vec![0xA5u8; bytes].into();
    (0..entries)
        .map(|_| Entry {
            term: 1,
            command: command.clone(),
        })
        .collect()
}

/// A contender's store between samples: its directory, how far its log goes, and how many
/// bytes were appended to it.
struct Live<C> {
    _dir: tempfile::TempDir,
    storage: C,
    last: u64,
    appended: usize,
}

impl<C: Contender> Live<C> {
    fn new() -> Self {
        let dir = tempfile::tempdir_in(bench_dir()).expect("a temporary directory");
        let storage = C::create(dir.path());
        Live {
            _dir: dir,
            storage,
            last: 0,
            appended: 0,
        }
    }
}

/// `RAFT_BENCH_STORAGE_FRESH=1`: a fresh store for every sample, as this bench did before
/// 1 December (10:30 UTC), to show what that costs (docs/storage.md, "Preallocation").
fn fresh_per_sample() -> bool {
    std::env::var_os("RAFT_BENCH_STORAGE_FRESH").is_some()
}

/// Times `iterations` durable batch appends on the store in `live`, kept from one sample
/// to the next; a store is created (and the previous one removed) outside the timed part,
/// when there is none yet or after [`RECREATE_AFTER`] bytes. A fresh store costs more than
/// its creation: with preallocation its 64 MiB of zeros were just written and fsynced, and
/// the previous store's removal frees (and, on a file system mounted with `discard`,
/// trims) 64 MiB; the syncs right after that pay for it. Keeping the store makes those
/// costs fall once per 64 MiB of log, as in a server, instead of once per sample.
fn run<C: Contender>(live: &mut Option<Live<C>>, iterations: u64, entries: &[Entry]) -> Duration {
    let batch_bytes: usize = entries.iter().map(|e| e.command.len()).sum();
    let mut total = Duration::ZERO;
    let mut done = 0;
    if fresh_per_sample() {
        *live = None;
    }
    while done < iterations {
        if live.as_ref().is_none_or(|l| l.appended >= RECREATE_AFTER) {
            // The old store is dropped (and its directory removed) before the new one is
            // created, both untimed.
            *live = None;
            *live = Some(Live::new());
        }
        let Some(l) = live.as_mut() else {
            unreachable!("a store was just created")
        };
        let start = Instant::now();
        while done < iterations && l.appended < RECREATE_AFTER {
            l.storage.append_durably(l.last, entries);
            l.last += entries.len() as u64;
            l.appended += batch_bytes.max(1);
            done += 1;
        }
        total += start.elapsed();
    }
    total
}

fn storage_side_by_side(c: &mut Criterion) {
    let mut group = c.benchmark_group("storage/append+fsync");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for entries in BATCHES {
        for bytes in ENTRY_BYTES {
            let batch = batch(entries, bytes);
            let name = format!("{entries}x{bytes}B");
            group.throughput(Throughput::Elements(entries as u64));
            let mut live = None;
            group.bench_with_input(BenchmarkId::new("ours", &name), &batch, |b, batch| {
                b.iter_custom(|iterations| run::<Ours<true>>(&mut live, iterations, batch))
            });
            drop(live);
            let mut live = None;
            let id = BenchmarkId::new("ours-append", &name);
            group.bench_with_input(id, &batch, |b, batch| {
                b.iter_custom(|iterations| run::<Ours<false>>(&mut live, iterations, batch))
            });
            drop(live);
            let mut live = None;
            group.bench_with_input(BenchmarkId::new("raft-log", &name), &batch, |b, batch| {
                b.iter_custom(|iterations| run::<RaftLog<false>>(&mut live, iterations, batch))
            });
            drop(live);
            let mut live = None;
            let id = BenchmarkId::new("raft-log-nowait", &name);
            group.bench_with_input(id, &batch, |b, batch| {
                b.iter_custom(|iterations| run::<RaftLog<true>>(&mut live, iterations, batch))
            });
            drop(live);
        }
    }
    group.finish();
}

/// The floor: append 4 KiB and `fdatasync`, as a log does.
fn fsync_floor(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(bench_dir()).expect("a temporary directory");
    let path = dir.path().join("floor");
    let mut group = c.benchmark_group("storage/fsync");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let block = vec![7u8; 4096];
    group.bench_function("4KiB", |b| {
        b.iter_custom(|iterations| {
            let mut file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)
                .expect("a file");
            let start = Instant::now();
            for _ in 0..iterations {
                file.write_all(&block).expect("write");
                file.sync_data().expect("fdatasync");
            }
            start.elapsed()
        })
    });
    group.finish();
}

/// `RAFT_BENCH_STORAGE_PROFILE=1`: why a fresh store's figures differ. Repeats, interleaved,
/// three ways of starting a store: preallocated with the previous store's directory removed
/// just before (what every sample did before 1 December), preallocated with the previous
/// one removed only after the timing, and appending (no preallocation) with the previous
/// removed just before; on each, times every one of the first [`PROFILE_SYNCS`] durable
/// 1 × 128 B appends, and prints the median time by position since the store's creation.
fn profile() {
    const REPEATS: usize = 8;
    let entries = batch(1, 128);
    let buckets: [(usize, usize); 4] = [(0, 10), (10, 50), (50, 200), (200, PROFILE_SYNCS)];
    let modes = [
        "preallocated, previous store removed before",
        "preallocated, previous store removed after",
        "appending, previous store removed before",
    ];
    let mut times: Vec<Vec<Vec<Duration>>> = vec![vec![Vec::new(); buckets.len()]; modes.len()];
    let mut previous: Vec<Option<tempfile::TempDir>> = (0..modes.len()).map(|_| None).collect();
    for repeat in 0..REPEATS {
        for (mode, name) in modes.iter().enumerate() {
            let preallocate = mode < 2;
            let remove_before = mode != 1;
            if remove_before {
                previous[mode] = None;
            }
            let dir = tempfile::tempdir_in(bench_dir()).expect("a temporary directory");
            let mut last = 0;
            let mut one = |storage: &mut dyn FnMut(u64)| {
                let mut own = Vec::with_capacity(PROFILE_SYNCS);
                for _ in 0..PROFILE_SYNCS {
                    let start = Instant::now();
                    storage(last);
                    own.push(start.elapsed());
                    last += 1;
                }
                own
            };
            let own = if preallocate {
                let mut s = Ours::<true>::create(dir.path());
                one(&mut |last| s.append_durably(last, &entries))
            } else {
                let mut s = Ours::<false>::create(dir.path());
                one(&mut |last| s.append_durably(last, &entries))
            };
            for (k, &(from, to)) in buckets.iter().enumerate() {
                times[mode][k].extend_from_slice(&own[from..to]);
            }
            // Removed now (mode 1) or before the next store of this mode (modes 0 and 2).
            previous[mode] = Some(dir);
            if !remove_before {
                previous[mode] = None;
            }
            println!("repeat {repeat}: {name} done");
        }
    }
    println!(
        "\nstorage profile: a fresh store's first {PROFILE_SYNCS} syncs of 1 x 128 B, median (mean) in µs by position since creation, {REPEATS} stores each, interleaved; load {}",
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
    for (mode, name) in modes.iter().enumerate() {
        let mut cells = Vec::new();
        for (k, &(from, to)) in buckets.iter().enumerate() {
            let mut v = times[mode][k].clone();
            v.sort_unstable();
            let median = v[v.len() / 2].as_secs_f64() * 1e6;
            let mean = v.iter().map(Duration::as_secs_f64).sum::<f64>() / v.len() as f64 * 1e6;
            cells.push(format!("[{from}, {to}): {median:.0} ({mean:.0})"));
        }
        println!("  {name:45} {}", cells.join("  "));
    }
}

/// Syncs timed per store by [`profile`].
const PROFILE_SYNCS: usize = 800;

criterion::criterion_group!(benches, fsync_floor, storage_side_by_side);

fn main() {
    if std::env::var_os("RAFT_BENCH_STORAGE_PROFILE").is_some() {
        profile();
        return;
    }
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}

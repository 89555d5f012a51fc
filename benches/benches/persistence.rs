//! Persistence (docs/performance.md, "Persistence"): the raft state of 1 000 and 10 000
//! entries of 128 B encoded, saved and read back with the in-memory and the file persister.
//! The file persister writes a temporary file, fsyncs it, renames it and fsyncs the
//! directory, which is what a user pays per commit; `fsync/4KiB` measures this machine's
//! fsync alone as the physical floor. Files go to `$RAFT_BENCH_DIR` (default: the system
//! temporary directory; it must be on a real disk for the figures to mean anything).

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use raft_impl::core::{Entry, PersistentState};
use raft_impl::{FilePersister, MemoryPersister, Persister};

const SIZES: [usize; 2] = [1_000, 10_000];

fn bench_dir() -> PathBuf {
    std::env::var_os("RAFT_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

fn state(entries: usize) -> PersistentState {
    PersistentState {
        current_term: 3,
        voted_for: Some(1),
        snapshot_index: 0,
        snapshot_term: 0,
        entries: (0..entries)
            .map(|i| Entry {
                term: 1 + (i * 3 / entries.max(1)) as u64,
                command: vec![(i % 251) as u8; 128].into(),
            })
            .collect(),
    }
}

fn fsync_floor(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(bench_dir()).expect("a temporary directory");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(dir.path().join("floor"))
        .expect("a file to fsync");
    let block = vec![7u8; 4096];
    let mut group = c.benchmark_group("persistence/fsync");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(2));
    group.bench_function("4KiB", |b| {
        b.iter(|| {
            file.seek(SeekFrom::Start(0)).expect("seek");
            file.write_all(&block).expect("write");
            file.sync_all().expect("fsync");
        })
    });
    group.finish();
}

fn persistence(c: &mut Criterion) {
    let mut group = c.benchmark_group("persistence");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for entries in SIZES {
        let state = state(entries);
        let bytes = state.encode().expect("encodes");
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(BenchmarkId::new("encode", entries), |b| {
            b.iter(|| state.encode())
        });
        group.bench_function(BenchmarkId::new("decode", entries), |b| {
            b.iter(|| PersistentState::decode(&bytes).expect("decodes"))
        });
        let memory = MemoryPersister::new();
        group.bench_function(BenchmarkId::new("save/memory", entries), |b| {
            b.iter(|| memory.save(&bytes, &[]).expect("memory save"))
        });
        group.bench_function(BenchmarkId::new("read/memory", entries), |b| {
            b.iter(|| PersistentState::decode(&memory.read_raft_state().expect("read")))
        });
        let dir = tempfile::tempdir_in(bench_dir()).expect("a temporary directory");
        let file = FilePersister::open(dir.path()).expect("open");
        group.bench_function(BenchmarkId::new("save/file+fsync", entries), |b| {
            b.iter(|| file.save(&bytes, &[]).expect("file save"))
        });
        group.bench_function(BenchmarkId::new("read/file", entries), |b| {
            b.iter(|| {
                let reopened = FilePersister::open(dir.path()).expect("reopen");
                PersistentState::decode(&reopened.read_raft_state().expect("read"))
            })
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    fsync_floor(&mut criterion);
    persistence(&mut criterion);
    criterion.final_summary();
    println!(
        "\n(machine: {}; files in {})",
        raft_benches::machine::describe(),
        bench_dir().display()
    );
}

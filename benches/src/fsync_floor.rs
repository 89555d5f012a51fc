//! The physical floor of one durable write on a file system: 4 KiB written, then
//! `fdatasync` (`File::sync_data`), in a loop, in a directory on that file system.
//!
//! Three variants, because a log appends and three peers share one disk in the bench:
//! - **overwrite**: the same 4 KiB rewritten in place; the file's size never changes, so
//!   `fdatasync` has no metadata to write. The floor proper.
//! - **append**: 4 KiB appended each time; the size changes, so each `fdatasync` also
//!   commits the file's metadata (on ext4, a journal commit). What a log that appends pays,
//!   unless it preallocates.
//! - **overwrite ×3 in parallel**: three threads, one file each, as three peers on one disk.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::clients::quantile;

/// Median and 99th percentile of one variant's write+sync times.
#[derive(Debug, Clone, Copy)]
pub struct Floor {
    /// Median time of one 4 KiB write + `fdatasync`.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// How many were timed.
    pub samples: usize,
}

const BLOCK: [u8; 4096] = [0x5a; 4096];

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
}

fn floor(mut times: Vec<Duration>) -> Floor {
    let samples = times.len();
    Floor {
        p50: quantile(&mut times, 0.5).unwrap_or_default(),
        p99: quantile(&mut times, 0.99).unwrap_or_default(),
        samples,
    }
}

fn overwrite_loop(path: &Path, samples: usize) -> std::io::Result<Vec<Duration>> {
    let file = open(path)?;
    file.write_all_at(&BLOCK, 0)?;
    file.sync_all()?;
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        file.write_all_at(&BLOCK, 0)?;
        file.sync_data()?;
        times.push(start.elapsed());
    }
    Ok(times)
}

/// 4 KiB rewritten in place + `fdatasync`, `samples` times, in a file in `dir`.
pub fn overwrite(dir: &Path, samples: usize) -> std::io::Result<Floor> {
    overwrite_loop(&dir.join("fsync-floor-overwrite"), samples).map(floor)
}

/// 4 KiB appended + `fdatasync`, `samples` times, in a new file in `dir`.
pub fn append(dir: &Path, samples: usize) -> std::io::Result<Floor> {
    let mut file = open(&dir.join("fsync-floor-append"))?;
    file.sync_all()?;
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        file.write_all(&BLOCK)?;
        file.sync_data()?;
        times.push(start.elapsed());
    }
    Ok(floor(times))
}

/// [`overwrite`] on `streams` files at once, one thread each; the times of all streams.
pub fn overwrite_parallel(dir: &Path, streams: usize, samples: usize) -> std::io::Result<Floor> {
    let times = in_parallel(streams, |i| {
        overwrite_loop(&dir.join(format!("fsync-floor-parallel-{i}")), samples)
    })?;
    Ok(floor(times))
}

/// Runs `stream(i)` for `i` in `0..streams`, each on a thread of its own, all at once (the
/// peers' syncs on one disk), and gathers every sample.
fn in_parallel(
    streams: usize,
    stream: impl Fn(usize) -> std::io::Result<Vec<Duration>> + Sync,
) -> std::io::Result<Vec<Duration>> {
    let stream = &stream;
    let results: Vec<std::io::Result<Vec<Duration>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..streams)
            .map(|i| scope.spawn(move || stream(i)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("panicked")))
            })
            .collect()
    });
    let mut times = Vec::new();
    for result in results {
        times.extend(result?);
    }
    Ok(times)
}

/// How a variant makes its write durable (docs/performance.md §8, "Cheaper syncs").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMethod {
    /// `pwrite` into the page cache, then `fdatasync`: two system calls (what
    /// `DiskStorage` does).
    Fdatasync,
    /// `pwrite` on a file opened with `O_DSYNC`: one system call that returns once the
    /// data is durable.
    Dsync,
    /// `O_DIRECT | O_DSYNC`: the write bypasses the page cache and returns once durable;
    /// it must cover whole aligned blocks, so a log rewrites its last partial block.
    DirectDsync,
    /// `O_DIRECT` alone: the write reaches the device but its volatile cache is not
    /// flushed. **Not durable**: only measured to show what the cache flush costs.
    DirectNoFlush,
}

impl SyncMethod {
    /// Every variant, in the order the summary prints them.
    pub const ALL: [SyncMethod; 4] = [
        SyncMethod::Fdatasync,
        SyncMethod::Dsync,
        SyncMethod::DirectDsync,
        SyncMethod::DirectNoFlush,
    ];

    /// A short name for summaries.
    pub fn name(self) -> &'static str {
        match self {
            SyncMethod::Fdatasync => "pwrite + fdatasync",
            SyncMethod::Dsync => "O_DSYNC pwrite",
            SyncMethod::DirectDsync => "O_DIRECT|O_DSYNC pwrite",
            SyncMethod::DirectNoFlush => "O_DIRECT pwrite (no flush: NOT durable)",
        }
    }

    fn flags(self) -> i32 {
        match self {
            SyncMethod::Fdatasync => 0,
            SyncMethod::Dsync => libc::O_DSYNC,
            SyncMethod::DirectDsync => libc::O_DIRECT | libc::O_DSYNC,
            SyncMethod::DirectNoFlush => libc::O_DIRECT,
        }
    }

    fn direct(self) -> bool {
        matches!(self, SyncMethod::DirectDsync | SyncMethod::DirectNoFlush)
    }
}

/// The alignment `O_DIRECT` needs of offsets, lengths and buffer addresses (the page
/// size, a multiple of every logical block size Linux supports).
pub const DIRECT_ALIGN: usize = 4096;

/// A zeroed buffer of `len` bytes whose start is aligned to [`DIRECT_ALIGN`], carved out
/// of a larger `Vec` (no `unsafe`: the aligned start is found by its address).
pub struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// `len` zero bytes, aligned.
    pub fn new(len: usize) -> Self {
        let storage = vec![0u8; len + DIRECT_ALIGN];
        let start = (DIRECT_ALIGN - storage.as_ptr() as usize % DIRECT_ALIGN) % DIRECT_ALIGN;
        AlignedBuf {
            storage,
            start,
            len,
        }
    }

    /// The aligned bytes.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }

    /// The aligned bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }
}

/// Where each sample writes: the same 4 KiB in place, or the next `chunk` bytes of a file
/// of real zeros written and fsynced beforehand, as a preallocated log segment is
/// (`DiskStorage`'s records of one sync are a few hundred bytes in the durable bench).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// The same 4 KiB block every time.
    InPlace,
    /// The next `chunk` bytes of a preallocated zero-filled file (with `O_DIRECT`: the
    /// aligned blocks that cover them, the last partial block rewritten).
    Sequential {
        /// Bytes per sample.
        chunk: usize,
    },
}

/// Bytes of zeros a [`Pattern::Sequential`] file is given up front (wraps around).
const PREFILLED: u64 = 8 << 20;

/// One variant: `sync` × `pattern`, on `streams` files at once (one thread each), for
/// `samples` samples per stream; the times of all streams.
pub fn variant(
    dir: &Path,
    sync: SyncMethod,
    pattern: Pattern,
    streams: usize,
    samples: usize,
) -> std::io::Result<Floor> {
    variant_times(dir, sync, pattern, streams, samples).map(floor)
}

/// [`variant`]'s every time, all streams.
pub fn variant_times(
    dir: &Path,
    sync: SyncMethod,
    pattern: Pattern,
    streams: usize,
    samples: usize,
) -> std::io::Result<Vec<Duration>> {
    if let Pattern::Sequential { chunk } = pattern {
        assert!(chunk > 0 && chunk <= BLOCK.len(), "a chunk fits one block");
    }
    in_parallel(streams, |i| {
        let path = dir.join(format!("fsync-floor-variant-{i}"));
        variant_loop(&path, sync, pattern, samples)
    })
}

/// A new file at `path` of `bytes` (whole MiB) of real zeros, written and fsynced: later
/// writes overwrite allocated blocks, so their sync has no metadata to commit, as with
/// `DiskStorage`'s preallocated segments.
pub fn zero_filled(path: &Path, bytes: u64) -> std::io::Result<File> {
    let file = open(path)?;
    let zeros = vec![0u8; 1 << 20];
    for k in 0..bytes / (1 << 20) {
        file.write_all_at(&zeros, k << 20)?;
    }
    file.sync_all()?;
    Ok(file)
}

fn variant_loop(
    path: &Path,
    sync: SyncMethod,
    pattern: Pattern,
    samples: usize,
) -> std::io::Result<Vec<Duration>> {
    use std::os::unix::fs::OpenOptionsExt;
    // Prepared with ordinary writes and a full fsync: real zeros (or the block), durable.
    match pattern {
        Pattern::InPlace => {
            let file = open(path)?;
            file.write_all_at(&BLOCK, 0)?;
            file.sync_all()?;
        }
        Pattern::Sequential { .. } => {
            zero_filled(path, PREFILLED)?;
        }
    }
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(sync.flags())
        .open(path)?;
    let mut times = Vec::with_capacity(samples);
    // Direct writes go through an aligned buffer: the log's bytes since the last block
    // boundary, then the new chunk, padded with zeros to whole blocks.
    let mut aligned = AlignedBuf::new(BLOCK.len() * 2);
    let mut offset = 0u64;
    for _ in 0..samples {
        let start = Instant::now();
        match pattern {
            Pattern::InPlace if sync.direct() => {
                aligned.bytes_mut()[..BLOCK.len()].copy_from_slice(&BLOCK);
                file.write_all_at(&aligned.bytes()[..BLOCK.len()], 0)?;
            }
            Pattern::InPlace => file.write_all_at(&BLOCK, 0)?,
            Pattern::Sequential { chunk } => {
                if offset + chunk as u64 > PREFILLED {
                    offset = 0;
                }
                if sync.direct() {
                    let block = DIRECT_ALIGN as u64;
                    let first = offset / block * block;
                    let end = (offset + chunk as u64).div_ceil(block) * block;
                    let len = (end - first) as usize;
                    let buf = &mut aligned.bytes_mut()[..len];
                    let from = (offset - first) as usize;
                    buf[from..from + chunk].fill(0x5a);
                    buf[from + chunk..].fill(0);
                    file.write_all_at(buf, first)?;
                    // The next write starts in the same block if this one ended inside it.
                    let ends_on_boundary = (offset + chunk as u64).is_multiple_of(block);
                    if !ends_on_boundary && len > DIRECT_ALIGN {
                        let (head, tail) = buf.split_at_mut(len - DIRECT_ALIGN);
                        head[..DIRECT_ALIGN].copy_from_slice(tail);
                    } else if ends_on_boundary {
                        buf.fill(0);
                    }
                } else {
                    file.write_all_at(&BLOCK[..chunk], offset)?;
                }
                offset += chunk as u64;
            }
        }
        if sync == SyncMethod::Fdatasync {
            file.sync_data()?;
        }
        times.push(start.elapsed());
    }
    Ok(times)
}

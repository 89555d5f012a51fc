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
    let results: Vec<std::io::Result<Vec<Duration>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..streams)
            .map(|i| {
                let path = dir.join(format!("fsync-floor-parallel-{i}"));
                scope.spawn(move || overwrite_loop(&path, samples))
            })
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
    Ok(floor(times))
}

//! Pins glibc's heap-trimming thresholds, so that a benchmark's figures do not depend on the
//! cases that ran before it in the same process.
//!
//! By default glibc's `malloc` returns the top of the heap to the kernel whenever more than
//! 128 KiB of it is free (`M_TRIM_THRESHOLD`), and moves that threshold and the `mmap`
//! threshold up as it sees large blocks freed. The replication bench rebuilds a cluster once
//! its log is 1 024 entries long (4 MiB of 4 KiB commands): whether the freed heap is kept
//! or handed back, and so whether the next rounds page-fault on every new command, then
//! depends on the history of the process. Measured at `e4f3170`: `replication/4096B/ours/x64`
//! took 26 µs a round run alone and 132 µs after the other cases of our library, with
//! 26 500 against 827 377 page faults (`perf stat -e page-faults`); with fixed thresholds,
//! 24 µs and 7 483. Fixing both thresholds keeps freed memory in the process and turns off
//! the adjustment, for every library the binary measures alike.

/// Bytes of free heap top glibc may keep before returning it (1 GiB: in effect, never).
const TRIM_THRESHOLD: i32 = 1 << 30;
/// Blocks at least this large are `mmap`ped (32 MiB, glibc's ceiling for the dynamic value).
const MMAP_THRESHOLD: i32 = 32 << 20;

/// Fixes glibc's trim and `mmap` thresholds for this process. Call it first in `main`, before
/// any benchmark allocates. A no-op on other C libraries.
pub fn pin_thresholds() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only changes malloc's tuning parameters; glibc takes its arena
        // lock to do so and it is safe to call at any time. Both parameters accept any
        // non-negative value, and a failure (a return of 0) leaves the defaults in place,
        // which only makes the figures noisier, so it is reported and not fatal.
        #[allow(unsafe_code)]
        let ok = unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
                && libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        };
        if !ok {
            eprintln!("warning: mallopt refused to pin the heap thresholds; figures may vary");
        }
    }
}

/// Touches `bytes` of heap and frees them, so that the next `bytes` of allocations land on
/// pages the process has already faulted in, as they would in a server whose heap has
/// reached its working size. Needs [`pin_thresholds`] first, otherwise glibc hands the freed
/// memory straight back to the kernel.
///
/// Why: a vector that doubles past a few hundred KiB gets fresh pages, and each later
/// append that first touches one of them page-faults (about 2 µs here). A cluster filled on
/// a cold heap pays that on every round; one whose vectors reuse memory freed earlier does
/// not; so which of two clusters is "slower" then says where the heap stood, not what the
/// code costs. Measured at `e4f3170` (64 × 128 B a round, our core): 5 minor faults in most
/// rounds at 10 000 entries and 0 at 100, 25 µs against 16 µs a round; with a warm heap,
/// 0 faults and 16–17 µs at both lengths.
pub fn warm_heap(bytes: usize) {
    // Blocks of 1 MiB, below the `mmap` threshold, so they come from the heap and, freed
    // together, merge into its top, which the pinned trim threshold keeps. Non-zero, so
    // every page is written.
    const BLOCK: usize = 1 << 20;
    let blocks: Vec<Vec<u8>> = (0..bytes.div_ceil(BLOCK))
        .map(|_| vec![1u8; BLOCK])
        .collect();
    std::hint::black_box(&blocks);
}

//! A durable [`Storage`]: an append-only log of checksummed records in segment files, and
//! snapshots in their own files written atomically (docs/storage.md).
//!
//! Each [`Persist`] delta becomes one record (a torn write loses whole deltas, never part
//! of one): the new hard state, a snapshot point, and a log change "delete after `after`,
//! append these" — a truncation is a record like any other, replayed at open; nothing
//! already written is ever rewritten. `write` only encodes into memory; `sync` writes the
//! snapshot files first (temp file, fsync, rename, directory fsync), then every pending
//! record with one `write` and one fsync (group commit). A record names its snapshot by
//! generation, so a record never refers to a snapshot file that might not be durable.
//!
//! After a sync the active segment rolls over once it passes
//! [`DiskOptions::segment_bytes`]: the new segment starts with a base record (the hard
//! state, the snapshot point and the last index) and is fsynced with its directory before
//! any record goes into it, so only the last segment can ever have a torn tail, and the
//! segments whose entries a snapshot covers can be deleted.
//!
//! With [`DiskOptions::preallocate`] (the default) a segment is created at its full size,
//! its zeros written and fsynced before its first record: every later sync overwrites
//! allocated blocks in place, and `fdatasync` has no file size to commit (on ext4 an
//! append + fdatasync costs a journal commit; docs/storage.md, "Preallocation"). The next
//! segment is zero-filled under a temporary name by a background thread once the active
//! one is half full, and renamed into place at the rollover.
//!
//! At open the records are replayed; they end where the rest of the segment is zeros. A
//! damaged record with nothing valid after it in the last segment is a torn write that no
//! `sync` acknowledged: its bytes are zeroed. Any other damage (in a finished segment,
//! before a valid record, in the snapshot file or the marker) is
//! [`StorageError::Corrupt`], and the files are left untouched.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::format::{
    self, Base, Corruption, Hard, Record, RecordRef, SnapshotRef, TailRef, LOCK_FILE, MARKER,
    MARKER_FILE, MARKER_V1, PREPARED_FILE, TEMP_FILE,
};
use super::fs::{Fs, FsFile, FsLock, LockFailure, OsFs};
use super::{Recovered, Storage, StorageError};
use crate::core::message::MAX_INDEX_OR_TERM;
use crate::core::persist::check_log_terms;
use crate::core::{Entry, Persist, PersistentState, StateError};

/// Tuning of a [`DiskStorage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskOptions {
    /// A segment file is closed and a new one started at the first sync after it holds
    /// this many bytes (a soft limit: one sync's records always go to one segment).
    /// Segments are the unit of deletion once a snapshot covers their entries.
    pub segment_bytes: u64,
    /// Create each segment at `segment_bytes` with its zeros written and fsynced before
    /// its first record, so that a sync overwrites blocks in place instead of growing the
    /// file (on ext4 an append + `fdatasync` also commits the journal; measured 1.3–1.9×
    /// an overwrite here, docs/storage.md). `create` fills the first segment itself; each
    /// next one is filled by a background thread once the active segment is half full.
    /// Costs `segment_bytes` of disk per segment from the start, and up to one more
    /// segment being prepared. Off: segments grow by appends, as in format 1.
    pub preallocate: bool,
}

impl Default for DiskOptions {
    /// 64 MiB segments, preallocated.
    fn default() -> Self {
        DiskOptions {
            segment_bytes: 64 << 20,
            preallocate: true,
        }
    }
}

/// A durable storage in one directory, locked against every other opener while it lives.
///
/// ```
/// use raft_impl::core::{Entry, LogChange, Persist};
/// use raft_impl::storage::{DiskOptions, DiskStorage, Storage};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("peer-0");
/// let mut storage = DiskStorage::create(&path, DiskOptions::default())?;
/// let entry = Entry { term: 0, command: b"set x 1".to_vec().into() };
/// storage.write(&Persist {
///     log: Some(LogChange { after: 0, entries: vec![entry.clone()] }),
///     ..Persist::default()
/// })?;
/// storage.sync()?; // Durable from here on: a reply may leave.
/// drop(storage); // Releases the directory lock.
///
/// let reopened = DiskStorage::open(&path, DiskOptions::default())?;
/// assert_eq!(reopened.recovered().state.entries, vec![entry]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DiskStorage {
    dir: PathBuf,
    fs: Arc<dyn Fs>,
    _lock: Box<dyn FsLock>,
    options: DiskOptions,
    recovered: Recovered,
    /// The state as written so far (synced or not): what deltas are checked against.
    state: Mirror,
    /// Framed records not yet written to the active segment.
    pending: Vec<u8>,
    /// Snapshots named by pending records, to be made durable before them.
    pending_snapshots: Vec<(SnapshotRef, Arc<Vec<u8>>)>,
    /// The snapshot generation the durable records name (its file is the live one).
    durable_generation: u64,
    active: Box<dyn FsFile>,
    /// Where the active segment's records end (the next record's offset).
    active_len: u64,
    /// The live segments, oldest first: (id, last index before it).
    segments: Vec<(u64, u64)>,
    next_generation: u64,
    /// The next segment's file, zero-filled ahead (with `preallocate`).
    next: Next,
    /// A write or sync failed: what the files hold is unknown until a reopen.
    failed: bool,
}

/// The next segment's preparation: its file zero-filled at full size and fsynced under
/// [`PREPARED_FILE`], before the rollover renames it into place.
#[derive(Debug)]
enum Next {
    /// Not started.
    Idle,
    /// Being filled by a background thread; `cancel` stops it early (on drop).
    Running {
        cancel: Arc<AtomicBool>,
        thread: JoinHandle<io::Result<Box<dyn FsFile>>>,
    },
    /// Durable, ready to be renamed.
    Ready(Box<dyn FsFile>),
}

/// The persistent state as records build it.
#[derive(Debug, Clone, Default)]
struct Mirror {
    hard: Hard,
    snapshot: SnapshotRef,
    /// The entries after `snapshot.index`.
    entries: Vec<Entry>,
}

impl Mirror {
    fn last_index(&self) -> u64 {
        self.snapshot.index + self.entries.len() as u64
    }

    fn term_at(&self, index: u64) -> u64 {
        match index.checked_sub(self.snapshot.index + 1) {
            None => self.snapshot.term,
            Some(offset) => self.entries[offset as usize].term,
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, offset: u64, reason: Corruption) -> StorageError {
    StorageError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason,
    }
}

impl DiskStorage {
    /// Creates a storage for a new server in `dir` (created, with its parents, if
    /// missing). Fails with [`StorageError::AlreadyExists`] if `dir` holds a storage, and
    /// with [`StorageError::NotEmpty`] if it holds anything else than the leftovers of a
    /// `create` that crashed.
    pub fn create(dir: impl AsRef<Path>, options: DiskOptions) -> Result<Self, StorageError> {
        DiskStorage::create_in(Arc::new(OsFs), dir.as_ref(), options)
    }

    /// Opens the storage of an existing server in `dir` and recovers what it holds (a
    /// torn tail, never acknowledged, is cut off). A missing directory is
    /// [`StorageError::Missing`] and a directory without a storage
    /// [`StorageError::NotAStorage`]: a lost volume must not come back as a fresh server.
    pub fn open(dir: impl AsRef<Path>, options: DiskOptions) -> Result<Self, StorageError> {
        DiskStorage::open_in(Arc::new(OsFs), dir.as_ref(), options)
    }

    /// The storage's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn create_in(
        fs: Arc<dyn Fs>,
        dir: &Path,
        options: DiskOptions,
    ) -> Result<Self, StorageError> {
        fs.create_dir_all(dir).map_err(io_error(dir))?;
        let lock = lock(&*fs, dir)?;
        let marker = dir.join(MARKER_FILE);
        if fs.is_file(&marker).map_err(io_error(&marker))? {
            return Err(StorageError::AlreadyExists {
                path: dir.to_path_buf(),
            });
        }
        // Without the marker nothing was ever acknowledged: what a crashed `create` left
        // may be overwritten, anything else is someone's data.
        let first = format::segment_name(0);
        for name in fs.list(dir).map_err(io_error(dir))? {
            if name != LOCK_FILE && name != TEMP_FILE && name != PREPARED_FILE && name != first {
                return Err(StorageError::NotEmpty {
                    path: dir.to_path_buf(),
                    name,
                });
            }
        }
        let base = Base {
            segment: 0,
            hard: Hard::default(),
            snapshot: SnapshotRef::default(),
            last_index: 0,
        };
        // The first segment is filled here, on the caller's thread: creating a server is
        // rare, and the storage must not start with appends.
        let prepared = match options.preallocate {
            true => Some(prepare_segment(
                &*fs,
                dir,
                options.segment_bytes,
                &AtomicBool::new(false),
            )?),
            false => None,
        };
        let (active, active_len) = start_segment(&*fs, dir, &base, prepared)?;
        // The marker last: a storage exists once it is durable, with its first segment.
        write_marker(&*fs, dir)?;
        Ok(DiskStorage {
            dir: dir.to_path_buf(),
            fs,
            _lock: lock,
            options,
            recovered: Recovered::default(),
            state: Mirror::default(),
            pending: Vec::new(),
            pending_snapshots: Vec::new(),
            durable_generation: 0,
            active,
            active_len,
            segments: vec![(0, 0)],
            next_generation: 1,
            next: Next::Idle,
            failed: false,
        })
    }

    pub(crate) fn open_in(
        fs: Arc<dyn Fs>,
        dir: &Path,
        options: DiskOptions,
    ) -> Result<Self, StorageError> {
        if !fs.is_dir(dir).map_err(io_error(dir))? {
            return Err(StorageError::Missing {
                path: dir.to_path_buf(),
            });
        }
        let marker = dir.join(MARKER_FILE);
        if !fs.is_file(&marker).map_err(io_error(&marker))? {
            return Err(StorageError::NotAStorage {
                path: dir.to_path_buf(),
            });
        }
        let lock = lock(&*fs, dir)?;
        let marker_bytes = fs.read(&marker).map_err(io_error(&marker))?;
        if marker_bytes != MARKER && marker_bytes != MARKER_V1 {
            return Err(corrupt(&marker, 0, Corruption::BadMarker));
        }
        let found = recover(&*fs, dir)?;
        // Every check passed: only now repair (a refused open changes nothing).
        let Found {
            state,
            snapshot_data,
            segments,
            active_id,
            mut active_len,
            cut,
            incomplete,
            obsolete_segments,
            snapshot_files,
            temp_exists,
            prepared_exists,
        } = found;
        if let Some(id) = incomplete {
            let path = dir.join(format::segment_name(id));
            fs.remove(&path).map_err(io_error(&path))?;
            fs.sync_dir(dir).map_err(io_error(dir))?;
        }
        let path = dir.join(format::segment_name(active_id));
        let mut active = fs.open_write(&path).map_err(io_error(&path))?;
        if let Some((offset, end)) = cut {
            // Zeroed, not truncated: a preallocated segment keeps its size, and the next
            // records are written from `offset`, so no stale byte of the torn write is
            // left after them.
            tracing::warn!(path = %path.display(), offset, "zeroing a torn tail");
            let zeros = vec![0; (end - offset) as usize];
            active.write_at(offset, &zeros).map_err(io_error(&path))?;
            active.sync().map_err(io_error(&path))?;
            active_len = offset;
        }
        for id in obsolete_segments {
            let path = dir.join(format::segment_name(id));
            fs.remove(&path).map_err(io_error(&path))?;
        }
        let live = state.snapshot.generation;
        let mut next_generation = live + 1;
        for &generation in &snapshot_files {
            next_generation = next_generation.max(generation.saturating_add(1));
            if generation != live {
                let path = dir.join(format::snapshot_name(generation));
                fs.remove(&path).map_err(io_error(&path))?;
            }
        }
        if temp_exists {
            let temp = dir.join(TEMP_FILE);
            fs.remove(&temp).map_err(io_error(&temp))?;
        }
        if prepared_exists {
            // Its filling may not have finished or been durable: start again.
            let prepared = dir.join(PREPARED_FILE);
            fs.remove(&prepared).map_err(io_error(&prepared))?;
        }
        if marker_bytes == MARKER_V1 {
            // Before any zero tail can be written: a format 1 reader must refuse this
            // directory (`BadMarker`), not take a finished segment's zeros for damage.
            write_marker(&*fs, dir)?;
        }
        let recovered = Recovered {
            state: persistent_state(&state),
            snapshot: snapshot_data,
        };
        let mut storage = DiskStorage {
            dir: dir.to_path_buf(),
            fs,
            _lock: lock,
            options,
            recovered,
            state,
            pending: Vec::new(),
            pending_snapshots: Vec::new(),
            durable_generation: live,
            active,
            active_len,
            segments,
            next_generation,
            next: Next::Idle,
            failed: false,
        };
        storage.prepare_if_due()?;
        Ok(storage)
    }

    /// Checks `delta` against the state written so far, appends its record to the
    /// pending bytes and updates the state. On error nothing changed.
    fn queue(&mut self, delta: &Persist) -> Result<(), StateError> {
        let state = &self.state;
        let hard = delta.hard_state.map(|hard| Hard {
            term: hard.current_term,
            vote: hard.voted_for.map(|vote| vote as u64),
        });
        let new_hard = hard.unwrap_or(state.hard);
        let (reset, tail, new_entries) = match &delta.snapshot {
            Some(snapshot) => {
                let reset = SnapshotRef {
                    generation: self.next_generation,
                    index: snapshot.index,
                    term: snapshot.term,
                };
                // The core re-supplies the entries it keeps after the snapshot (usually the
                // ones already stored): the record keeps what is equal and writes the rest.
                let supplied: &[Entry] = match &delta.log {
                    None => &[],
                    Some(change) if change.after == snapshot.index => &change.entries,
                    Some(change) => {
                        return Err(StateError::LogChangeMisfit {
                            after: change.after,
                            first: snapshot.index,
                            last: snapshot.index,
                        })
                    }
                };
                let kept: &[Entry] = match snapshot.index.checked_sub(state.snapshot.index) {
                    Some(skip) => state.entries.get(skip as usize..).unwrap_or_default(),
                    None => &[],
                };
                let common = kept
                    .iter()
                    .zip(supplied)
                    .take_while(|(stored, new)| stored == new)
                    .count();
                // A snapshot behind the stored one leaves on disk the stored entries after
                // it (the ones in between are gone): a truncation must clear them.
                let behind = snapshot.index < state.snapshot.index;
                let changed = common < kept.len() || common < supplied.len();
                let tail =
                    (changed || (behind && state.last_index() > snapshot.index)).then(|| TailRef {
                        after: snapshot.index + common as u64,
                        entries: &supplied[common..],
                    });
                (Some(reset), tail, Some(supplied))
            }
            None => match &delta.log {
                None => (None, None, None),
                Some(change) => {
                    let last = state.last_index();
                    if change.after < state.snapshot.index || change.after > last {
                        return Err(StateError::LogChangeMisfit {
                            after: change.after,
                            first: state.snapshot.index,
                            last,
                        });
                    }
                    let tail = TailRef {
                        after: change.after,
                        entries: &change.entries,
                    };
                    (None, Some(tail), None)
                }
            },
        };
        check_delta(state, new_hard, reset, delta, new_entries)?;
        format::frame_into(&mut self.pending, &RecordRef::Delta { hard, reset, tail })?;
        // The record is queued: apply the delta to the mirror.
        let state = &mut self.state;
        state.hard = new_hard;
        if let (Some(reset), Some(snapshot)) = (reset, &delta.snapshot) {
            state.snapshot = reset;
            state.entries = new_entries.unwrap_or_default().to_vec();
            self.pending_snapshots
                .push((reset, Arc::clone(&snapshot.data)));
            self.next_generation = self.next_generation.saturating_add(1);
        } else if let Some(change) = &delta.log {
            let keep = (change.after - state.snapshot.index) as usize;
            state.entries.truncate(keep);
            state.entries.extend_from_slice(&change.entries);
        }
        Ok(())
    }

    /// Makes the pending snapshots and records durable, then cleans up and rolls over.
    fn sync_pending(&mut self) -> Result<(), StorageError> {
        let fs = Arc::clone(&self.fs);
        if !self.pending_snapshots.is_empty() {
            let temp = self.dir.join(TEMP_FILE);
            for (snapshot, data) in &self.pending_snapshots {
                // Only the last one is named by the state after this sync, but a torn tail
                // could end after any of their records: each must be durable before them.
                let path = self.dir.join(format::snapshot_name(snapshot.generation));
                let header = format::snapshot_header(
                    snapshot.generation,
                    snapshot.index,
                    snapshot.term,
                    data,
                );
                let mut file = fs.create(&temp).map_err(io_error(&temp))?;
                file.write_at(0, &header).map_err(io_error(&temp))?;
                file.write_at(header.len() as u64, data)
                    .map_err(io_error(&temp))?;
                file.sync().map_err(io_error(&temp))?;
                fs.rename(&temp, &path).map_err(io_error(&path))?;
            }
            fs.sync_dir(&self.dir).map_err(io_error(&self.dir))?;
        }
        if !self.pending.is_empty() {
            let path = self.active_path();
            self.active
                .write_at(self.active_len, &self.pending)
                .map_err(io_error(&path))?;
            self.active.sync().map_err(io_error(&path))?;
            self.active_len += self.pending.len() as u64;
            self.pending.clear();
        }
        // Every record is durable: the live snapshot is the one the state names, and no
        // durable record names an older one any more.
        let live = self.state.snapshot.generation;
        let mut stale: Vec<u64> = self
            .pending_snapshots
            .drain(..)
            .map(|(snapshot, _)| snapshot.generation)
            .filter(|&generation| generation != live)
            .collect();
        if self.durable_generation != live && self.durable_generation != 0 {
            stale.push(self.durable_generation);
        }
        self.durable_generation = live;
        for generation in stale {
            let path = self.dir.join(format::snapshot_name(generation));
            fs.remove(&path).map_err(io_error(&path))?;
        }
        self.prepare_if_due()?;
        if self.active_len >= self.options.segment_bytes {
            self.roll_over()?;
        }
        self.delete_covered_segments()
    }

    /// Starts filling the next segment once the active one is half full (with
    /// `preallocate`): on a background thread, so that no sync waits for it, unless the
    /// file system is the simulated one (then here, in order).
    fn prepare_if_due(&mut self) -> Result<(), StorageError> {
        if !self.options.preallocate
            || !matches!(self.next, Next::Idle)
            || self.active_len < self.options.segment_bytes / 2
        {
            return Ok(());
        }
        let len = self.options.segment_bytes;
        if !self.fs.background_work() {
            let file = prepare_segment(&*self.fs, &self.dir, len, &AtomicBool::new(false))?;
            self.next = Next::Ready(file);
            return Ok(());
        }
        let cancel = Arc::new(AtomicBool::new(false));
        let (fs, dir, stop) = (Arc::clone(&self.fs), self.dir.clone(), Arc::clone(&cancel));
        let spawned = std::thread::Builder::new()
            .name("raft-segment-fill".into())
            .spawn(move || prepare_file(&*fs, &dir, len, &stop));
        // A thread that cannot be spawned: the rollover fills the segment itself.
        if let Ok(thread) = spawned {
            self.next = Next::Running { cancel, thread };
        }
        Ok(())
    }

    /// The next segment's file, zero-filled and durable: waits for its thread if it is
    /// still running, fills it here if it was never started.
    fn take_prepared(&mut self) -> Result<Box<dyn FsFile>, StorageError> {
        match std::mem::replace(&mut self.next, Next::Idle) {
            Next::Ready(file) => Ok(file),
            Next::Running { thread, .. } => {
                let path = self.dir.join(PREPARED_FILE);
                let result = thread
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("segment filling thread panicked")));
                result.map_err(io_error(&path))
            }
            Next::Idle => prepare_segment(
                &*self.fs,
                &self.dir,
                self.options.segment_bytes,
                &AtomicBool::new(false),
            ),
        }
    }

    fn active_path(&self) -> PathBuf {
        let id = self.segments.last().map_or(0, |segment| segment.0);
        self.dir.join(format::segment_name(id))
    }

    /// Starts the next segment with a base record of the (durable) state.
    fn roll_over(&mut self) -> Result<(), StorageError> {
        let last = self.segments.last().map_or(0, |segment| segment.0);
        let Some(id) = last.checked_add(1) else {
            let source = std::io::Error::other("segment ids exhausted");
            return Err(io_error(&self.dir)(source));
        };
        let base = Base {
            segment: id,
            hard: self.state.hard,
            snapshot: self.state.snapshot,
            last_index: self.state.last_index(),
        };
        let prepared = match self.options.preallocate {
            true => Some(self.take_prepared()?),
            false => None,
        };
        let (active, active_len) = start_segment(&*self.fs, &self.dir, &base, prepared)?;
        self.active = active;
        self.active_len = active_len;
        self.segments.push((id, base.last_index));
        Ok(())
    }

    /// Deletes the oldest segments while the next one's base says that every entry before
    /// it is covered by the durable snapshot. The snapshot point itself is in that base or
    /// in a record after it (a base carries the snapshot of its time), so replay from the
    /// remaining segments finds it. Deletions need no fsync: a segment that comes back
    /// after a crash is replayed as before.
    fn delete_covered_segments(&mut self) -> Result<(), StorageError> {
        while self.segments.len() > 1 && self.segments[1].1 <= self.state.snapshot.index {
            let path = self.dir.join(format::segment_name(self.segments[0].0));
            self.fs.remove(&path).map_err(io_error(&path))?;
            self.segments.remove(0);
        }
        Ok(())
    }
}

impl Storage for DiskStorage {
    fn recovered(&self) -> Recovered {
        self.recovered.clone()
    }

    fn write(&mut self, delta: &Persist) -> Result<(), StorageError> {
        if self.failed {
            return Err(StorageError::Failed);
        }
        // A delta that does not fit is the caller's error: the storage stays usable.
        Ok(self.queue(delta)?)
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        if self.failed {
            return Err(StorageError::Failed);
        }
        if self.pending.is_empty() && self.pending_snapshots.is_empty() {
            return Ok(());
        }
        let result = self.sync_pending();
        // After a failed write or fsync the file's content is unknown (the kernel may
        // have dropped the dirty pages): refuse everything until a reopen replays what
        // is really there.
        self.failed = result.is_err();
        result
    }
}

/// Takes the directory's lock.
fn lock(fs: &dyn Fs, dir: &Path) -> Result<Box<dyn FsLock>, StorageError> {
    let path = dir.join(LOCK_FILE);
    fs.lock(&path).map_err(|failure| match failure {
        LockFailure::Held => StorageError::Locked {
            path: dir.to_path_buf(),
        },
        LockFailure::Io(source) => StorageError::Io { path, source },
    })
}

impl Drop for DiskStorage {
    /// Stops a segment filling thread and waits for it, so that nothing writes in the
    /// directory once its lock is released (its half-filled file is removed at open).
    fn drop(&mut self) {
        if let Next::Running { cancel, thread } = std::mem::replace(&mut self.next, Next::Idle) {
            cancel.store(true, Ordering::Relaxed);
            // Its result no longer matters; a panic in it is not ours to re-raise.
            let _ = thread.join();
        }
    }
}

/// Creates a segment holding only `base`, durable with its directory entry: in the
/// `prepared` zero-filled file (renamed into place, the base written over its first zeros)
/// or else in a new empty file.
fn start_segment(
    fs: &dyn Fs,
    dir: &Path,
    base: &Base,
    prepared: Option<Box<dyn FsFile>>,
) -> Result<(Box<dyn FsFile>, u64), StorageError> {
    let path = dir.join(format::segment_name(base.segment));
    // A base record is a few dozen bytes: it always encodes.
    let bytes = format::frame(&RecordRef::Base(*base)).map_err(StateError::from)?;
    let mut file = match prepared {
        Some(file) => {
            // A crash after the rename leaves a segment of zeros: no base, so `open`
            // removes it as a rollover that did not finish.
            fs.rename(&dir.join(PREPARED_FILE), &path)
                .map_err(io_error(&path))?;
            file
        }
        None => fs.create(&path).map_err(io_error(&path))?,
    };
    file.write_at(0, &bytes).map_err(io_error(&path))?;
    file.sync().map_err(io_error(&path))?;
    fs.sync_dir(dir).map_err(io_error(dir))?;
    Ok((file, bytes.len() as u64))
}

/// Fills [`PREPARED_FILE`] with `len` zeros and makes them durable, with
/// [`StorageError`]s.
fn prepare_segment(
    fs: &dyn Fs,
    dir: &Path,
    len: u64,
    cancel: &AtomicBool,
) -> Result<Box<dyn FsFile>, StorageError> {
    prepare_file(fs, dir, len, cancel).map_err(io_error(&dir.join(PREPARED_FILE)))
}

/// Creates (or empties) [`PREPARED_FILE`], writes `len` zeros into it a mebibyte at a time
/// (stopping early, with an error, once `cancel` is set) and fsyncs it. Real zeros, not
/// `fallocate`: on ext4 an allocated but unwritten extent is converted by the first write
/// into it, a metadata change that `fdatasync` commits as an append's size change would.
fn prepare_file(
    fs: &dyn Fs,
    dir: &Path,
    len: u64,
    cancel: &AtomicBool,
) -> io::Result<Box<dyn FsFile>> {
    const CHUNK: u64 = 1 << 20;
    let mut file = fs.create(&dir.join(PREPARED_FILE))?;
    let zeros = vec![0; len.min(CHUNK) as usize];
    let mut offset = 0;
    while offset < len {
        if cancel.load(Ordering::Relaxed) {
            return Err(io::Error::other("segment filling cancelled"));
        }
        let chunk = (len - offset).min(CHUNK);
        file.write_at(offset, &zeros[..chunk as usize])?;
        offset += chunk;
    }
    file.sync()?;
    Ok(file)
}

/// Writes the marker of this format through [`TEMP_FILE`]: fsync, rename, directory fsync.
fn write_marker(fs: &dyn Fs, dir: &Path) -> Result<(), StorageError> {
    let temp = dir.join(TEMP_FILE);
    let marker = dir.join(MARKER_FILE);
    let mut file = fs.create(&temp).map_err(io_error(&temp))?;
    file.write_at(0, MARKER).map_err(io_error(&temp))?;
    file.sync().map_err(io_error(&temp))?;
    fs.rename(&temp, &marker).map_err(io_error(&marker))?;
    fs.sync_dir(dir).map_err(io_error(dir))
}

/// The checks of [`PersistentState::check`] for the part a delta changes, so that what is
/// written always reads back: terms and the snapshot index in range, log terms never
/// decreasing, none after the current term.
fn check_delta(
    state: &Mirror,
    hard: Hard,
    reset: Option<SnapshotRef>,
    delta: &Persist,
    new_entries: Option<&[Entry]>,
) -> Result<(), StateError> {
    let snapshot = reset.unwrap_or(state.snapshot);
    if hard.term >= MAX_INDEX_OR_TERM || snapshot.index >= MAX_INDEX_OR_TERM {
        return Err(StateError::OutOfRange {
            current_term: hard.term,
            snapshot_index: snapshot.index,
        });
    }
    if snapshot.index == 0 && snapshot.term != 0 {
        return Err(StateError::SnapshotTermWithoutIndex {
            term: snapshot.term,
        });
    }
    // The terms the new log continues from, and its appended entries.
    let (previous, after, appended): (u64, u64, &[Entry]) = match (reset, new_entries) {
        (Some(reset), Some(entries)) => (reset.term, reset.index, entries),
        _ => match &delta.log {
            Some(change) => (state.term_at(change.after), change.after, &change.entries),
            None => (state.term_at(state.last_index()), state.last_index(), &[]),
        },
    };
    check_log_terms(after, previous, appended, hard.term)
}

fn persistent_state(state: &Mirror) -> PersistentState {
    PersistentState {
        current_term: state.hard.term,
        voted_for: state.hard.vote.map(|vote| vote as usize),
        snapshot_index: state.snapshot.index,
        snapshot_term: state.snapshot.term,
        entries: state.entries.clone(),
    }
}

/// What [`recover`] found, and what `open` must repair.
struct Found {
    state: Mirror,
    snapshot_data: Arc<Vec<u8>>,
    /// The segments replayed, oldest first, with the last index before each.
    segments: Vec<(u64, u64)>,
    active_id: u64,
    active_len: u64,
    /// The active segment's torn tail, to be zeroed: from its first byte to the end of the
    /// file's non-zero bytes.
    cut: Option<(u64, u64)>,
    /// A last segment without a complete base record (a rollover that crashed): removed.
    incomplete: Option<u64>,
    /// Segments before a gap in the ids (a deletion that was under way): removed.
    obsolete_segments: Vec<u64>,
    snapshot_files: Vec<u64>,
    temp_exists: bool,
    /// A next segment being filled (removed: whether it is complete is unknown).
    prepared_exists: bool,
}

/// The state while records are replayed: like [`Mirror`], except that the entries before
/// `first` are unknown (they were in deleted segments) until a snapshot covers them.
struct Replay {
    state: Mirror,
    first: u64,
}

impl Replay {
    fn from_base(base: &Base) -> Result<Replay, Corruption> {
        in_range(&[base.hard.term, base.snapshot.index, base.last_index])?;
        if base.last_index < base.snapshot.index {
            return Err(Corruption::BaseMismatch);
        }
        Ok(Replay {
            state: Mirror {
                hard: base.hard,
                snapshot: base.snapshot,
                entries: Vec::new(),
            },
            first: base.last_index + 1,
        })
    }

    fn last_index(&self) -> u64 {
        self.first - 1 + self.state.entries.len() as u64
    }

    fn matches(&self, base: &Base) -> bool {
        base.hard == self.state.hard
            && base.snapshot == self.state.snapshot
            && base.last_index == self.last_index()
    }

    fn apply(
        &mut self,
        hard: Option<Hard>,
        reset: Option<SnapshotRef>,
        tail: Option<format::Tail>,
    ) -> Result<(), Corruption> {
        let values = [
            hard.map_or(0, |hard| hard.term),
            reset.map_or(0, |reset| reset.index),
            tail.as_ref().map_or(0, |tail| tail.after),
        ];
        in_range(&values)?;
        if let Some(hard) = hard {
            self.state.hard = hard;
        }
        if let Some(reset) = reset {
            let last = self.last_index();
            if reset.index >= last {
                self.state.entries.clear();
                self.first = reset.index + 1;
            } else if reset.index + 1 >= self.first {
                self.state
                    .entries
                    .drain(..(reset.index + 1 - self.first) as usize);
                self.first = reset.index + 1;
            }
            // Otherwise the reset is before unknown entries: they stay unknown.
            self.state.snapshot = reset;
        }
        if let Some(tail) = tail {
            let last = self.last_index();
            if tail.after < self.state.snapshot.index || tail.after > last {
                return Err(Corruption::Misfit {
                    after: tail.after,
                    first: self.state.snapshot.index,
                    last,
                });
            }
            if tail.after < self.first {
                self.state.entries.clear();
                self.first = tail.after + 1;
            } else {
                self.state
                    .entries
                    .truncate((tail.after + 1 - self.first) as usize);
            }
            self.state.entries.extend(tail.entries);
        }
        Ok(())
    }
}

/// Terms and indexes past [`MAX_INDEX_OR_TERM`] are damage (a correct writer never
/// writes them, see `check_delta`), and refusing them keeps replay's arithmetic in range.
fn in_range(values: &[u64]) -> Result<(), Corruption> {
    match values.iter().find(|&&value| value >= MAX_INDEX_OR_TERM) {
        Some(&value) => Err(Corruption::OutOfRange { value }),
        None => Ok(()),
    }
}

/// Reads and checks everything in `dir` without changing anything.
fn recover(fs: &dyn Fs, dir: &Path) -> Result<Found, StorageError> {
    let mut ids = Vec::new();
    let mut snapshot_files = Vec::new();
    let mut temp_exists = false;
    let mut prepared_exists = false;
    for name in fs.list(dir).map_err(io_error(dir))? {
        if let Some(id) = format::parse_segment_name(&name) {
            ids.push(id);
        } else if let Some(generation) = format::parse_snapshot_name(&name) {
            snapshot_files.push(generation);
        } else if name == TEMP_FILE {
            temp_exists = true;
        } else if name == PREPARED_FILE {
            prepared_exists = true;
        }
    }
    ids.sort_unstable();
    // Replay starts after the last gap in the ids: the segments before it were being
    // deleted (deletions are not ordered by an fsync). If that deleted entries the
    // snapshot does not cover, the check of missing entries below says so.
    let start = (1..ids.len())
        .rev()
        .find(|&k| ids[k - 1].checked_add(1) != Some(ids[k]))
        .unwrap_or(0);
    let obsolete_segments = ids[..start].to_vec();
    let ids = &ids[start..];
    if ids.is_empty() {
        return Err(corrupt(dir, 0, Corruption::NoSegments));
    }
    let mut replay: Option<Replay> = None;
    let mut segments = Vec::new();
    let mut cut = None;
    let mut incomplete = None;
    let mut active = (ids[0], 0);
    for (k, &id) in ids.iter().enumerate() {
        let path = dir.join(format::segment_name(id));
        let bytes = fs.read(&path).map_err(io_error(&path))?;
        let is_last = k + 1 == ids.len();
        let mut offset = 0;
        while offset < bytes.len() {
            let at = offset as u64;
            let (record, end) = match format::read_record(&bytes, offset) {
                Ok(found) => found,
                // The records end where only zeros follow: a preallocated segment's unused
                // tail (or, in the last segment, a file extended but not written: nothing
                // there was acknowledged).
                Err(_) if format::end_of_data(&bytes) <= offset => break,
                Err(damage) if !is_last => {
                    return Err(corrupt(&path, at, Corruption::DamagedRecord(damage)));
                }
                Err(damage) => {
                    if let Some(valid_at) = format::valid_record_after(&bytes, offset) {
                        let reason = Corruption::ValidAfterDamage {
                            damage,
                            valid_at: valid_at as u64,
                        };
                        return Err(corrupt(&path, at, reason));
                    }
                    // A torn write: no sync acknowledged it.
                    cut = Some((at, format::end_of_data(&bytes) as u64));
                    break;
                }
            };
            match (record, &mut replay) {
                (Record::Base(base), _) if offset != 0 || base.segment != id => {
                    let reason = match offset {
                        0 => Corruption::NoBase,
                        _ => Corruption::MisplacedBase,
                    };
                    return Err(corrupt(&path, at, reason));
                }
                (Record::Base(base), None) => {
                    replay = Some(Replay::from_base(&base).map_err(|r| corrupt(&path, at, r))?);
                    segments.push((id, base.last_index));
                }
                (Record::Base(base), Some(replay)) => {
                    if !replay.matches(&base) {
                        return Err(corrupt(&path, at, Corruption::BaseMismatch));
                    }
                    segments.push((id, base.last_index));
                }
                (Record::Delta { hard, reset, tail }, Some(replay)) if offset != 0 => {
                    replay
                        .apply(hard, reset, tail)
                        .map_err(|r| corrupt(&path, at, r))?;
                }
                // A segment starts with its base record (so `replay` is set after it).
                (Record::Delta { .. }, _) => {
                    return Err(corrupt(&path, at, Corruption::NoBase));
                }
            }
            offset = end;
        }
        if offset == 0 {
            // No complete base record: a rollover that crashed before its fsync left the
            // last segment empty or torn; anywhere else it is damage.
            if is_last && k > 0 {
                incomplete = Some(id);
                cut = None;
                break;
            }
            return Err(corrupt(&path, 0, Corruption::NoBase));
        }
        active = (id, offset as u64);
    }
    // At least one segment had a base record (the loop returned otherwise).
    let Some(replay) = replay else {
        return Err(corrupt(dir, 0, Corruption::NoSegments));
    };
    let state = replay.state;
    if replay.first != state.snapshot.index + 1 {
        let reason = Corruption::MissingEntries {
            from: state.snapshot.index + 1,
            to: replay.first - 1,
        };
        return Err(corrupt(dir, 0, reason));
    }
    if let Some(vote) = state.hard.vote {
        if usize::try_from(vote).is_err() {
            return Err(corrupt(dir, 0, Corruption::VoteOutOfRange { vote }));
        }
    }
    persistent_state(&state)
        .check()
        .map_err(|error| corrupt(dir, 0, Corruption::State(error)))?;
    let snapshot_data = read_live_snapshot(fs, dir, &state.snapshot)?;
    Ok(Found {
        state,
        snapshot_data,
        segments,
        active_id: active.0,
        active_len: active.1,
        cut,
        incomplete,
        obsolete_segments,
        snapshot_files,
        temp_exists,
        prepared_exists,
    })
}

/// The data of the snapshot the log names (none for generation 0, a fresh server).
fn read_live_snapshot(
    fs: &dyn Fs,
    dir: &Path,
    snapshot: &SnapshotRef,
) -> Result<Arc<Vec<u8>>, StorageError> {
    if snapshot.generation == 0 {
        if snapshot.index != 0 {
            let reason = Corruption::SnapshotMissing { generation: 0 };
            return Err(corrupt(dir, 0, reason));
        }
        return Ok(Arc::new(Vec::new()));
    }
    let path = dir.join(format::snapshot_name(snapshot.generation));
    if !fs.is_file(&path).map_err(io_error(&path))? {
        let reason = Corruption::SnapshotMissing {
            generation: snapshot.generation,
        };
        return Err(corrupt(&path, 0, reason));
    }
    let bytes = fs.read(&path).map_err(io_error(&path))?;
    let file = format::read_snapshot(bytes)
        .map_err(|damage| corrupt(&path, 0, Corruption::SnapshotDamaged(damage)))?;
    if (file.generation, file.index, file.term)
        != (snapshot.generation, snapshot.index, snapshot.term)
    {
        let reason = Corruption::SnapshotMismatch {
            found_generation: file.generation,
            found_index: file.index,
            found_term: file.term,
            index: snapshot.index,
            term: snapshot.term,
        };
        return Err(corrupt(&path, 0, reason));
    }
    Ok(Arc::new(file.data))
}

#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod tests;

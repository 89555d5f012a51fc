//! The file-system operations [`DiskStorage`](super::DiskStorage) performs, behind a small
//! trait, so that a test can stop the storage after any one of them and see what a crash
//! there leaves on disk (`sim_fs.rs`, test builds only). Production uses [`OsFs`].
//!
//! Every operation that changes the disk is a separate call (create, write, sync, rename,
//! remove, directory sync): those are the crash points.

use std::fmt::Debug;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;

/// An open file, written at explicit offsets.
pub(crate) trait FsFile: Send + Debug {
    /// Writes `bytes` at `offset`, extending the file if it is shorter (the bytes may
    /// reach the disk at any time, in any part, until a sync).
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()>;
    /// Makes the file's content durable (fdatasync: a new length is data, a new
    /// modification time is not).
    fn sync(&mut self) -> io::Result<()>;
}

/// Why a directory lock was not taken.
#[derive(Debug)]
pub(crate) enum LockFailure {
    /// Someone else (this process or another) holds it.
    Held,
    /// The lock file could not be opened or locked.
    Io(io::Error),
}

/// A held lock; dropping it releases the lock.
pub(crate) trait FsLock: Send + Debug {}

/// The operations of the disk storage on one directory.
pub(crate) trait Fs: Send + Sync + Debug {
    /// Whether `path` exists as a directory (a dangling symlink does not).
    fn is_dir(&self, path: &Path) -> io::Result<bool>;
    /// Whether `path` exists as a regular file (following symlinks; a dangling one does
    /// not).
    fn is_file(&self, path: &Path) -> io::Result<bool>;
    /// Creates `dir` and any missing parents, each made durable in its parent.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the entries in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// The whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Creates the file, or empties it if it exists, for writing.
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    /// Opens an existing file for writing.
    fn open_write(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    /// Atomically replaces `to` by `from` (not durable until the directory is synced).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on the lock file `path` (created if missing), held until the
    /// returned guard is dropped.
    fn lock(&self, path: &Path) -> Result<Box<dyn FsLock>, LockFailure>;
    /// Whether slow preparatory work (zero-filling the next segment) may run on a
    /// background thread. The simulated file system says no, so that its crash points
    /// come in a reproducible order.
    fn background_work(&self) -> bool {
        true
    }
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OsFs;

#[derive(Debug)]
struct OsFile(File);

impl FsFile for OsFile {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        // Not `O_APPEND`: on Linux a positioned write to an append-mode file appends.
        #[cfg(unix)]
        {
            // One `pwrite` instead of a seek and a write: one system call less per sync.
            use std::os::unix::fs::FileExt;
            self.0.write_all_at(bytes, offset)
        }
        #[cfg(not(unix))]
        {
            use std::io::{Seek, SeekFrom, Write};
            self.0.seek(SeekFrom::Start(offset))?;
            self.0.write_all(bytes)
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

/// The lock file, open and locked; `flock` locks belong to the open file, so closing it
/// (on drop) releases the lock, and a second open of the same file, even in this
/// process, cannot take it meanwhile.
#[derive(Debug)]
struct OsLock(#[allow(dead_code)] File);

impl FsLock for OsLock {}

impl Fs for OsFs {
    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        match fs::metadata(path) {
            Ok(meta) => Ok(meta.is_dir()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(error),
        }
    }

    fn is_file(&self, path: &Path) -> io::Result<bool> {
        match fs::metadata(path) {
            Ok(meta) => Ok(meta.is_file()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(error),
        }
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        if self.is_dir(dir)? {
            return Ok(());
        }
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent {
            self.create_dir_all(parent)?;
        }
        match fs::create_dir(dir) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(error) => return Err(error),
        }
        // The new directory is an entry of its parent: durable only once the parent is.
        self.sync_dir(parent.unwrap_or(Path::new(".")))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            // A name that is not UTF-8 is none of ours; keep it visible as lossy text.
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(path)?;
        Ok(Box::new(OsFile(file)))
    }

    fn open_write(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let file = OpenOptions::new().write(true).open(path)?;
        Ok(Box::new(OsFile(file)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn FsLock>, LockFailure> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(LockFailure::Io)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(OsLock(file))),
            Err(TryLockError::WouldBlock) => Err(LockFailure::Held),
            Err(TryLockError::Error(error)) => Err(LockFailure::Io(error)),
        }
    }
}

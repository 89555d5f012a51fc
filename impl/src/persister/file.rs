//! A persister that survives process crashes: one file, replaced atomically.
//!
//! A save writes the whole file (format in `format.rs`) to `state.tmp`, fsyncs it, renames
//! it over `state` and fsyncs the directory, so a crash at any point leaves either the old
//! file or the new one, never a mix. `open` reads only `state`: a `state.tmp` is a save that
//! never completed, so it was never acknowledged and is ignored (the next save overwrites
//! it). A damaged `state` is [`PersistError::Corrupt`], any other failure to read it
//! [`PersistError::Io`]; only a missing one is a fresh server.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{format, Cached, PersistError, Persister, Saved};

const STATE_FILE: &str = "state";
const TEMP_FILE: &str = "state.tmp";

/// Raft state and snapshot in one atomically replaced, checksummed file in a directory.
#[derive(Debug)]
pub struct FilePersister {
    dir: PathBuf,
    /// What the `state` file holds: reads and sizes are served from memory.
    saved: Cached,
}

/// The file-system steps of `open` and `save`, in the order a save runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    CreateDir,
    CreateTemp,
    WriteTemp,
    SyncTemp,
    Rename,
    SyncDir,
}

/// Called before each [`Step`] with the path it acts on. In production it always lets the
/// step run; a test returns an error to make the step fail, or unwinds to stop the save
/// right there, as if the process had died.
trait Checkpoint: FnMut(Step, &Path) -> io::Result<()> {}
impl<F: FnMut(Step, &Path) -> io::Result<()>> Checkpoint for F {}

fn proceed(_: Step, _: &Path) -> io::Result<()> {
    Ok(())
}

impl FilePersister {
    /// Opens (creating if needed) the persister in `dir` and reads what it holds. A missing
    /// state file is a fresh server; a damaged one is an error.
    pub fn open(dir: impl AsRef<Path>) -> Result<FilePersister, PersistError> {
        FilePersister::open_with(dir.as_ref(), &mut proceed)
    }

    /// The directory this persister writes to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn open_with(dir: &Path, checkpoint: &mut impl Checkpoint) -> Result<Self, PersistError> {
        create_dir_durably(dir, checkpoint)?;
        let saved = read_state(&dir.join(STATE_FILE))?;
        Ok(FilePersister {
            dir: dir.to_path_buf(),
            saved: Cached::new(saved),
        })
    }

    fn save_with(
        &self,
        raft_state: &[u8],
        snapshot: &[u8],
        checkpoint: &mut impl Checkpoint,
    ) -> Result<(), PersistError> {
        // Holding the lock across the write keeps concurrent saves in order.
        let mut saved = self.saved.lock();
        self.replace_state_file(&format::encode(raft_state, snapshot), checkpoint)?;
        // `state` now holds the new pair, so the cache must too, even if the directory sync
        // below fails: reads, sizes and a reopen must all agree with the file.
        *saved = Saved::copied(raft_state, snapshot);
        // The rename is durable only once the directory entry is.
        run(checkpoint, Step::SyncDir, &self.dir, sync_dir)
    }

    /// Makes `bytes` the content of `state` by writing, syncing and renaming the temp file.
    /// On error `state` is untouched.
    fn replace_state_file(
        &self,
        bytes: &[u8],
        checkpoint: &mut impl Checkpoint,
    ) -> Result<(), PersistError> {
        let temp = self.dir.join(TEMP_FILE);
        let path = self.dir.join(STATE_FILE);
        let result = write_synced(&temp, bytes, checkpoint).and_then(|()| {
            run(checkpoint, Step::Rename, &path, |path| {
                fs::rename(&temp, path)
            })
        });
        if result.is_err() {
            // Best effort: a half-written temp file may hold the very space whose lack made
            // the write fail, and after a failed fsync its pages cannot be trusted, so the
            // next save starts a fresh file. `remove_file` never removes a directory.
            let _ = fs::remove_file(&temp);
        }
        result
    }
}

impl Persister for FilePersister {
    fn save(&self, raft_state: &[u8], snapshot: &[u8]) -> Result<(), PersistError> {
        self.save_with(raft_state, snapshot, &mut proceed)
    }

    fn read_raft_state(&self) -> Result<Vec<u8>, PersistError> {
        Ok(self.saved.raft_state())
    }

    fn read_snapshot(&self) -> Result<Vec<u8>, PersistError> {
        Ok(self.saved.snapshot())
    }

    fn raft_state_size(&self) -> usize {
        self.saved.raft_state_size()
    }

    fn snapshot_size(&self) -> usize {
        self.saved.snapshot_size()
    }
}

fn read_state(path: &Path) -> Result<Saved, PersistError> {
    match fs::read(path) {
        Ok(bytes) => format::decode(&bytes).map_err(|reason| PersistError::Corrupt {
            path: path.to_path_buf(),
            reason,
        }),
        // Never saved: Figure 2's initial state (term 0, no vote, empty log).
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Saved::default()),
        Err(e) => Err(io_error(path, e)),
    }
}

/// Writes `bytes` to a fresh `temp` and fsyncs it.
fn write_synced(
    temp: &Path,
    bytes: &[u8],
    checkpoint: &mut impl Checkpoint,
) -> Result<(), PersistError> {
    let create = |path: &Path| {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    };
    let mut file = run(checkpoint, Step::CreateTemp, temp, create)?;
    run(checkpoint, Step::WriteTemp, temp, |_| file.write_all(bytes))?;
    // The data must be on disk before the rename publishes it, or a power loss could leave
    // `state` renamed but empty.
    run(checkpoint, Step::SyncTemp, temp, |_| file.sync_all())
}

/// Creates `dir` and any missing ancestors, fsyncing each new directory's parent: without
/// that, a power loss could drop the new directory, and a `state` file synced inside it
/// would vanish with it.
fn create_dir_durably(dir: &Path, checkpoint: &mut impl Checkpoint) -> Result<(), PersistError> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        create_dir_durably(parent, checkpoint)?;
    }
    run(
        checkpoint,
        Step::CreateDir,
        dir,
        |dir| match fs::create_dir(dir) {
            // Another process created it between the check and here.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
            other => other,
        },
    )?;
    run(
        checkpoint,
        Step::SyncDir,
        parent.unwrap_or(Path::new(".")),
        sync_dir,
    )
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Runs `step` on `path` once `checkpoint` allows it, naming `path` in any error.
fn run<T>(
    checkpoint: &mut impl Checkpoint,
    step: Step,
    path: &Path,
    action: impl FnOnce(&Path) -> io::Result<T>,
) -> Result<T, PersistError> {
    checkpoint(step, path)
        .and_then(|()| action(path))
        .map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, source: io::Error) -> PersistError {
    PersistError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod faults;
#[cfg(test)]
mod tests;

//! A simulated file system for crash tests (test builds only): one directory in memory that
//! remembers, for each file, what an fsync made durable and what was only written, and for
//! the directory, which entries a directory fsync made durable. It can stop after any
//! mutating operation (every later one fails, as in a dead process) and then say what a
//! crash there may leave on disk: the durable content with a prefix, possibly torn, of the
//! writes made after the last fsync applied in their order (an append or an overwrite in
//! place alike); and the directory's entries as of the last directory fsync, or as the
//! process saw them.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use super::fs::{Fs, FsFile, FsLock, LockFailure};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Inode {
    durable: Vec<u8>,
    current: Vec<u8>,
    /// The writes since the last fsync, in order: (offset, bytes).
    unsynced: Vec<(usize, Vec<u8>)>,
}

/// Writes `bytes` at `offset` of `content`, extending it with zeros if it is shorter.
fn write_into(content: &mut Vec<u8>, offset: usize, bytes: &[u8]) {
    let end = offset + bytes.len();
    if content.len() < end {
        content.resize(end, 0);
    }
    content[offset..end].copy_from_slice(bytes);
}

/// The disk: inodes, and the directory's entries naming them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Disk {
    exists: bool,
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    names: BTreeMap<String, u64>,
    durable_names: BTreeMap<String, u64>,
}

/// How much of the unsynced data a crash keeps, in every file alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    /// Only what was fsynced.
    Synced,
    /// The first half of the bytes written since, in write order (cut mid-record: a torn
    /// write).
    Half,
    /// All but the last byte written.
    AllButOne,
    /// Everything written.
    All,
}

impl Disk {
    /// What a crash may leave: `names_durable` picks the directory as of its last fsync
    /// (else as the process saw it), `kept` how much unsynced data survives.
    pub(crate) fn after_crash(&self, names_durable: bool, kept: Kept) -> Disk {
        let names = match names_durable {
            true => self.durable_names.clone(),
            false => self.names.clone(),
        };
        let inodes = self
            .inodes
            .iter()
            .map(|(&id, inode)| {
                let written: usize = inode.unsynced.iter().map(|(_, bytes)| bytes.len()).sum();
                let mut budget = match kept {
                    Kept::Synced => 0,
                    Kept::Half => written / 2,
                    Kept::AllButOne => written.saturating_sub(1),
                    Kept::All => written,
                };
                let mut content = inode.durable.clone();
                for (offset, bytes) in &inode.unsynced {
                    let take = bytes.len().min(budget);
                    if take == 0 && !bytes.is_empty() {
                        break;
                    }
                    write_into(&mut content, *offset, &bytes[..take]);
                    budget -= take;
                }
                let inode = Inode {
                    durable: content.clone(),
                    current: content,
                    unsynced: Vec::new(),
                };
                (id, inode)
            })
            .collect();
        Disk {
            exists: self.exists,
            inodes,
            next_inode: self.next_inode,
            durable_names: names.clone(),
            names,
        }
    }

    /// The current content of file `name`, if it exists.
    pub(crate) fn file(&self, name: &str) -> Option<&[u8]> {
        let id = self.names.get(name)?;
        Some(&self.inodes[id].current)
    }

    /// The names of the files, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        self.names.keys().cloned().collect()
    }
}

#[derive(Debug, Default)]
struct State {
    disk: Disk,
    operations: usize,
    crash_after: Option<usize>,
    image: Option<Disk>,
    locked: bool,
}

/// The simulated file system; clones share the disk.
#[derive(Debug, Clone, Default)]
pub(crate) struct SimFs {
    state: Arc<Mutex<State>>,
}

fn crashed() -> io::Error {
    io::Error::other("simulated crash: the process is dead")
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl SimFs {
    /// A file system holding `disk`.
    pub(crate) fn with_disk(disk: Disk) -> SimFs {
        let fs = SimFs::default();
        fs.lock_state().disk = disk;
        fs
    }

    /// Stops the world after the `n`th mutating operation from now (1 = the next one).
    pub(crate) fn crash_after(&self, n: usize) {
        let mut state = self.lock_state();
        state.crash_after = Some(state.operations + n);
    }

    /// The disk as it was at the crash, if one happened.
    pub(crate) fn crash_image(&self) -> Option<Disk> {
        self.lock_state().image.clone()
    }

    /// The disk now.
    pub(crate) fn disk(&self) -> Disk {
        self.lock_state().disk.clone()
    }

    /// How many mutating operations ran so far.
    pub(crate) fn operations(&self) -> usize {
        self.lock_state().operations
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Runs one mutating operation, unless the world has stopped.
    fn mutate<T>(&self, op: impl FnOnce(&mut Disk) -> io::Result<T>) -> io::Result<T> {
        let mut state = self.lock_state();
        if state.image.is_some() {
            return Err(crashed());
        }
        let result = op(&mut state.disk)?;
        state.operations += 1;
        if state.crash_after == Some(state.operations) {
            state.image = Some(state.disk.clone());
        }
        Ok(result)
    }

    fn read_disk<T>(&self, op: impl FnOnce(&Disk) -> io::Result<T>) -> io::Result<T> {
        let state = self.lock_state();
        if state.image.is_some() {
            return Err(crashed());
        }
        op(&state.disk)
    }
}

fn not_found() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

#[derive(Debug)]
struct SimFile {
    fs: SimFs,
    inode: u64,
}

impl FsFile for SimFile {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let inode = self.inode;
        let offset = usize::try_from(offset).map_err(io::Error::other)?;
        self.fs.mutate(|disk| {
            let file = disk.inodes.get_mut(&inode).ok_or_else(not_found)?;
            write_into(&mut file.current, offset, bytes);
            file.unsynced.push((offset, bytes.to_vec()));
            Ok(())
        })
    }

    fn sync(&mut self) -> io::Result<()> {
        let inode = self.inode;
        self.fs.mutate(|disk| {
            let file = disk.inodes.get_mut(&inode).ok_or_else(not_found)?;
            file.durable = file.current.clone();
            file.unsynced.clear();
            Ok(())
        })
    }
}

#[derive(Debug)]
struct SimLock(SimFs);

impl FsLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.0.lock_state().locked = false;
    }
}

impl Fs for SimFs {
    fn is_dir(&self, _: &Path) -> io::Result<bool> {
        self.read_disk(|disk| Ok(disk.exists))
    }

    fn is_file(&self, path: &Path) -> io::Result<bool> {
        let name = name_of(path);
        self.read_disk(|disk| Ok(disk.names.contains_key(&name)))
    }

    fn create_dir_all(&self, _: &Path) -> io::Result<()> {
        self.mutate(|disk| {
            disk.exists = true;
            Ok(())
        })
    }

    fn list(&self, _: &Path) -> io::Result<Vec<String>> {
        self.read_disk(|disk| match disk.exists {
            true => Ok(disk.names()),
            false => Err(not_found()),
        })
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let name = name_of(path);
        self.read_disk(|disk| disk.file(&name).map(<[u8]>::to_vec).ok_or_else(not_found))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let name = name_of(path);
        let inode = self.mutate(|disk| {
            // A new inode, as `O_TRUNC` on a renamed-away name would not share data.
            let inode = disk.next_inode;
            disk.next_inode += 1;
            disk.inodes.insert(inode, Inode::default());
            disk.names.insert(name, inode);
            Ok(inode)
        })?;
        Ok(Box::new(SimFile {
            fs: self.clone(),
            inode,
        }))
    }

    fn open_write(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let name = name_of(path);
        let inode = self.read_disk(|disk| disk.names.get(&name).copied().ok_or_else(not_found))?;
        Ok(Box::new(SimFile {
            fs: self.clone(),
            inode,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (from, to) = (name_of(from), name_of(to));
        self.mutate(|disk| {
            let inode = disk.names.remove(&from).ok_or_else(not_found)?;
            disk.names.insert(to, inode);
            Ok(())
        })
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let name = name_of(path);
        self.mutate(|disk| disk.names.remove(&name).map(drop).ok_or_else(not_found))
    }

    fn sync_dir(&self, _: &Path) -> io::Result<()> {
        self.mutate(|disk| {
            disk.durable_names = disk.names.clone();
            Ok(())
        })
    }

    fn lock(&self, _: &Path) -> Result<Box<dyn FsLock>, LockFailure> {
        let mut state = self.lock_state();
        if state.locked {
            return Err(LockFailure::Held);
        }
        state.locked = true;
        Ok(Box::new(SimLock(self.clone())))
    }

    fn background_work(&self) -> bool {
        false
    }
}

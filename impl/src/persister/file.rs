//! A persister that survives process crashes: one file, replaced atomically.
//!
//! File format, version 1 (integers little-endian):
//!
//! ```text
//! magic "RAFTPST\0" (8) · version u8 · raft_state_len u64 · snapshot_len u64 ·
//! crc32 u32 (over every byte before it and both payloads) · raft_state · snapshot
//! ```
//!
//! A save writes the whole file to `state.tmp`, fsyncs it, renames it over `state` and
//! fsyncs the directory, so a crash leaves either the old file or the new one, never a mix.
//! A file that is short, long, of another version or fails its checksum is
//! [`PersistError::Corrupt`]: never a panic, never silently an empty state.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{PersistError, Persister, Saved};

const MAGIC: &[u8; 8] = b"RAFTPST\0";
const VERSION: u8 = 1;
const HEADER_BYTES: usize = 8 + 1 + 8 + 8 + 4;
const STATE_FILE: &str = "state";
const TEMP_FILE: &str = "state.tmp";

/// Raft state and snapshot in one atomically replaced, checksummed file in a directory.
#[derive(Debug)]
pub struct FilePersister {
    dir: PathBuf,
    /// What the file holds: reads and sizes are served from memory.
    saved: Mutex<Saved>,
}

impl FilePersister {
    /// Opens (creating if needed) the persister in `dir` and reads what it holds. A missing
    /// state file is a fresh server; a damaged one is an error.
    pub fn open(dir: impl AsRef<Path>) -> Result<FilePersister, PersistError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        let path = dir.join(STATE_FILE);
        let saved = match fs::read(&path) {
            Ok(bytes) => decode(&bytes)
                .map_err(|reason| PersistError::Corrupt(format!("{}: {reason}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Saved::default(),
            Err(e) => return Err(io_error(&path, e)),
        };
        Ok(FilePersister {
            dir,
            saved: Mutex::new(saved),
        })
    }

    /// The directory this persister writes to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Saved> {
        // `Saved` is replaced only by whole assignment after a successful write, so a
        // poisoned lock still guards a consistent value.
        self.saved.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write_atomically(&self, bytes: &[u8]) -> Result<(), PersistError> {
        let temp = self.dir.join(TEMP_FILE);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(|e| io_error(&temp, e))?;
        file.write_all(bytes).map_err(|e| io_error(&temp, e))?;
        file.sync_all().map_err(|e| io_error(&temp, e))?;
        drop(file);
        let path = self.dir.join(STATE_FILE);
        fs::rename(&temp, &path).map_err(|e| io_error(&path, e))?;
        // The rename is durable only once the directory entry is.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(&self.dir, e))
    }
}

impl Persister for FilePersister {
    fn save(&self, raft_state: &[u8], snapshot: &[u8]) -> Result<(), PersistError> {
        // Holding the lock across the write keeps concurrent saves in order.
        let mut saved = self.lock();
        self.write_atomically(&encode(raft_state, snapshot))?;
        *saved = Saved {
            raft_state: raft_state.to_vec(),
            snapshot: snapshot.to_vec(),
        };
        Ok(())
    }

    fn read_raft_state(&self) -> Result<Vec<u8>, PersistError> {
        Ok(self.lock().raft_state.clone())
    }

    fn read_snapshot(&self) -> Result<Vec<u8>, PersistError> {
        Ok(self.lock().snapshot.clone())
    }

    fn raft_state_size(&self) -> usize {
        self.lock().raft_state.len()
    }

    fn snapshot_size(&self) -> usize {
        self.lock().snapshot.len()
    }
}

fn io_error(path: &Path, source: std::io::Error) -> PersistError {
    PersistError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn encode(raft_state: &[u8], snapshot: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES + raft_state.len() + snapshot.len());
    bytes.extend_from_slice(MAGIC);
    bytes.push(VERSION);
    bytes.extend_from_slice(&(raft_state.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&(snapshot.len() as u64).to_le_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&bytes);
    hasher.update(raft_state);
    hasher.update(snapshot);
    bytes.extend_from_slice(&hasher.finalize().to_le_bytes());
    bytes.extend_from_slice(raft_state);
    bytes.extend_from_slice(snapshot);
    bytes
}

fn decode(bytes: &[u8]) -> Result<Saved, String> {
    if bytes.len() < HEADER_BYTES {
        return Err(format!(
            "{} bytes, shorter than the {HEADER_BYTES}-byte header",
            bytes.len()
        ));
    }
    if &bytes[..8] != MAGIC {
        return Err("bad magic number (not a raft-impl state file)".into());
    }
    if bytes[8] != VERSION {
        return Err(format!(
            "unsupported format version {} (this build reads {VERSION})",
            bytes[8]
        ));
    }
    let raft_len = read_u64(&bytes[9..17]);
    let snapshot_len = read_u64(&bytes[17..25]);
    let stored_crc = u32::from_le_bytes([bytes[25], bytes[26], bytes[27], bytes[28]]);
    let body = &bytes[HEADER_BYTES..];
    let expected = raft_len.checked_add(snapshot_len);
    if expected != Some(body.len() as u64) {
        return Err(format!(
            "header announces {raft_len} + {snapshot_len} payload bytes, file holds {}",
            body.len()
        ));
    }
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&bytes[..25]);
    hasher.update(body);
    let computed = hasher.finalize();
    if computed != stored_crc {
        return Err(format!(
            "checksum mismatch: stored {stored_crc:#010x}, computed {computed:#010x}"
        ));
    }
    let (raft_state, snapshot) = body.split_at(raft_len as usize);
    Ok(Saved {
        raft_state: raft_state.to_vec(),
        snapshot: snapshot.to_vec(),
    })
}

fn read_u64(bytes: &[u8]) -> u64 {
    let mut array = [0u8; 8];
    array.copy_from_slice(bytes);
    u64::from_le_bytes(array)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved_dir() -> (tempfile::TempDir, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let persister = FilePersister::open(dir.path()).unwrap();
        persister.save(b"raft-state", b"the snapshot").unwrap();
        let bytes = fs::read(dir.path().join(STATE_FILE)).unwrap();
        (dir, bytes)
    }

    fn assert_corrupt(result: Result<FilePersister, PersistError>) {
        match result {
            Err(PersistError::Corrupt(_)) => {}
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    /// What was saved is read back after reopening, and a fresh directory is empty state.
    #[test]
    fn save_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = FilePersister::open(dir.path()).unwrap();
        assert!(fresh.read_raft_state().unwrap().is_empty());
        fresh.save(b"one", b"").unwrap();
        fresh.save(b"two", b"snap").unwrap();
        let reopened = FilePersister::open(dir.path()).unwrap();
        assert_eq!(reopened.read_raft_state().unwrap(), b"two");
        assert_eq!(reopened.read_snapshot().unwrap(), b"snap");
        assert_eq!(
            (reopened.raft_state_size(), reopened.snapshot_size()),
            (3, 4)
        );
        assert!(
            !dir.path().join(TEMP_FILE).exists(),
            "the temp file was renamed away"
        );
    }

    /// Every truncation of the file, including to zero bytes, is reported as corrupt.
    #[test]
    fn truncated_file_is_corrupt() {
        let (dir, bytes) = saved_dir();
        for len in 0..bytes.len() {
            fs::write(dir.path().join(STATE_FILE), &bytes[..len]).unwrap();
            assert_corrupt(FilePersister::open(dir.path()));
        }
    }

    /// Every single-bit flip is reported as corrupt, as are trailing bytes.
    #[test]
    fn damaged_file_is_corrupt() {
        let (dir, bytes) = saved_dir();
        for position in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[position / 8] ^= 1 << (position % 8);
            fs::write(dir.path().join(STATE_FILE), &damaged).unwrap();
            assert_corrupt(FilePersister::open(dir.path()));
        }
        let mut longer = bytes.clone();
        longer.push(0);
        fs::write(dir.path().join(STATE_FILE), &longer).unwrap();
        assert_corrupt(FilePersister::open(dir.path()));
    }

    /// A temp file left by a crash during a save does not affect what is read.
    #[test]
    fn leftover_temp_file_is_ignored() {
        let (dir, _) = saved_dir();
        fs::write(dir.path().join(TEMP_FILE), b"half a write").unwrap();
        let reopened = FilePersister::open(dir.path()).unwrap();
        assert_eq!(reopened.read_raft_state().unwrap(), b"raft-state");
    }
}

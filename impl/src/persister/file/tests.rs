//! Reopening what was saved, and damaged or unreadable files on open.

use super::*;
use crate::persister::FileFormatError;

fn saved_dir() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let persister = FilePersister::open(dir.path()).unwrap();
    persister.save(b"raft-state", b"the snapshot").unwrap();
    let bytes = fs::read(dir.path().join(STATE_FILE)).unwrap();
    (dir, bytes)
}

/// The reason a damaged file was refused, after checking that the error names the file.
fn corrupt_reason(dir: &Path, result: Result<FilePersister, PersistError>) -> FileFormatError {
    match result {
        Err(PersistError::Corrupt { path, reason }) => {
            assert_eq!(path, dir.join(STATE_FILE));
            reason
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

fn assert_corrupt(dir: &Path, result: Result<FilePersister, PersistError>) {
    corrupt_reason(dir, result);
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
        let reason = corrupt_reason(dir.path(), FilePersister::open(dir.path()));
        if len < 29 {
            assert_eq!(reason, FileFormatError::Truncated { len });
        } else {
            assert!(
                matches!(reason, FileFormatError::LengthMismatch { .. }),
                "{reason:?}"
            );
        }
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
        assert_corrupt(dir.path(), FilePersister::open(dir.path()));
    }
    let mut longer = bytes.clone();
    longer.push(0);
    fs::write(dir.path().join(STATE_FILE), &longer).unwrap();
    assert_eq!(
        corrupt_reason(dir.path(), FilePersister::open(dir.path())),
        FileFormatError::LengthMismatch {
            raft_state: 10,
            snapshot: 12,
            payload: 23
        }
    );
    let mut other_version = bytes.clone();
    other_version[8] = 9;
    fs::write(dir.path().join(STATE_FILE), &other_version).unwrap();
    assert_eq!(
        corrupt_reason(dir.path(), FilePersister::open(dir.path())),
        FileFormatError::UnsupportedVersion {
            found: 9,
            expected: 1
        }
    );
}

/// A temp file left by a crash during a save does not affect what is read.
#[test]
fn leftover_temp_file_is_ignored() {
    let (dir, _) = saved_dir();
    fs::write(dir.path().join(TEMP_FILE), b"half a write").unwrap();
    let reopened = FilePersister::open(dir.path()).unwrap();
    assert_eq!(reopened.read_raft_state().unwrap(), b"raft-state");
}

/// A `state` that exists but cannot be read (here: it is a directory) is an I/O error
/// naming it, not a fresh empty server: treating it as empty would forget votes and log.
#[test]
fn unreadable_state_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join(STATE_FILE)).unwrap();
    match FilePersister::open(dir.path()) {
        Err(PersistError::Io { path, .. }) => {
            assert!(path.ends_with(STATE_FILE), "{}", path.display())
        }
        other => panic!("expected Io, got {other:?}"),
    }
}

/// A path that exists but is not a directory cannot be opened.
#[test]
fn file_in_place_of_directory_is_an_io_error() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("peer");
    fs::write(&dir, b"not a directory").unwrap();
    assert!(matches!(
        FilePersister::open(&dir),
        Err(PersistError::Io { .. })
    ));
}

//! The storage directory lock across processes (issue 10, part 5: "a storage directory is
//! locked against a second opener (process or in-process)"). The test re-runs its own
//! binary as the second process; the child is an ignored test that only runs when asked.

use std::path::Path;
use std::process::Command;

use raft_impl::storage::{DiskOptions, DiskStorage, StorageError};

const CHILD_DIR: &str = "RAFT_STORAGE_LOCK_CHILD_DIR";

/// Opens the directory in a child process and returns what the child printed.
fn open_in_child(dir: &Path) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "lock_child", "--nocapture"])
        .env(CHILD_DIR, dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "child failed: {stdout} {output:?}");
    stdout
}

/// While one process has the storage open, another process's `open` (and `create`) is
/// refused with `Locked`; once it is dropped, the other process opens it.
#[test]
fn second_process_is_refused_while_open() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("peer");
    let storage = DiskStorage::create(&dir, options()).unwrap();
    let child = open_in_child(&dir);
    assert!(child.contains("child: open refused: locked"), "{child}");
    assert!(child.contains("child: create refused: locked"), "{child}");
    drop(storage);
    let child = open_in_child(&dir);
    assert!(child.contains("child: opened"), "{child}");
}

/// The second process (runs only when the test above starts it).
#[test]
#[ignore = "run by second_process_is_refused_while_open as its child process"]
fn lock_child() {
    let dir = std::env::var_os(CHILD_DIR).expect("started by the parent test");
    match DiskStorage::open(&dir, options()) {
        Err(StorageError::Locked { .. }) => println!("child: open refused: locked"),
        Ok(_) => println!("child: opened"),
        Err(other) => panic!("unexpected: {other}"),
    }
    match DiskStorage::create(&dir, options()) {
        Err(StorageError::Locked { .. }) => println!("child: create refused: locked"),
        Err(StorageError::AlreadyExists { .. }) => println!("child: create refused: exists"),
        other => panic!("unexpected: {other:?}"),
    }
}

/// Small preallocated segments: the default 64 MiB of zeros would only slow the test.
fn options() -> DiskOptions {
    DiskOptions {
        segment_bytes: 64 << 10,
        preallocate: true,
    }
}

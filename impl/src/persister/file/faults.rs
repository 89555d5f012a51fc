//! Crashes and failures in the middle of a save. A crash (the process dies before a step)
//! must leave the old state or the new one for the next `open`, never a mix or an error;
//! a failed step must be an error, not a panic, with the cache still agreeing with the file
//! and a later save succeeding once the cause is gone. The process-crash model here cannot
//! show what a power loss does to unsynced data; `save_runs_its_steps_in_order` pins the
//! fsyncs that guard against that.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::*;

const SAVE_STEPS: [Step; 5] = [
    Step::CreateTemp,
    Step::WriteTemp,
    Step::SyncTemp,
    Step::Rename,
    Step::SyncDir,
];

type Pair = (&'static [u8], &'static [u8]);
const OLD: Pair = (b"term 3, voted 1, log [a b]", b"snapshot at 2");
const NEW: Pair = (b"term 4, voted 2, log [a b c]", b"snapshot at 3, longer");
const NEWER: Pair = (b"term 5", b"");

/// The unwind payload of a simulated crash, so a real panic is not mistaken for one.
struct Crash;

/// Unwinds out of the save just before `target`, so nothing after it runs, not even the
/// save's own clean-up: what is on disk is what a process killed there would leave.
/// `resume_unwind` skips the panic hook, so the test output stays quiet.
fn crash_before(target: Step) -> impl FnMut(Step, &Path) -> io::Result<()> {
    move |step, _| {
        if step == target {
            resume_unwind(Box::new(Crash));
        }
        Ok(())
    }
}

/// Makes `target` fail as the file system would, with an I/O error.
fn fail_at(target: Step) -> impl FnMut(Step, &Path) -> io::Result<()> {
    move |step, _| match step == target {
        true => Err(io::Error::other(format!("injected failure at {step:?}"))),
        false => Ok(()),
    }
}

fn contents(persister: &FilePersister) -> (Vec<u8>, Vec<u8>) {
    let pair = (
        persister.read_raft_state().unwrap(),
        persister.read_snapshot().unwrap(),
    );
    let sizes = (persister.raft_state_size(), persister.snapshot_size());
    assert_eq!(sizes, (pair.0.len(), pair.1.len()), "sizes match the bytes");
    pair
}

fn owned((raft_state, snapshot): Pair) -> (Vec<u8>, Vec<u8>) {
    (raft_state.to_vec(), snapshot.to_vec())
}

fn assert_io_error(result: Result<(), PersistError>) {
    match result {
        Err(PersistError::Io { .. }) => {}
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

/// After a crash or failure: the next save works and leaves no temp file behind.
fn assert_next_save_succeeds(persister: &FilePersister) {
    persister.save(NEWER.0, NEWER.1).unwrap();
    assert_eq!(contents(persister), owned(NEWER));
    let reopened = FilePersister::open(persister.dir()).unwrap();
    assert_eq!(contents(&reopened), owned(NEWER));
    assert!(!persister.dir().join(TEMP_FILE).exists());
}

/// What an earlier crash may have left at `state.tmp`.
fn leftover_temp_files() -> Vec<(&'static str, Option<Vec<u8>>)> {
    let complete = format::encode(b"never acknowledged", b"!");
    vec![
        ("none", None),
        ("empty", Some(Vec::new())),
        ("garbage", Some(b"half a write".to_vec())),
        ("partial", Some(complete[..complete.len() / 2].to_vec())),
        ("complete but never renamed", Some(complete)),
    ]
}

/// A crash before each step of a save, from a fresh or a saved directory and over every
/// kind of leftover temp file, reopens to exactly the old pair (crash before the rename)
/// or exactly the new one (after it), and the next save succeeds.
#[test]
fn crash_at_every_step_leaves_old_or_new_state() {
    for (leftover, temp_bytes) in leftover_temp_files() {
        for old in [None, Some(OLD)] {
            for step in SAVE_STEPS {
                let saved = old.is_some();
                let case = format!("leftover {leftover}, saved {saved}, crash before {step:?}");
                let dir = tempfile::tempdir().unwrap();
                if let Some((raft_state, snapshot)) = old {
                    FilePersister::open(dir.path())
                        .unwrap()
                        .save(raft_state, snapshot)
                        .unwrap();
                }
                if let Some(bytes) = &temp_bytes {
                    fs::write(dir.path().join(TEMP_FILE), bytes).unwrap();
                }
                let before = FilePersister::open(dir.path()).expect(&case);
                let expected_old = old.map(owned).unwrap_or_default();
                assert_eq!(contents(&before), expected_old, "{case}: leftover ignored");

                let crashed = catch_unwind(AssertUnwindSafe(|| {
                    before.save_with(NEW.0, NEW.1, &mut crash_before(step))
                }));
                let payload = crashed.expect_err("the save reached the step");
                assert!(payload.is::<Crash>(), "{case}: a real panic");
                drop(before);
                let renamed = step == Step::SyncDir;
                let temp_written = matches!(step, Step::WriteTemp | Step::SyncTemp | Step::Rename);
                assert_eq!(
                    dir.path().join(TEMP_FILE).exists(),
                    temp_written || (!renamed && temp_bytes.is_some()),
                    "{case}: the crash left the temp file as a dead process would"
                );

                let after = FilePersister::open(dir.path()).expect(&case);
                let expected = if renamed { owned(NEW) } else { expected_old };
                assert_eq!(contents(&after), expected, "{case}");
                assert_next_save_succeeds(&after);
            }
        }
    }
}

/// A failure at each step is an error; the cache then holds exactly what the `state` file
/// holds (the old pair, or the new one once the rename has happened), and the next save
/// succeeds.
#[test]
fn failure_at_every_step_keeps_cache_and_file_in_agreement() {
    for step in SAVE_STEPS {
        let dir = tempfile::tempdir().unwrap();
        let persister = FilePersister::open(dir.path()).unwrap();
        persister.save(OLD.0, OLD.1).unwrap();
        assert_io_error(persister.save_with(NEW.0, NEW.1, &mut fail_at(step)));
        let expected = if step == Step::SyncDir {
            owned(NEW)
        } else {
            owned(OLD)
        };
        assert_eq!(contents(&persister), expected, "failure at {step:?}: cache");
        let reopened = FilePersister::open(dir.path()).unwrap();
        assert_eq!(contents(&reopened), expected, "failure at {step:?}: file");
        assert!(
            !dir.path().join(TEMP_FILE).exists(),
            "failure at {step:?}: the failed save cleaned up its temp file"
        );
        assert_next_save_succeeds(&persister);
    }
}

/// Saving into a directory removed after `open` fails cleanly; the cache keeps the old
/// pair; once the directory is back, saving works again.
#[test]
fn directory_removed_after_open() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("peer");
    let persister = FilePersister::open(&dir).unwrap();
    persister.save(OLD.0, OLD.1).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    assert_io_error(persister.save(NEW.0, NEW.1));
    assert_eq!(contents(&persister), owned(OLD));
    fs::create_dir(&dir).unwrap();
    assert_next_save_succeeds(&persister);
}

/// As above, with a plain file where the directory was.
#[test]
fn directory_replaced_by_a_file_after_open() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("peer");
    let persister = FilePersister::open(&dir).unwrap();
    persister.save(OLD.0, OLD.1).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    fs::write(&dir, b"in the way").unwrap();
    assert_io_error(persister.save(NEW.0, NEW.1));
    assert_eq!(contents(&persister), owned(OLD));
    assert_eq!(fs::read(&dir).unwrap(), b"in the way", "left as found");
    fs::remove_file(&dir).unwrap();
    fs::create_dir(&dir).unwrap();
    assert_next_save_succeeds(&persister);
}

/// A directory at the temp path makes saves fail without touching `state`, and is left
/// alone (a save never deletes a directory); removing it lets saves work again.
#[test]
fn directory_at_the_temp_path() {
    let dir = tempfile::tempdir().unwrap();
    let persister = FilePersister::open(dir.path()).unwrap();
    persister.save(OLD.0, OLD.1).unwrap();
    let temp = dir.path().join(TEMP_FILE);
    fs::create_dir(&temp).unwrap();
    assert_io_error(persister.save(NEW.0, NEW.1));
    assert_eq!(contents(&persister), owned(OLD));
    assert_eq!(
        contents(&FilePersister::open(dir.path()).unwrap()),
        owned(OLD)
    );
    assert!(temp.is_dir());
    fs::remove_dir(&temp).unwrap();
    assert_next_save_succeeds(&persister);
}

fn recording(steps: &mut Vec<(Step, PathBuf)>) -> impl FnMut(Step, &Path) -> io::Result<()> + '_ {
    move |step, path| {
        steps.push((step, path.to_path_buf()));
        Ok(())
    }
}

/// The temp file is synced before the rename and the directory after it: without the
/// first a power loss could publish an empty `state`, without the second lose the rename.
#[test]
fn save_runs_its_steps_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let persister = FilePersister::open(dir.path()).unwrap();
    let mut steps = Vec::new();
    persister
        .save_with(NEW.0, NEW.1, &mut recording(&mut steps))
        .unwrap();
    let (temp, state) = (dir.path().join(TEMP_FILE), dir.path().join(STATE_FILE));
    let expected = vec![
        (Step::CreateTemp, temp.clone()),
        (Step::WriteTemp, temp.clone()),
        (Step::SyncTemp, temp),
        (Step::Rename, state),
        (Step::SyncDir, dir.path().to_path_buf()),
    ];
    assert_eq!(steps, expected);
}

/// Opening a directory that does not exist yet creates each missing level and syncs its
/// parent, so the directory holding `state` survives a power loss; an existing directory
/// is opened without any step.
#[test]
fn open_creates_missing_directories_durably() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("a/b"));
    let mut steps = Vec::new();
    FilePersister::open_with(&b, &mut recording(&mut steps)).unwrap();
    let expected = vec![
        (Step::CreateDir, a.clone()),
        (Step::SyncDir, root.path().to_path_buf()),
        (Step::CreateDir, b.clone()),
        (Step::SyncDir, a),
    ];
    assert_eq!(steps, expected);
    assert!(b.is_dir());
    steps.clear();
    FilePersister::open_with(&b, &mut recording(&mut steps)).unwrap();
    assert!(steps.is_empty(), "{steps:?}");
}

//! The format and the directory rules: round trips, a torn tail cut at open, damage in the
//! middle refused, segments deleted once a snapshot covers them, the lock, create vs open.

use std::sync::Arc;

use super::super::format;
use super::*;
use crate::core::{HardState, LogChange, SnapshotChange};

fn entry(term: u64, byte: u8, len: usize) -> Entry {
    Entry {
        term,
        command: vec![byte; len].into(),
    }
}

fn append(after: u64, entries: Vec<Entry>) -> Persist {
    Persist {
        log: Some(LogChange { after, entries }),
        ..Persist::default()
    }
}

fn hard(term: u64, vote: Option<usize>) -> Persist {
    Persist {
        hard_state: Some(HardState {
            current_term: term,
            voted_for: vote,
        }),
        ..Persist::default()
    }
}

fn snapshot(index: u64, term: u64, data: &[u8], kept: Vec<Entry>) -> Persist {
    Persist {
        snapshot: Some(SnapshotChange {
            index,
            term,
            data: Arc::new(data.to_vec()),
        }),
        log: Some(LogChange {
            after: index,
            entries: kept,
        }),
        ..Persist::default()
    }
}

/// Applies `deltas` to a default state, as `MemoryStorage` would.
fn expected(deltas: &[Persist]) -> Recovered {
    let mut recovered = Recovered::default();
    for delta in deltas {
        delta
            .apply_to(&mut recovered.state, &mut recovered.snapshot)
            .unwrap();
    }
    recovered
}

fn small_segments() -> DiskOptions {
    DiskOptions {
        segment_bytes: 256,
        preallocate: true,
    }
}

/// Preallocated 64 KiB segments: the default's 64 MiB of zeros would only slow the tests.
fn options() -> DiskOptions {
    DiskOptions {
        segment_bytes: 64 << 10,
        preallocate: true,
    }
}

/// Segments that grow by appends (the format 1 layout).
fn appending() -> DiskOptions {
    DiskOptions {
        segment_bytes: 64 << 10,
        preallocate: false,
    }
}

/// Where the records of a segment's bytes end.
fn records_end(bytes: &[u8]) -> usize {
    let mut offset = 0;
    while let Ok((_, end)) = format::read_record(bytes, offset) {
        offset = end;
    }
    offset
}

fn segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| format::parse_segment_name(name).is_some())
        .collect();
    names.sort();
    names
}

fn some_deltas() -> Vec<Persist> {
    vec![
        hard(1, Some(0)),
        append(0, vec![entry(1, 1, 10), entry(1, 2, 0)]),
        hard(2, None),
        append(1, vec![entry(2, 3, 5)]),
        append(2, vec![entry(2, 4, 7), entry(2, 5, 1)]),
        hard(2, Some(1)),
    ]
}

/// Everything synced reads back exactly, through several segments, and a truncation
/// record replays as one.
#[test]
fn round_trip_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let mut deltas = some_deltas();
    for i in 0..20u8 {
        deltas.push(append(4 + u64::from(i), vec![entry(2, i, 40)]));
    }
    let mut storage = DiskStorage::create(&path, small_segments()).unwrap();
    for (i, delta) in deltas.iter().enumerate() {
        storage.write(delta).unwrap();
        if i % 3 == 0 {
            storage.sync().unwrap();
        }
    }
    storage.sync().unwrap();
    drop(storage);
    assert!(segment_files(&path).len() > 2, "rolled over");
    let reopened = DiskStorage::open(&path, small_segments()).unwrap();
    assert_eq!(reopened.recovered(), expected(&deltas));
}

/// The record format is postcard in a checksummed frame: pinned, so a change is a
/// deliberate format change (docs/storage.md).
#[test]
fn record_bytes_are_pinned() {
    let entries = [entry(2, 9, 2)];
    let record = RecordRef::Delta {
        hard: Some(Hard {
            term: 2,
            vote: Some(1),
        }),
        reset: None,
        tail: Some(TailRef {
            after: 3,
            entries: &entries,
        }),
    };
    let bytes = format::frame(&record).unwrap();
    // Variant 1 (Delta), Some(term 2, Some(1)), None, Some(after 3, 1 entry (2, [9, 9])).
    assert_eq!(&bytes[12..], &[1, 1, 2, 1, 1, 0, 1, 3, 1, 2, 2, 9, 9]);
    assert_eq!(&bytes[..4], &13u32.to_le_bytes());
    let (read, end) = format::read_record(&bytes, 0).unwrap();
    assert_eq!(end, bytes.len());
    assert!(matches!(read, Record::Delta { tail: Some(ref t), .. } if t.after == 3));
}

/// A record cut anywhere at the end of the last segment is a torn write: open zeroes it
/// and recovers the deltas before it; the next writes go after the last whole record. With
/// preallocation the torn bytes sit inside the segment's zeros (the file keeps its size);
/// without, they end the file.
#[test]
fn torn_tail_is_cut() {
    for options in [options(), appending()] {
        let deltas = some_deltas();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let mut storage = DiskStorage::create(&path, options.clone()).unwrap();
        for delta in &deltas[..5] {
            storage.write(delta).unwrap();
        }
        storage.sync().unwrap();
        let synced_len = storage.active_len as usize;
        storage.write(&deltas[5]).unwrap();
        storage.sync().unwrap();
        let full_len = storage.active_len as usize;
        drop(storage);
        let segment = path.join(format::segment_name(0));
        let full = std::fs::read(&segment).unwrap();
        assert_eq!(
            full.len(),
            match options.preallocate {
                true => options.segment_bytes as usize,
                false => full_len,
            },
            "{options:?}: the syncs did not change a preallocated file's size"
        );
        for len in synced_len..full_len {
            // The bytes after `len` never reached the disk: zeros, or the file's end.
            let mut torn = full[..len].to_vec();
            torn.resize(full.len().max(len), 0);
            if !options.preallocate {
                torn.truncate(len);
            }
            std::fs::write(&segment, &torn).unwrap();
            let mut reopened = DiskStorage::open(&path, options.clone()).unwrap();
            if torn.get(..full_len) == Some(&full[..full_len]) {
                // The record's missing bytes were zeros: what is there is the whole record.
                assert_eq!(reopened.recovered(), expected(&deltas), "cut at {len}");
                continue;
            }
            assert_eq!(reopened.recovered(), expected(&deltas[..5]), "cut at {len}");
            let after = std::fs::read(&segment).unwrap();
            assert_eq!(after.len(), torn.len(), "zeroed in place, not truncated");
            assert_eq!(&after[..synced_len], &full[..synced_len]);
            assert!(
                after[synced_len..].iter().all(|&b| b == 0),
                "cut at {len}: the torn bytes are gone"
            );
            reopened.write(&deltas[5]).unwrap();
            reopened.sync().unwrap();
            drop(reopened);
            let again = DiskStorage::open(&path, options.clone()).unwrap();
            assert_eq!(again.recovered(), expected(&deltas));
        }
    }
}

/// Zeros after the last record (a preallocated segment's unused part, or a file extended
/// but never written) are the end of the records, in either layout.
#[test]
fn zeroed_tail_is_the_end() {
    for options in [options(), appending()] {
        let deltas = some_deltas();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let mut storage = DiskStorage::create(&path, options.clone()).unwrap();
        for delta in &deltas {
            storage.write(delta).unwrap();
        }
        storage.sync().unwrap();
        drop(storage);
        let segment = path.join(format::segment_name(0));
        let mut bytes = std::fs::read(&segment).unwrap();
        bytes.extend_from_slice(&[0; 4096]);
        std::fs::write(&segment, &bytes).unwrap();
        let reopened = DiskStorage::open(&path, options.clone()).unwrap();
        assert_eq!(reopened.recovered(), expected(&deltas));
        drop(reopened);
        assert!(
            std::fs::read(&segment).unwrap() == bytes,
            "nothing to repair"
        );
    }
}

/// A damaged record with valid records after it is refused (cutting there would drop
/// acknowledged deltas), and the files are left as they were.
#[test]
fn damage_before_valid_records_is_refused() {
    let deltas = some_deltas();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let mut storage = DiskStorage::create(&path, options()).unwrap();
    for delta in &deltas {
        storage.write(delta).unwrap();
        storage.sync().unwrap();
    }
    drop(storage);
    let segment = path.join(format::segment_name(0));
    let good = std::fs::read(&segment).unwrap();
    // Offsets of every record after the base.
    let mut starts = Vec::new();
    let mut offset = 0;
    while offset < records_end(&good) {
        starts.push(offset);
        offset = format::read_record(&good, offset).unwrap().1;
    }
    for &start in &starts[1..starts.len() - 1] {
        for flip in [start, start + 5, start + 12] {
            let mut bad = good.clone();
            bad[flip] ^= 0x40;
            std::fs::write(&segment, &bad).unwrap();
            match DiskStorage::open(&path, options()) {
                Err(StorageError::Corrupt {
                    offset,
                    reason: Corruption::ValidAfterDamage { .. },
                    ..
                }) => assert_eq!(offset, start as u64),
                other => panic!("flip at {flip}: {other:?}"),
            }
            assert_eq!(std::fs::read(&segment).unwrap(), bad, "left untouched");
        }
    }
}

/// A snapshot writes its file, deletes the segments it covers, and reads back; the kept
/// entries are not rewritten.
#[test]
fn snapshot_deletes_covered_segments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let mut storage = DiskStorage::create(&path, small_segments()).unwrap();
    let mut deltas = vec![hard(1, Some(0))];
    for i in 0..30u8 {
        deltas.push(append(u64::from(i), vec![entry(1, i, 50)]));
    }
    for delta in &deltas {
        storage.write(delta).unwrap();
        storage.sync().unwrap();
    }
    let before = segment_files(&path);
    assert!(before.len() > 5, "{before:?}");
    let state = expected(&deltas).state;
    let kept: Vec<Entry> = state.entries[28..].to_vec();
    let compact = snapshot(28, 1, b"service state at 28", kept);
    let len_before = storage.active_len;
    storage.write(&compact).unwrap();
    storage.sync().unwrap();
    deltas.push(compact);
    assert!(
        storage.active_len - len_before < 80,
        "the two kept entries of 50 bytes were not rewritten"
    );
    let after = segment_files(&path);
    assert!(after.len() <= 2, "covered segments deleted: {after:?}");
    assert!(path.join(format::snapshot_name(1)).exists());
    drop(storage);
    let reopened = DiskStorage::open(&path, small_segments()).unwrap();
    assert_eq!(reopened.recovered(), expected(&deltas));
    assert_eq!(
        reopened.recovered().snapshot.as_slice(),
        b"service state at 28"
    );
}

/// A second snapshot replaces the first one's file; an installed snapshot past the log's
/// end, with a conflicting log, clears it.
#[test]
fn snapshots_replace_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let mut storage = DiskStorage::create(&path, small_segments()).unwrap();
    let mut deltas = some_deltas();
    deltas.push(snapshot(
        2,
        2,
        b"first",
        vec![entry(2, 4, 7), entry(2, 5, 1)],
    ));
    deltas.push(hard(5, None));
    deltas.push(snapshot(9, 4, b"installed", vec![]));
    deltas.push(append(9, vec![entry(5, 7, 3)]));
    for delta in &deltas {
        storage.write(delta).unwrap();
        storage.sync().unwrap();
    }
    assert!(
        !path.join(format::snapshot_name(1)).exists(),
        "stale file gone"
    );
    drop(storage);
    let reopened = DiskStorage::open(&path, small_segments()).unwrap();
    assert_eq!(reopened.recovered(), expected(&deltas));
}

/// A snapshot behind the stored one (the core never sends one; `apply_to` accepts it) reads
/// back as `apply_to` defines it: the log is exactly the re-supplied entries.
#[test]
fn snapshot_behind_the_stored_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = DiskStorage::create(dir.path(), options()).unwrap();
    let mut deltas = some_deltas();
    deltas.push(snapshot(3, 2, b"at 3", vec![entry(2, 5, 1)]));
    deltas.push(snapshot(1, 1, b"at 1", vec![entry(2, 8, 2)]));
    for delta in &deltas {
        storage.write(delta).unwrap();
    }
    storage.sync().unwrap();
    drop(storage);
    let reopened = DiskStorage::open(dir.path(), options()).unwrap();
    assert_eq!(reopened.recovered(), expected(&deltas));
}

/// A delta that does not fit the stored log, or would make a state that does not read
/// back, is refused and changes nothing.
#[test]
fn misfit_deltas_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = DiskStorage::create(dir.path(), options()).unwrap();
    storage.write(&hard(2, None)).unwrap();
    storage.write(&append(0, vec![entry(2, 1, 1)])).unwrap();
    assert!(matches!(
        storage.write(&append(3, vec![entry(2, 1, 1)])),
        Err(StorageError::State(StateError::LogChangeMisfit {
            after: 3,
            ..
        }))
    ));
    assert!(matches!(
        storage.write(&append(1, vec![entry(3, 1, 1)])),
        Err(StorageError::State(StateError::TermAfterCurrent { .. }))
    ));
    assert!(matches!(
        storage.write(&append(1, vec![entry(1, 1, 1)])),
        Err(StorageError::State(StateError::TermsDecrease { .. }))
    ));
    storage.sync().unwrap();
    drop(storage);
    let reopened = DiskStorage::open(dir.path(), options()).unwrap();
    assert_eq!(
        reopened.recovered(),
        expected(&[hard(2, None), append(0, vec![entry(2, 1, 1)])])
    );
}

/// The lock: a second opener in this process is refused while the first lives, and gets
/// the storage once it is dropped.
#[test]
fn second_opener_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = DiskStorage::create(dir.path(), options()).unwrap();
    assert!(matches!(
        DiskStorage::open(dir.path(), options()),
        Err(StorageError::Locked { .. })
    ));
    assert!(matches!(
        DiskStorage::create(dir.path(), options()),
        Err(StorageError::Locked { .. })
    ));
    drop(first);
    DiskStorage::open(dir.path(), options()).unwrap();
}

/// `create` refuses an existing storage or foreign files; `open` refuses a missing
/// directory, an empty one, a dangling symlink, and a damaged marker.
#[test]
fn create_and_open_are_distinct() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("s");
    assert!(matches!(
        DiskStorage::open(&path, options()),
        Err(StorageError::Missing { .. })
    ));
    std::fs::create_dir(&path).unwrap();
    assert!(matches!(
        DiskStorage::open(&path, options()),
        Err(StorageError::NotAStorage { .. })
    ));
    drop(DiskStorage::create(&path, options()).unwrap());
    assert!(matches!(
        DiskStorage::create(&path, options()),
        Err(StorageError::AlreadyExists { .. })
    ));
    std::fs::write(path.join(MARKER_FILE), b"something else").unwrap();
    assert!(matches!(
        DiskStorage::open(&path, options()),
        Err(StorageError::Corrupt {
            reason: Corruption::BadMarker,
            ..
        })
    ));
    let foreign = root.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("data.db"), b"x").unwrap();
    assert!(matches!(
        DiskStorage::create(&foreign, options()),
        Err(StorageError::NotEmpty { ref name, .. }) if name == "data.db"
    ));
    #[cfg(unix)]
    {
        let link = root.path().join("link");
        std::os::unix::fs::symlink(root.path().join("gone"), &link).unwrap();
        assert!(matches!(
            DiskStorage::open(&link, options()),
            Err(StorageError::Missing { .. })
        ));
    }
}

/// A lost segment whose entries the snapshot does not cover is an error, not a shorter
/// log.
#[test]
fn missing_first_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = DiskStorage::create(dir.path(), small_segments()).unwrap();
    storage.write(&hard(1, None)).unwrap();
    for i in 0..10u8 {
        storage
            .write(&append(u64::from(i), vec![entry(1, i, 60)]))
            .unwrap();
        storage.sync().unwrap();
    }
    drop(storage);
    std::fs::remove_file(dir.path().join(format::segment_name(0))).unwrap();
    assert!(matches!(
        DiskStorage::open(dir.path(), small_segments()),
        Err(StorageError::Corrupt {
            reason: Corruption::MissingEntries { from: 1, .. },
            ..
        })
    ));
}

/// A damaged or missing snapshot file is an error.
#[test]
fn damaged_snapshot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = DiskStorage::create(dir.path(), options()).unwrap();
    for delta in some_deltas() {
        storage.write(&delta).unwrap();
    }
    storage
        .write(&snapshot(
            3,
            2,
            b"data",
            vec![entry(2, 4, 7), entry(2, 5, 1)],
        ))
        .unwrap();
    storage.sync().unwrap();
    drop(storage);
    let file = dir.path().join(format::snapshot_name(1));
    let good = std::fs::read(&file).unwrap();
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 1;
    std::fs::write(&file, &bad).unwrap();
    assert!(matches!(
        DiskStorage::open(dir.path(), options()),
        Err(StorageError::Corrupt {
            reason: Corruption::SnapshotDamaged(_),
            ..
        })
    ));
    std::fs::remove_file(&file).unwrap();
    assert!(matches!(
        DiskStorage::open(dir.path(), options()),
        Err(StorageError::Corrupt {
            reason: Corruption::SnapshotMissing { generation: 1 },
            ..
        })
    ));
    std::fs::write(&file, &good).unwrap();
    DiskStorage::open(dir.path(), options()).unwrap();
}

/// A well-formed record with impossible values (it would take a writer that bypasses the
/// checks, or damage that keeps the checksums) is refused, not replayed into an overflow.
#[test]
fn impossible_record_values_are_refused() {
    for after in [u64::MAX, MAX_INDEX_OR_TERM, 5] {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = DiskStorage::create(dir.path(), options()).unwrap();
        storage.write(&hard(1, None)).unwrap();
        storage.sync().unwrap();
        drop(storage);
        let record = format::frame(&RecordRef::Delta {
            hard: None,
            reset: None,
            tail: Some(TailRef {
                after,
                entries: &[],
            }),
        })
        .unwrap();
        let segment = dir.path().join(format::segment_name(0));
        let mut bytes = std::fs::read(&segment).unwrap();
        let end = records_end(&bytes);
        bytes[end..end + record.len()].copy_from_slice(&record);
        std::fs::write(&segment, &bytes).unwrap();
        let result = DiskStorage::open(dir.path(), options());
        assert!(
            matches!(
                result,
                Err(StorageError::Corrupt {
                    reason: Corruption::OutOfRange { .. } | Corruption::Misfit { .. },
                    ..
                })
            ),
            "after {after}: {result:?}"
        );
    }
}

/// After a failed sync the storage refuses everything (the file's content is unknown)
/// until it is reopened.
#[test]
fn failed_sync_poisons_until_reopen() {
    let fs = SimFs::default();
    let dir = Path::new("/sim");
    let mut storage = DiskStorage::create_in(Arc::new(fs.clone()), dir, options()).unwrap();
    storage.write(&hard(1, None)).unwrap();
    fs.crash_after(1); // The write of the record succeeds, its fsync fails.
    assert!(matches!(storage.sync(), Err(StorageError::Io { .. })));
    assert!(matches!(
        storage.write(&hard(2, None)),
        Err(StorageError::Failed)
    ));
    assert!(matches!(storage.sync(), Err(StorageError::Failed)));
}

use super::super::sim_fs::SimFs;

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// Preallocated segments have their full size from the start and keep it while the
/// records fit: every such sync wrote inside the file. (The sync that fills a segment may
/// go past its end, a soft limit: one sync's records go to one segment; then it rolls
/// over.) The rollover renames the filled file into place.
#[test]
fn preallocated_syncs_overwrite_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let options = DiskOptions {
        segment_bytes: 16 << 10,
        preallocate: true,
    };
    let mut storage = DiskStorage::create(dir.path(), options.clone()).unwrap();
    let first = dir.path().join(format::segment_name(0));
    assert_eq!(
        file_len(&first),
        16 << 10,
        "full size before the first record"
    );
    let mut deltas = vec![hard(1, None)];
    for i in 0..200u8 {
        deltas.push(append(u64::from(i), vec![entry(1, i, 200)]));
    }
    for delta in &deltas {
        storage.write(delta).unwrap();
        storage.sync().unwrap();
        let active = storage.active_path();
        assert_eq!(file_len(&active), 16 << 10, "a sync grew {active:?}");
    }
    drop(storage);
    let segments = segment_files(dir.path());
    assert!(segments.len() >= 3, "rolled over: {segments:?}");
    for name in &segments {
        // At most one record of about 220 bytes past the end.
        let len = file_len(&dir.path().join(name));
        assert!((16 << 10..(16 << 10) + 256).contains(&len), "{name}: {len}");
    }
    let reopened = DiskStorage::open(dir.path(), options).unwrap();
    assert_eq!(reopened.recovered(), expected(&deltas));
}

/// Reopening a store whose last segment is mostly zeros (the default 64 MiB, a few
/// records): the records end at the zeros, nothing is repaired, and the writes go on
/// after the last record inside the same file.
#[test]
fn reopen_mostly_zero_segment() {
    let dir = tempfile::tempdir().unwrap();
    let deltas = some_deltas();
    let mut storage = DiskStorage::create(dir.path(), DiskOptions::default()).unwrap();
    for delta in &deltas[..3] {
        storage.write(delta).unwrap();
    }
    storage.sync().unwrap();
    let end = storage.active_len;
    drop(storage);
    let segment = dir.path().join(format::segment_name(0));
    let before = std::fs::read(&segment).unwrap();
    assert_eq!(before.len() as u64, DiskOptions::default().segment_bytes);
    let started = std::time::Instant::now();
    let mut reopened = DiskStorage::open(dir.path(), DiskOptions::default()).unwrap();
    println!("open of a 64 MiB segment: {:?}", started.elapsed());
    assert_eq!(reopened.recovered(), expected(&deltas[..3]));
    assert_eq!(reopened.active_len, end);
    for delta in &deltas[3..] {
        reopened.write(delta).unwrap();
    }
    reopened.sync().unwrap();
    drop(reopened);
    let after = std::fs::read(&segment).unwrap();
    assert_eq!(after.len(), before.len(), "written in place");
    assert_eq!(&after[..end as usize], &before[..end as usize]);
    let again = DiskStorage::open(dir.path(), DiskOptions::default()).unwrap();
    assert_eq!(again.recovered(), expected(&deltas));
}

/// Garbage after the last record of a preallocated segment, followed by its zeros (a
/// torn write of anything), is zeroed at open; the writes go on from the last record.
#[test]
fn torn_garbage_inside_the_zeros_is_zeroed() {
    let dir = tempfile::tempdir().unwrap();
    let deltas = some_deltas();
    let mut storage = DiskStorage::create(dir.path(), options()).unwrap();
    for delta in &deltas[..4] {
        storage.write(delta).unwrap();
    }
    storage.sync().unwrap();
    drop(storage);
    let segment = dir.path().join(format::segment_name(0));
    let good = std::fs::read(&segment).unwrap();
    let end = records_end(&good);
    let mut bad = good.clone();
    for (k, byte) in bad[end + 3..end + 700].iter_mut().enumerate() {
        *byte = (k * 37 % 251) as u8 | 1;
    }
    std::fs::write(&segment, &bad).unwrap();
    let mut reopened = DiskStorage::open(dir.path(), options()).unwrap();
    assert_eq!(reopened.recovered(), expected(&deltas[..4]));
    assert!(
        std::fs::read(&segment).unwrap() == good,
        "the garbage is zeroed"
    );
    for delta in &deltas[4..] {
        reopened.write(delta).unwrap();
    }
    reopened.sync().unwrap();
    drop(reopened);
    let again = DiskStorage::open(dir.path(), options()).unwrap();
    assert_eq!(again.recovered(), expected(&deltas));
}

/// A finished segment ends with its records and zeros only: anything else in its zeros
/// is damage (it was fsynced whole before the next segment was started). Records lost
/// to zeros in a finished segment are caught by the next segment's base.
#[test]
fn garbage_in_a_finished_segments_zeros_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = DiskStorage::create(dir.path(), small_segments()).unwrap();
    storage.write(&hard(1, None)).unwrap();
    for i in 0..6u8 {
        storage
            .write(&append(u64::from(i), vec![entry(1, i, 60)]))
            .unwrap();
        storage.sync().unwrap();
    }
    drop(storage);
    assert!(segment_files(dir.path()).len() >= 2);
    let segment = dir.path().join(format::segment_name(0));
    let good = std::fs::read(&segment).unwrap();
    let mut bytes = good.clone();
    bytes.extend_from_slice(&[0; 100]);
    std::fs::write(&segment, &bytes).unwrap();
    DiskStorage::open(dir.path(), small_segments()).unwrap();
    bytes.push(7);
    std::fs::write(&segment, &bytes).unwrap();
    assert!(matches!(
        DiskStorage::open(dir.path(), small_segments()),
        Err(StorageError::Corrupt {
            reason: Corruption::DamagedRecord(_),
            ..
        })
    ));
    // The last record zeroed: the next segment's base no longer matches.
    let mut bytes = good.clone();
    let last = records_end(&good[..good.len() - 1]);
    let mut offset = 0;
    let mut last_start = 0;
    while offset < last.max(1) {
        last_start = offset;
        offset = format::read_record(&good, offset).unwrap().1;
    }
    bytes[last_start..].fill(0);
    std::fs::write(&segment, &bytes).unwrap();
    assert!(matches!(
        DiskStorage::open(dir.path(), small_segments()),
        Err(StorageError::Corrupt {
            reason: Corruption::BaseMismatch,
            ..
        })
    ));
}

/// A next segment whose filling was cut short (a crash, or a drop that stopped its
/// thread) is removed at open; the next rollover fills a new one.
#[test]
fn unfinished_preparation_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = DiskStorage::create(dir.path(), small_segments()).unwrap();
    let mut deltas = vec![hard(1, None)];
    storage.write(&deltas[0]).unwrap();
    storage.sync().unwrap();
    drop(storage);
    let prepared = dir.path().join(PREPARED_FILE);
    std::fs::write(&prepared, [0; 100]).unwrap();
    let mut reopened = DiskStorage::open(dir.path(), small_segments()).unwrap();
    assert!(
        !prepared.exists() || file_len(&prepared) == 256,
        "removed, or refilled"
    );
    for i in 0..6u8 {
        deltas.push(append(u64::from(i), vec![entry(1, i, 60)]));
        reopened.write(deltas.last().unwrap()).unwrap();
        reopened.sync().unwrap();
    }
    drop(reopened);
    let segments = segment_files(dir.path());
    assert!(segments.len() >= 2, "{segments:?}");
    assert!(file_len(&dir.path().join(&segments[1])) >= 256);
    let again = DiskStorage::open(dir.path(), small_segments()).unwrap();
    assert_eq!(again.recovered(), expected(&deltas));
}

/// A rollover that renamed the filled file into place but crashed before its base was
/// durable leaves a last segment of zeros, or a torn base and zeros: it is removed.
#[test]
fn last_segment_without_a_base_is_removed() {
    let base_len = format::frame(&RecordRef::Base(Base {
        segment: 1,
        hard: Hard::default(),
        snapshot: SnapshotRef::default(),
        last_index: 4,
    }))
    .unwrap()
    .len();
    for torn_base in [0, base_len / 2, base_len - 1] {
        let dir = tempfile::tempdir().unwrap();
        let deltas = some_deltas();
        let mut storage = DiskStorage::create(dir.path(), options()).unwrap();
        for delta in &deltas {
            storage.write(delta).unwrap();
        }
        storage.sync().unwrap();
        drop(storage);
        let base = format::frame(&RecordRef::Base(Base {
            segment: 1,
            hard: Hard::default(),
            snapshot: SnapshotRef::default(),
            last_index: 4,
        }))
        .unwrap();
        let mut next = vec![0; 64 << 10];
        next[..torn_base].copy_from_slice(&base[..torn_base]);
        let segment = dir.path().join(format::segment_name(1));
        std::fs::write(&segment, &next).unwrap();
        let mut reopened = DiskStorage::open(dir.path(), options()).unwrap();
        assert_eq!(reopened.recovered(), expected(&deltas));
        assert!(!segment.exists(), "torn base {torn_base}: removed");
        reopened.write(&hard(3, None)).unwrap();
        reopened.sync().unwrap();
    }
}

/// A store written in format 1 (segments that end at their last record, the old marker)
/// opens, and its marker is upgraded before any zero tail is written; new segments are
/// preallocated.
#[test]
fn format_1_store_is_read_and_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let old = DiskOptions {
        segment_bytes: 256,
        preallocate: false,
    };
    let mut storage = DiskStorage::create(dir.path(), old.clone()).unwrap();
    let mut deltas = vec![hard(1, None)];
    for i in 0..8u8 {
        deltas.push(append(u64::from(i), vec![entry(1, i, 60)]));
    }
    for delta in &deltas {
        storage.write(delta).unwrap();
        storage.sync().unwrap();
    }
    drop(storage);
    let marker = dir.path().join(MARKER_FILE);
    std::fs::write(&marker, format::MARKER_V1).unwrap();
    let before = segment_files(dir.path());
    assert!(before.len() >= 2);
    for name in &before {
        let bytes = std::fs::read(dir.path().join(name)).unwrap();
        assert_eq!(records_end(&bytes), bytes.len(), "format 1 layout: {name}");
    }
    let mut reopened = DiskStorage::open(dir.path(), small_segments()).unwrap();
    assert_eq!(reopened.recovered(), expected(&deltas));
    assert_eq!(std::fs::read(&marker).unwrap(), MARKER);
    for i in 8..16u8 {
        deltas.push(append(u64::from(i), vec![entry(1, i, 60)]));
        reopened.write(deltas.last().unwrap()).unwrap();
        reopened.sync().unwrap();
    }
    drop(reopened);
    let last = segment_files(dir.path()).pop().unwrap();
    assert!(
        file_len(&dir.path().join(&last)) >= 256,
        "new segments preallocated"
    );
    let again = DiskStorage::open(dir.path(), small_segments()).unwrap();
    assert_eq!(again.recovered(), expected(&deltas));
}

/// Dropping the storage while its thread fills the next segment stops and joins the
/// thread; the half-filled file is removed at the next open.
#[test]
fn drop_while_filling_the_next_segment() {
    let dir = tempfile::tempdir().unwrap();
    let options = DiskOptions {
        segment_bytes: 32 << 20,
        preallocate: true,
    };
    let mut storage = DiskStorage::create(dir.path(), options.clone()).unwrap();
    let deltas = vec![hard(1, None), append(0, vec![entry(1, 3, 17 << 20)])];
    for delta in &deltas {
        storage.write(delta).unwrap();
    }
    storage.sync().unwrap();
    assert!(
        matches!(storage.next, Next::Running { .. }),
        "past half: filling"
    );
    drop(storage);
    let reopened = DiskStorage::open(dir.path(), options).unwrap();
    assert_eq!(reopened.recovered(), expected(&deltas));
}

/// A header of zeros never checks (so a zero tail is never a record), and the search for
/// a valid record skips runs of zeros without missing a record after them.
#[test]
fn zeros_are_never_a_record() {
    assert!(matches!(
        format::read_record(&[0; 64], 0),
        Err(format::RecordDamage::HeaderChecksum)
    ));
    let record = format::frame(&RecordRef::Delta {
        hard: Some(Hard {
            term: 1,
            vote: None,
        }),
        reset: None,
        tail: None,
    })
    .unwrap();
    for gap in [0, 1, 11, 12, 13, 1000] {
        let mut bytes = vec![0xff; 5];
        bytes.extend(std::iter::repeat_n(0, gap));
        let at = bytes.len();
        bytes.extend_from_slice(&record);
        bytes.extend_from_slice(&[0; 40]);
        assert_eq!(format::valid_record_after(&bytes, 0), Some(at), "gap {gap}");
        assert_eq!(format::valid_record_after(&bytes, at), None, "gap {gap}");
    }
}

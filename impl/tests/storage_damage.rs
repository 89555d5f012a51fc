//! Random damage to a storage directory's files never makes `open` panic, and never makes it
//! recover a state that was not written: either an error, or the state after some prefix of
//! the deltas (damage in the last record is indistinguishable from a torn write, so it may
//! cost that record; see docs/storage.md, "What recovery cannot tell").

use std::path::Path;
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use raft_impl::core::{Entry, HardState, LogChange, Persist, SnapshotChange};
use raft_impl::storage::{DiskOptions, DiskStorage, Recovered, Storage};

fn entry(term: u64, byte: u8, len: usize) -> Entry {
    Entry {
        term,
        command: vec![byte; len].into(),
    }
}

/// A history with appends, a truncation, term changes and a snapshot, over a few segments.
fn deltas() -> Vec<Persist> {
    let mut deltas = vec![Persist {
        hard_state: Some(HardState {
            current_term: 1,
            voted_for: Some(0),
        }),
        ..Persist::default()
    }];
    for i in 0..12u8 {
        deltas.push(Persist {
            log: Some(LogChange {
                after: u64::from(i),
                entries: vec![entry(1, i, 20 + usize::from(i) * 7)],
            }),
            ..Persist::default()
        });
    }
    deltas.push(Persist {
        hard_state: Some(HardState {
            current_term: 2,
            voted_for: None,
        }),
        log: Some(LogChange {
            after: 9,
            entries: vec![entry(2, 99, 30)],
        }),
        ..Persist::default()
    });
    // The core re-supplies the entries after the snapshot point (indexes 8..=10).
    let before = states(&deltas).pop().unwrap().state;
    let kept = before.entries[7..].to_vec();
    assert_eq!(kept.len(), 3);
    deltas.push(Persist {
        snapshot: Some(SnapshotChange {
            index: 7,
            term: 1,
            data: Arc::new(b"service state at 7".to_vec()),
        }),
        log: Some(LogChange {
            after: 7,
            entries: kept,
        }),
        ..Persist::default()
    });
    for i in 0..4u8 {
        deltas.push(Persist {
            log: Some(LogChange {
                after: 10 + u64::from(i),
                entries: vec![entry(2, i, 40)],
            }),
            ..Persist::default()
        });
    }
    deltas
}

fn states(deltas: &[Persist]) -> Vec<Recovered> {
    let mut state = Recovered::default();
    let mut states = vec![state.clone()];
    for delta in deltas {
        delta
            .apply_to(&mut state.state, &mut state.snapshot)
            .unwrap();
        states.push(state.clone());
    }
    states
}

fn options() -> DiskOptions {
    // Preallocated: damage lands in records and in the zero tails alike.
    DiskOptions {
        segment_bytes: 200,
        preallocate: true,
    }
}

fn write_storage(dir: &Path, deltas: &[Persist]) {
    let mut storage = DiskStorage::create(dir, options()).unwrap();
    for delta in deltas {
        storage.write(delta).unwrap();
        storage.sync().unwrap();
    }
}

/// The undamaged storage, written once (each case copies it: its syncs would cost more
/// than the rest of the test).
fn copy_template(to: &Path) {
    static TEMPLATE: OnceLock<tempfile::TempDir> = OnceLock::new();
    let template = TEMPLATE.get_or_init(|| {
        let root = tempfile::tempdir().unwrap();
        write_storage(&root.path().join("peer"), &deltas());
        root
    });
    std::fs::create_dir(to).unwrap();
    for file in files(&template.path().join("peer")) {
        std::fs::copy(&file, to.join(file.file_name().unwrap())).unwrap();
    }
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "LOCK")
        .collect();
    files.sort();
    files
}

#[derive(Debug, Clone)]
enum Damage {
    /// XOR a byte.
    Flip { file: usize, at: usize, xor: u8 },
    /// Cut the file.
    Truncate { file: usize, at: usize },
    /// Overwrite a run with zeros.
    Zero { file: usize, at: usize, len: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), any::<usize>(), 1u8..).prop_map(|(file, at, xor)| Damage::Flip {
            file,
            at,
            xor
        }),
        (any::<usize>(), any::<usize>()).prop_map(|(file, at)| Damage::Truncate { file, at }),
        (any::<usize>(), any::<usize>(), 1usize..64).prop_map(|(file, at, len)| Damage::Zero {
            file,
            at,
            len
        }),
    ]
}

fn apply(dir: &Path, damage: &Damage) {
    let files = files(dir);
    let pick = |file: usize| &files[file % files.len()];
    let (path, mut bytes) = match damage {
        Damage::Flip { file, .. } | Damage::Truncate { file, .. } | Damage::Zero { file, .. } => {
            let path = pick(*file);
            (path, std::fs::read(path).unwrap())
        }
    };
    if bytes.is_empty() {
        return;
    }
    match *damage {
        Damage::Flip { at, xor, .. } => {
            let at = at % bytes.len();
            bytes[at] ^= xor;
        }
        Damage::Truncate { at, .. } => bytes.truncate(at % bytes.len()),
        Damage::Zero { at, len, .. } => {
            let at = at % bytes.len();
            let end = (at + len).min(bytes.len());
            bytes[at..end].fill(0);
        }
    }
    std::fs::write(path, bytes).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any damage: no panic, and an `Ok` open recovers the state after some prefix of the
    /// deltas, never a state that was not written.
    #[test]
    fn damage_never_panics_or_invents_a_state(damages in prop::collection::vec(damage(), 1..4)) {
        let deltas = deltas();
        let states = states(&deltas);
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("peer");
        copy_template(&dir);
        for damage in &damages {
            apply(&dir, damage);
        }
        if let Ok(storage) = DiskStorage::open(&dir, options()) {
            let recovered = storage.recovered();
            prop_assert!(
                states.contains(&recovered),
                "recovered a state that was never written: {recovered:?}"
            );
            // Whatever was recovered is a working storage: it reopens to the same state.
            drop(storage);
            let again = DiskStorage::open(&dir, options()).unwrap();
            prop_assert_eq!(again.recovered(), recovered);
        }
    }
}

/// The undamaged history reads back whole (the property above is not vacuous: without
/// damage it recovers the final state), and it spans several segments and a snapshot.
#[test]
fn undamaged_history_reads_back() {
    let deltas = deltas();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("peer");
    write_storage(&dir, &deltas);
    let names: Vec<_> = files(&dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().filter(|n| n.starts_with("segment-")).count() >= 2,
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("snapshot-")),
        "{names:?}"
    );
    let storage = DiskStorage::open(&dir, options()).unwrap();
    assert_eq!(&storage.recovered(), states(&deltas).last().unwrap());
}

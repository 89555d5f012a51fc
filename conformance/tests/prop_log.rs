//! Property tests of the log's index arithmetic around a compacted prefix
//! (`raft_impl::core::log`, Figure 2 `log[]` with §7's snapshot).
//!
//! The real `Log` keeps only the entries after its snapshot and translates indices to
//! offsets. The reference here keeps *every* entry in a plain `Vec` (indices never move) and
//! a compaction point; compacted entries are simply hidden. Arbitrary sequences of append,
//! truncate and compact are applied to both, and after every operation every query (term_at,
//! entry, slice, last index/term, the conflict-hint lookups) must agree at every index
//! around the snapshot and the end of the log.
//!
//! Case counts are explicit (`PROPTEST_CASES` overrides them); the run's seed is printed and
//! `PROPTEST_RNG_SEED` replays it; failures are saved under `conformance/proptest-regressions/`.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use raft_impl::core::{Entry, Log};

mod common;

/// Explicit case count and a printed, replayable seed (`PROPTEST_CASES`, `PROPTEST_RNG_SEED`).
fn config(test: &str, default_cases: u32) -> Config {
    common::proptest_config::config(
        test,
        default_cases,
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/prop_log.txt"
        ),
    )
}

const DEFAULT_CASES: u32 = 512;

/// The naive log: `all[k]` is the entry at index `origin + 1 + k`, compacted or not.
/// Indices at or below `origin` were never known (the log was created after a snapshot
/// there); entries at or below `snapshot_index` are compacted and must be invisible.
#[derive(Debug, Clone)]
struct Reference {
    origin: u64,
    all: Vec<Entry>,
    snapshot_index: u64,
    snapshot_term: u64,
}

impl Reference {
    fn new(snapshot_index: u64, snapshot_term: u64, entries: Vec<Entry>) -> Self {
        Reference {
            origin: snapshot_index,
            all: entries,
            snapshot_index,
            snapshot_term,
        }
    }

    fn last_index(&self) -> u64 {
        self.origin + self.all.len() as u64
    }

    /// Visible entry at `index`: after the snapshot, within the log.
    fn entry(&self, index: u64) -> Option<&Entry> {
        if index <= self.snapshot_index || index > self.last_index() {
            return None;
        }
        self.all.get((index - self.origin - 1) as usize)
    }

    fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.entry(index).map(|e| e.term)
    }

    fn last_term(&self) -> u64 {
        self.term_at(self.last_index()).unwrap()
    }

    fn visible(&self) -> Vec<Entry> {
        (self.snapshot_index + 1..=self.last_index())
            .map(|i| self.entry(i).unwrap().clone())
            .collect()
    }

    fn append(&mut self, entry: Entry) {
        self.all.push(entry);
    }

    fn truncate_from(&mut self, from: u64) {
        self.all.truncate((from - self.origin - 1) as usize);
    }

    /// §7: matching entry -> keep the suffix; otherwise the log is the snapshot alone.
    fn compact(&mut self, index: u64, term: u64) {
        if self.term_at(index) != Some(term) {
            // Drop everything after `index`; pad the hidden prefix so indices stay put.
            self.all.truncate((index - self.origin) as usize);
            while self.last_index() < index {
                self.all.push(Entry {
                    term,
                    command: b"hidden".to_vec().into(),
                });
            }
        }
        self.snapshot_index = index;
        self.snapshot_term = term;
    }

    /// Declarative: the smallest `k` after the snapshot such that every index in
    /// `k..index` holds `term`.
    fn first_index_of_term_run(&self, index: u64, term: u64) -> u64 {
        (self.snapshot_index + 1..=index)
            .find(|&k| (k..index).all(|j| self.term_at(j) == Some(term)))
            .unwrap_or(index)
    }

    /// The snapshot's last entry counts as an entry (`docs/protocol.md`).
    fn last_index_of_term(&self, term: u64) -> Option<u64> {
        (self.snapshot_index..=self.last_index())
            .rev()
            .find(|&i| self.term_at(i) == Some(term))
    }

    fn slice(&self, from: u64, max: usize) -> Vec<Entry> {
        (from..=self.last_index())
            .map_while(|i| self.entry(i).cloned())
            .take(max)
            .collect()
    }
}

/// One operation; choices are relative so every generated sequence is legal.
#[derive(Debug, Clone)]
enum Op {
    /// Append an entry whose term is the last term plus `bump`.
    Append { bump: u64, command: u8 },
    /// Truncate from an index in `snapshot_index + 1 ..= last_index + 1`.
    Truncate { pick: u64 },
    /// Compact at an index in `snapshot_index + 1 ..= last_index + 3` (beyond the end is an
    /// InstallSnapshot ahead of the log), with the log's own term there or another one.
    Compact {
        pick: u64,
        matching: bool,
        bump: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..3, any::<u8>()).prop_map(|(bump, command)| Op::Append { bump, command }),
        1 => any::<u64>().prop_map(|pick| Op::Truncate { pick }),
        2 => (any::<u64>(), any::<bool>(), 0u64..3)
            .prop_map(|(pick, matching, bump)| Op::Compact { pick, matching, bump }),
    ]
}

/// A starting log: a snapshot point (small, or far out to exercise offset arithmetic on
/// large indices) and a few entries of non-decreasing terms.
fn initial() -> impl Strategy<Value = (u64, u64, Vec<Entry>)> {
    (
        prop_oneof![3 => 0u64..4, 1 => (1u64 << 40)..(1u64 << 41)],
        0u64..3,
        vec((0u64..2, any::<u8>()), 0..6),
    )
        .prop_map(|(snapshot_index, term, steps)| {
            let snapshot_term = if snapshot_index == 0 { 0 } else { term };
            let mut term = snapshot_term;
            let entries = steps
                .into_iter()
                .map(|(bump, command)| {
                    term += bump;
                    Entry {
                        term,
                        command: vec![command].into(),
                    }
                })
                .collect();
            (snapshot_index, snapshot_term, entries)
        })
}

fn apply(op: &Op, log: &mut Log, reference: &mut Reference) {
    let (snapshot_index, last_index) = (reference.snapshot_index, reference.last_index());
    match *op {
        Op::Append { bump, command } => {
            let entry = Entry {
                term: reference.last_term() + bump,
                command: vec![command].into(),
            };
            log.append(entry.clone());
            reference.append(entry);
        }
        Op::Truncate { pick } => {
            let from = snapshot_index + 1 + pick % (last_index - snapshot_index + 1);
            log.truncate_from(from).expect("from is after the snapshot");
            reference.truncate_from(from);
        }
        Op::Compact {
            pick,
            matching,
            bump,
        } => {
            let index = snapshot_index + 1 + pick % (last_index - snapshot_index + 3);
            let term = match reference.term_at(index) {
                Some(term) if matching => term,
                _ => reference.last_term() + bump,
            };
            log.compact(index, term)
                .expect("index is after the snapshot");
            reference.compact(index, term);
        }
    }
}

/// Every query agrees at every index from 0 to past the end, and at `u64::MAX`.
fn check(log: &Log, reference: &Reference) -> Result<(), TestCaseError> {
    let (snapshot_index, last_index) = (reference.snapshot_index, reference.last_index());
    prop_assert_eq!(log.snapshot_index(), snapshot_index);
    prop_assert_eq!(log.snapshot_term(), reference.snapshot_term);
    prop_assert_eq!(log.last_index(), last_index);
    prop_assert_eq!(log.last_term(), reference.last_term());
    prop_assert_eq!(log.entries(), &reference.visible()[..]);
    let low = snapshot_index
        .saturating_sub(2)
        .max(reference.origin.saturating_sub(2));
    let indices = (0..3).chain(low..=last_index + 2).chain([u64::MAX]);
    for index in indices {
        prop_assert_eq!(
            log.term_at(index),
            reference.term_at(index),
            "term_at({})",
            index
        );
        prop_assert_eq!(log.entry(index), reference.entry(index), "entry({})", index);
        for max in [0, 1, 2, usize::MAX] {
            prop_assert_eq!(
                log.slice(index, max),
                reference.slice(index, max),
                "slice({}, {})",
                index,
                max
            );
        }
    }
    for index in snapshot_index + 1..=last_index + 1 {
        for term in [reference.term_at(index), reference.term_at(index - 1)]
            .into_iter()
            .flatten()
        {
            prop_assert_eq!(
                log.first_index_of_term_run(index, term),
                reference.first_index_of_term_run(index, term),
                "first_index_of_term_run({}, {})",
                index,
                term
            );
        }
    }
    for term in 0..=reference.last_term() + 1 {
        prop_assert_eq!(
            log.last_index_of_term(term),
            reference.last_index_of_term(term),
            "last_index_of_term({})",
            term
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config("prop_log", DEFAULT_CASES))]

    /// The real log and the naive reference agree after every operation of any sequence.
    #[test]
    fn log_matches_naive_reference((snapshot_index, snapshot_term, entries) in initial(), ops in vec(op(), 0..40)) {
        let mut log = Log::new(snapshot_index, snapshot_term, entries.clone());
        let mut reference = Reference::new(snapshot_index, snapshot_term, entries);
        check(&log, &reference)?;
        for op in &ops {
            apply(op, &mut log, &mut reference);
            check(&log, &reference)?;
        }
    }

    /// Truncating at or below the snapshot would delete committed entries: it is an error
    /// that leaves the log unchanged, it never silently corrupts the log.
    #[test]
    fn truncate_into_snapshot_is_an_error((snapshot_index, snapshot_term, entries) in initial(), below in 0u64..3) {
        let mut log = Log::new(snapshot_index, snapshot_term, entries);
        let before = log.clone();
        let from = snapshot_index.saturating_sub(below);
        prop_assert!(log.truncate_from(from).is_err(), "truncate_from({}) with snapshot at {} succeeded", from, snapshot_index);
        prop_assert_eq!(log, before);
    }
}

//! Property test: a core fed arbitrary (decodable) messages never panics and never breaks
//! its own invariants.
//!
//! Bytes from the network are untrusted (design: "No panics on bytes from disk/network"),
//! and a message that decodes is still only a claim: a peer may be buggy, or a message may
//! be a stale or corrupted-but-decodable copy. Raft's safety argument assumes honest peers,
//! so cluster-wide properties are out of scope here; what must hold is local: the core does
//! not panic, `check_invariants()` holds after every step, the term, commit and applied
//! indices never regress, applies are contiguous, and what it asks to persist is exactly
//! its persistent state.
//!
//! Case counts are explicit (`PROPTEST_CASES` overrides them); the run's seed is printed and
//! `PROPTEST_RNG_SEED` replays it; failures are saved under `conformance/proptest-regressions/`.

use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use raft_impl::core::{
    Apply, Config as CoreConfig, Core, Entry, Input, Message, Persist, PersistentState, Ready,
};

const SERVERS: usize = 3;

mod common;

/// Explicit case count and a printed, replayable seed (`PROPTEST_CASES`, `PROPTEST_RNG_SEED`).
fn config(test: &str, default_cases: u32) -> Config {
    common::proptest_config::config(
        test,
        default_cases,
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/prop_untrusted.txt"
        ),
    )
}

const DEFAULT_CASES: u32 = 2048;

fn core_config() -> CoreConfig {
    CoreConfig {
        election_timeout_ticks_min: 3,
        election_timeout_ticks_max: 6,
        heartbeat_interval_ticks: 2,
        ..CoreConfig::new(0, SERVERS, 7)
    }
}

/// Small numbers, so that arbitrary messages meet the core's actual terms and indices.
fn small() -> impl Strategy<Value = u64> {
    prop_oneof![8 => 0u64..6, 1 => any::<u64>()]
}

fn entries() -> impl Strategy<Value = Vec<Entry>> {
    vec((0u64..6, any::<u8>()), 0..4).prop_map(|v| {
        v.into_iter()
            .map(|(term, c)| Entry {
                term,
                command: vec![c].into(),
            })
            .collect()
    })
}

/// Any message, with fields small enough to be plausible; the claimed sender is usually,
/// not always, the actual one (`Input::Message::from`).
/// With `shaped`, AppendEntries are shaped as a leader of the message's term would shape
/// them: `prev_log_term` and the entries' terms never decrease and never exceed the
/// message's term. Without it, anything goes.
fn message(from: usize, shaped: bool) -> impl Strategy<Value = Message> {
    common::messages::message(
        small().boxed(),
        prop_oneof![4 => Just(from), 1 => 0usize..4].boxed(),
        entries().boxed(),
        vec(any::<u8>(), 0..4).boxed(),
    )
    .prop_map(move |message| match message {
        Message::AppendEntries {
            term,
            leader,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
        } if shaped => {
            let (prev_log_term, entries) = shape(term, prev_log_term, entries);
            Message::AppendEntries {
                term,
                leader,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            }
        }
        other => other,
    })
}

fn shape(term: u64, prev_log_term: u64, mut entries: Vec<Entry>) -> (u64, Vec<Entry>) {
    let prev_log_term = prev_log_term.min(term);
    let mut last = prev_log_term;
    for entry in &mut entries {
        entry.term = entry.term.clamp(last, term);
        last = entry.term;
    }
    (prev_log_term, entries)
}

fn input(shaped: bool) -> impl Strategy<Value = Input> {
    prop_oneof![
        2 => Just(Input::Tick),
        1 => any::<u8>().prop_map(|c| Input::Propose(vec![c].into())),
        1 => (0u64..8).prop_map(|index| Input::Snapshot { index, data: vec![1] }),
        // A storage's sync report, right or stale or past the log (§10.2.1).
        1 => (0u64..10, 0u64..6).prop_map(|(index, term)| Input::Persisted { index, term }),
        6 => (0usize..4).prop_flat_map(move |from| {
            message(from, shaped).prop_map(move |message| Input::Message { from, message })
        }),
    ]
}

/// Local properties after one step of `core` (which was `before` until now).
fn check_step(
    before: &Core,
    core: &Core,
    applies: &[Apply],
    persisted: &[u8],
) -> Result<(), TestCaseError> {
    core.check_invariants();
    prop_assert!(
        core.current_term() >= before.current_term(),
        "term regressed"
    );
    prop_assert!(
        core.commit_index() >= before.commit_index(),
        "commit regressed"
    );
    prop_assert!(
        core.last_applied() >= before.last_applied(),
        "applied regressed"
    );
    prop_assert!(
        core.snapshot_index() >= before.snapshot_index(),
        "snapshot regressed"
    );
    let mut applied = before.last_applied();
    for apply in applies {
        match apply {
            Apply::Entry { index, .. } => {
                prop_assert_eq!(*index, applied + 1, "applies are contiguous");
                applied = *index;
            }
            Apply::Snapshot { index, .. } => {
                prop_assert!(*index > applied, "a snapshot apply moves back");
                applied = *index;
            }
        }
    }
    prop_assert_eq!(applied, core.last_applied());
    let expected = core.persistent_state();
    if persisted.is_empty() {
        prop_assert_eq!(
            expected,
            PersistentState::default(),
            "changed without persisting"
        );
    } else {
        prop_assert_eq!(
            PersistentState::decode(persisted).ok(),
            Some(expected),
            "stale persist"
        );
    }
    Ok(())
}

/// The disk: the stored state (`persisted`, empty until the first save) updated by a
/// step's persistence delta and written back as bytes, as a whole-state persister would.
fn save(persisted: &mut Vec<u8>, persist: &Persist) -> Result<(), TestCaseError> {
    let mut stored = if persisted.is_empty() {
        PersistentState::default()
    } else {
        PersistentState::decode(persisted)
            .map_err(|e| TestCaseError::fail(format!("stored state undecodable: {e}")))?
    };
    let mut snapshot = Arc::new(Vec::new());
    persist
        .apply_to(&mut stored, &mut snapshot)
        .map_err(|e| TestCaseError::fail(format!("delta does not fit: {e}")))?;
    // The core must never hand out a state that cannot be written (and read back).
    *persisted = stored
        .encode()
        .map_err(|e| TestCaseError::fail(format!("state not encodable: {e}")))?;
    Ok(())
}

/// Runs `inputs` on a fresh core, checking the local properties after every step.
fn run(inputs: Vec<Input>) -> Result<(), TestCaseError> {
    let mut core = Core::new(core_config()).expect("valid configuration");
    let mut persisted = Vec::new();
    for input in inputs {
        let before = core.clone();
        let ill_formed =
            matches!(&input, Input::Message { message, .. } if !message.is_well_formed());
        let sync_report = matches!(input, Input::Persisted { .. });
        let ready = core.step(input);
        if sync_report {
            // A sync report writes nothing, and moves the durable index only up, only to
            // an entry the log holds (`check_invariants`: never past the last index).
            prop_assert!(ready.persist.is_none(), "Persisted wrote state");
            prop_assert!(core.durable_index() >= before.durable_index());
        }
        if ill_formed {
            // A message no correct server could send is dropped without a trace.
            prop_assert_eq!(
                &ready,
                &Ready::default(),
                "an ill-formed message had effects"
            );
            prop_assert_eq!(core.persistent_state(), before.persistent_state());
            prop_assert_eq!(
                (core.role(), core.commit_index(), core.leader_id()),
                (before.role(), before.commit_index(), before.leader_id())
            );
        }
        if let Some(persist) = &ready.persist {
            save(&mut persisted, persist)?;
        }
        check_step(&before, &core, &ready.applies, &persisted)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config("prop_untrusted", DEFAULT_CASES))]

    /// Arbitrary inputs — messages with any terms, indices, entries and claimed senders,
    /// from any peer id including itself and ids outside the cluster — never panic the
    /// core or break its local invariants.
    ///
    ///
    /// This found that AppendEntries entry terms were not validated (minimal cases below);
    /// fixed in raft-impl by `Message::is_well_formed` (commit 0f99f9e).
    #[test]
    fn arbitrary_messages_never_break_a_core(inputs in vec(input(false), 0..60)) {
        run(inputs)?;
    }

    /// The same with AppendEntries shaped as a leader of the message's term shapes them
    /// (entry terms non-decreasing, none above the message's term): every other field,
    /// sender and ordering is still arbitrary. This explores past the finding above.
    #[test]
    fn shaped_messages_never_break_a_core(inputs in vec(input(true), 0..60)) {
        run(inputs)?;
    }
}

/// Regression (found by this suite, fixed in raft-impl 0f99f9e): the minimal case
/// `arbitrary_messages_never_break_a_core` shrank to — one AppendEntries of term 0 from
/// server 1 carrying an entry of term 1. The follower appended it, so its last log term (1)
/// exceeded its current term (0) and `check_invariants` panicked ("log term after current
/// term") — inside `Core::step` itself in any build with debug assertions, silently in
/// release. A leader never sends an entry of a term after its own: the request must be
/// dropped (design: no panics on bytes from the network).
#[test]
fn entry_term_above_message_term_is_refused() {
    let message = Message::AppendEntries {
        term: 0,
        leader: 1,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![Entry {
            term: 1,
            command: vec![0].into(),
        }],
        leader_commit: 0,
    };
    step_fresh_follower(message);
}

/// Regression (found by this suite, fixed in raft-impl 0f99f9e), same family, worse
/// consequence: one AppendEntries of term 3 carrying entries of terms 3 then 0. The
/// follower appended both, so its log's terms decreased, and it handed out that log to
/// persist — a raft state that `PersistentState::decode` itself refuses ("log terms
/// decrease"), so after a crash the server could not restart. (With debug assertions,
/// `Log::append` panicked first.) A leader's log never has decreasing terms: the request
/// must be dropped.
#[test]
fn decreasing_entry_terms_are_refused() {
    let message = Message::AppendEntries {
        term: 3,
        leader: 1,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![
            Entry {
                term: 3,
                command: vec![0].into(),
            },
            Entry {
                term: 0,
                command: vec![0].into(),
            },
        ],
        leader_commit: 0,
    };
    let persisted = step_fresh_follower(message);
    if !persisted.is_empty() {
        Core::restore(core_config(), &persisted, Vec::new())
            .expect("the server cannot restart from what it persisted");
    }
}

/// Steps a fresh follower with `message` from server 1, checks the step's local properties
/// and returns what it persisted (empty if nothing).
fn step_fresh_follower(message: Message) -> Vec<u8> {
    let mut core = Core::new(core_config()).expect("valid configuration");
    let before = core.clone();
    let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        core.step(Input::Message { from: 1, message })
    }));
    let ready = step.expect("Core::step panicked on a decodable AppendEntries");
    let mut persisted = Vec::new();
    if let Some(persist) = &ready.persist {
        save(&mut persisted, persist).unwrap();
    }
    check_step(&before, &core, &ready.applies, &persisted).unwrap();
    persisted
}

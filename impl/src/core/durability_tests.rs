//! Tests of the durable index (Raft thesis §10.2.1, `durability.rs`): the leader counts
//! itself toward a commit only up to what its storage has synced, `Input::Persisted` moves
//! that point only for entries the log still holds, truncations lower it and snapshots
//! raise it.

use super::*;

const SERVERS: usize = 3;

fn entries(terms: &[u64]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(k, &term)| Entry {
            term,
            command: vec![k as u8].into(),
        })
        .collect()
}

/// Server `id` of three, restored with the given term and log (all of it durable).
fn server(id: usize, term: u64, log_terms: &[u64]) -> Core {
    let state = PersistentState {
        current_term: term,
        voted_for: None,
        snapshot_index: 0,
        snapshot_term: 0,
        entries: entries(log_terms),
    };
    Core::recover(
        Config::new(id, SERVERS, 11 + id as u64),
        state,
        Arc::default(),
    )
    .unwrap()
}

fn deliver(core: &mut Core, from: usize, message: Message) -> Ready {
    core.step(Input::Message { from, message })
}

/// Server 0 of three, leader of term `term + 1` over the log `log_terms`, with both
/// followers known to match its whole log (their heartbeat replies delivered).
fn leader(term: u64, log_terms: &[u64]) -> Core {
    let mut core = server(0, term, log_terms);
    super::tests::tick_until_candidate(&mut core);
    let term = core.current_term();
    deliver(
        &mut core,
        1,
        Message::RequestVoteReply {
            term,
            vote_granted: true,
        },
    );
    assert_eq!(core.role(), Role::Leader);
    let last = core.last_log_index();
    for peer in [1, 2] {
        deliver(&mut core, peer, ack(term, last));
    }
    core
}

fn ack(term: u64, match_index: u64) -> Message {
    replication::accept(term, match_index)
}

fn persisted(core: &mut Core, index: u64, term: u64) -> Ready {
    core.step(Input::Persisted { index, term })
}

/// A new core has nothing on disk and nothing in its log; a restored one read its whole
/// log from disk.
// Reference: Raft thesis §10.2.1
#[test]
fn a_restored_log_is_durable_and_a_new_one_is_empty() {
    let fresh = Core::new(Config::new(0, SERVERS, 1)).unwrap();
    assert_eq!(fresh.durable_index(), 0);
    let restored = server(1, 2, &[1, 1, 2]);
    assert_eq!(restored.durable_index(), 3);
}

/// The leader's own copy of an entry counts toward the quorum only once it is durable: in
/// a cluster of three, one follower's acknowledgement plus an unsynced leader copy is not
/// a majority of disks. `Persisted` then commits it (and tells the idle followers).
// Reference: Raft thesis §10.2.1 ("the leader ... counts itself ... once the write is durable")
#[test]
fn an_undurable_leader_entry_waits_for_persisted_to_commit() {
    let mut leader = leader(1, &[]);
    let term = leader.current_term();
    let proposed = leader.step(Input::Propose(vec![1].into()));
    assert_eq!(proposed.proposed, Some((1, term)));
    assert!(
        proposed
            .messages
            .iter()
            .any(|m| matches!(m.message, Message::AppendEntries { .. })),
        "the leader sends before its own write is durable"
    );
    assert_eq!(leader.durable_index(), 0, "the append is not synced yet");
    let ready = deliver(&mut leader, 1, ack(term, 1));
    assert_eq!(
        leader.commit_index(),
        0,
        "one follower + an unsynced leader"
    );
    assert!(ready.applies.is_empty());
    let ready = persisted(&mut leader, 1, term);
    assert_eq!(leader.durable_index(), 1);
    assert_eq!(leader.commit_index(), 1, "now two durable copies of three");
    assert!(ready.persist.is_none(), "Persisted writes nothing");
    assert_eq!(
        ready.applies,
        vec![Apply::Entry {
            index: 1,
            term,
            command: vec![1].into()
        }]
    );
    assert!(
        ready.messages.iter().any(|m| m.to == 1
            && matches!(
                m.message,
                Message::AppendEntries {
                    leader_commit: 1,
                    ..
                }
            )),
        "the new commit index goes out at once: {:?}",
        ready.messages
    );
}

/// Two followers are a majority of three without the leader: an unsynced leader copy does
/// not stop a commit that needs no vote of its own.
// Reference: Raft thesis §10.2.1
#[test]
fn followers_alone_can_commit_past_the_leaders_durable_index() {
    let mut leader = leader(1, &[]);
    let term = leader.current_term();
    leader.step(Input::Propose(vec![1].into()));
    deliver(&mut leader, 1, ack(term, 1));
    deliver(&mut leader, 2, ack(term, 1));
    assert_eq!((leader.commit_index(), leader.durable_index()), (1, 0));
    // A snapshot (written atomically) of the committed entry raises the durable index.
    leader.step(Input::Snapshot {
        index: 1,
        data: vec![1],
    });
    assert_eq!(leader.durable_index(), 1);
}

/// A truncation (Figure 2, AppendEntries rule 3) replaces durable entries by unsynced ones:
/// the durable index falls to the last entry kept, and `Persisted` for the new log raises
/// it again.
// Reference: Raft thesis §10.2.1; Figure 2 AppendEntries rule 3
#[test]
fn a_truncation_lowers_the_durable_index() {
    let mut follower = server(1, 1, &[1, 1, 1]);
    assert_eq!(follower.durable_index(), 3);
    let request = Message::AppendEntries {
        term: 2,
        leader: 0,
        prev_log_index: 1,
        prev_log_term: 1,
        entries: entries(&[2]),
        leader_commit: 0,
    };
    let ready = deliver(&mut follower, 0, request);
    assert_eq!(follower.last_log_index(), 2);
    assert_eq!(
        follower.durable_index(),
        1,
        "index 2 was rewritten, 3 deleted"
    );
    let change = ready.persist.and_then(|p| p.log).expect("a log change");
    assert_eq!(change.after, 1);
    persisted(&mut follower, 2, 2);
    assert_eq!(follower.durable_index(), 2);
}

/// A `Persisted` for a log the core has since rewritten proves nothing about the current
/// entries: ignored when the term at its index differs.
// Reference: Raft thesis §10.2.1
#[test]
fn a_stale_persisted_is_ignored() {
    let mut follower = server(1, 1, &[1, 1, 1]);
    let request = Message::AppendEntries {
        term: 2,
        leader: 0,
        prev_log_index: 1,
        prev_log_term: 1,
        entries: entries(&[2, 2]),
        leader_commit: 0,
    };
    deliver(&mut follower, 0, request);
    assert_eq!(
        (follower.durable_index(), follower.last_log_index()),
        (1, 3)
    );
    // The sync of the old log (which ended at index 3, term 1) completes late.
    let ready = persisted(&mut follower, 3, 1);
    assert_eq!(
        follower.durable_index(),
        1,
        "term 1 is no longer at index 3"
    );
    assert_eq!(ready, Ready::default());
    persisted(&mut follower, 3, 2);
    assert_eq!(follower.durable_index(), 3);
}

/// A `Persisted` past the log's end (no entry there) is ignored: the durable index never
/// exceeds the last index; and one below the durable index never lowers it.
// Reference: Raft thesis §10.2.1
#[test]
fn a_persisted_past_the_log_or_below_the_durable_index_changes_nothing() {
    let mut leader = leader(1, &[1]);
    let term = leader.current_term();
    leader.step(Input::Propose(vec![1].into()));
    assert_eq!((leader.durable_index(), leader.last_log_index()), (1, 2));
    deliver(&mut leader, 1, ack(term, 2));
    let ready = persisted(&mut leader, 3, term);
    assert_eq!(leader.durable_index(), 1, "index 3 is past the log");
    assert_eq!(leader.commit_index(), 0);
    assert_eq!(ready, Ready::default());
    persisted(&mut leader, 2, term);
    assert_eq!((leader.durable_index(), leader.commit_index()), (2, 2));
    persisted(&mut leader, 1, 1);
    assert_eq!(leader.durable_index(), 2, "never lowered");
}

/// An InstallSnapshot that does not match the log discards it: the durable index becomes
/// the snapshot's (written atomically), whatever was durable of the discarded log.
// Reference: §7; Raft thesis §10.2.1
#[test]
fn an_installed_snapshot_sets_the_durable_index_to_at_least_its_index() {
    let mut follower = server(1, 1, &[1, 1]);
    let install = Message::InstallSnapshot {
        term: 2,
        leader: 0,
        last_included_index: 4,
        last_included_term: 2,
        offset: 0,
        data: vec![7],
        done: true,
    };
    deliver(&mut follower, 0, install);
    assert_eq!(follower.snapshot_index(), 4);
    assert_eq!(follower.durable_index(), 4);
    let mut follower = server(1, 1, &[1, 1, 1]);
    let install = Message::InstallSnapshot {
        term: 1,
        leader: 0,
        last_included_index: 2,
        last_included_term: 1,
        offset: 0,
        data: vec![7],
        done: true,
    };
    deliver(&mut follower, 0, install);
    assert_eq!(
        (follower.snapshot_index(), follower.durable_index()),
        (2, 3),
        "the matching suffix stays as durable as it was"
    );
}

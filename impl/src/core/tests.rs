//! Paper tests of the core: hand-built scenarios, one per rule of Figure 2 and §7, named by
//! behaviour. Each drives `Core::step` directly and checks the state and the `Ready`.

use super::*;

const SERVERS: usize = 3;

fn config(id: usize, servers: usize) -> Config {
    Config::new(id, servers, 7 + id as u64)
}

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

/// A server restored with the given persistent state (commit = applied = snapshot index).
fn server(
    id: usize,
    term: u64,
    voted_for: Option<usize>,
    snapshot: (u64, u64),
    log_terms: &[u64],
) -> Core {
    let state = PersistentState {
        current_term: term,
        voted_for,
        snapshot_index: snapshot.0,
        snapshot_term: snapshot.1,
        entries: entries(log_terms),
    };
    Core::restore(
        config(id, SERVERS),
        &state.encode().unwrap(),
        vec![9; snapshot.0 as usize],
    )
    .unwrap()
}

fn deliver(core: &mut Core, from: usize, message: Message) -> Ready {
    core.step(Input::Message { from, message })
}

/// Ticks until the server starts an election; returns that step's output.
fn tick_until_candidate(core: &mut Core) -> Ready {
    for _ in 0..=core.config().election_timeout_ticks_max {
        let ready = core.step(Input::Tick);
        if core.role() == Role::Candidate {
            return ready;
        }
    }
    panic!("no election after the maximum timeout");
}

/// Makes `core` leader of its next term with votes from every peer; returns the heartbeats.
fn make_leader(core: &mut Core) -> Ready {
    tick_until_candidate(core);
    let term = core.current_term();
    let mut last = Ready::default();
    let me = core.id();
    for peer in (0..SERVERS).filter(|&j| j != me) {
        if core.role() == Role::Candidate {
            last = deliver(
                core,
                peer,
                Message::RequestVoteReply {
                    term,
                    vote_granted: true,
                },
            );
        }
    }
    assert_eq!(core.role(), Role::Leader);
    last
}

fn vote_request(term: u64, candidate: usize, last_log_index: u64, last_log_term: u64) -> Message {
    Message::RequestVote {
        term,
        candidate,
        last_log_index,
        last_log_term,
    }
}

fn append(term: u64, prev: (u64, u64), log_terms: &[u64], leader_commit: u64) -> Message {
    Message::AppendEntries {
        term,
        leader: 0,
        prev_log_index: prev.0,
        prev_log_term: prev.1,
        entries: entries(log_terms),
        leader_commit,
    }
}

fn only_reply(ready: &Ready) -> &Message {
    assert_eq!(
        ready.messages.len(),
        1,
        "expected one reply: {:?}",
        ready.messages
    );
    &ready.messages[0].message
}

fn log_terms(core: &Core) -> Vec<u64> {
    core.log().entries().iter().map(|e| e.term).collect()
}

// ---- §5.1 terms ----

/// "If a server receives a request with a stale term number, it rejects the request."
// Reference: §5.1
#[test]
fn stale_term_request_is_rejected_with_current_term() {
    let mut follower = server(1, 5, None, (0, 0), &[]);
    let ready = deliver(&mut follower, 0, append(3, (0, 0), &[3], 0));
    assert!(matches!(
        only_reply(&ready),
        Message::AppendEntriesReply {
            term: 5,
            success: false,
            ..
        }
    ));
    assert_eq!(follower.last_log_index(), 0);
    let ready = deliver(&mut follower, 2, vote_request(4, 2, 9, 4));
    assert_eq!(
        only_reply(&ready),
        &Message::RequestVoteReply {
            term: 5,
            vote_granted: false
        }
    );
    assert_eq!(follower.voted_for(), None);
}

/// "If one server's current term is smaller than the other's, then it updates its current
/// term to the larger value. If a candidate or leader discovers that its term is out of
/// date, it immediately reverts to follower state."
// Reference: §5.1
#[test]
fn higher_term_reply_makes_leader_step_down_and_persist() {
    let mut leader = server(0, 1, None, (0, 0), &[]);
    make_leader(&mut leader);
    let ready = deliver(
        &mut leader,
        1,
        Message::AppendEntriesReply {
            term: 9,
            success: false,
            match_index: 0,
            conflict_index: 0,
            conflict_term: None,
        },
    );
    assert_eq!(
        (leader.role(), leader.current_term(), leader.voted_for()),
        (Role::Follower, 9, None)
    );
    let persisted = ready
        .persist
        .expect("term change persisted")
        .hard_state
        .expect("the new term is in the delta");
    assert_eq!(persisted.current_term, 9);
}

/// Replies from an earlier term are dropped without effect.
// Reference: §5.1, docs/protocol.md "Term normalisation"
#[test]
fn stale_vote_reply_is_ignored() {
    let mut candidate = server(0, 4, None, (0, 0), &[]);
    tick_until_candidate(&mut candidate);
    let ready = deliver(
        &mut candidate,
        1,
        Message::RequestVoteReply {
            term: 4,
            vote_granted: true,
        },
    );
    assert_eq!(candidate.role(), Role::Candidate);
    assert_eq!(candidate.votes_granted(), Some(vec![0]));
    assert_eq!(ready, Ready::default());
}

// ---- §5.2 elections ----

/// "A follower ... begins an election ... increments its current term ... votes for itself
/// ... issues RequestVote RPCs in parallel to each of the other servers", after a
/// randomised timeout in the configured range.
// Reference: §5.2
#[test]
fn election_timeout_starts_election_within_range() {
    let mut follower = server(0, 2, None, (0, 0), &[1, 2]);
    let mut ticks = 0;
    let ready = loop {
        ticks += 1;
        let ready = follower.step(Input::Tick);
        if follower.role() == Role::Candidate {
            break ready;
        }
    };
    let config = follower.config().clone();
    assert!(
        (config.election_timeout_ticks_min..=config.election_timeout_ticks_max).contains(&ticks)
    );
    assert_eq!(
        (follower.current_term(), follower.voted_for()),
        (3, Some(0))
    );
    assert!(
        ready.persist.is_some(),
        "term and vote are persisted before the requests leave"
    );
    let targets: Vec<usize> = ready.messages.iter().map(|m| m.to).collect();
    assert_eq!(targets, vec![1, 2]);
    assert!(ready
        .messages
        .iter()
        .all(|m| m.message == vote_request(3, 0, 2, 2)));
}

/// Different seeds give different timeouts, so split votes do not repeat forever.
// Reference: §5.2
#[test]
fn election_timeouts_are_randomised_by_seed() {
    let timeout_of = |seed| {
        let mut config = config(0, SERVERS);
        config.seed = seed;
        let mut core = Core::new(config).unwrap();
        (1..).find(|_| {
            core.step(Input::Tick);
            core.role() == Role::Candidate
        })
    };
    let timeouts: std::collections::BTreeSet<_> = (0..20).map(timeout_of).collect();
    assert!(timeouts.len() > 3, "timeouts barely vary: {timeouts:?}");
}

/// "Each server will vote for at most one candidate in a given term, on a first-come-
/// first-served basis"; a repeated request from the same candidate gets the same answer.
// Reference: §5.2
#[test]
fn grants_at_most_one_vote_per_term() {
    let mut follower = server(1, 1, None, (0, 0), &[]);
    let ready = deliver(&mut follower, 0, vote_request(2, 0, 0, 0));
    assert_eq!(
        only_reply(&ready),
        &Message::RequestVoteReply {
            term: 2,
            vote_granted: true
        }
    );
    assert_eq!(follower.voted_for(), Some(0));
    assert!(
        ready.persist.is_some(),
        "the vote is persisted before the reply"
    );
    let ready = deliver(&mut follower, 2, vote_request(2, 2, 0, 0));
    assert_eq!(
        only_reply(&ready),
        &Message::RequestVoteReply {
            term: 2,
            vote_granted: false
        }
    );
    let ready = deliver(&mut follower, 0, vote_request(2, 0, 0, 0));
    assert_eq!(
        only_reply(&ready),
        &Message::RequestVoteReply {
            term: 2,
            vote_granted: true
        }
    );
}

/// "The voter denies its vote if its own log is more up-to-date than that of the
/// candidate": a later last term wins; with equal last terms, the longer log wins.
// Reference: §5.4.1
#[test]
fn denies_vote_to_candidate_with_less_up_to_date_log() {
    let mut voter = server(1, 3, None, (0, 0), &[1, 3, 3]);
    let ready = deliver(&mut voter, 0, vote_request(4, 0, 5, 2));
    assert_eq!(
        only_reply(&ready),
        &Message::RequestVoteReply {
            term: 4,
            vote_granted: false
        }
    );
    let ready = deliver(&mut voter, 0, vote_request(4, 0, 2, 3));
    assert_eq!(
        only_reply(&ready),
        &Message::RequestVoteReply {
            term: 4,
            vote_granted: false
        }
    );
    let ready = deliver(&mut voter, 2, vote_request(4, 2, 3, 3));
    assert_eq!(
        only_reply(&ready),
        &Message::RequestVoteReply {
            term: 4,
            vote_granted: true
        }
    );
    let mut voter = server(1, 3, None, (0, 0), &[1, 3, 3]);
    let ready = deliver(&mut voter, 2, vote_request(4, 2, 1, 4));
    assert_eq!(
        only_reply(&ready),
        &Message::RequestVoteReply {
            term: 4,
            vote_granted: true
        }
    );
}

/// "A candidate wins an election if it receives votes from a majority"; it then "sends
/// heartbeat messages to all of the other servers" and initialises nextIndex/matchIndex.
// Reference: §5.2, Figure 2
#[test]
fn candidate_with_majority_becomes_leader_and_sends_heartbeats() {
    let mut candidate = server(0, 1, None, (0, 0), &[1, 1]);
    tick_until_candidate(&mut candidate);
    let ready = deliver(
        &mut candidate,
        2,
        Message::RequestVoteReply {
            term: 2,
            vote_granted: false,
        },
    );
    assert_eq!(candidate.role(), Role::Candidate);
    assert!(ready.messages.is_empty());
    let ready = deliver(
        &mut candidate,
        1,
        Message::RequestVoteReply {
            term: 2,
            vote_granted: true,
        },
    );
    assert_eq!(candidate.role(), Role::Leader);
    assert_eq!(
        (candidate.next_index(1), candidate.match_index(1)),
        (Some(3), Some(0))
    );
    assert_eq!(ready.messages.len(), 2);
    for out in &ready.messages {
        assert_eq!(
            out.message,
            Message::AppendEntries {
                term: 2,
                leader: 0,
                prev_log_index: 2,
                prev_log_term: 1,
                entries: vec![],
                leader_commit: 0,
            }
        );
    }
}

/// "If the leader's term ... is at least as large as the candidate's current term, then
/// the candidate recognizes the leader as legitimate and returns to follower state."
// Reference: §5.2
#[test]
fn candidate_steps_down_on_append_entries_of_its_term() {
    let mut candidate = server(1, 1, None, (0, 0), &[]);
    tick_until_candidate(&mut candidate);
    let ready = deliver(&mut candidate, 0, append(2, (0, 0), &[], 0));
    assert_eq!(candidate.role(), Role::Follower);
    assert_eq!(
        (
            candidate.current_term(),
            candidate.voted_for(),
            candidate.leader_id()
        ),
        (2, Some(1), Some(0))
    );
    assert!(matches!(
        only_reply(&ready),
        Message::AppendEntriesReply { success: true, .. }
    ));
}

/// A leader sends heartbeats every heartbeat interval, and followers that hear them do not
/// start elections.
// Reference: §5.2
#[test]
fn leader_heartbeats_keep_follower_from_campaigning() {
    let mut leader = server(0, 1, None, (0, 0), &[]);
    let mut follower = server(1, 1, None, (0, 0), &[]);
    make_leader(&mut leader);
    let interval = leader.config().heartbeat_interval_ticks;
    let mut heartbeats = 0;
    for _ in 0..10 * interval {
        let ready = leader.step(Input::Tick);
        for out in ready.messages.into_iter().filter(|m| m.to == 1) {
            heartbeats += 1;
            deliver(&mut follower, 0, out.message);
        }
        follower.step(Input::Tick);
        assert_eq!(follower.role(), Role::Follower);
    }
    assert_eq!(heartbeats, 10);
}

/// A cluster of one elects itself and commits on its own.
// Reference: §5.2, §5.3
#[test]
fn single_server_elects_itself_and_commits() {
    let mut core = Core::new(Config::new(0, 1, 1)).unwrap();
    tick_until_candidate_or_leader(&mut core);
    assert_eq!(core.role(), Role::Leader);
    let ready = core.step(Input::Propose(vec![5].into()));
    assert_eq!(ready.proposed, Some((1, 1)));
    assert_eq!(
        ready.applies,
        vec![Apply::Entry {
            index: 1,
            term: 1,
            command: vec![5].into(),
        }]
    );
}

fn tick_until_candidate_or_leader(core: &mut Core) {
    while core.role() == Role::Follower {
        core.step(Input::Tick);
    }
}

// ---- §5.3 replication ----

/// "Reply false if log doesn't contain an entry at prevLogIndex whose term matches
/// prevLogTerm", with the fast back-up hints: a short log reports its length.
// Reference: §5.3, Figure 2 AppendEntries rule 2
#[test]
fn rejects_append_entries_past_end_of_log_with_length_hint() {
    let mut follower = server(1, 2, None, (0, 0), &[1]);
    let ready = deliver(&mut follower, 0, append(2, (4, 2), &[2], 0));
    assert_eq!(
        only_reply(&ready),
        &Message::AppendEntriesReply {
            term: 2,
            success: false,
            match_index: 0,
            conflict_index: 2,
            conflict_term: None,
        }
    );
}

/// A term mismatch at prevLogIndex reports the conflicting term and its first index.
// Reference: §5.3 (the optimisation at the end of the section)
#[test]
fn rejects_mismatched_prev_term_with_conflict_term_hint() {
    let mut follower = server(1, 3, None, (0, 0), &[1, 2, 2, 2]);
    let ready = deliver(&mut follower, 0, append(3, (4, 3), &[3], 0));
    assert_eq!(
        only_reply(&ready),
        &Message::AppendEntriesReply {
            term: 3,
            success: false,
            match_index: 0,
            conflict_index: 2,
            conflict_term: Some(2),
        }
    );
    assert_eq!(
        log_terms(&follower),
        vec![1, 2, 2, 2],
        "a rejection changes nothing"
    );
}

/// "If an existing entry conflicts with a new one (same index but different terms),
/// delete the existing entry and all that follow it"; then append new entries.
// Reference: §5.3, Figure 2 AppendEntries rules 3–4
#[test]
fn deletes_conflicting_entries_and_appends_new_ones() {
    let mut follower = server(1, 3, None, (0, 0), &[1, 2, 2, 2]);
    let ready = deliver(&mut follower, 0, append(3, (1, 1), &[3, 3], 0));
    assert_eq!(log_terms(&follower), vec![1, 3, 3]);
    assert!(ready.persist.is_some());
    assert!(matches!(
        only_reply(&ready),
        Message::AppendEntriesReply {
            success: true,
            match_index: 3,
            ..
        }
    ));
}

/// A stale or duplicated AppendEntries whose entries all match must not truncate entries
/// that were appended after it.
// Reference: Figure 2 AppendEntries rule 3 ("if an existing entry conflicts")
#[test]
fn matching_stale_append_entries_never_truncates() {
    let mut follower = server(1, 2, None, (0, 0), &[]);
    deliver(&mut follower, 0, append(2, (0, 0), &[2, 2, 2], 0));
    let ready = deliver(&mut follower, 0, append(2, (0, 0), &[2], 0));
    assert_eq!(log_terms(&follower), vec![2, 2, 2]);
    assert!(
        ready.persist.is_none(),
        "nothing changed, nothing to persist"
    );
    assert!(matches!(
        only_reply(&ready),
        Message::AppendEntriesReply {
            success: true,
            match_index: 1,
            ..
        }
    ));
}

/// An AppendEntries whose entries conflict with a *committed* entry can only be forged or
/// damaged (Leader Completeness, §5.4: every later leader holds every committed entry), so
/// it is dropped whole: no truncation, no reply. A conflict after the commit index is the
/// ordinary rule 3 and still truncates.
// Reference: §5.4 (Leader Completeness), Figure 2 AppendEntries rule 3
#[test]
fn append_entries_that_would_truncate_a_committed_entry_is_dropped() {
    let mut follower = server(1, 1, None, (0, 0), &[1, 1, 1]);
    deliver(&mut follower, 0, append(1, (3, 1), &[], 2));
    assert_eq!((follower.commit_index(), follower.last_applied()), (2, 2));

    // Term 2's "leader" claims index 2 (committed, term 1) holds a term-2 entry.
    let ready = deliver(&mut follower, 0, append(2, (1, 1), &[2, 2], 0));
    assert_eq!(
        log_terms(&follower),
        vec![1, 1, 1],
        "committed entries kept"
    );
    assert_eq!(follower.commit_index(), 2);
    assert!(ready.messages.is_empty(), "no reply: {:?}", ready.messages);
    assert!(ready.applies.is_empty());
    assert_eq!(
        follower.current_term(),
        2,
        "the term is still adopted (§5.1)"
    );

    // A conflict just after the commit index truncates as usual.
    let ready = deliver(&mut follower, 0, append(2, (2, 1), &[2], 0));
    assert_eq!(log_terms(&follower), vec![1, 1, 2]);
    assert!(matches!(
        only_reply(&ready),
        Message::AppendEntriesReply {
            success: true,
            match_index: 3,
            ..
        }
    ));
}

/// "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last new
/// entry)", and the newly committed entries are applied in order in the same step.
// Reference: §5.3, Figure 2 AppendEntries rule 5
#[test]
fn follower_commits_up_to_leader_commit_capped_by_match() {
    let mut follower = server(1, 1, None, (0, 0), &[1, 1, 1, 1]);
    let ready = deliver(&mut follower, 0, append(2, (2, 1), &[], 4));
    assert_eq!(
        follower.commit_index(),
        2,
        "only entries known to match are committed"
    );
    let indices: Vec<u64> = ready
        .applies
        .iter()
        .map(|a| match a {
            Apply::Entry { index, .. } => *index,
            Apply::Snapshot { index, .. } => *index,
        })
        .collect();
    assert_eq!(indices, vec![1, 2]);
    assert_eq!(follower.last_applied(), 2);
}

/// After a rejection, the leader uses the hints: it skips the follower's conflicting term
/// (or jumps to its log length) instead of backing up one entry per round trip.
// Reference: §5.3 (fast back-up)
#[test]
fn leader_backs_up_next_index_with_conflict_hints() {
    let mut leader = server(0, 3, None, (0, 0), &[1, 1, 3, 3, 3]);
    make_leader(&mut leader);
    assert_eq!(leader.next_index(1), Some(6));
    let ready = deliver(
        &mut leader,
        1,
        Message::AppendEntriesReply {
            term: 4,
            success: false,
            match_index: 0,
            conflict_index: 2,
            conflict_term: Some(2),
        },
    );
    assert_eq!(
        leader.next_index(1),
        Some(2),
        "no term 2 at the leader: use conflict_index"
    );
    assert!(matches!(
        only_reply(&ready),
        Message::AppendEntries {
            prev_log_index: 1,
            prev_log_term: 1,
            ..
        }
    ));
    deliver(
        &mut leader,
        2,
        Message::AppendEntriesReply {
            term: 4,
            success: false,
            match_index: 0,
            conflict_index: 3,
            conflict_term: Some(1),
        },
    );
    assert_eq!(
        leader.next_index(2),
        Some(3),
        "leader has term 1: after its last term-1 entry"
    );
}

/// Reordered or duplicated success replies never move matchIndex or nextIndex backwards.
// Reference: docs/protocol.md "Replication"
#[test]
fn old_success_reply_never_moves_leader_backwards() {
    let mut leader = server(0, 1, None, (0, 0), &[1, 1, 1]);
    make_leader(&mut leader);
    let success = |match_index| replication::accept(2, match_index);
    deliver(&mut leader, 1, success(3));
    deliver(&mut leader, 1, success(1));
    assert_eq!(
        (leader.match_index(1), leader.next_index(1)),
        (Some(3), Some(4))
    );
}

/// While a request to a follower is outstanding, new proposals wait for its reply (or the
/// next heartbeat) instead of each sending their own AppendEntries.
// Reference: none (batching, Lab 2B RPC-count limits)
#[test]
fn proposals_are_batched_while_a_request_is_in_flight() {
    let mut leader = server(0, 1, None, (0, 0), &[]);
    make_leader(&mut leader);
    for peer in [1, 2] {
        let heartbeat_reply = Message::AppendEntriesReply {
            term: 2,
            success: true,
            match_index: 0,
            conflict_index: 0,
            conflict_term: None,
        };
        let ready = deliver(&mut leader, peer, heartbeat_reply);
        assert!(ready.messages.is_empty(), "nothing more to send to {peer}");
    }
    let first = leader.step(Input::Propose(vec![1].into()));
    assert_eq!(
        first.messages.len(),
        2,
        "idle followers get the entry at once"
    );
    let second = leader.step(Input::Propose(vec![2].into()));
    assert!(
        second.messages.is_empty(),
        "followers with a request in flight wait"
    );
    let ready = deliver(
        &mut leader,
        1,
        Message::AppendEntriesReply {
            term: 2,
            success: true,
            match_index: 1,
            conflict_index: 0,
            conflict_term: None,
        },
    );
    assert_eq!(leader.commit_index(), 1);
    let to_one: Vec<&Message> = ready
        .messages
        .iter()
        .filter(|m| m.to == 1)
        .map(|m| &m.message)
        .collect();
    assert!(matches!(
        to_one[..],
        [Message::AppendEntries {
            prev_log_index: 1,
            leader_commit: 1,
            ..
        }]
    ));
}

// ---- §5.4.2 commit ----

/// "Raft never commits log entries from previous terms by counting replicas. Only log
/// entries from the leader's current term are committed by counting replicas" (Figure 8).
// Reference: §5.4.2
#[test]
fn leader_only_commits_entries_of_its_current_term_by_counting() {
    let mut leader = server(0, 2, None, (0, 0), &[1, 2]);
    make_leader(&mut leader);
    let success = |match_index| replication::accept(3, match_index);
    deliver(&mut leader, 1, success(2));
    assert_eq!(
        leader.commit_index(),
        0,
        "a term-2 entry on a majority is not committed"
    );
    leader.step(Input::Propose(vec![7].into()));
    let ready = deliver(&mut leader, 1, success(3));
    assert_eq!(
        leader.commit_index(),
        3,
        "a term-3 entry commits, and earlier ones with it"
    );
    assert_eq!(ready.applies.len(), 3);
}

// ---- §7 snapshots ----

/// The service's snapshot trims the log; indices beyond what was applied, or not after the
/// current snapshot, are ignored.
// Reference: §7
#[test]
fn service_snapshot_trims_log_and_ignores_out_of_range_indices() {
    let mut follower = server(1, 1, None, (0, 0), &[1, 1, 1, 1]);
    deliver(&mut follower, 0, append(1, (4, 1), &[], 3));
    let ignored = follower.step(Input::Snapshot {
        index: 4,
        data: vec![1],
    });
    assert!(ignored.persist.is_none(), "index 4 is not applied yet");
    let ready = follower.step(Input::Snapshot {
        index: 2,
        data: vec![2],
    });
    assert_eq!(
        (follower.snapshot_index(), follower.snapshot_term()),
        (2, 1)
    );
    assert_eq!(follower.log().entries().len(), 2);
    let persist = ready.persist.expect("compaction is persisted");
    assert_eq!(
        persist.snapshot.expect("a new snapshot").data.as_slice(),
        &[2]
    );
    let ignored = follower.step(Input::Snapshot {
        index: 1,
        data: vec![3],
    });
    assert!(
        ignored.persist.is_none(),
        "a snapshot never moves backwards"
    );
    assert_eq!(follower.snapshot_data().as_slice(), &[2]);
}

/// "If existing log entry has same index and term as snapshot's last included entry,
/// retain log entries following it and reply."
// Reference: §7, Figure 13 rule 6
#[test]
fn install_snapshot_over_matching_log_keeps_following_entries() {
    let mut follower = server(1, 2, None, (0, 0), &[1, 1, 2, 2]);
    let ready = deliver(
        &mut follower,
        0,
        Message::InstallSnapshot {
            term: 2,
            leader: 0,
            last_included_index: 3,
            last_included_term: 2,
            data: vec![4, 4],
            offset: 0,
            done: true,
        },
    );
    assert_eq!(
        (
            follower.snapshot_index(),
            follower.commit_index(),
            follower.last_applied()
        ),
        (3, 3, 3)
    );
    assert_eq!(log_terms(&follower), vec![2]);
    assert_eq!(
        ready.applies,
        vec![Apply::Snapshot {
            index: 3,
            term: 2,
            data: Arc::new(vec![4, 4])
        }]
    );
    assert_eq!(
        only_reply(&ready),
        &Message::InstallSnapshotReply {
            term: 2,
            last_included_index: 3,
            offset: 0,
            done: true,
        }
    );
    assert!(ready.persist.is_some());
}

/// "Discard the entire log" when it does not contain the snapshot's last entry.
// Reference: §7, Figure 13 rule 7
#[test]
fn install_snapshot_over_conflicting_log_discards_it() {
    let mut follower = server(1, 3, None, (0, 0), &[1, 1, 1, 1]);
    deliver(
        &mut follower,
        0,
        Message::InstallSnapshot {
            term: 3,
            leader: 0,
            last_included_index: 3,
            last_included_term: 3,
            data: vec![1],
            offset: 0,
            done: true,
        },
    );
    assert_eq!(follower.last_log_index(), 3);
    assert!(follower.log().entries().is_empty());
    assert_eq!(follower.log().term_at(3), Some(3));
}

/// An InstallSnapshot at or below the commit index changes nothing: the server and its
/// service never move backwards.
// Reference: §7, docs/protocol.md "Snapshots"
#[test]
fn older_snapshot_never_moves_follower_backwards() {
    let mut follower = server(1, 1, None, (0, 0), &[1, 1, 1, 1]);
    deliver(&mut follower, 0, append(1, (4, 1), &[], 4));
    let ready = deliver(
        &mut follower,
        0,
        Message::InstallSnapshot {
            term: 1,
            leader: 0,
            last_included_index: 2,
            last_included_term: 1,
            data: vec![1],
            offset: 0,
            done: true,
        },
    );
    assert!(ready.applies.is_empty() && ready.persist.is_none());
    assert_eq!(
        (
            follower.snapshot_index(),
            follower.commit_index(),
            follower.last_log_index()
        ),
        (0, 4, 4)
    );
    assert_eq!(
        only_reply(&ready),
        &Message::InstallSnapshotReply {
            term: 1,
            last_included_index: 2,
            offset: 0,
            done: true,
        }
    );
}

/// A leader whose next entry for a follower is compacted sends the whole snapshot, and the
/// follower's reply moves it past the snapshot.
// Reference: §7 ("the leader must occasionally send snapshots to followers that lag behind")
#[test]
fn leader_sends_install_snapshot_to_lagging_follower() {
    let mut leader = server(0, 1, None, (3, 1), &[1]);
    make_leader(&mut leader);
    let ready = deliver(
        &mut leader,
        1,
        Message::AppendEntriesReply {
            term: 2,
            success: false,
            match_index: 0,
            conflict_index: 1,
            conflict_term: None,
        },
    );
    assert_eq!(
        only_reply(&ready),
        &Message::InstallSnapshot {
            term: 2,
            leader: 0,
            last_included_index: 3,
            last_included_term: 1,
            data: vec![9, 9, 9],
            offset: 0,
            done: true,
        }
    );
    let ready = deliver(
        &mut leader,
        1,
        Message::InstallSnapshotReply {
            term: 2,
            last_included_index: 3,
            offset: 0,
            done: true,
        },
    );
    assert_eq!(
        (leader.match_index(1), leader.next_index(1)),
        (Some(3), Some(4))
    );
    assert!(matches!(
        only_reply(&ready),
        Message::AppendEntries {
            prev_log_index: 3,
            ..
        }
    ));
}

/// A follower whose snapshot covers part of an AppendEntries skips those entries and checks
/// consistency from its snapshot.
// Reference: docs/protocol.md "Replication" rule 1
#[test]
fn append_entries_below_snapshot_is_checked_from_the_snapshot() {
    let mut follower = server(1, 2, None, (3, 1), &[]);
    let ready = deliver(&mut follower, 0, append(2, (1, 1), &[1, 1, 2], 0));
    assert_eq!(log_terms(&follower), vec![2]);
    assert!(matches!(
        only_reply(&ready),
        Message::AppendEntriesReply {
            success: true,
            match_index: 4,
            ..
        }
    ));
}

/// "The server restores its state from the snapshot": on restart commit and applied start
/// at the snapshot, the log after it is kept, and nothing is re-applied.
// Reference: §7, Figure 2 (persistent state)
#[test]
fn restart_restores_from_snapshot() {
    let mut before = server(1, 1, None, (0, 0), &[1, 1, 1]);
    deliver(&mut before, 0, append(1, (3, 1), &[], 3));
    let ready = before.step(Input::Snapshot {
        index: 2,
        data: vec![8],
    });
    assert!(ready.persist.is_some());
    let after = Core::restore(
        config(1, SERVERS),
        &before.encode_persistent_state().unwrap(),
        before.snapshot_data().to_vec(),
    )
    .unwrap();
    assert_eq!(
        (
            after.snapshot_index(),
            after.commit_index(),
            after.last_applied()
        ),
        (2, 2, 2)
    );
    assert_eq!(after.last_log_index(), 3);
    assert_eq!(after.snapshot_data().as_slice(), &[8]);
    assert_eq!(after.role(), Role::Follower);
    assert_eq!(after.current_term(), 1);
}

// ---- Bad input ----

/// Messages from unknown servers, or whose claimed sender differs from the link, are
/// dropped; a stray InstallSnapshot to a leader of the same term is dropped too.
#[test]
fn bogus_messages_are_dropped() {
    let mut follower = server(1, 1, None, (0, 0), &[]);
    assert_eq!(
        deliver(&mut follower, 7, append(5, (0, 0), &[], 0)),
        Ready::default()
    );
    assert_eq!(
        deliver(&mut follower, 2, append(5, (0, 0), &[], 0)),
        Ready::default()
    );
    assert_eq!(follower.current_term(), 1);
    let mut leader = server(0, 1, None, (0, 0), &[]);
    make_leader(&mut leader);
    let ready = deliver(
        &mut leader,
        1,
        Message::InstallSnapshot {
            term: 2,
            leader: 1,
            last_included_index: 5,
            last_included_term: 2,
            data: vec![],
            offset: 0,
            done: true,
        },
    );
    assert_eq!(ready, Ready::default());
    assert_eq!(leader.role(), Role::Leader);
}

/// A restored state that is not decodable is an error, not a panic or an empty server.
#[test]
fn corrupt_raft_state_is_an_error() {
    assert!(matches!(
        Core::restore(config(0, SERVERS), b"garbage", vec![]),
        Err(RestoreError::State(_))
    ));
    assert!(matches!(
        Core::restore(config(0, SERVERS), &[], vec![1]),
        Err(RestoreError::SnapshotWithoutState { snapshot_bytes: 1 })
    ));
}

/// An invalid configuration is an error naming what is wrong, from `new` and `restore`
/// alike, never a panic.
#[test]
fn invalid_config_is_an_error() {
    let base = Config::new(0, 3, 1);
    let cases = [
        (
            Config {
                servers: 0,
                ..base.clone()
            },
            ConfigError::NoServers,
        ),
        (
            Config {
                id: 3,
                ..base.clone()
            },
            ConfigError::IdOutOfRange { id: 3, servers: 3 },
        ),
        (
            Config {
                servers: MAX_SERVERS + 1,
                ..base.clone()
            },
            ConfigError::TooManyServers {
                servers: MAX_SERVERS + 1,
                max: MAX_SERVERS,
            },
        ),
        (
            Config {
                election_timeout_ticks_min: 0,
                ..base.clone()
            },
            ConfigError::ElectionTimeout { min: 0, max: 60 },
        ),
        (
            Config {
                election_timeout_ticks_min: 7,
                election_timeout_ticks_max: 6,
                ..base.clone()
            },
            ConfigError::ElectionTimeout { min: 7, max: 6 },
        ),
        (
            Config {
                heartbeat_interval_ticks: 0,
                ..base.clone()
            },
            ConfigError::ZeroHeartbeatInterval,
        ),
        (
            Config {
                max_entries_per_message: 0,
                ..base.clone()
            },
            ConfigError::ZeroBatch,
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(Core::new(config.clone()).err(), Some(expected.clone()));
        assert_eq!(
            Core::restore(config, &[], Vec::new()).err(),
            Some(RestoreError::Config(expected))
        );
    }
    assert!(Core::new(base).is_ok());
}

/// A restored vote for a server outside the cluster is a matchable error.
#[test]
fn restored_vote_outside_the_cluster_is_an_error() {
    let state = PersistentState {
        current_term: 2,
        voted_for: Some(5),
        ..PersistentState::default()
    };
    assert_eq!(
        Core::restore(config(0, SERVERS), &state.encode().unwrap(), Vec::new()).err(),
        Some(RestoreError::VoteOutsideCluster {
            voted_for: 5,
            servers: SERVERS
        })
    );
}

/// A request left unanswered for `in_flight_timeout_ticks` (lost, or stuck behind a long
/// network delay) no longer holds new entries back until the next heartbeat.
// Reference: none (batching, commit latency)
#[test]
fn unanswered_request_stops_holding_back_proposals() {
    let mut leader = server(0, 1, None, (0, 0), &[]);
    make_leader(&mut leader);
    let held = leader.step(Input::Propose(vec![1].into()));
    assert!(
        held.messages.is_empty(),
        "the heartbeats are still outstanding"
    );
    for _ in 0..leader.config().in_flight_timeout_ticks {
        let ready = leader.step(Input::Tick);
        assert!(ready.messages.is_empty(), "no heartbeat is due yet");
    }
    let sent = leader.step(Input::Propose(vec![2].into()));
    assert_eq!(sent.messages.len(), 2);
    assert!(sent.messages.iter().all(|m| matches!(
        &m.message,
        Message::AppendEntries { entries, .. } if entries.len() == 2
    )));
}

/// A follower whose success reply arrives after the entry committed is sent the new commit
/// index at once (so it applies without waiting for a heartbeat).
// Reference: §5.3 ("the leader ... includes that index in future AppendEntries RPCs")
#[test]
fn late_follower_is_told_the_new_commit_index() {
    let mut leader = server(0, 1, None, (0, 0), &[]);
    make_leader(&mut leader);
    let success = |match_index| replication::accept(2, match_index);
    deliver(&mut leader, 1, success(0));
    deliver(&mut leader, 2, success(0));
    leader.step(Input::Propose(vec![1].into()));
    deliver(&mut leader, 1, success(1));
    assert_eq!(leader.commit_index(), 1);
    let ready = deliver(&mut leader, 2, success(1));
    assert!(matches!(
        only_reply(&ready),
        Message::AppendEntries {
            leader_commit: 1,
            ..
        }
    ));
    let ready = deliver(&mut leader, 2, success(1));
    assert!(
        ready.messages.is_empty(),
        "up to date: nothing more to send"
    );
}

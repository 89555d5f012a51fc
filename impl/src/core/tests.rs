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

/// Ticks until the server starts an election; returns that step's output. Bounded by the
/// longest election timeout, so a core that never campaigns (or leads at once, a broken E1
/// or E4) fails instead of spinning; the other test modules of the core use it too.
pub(super) fn tick_until_candidate(core: &mut Core) -> Ready {
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

/// The caller's storage has synced everything the core handed out: `Input::Persisted` with
/// the log's end (Raft thesis §10.2.1; until then a leader does not count its own copy).
fn sync(core: &mut Core) -> Ready {
    let (index, term) = (core.last_log_index(), core.log().last_term());
    core.step(Input::Persisted { index, term })
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
        assert!(ticks <= 10_000, "no candidacy after 10 000 ticks");
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
        // Bounded: a core that never campaigns fails here instead of spinning.
        (1..=10_000)
            .find(|_| {
                core.step(Input::Tick);
                core.role() == Role::Candidate
            })
            .expect("no candidacy within 10 000 ticks")
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
    assert!(ready.applies.is_empty(), "not durable yet (§10.2.1)");
    let ready = sync(&mut core);
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
    // Bounded: a core that never campaigns fails here instead of spinning.
    for tick in 0.. {
        if core.role() != Role::Follower {
            break;
        }
        assert!(tick < 10_000, "still a follower after 10 000 ticks");
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

/// Commands decoded from a received frame share its buffer (`Message::decode_shared`).
/// When only a tail of a request is new (a resend), the kept entries are copied out, so
/// they do not pin a frame of duplicates; when every entry is new, they stay shared.
#[test]
fn a_kept_tail_of_a_resent_request_does_not_pin_the_frame() {
    let frame = Bytes::from(vec![7u8; 4096]);
    let within = |command: &Bytes| {
        let start = frame.as_ptr() as usize;
        let at = command.as_ptr() as usize;
        at >= start && at < start + frame.len()
    };
    let sliced = |terms: &[u64]| -> Vec<Entry> {
        terms
            .iter()
            .enumerate()
            .map(|(i, &term)| Entry {
                term,
                command: frame.slice(i * 100..i * 100 + 10),
            })
            .collect()
    };
    let request = |prev: u64, terms: &[u64]| Message::AppendEntries {
        term: 1,
        leader: 0,
        prev_log_index: prev,
        prev_log_term: if prev == 0 { 0 } else { 1 },
        entries: sliced(terms),
        leader_commit: 0,
    };
    let mut follower = server(1, 1, None, (0, 0), &[]);
    // All new: shared, no copy.
    deliver(&mut follower, 0, request(0, &[1, 1]));
    assert_eq!(follower.log().last_index(), 2);
    assert!(within(&follower.log().entry(2).unwrap().command));
    // Entries 1-2 again plus a new 3: only 3 is kept, copied out of the frame.
    deliver(&mut follower, 0, request(0, &[1, 1, 1]));
    assert_eq!(follower.log().last_index(), 3);
    let kept = &follower.log().entry(3).unwrap().command;
    assert!(!within(kept), "a kept tail must not share the frame");
    assert_eq!(&kept[..], &[7u8; 10][..]);
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
    sync(&mut leader);
    let second = leader.step(Input::Propose(vec![2].into()));
    assert!(
        second.messages.is_empty(),
        "followers with a request in flight wait"
    );
    assert!(sync(&mut leader).messages.is_empty());
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
    sync(&mut leader);
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
    sync(&mut leader);
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

// ---- Message limits: bounded terms and indices, byte-capped batches, snapshot chunks ----

use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use message::MAX_INDEX_OR_TERM;

/// The size bound every message the core emits keeps: an AppendEntries of one entry may
/// only pass `max_bytes_per_message` if that entry alone does (none does in these tests).
fn assert_within_limits(config: &Config, message: &Message) {
    let len = message.encode().expect("within MAX_MESSAGE_BYTES").len();
    let limit = match message {
        Message::AppendEntries { .. } => config.max_bytes_per_message,
        Message::InstallSnapshot { .. } => config.snapshot_chunk_bytes + MESSAGE_OVERHEAD_BYTES,
        _ => MESSAGE_OVERHEAD_BYTES,
    };
    assert!(len <= limit, "a message of {len} bytes, over {limit}");
}

/// Cores wired by a FIFO network that loses every message to or from an `isolated`
/// server (which is also paused: it does not tick), each with its disk (every `Ready::persist` applied in order) to restart from.
/// Every message sent is checked against the size limits.
struct Harness {
    cores: Vec<Core>,
    configs: Vec<Config>,
    disks: Vec<(PersistentState, Arc<Vec<u8>>)>,
    network: VecDeque<(usize, Outgoing)>,
    isolated: Vec<bool>,
    /// Requests sent to each server.
    requests_to: Vec<usize>,
}

impl Harness {
    fn new(configs: Vec<Config>) -> Harness {
        let n = configs.len();
        Harness {
            cores: configs
                .iter()
                .map(|c| Core::new(c.clone()).unwrap())
                .collect(),
            configs,
            disks: vec![(PersistentState::default(), Arc::new(Vec::new())); n],
            network: VecDeque::new(),
            isolated: vec![false; n],
            requests_to: vec![0; n],
        }
    }

    fn step(&mut self, i: usize, input: Input) -> Ready {
        let mut ready = self.cores[i].step(input);
        if let Some(persist) = &ready.persist {
            let (state, snapshot) = &mut self.disks[i];
            persist.apply_to(state, snapshot).unwrap();
            // This harness's disk is synchronous: the write is durable at once, and the
            // core is told so (Raft thesis §10.2.1: only then does a leader count it).
            let synced = sync(&mut self.cores[i]);
            assert!(synced.persist.is_none(), "Persisted wrote persistent state");
            ready.messages.extend(synced.messages);
            ready.applies.extend(synced.applies);
        }
        for out in &ready.messages {
            assert_within_limits(&self.configs[i], &out.message);
            self.network.push_back((i, out.clone()));
        }
        ready
    }

    /// Delivers every message in flight, and those they cause, in order.
    fn deliver_all(&mut self) {
        for _ in 0..1_000_000 {
            let Some((from, out)) = self.network.pop_front() else {
                return;
            };
            if self.isolated[from] || self.isolated[out.to] {
                continue;
            }
            if out.message.is_request() {
                self.requests_to[out.to] += 1;
            }
            self.step(
                out.to,
                Input::Message {
                    from,
                    message: out.message,
                },
            );
        }
        panic!("the network never went quiet");
    }

    /// One tick on every server, then every message delivered.
    fn tick_all(&mut self) {
        for i in 0..self.cores.len() {
            if !self.isolated[i] {
                self.step(i, Input::Tick);
            }
        }
        self.deliver_all();
    }

    fn leaders(&self) -> Vec<usize> {
        (0..self.cores.len())
            .filter(|&i| self.cores[i].role() == Role::Leader)
            .collect()
    }

    /// Ticks until one server leads and every other agrees on its term; false if none
    /// does within `ticks`.
    fn elect(&mut self, ticks: usize) -> bool {
        for _ in 0..ticks {
            self.tick_all();
            if let [leader] = self.leaders()[..] {
                let term = self.cores[leader].current_term();
                if self.cores.iter().all(|c| c.current_term() == term) {
                    return true;
                }
            }
        }
        false
    }

    /// Server `i` crashes and restarts from the encoded bytes of its disk.
    fn restart(&mut self, i: usize) -> Result<(), String> {
        let (state, snapshot) = &self.disks[i];
        let bytes = state.encode().map_err(|e| format!("S{i}: encode: {e}"))?;
        let core = Core::restore(self.configs[i].clone(), &bytes, snapshot.as_ref().clone())
            .map_err(|e| format!("S{i}: restore: {e}"))?;
        self.cores[i] = core;
        Ok(())
    }
}

fn cluster_configs(servers: usize) -> Vec<Config> {
    (0..servers).map(|i| config(i, servers)).collect()
}

/// Issue 10's finding: one well-formed RequestVote of term 2^62 - 1 drove every server to
/// that term, the next election to 2^62 (dropped by every peer, refused by every state
/// encoder), so no leader was ever elected and no server could restart. Now the message is
/// malformed: the cluster elects a leader, and every server restarts from its disk.
// Reference: Figure 2 (currentTerm is persistent: what is written must read back)
#[test]
fn request_vote_at_the_term_limit_cannot_stop_elections_or_restarts() {
    let mut cluster = Harness::new(cluster_configs(3));
    let forged = |candidate| vote_request(MAX_INDEX_OR_TERM - 1, candidate, 0, 0);
    for (to, from) in [(0, 2), (1, 2), (2, 0)] {
        cluster.step(
            to,
            Input::Message {
                from,
                message: forged(from),
            },
        );
    }
    cluster.deliver_all();
    assert!(cluster.elect(1_000), "a leader is elected");
    let term = cluster.cores[cluster.leaders()[0]].current_term();
    assert!(term < 10, "term {term}");
    for i in 0..3 {
        cluster.restart(i).unwrap();
        assert_eq!(cluster.cores[i].current_term(), term);
    }
    assert!(cluster.elect(1_000), "a leader after the restarts");
}

/// A server at `MAX_TERM` accepts messages of that term but none later, and never
/// campaigns (there is no term left that peers accept and the encoder writes): its state
/// stays encodable.
// Reference: Figure 2 "Followers (§5.2)", bounded by message::MAX_TERM
#[test]
fn server_at_the_largest_term_does_not_campaign() {
    let state = PersistentState {
        current_term: MAX_TERM,
        ..PersistentState::default()
    };
    let mut follower = Core::recover(config(1, SERVERS), state, Arc::default()).unwrap();
    for _ in 0..3 * follower.config().election_timeout_ticks_max {
        let ready = follower.step(Input::Tick);
        assert!(ready.messages.is_empty() && ready.persist.is_none());
    }
    assert_eq!(follower.role(), Role::Follower);
    assert_eq!(follower.current_term(), MAX_TERM);
    let ready = deliver(&mut follower, 2, vote_request(MAX_TERM + 1, 2, 0, 0));
    assert_eq!(ready, Ready::default(), "a later term is malformed");
    let ready = deliver(&mut follower, 2, vote_request(MAX_TERM, 2, 0, 0));
    assert_eq!(
        only_reply(&ready),
        &Message::RequestVoteReply {
            term: MAX_TERM,
            vote_granted: true
        }
    );
    follower.persistent_state().encode().unwrap();
}

/// A leader whose log reaches the largest index refuses further commands rather than
/// write an index its state encoder refuses.
#[test]
fn proposal_past_the_largest_index_is_refused() {
    let state = PersistentState {
        current_term: 1,
        voted_for: None,
        snapshot_index: MAX_INDEX_OR_TERM - 2,
        snapshot_term: 1,
        entries: Vec::new(),
    };
    let mut leader = Core::recover(config(0, 1), state, Arc::new(vec![1])).unwrap();
    tick_until_candidate_or_leader(&mut leader);
    assert_eq!(leader.role(), Role::Leader);
    let ready = leader.step(Input::Propose(vec![1].into()));
    assert_eq!(ready.proposed, Some((MAX_INDEX_OR_TERM - 1, 2)));
    let ready = leader.step(Input::Propose(vec![2].into()));
    assert_eq!(ready.proposed, None);
    assert_eq!(leader.last_log_index(), MAX_INDEX_OR_TERM - 1);
    leader.encode_persistent_state().unwrap();
}

/// A command larger than `max_command_bytes` is refused; one of exactly that size is
/// accepted and its AppendEntries fits `max_bytes_per_message`.
#[test]
fn command_too_large_for_a_message_is_refused() {
    let mut leader = server(0, 1, None, (0, 0), &[]);
    make_leader(&mut leader);
    // Both followers answer the election's heartbeats: nothing is outstanding.
    deliver(&mut leader, 1, replication::accept(2, 0));
    deliver(&mut leader, 2, replication::accept(2, 0));
    let max = leader.config().max_command_bytes();
    assert_eq!(max, DEFAULT_MESSAGE_BYTES - MESSAGE_OVERHEAD_BYTES);
    let ready = leader.step(Input::Propose(vec![1; max + 1].into()));
    assert_eq!((ready.proposed, ready.persist), (None, None));
    assert!(ready.messages.is_empty());
    let ready = leader.step(Input::Propose(vec![1; max].into()));
    assert_eq!(ready.proposed, Some((1, 2)));
    assert_eq!(ready.messages.len(), SERVERS - 1);
    for out in &ready.messages {
        assert!(
            matches!(&out.message, Message::AppendEntries { entries, .. } if entries.len() == 1)
        );
        let len = out.message.encode().unwrap().len();
        assert!(len <= DEFAULT_MESSAGE_BYTES, "{len}");
    }
}

/// AppendEntries stop at the byte cap: 300 KiB commands go three to a 1 MiB message.
// Reference: issue 10 ("entries batched by bytes")
#[test]
fn append_entries_are_cut_at_the_byte_limit() {
    let mut leader = server(0, 1, None, (0, 0), &[]);
    make_leader(&mut leader);
    deliver(&mut leader, 1, replication::accept(2, 0));
    for k in 0..10u8 {
        leader.step(Input::Propose(vec![k; 300 << 10].into()));
    }
    // Follower 2 has answered nothing since the election: its first reply triggers the
    // send of everything it lacks, from index 1.
    let ready = deliver(&mut leader, 2, replication::accept(2, 0));
    let Message::AppendEntries { entries, .. } = only_reply(&ready) else {
        panic!("expected AppendEntries");
    };
    assert_eq!(entries.len(), 3);
    assert_within_limits(leader.config(), only_reply(&ready));
}

/// A follower 512 entries of 60 KiB (30 MiB) behind catches up in messages under the
/// 1 MiB limit (about 17 entries each), not in one 30 MiB message.
#[test]
fn far_behind_follower_catches_up_in_messages_under_the_limit() {
    let mut cluster = Harness::new(cluster_configs(3));
    assert!(cluster.elect(1_000));
    let leader = cluster.leaders()[0];
    let behind = (leader + 1) % 3;
    cluster.isolated[behind] = true;
    for k in 0..512u32 {
        let mut command = vec![0; 60 << 10];
        command[..4].copy_from_slice(&k.to_le_bytes());
        let ready = cluster.step(leader, Input::Propose(command.into()));
        assert!(ready.proposed.is_some());
        cluster.deliver_all();
    }
    assert_eq!(cluster.cores[leader].commit_index(), 512);
    cluster.isolated[behind] = false;
    let before = cluster.requests_to[behind];
    for _ in 0..100 {
        cluster.tick_all();
        if cluster.cores[behind].commit_index() == 512 {
            break;
        }
    }
    assert_eq!(cluster.cores[behind].log(), cluster.cores[leader].log());
    assert_eq!(cluster.cores[behind].commit_index(), 512);
    let requests = cluster.requests_to[behind] - before;
    assert!(requests >= 512 / 17, "{requests} requests");
}

/// A restored leader of `(10, 1)` with `data`, and a fresh follower; the leader is told the
/// follower's log is empty, so its next request is the first chunk.
fn snapshot_transfer(data: Vec<u8>, chunk: usize) -> (Core, Core, Vec<Outgoing>) {
    let state = PersistentState {
        current_term: 1,
        voted_for: None,
        snapshot_index: 10,
        snapshot_term: 1,
        entries: Vec::new(),
    };
    let leader_config = Config {
        snapshot_chunk_bytes: chunk,
        ..config(0, SERVERS)
    };
    let mut leader = Core::recover(leader_config, state, Arc::new(data)).unwrap();
    make_leader(&mut leader);
    let follower = Core::new(config(1, SERVERS)).unwrap();
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
    (leader, follower, ready.messages)
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.gen()).collect()
}

/// A 5 MiB snapshot in 1 MiB chunks: five requests, each sent on the previous one's reply,
/// each within the limit; the follower installs it (and only then) on the fifth.
// Reference: Figure 13, InstallSnapshot receiver rules 2-5
#[test]
fn five_mib_snapshot_installs_after_five_chunk_round_trips() {
    const MIB: usize = 1 << 20;
    let data = pattern(5, 5 * MIB);
    let (mut leader, mut follower, mut requests) = snapshot_transfer(data.clone(), MIB);
    let mut offsets = Vec::new();
    let mut installed = None;
    while let [request] = &requests[..] {
        let request = request.message.clone();
        let Message::InstallSnapshot {
            offset,
            data: ref chunk,
            done,
            ..
        } = request
        else {
            panic!("expected a chunk: {request:?}");
        };
        assert!(installed.is_none(), "a chunk after the install");
        // Five chunks make the snapshot: a transfer that starts over for ever fails here.
        assert!(
            offsets.len() < 5,
            "a sixth chunk: offsets {offsets:?}, then {offset}"
        );
        assert_eq!(chunk.len(), MIB);
        assert_eq!(done, offset as usize + MIB == data.len());
        assert_within_limits(leader.config(), &request);
        offsets.push(offset);
        let ready = deliver(&mut follower, 0, request);
        assert_eq!(ready.applies.is_empty(), !done, "applies only on done");
        installed = ready.applies.first().cloned();
        let reply = only_reply(&ready).clone();
        requests = deliver(&mut leader, 1, reply).messages;
        if done {
            break;
        }
    }
    assert_eq!(offsets, [0, 1, 2, 3, 4].map(|k| (k * MIB) as u64));
    assert_eq!(
        installed,
        Some(Apply::Snapshot {
            index: 10,
            term: 1,
            data: Arc::new(data.clone())
        })
    );
    assert_eq!(follower.snapshot_data().as_slice(), data.as_slice());
    assert_eq!(
        (leader.match_index(1), leader.next_index(1)),
        (Some(10), Some(11))
    );
}

/// Delivers `request` to `follower` and its reply to `leader`; returns the follower's
/// applies and the leader's next requests.
fn chunk_round_trip(
    leader: &mut Core,
    follower: &mut Core,
    request: Message,
) -> (Vec<Apply>, Vec<Outgoing>) {
    let ready = deliver(follower, 0, request);
    let reply = only_reply(&ready).clone();
    (ready.applies, deliver(leader, 1, reply).messages)
}

fn chunk_offset(requests: &[Outgoing]) -> u64 {
    match requests {
        [Outgoing {
            message: Message::InstallSnapshot { offset, .. },
            ..
        }] => *offset,
        other => panic!("expected one chunk: {other:?}"),
    }
}

/// A follower that restarts in the middle of a transfer has lost its partial snapshot
/// (volatile): its reply to the next chunk says it holds nothing, and the leader starts
/// over at offset 0 at once.
// Reference: Figure 13 rules 2-4 (a chunk past offset 0 of no held snapshot is not written)
#[test]
fn follower_restart_mid_transfer_starts_over() {
    let data = pattern(7, 3_500);
    let (mut leader, mut follower, mut requests) = snapshot_transfer(data.clone(), 1_000);
    for expected in [0, 1_000] {
        assert_eq!(chunk_offset(&requests), expected);
        let request = requests[0].message.clone();
        (_, requests) = chunk_round_trip(&mut leader, &mut follower, request);
    }
    assert_eq!(chunk_offset(&requests), 2_000);
    let restarted = PersistentState {
        current_term: follower.current_term(),
        ..PersistentState::default()
    };
    follower = Core::recover(config(1, SERVERS), restarted, Arc::default()).unwrap();
    let request = requests[0].message.clone();
    let (applies, next) = chunk_round_trip(&mut leader, &mut follower, request);
    assert!(applies.is_empty());
    requests = next;
    let mut installed = Vec::new();
    for expected in [0, 1_000, 2_000, 3_000] {
        assert_eq!(chunk_offset(&requests), expected);
        let request = requests[0].message.clone();
        (installed, requests) = chunk_round_trip(&mut leader, &mut follower, request);
    }
    assert_eq!(
        installed,
        [Apply::Snapshot {
            index: 10,
            term: 1,
            data: Arc::new(data)
        }]
    );
    assert_eq!(leader.match_index(1), Some(10));
}

/// Chunks lost, duplicated and reordered, and a second leader (a later term) sending
/// other bytes for the same snapshot `(10, 1)`: whatever the schedule, the follower only
/// ever installs one leader's snapshot byte for byte, and once the network stops losing
/// messages it installs one. Seeds: `RAFT_CHUNK_SEED=S` runs one.
#[test]
fn lost_duplicated_reordered_chunks_never_install_a_wrong_snapshot() {
    let seeds: Vec<u64> = match std::env::var("RAFT_CHUNK_SEED") {
        Ok(seed) => vec![seed.parse().expect("RAFT_CHUNK_SEED is a u64")],
        Err(_) => (0..40).collect(),
    };
    for seed in seeds {
        if let Err(panic) = std::panic::catch_unwind(|| chunk_schedule(seed)) {
            eprintln!("chunk schedule failed with RAFT_CHUNK_SEED={seed}");
            std::panic::resume_unwind(panic);
        }
    }
}

fn chunk_schedule(seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let a = pattern(seed * 2, 10_000);
    let b = pattern(seed * 2 + 1, 9_500);
    let (first, mut follower, sent) = snapshot_transfer(a.clone(), 1_000);
    // The second leader: server 2, a term later, its own bytes for the same snapshot.
    let state = PersistentState {
        current_term: 2,
        voted_for: None,
        snapshot_index: 10,
        snapshot_term: 1,
        entries: Vec::new(),
    };
    let second_config = Config {
        snapshot_chunk_bytes: 700,
        ..config(2, SERVERS)
    };
    let mut second = Core::recover(second_config, state, Arc::new(b.clone())).unwrap();
    make_leader(&mut second);
    assert_eq!(second.current_term(), 3);
    let mut leaders = [Some(first), None];
    let mut second = Some(second);
    let start_second = rng.gen_range(0..400);
    // (from, message) in flight; follower is server 1, the leaders servers 0 and 2.
    let mut network: Vec<(usize, Outgoing)> = sent.into_iter().map(|o| (0, o)).collect();
    let mut installs = Vec::new();
    for step in 0..3_000 {
        let lossy = step < 1_500;
        if step == start_second {
            leaders[1] = second.take();
        }
        match rng.gen_range(0..10) {
            0 | 1 => {
                // A heartbeat tick on each leader (resends an unanswered chunk).
                // A deposed leader is not ticked: its campaign is not what is tested.
                for (k, leader) in leaders.iter_mut().enumerate() {
                    if let Some(leader) = leader.as_mut().filter(|l| l.role() == Role::Leader) {
                        let ready = leader.step(Input::Tick);
                        let to_follower = ready.messages.into_iter().filter(|o| o.to == 1);
                        network.extend(to_follower.map(|o| (2 * k, o)));
                    }
                }
            }
            2 if lossy && !network.is_empty() => {
                let k = rng.gen_range(0..network.len());
                network.swap_remove(k);
            }
            3 if lossy && !network.is_empty() => {
                let k = rng.gen_range(0..network.len());
                network.push(network[k].clone());
            }
            _ if !network.is_empty() => {
                // Reordering while lossy; in order afterwards.
                let k = if lossy {
                    rng.gen_range(0..network.len())
                } else {
                    0
                };
                let (from, out) = network.remove(k);
                let ready = match out.to {
                    1 => deliver(&mut follower, from, out.message),
                    to => match &mut leaders[to / 2] {
                        Some(leader) => deliver(leader, from, out.message),
                        None => continue,
                    },
                };
                for apply in &ready.applies {
                    let Apply::Snapshot { data, .. } = apply else {
                        panic!("only a snapshot is committed here: {apply:?}");
                    };
                    assert!(
                        data.as_slice() == a.as_slice() || data.as_slice() == b.as_slice(),
                        "seed {seed}: installed a snapshot of {} bytes that is neither leader's",
                        data.len()
                    );
                    installs.push(data.len());
                }
                // Only traffic between the follower and a leader is kept.
                let me = out.to;
                network.extend(
                    ready
                        .messages
                        .into_iter()
                        .filter(|o| me == 1 || o.to == 1)
                        .map(|o| (me, o)),
                );
            }
            _ => {}
        }
    }
    assert!(!installs.is_empty(), "seed {seed}: never installed");
    assert_eq!(follower.snapshot_index(), 10);
    let held = follower.snapshot_data();
    assert!(held.as_slice() == a.as_slice() || held.as_slice() == b.as_slice());
}

/// The message size settings are validated: no room for a command, a message or chunk
/// larger than any decoder takes, or an empty chunk is an error.
#[test]
fn message_size_settings_are_validated() {
    let base = Config::new(0, 3, 1);
    let max = MAX_MESSAGE_BYTES as usize;
    for bytes in [0, MESSAGE_OVERHEAD_BYTES, max + 1] {
        let config = Config {
            max_bytes_per_message: bytes,
            ..base.clone()
        };
        assert_eq!(
            config.validate(),
            Err(ConfigError::MessageBytes {
                bytes,
                min: MESSAGE_OVERHEAD_BYTES + 1,
                max
            })
        );
    }
    for bytes in [0, max - MESSAGE_OVERHEAD_BYTES + 1] {
        let config = Config {
            snapshot_chunk_bytes: bytes,
            ..base.clone()
        };
        assert_eq!(
            config.validate(),
            Err(ConfigError::SnapshotChunkBytes {
                bytes,
                max: max - MESSAGE_OVERHEAD_BYTES
            })
        );
    }
    let smallest = Config {
        max_bytes_per_message: MESSAGE_OVERHEAD_BYTES + 1,
        snapshot_chunk_bytes: 1,
        ..base
    };
    assert_eq!(smallest.validate(), Ok(()));
    assert_eq!(smallest.max_command_bytes(), 1);
}

/// What one server's service has applied: the command of every index up to its last.
fn decode_values(bytes: &[u8]) -> Vec<u32> {
    assert_eq!(bytes.len() % 4, 0, "a snapshot of whole values");
    bytes
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn encode_values(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Random runs of three servers with small messages (200 bytes) and 7-byte snapshot
/// chunks, so that every InstallSnapshot of more than one value is several chunks: ticks,
/// proposals, service snapshots, crashes and restarts, and a network that loses,
/// duplicates and reorders. Every message stays within its limit; every server applies,
/// entry by entry or through a snapshot assembled from chunks, the same value at each
/// index (State Machine Safety); after the network heals, all servers catch up. Seeds:
/// `RAFT_CHUNK_RUN_SEED=S` runs one.
// Reference: Figure 3 (State Machine Safety), Figure 13
#[test]
fn chunked_snapshots_keep_state_machine_safety_in_random_runs() {
    let seeds: Vec<u64> = match std::env::var("RAFT_CHUNK_RUN_SEED") {
        Ok(seed) => vec![seed.parse().expect("RAFT_CHUNK_RUN_SEED is a u64")],
        Err(_) => (0..12).collect(),
    };
    let mut installs = 0;
    for seed in seeds {
        match std::panic::catch_unwind(|| chunked_run(seed)) {
            Ok(n) => installs += n,
            Err(panic) => {
                eprintln!("chunked run failed with RAFT_CHUNK_RUN_SEED={seed}");
                std::panic::resume_unwind(panic);
            }
        }
    }
    assert!(installs > 0, "no snapshot was ever installed from chunks");
}

/// One run; returns how many snapshots were installed from the leader.
fn chunked_run(seed: u64) -> usize {
    const N: usize = 3;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let configs: Vec<Config> = (0..N)
        .map(|i| Config {
            max_bytes_per_message: 200,
            snapshot_chunk_bytes: 7,
            election_timeout_ticks_min: 10,
            election_timeout_ticks_max: 20,
            heartbeat_interval_ticks: 3,
            ..Config::new(i, N, seed * 10 + i as u64)
        })
        .collect();
    let mut cores: Vec<Core> = configs
        .iter()
        .map(|c| Core::new(c.clone()).unwrap())
        .collect();
    let mut disks = vec![(PersistentState::default(), Arc::new(Vec::<u8>::new())); N];
    let mut applied: Vec<Vec<u32>> = vec![Vec::new(); N];
    let mut up = [true; N];
    // The value committed at each index (position + 1), as first applied anywhere.
    let mut committed: Vec<u32> = Vec::new();
    let mut network: Vec<(usize, Outgoing)> = Vec::new();
    let mut proposals = 0u32;
    let mut snapshot_installs = 0;
    let steps = 8_000;
    let mut caught_up = false;
    let mut budget = 200;
    for step in 0..steps + 4_000 {
        // Then no loss, no crash, in order: everyone must catch up. A few more proposals
        // let a new leader commit what earlier terms left uncommitted (Figure 8: it only
        // commits an entry of its own term by counting).
        let calm = step >= steps;
        if step == steps {
            budget = proposals + 3;
        }
        if calm {
            up = [true; N];
            let commit = cores[0].commit_index();
            if network.is_empty() && cores.iter().all(|c| c.commit_index() == commit) {
                caught_up = true;
                break;
            }
        }
        let (i, input) = match rng.gen_range(0..100) {
            0..=29 => (rng.gen_range(0..N), Input::Tick),
            30 if !calm && up.iter().all(|&u| u) => {
                let i = rng.gen_range(0..N);
                // A crash: the core and its service restart from the disk.
                let (state, snapshot) = &disks[i];
                cores[i] = Core::restore(
                    configs[i].clone(),
                    &state.encode().unwrap(),
                    snapshot.as_ref().clone(),
                )
                .unwrap();
                applied[i] = decode_values(snapshot);
                up[i] = false;
                continue;
            }
            31..=33 => {
                let i = rng.gen_range(0..N);
                up[i] = true;
                continue;
            }
            34..=43 if proposals < budget => {
                let i = rng.gen_range(0..N);
                if cores[i].role() != Role::Leader {
                    continue;
                }
                proposals += 1;
                (i, Input::Propose(proposals.to_le_bytes().to_vec().into()))
            }
            44..=47 => {
                let i = rng.gen_range(0..N);
                let index = rng.gen_range(0..=applied[i].len());
                let data = encode_values(&applied[i][..index]);
                (
                    i,
                    Input::Snapshot {
                        index: index as u64,
                        data,
                    },
                )
            }
            48..=52 if !calm && !network.is_empty() => {
                let k = rng.gen_range(0..network.len());
                network.swap_remove(k);
                continue;
            }
            53..=55 if !calm && !network.is_empty() => {
                let k = rng.gen_range(0..network.len());
                network.push(network[k].clone());
                continue;
            }
            _ if !network.is_empty() => {
                let k = if calm {
                    0
                } else {
                    rng.gen_range(0..network.len())
                };
                let (from, out) = network.remove(k);
                let input = Input::Message {
                    from,
                    message: out.message,
                };
                (out.to, input)
            }
            _ => continue,
        };
        if !up[i] {
            continue;
        }
        let mut ready = cores[i].step(input);
        if let Some(persist) = &ready.persist {
            let (state, snapshot) = &mut disks[i];
            persist.apply_to(state, snapshot).unwrap();
            // A synchronous disk: durable at once, and the core is told (§10.2.1).
            let synced = sync(&mut cores[i]);
            ready.messages.extend(synced.messages);
            ready.applies.extend(synced.applies);
        }
        for out in ready.messages {
            assert_within_limits(&configs[i], &out.message);
            network.push((i, out));
        }
        for apply in ready.applies {
            let first_new = match apply {
                Apply::Entry { index, command, .. } => {
                    assert_eq!(index, applied[i].len() as u64 + 1, "seed {seed}: S{i} gap");
                    applied[i].push(u32::from_le_bytes(command[..].try_into().unwrap()));
                    index as usize - 1
                }
                Apply::Snapshot { index, data, .. } => {
                    snapshot_installs += 1;
                    let values = decode_values(&data);
                    assert_eq!(values.len() as u64, index, "seed {seed}: S{i} snapshot");
                    applied[i] = values;
                    0
                }
            };
            for (k, &value) in applied[i].iter().enumerate().skip(first_new) {
                match committed.get(k) {
                    Some(&c) => assert_eq!(c, value, "seed {seed}: S{i} index {}", k + 1),
                    None => committed.push(value),
                }
            }
        }
    }
    let last = committed.len();
    assert!(last >= 20, "seed {seed}: only {last} entries committed");
    for (i, values) in applied.iter().enumerate() {
        assert_eq!(values.len(), cores[i].commit_index() as usize);
    }
    let commits: Vec<u64> = cores.iter().map(|c| c.commit_index()).collect();
    assert!(
        caught_up,
        "seed {seed}: servers did not catch up: {commits:?} ({snapshot_installs} installs)"
    );
    snapshot_installs
}

/// The rejection of a stale InstallSnapshot claims nothing about the follower's log. The
/// old leader may lead the rejection's (later) term by the time it arrives; if the reply
/// echoed the request's `last_included_index`, IS9 would count the follower as holding the
/// snapshot, and L2 (which never backs `next_index` below `match_index + 1`) could then
/// never send it the snapshot again: the follower would be stuck behind for the term.
// Reference: Figure 2 "All Servers" (stale request rejected with the current term); IS9
#[test]
fn a_stale_install_snapshot_rejection_claims_nothing() {
    let mut follower = server(1, 3, None, (0, 0), &[]);
    let ready = deliver(
        &mut follower,
        0,
        Message::InstallSnapshot {
            term: 2,
            leader: 0,
            last_included_index: 2,
            last_included_term: 1,
            offset: 0,
            data: vec![9, 9],
            done: true,
        },
    );
    let rejection = only_reply(&ready).clone();
    assert_eq!(rejection.term(), 3);
    assert_eq!(follower.snapshot_index(), 0);
    // The sender of the stale request, now leader of term 3, reads the rejection.
    let mut leader = server(0, 2, None, (2, 1), &[1]);
    make_leader(&mut leader);
    assert_eq!(leader.current_term(), 3);
    deliver(&mut leader, 1, rejection);
    assert_eq!(leader.match_index(1), Some(0), "the follower holds nothing");
    // Its AppendEntries rejection can still back next_index into the snapshot.
    let ready = deliver(
        &mut leader,
        1,
        Message::AppendEntriesReply {
            term: 3,
            success: false,
            match_index: 0,
            conflict_index: 1,
            conflict_term: None,
        },
    );
    assert!(matches!(
        only_reply(&ready),
        Message::InstallSnapshot { .. }
    ));
}

//! Pipelined replication (`Config::max_inflight_appends`, rule L5 of `docs/protocol.md`):
//! up to `k` AppendEntries with entries outstanding per follower, `next_index` advanced
//! optimistically on send, a lost request recovered through one rejection, reordered
//! replies harmless, and a window of 1 unchanged from Figure 2 as written.

use super::*;

const SERVERS: usize = 3;

/// Server 0 of three, elected in term 2 with an empty log and both followers idle (their
/// heartbeat replies are in), with a window of `window` AppendEntries per follower.
fn leader_with_window(window: usize) -> Core {
    leader_with_config(Config {
        max_inflight_appends: window,
        ..Config::new(0, SERVERS, 11)
    })
}

/// [`leader_with_window`] with any configuration.
fn leader_with_config(config: Config) -> Core {
    let mut core = elected(restore(config, (0, 0), &[]));
    for peer in [1, 2] {
        deliver(&mut core, peer, replication::accept(2, 0));
    }
    core
}

/// `core` after it wins an election (its first heartbeats are outstanding).
fn elected(mut core: Core) -> Core {
    for _ in 0..=core.config().election_timeout_ticks_max {
        core.step(Input::Tick);
        if core.role() == Role::Candidate {
            break;
        }
    }
    let term = core.current_term();
    for peer in [1, 2] {
        if core.role() == Role::Candidate {
            deliver(
                &mut core,
                peer,
                Message::RequestVoteReply {
                    term,
                    vote_granted: true,
                },
            );
        }
    }
    assert_eq!(core.role(), Role::Leader);
    core
}

fn restored(id: usize, window: usize, snapshot: (u64, u64), log_terms: &[u64]) -> Core {
    let config = Config {
        max_inflight_appends: window,
        ..Config::new(id, SERVERS, 11 + id as u64)
    };
    restore(config, snapshot, log_terms)
}

fn restore(config: Config, snapshot: (u64, u64), log_terms: &[u64]) -> Core {
    let state = PersistentState {
        current_term: 1,
        voted_for: None,
        snapshot_index: snapshot.0,
        snapshot_term: snapshot.1,
        entries: log_terms
            .iter()
            .map(|&term| Entry {
                term,
                command: vec![0].into(),
            })
            .collect(),
    };
    Core::restore(
        config,
        &state.encode().unwrap(),
        vec![9; snapshot.0 as usize],
    )
    .unwrap()
}

fn deliver(core: &mut Core, from: usize, message: Message) -> Ready {
    core.step(Input::Message { from, message })
}

fn propose(core: &mut Core, value: u8) -> Ready {
    let ready = core.step(Input::Propose(vec![value].into()));
    assert!(ready.proposed.is_some(), "the leader accepts the proposal");
    ready
}

/// The messages of `ready` addressed to `peer`.
fn to(ready: &Ready, peer: usize) -> Vec<Message> {
    ready
        .messages
        .iter()
        .filter(|m| m.to == peer)
        .map(|m| m.message.clone())
        .collect()
}

/// `(prev_log_index, number of entries)` of an AppendEntries.
fn shape(message: &Message) -> (u64, usize) {
    match message {
        Message::AppendEntries {
            prev_log_index,
            entries,
            ..
        } => (*prev_log_index, entries.len()),
        other => panic!("expected AppendEntries, got {other:?}"),
    }
}

/// With a window of `k`, `k` proposals each send their entry at once, each request
/// starting after the previous one (optimistic `next_index`); the `k+1`-th waits for a
/// reply, and the reply releases one slot for the entries that waited.
// Reference: none (pipelining: raft-rs `ProgressState::Replicate`, etcd `Inflights`)
#[test]
fn k_requests_go_out_without_replies_and_the_next_one_waits() {
    const K: usize = 3;
    let mut leader = leader_with_window(K);
    for value in 1..=K as u8 {
        let ready = propose(&mut leader, value);
        let sent = to(&ready, 1);
        assert_eq!(sent.len(), 1, "request {value} goes out without a reply");
        assert_eq!(shape(&sent[0]), (u64::from(value) - 1, 1));
        assert_eq!(leader.next_index(1), Some(u64::from(value) + 1));
        assert_eq!(
            leader.match_index(1),
            Some(0),
            "only a reply moves match_index"
        );
    }
    let held = propose(&mut leader, 4);
    assert!(to(&held, 1).is_empty(), "the window of {K} is full");
    assert_eq!(leader.next_index(1), Some(4));
    // The reply to the first request frees one slot: the held entry goes, after the third.
    let ready = deliver(&mut leader, 1, replication::accept(2, 1));
    assert_eq!(leader.match_index(1), Some(1));
    let sent = to(&ready, 1);
    assert_eq!(sent.len(), 1);
    assert_eq!(shape(&sent[0]), (3, 1));
    assert_eq!(leader.next_index(1), Some(5));
}

/// A request lost between two delivered ones: the follower rejects the later one (its log
/// is too short), the rejection backs `next_index` up to the gap and resets the window,
/// and the resent request carries everything from the gap on.
// Reference: Figure 2 AppendEntries rule 2 (the consistency check) and §5.3 (back-up)
#[test]
fn a_request_lost_in_the_middle_is_recovered_by_one_rejection() {
    let mut leader = leader_with_window(3);
    let mut follower = restored(1, 3, (0, 0), &[]);
    let requests: Vec<Message> = (1..=3)
        .map(|v| to(&propose(&mut leader, v), 1).remove(0))
        .collect();
    let first = deliver(&mut follower, 0, requests[0].clone());
    // requests[1] is lost.
    let third = deliver(&mut follower, 0, requests[2].clone());
    assert_eq!(
        follower.last_log_index(),
        1,
        "the third request fails the check"
    );
    deliver(&mut leader, 1, first.messages[0].message.clone());
    assert_eq!(leader.match_index(1), Some(1));
    let rejection = third.messages[0].message.clone();
    assert!(matches!(
        rejection,
        Message::AppendEntriesReply {
            success: false,
            conflict_index: 2,
            ..
        }
    ));
    let resend = deliver(&mut leader, 1, rejection);
    assert_eq!(leader.match_index(1), Some(1));
    let sent = to(&resend, 1);
    assert_eq!(
        sent.len(),
        1,
        "the rejection sends the missing entries at once"
    );
    assert_eq!(
        shape(&sent[0]),
        (1, 2),
        "from the gap to the end of the log"
    );
    assert_eq!(leader.next_index(1), Some(4));
    // The window was reset: two more proposals go out although no success reply came.
    for value in 4..=5 {
        assert_eq!(to(&propose(&mut leader, value), 1).len(), 1);
    }
    let ready = deliver(&mut follower, 0, sent[0].clone());
    assert_eq!(follower.last_log_index(), 3);
    deliver(&mut leader, 1, ready.messages[0].message.clone());
    assert_eq!(leader.match_index(1), Some(3));
}

/// Replies to pipelined requests may arrive in any order (or twice): `match_index` and
/// `next_index` never move backwards.
// Reference: Figure 2 (matchIndex "increases monotonically"); protocol.md rule L1
#[test]
fn reordered_replies_never_move_match_index_backwards() {
    let mut leader = leader_with_window(3);
    for value in 1..=3 {
        propose(&mut leader, value);
    }
    for (match_index, expected) in [(3, 3), (1, 3), (2, 3), (3, 3)] {
        deliver(&mut leader, 1, replication::accept(2, match_index));
        assert_eq!(leader.match_index(1), Some(expected));
        assert_eq!(leader.next_index(1), Some(4));
    }
}

/// With a window of 1 (the default) nothing changes: `next_index` moves only on replies
/// and a second proposal waits for the first request's reply.
// Reference: Figure 2 (nextIndex, one request at a time)
#[test]
fn a_window_of_one_is_figure_2_as_written() {
    let mut leader = leader_with_window(1);
    let first = propose(&mut leader, 1);
    assert_eq!(shape(&to(&first, 1)[0]), (0, 1));
    assert_eq!(leader.next_index(1), Some(1), "not advanced on send");
    assert!(
        to(&propose(&mut leader, 2), 1).is_empty(),
        "waits for the reply"
    );
    let ready = deliver(&mut leader, 1, replication::accept(2, 1));
    assert_eq!(shape(&to(&ready, 1)[0]), (1, 1));
    assert_eq!(
        leader.next_index(1),
        Some(2),
        "the reply moved it, not the send"
    );
}

/// Why the node's default window is larger than 1: the commit that answers one proposal
/// sends every follower an AppendEntries with the new commit index (and no entries), and
/// with a window of 1 that request fills the window, so the next proposal waits a round
/// trip for its reply before its entry can leave. A window of 2 sends it at once
/// (`NodeConfig::max_inflight_appends`, docs/performance.md §7).
// Reference: §5.3 (the leader tells followers its commit index in AppendEntries)
#[test]
fn the_commit_notice_fills_a_window_of_one_but_not_of_two() {
    for (window, next_goes_at_once) in [(1, false), (2, true)] {
        let mut leader = leader_with_window(window);
        propose(&mut leader, 1);
        leader.step(Input::Persisted { index: 1, term: 2 });
        let commit = deliver(&mut leader, 1, replication::accept(2, 1));
        assert_eq!(leader.commit_index(), 1);
        let notice = to(&commit, 1);
        assert_eq!(notice.len(), 1, "window {window}: the commit notice goes");
        assert_eq!(shape(&notice[0]), (1, 0), "it carries no entries");
        let next = propose(&mut leader, 2);
        assert_eq!(
            !to(&next, 1).is_empty(),
            next_goes_at_once,
            "window {window}: does the next entry leave before the notice is answered?"
        );
    }
}

/// A full window does not hold back the heartbeat (§5.2: it keeps followers from timing
/// out); it starts at `next_index`, after the requests outstanding.
// Reference: §5.2 (heartbeats)
#[test]
fn heartbeats_go_out_with_a_full_window() {
    // Requests outstanding do not time out before the heartbeat is due: the window is
    // still full when it goes.
    let mut leader = leader_with_config(Config {
        max_inflight_appends: 2,
        in_flight_timeout_ticks: 100,
        ..Config::new(0, SERVERS, 11)
    });
    propose(&mut leader, 1);
    propose(&mut leader, 2);
    assert!(to(&propose(&mut leader, 3), 1).is_empty());
    let mut heartbeat = None;
    for _ in 0..leader.config().heartbeat_interval_ticks {
        let ready = leader.step(Input::Tick);
        if !ready.messages.is_empty() {
            heartbeat = Some(ready);
        }
    }
    let heartbeat = heartbeat.expect("a heartbeat is due");
    let sent = to(&heartbeat, 1);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        shape(&sent[0]),
        (2, 1),
        "after the two requests outstanding"
    );
}

/// A heartbeat forced out with the window full counts as a request: the reply to one of
/// the two does not open a window of 1 while the other is still out (it did, and a leader
/// with a window of 1 then kept two requests in flight and re-sent its outstanding entries
/// on every reply: 10.2 messages per 1-client write instead of 8 on the latency bench).
// Reference: none (flow control)
#[test]
fn a_forced_heartbeat_is_counted_in_the_window() {
    let mut leader = leader_with_config(Config {
        max_inflight_appends: 1,
        in_flight_timeout_ticks: 100,
        ..Config::new(0, SERVERS, 11)
    });
    assert_eq!(shape(&to(&propose(&mut leader, 1), 1)[0]), (0, 1));
    let mut heartbeat = None;
    for _ in 0..leader.config().heartbeat_interval_ticks {
        let ready = leader.step(Input::Tick);
        if !to(&ready, 1).is_empty() {
            heartbeat = Some(ready);
        }
    }
    let heartbeat = heartbeat.expect("a heartbeat is due");
    assert_eq!(
        shape(&to(&heartbeat, 1)[0]),
        (0, 1),
        "forced, with the entry"
    );
    // The heartbeat's reply comes first: the first request is still out.
    deliver(&mut leader, 1, replication::accept(2, 1));
    assert!(
        to(&propose(&mut leader, 2), 1).is_empty(),
        "a window of 1 with one request still out is full"
    );
    // The first request's reply releases the window.
    let ready = deliver(&mut leader, 1, replication::accept(2, 1));
    assert_eq!(shape(&to(&ready, 1)[0]), (1, 1));
}

/// The count passes the window by one forced heartbeat at most: a heartbeat still
/// unanswered when the next is forced is presumed lost, and the new one stands in for it.
/// After two heartbeats forced past a window of 1, the replies to the request, to one
/// heartbeat and to the commit notice empty the window (counting both heartbeats would
/// leave it full).
// Reference: none (flow control)
#[test]
fn an_unanswered_heartbeat_is_replaced_by_the_next() {
    let mut leader = leader_with_config(Config {
        max_inflight_appends: 1,
        in_flight_timeout_ticks: 100,
        ..Config::new(0, SERVERS, 11)
    });
    assert_eq!(shape(&to(&propose(&mut leader, 1), 1)[0]), (0, 1));
    let mut heartbeats = 0;
    for _ in 0..2 * leader.config().heartbeat_interval_ticks {
        if !to(&leader.step(Input::Tick), 1).is_empty() {
            heartbeats += 1;
        }
    }
    assert_eq!(heartbeats, 2, "two heartbeats forced past the full window");
    leader.step(Input::Persisted { index: 1, term: 2 });
    // The first reply commits entry 1; the window, still full, holds back the notice.
    let ready = deliver(&mut leader, 1, replication::accept(2, 1));
    assert_eq!(leader.commit_index(), 1);
    assert!(to(&ready, 1).is_empty(), "full: no commit notice yet");
    // The second opens it for the notice (the reply-driven send)...
    let ready = deliver(&mut leader, 1, replication::accept(2, 1));
    assert_eq!(shape(&to(&ready, 1)[0]), (1, 0), "the commit notice");
    // ...whose reply leaves nothing outstanding: the next entry goes at once.
    assert!(to(&deliver(&mut leader, 1, replication::accept(2, 1)), 1).is_empty());
    assert_eq!(
        shape(&to(&propose(&mut leader, 2), 1)[0]),
        (1, 1),
        "the first heartbeat was presumed lost: the window is empty"
    );
}

/// Ticks `leader` until it forces a heartbeat out to follower 1; returns what went to 1.
fn tick_to_heartbeat(leader: &mut Core) -> Vec<Message> {
    for _ in 0..leader.config().heartbeat_interval_ticks {
        let sent = to(&leader.step(Input::Tick), 1);
        if !sent.is_empty() {
            return sent;
        }
    }
    panic!("no heartbeat within a heartbeat interval");
}

/// A reply frees one slot, and the send it drives asks the window like any other: with a
/// full window plus a forced heartbeat out, the first reply leaves the window full and the
/// entry proposed meanwhile waits for the second (it went at once, and the leader then kept
/// `window + 1` requests in flight for as long as the follower stayed behind).
// Reference: none (flow control; §5.2 forces the heartbeat)
#[test]
fn a_reply_driven_send_waits_while_a_forced_heartbeat_fills_the_window() {
    for window in [1, 2] {
        let mut leader = leader_with_config(Config {
            max_inflight_appends: window,
            in_flight_timeout_ticks: 100,
            ..Config::new(0, SERVERS, 11)
        });
        for value in 1..=window as u8 {
            assert_eq!(to(&propose(&mut leader, value), 1).len(), 1);
        }
        assert_eq!(
            tick_to_heartbeat(&mut leader).len(),
            1,
            "forced past the window"
        );
        let held = window as u8 + 1;
        assert!(
            to(&propose(&mut leader, held), 1).is_empty(),
            "window {window}: full"
        );
        // The first request's reply: `window` requests are still out (the heartbeat too).
        let ready = deliver(&mut leader, 1, replication::accept(2, 1));
        assert_eq!(leader.match_index(1), Some(1));
        assert!(
            to(&ready, 1).is_empty(),
            "window {window}: one reply of window + 1 leaves the window full"
        );
        // The second reply frees a slot: the held entry goes, after what was sent.
        let ready = deliver(&mut leader, 1, replication::accept(2, window as u64));
        let sent = to(&ready, 1);
        assert_eq!(sent.len(), 1, "window {window}: the reply-driven send");
        assert_eq!(shape(&sent[0]), (window as u64, 1), "window {window}");
    }
}

/// A count left one high by a lost request (its follower answers everything else) fills a
/// window of 1; heartbeats coming more often than `in_flight_timeout_ticks` (the
/// simulator's timings) still go, each answered, and do not keep the stale count alive:
/// `in_flight_timeout_ticks` after the last request the window admitted, the window opens.
/// (When forced heartbeats restarted the timeout, a proposal there waited for the next
/// heartbeat, and so would every later one for as long as heartbeats kept coming.)
// Reference: none (flow control)
#[test]
fn a_stale_count_times_out_although_heartbeats_keep_coming() {
    let mut leader = leader_with_config(Config {
        heartbeat_interval_ticks: 2,
        in_flight_timeout_ticks: 5,
        ..Config::new(0, SERVERS, 11)
    });
    let timeout = leader.config().in_flight_timeout_ticks;
    assert_eq!(to(&propose(&mut leader, 1), 1).len(), 1, "sent, and lost");
    let mut heartbeats = 0;
    for tick in 1..=timeout {
        let sent = to(&leader.step(Input::Tick), 1);
        if !sent.is_empty() {
            assert!(
                tick < timeout,
                "the test needs no heartbeat at tick {timeout}"
            );
            // The follower answers the heartbeat: the first carries entry 1 (forced, at
            // `next_index`, which a window of 1 does not advance on send), the second
            // starts after it.
            let (prev_log_index, entries) = shape(&sent[0]);
            assert_eq!(prev_log_index + entries as u64, 1);
            heartbeats += 1;
            deliver(&mut leader, 1, replication::accept(2, 1));
            assert_eq!(leader.match_index(1), Some(1));
        }
        if tick == timeout - 1 {
            assert!(
                to(&propose(&mut leader, 2), 1).is_empty(),
                "before the timeout the stale count fills the window"
            );
        }
    }
    assert_eq!(heartbeats, 2, "heartbeats at ticks 2 and 4");
    let ready = propose(&mut leader, 3);
    let sent = to(&ready, 1);
    assert_eq!(sent.len(), 1, "the timeout opened the window");
    assert_eq!(shape(&sent[0]), (1, 2), "entries 2 and 3");
    // The count starts again from this request: the next proposal waits for its reply.
    assert!(to(&propose(&mut leader, 4), 1).is_empty());
    let ready = deliver(&mut leader, 1, replication::accept(2, 3));
    assert_eq!(shape(&to(&ready, 1)[0]), (3, 1));
}

/// Requests unanswered for `in_flight_timeout_ticks` are all presumed lost: the whole
/// window opens again.
// Reference: none (flow control)
#[test]
fn a_timed_out_window_opens_whole_again() {
    let mut leader = leader_with_window(2);
    propose(&mut leader, 1);
    propose(&mut leader, 2);
    assert!(to(&propose(&mut leader, 3), 1).is_empty());
    for _ in 0..leader.config().in_flight_timeout_ticks {
        assert!(leader.step(Input::Tick).messages.is_empty());
    }
    assert_eq!(to(&propose(&mut leader, 4), 1).len(), 1);
    assert_eq!(to(&propose(&mut leader, 5), 1).len(), 1);
    assert!(to(&propose(&mut leader, 6), 1).is_empty());
}

/// InstallSnapshot chunks go one at a time whatever the window: the next chunk starts at
/// the offset the previous reply acknowledged (Figure 13).
// Reference: Figure 13 (offset)
#[test]
fn install_snapshot_stays_one_at_a_time() {
    let mut leader = elected(restored(0, 3, (2, 1), &[1]));
    let term = leader.current_term();
    deliver(&mut leader, 2, replication::accept(term, 3));
    // Follower 1 has nothing: its rejection backs next_index into the snapshot.
    let ready = deliver(
        &mut leader,
        1,
        Message::AppendEntriesReply {
            term,
            success: false,
            match_index: 0,
            conflict_index: 1,
            conflict_term: None,
        },
    );
    assert!(matches!(
        to(&ready, 1)[..],
        [Message::InstallSnapshot { .. }]
    ));
    let ready = propose(&mut leader, 1);
    assert!(
        to(&ready, 1).is_empty(),
        "one chunk outstanding is the window"
    );
    assert_eq!(to(&ready, 2).len(), 1, "the other follower is pipelined");
}

/// The AppendEntries that follows a completed InstallSnapshot asks the window too: with
/// the chunk re-sent by a forced heartbeat still out, the first `done` reply leaves a
/// window of 1 full, and the entries go on the second.
// Reference: none (flow control; IS9 of docs/protocol.md moves next_index past the snapshot)
#[test]
fn the_send_after_a_snapshot_waits_while_a_forced_heartbeat_fills_the_window() {
    let config = Config {
        in_flight_timeout_ticks: 100,
        ..Config::new(0, SERVERS, 11)
    };
    let mut leader = elected(restore(config, (2, 1), &[1]));
    let term = leader.current_term();
    deliver(&mut leader, 2, replication::accept(term, 3));
    let rejection = Message::AppendEntriesReply {
        term,
        success: false,
        match_index: 0,
        conflict_index: 1,
        conflict_term: None,
    };
    let ready = deliver(&mut leader, 1, rejection);
    assert!(matches!(
        to(&ready, 1)[..],
        [Message::InstallSnapshot { done: true, .. }]
    ));
    assert!(matches!(
        tick_to_heartbeat(&mut leader)[..],
        [Message::InstallSnapshot { done: true, .. }]
    ));
    assert!(to(&propose(&mut leader, 1), 1).is_empty(), "full");
    let installed = Message::InstallSnapshotReply {
        term,
        last_included_index: 2,
        offset: 0,
        done: true,
    };
    let ready = deliver(&mut leader, 1, installed.clone());
    assert_eq!(leader.match_index(1), Some(2));
    assert!(
        to(&ready, 1).is_empty(),
        "the heartbeat's copy is still out"
    );
    let ready = deliver(&mut leader, 1, installed);
    let sent = to(&ready, 1);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        shape(&sent[0]),
        (2, 2),
        "entries 3 and 4, after the snapshot"
    );
}

/// One client writing back to back over links much shorter than a tick, as on the
/// latency bench: with a window of 1 a write costs 6 messages (to the follower whose reply
/// commits it: request, reply, commit notice, reply; to the other, request and reply, its
/// next request carrying the commit with the next entry), plus the heartbeats. Before
/// forced heartbeats were counted, each heartbeat left one more request circulating that
/// the count did not know of (every reply to it sent a re-send of the entries outstanding),
/// so the cost grew with the run: 48.7 messages per write over 2,000 writes at 500 µs,
/// 171 at 2 ms.
// Reference: none (flow control)
#[test]
fn one_client_costs_no_resends_with_a_window_of_one() {
    for delay_micros in [500, 2_000] {
        let per_write = messages_per_write(1, delay_micros, 2_000);
        // 6, and 4 heartbeat messages per 100 ms: at most 0.2 per write at one write
        // per 2 ms round trip, less at longer ones.
        assert!(
            per_write <= 6.5,
            "{delay_micros} µs: {per_write:.2} messages per write"
        );
    }
}

/// Messages sent per write for one client that proposes the next write as soon as the
/// leader applies the previous one: three servers with `window`, 10 ms ticks (the
/// runtime's), every message delivered `delay_micros` after it was sent (in send order
/// per due time), disks synchronous. Counts every message from the first leader's
/// election on, until the leader has applied `writes` writes.
fn messages_per_write(window: usize, delay_micros: u64, writes: u64) -> f64 {
    const TICK_MICROS: u64 = 10_000;
    type Network = std::collections::BTreeMap<(u64, u64), (usize, Outgoing)>;
    struct Run {
        cores: Vec<Core>,
        network: Network,
        /// Messages sent: all, and those counted.
        seq: u64,
        sent: u64,
        counting: bool,
    }
    impl Run {
        fn step(&mut self, now: u64, delay: u64, i: usize, input: Input) -> Ready {
            let mut ready = self.cores[i].step(input);
            if ready.persist.is_some() {
                let core = &mut self.cores[i];
                let (index, term) = (core.last_log_index(), core.log().last_term());
                let synced = core.step(Input::Persisted { index, term });
                ready.messages.extend(synced.messages);
                ready.applies.extend(synced.applies);
            }
            for out in &ready.messages {
                self.seq += 1;
                self.sent += u64::from(self.counting);
                self.network
                    .insert((now + delay, self.seq), (i, out.clone()));
            }
            ready
        }
    }
    let mut run = Run {
        cores: (0..SERVERS)
            .map(|i| {
                Core::new(Config {
                    max_inflight_appends: window,
                    ..Config::new(i, SERVERS, 11 + i as u64)
                })
                .unwrap()
            })
            .collect(),
        network: Network::new(),
        seq: 0,
        sent: 0,
        counting: false,
    };
    let (mut now, mut next_tick) = (0, TICK_MICROS);
    let (mut applied, mut writing) = (0, false);
    while applied < writes {
        // Bounded in simulated time (a correct run needs well under a second per write):
        // a cluster that stops committing fails here instead of spinning.
        assert!(
            now < writes * 10_000_000,
            "{applied} of {writes} writes applied after {now} µs of simulated time"
        );
        let leader = (0..SERVERS).find(|&i| run.cores[i].role() == Role::Leader);
        if let (Some(leader), false) = (leader, writing) {
            run.counting = true;
            run.step(now, delay_micros, leader, Input::Propose(vec![1].into()));
            writing = true;
        }
        match run.network.first_key_value() {
            Some((&(due, _), _)) if due < next_tick => {
                let (_, (from, out)) = run.network.pop_first().unwrap();
                now = due;
                let message = out.message;
                let ready = run.step(now, delay_micros, out.to, Input::Message { from, message });
                let writes_applied = ready
                    .applies
                    .iter()
                    .filter(|a| matches!(a, Apply::Entry { command, .. } if !command.is_empty()))
                    .count() as u64;
                if Some(out.to) == leader && writes_applied > 0 {
                    applied += writes_applied;
                    writing = false;
                }
            }
            _ => {
                now = next_tick;
                next_tick += TICK_MICROS;
                for i in 0..SERVERS {
                    run.step(now, delay_micros, i, Input::Tick);
                }
            }
        }
    }
    run.sent as f64 / writes as f64
}

//! Smoke tests of the runtime over an in-process, lossless transport. The full Lab suite
//! (with the simulated network) lives in `impl/tests/`.

use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::*;
use crate::MemoryPersister;

/// A link that calls the target peer's handler directly.
#[derive(Default)]
struct Direct {
    target: OnceLock<Raft<u64>>,
}

impl Transport for Direct {
    fn call(&self, request: Vec<u8>) -> Option<Vec<u8>> {
        self.target.get()?.handle(&request)
    }
}

fn cluster(servers: usize) -> (Vec<Raft<u64>>, Vec<Receiver<ApplyMsg<u64>>>) {
    cluster_with(servers, RaftConfig::default())
}

fn cluster_with(
    servers: usize,
    base: RaftConfig,
) -> (Vec<Raft<u64>>, Vec<Receiver<ApplyMsg<u64>>>) {
    let links: Vec<Arc<Direct>> = (0..servers).map(|_| Arc::new(Direct::default())).collect();
    let mut rafts = Vec::new();
    let mut receivers = Vec::new();
    for me in 0..servers {
        let peers: Vec<Arc<dyn Transport>> = links
            .iter()
            .map(|l| Arc::clone(l) as Arc<dyn Transport>)
            .collect();
        let (tx, rx) = channel();
        let config = RaftConfig {
            seed: Some(me as u64 + 1),
            ..base.clone()
        };
        let raft = Raft::make_with_config(peers, me, Arc::new(MemoryPersister::new()), tx, config)
            .unwrap();
        rafts.push(raft);
        receivers.push(rx);
    }
    for (link, raft) in links.iter().zip(&rafts) {
        let _ = link.target.set(raft.clone());
    }
    (rafts, receivers)
}

fn wait_for_leader(rafts: &[Raft<u64>]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(leader) = rafts.iter().position(|r| r.get_state().1) {
            return leader;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no leader within 5 s");
}

/// A three-peer cluster elects a leader and every peer applies a proposed command once, at
/// the index `start` returned.
#[test]
fn three_peers_elect_and_apply() {
    let (rafts, receivers) = cluster(3);
    let leader = wait_for_leader(&rafts);
    let (index, _term, is_leader) = rafts[leader].start(42);
    assert!(is_leader);
    assert_eq!(index, 1);
    for rx in &receivers {
        let message = rx.recv_timeout(Duration::from_secs(5)).expect("applied");
        assert_eq!(
            message,
            ApplyMsg::Command {
                command: 42,
                command_index: 1
            }
        );
    }
    for raft in &rafts {
        raft.kill();
    }
    assert!(!rafts[leader].start(7).2, "a killed peer is not leader");
}

/// Garbage requests are refused without a panic.
#[test]
fn handler_refuses_garbage() {
    let (rafts, _receivers) = cluster(1);
    assert_eq!(rafts[0].handle(&[0xff, 0x00, 0x13]), None);
    assert_eq!(rafts[0].handle(&[]), None);
    rafts[0].kill();
}

/// Snapshot requests beyond what was applied, or not after the current snapshot, are
/// ignored.
#[test]
fn out_of_range_snapshot_is_ignored() {
    let (rafts, receivers) = cluster(1);
    wait_for_leader(&rafts);
    let (index, _, _) = rafts[0].start(5);
    receivers[0].recv_timeout(Duration::from_secs(5)).unwrap();
    rafts[0].snapshot(index + 10, vec![1]);
    rafts[0].snapshot(0, vec![1]);
    assert_eq!(rafts[0].with_core(|c| c.snapshot_index()), 0);
    rafts[0].snapshot(index, vec![1]);
    assert_eq!(rafts[0].with_core(|c| c.snapshot_index()), index);
    rafts[0].kill();
}

/// `start` sends the new entry at once: with heartbeats only every 2 s, every peer still
/// applies it within a fraction of that.
#[test]
fn start_replicates_without_waiting_for_a_heartbeat() {
    let slow_heartbeats = RaftConfig {
        heartbeat_interval: Duration::from_millis(2000),
        election_timeout_min: Duration::from_millis(2500),
        election_timeout_max: Duration::from_millis(3000),
        ..RaftConfig::default()
    };
    let (rafts, receivers) = cluster_with(3, slow_heartbeats);
    let deadline = Instant::now() + Duration::from_secs(8);
    let leader = loop {
        if let Some(leader) = rafts.iter().position(|r| r.get_state().1) {
            break leader;
        }
        assert!(Instant::now() < deadline, "no leader");
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(100)); // Let the first heartbeats be answered.
    let started = Instant::now();
    let (index, _, is_leader) = rafts[leader].start(7);
    assert!(is_leader);
    for rx in &receivers {
        let message = rx.recv_timeout(Duration::from_secs(5)).expect("applied");
        assert_eq!(
            message,
            ApplyMsg::Command {
                command: 7,
                command_index: index
            }
        );
    }
    let elapsed = started.elapsed();
    for raft in &rafts {
        raft.kill();
    }
    assert!(
        elapsed < Duration::from_millis(1000),
        "took {elapsed:?}: waited for a heartbeat"
    );
}

/// A whole cluster on `FilePersister`s is killed and made again from the same directories:
/// terms, logs and snapshots come back, applies resume after the snapshot, and new
/// commands commit after the old ones.
#[test]
fn cluster_restarts_from_file_persisters() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let make = |dirs: &[tempfile::TempDir]| {
        let links: Vec<Arc<Direct>> = (0..3).map(|_| Arc::new(Direct::default())).collect();
        let mut rafts = Vec::new();
        let mut receivers = Vec::new();
        for (me, dir) in dirs.iter().enumerate() {
            let peers: Vec<Arc<dyn Transport>> = links
                .iter()
                .map(|l| Arc::clone(l) as Arc<dyn Transport>)
                .collect();
            let persister = Arc::new(crate::FilePersister::open(dir.path()).unwrap());
            let (tx, rx) = channel();
            rafts.push(Raft::<u64>::make(peers, me, persister, tx).unwrap());
            receivers.push(rx);
        }
        for (link, raft) in links.iter().zip(&rafts) {
            let _ = link.target.set(raft.clone());
        }
        (rafts, receivers)
    };
    let (rafts, receivers) = make(&dirs);
    let leader = wait_for_leader(&rafts);
    for command in [10, 20, 30] {
        rafts[leader].start(command);
    }
    for rx in &receivers {
        for _ in 0..3 {
            rx.recv_timeout(Duration::from_secs(5)).expect("applied");
        }
    }
    let term_before = rafts[leader].get_state().0;
    for raft in &rafts {
        raft.snapshot(2, b"10,20".to_vec());
        raft.kill();
    }
    drop(receivers);

    let (rafts, receivers) = make(&dirs);
    for raft in &rafts {
        let (snapshot_index, last_index, term) =
            raft.with_core(|c| (c.snapshot_index(), c.last_log_index(), c.current_term()));
        assert_eq!((snapshot_index, last_index), (2, 3));
        assert!(term >= term_before);
    }
    let leader = wait_for_leader(&rafts);
    let (index, _, _) = rafts[leader].start(40);
    assert_eq!(index, 4);
    for rx in &receivers {
        let applied: Vec<ApplyMsg<u64>> = (0..2)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).expect("applied"))
            .collect();
        assert_eq!(
            applied,
            vec![
                ApplyMsg::Command {
                    command: 30,
                    command_index: 3
                },
                ApplyMsg::Command {
                    command: 40,
                    command_index: 4
                },
            ]
        );
    }
    for raft in &rafts {
        raft.kill();
    }
}

/// Without a ticker thread, time stands still until `tick` is called.
#[test]
fn manual_ticks_drive_time_without_a_ticker() {
    let (tx, _rx) = channel::<ApplyMsg<u64>>();
    let peers: Vec<Arc<dyn Transport>> = vec![Arc::new(Direct::default())];
    let config = RaftConfig {
        spawn_ticker: false,
        seed: Some(3),
        ..RaftConfig::default()
    };
    let raft =
        Raft::make_with_config(peers, 0, Arc::new(MemoryPersister::new()), tx, config).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(raft.get_state(), (0, false), "no time passed without ticks");
    for _ in 0..60 {
        raft.tick();
    }
    assert_eq!(
        raft.get_state(),
        (1, true),
        "a cluster of one elects itself"
    );
    raft.kill();
}

/// A [`MemoryPersister`] whose saves first pass `hook` (which may fail them or hold them).
#[derive(Default)]
struct Hooked<H> {
    inner: MemoryPersister,
    hook: H,
}

trait SaveHook: Send + Sync + 'static {
    fn before_save(&self) -> Result<(), crate::PersistError>;
}

impl<H: SaveHook> Persister for Hooked<H> {
    fn save(&self, raft_state: &[u8], snapshot: &[u8]) -> Result<(), crate::PersistError> {
        self.hook.before_save()?;
        self.inner.save(raft_state, snapshot)
    }
    fn read_raft_state(&self) -> Result<Vec<u8>, crate::PersistError> {
        self.inner.read_raft_state()
    }
    fn read_snapshot(&self) -> Result<Vec<u8>, crate::PersistError> {
        self.inner.read_snapshot()
    }
    fn raft_state_size(&self) -> usize {
        self.inner.raft_state_size()
    }
    fn snapshot_size(&self) -> usize {
        self.inner.snapshot_size()
    }
}

/// Saves fail while `failing` is set (a full disk, a lost volume).
#[derive(Default)]
struct FailWhen {
    failing: std::sync::atomic::AtomicBool,
}

impl SaveHook for FailWhen {
    fn before_save(&self) -> Result<(), crate::PersistError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(crate::PersistError::Io {
                path: "flaky".into(),
                source: std::io::Error::other("injected failure"),
            });
        }
        Ok(())
    }
}

/// Saves wait while `closed` is set, and are counted.
#[derive(Default)]
struct Gate {
    closed: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
    saves: std::sync::atomic::AtomicUsize,
    waiting: std::sync::atomic::AtomicUsize,
}

impl Gate {
    fn set_closed(&self, closed: bool) {
        *self.closed.lock().unwrap() = closed;
        self.opened.notify_all();
    }
}

impl SaveHook for Gate {
    fn before_save(&self) -> Result<(), crate::PersistError> {
        let mut closed = self.closed.lock().unwrap();
        self.waiting
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        while *closed {
            closed = self.opened.wait(closed).unwrap();
        }
        self.waiting
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        self.saves.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// Peer `me` of `servers` over `persister`, with no ticker and no sender threads.
fn lone_peer<P: Persister>(
    me: usize,
    servers: usize,
    persister: Arc<P>,
) -> (Raft<u64>, Receiver<ApplyMsg<u64>>) {
    let peers: Vec<Arc<dyn Transport>> = (0..servers)
        .map(|_| Arc::new(Direct::default()) as Arc<dyn Transport>)
        .collect();
    let (tx, rx) = channel();
    let config = RaftConfig {
        seed: Some(7),
        spawn_ticker: false,
        sender_threads: 0,
        ..RaftConfig::default()
    };
    let raft = Raft::make_with_config(peers, me, persister, tx, config).unwrap();
    (raft, rx)
}

fn one_entry_append(command: Vec<u8>, leader_commit: u64) -> Vec<u8> {
    Message::AppendEntries {
        term: 1,
        leader: 0,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![core::Entry {
            term: 1,
            command: command.into(),
        }],
        leader_commit,
    }
    .encode()
    .unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Figure 2: a follower replies to AppendEntries only after it has made the entries
/// durable. While the save is held, the RPC handler gets no reply; once it completes, the
/// reply acknowledges the entry, and the saved state holds it.
#[test]
fn follower_answers_only_once_its_log_is_durable() {
    let persister = Arc::new(Hooked::<Gate>::default());
    persister.hook.set_closed(true);
    let (follower, _rx) = lone_peer(1, 3, Arc::clone(&persister));
    let request = one_entry_append(vec![7], 0);
    let handler = {
        let follower = follower.clone();
        let request = request.clone();
        std::thread::spawn(move || follower.handle(&request))
    };
    wait_until("the save is in progress", || {
        persister
            .hook
            .waiting
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !handler.is_finished(),
        "replied before the entry was durable"
    );
    persister.hook.set_closed(false);
    let reply = handler.join().unwrap().expect("durable now: a reply");
    assert!(
        matches!(
            Message::decode(&reply),
            Ok(Message::AppendEntriesReply {
                success: true,
                match_index: 1,
                ..
            })
        ),
        "{:?}",
        Message::decode(&reply)
    );
    let saved = core::PersistentState::decode(&persister.read_raft_state().unwrap()).unwrap();
    assert_eq!((saved.current_term, saved.entries.len()), (1, 1));
    follower.kill();
}

/// A failing save stops the peer cleanly (issue 10: it used to keep running on state it
/// could not save): no reply, `stop_reason` says why, the apply channel closes, and
/// `kill`, `get_state` and `start` neither panic nor claim leadership.
#[test]
fn a_failing_save_stops_the_peer() {
    let persister = Arc::new(Hooked::<FailWhen>::default());
    persister
        .hook
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (follower, rx) = lone_peer(1, 3, Arc::clone(&persister));
    assert_eq!(follower.handle(&one_entry_append(vec![7], 0)), None);
    wait_until("the peer stops", || follower.stop_reason().is_some());
    assert!(matches!(
        follower.stop_reason(),
        Some(crate::node::StopReason::Storage(_))
    ));
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected),
        "the apply channel closes"
    );
    assert_eq!(follower.handle(&one_entry_append(vec![7], 0)), None);
    assert!(!follower.get_state().1);
    assert_eq!(follower.start(1), (0, 0, false));
    follower.kill();
    follower.kill();
    assert_eq!(follower.node().running_threads(), 0);
}

/// A committed entry the service's command type cannot decode stops the peer, and the
/// service learns why: its apply channel closes after the entries before it, and
/// `stop_reason` is `Undecodable` with the index.
#[test]
fn an_undecodable_committed_entry_stops_the_peer() {
    let (follower, rx) = lone_peer(1, 3, Arc::new(MemoryPersister::new()));
    let append = |prev: u64, command: Vec<u8>, commit: u64| {
        Message::AppendEntries {
            term: 1,
            leader: 0,
            prev_log_index: prev,
            prev_log_term: if prev == 0 { 0 } else { 1 },
            entries: vec![core::Entry {
                term: 1,
                command: command.into(),
            }],
            leader_commit: commit,
        }
        .encode()
        .unwrap()
    };
    assert!(follower.handle(&append(0, vec![5], 1)).is_some());
    // 0xff 0xff ...: a varint that never ends is not a `u64`.
    assert!(follower.handle(&append(1, vec![0xff; 12], 2)).is_some());
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok(ApplyMsg::Command {
            command: 5,
            command_index: 1
        })
    );
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
    );
    wait_until("the peer stops", || follower.stop_reason().is_some());
    assert!(
        matches!(
            follower.stop_reason(),
            Some(crate::node::StopReason::Undecodable { index: 2, .. })
        ),
        "{:?}",
        follower.stop_reason()
    );
    follower.kill();
    assert_eq!(follower.node().running_threads(), 0);
}

/// A single-server cluster commits its own entries alone, so a command whose save has not
/// completed must not reach the service: the apply waits for the save.
#[test]
fn nothing_is_applied_before_it_is_durable() {
    let persister = Arc::new(Hooked::<Gate>::default());
    let (raft, rx) = lone_peer(0, 1, Arc::clone(&persister));
    for _ in 0..200 {
        if raft.get_state().1 {
            break;
        }
        raft.tick();
    }
    assert!(raft.get_state().1, "a lone server elects itself");
    persister.hook.set_closed(true);
    let (index, _, is_leader) = raft.start(99);
    assert!(is_leader);
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(200)),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout),
        "applied before it was saved"
    );
    persister.hook.set_closed(false);
    let applied = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("applied once saved");
    assert_eq!(
        applied,
        ApplyMsg::Command {
            command: 99,
            command_index: index
        }
    );
    let saved = core::PersistentState::decode(&persister.read_raft_state().unwrap()).unwrap();
    assert_eq!(saved.entries.len() as u64, index);
    raft.kill();
}

/// `kill` returns only once the save in flight has finished, and nothing is saved after it:
/// otherwise a dead peer's late save could overwrite the state a successor already wrote to
/// the same `FilePersister` directory.
#[test]
fn kill_waits_for_the_save_in_flight_and_nothing_saves_after_it() {
    let persister = Arc::new(Hooked::<Gate>::default());
    let (raft, _rx) = lone_peer(0, 1, Arc::clone(&persister));
    while !raft.get_state().1 {
        raft.tick();
    }
    persister.hook.set_closed(true);
    assert!(raft.start(5).2);
    wait_until("the save is in progress", || {
        persister
            .hook
            .waiting
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
    });
    let killer = {
        let raft = raft.clone();
        std::thread::spawn(move || raft.kill())
    };
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !killer.is_finished(),
        "kill returned while a save was in flight"
    );
    persister.hook.set_closed(false);
    killer.join().unwrap();
    let saves = persister
        .hook
        .saves
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(raft.start(6), (0, 0, false));
    raft.tick();
    raft.snapshot(1, vec![1]);
    assert_eq!(
        persister
            .hook
            .saves
            .load(std::sync::atomic::Ordering::SeqCst),
        saves,
        "saved after kill"
    );
    assert_eq!(raft.node().running_threads(), 0);
}

/// `propose` tells not-leader (with the term), too-large and shut-down apart.
#[test]
fn propose_distinguishes_the_reasons_for_refusal() {
    let (raft, _rx) = lone_peer(1, 3, Arc::new(MemoryPersister::new()));
    assert!(matches!(
        raft.propose(1),
        Err(crate::node::ProposeError::NotLeader { term: 0, .. })
    ));
    // After an AppendEntries from leader 0 in term 1, the hint names it.
    assert!(raft.handle(&one_entry_append(vec![5], 0)).is_some());
    assert!(matches!(
        raft.propose(1),
        Err(crate::node::ProposeError::NotLeader {
            leader: Some(0),
            term: 1
        })
    ));
    raft.kill();
    assert!(matches!(
        raft.propose(1),
        Err(crate::node::ProposeError::Shutdown)
    ));

    let (tx, _rx) = channel::<ApplyMsg<Vec<u8>>>();
    let config = RaftConfig {
        seed: Some(1),
        spawn_ticker: false,
        sender_threads: 0,
        ..RaftConfig::default()
    };
    let big: Raft<Vec<u8>> = Raft::make_with_config(
        vec![Arc::new(Direct::default()) as Arc<dyn Transport>],
        0,
        Arc::new(MemoryPersister::new()),
        tx,
        config,
    )
    .unwrap();
    while !big.get_state().1 {
        big.tick();
    }
    let command = vec![0u8; MAX_COMMAND_BYTES + 1];
    match big.propose(command) {
        Err(crate::node::ProposeError::TooLarge { bytes, max }) => {
            assert_eq!(max, MAX_COMMAND_BYTES);
            assert!(bytes > MAX_COMMAND_BYTES, "{bytes}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!big.start(vec![0u8; MAX_COMMAND_BYTES + 1]).2);
    big.kill();
}

fn make_one(config: RaftConfig) -> Result<Raft<u64>, MakeError> {
    let peers: Vec<Arc<dyn Transport>> = vec![Arc::new(Direct::default()) as Arc<dyn Transport>; 3];
    let (tx, _rx) = channel();
    let raft = Raft::make_with_config(peers, 0, Arc::new(MemoryPersister::new()), tx, config)?;
    raft.kill();
    Ok(raft)
}

fn timing(heartbeat_ms: u64, min_ms: u64, max_ms: u64) -> RaftConfig {
    RaftConfig {
        heartbeat_interval: Duration::from_millis(heartbeat_ms),
        election_timeout_min: Duration::from_millis(min_ms),
        election_timeout_max: Duration::from_millis(max_ms),
        seed: Some(1),
        spawn_ticker: false,
        sender_threads: 0,
    }
}

/// Timings are checked after they are rounded up to ticks: a 1 ms heartbeat below a 2 ms
/// election timeout is one tick against one tick, which no heartbeat beats (issue 10: it
/// used to be accepted).
#[test]
fn timing_is_checked_after_rounding_to_ticks() {
    let result = make_one(timing(1, 2, 2));
    assert!(
        matches!(
            result,
            Err(MakeError::Timing(
                TimingError::HeartbeatNotBelowElectionTimeout {
                    heartbeat_ticks: 1,
                    election_timeout_min_ticks: 1,
                    ..
                }
            ))
        ),
        "{:?}",
        result.err()
    );
    // 95 ms and 100 ms: 10 ticks each.
    assert!(matches!(
        make_one(timing(95, 100, 200)),
        Err(MakeError::Timing(
            TimingError::HeartbeatNotBelowElectionTimeout { .. }
        ))
    ));
    assert!(matches!(
        make_one(timing(10, 300, 200)),
        Err(MakeError::Timing(TimingError::ElectionTimeoutRange {
            min_ticks: 30,
            max_ticks: 20,
            ..
        }))
    ));
    // Zero durations round up to one tick, so a zero heartbeat is one tick and fine
    // below a two-tick election timeout.
    make_one(timing(0, 11, 11)).expect("1 tick < 2 ticks");
    make_one(timing(10, 11, 11)).expect("1 tick < 2 ticks");
    let error = make_one(timing(11, 20, 20)).expect_err("2 ticks against 2 ticks");
    assert!(std::error::Error::source(&error).is_some(), "{error}");
}

/// Bad arguments and bad persisted state are matchable errors, never panics.
#[test]
fn make_reports_bad_arguments_and_state_as_variants() {
    let peers = || -> Vec<Arc<dyn Transport>> {
        vec![Arc::new(Direct::default()) as Arc<dyn Transport>; 3]
    };
    let (tx, _rx) = channel::<ApplyMsg<u64>>();
    let result = Raft::make(peers(), 3, Arc::new(MemoryPersister::new()), tx.clone());
    assert!(
        matches!(result, Err(MakeError::NoSuchPeer { me: 3, peers: 3 })),
        "{:?}",
        result.err()
    );
    let damaged = MemoryPersister::new();
    damaged.save(b"not a raft state", &[]).unwrap();
    let result = Raft::make(peers(), 0, Arc::new(damaged), tx.clone());
    assert!(
        matches!(
            result,
            Err(MakeError::Restore(core::RestoreError::State(_)))
        ),
        "{:?}",
        result.err()
    );
    let orphan = MemoryPersister::new();
    orphan.save(&[], b"snapshot").unwrap();
    let result = Raft::make(peers(), 0, Arc::new(orphan), tx);
    assert!(
        matches!(
            result,
            Err(MakeError::Restore(
                core::RestoreError::SnapshotWithoutState { snapshot_bytes: 8 }
            ))
        ),
        "{:?}",
        result.err()
    );
}

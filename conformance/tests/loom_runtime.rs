//! loom models of the node runtime's synchronisation (`impl/src/node/`, threads and queues in
//! `docs/impl.md`), through the Lab layer (`Raft`) and the `Node` API: the event loop, the
//! storage worker and the applier handing work to each other through the inbox, the
//! storage queue and the bounded apply queues; shutdown (`kill`) racing all of it; a storage
//! failure racing a shutdown; the service's `snapshot` from its apply-channel reader.
//!
//! Run with `scripts/loom.sh` (`RUSTFLAGS="--cfg loom"`, release, `LOOM_MAX_PREEMPTIONS`,
//! default 2). Normal builds skip this file.
//!
//! What loom sees: every `Mutex`, `Condvar`, atomic, `Arc` and thread of the node comes from
//! `impl/src/sync.rs`, which re-exports loom's under `cfg(loom)`; the node's queues and
//! one-shot slots are built on them (`node/queue.rs`), so every hand-off is modelled. The
//! Lab's apply channel is `std::sync::mpsc` (public API), unbounded: `send` never blocks;
//! readers poll it with `try_recv` and `loom::thread::yield_now`. Every schedule loom runs
//! is a real schedule; loom also fails an execution that deadlocks (all threads blocked: a
//! lost wake-up), leaks an `Arc`, or panics.
//!
//! Thread budget: loom allows 5 threads including the model's main thread, and a node has
//! three (event loop, storage worker, applier). So each model has main plus at most one
//! thread of its own, and no network threads: the Lab peers get `sender_threads: 0` (the
//! test plays the other peers through `RpcHandler::handle`) except in `rpc_replies_vs_kill`,
//! which has one sender thread and no thread of its own. Time is `Raft::tick`/`Node::tick`
//! (`spawn_ticker`/`auto_tick` off: loom cannot model a timed wait).
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use loom::thread;
use raft_impl::core::{Bytes, Entry, Message, Persist, Role};
use raft_impl::node::{
    Applied, Network, Node, NodeConfig, NodeError, ProposalError, ProposeError, StopReason,
};
use raft_impl::storage::{MemoryStorage, Recovered, Storage, StorageError};
use raft_impl::{ApplyMsg, MemoryPersister, Raft, RaftConfig, RpcHandler, Transport};

type Cmd = u64;

/// A link that loses every request: no model lets the runtime send one, and if it did the
/// reply would simply be lost.
struct Unreachable;

impl Transport for Unreachable {
    fn call(&self, _request: Vec<u8>) -> Option<Vec<u8>> {
        None
    }
}

/// Preemption bound: `LOOM_MAX_PREEMPTIONS`, default 2 (the normal test command).
fn preemption_bound() -> usize {
    std::env::var("LOOM_MAX_PREEMPTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

/// Runs `f` under loom with the preemption bound and prints how many executions were
/// explored and how long it took.
fn check<F>(name: &str, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let executions = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&executions);
    let bound = preemption_bound();
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    let started = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f();
    });
    let n = executions.load(Ordering::Relaxed);
    println!(
        "loom {name}: {n} executions, preemption bound {bound}, {:.2?}",
        started.elapsed()
    );
}

/// Timing in ticks: heartbeat every tick, election timeout of exactly 2 ticks, fixed seed
/// (the models drive time with `Raft::tick`; no ticker thread, no clock).
fn config() -> RaftConfig {
    RaftConfig {
        heartbeat_interval: Duration::from_millis(10),
        election_timeout_min: Duration::from_millis(20),
        election_timeout_max: Duration::from_millis(20),
        seed: Some(7),
        spawn_ticker: false,
        sender_threads: 0,
    }
}

fn make(servers: usize, me: usize) -> (Raft<Cmd>, Receiver<ApplyMsg<Cmd>>) {
    let peers: Vec<std::sync::Arc<dyn Transport>> = (0..servers)
        .map(|_| std::sync::Arc::new(Unreachable) as std::sync::Arc<dyn Transport>)
        .collect();
    let (tx, rx) = mpsc::channel();
    let raft = Raft::make_with_config(
        peers,
        me,
        std::sync::Arc::new(MemoryPersister::new()),
        tx,
        config(),
    )
    .expect("make");
    (raft, rx)
}

/// A one-server cluster that has elected itself.
fn make_leader() -> (Raft<Cmd>, Receiver<ApplyMsg<Cmd>>) {
    let (raft, rx) = make(1, 0);
    for _ in 0..10 {
        if raft.get_state().1 {
            return (raft, rx);
        }
        raft.tick();
    }
    panic!("a one-server cluster did not elect itself in 10 ticks");
}

/// Everything already sent on the apply channel.
fn drain(rx: &Receiver<ApplyMsg<Cmd>>) -> Vec<ApplyMsg<Cmd>> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

/// Checks the apply stream: commands in index order with no gaps or repeats, snapshots
/// strictly forwards, and after a snapshot at `s` the next command is `s + 1`. Returns the
/// last applied index.
fn check_stream(applies: &[ApplyMsg<Cmd>]) -> u64 {
    let mut last = 0;
    for apply in applies {
        match apply {
            ApplyMsg::Command { command_index, .. } => {
                assert_eq!(*command_index, last + 1, "gap or repeat in {applies:?}");
                last = *command_index;
            }
            ApplyMsg::Snapshot { snapshot_index, .. } => {
                assert!(
                    *snapshot_index > last,
                    "snapshot went backwards in {applies:?}"
                );
                last = *snapshot_index;
            }
        }
    }
    last
}

fn commands(applies: &[ApplyMsg<Cmd>]) -> Vec<(u64, Cmd)> {
    applies
        .iter()
        .filter_map(|a| match a {
            ApplyMsg::Command {
                command,
                command_index,
            } => Some((*command_index, *command)),
            ApplyMsg::Snapshot { .. } => None,
        })
        .collect()
}

/// (1) `start` from two threads while the applier delivers: exactly the started commands
/// arrive, at the indices `start` returned, in order, once each.
#[test]
fn start_vs_applier() {
    check("start_vs_applier", || {
        let (raft, rx) = make_leader();
        let other = {
            let raft = raft.clone();
            thread::spawn(move || vec![(raft.start(20), 20), (raft.start(21), 21)])
        };
        let mut started = vec![(raft.start(10), 10)];
        started.extend(other.join().expect("starter panicked"));
        let mut expected: Vec<(u64, Cmd)> = started
            .iter()
            .map(|&((index, _, is_leader), cmd)| {
                assert!(is_leader, "the only server lost leadership");
                (index, cmd)
            })
            .collect();
        expected.sort_unstable();
        // Every start committed at once (one server): all of them must be delivered. Wait
        // for the applier without a lock loom cannot see (the channel is std's).
        let mut applies = Vec::new();
        while applies.len() < expected.len() {
            match rx.try_recv() {
                Ok(apply) => applies.push(apply),
                Err(_) => thread::yield_now(),
            }
        }
        raft.kill();
        applies.extend(drain(&rx));
        check_stream(&applies);
        assert_eq!(commands(&applies), expected);
    });
}

/// (2) kill while an apply is queued or being sent and while another thread starts and
/// ticks: kill returns, every runtime thread ends (loom fails on deadlock or a leaked
/// `Arc`), `start` after kill is refused, and what was delivered is a gap-free prefix.
#[test]
fn kill_vs_everything() {
    // Executions in which kill cut delivery short, and in which everything started arrived.
    static CUT: AtomicUsize = AtomicUsize::new(0);
    static ALL: AtomicUsize = AtomicUsize::new(0);
    check("kill_vs_everything", || {
        let (raft, rx) = make_leader();
        let (first, _, is_leader) = raft.start(1);
        assert!(is_leader);
        let other = {
            let raft = raft.clone();
            thread::spawn(move || {
                let started = raft.start(2);
                raft.tick();
                started
            })
        };
        raft.kill();
        let (second, _, second_leader) = other.join().expect("other thread panicked");
        assert!(raft.killed());
        assert!(!raft.start(3).2, "start after kill claimed leadership");
        assert!(
            !raft.get_state().1,
            "get_state after kill claimed leadership"
        );
        let applies = drain(&rx);
        check_stream(&applies);
        let mut expected = vec![(first, 1)];
        if second_leader {
            expected.push((second, 2));
        }
        // Kill may cut delivery short, but never reorders or invents an apply.
        let delivered = commands(&applies);
        assert!(
            expected.starts_with(&delivered),
            "{delivered:?} is not a prefix of {expected:?}"
        );
        if delivered == expected {
            ALL.fetch_add(1, Ordering::Relaxed);
        } else {
            CUT.fetch_add(1, Ordering::Relaxed);
        }
    });
    let (cut, all) = (CUT.load(Ordering::Relaxed), ALL.load(Ordering::Relaxed));
    println!("  kill cut delivery short in {cut}, everything arrived in {all}");
    assert!(
        cut > 0 && all > 0,
        "the kill/apply race was not explored both ways"
    );
}

/// (3) A follower (server 1 of 3) whose leader is played by this thread through
/// `handle`: entries 1-2 with 1 committed, then a snapshot at 4, then entry 5. Racing with
/// the snapshot: a second thread delivers a delayed append that commits 2-3 (its applies
/// race the snapshot's through the event loop, the storage worker's durability report and
/// the applier). (The older model also raced a delayed snapshot at 3 on a third thread; the
/// node's own three threads leave room for one.) Snapshot applies never go backwards, the command after a
/// snapshot at `s` is `s + 1`, and the last snapshot delivered is 4.
#[test]
fn snapshot_install_vs_applies() {
    // Executions in which entries 2-3 were applied as commands before the snapshot, and in
    // which the snapshot overtook them.
    static BEFORE: AtomicUsize = AtomicUsize::new(0);
    static OVERTAKEN: AtomicUsize = AtomicUsize::new(0);
    check("snapshot_install_vs_applies", || {
        let (raft, rx) = make(3, 1);
        let append = |prev: u64, first: u64, count: u64, commit: u64| Message::AppendEntries {
            term: 1,
            leader: 0,
            prev_log_index: prev,
            prev_log_term: if prev == 0 { 0 } else { 1 },
            entries: (first..first + count)
                .map(|i| Entry {
                    term: 1,
                    command: encode(i).into(),
                })
                .collect(),
            leader_commit: commit,
        };
        let install = |index: u64| Message::InstallSnapshot {
            term: 1,
            leader: 0,
            last_included_index: index,
            last_included_term: 1,
            data: vec![index as u8],
        };
        assert!(raft.handle(&append(0, 1, 2, 1).encode().unwrap()).is_some());
        let delayed = [append(0, 1, 3, 3)].map(|message| {
            let raft = raft.clone();
            let bytes = message.encode().unwrap();
            thread::spawn(move || raft.handle(&bytes))
        });
        assert!(raft.handle(&install(4).encode().unwrap()).is_some());
        assert!(raft.handle(&append(4, 5, 1, 5).encode().unwrap()).is_some());
        for thread in delayed {
            thread.join().expect("delayed message thread panicked");
        }
        // Entry 5 is committed: wait until it is delivered, then stop.
        let mut applies = Vec::new();
        while !applies.iter().any(|a| {
            matches!(
                a,
                ApplyMsg::Command {
                    command_index: 5,
                    ..
                }
            )
        }) {
            match rx.try_recv() {
                Ok(apply) => applies.push(apply),
                Err(_) => thread::yield_now(),
            }
        }
        raft.kill();
        applies.extend(drain(&rx));
        assert_eq!(check_stream(&applies), 5);
        for (index, command) in commands(&applies) {
            assert_eq!(index, command, "entry {index} carries the wrong command");
        }
        let snapshots: Vec<u64> = applies
            .iter()
            .filter_map(|a| match a {
                ApplyMsg::Snapshot { snapshot_index, .. } => Some(*snapshot_index),
                ApplyMsg::Command { .. } => None,
            })
            .collect();
        assert!(
            snapshots.ends_with(&[4]),
            "snapshot 4 not delivered last: {applies:?}"
        );
        if commands(&applies).iter().any(|&(index, _)| index == 3) {
            BEFORE.fetch_add(1, Ordering::Relaxed);
        } else {
            OVERTAKEN.fetch_add(1, Ordering::Relaxed);
        }
    });
    let (before, overtaken) = (
        BEFORE.load(Ordering::Relaxed),
        OVERTAKEN.load(Ordering::Relaxed),
    );
    println!("  entry 3 applied before the snapshot in {before}, overtaken in {overtaken}");
    assert!(
        before > 0 && overtaken > 0,
        "the append/snapshot race was not explored both ways"
    );
}

/// (4) The Lab's applierSnap pattern: the service calls `snapshot` from the thread that
/// reads the apply channel while the applier keeps delivering and another thread starts
/// commands. No deadlock (the applier holds no lock while it sends) and the stream stays
/// ordered.
#[test]
fn service_snapshot_from_reader() {
    check("service_snapshot_from_reader", || {
        let (raft, rx) = make_leader();
        assert!(raft.start(1).2);
        let reader = {
            let raft = raft.clone();
            thread::spawn(move || {
                let mut applies = Vec::new();
                while applies.len() < 3 {
                    match rx.try_recv() {
                        Ok(apply) => {
                            if let ApplyMsg::Command { command_index, .. } = apply {
                                if command_index == 2 {
                                    raft.snapshot(2, vec![2]);
                                }
                            }
                            applies.push(apply);
                        }
                        Err(_) => thread::yield_now(),
                    }
                }
                (applies, rx)
            })
        };
        assert!(raft.start(2).2);
        assert!(raft.start(3).2);
        let (mut applies, rx) = reader.join().expect("reader panicked");
        let snapshot_index = raft.with_core(|core| core.snapshot_index());
        raft.kill();
        applies.extend(drain(&rx));
        assert_eq!(check_stream(&applies), 3);
        assert_eq!(commands(&applies), vec![(1, 1), (2, 2), (3, 3)]);
        assert_eq!(snapshot_index, 2, "the service's snapshot was not taken");
    });
}

/// Server 1 of a two-server cluster, played by the transport (on server 0's sender thread):
/// grants every vote, acknowledges heartbeats, and loses every append that carries
/// entries. Committing would cost two more RPC threads (the append, then the commit
/// notification), beyond loom's five; the commit path is covered by the one-server models.
struct VotingFollower;

impl Transport for VotingFollower {
    fn call(&self, request: Vec<u8>) -> Option<Vec<u8>> {
        let reply = match Message::decode(&request).ok()? {
            Message::RequestVote { term, .. } => Message::RequestVoteReply {
                term,
                vote_granted: true,
            },
            Message::AppendEntries {
                term,
                prev_log_index,
                entries,
                ..
            } if entries.is_empty() => Message::AppendEntriesReply {
                term,
                success: true,
                match_index: prev_log_index,
                conflict_index: 0,
                conflict_term: None,
            },
            _ => return None,
        };
        Some(reply.encode().unwrap())
    }
}

/// (5) RPC replies vs start and kill: server 0 of two times out and asks for a vote (once
/// its vote is durable); its one sender thread calls the transport and feeds each reply
/// back with `receive`: the vote reply (it becomes leader and sends a heartbeat), the
/// heartbeat reply, the service's `start` and `kill` all race. `kill` does not join the
/// sender thread; it must still end (loom fails on a leaked `Arc` or a deadlock), replies
/// received after kill change nothing visible, and nothing is applied (nothing can
/// commit). Threads: main, event loop, storage worker, applier, sender.
#[test]
fn rpc_replies_vs_kill() {
    // How many executions reached `start` as leader: the model is not only the losing race.
    static LEADER: AtomicUsize = AtomicUsize::new(0);
    check("rpc_replies_vs_kill", || {
        let peers: Vec<std::sync::Arc<dyn Transport>> = vec![
            std::sync::Arc::new(Unreachable),
            std::sync::Arc::new(VotingFollower),
        ];
        let (tx, rx) = mpsc::channel();
        let raft: Raft<Cmd> = Raft::make_with_config(
            peers,
            0,
            std::sync::Arc::new(MemoryPersister::new()),
            tx,
            RaftConfig {
                sender_threads: 1,
                ..config()
            },
        )
        .expect("make");
        // Tick only until the election starts: another timeout would mean another vote
        // request (more executions for nothing new).
        while raft.with_core(|core| core.role()) == Role::Follower {
            raft.tick();
        }
        let (index, term, is_leader) = raft.start(1);
        assert!(
            !is_leader || (index, term) == (1, 1),
            "start gave {index}/{term}"
        );
        if is_leader {
            LEADER.fetch_add(1, Ordering::Relaxed);
        }
        raft.kill();
        assert!(!raft.start(2).2, "start after kill claimed leadership");
        assert!(
            !raft.get_state().1,
            "get_state after kill claimed leadership"
        );
        assert!(drain(&rx).is_empty(), "applied an entry that cannot commit");
    });
    let leader = LEADER.load(Ordering::Relaxed);
    println!("  of which {leader} started the command as leader");
    assert!(leader > 0, "no execution won the election before start");
}

/// A network with nowhere to send (one-server clusters).
struct Nowhere;

impl Network for Nowhere {
    fn send(&self, _to: usize, _message: Bytes) {}
}

/// A [`MemoryStorage`] whose syncs fail once `fail` is set.
struct FailingStorage {
    inner: MemoryStorage,
    fail: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Storage for FailingStorage {
    fn recovered(&self) -> Recovered {
        self.inner.recovered()
    }
    fn write(&mut self, delta: &Persist) -> Result<(), StorageError> {
        self.inner.write(delta)
    }
    fn sync(&mut self) -> Result<(), StorageError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StorageError::Failed);
        }
        self.inner.sync()
    }
}

/// A one-server node with manual time, elected: `(node, applies, fail)`.
fn node_leader(
    apply_queue: usize,
) -> (
    Node,
    raft_impl::node::Applies,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let storage = FailingStorage {
        inner: MemoryStorage::new(),
        fail: std::sync::Arc::clone(&fail),
    };
    let config = NodeConfig {
        id: 0,
        servers: 1,
        tick: Duration::from_millis(10),
        heartbeat_interval: Duration::from_millis(10),
        election_timeout_min: Duration::from_millis(20),
        election_timeout_max: Duration::from_millis(20),
        seed: Some(7),
        apply_queue,
        auto_tick: false,
        ..NodeConfig::default()
    };
    let (node, applies) =
        Node::start(config, Box::new(storage), std::sync::Arc::new(Nowhere)).expect("start");
    for _ in 0..10 {
        if node.state().role == Role::Leader {
            return (node, applies, fail);
        }
        node.tick().expect("tick");
    }
    panic!("a one-server node did not elect itself in 10 ticks");
}

/// (6) Back-pressure hand-off: apply queues of one item, three proposals, and a reader on
/// its own thread. The event loop may release an apply only while the applier's queue has
/// room and must be woken when the applier takes one; the applier blocks while the
/// service's stream is full and must be woken when the reader takes one. No lost wake-up
/// in any schedule (loom fails on the deadlock), nothing dropped, order kept, and every
/// proposal resolves `Ok`.
#[test]
fn bounded_applies_vs_slow_reader() {
    check("bounded_applies_vs_slow_reader", || {
        let (node, applies, _fail) = node_leader(1);
        let reader = thread::spawn(move || {
            let indices: Vec<u64> = (0..3)
                .map(|_| match applies.recv() {
                    Some(Applied::Entry { index, .. }) => index,
                    other => panic!("expected an entry, got {other:?}"),
                })
                .collect();
            (indices, applies)
        });
        let proposals: Vec<_> = (0..3u8)
            .map(|i| node.propose(Bytes::from(vec![i])).expect("leader"))
            .collect();
        let expected: Vec<u64> = proposals.iter().map(|p| p.index()).collect();
        for proposal in proposals {
            proposal.wait().expect("applied");
        }
        let (indices, applies) = reader.join().expect("reader panicked");
        assert_eq!(indices, expected);
        node.shutdown();
        assert!(applies.recv().is_none(), "the stream ends at shutdown");
    });
}

/// (7) A storage failure racing a shutdown and a proposal: the sync of the proposal's write
/// fails (the node stops itself) while another thread shuts the node down. Every thread
/// ends (no deadlock, no leaked `Arc`), the proposal resolves with `Stopped` or `Shutdown`
/// (never hangs, never `Ok`: nothing after the failed sync is durable), and the stream
/// ends, with `Stopped` as its last item if the failure won.
#[test]
fn storage_failure_vs_shutdown() {
    static FAILED: AtomicUsize = AtomicUsize::new(0);
    static SHUT: AtomicUsize = AtomicUsize::new(0);
    check("storage_failure_vs_shutdown", || {
        let (node, applies, fail) = node_leader(4);
        fail.store(true, std::sync::atomic::Ordering::SeqCst);
        let stopper = {
            let node = node.clone();
            thread::spawn(move || node.shutdown())
        };
        match node.propose(Bytes::from_static(b"x")) {
            Ok(proposal) => match proposal.wait() {
                Err(ProposalError::Stopped(StopReason::Storage(_))) => {
                    FAILED.fetch_add(1, Ordering::Relaxed);
                }
                Err(ProposalError::Shutdown) => {
                    SHUT.fetch_add(1, Ordering::Relaxed);
                }
                other => panic!("proposal resolved {other:?}"),
            },
            Err(ProposeError::Shutdown | ProposeError::Stopped(_)) => {
                SHUT.fetch_add(1, Ordering::Relaxed);
            }
            Err(other) => panic!("propose failed with {other:?}"),
        }
        stopper.join().expect("stopper panicked");
        node.shutdown();
        while let Some(item) = applies.recv() {
            assert!(
                matches!(item, Applied::Stopped(_)),
                "applied {item:?} after a failed sync"
            );
        }
        assert!(matches!(
            node.tick(),
            Err(NodeError::Shutdown | NodeError::Stopped(_))
        ));
    });
    let (failed, shut) = (FAILED.load(Ordering::Relaxed), SHUT.load(Ordering::Relaxed));
    println!("  the storage failure resolved the proposal in {failed}, the shutdown in {shut}");
    assert!(
        failed > 0 && shut > 0,
        "the failure/shutdown race was not explored both ways"
    );
}

/// The command bytes the runtime decodes: postcard, LEB128 varints, in which a `u64`
/// below 128 is the single byte of its value.
fn encode(command: Cmd) -> Vec<u8> {
    assert!(command < 128);
    vec![command as u8]
}

/// loom has teeth at the normal bound: a toy applier that checks its queue under the lock
/// but waits after re-taking it (the check and the wait are not atomic) loses the
/// producer's wake-up in some schedule; loom reports the deadlock. The same toy with the
/// check inside the wait loop passes.
#[test]
fn loom_catches_a_lost_wakeup() {
    fn toy(broken: bool) {
        use loom::sync::{Condvar, Mutex};
        // Leaked, not in an `Arc`: when loom stops a deadlocked execution it unwinds the
        // blocked threads, and dropping a loom `Arc` then panics again (an abort, which
        // `catch_unwind` cannot see). One small leak per execution.
        let shared: &'static (Mutex<Vec<u64>>, Condvar) =
            Box::leak(Box::new((Mutex::new(Vec::new()), Condvar::new())));
        let applier = {
            thread::spawn(move || {
                let (queue, changed) = shared;
                if broken {
                    let empty = queue.lock().unwrap().is_empty();
                    let mut guard = queue.lock().unwrap();
                    if empty {
                        guard = changed.wait(guard).unwrap();
                    }
                    guard.pop()
                } else {
                    let mut guard = queue.lock().unwrap();
                    while guard.is_empty() {
                        guard = changed.wait(guard).unwrap();
                    }
                    guard.pop()
                }
            })
        };
        {
            let (queue, changed) = shared;
            queue.lock().unwrap().push(1);
            changed.notify_one();
        }
        assert_eq!(applier.join().unwrap(), Some(1));
    }

    check("toy_correct", || toy(false));
    // The panic message loom prints next ("deadlock; threads = ...") is the expected one.
    let caught = std::panic::catch_unwind(|| check("toy_lost_wakeup", || toy(true)));
    assert!(
        caught.is_err(),
        "loom did not find the lost wake-up at preemption bound {}",
        preemption_bound()
    );
    println!("loom toy_lost_wakeup: deadlock found, as it must be");
}

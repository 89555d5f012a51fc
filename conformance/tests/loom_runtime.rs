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
//! Thread budget and size: loom allows 5 threads including the model's main thread, and a
//! node has three (event loop, storage worker, applier), so each model has main plus at
//! most one thread of its own, and no network threads (`sender_threads: 0`). Time is
//! `Raft::tick`/`Node::tick` (`spawn_ticker`/`auto_tick` off: loom cannot model a timed
//! wait). Every model starts by electing a one-server cluster (two ticks and a sync), and
//! four threads that all take locks make the state space large, so the models are the
//! essential hand-offs, each as small as it can be: start → storage worker → applier →
//! apply channel (1), kill racing that path (2), the service's snapshot from its reader
//! (3), the bounded apply queues with a slow reader (4), a storage failure racing a
//! shutdown (5). Models (3) and (4) are `#[ignore]`d: they did not finish in 150 s even at
//! preemption bound 1. The others run at bound 1 (`NODE_MODEL_BOUND`), not the script's 2. The older models that raced several RPC threads (a follower's snapshot
//! install against delayed appends; vote/heartbeat replies against kill) are not ported:
//! they need more threads than loom allows next to the node's three, and a model with
//! three proposals did not finish in 150 s even at preemption bound 1.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use loom::thread;
use raft_impl::core::{Bytes, Persist, Role};
use raft_impl::node::{
    Applied, Network, Node, NodeConfig, NodeError, ProposalError, ProposeError, StopReason,
};
use raft_impl::storage::{MemoryStorage, Recovered, Storage, StorageError};
use raft_impl::{ApplyMsg, MemoryPersister, Raft, RaftConfig, Transport};

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

/// The node models run at most at this preemption bound: at 2 even the smallest of them
/// (one proposal racing a shutdown and a storage failure) did not finish in 7 minutes on
/// the development machine; at 1 they take 7-45 s each. The printed line names the bound
/// actually used.
const NODE_MODEL_BOUND: usize = 1;

/// Runs a node model under loom with the preemption bound (capped at
/// [`NODE_MODEL_BOUND`]) and prints how many executions were explored and how long it took.
fn check<F>(name: &str, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    check_at(name, preemption_bound().min(NODE_MODEL_BOUND), f)
}

/// Runs `f` under loom at preemption bound `bound`.
fn check_at<F>(name: &str, bound: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let executions = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&executions);
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

/// (1) `start` on the leader, then the apply: the command goes from the caller to the
/// event loop (inbox), to the storage worker (write, sync, durability report back to the
/// loop), to the applier (bounded queue) and out on the apply channel, once, at the index
/// `start` returned.
#[test]
fn start_then_apply() {
    check("start_then_apply", || {
        let (raft, rx) = make_leader();
        let (index, _, is_leader) = raft.start(10);
        assert!(is_leader, "the only server lost leadership");
        let mut applies = Vec::new();
        while applies.is_empty() {
            match rx.try_recv() {
                Ok(apply) => applies.push(apply),
                Err(_) => thread::yield_now(),
            }
        }
        raft.kill();
        applies.extend(drain(&rx));
        check_stream(&applies);
        assert_eq!(commands(&applies), vec![(index, 10)]);
    });
}

/// (2) `kill` racing the apply of a command just started: kill returns, every node thread
/// ends (loom fails on deadlock or a leaked `Arc`), `start` and `get_state` after kill are
/// refused, and what was delivered is a prefix of what was started — in some schedules the
/// command arrives, in others kill cuts it off.
#[test]
fn kill_vs_apply() {
    static CUT: AtomicUsize = AtomicUsize::new(0);
    static ALL: AtomicUsize = AtomicUsize::new(0);
    check("kill_vs_apply", || {
        let (raft, rx) = make_leader();
        let (first, _, is_leader) = raft.start(1);
        assert!(is_leader);
        raft.kill();
        assert!(raft.killed());
        assert!(!raft.start(3).2, "start after kill claimed leadership");
        assert!(
            !raft.get_state().1,
            "get_state after kill claimed leadership"
        );
        let applies = drain(&rx);
        check_stream(&applies);
        let expected = vec![(first, 1)];
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

/// (3) The Lab's applierSnap pattern: the service calls `snapshot` from the thread that
/// reads the apply channel while the applier is still delivering. No deadlock (the applier
/// holds no lock while it sends, and the loop never waits for the applier) and the stream
/// stays ordered.
#[test]
#[ignore = "did not finish in 150 s at preemption bound 1; run with --ignored for a deeper check"]
fn service_snapshot_from_reader() {
    check("service_snapshot_from_reader", || {
        let (raft, rx) = make_leader();
        assert!(raft.start(1).2);
        assert!(raft.start(2).2);
        let mut applies = Vec::new();
        while applies.len() < 2 {
            match rx.try_recv() {
                Ok(apply) => {
                    if let ApplyMsg::Command {
                        command_index: 1, ..
                    } = apply
                    {
                        raft.snapshot(1, vec![1]);
                    }
                    applies.push(apply);
                }
                Err(_) => thread::yield_now(),
            }
        }
        let snapshot_index = raft.with_core(|core| core.snapshot_index());
        raft.kill();
        applies.extend(drain(&rx));
        assert_eq!(check_stream(&applies), 2);
        assert_eq!(commands(&applies), vec![(1, 1), (2, 2)]);
        assert_eq!(snapshot_index, 1, "the service's snapshot was not taken");
    });
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
        spin_before_sleep: Duration::ZERO,
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

/// (4) Back-pressure hand-off: apply queues of one item and two proposals, read only once
/// both were accepted. The event loop may release an apply only while the applier's queue
/// has room and must be woken when the applier takes one; the applier blocks while the
/// service's stream is full and must be woken when the service takes one. No lost wake-up
/// in any schedule (loom fails on the deadlock), nothing dropped, order kept, and both
/// proposals resolve `Ok`.
#[test]
#[ignore = "did not finish in 150 s at preemption bound 1; run with --ignored for a deeper check"]
fn bounded_applies_vs_slow_reader() {
    check("bounded_applies_vs_slow_reader", || {
        let (node, applies, _fail) = node_leader(1);
        let proposals: Vec<_> = (0..2u8)
            .map(|i| node.propose(Bytes::from(vec![i])).expect("leader"))
            .collect();
        let expected: Vec<u64> = proposals.iter().map(|p| p.index()).collect();
        let indices: Vec<u64> = (0..2)
            .map(|_| match applies.recv() {
                Some(Applied::Entry { index, .. }) => index,
                other => panic!("expected an entry, got {other:?}"),
            })
            .collect();
        assert_eq!(indices, expected);
        for proposal in proposals {
            proposal.wait().expect("applied");
        }
        node.shutdown();
        assert!(applies.recv().is_none(), "the stream ends at shutdown");
    });
}

/// (5) A storage failure racing a shutdown and a proposal: the sync of the proposal's write
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

    let bound = preemption_bound();
    check_at("toy_correct", bound, || toy(false));
    // The panic message loom prints next ("deadlock; threads = ...") is the expected one.
    let caught = std::panic::catch_unwind(|| check_at("toy_lost_wakeup", bound, || toy(true)));
    assert!(
        caught.is_err(),
        "loom did not find the lost wake-up at preemption bound {}",
        preemption_bound()
    );
    println!("loom toy_lost_wakeup: deadlock found, as it must be");
}

//! Tests of the node runtime on an in-process network: back-pressure, proposal outcomes,
//! storage failures and panics, slow syncs, shutdown.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::core::{Persist, Role};
use crate::storage::{MemoryStorage, Recovered, Storage, StorageError};

/// An in-process network: `send` delivers straight into the target's inbox (never blocks:
/// `receive` only queues). Links can be cut one direction at a time.
#[derive(Default)]
struct Net {
    nodes: Vec<OnceLock<Receiver>>,
    cut: Mutex<HashSet<(usize, usize)>>,
}

impl Net {
    fn new(servers: usize) -> Arc<Net> {
        Arc::new(Net {
            nodes: (0..servers).map(|_| OnceLock::new()).collect(),
            cut: Mutex::new(HashSet::new()),
        })
    }

    /// Cuts (or restores) every link between `server` and the others, both ways.
    fn isolate(&self, server: usize, isolated: bool) {
        let mut cut = self.cut.lock().unwrap();
        for other in 0..self.nodes.len() {
            for link in [(server, other), (other, server)] {
                if isolated {
                    cut.insert(link);
                } else {
                    cut.remove(&link);
                }
            }
        }
    }

    fn set_link(&self, from: usize, to: usize, up: bool) {
        let mut cut = self.cut.lock().unwrap();
        if up {
            cut.remove(&(from, to));
        } else {
            cut.insert((from, to));
        }
    }
}

struct Link {
    net: Arc<Net>,
    from: usize,
}

impl Network for Link {
    fn send(&self, to: usize, message: Bytes) {
        if self.net.cut.lock().unwrap().contains(&(self.from, to)) {
            return;
        }
        if let Some(node) = self.net.nodes.get(to).and_then(OnceLock::get) {
            node.receive(self.from, &message);
        }
    }
}

/// What a test storage does on write and sync.
#[derive(Default)]
struct Hook {
    /// Milliseconds every sync sleeps.
    sync_delay_ms: AtomicU64,
    /// Syncs wait while closed.
    closed: Mutex<bool>,
    opened: Condvar,
    fail_sync: AtomicBool,
    panic_write: AtomicBool,
    syncs: AtomicU64,
}

impl Hook {
    fn set_closed(&self, closed: bool) {
        *self.closed.lock().unwrap() = closed;
        self.opened.notify_all();
    }
}

/// A [`MemoryStorage`] behind a [`Hook`]. `alive` is dropped with the storage: its strong
/// count tells whether the storage worker has let go of it.
struct Hooked {
    inner: MemoryStorage,
    hook: Arc<Hook>,
    _alive: Arc<()>,
}

impl Storage for Hooked {
    fn recovered(&self) -> Recovered {
        self.inner.recovered()
    }

    fn write(&mut self, delta: &Persist) -> Result<(), StorageError> {
        if self.hook.panic_write.load(Ordering::SeqCst) {
            panic!("injected storage panic");
        }
        self.inner.write(delta)
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        let delay = self.hook.sync_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        let mut closed = self.hook.closed.lock().unwrap();
        while *closed {
            closed = self.hook.opened.wait(closed).unwrap();
        }
        drop(closed);
        if self.hook.fail_sync.load(Ordering::SeqCst) {
            return Err(StorageError::Io {
                path: "hooked".into(),
                source: std::io::Error::other("injected sync failure"),
            });
        }
        self.hook.syncs.fetch_add(1, Ordering::SeqCst);
        self.inner.sync()
    }
}

struct Cluster {
    net: Arc<Net>,
    nodes: Vec<Node>,
    applies: Vec<Applies>,
    hooks: Vec<Arc<Hook>>,
    alive: Vec<Arc<()>>,
}

fn config(id: usize, servers: usize) -> NodeConfig {
    NodeConfig {
        id,
        servers,
        seed: Some(100 + id as u64),
        ..NodeConfig::default()
    }
}

fn cluster(servers: usize, tweak: impl Fn(&mut NodeConfig)) -> Cluster {
    start_cluster(servers, tweak, |config, storage, link| {
        let (node, applies) = Node::start(config, storage, link).unwrap();
        (node, Some(applies))
    })
}

/// [`cluster`] with a [`StateMachine`] per node, called in place (no apply streams).
fn machine_cluster<M: StateMachine>(servers: usize, machine: impl Fn(usize) -> M) -> Cluster {
    machine_cluster_with(servers, |_| {}, machine)
}

/// [`machine_cluster`] with a tweak of each node's configuration.
fn machine_cluster_with<M: StateMachine>(
    servers: usize,
    tweak: impl Fn(&mut NodeConfig),
    machine: impl Fn(usize) -> M,
) -> Cluster {
    start_cluster(servers, tweak, |config, storage, link| {
        let id = config.id;
        let node = Node::start_with_machine(config, storage, link, machine(id)).unwrap();
        (node, None)
    })
}

fn start_cluster(
    servers: usize,
    tweak: impl Fn(&mut NodeConfig),
    start: impl Fn(NodeConfig, Box<dyn Storage>, Arc<Link>) -> (Node, Option<Applies>),
) -> Cluster {
    let net = Net::new(servers);
    let mut cluster = Cluster {
        net: Arc::clone(&net),
        nodes: Vec::new(),
        applies: Vec::new(),
        hooks: Vec::new(),
        alive: Vec::new(),
    };
    for id in 0..servers {
        let hook = Arc::new(Hook::default());
        let alive = Arc::new(());
        let storage = Hooked {
            inner: MemoryStorage::new(),
            hook: Arc::clone(&hook),
            _alive: Arc::clone(&alive),
        };
        let mut config = config(id, servers);
        tweak(&mut config);
        let link = Arc::new(Link {
            net: Arc::clone(&net),
            from: id,
        });
        let (node, applies) = start(config, Box::new(storage), link);
        let _ = net.nodes[id].set(node.receiver());
        cluster.nodes.push(node);
        cluster.applies.extend(applies);
        cluster.hooks.push(hook);
        cluster.alive.push(alive);
    }
    cluster
}

impl Cluster {
    /// Waits for exactly one leader among `among` that every one of them follows.
    fn leader(&self, among: &[usize]) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let states: Vec<State> = among.iter().map(|&i| self.nodes[i].state()).collect();
            let leaders: Vec<usize> = among
                .iter()
                .zip(&states)
                .filter(|(_, s)| s.role == Role::Leader)
                .map(|(&i, _)| i)
                .collect();
            if let [leader] = leaders[..] {
                let term = self.nodes[leader].state().term;
                if states
                    .iter()
                    .all(|s| s.leader == Some(leader) && s.term == term)
                {
                    return leader;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no leader among {among:?}: {states:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until every write node `i` has issued is durable, so that a storage fault
    /// injected next hits the next write (not the election's, still on its way).
    fn settled(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.nodes[i].status().storage_queue > 0 {
            assert!(Instant::now() < deadline, "{:?}", self.nodes[i].status());
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn shutdown(&self) {
        for node in &self.nodes {
            node.shutdown();
        }
    }
}

/// The next entry on `applies`, within 10 s.
fn next_entry(applies: &Applies) -> (u64, Bytes) {
    match applies.recv_timeout(Duration::from_secs(10)) {
        Ok(Some(Applied::Entry { index, command, .. })) => (index, command),
        other => panic!("expected an entry, got {other:?}"),
    }
}

/// Three nodes elect a leader (seen through a watch), a proposal resolves once applied,
/// and every node applies it at its index.
#[test]
fn three_nodes_elect_and_apply_a_proposal() {
    let cluster = cluster(3, |_| {});
    let mut watch = cluster.nodes[0].watch();
    let leader = cluster.leader(&[0, 1, 2]);
    let seen = watch.changed_timeout(Duration::from_secs(1)).unwrap();
    assert!(seen.is_some(), "node 0's watch saw no change");
    let proposal = cluster.nodes[leader]
        .propose(Bytes::from_static(b"x=1"))
        .unwrap();
    let index = proposal.index();
    assert_eq!(
        proposal
            .wait_timeout(Duration::from_secs(10))
            .map(|r| r.is_ok()),
        Some(true)
    );
    for applies in &cluster.applies {
        assert_eq!(next_entry(applies), (index, Bytes::from_static(b"x=1")));
    }
    let status = cluster.nodes[leader].status();
    assert_eq!(status.state.role, Role::Leader);
    assert!(status.commit_index >= index && status.applied >= index);
    assert!(status.durable_index >= index, "{status:?}");
    assert_eq!(status.proposals_accepted, 1);
    let follower = (leader + 1) % 3;
    assert!(matches!(
        cluster.nodes[follower].propose(Bytes::from_static(b"y")),
        Err(ProposeError::NotLeader { leader: Some(l), .. }) if l == leader
    ));
    cluster.shutdown();
}

/// Runs `future` to completion on this thread (a minimal executor: the waker unparks it).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

/// `Node::write`: awaited as a future, or waited on, it resolves to the entry's position
/// once applied (the service sees the command there); at a follower it is refused with the
/// leader's hint; beyond `max_pending_proposals` it is refused `Busy` without queueing.
#[test]
fn write_resolves_once_applied_and_reports_refusals() {
    let cluster = cluster(3, |config| config.max_pending_proposals = 2);
    let leader = cluster.leader(&[0, 1, 2]);
    let node = &cluster.nodes[leader];
    let (index, term) = block_on(node.write(Bytes::from_static(b"a"))).expect("applied");
    assert_eq!(term, node.state().term);
    assert!(node.status().applied >= index);
    assert_eq!(
        next_entry(&cluster.applies[leader]),
        (index, Bytes::from_static(b"a"))
    );
    let (second, _) = node
        .write(Bytes::from_static(b"b"))
        .wait()
        .expect("applied");
    assert_eq!(second, index + 1);
    let follower = (leader + 1) % 3;
    match block_on(cluster.nodes[follower].write(Bytes::from_static(b"c"))) {
        Err(WriteError::Refused(ProposeError::NotLeader {
            leader: Some(l), ..
        })) => {
            assert_eq!(l, leader)
        }
        other => panic!("expected NotLeader, got {other:?}"),
    }
    // Hold the leader's syncs: two writes stay pending, a third is Busy at once.
    cluster.hooks[leader].set_closed(true);
    let held: Vec<Write> = (0..2u8).map(|i| node.write(Bytes::from(vec![i]))).collect();
    match node.write(Bytes::from_static(b"over")).wait() {
        Err(WriteError::Refused(ProposeError::Busy)) => {}
        other => panic!("expected Busy, got {other:?}"),
    }
    cluster.hooks[leader].set_closed(false);
    let positions: Vec<u64> = held
        .into_iter()
        .map(|w| block_on(w).expect("applied").0)
        .collect();
    assert_eq!(positions, vec![second + 1, second + 2]);
    cluster.shutdown();
}

/// A committed entry the leader already holds on disk is applied at once, without waiting
/// for the sync of later entries: with the followers' storages held, the leader syncs `a`;
/// then its own storage is held and `b` proposed; once the followers sync and reply, both
/// are committed (two of three disks), and `a` is applied while the leader's sync of `b`
/// is still stuck; `b` only once the leader has it on disk too.
#[test]
fn a_durable_entry_is_applied_while_a_later_sync_is_held() {
    /// Opens every storage again when the test ends, so that a failed assertion ends the
    /// test instead of leaving the shutdown waiting on a held sync.
    struct Reopen<'a>(&'a [Arc<Hook>]);
    impl Drop for Reopen<'_> {
        fn drop(&mut self) {
            for hook in self.0 {
                hook.set_closed(false);
            }
        }
    }
    let cluster = cluster(3, |_| {});
    let _reopen = Reopen(&cluster.hooks);
    let leader = cluster.leader(&[0, 1, 2]);
    let followers = [(leader + 1) % 3, (leader + 2) % 3];
    for f in followers {
        cluster.settled(f);
        cluster.hooks[f].set_closed(true);
    }
    let node = &cluster.nodes[leader];
    let a = node.propose(Bytes::from_static(b"a")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.status().durable_index < a.index() {
        assert!(Instant::now() < deadline, "{:?}", node.status());
        std::thread::sleep(Duration::from_millis(1));
    }
    cluster.hooks[leader].set_closed(true);
    let b = node.propose(Bytes::from_static(b"b")).unwrap();
    while node.status().storage_queue == 0 {
        assert!(Instant::now() < deadline, "{:?}", node.status());
        std::thread::sleep(Duration::from_millis(1));
    }
    for f in followers {
        cluster.hooks[f].set_closed(false);
    }
    let applies = &cluster.applies[leader];
    assert_eq!(next_entry(applies), (a.index(), Bytes::from_static(b"a")));
    assert_eq!(
        a.wait_timeout(Duration::from_secs(10)).map(|r| r.is_ok()),
        Some(true)
    );
    // Committed by the followers, but not on the leader's disk: not applied there.
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.status().commit_index < b.index() {
        assert!(Instant::now() < deadline, "{:?}", node.status());
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(matches!(
        applies.recv_timeout(Duration::from_millis(100)),
        Ok(None)
    ));
    cluster.hooks[leader].set_closed(false);
    assert_eq!(next_entry(applies), (b.index(), Bytes::from_static(b"b")));
    assert_eq!(
        b.wait_timeout(Duration::from_secs(10)).map(|r| r.is_ok()),
        Some(true)
    );
    cluster.shutdown();
}

/// `sync_on_loop`: no storage worker (two threads), a write is applied on every node and
/// is durable on the leader when it resolves (the leader counts itself only once synced,
/// §10.2.1); a failing sync on the loop stops the node as on the worker.
#[test]
fn sync_on_loop_keeps_durability_and_stops_on_a_failing_sync() {
    let cluster = cluster(3, |config| config.sync_on_loop = true);
    let leader = cluster.leader(&[0, 1, 2]);
    let node = &cluster.nodes[leader];
    assert_eq!(node.running_threads(), 2);
    let (index, _) = node
        .write(Bytes::from_static(b"x"))
        .wait()
        .expect("applied");
    assert!(node.status().durable_index >= index, "{:?}", node.status());
    for applies in &cluster.applies {
        assert_eq!(next_entry(applies), (index, Bytes::from_static(b"x")));
    }
    cluster.hooks[leader]
        .fail_sync
        .store(true, Ordering::SeqCst);
    assert!(matches!(
        node.write(Bytes::from_static(b"y")).wait(),
        Err(WriteError::Failed(ProposalError::Stopped(
            StopReason::Storage(_)
        )))
    ));
    assert!(matches!(node.stop_reason(), Some(StopReason::Storage(_))));
    node.shutdown();
    assert_eq!(node.running_threads(), 0);
    cluster.shutdown();
}

/// Back-pressure: with `max_pending_proposals` unresolved (their sync is held), `propose`
/// returns `Busy` at once; once the sync completes they all resolve and proposing works
/// again. All of them went to storage in few syncs (batching).
#[test]
fn propose_is_busy_when_pending_proposals_are_full() {
    let cluster = cluster(1, |config| config.max_pending_proposals = 4);
    let node = &cluster.nodes[0];
    cluster.leader(&[0]);
    let syncs_before = cluster.hooks[0].syncs.load(Ordering::SeqCst);
    cluster.hooks[0].set_closed(true);
    let proposals: Vec<Proposal> = (0..4u8)
        .map(|i| node.propose(Bytes::from(vec![i])).expect("room for four"))
        .collect();
    let started = Instant::now();
    assert!(matches!(
        node.propose(Bytes::from_static(b"five")),
        Err(ProposeError::Busy)
    ));
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "Busy was not immediate"
    );
    assert_eq!(node.status().pending_proposals, 4);
    cluster.hooks[0].set_closed(false);
    for proposal in proposals {
        assert!(proposal.wait().is_ok());
    }
    let syncs = cluster.hooks[0].syncs.load(Ordering::SeqCst) - syncs_before;
    assert!(syncs <= 4, "{syncs} syncs for four proposals");
    node.propose(Bytes::from_static(b"again"))
        .expect("room again")
        .wait()
        .unwrap();
    assert!(node.status().proposals_rejected >= 1);
    cluster.shutdown();
}

/// A service that does not read holds the node's apply stream at its bound; nothing is
/// dropped and the loop keeps serving (proposals are still answered); once the service
/// reads, every entry arrives in order.
#[test]
fn a_slow_service_is_bounded_and_loses_nothing() {
    let cluster = cluster(1, |config| config.apply_queue = 2);
    let node = &cluster.nodes[0];
    cluster.leader(&[0]);
    let mut last = 0;
    for i in 0..50u32 {
        last = node
            .propose(Bytes::from(i.to_le_bytes().to_vec()))
            .expect("accepted")
            .index();
    }
    std::thread::sleep(Duration::from_millis(200));
    let status = node.status();
    assert!(
        cluster.applies[0].len() <= 2,
        "{}",
        cluster.applies[0].len()
    );
    assert!(status.apply_queue > 0, "{status:?}");
    assert!(status.commit_index >= last);
    for i in 0..50u32 {
        let (_, command) = next_entry(&cluster.applies[0]);
        assert_eq!(command, Bytes::from(i.to_le_bytes().to_vec()));
    }
    cluster.shutdown();
}

/// A leader cut off from the others accepts a proposal that cannot commit; a new leader is
/// elected; when the new leader's messages reach the old one, it steps down and the
/// proposal fails with `LeadershipLost` naming the new leader. The entry is then
/// overwritten, so it is never applied.
#[test]
fn a_partitioned_leader_reports_leadership_lost_with_a_hint() {
    let cluster = cluster(3, |_| {});
    let old = cluster.leader(&[0, 1, 2]);
    cluster.net.isolate(old, true);
    let proposal = cluster.nodes[old]
        .propose(Bytes::from_static(b"lost"))
        .expect("still leader");
    let others: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    let new = cluster.leader(&others);
    assert!(proposal.wait_timeout(Duration::from_millis(50)).is_none());
    // Only the new leader's messages reach the old leader: it learns the leader with the
    // term (an AppendEntries), not from a reply.
    cluster.net.set_link(new, old, true);
    match proposal.wait_timeout(Duration::from_secs(10)) {
        Some(Err(ProposalError::LeadershipLost { leader })) => assert_eq!(leader, Some(new)),
        other => panic!("expected LeadershipLost, got {other:?}"),
    }
    cluster.shutdown();
}

/// A leader cut off from the others accepts a proposal at index `i`; the others elect a new
/// leader, which commits an entry of its own term at `i`. When the new leader's
/// AppendEntries reaches the old leader (it matches at `i - 1`, conflicts at `i`, and
/// carries a commit index at or past `i`), the old leader steps down with `i` committed:
/// its proposal stays pending until index `i` is applied, and then resolves `Overwritten`
/// with both terms — the only outcome that says the command is lost for certain (Log
/// Matching, Figure 3).
#[test]
fn an_overwritten_proposal_reports_overwritten() {
    // One AppendEntries in flight: the new leader's next index for the old leader stays at
    // its election-time value while the old leader is unreachable, so its first message
    // there conflicts exactly at `i`.
    let cluster = cluster(3, |config| config.max_inflight_appends = 1);
    let old = cluster.leader(&[0, 1, 2]);
    // Everything before `i` is on every node, so the new leader's log ends at `i - 1`.
    let settled = cluster.nodes[old]
        .propose(Bytes::from_static(b"before"))
        .expect("leader");
    assert_eq!(
        settled
            .wait_timeout(Duration::from_secs(10))
            .map(|r| r.is_ok()),
        Some(true)
    );
    let settled_index = settled.index();
    for applies in &cluster.applies {
        assert_eq!(next_entry(applies).0, settled_index);
    }
    cluster.net.isolate(old, true);
    let doomed = cluster.nodes[old]
        .propose(Bytes::from_static(b"doomed"))
        .expect("still leader");
    let others: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    let new = cluster.leader(&others);
    let replacing = cluster.nodes[new]
        .propose(Bytes::from_static(b"replacing"))
        .expect("new leader");
    assert_eq!(
        replacing
            .wait_timeout(Duration::from_secs(10))
            .map(|r| r.is_ok()),
        Some(true)
    );
    assert!(
        replacing.index() >= doomed.index(),
        "{replacing:?} {doomed:?}"
    );
    assert!(replacing.term() > doomed.term());
    assert!(doomed.wait_timeout(Duration::from_millis(50)).is_none());
    cluster.net.set_link(new, old, true);
    match doomed.wait_timeout(Duration::from_secs(10)) {
        Some(Err(ProposalError::Overwritten {
            index,
            term,
            committed_term,
        })) => {
            assert_eq!((index, term), (doomed.index(), doomed.term()));
            assert!(committed_term > term, "{committed_term} <= {term}");
        }
        other => panic!("expected Overwritten, got {other:?}"),
    }
    cluster.shutdown();
}

/// A storage write that panics stops the node cleanly: the apply stream ends with
/// `Stopped`, pending proposals fail with `Stopped`, new ones are refused, and every thread
/// is joined (shutdown twice and drop do not panic).
#[test]
fn a_panicking_storage_stops_the_node_cleanly() {
    let cluster = cluster(1, |_| {});
    let node = cluster.nodes[0].clone();
    cluster.leader(&[0]);
    cluster.settled(0);
    cluster.hooks[0].panic_write.store(true, Ordering::SeqCst);
    let proposal = node.propose(Bytes::from_static(b"boom")).unwrap();
    assert!(matches!(
        proposal.wait(),
        Err(ProposalError::Stopped(StopReason::StoragePanicked { .. }))
    ));
    assert!(matches!(
        cluster.applies[0].recv_timeout(Duration::from_secs(5)),
        Ok(Some(Applied::Stopped(StopReason::StoragePanicked { .. })))
    ));
    assert!(cluster.applies[0].recv().is_none(), "nothing after Stopped");
    assert!(matches!(
        node.propose(Bytes::from_static(b"x")),
        Err(ProposeError::Stopped(_))
    ));
    assert!(matches!(node.tick(), Err(NodeError::Stopped(_))));
    assert!(node.status().stopped.is_some());
    // The threads end by themselves, before any shutdown: nothing leaks.
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.running_threads() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} threads still running",
            node.running_threads()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    node.shutdown();
    node.shutdown();
    assert_eq!(node.running_threads(), 0);
    assert_eq!(
        Arc::strong_count(&cluster.alive[0]),
        1,
        "storage not released"
    );
    drop(node);
    drop(cluster);
}

/// A failing sync stops the node the same way, with the storage's error.
#[test]
fn a_failing_sync_stops_the_node() {
    let cluster = cluster(1, |_| {});
    let node = &cluster.nodes[0];
    cluster.leader(&[0]);
    cluster.settled(0);
    cluster.hooks[0].fail_sync.store(true, Ordering::SeqCst);
    let proposal = node.propose(Bytes::from_static(b"x")).unwrap();
    assert!(matches!(
        proposal.wait(),
        Err(ProposalError::Stopped(StopReason::Storage(_)))
    ));
    let mut watch = node.watch();
    loop {
        match watch.changed_timeout(Duration::from_secs(5)) {
            Err(NodeError::Stopped(StopReason::Storage(_))) => break,
            Ok(Some(_)) => continue,
            other => panic!("{other:?}"),
        }
    }
    node.shutdown();
    assert_eq!(node.running_threads(), 0);
}

/// No step waits for a disk write: with every sync taking 500 ms, the leader's heartbeats
/// still leave on time, so followers keep their leader (no new term) while proposals
/// commit (issue 10: the save under the core lock delayed heartbeats and the cluster
/// churned through terms).
#[test]
fn a_slow_sync_does_not_delay_heartbeats() {
    let cluster = cluster(3, |_| {});
    let leader = cluster.leader(&[0, 1, 2]);
    let term = cluster.nodes[leader].state().term;
    for hook in &cluster.hooks {
        hook.sync_delay_ms.store(500, Ordering::SeqCst);
    }
    let mut watches: Vec<Watch> = cluster.nodes.iter().map(Node::watch).collect();
    let started = Instant::now();
    let mut proposals = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        proposals.push(
            cluster.nodes[leader]
                .propose(Bytes::from_static(b"p"))
                .expect("still leader"),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for (i, watch) in watches.iter_mut().enumerate() {
        let change = watch.changed_timeout(Duration::ZERO).unwrap();
        assert!(change.is_none(), "node {i} changed to {change:?}");
        assert_eq!(watch.current().term, term);
    }
    let last = proposals.pop().unwrap();
    assert!(last
        .wait_timeout(Duration::from_secs(10))
        .is_some_and(|r| r.is_ok()));
    // Group commit: far fewer syncs than proposals.
    let syncs = cluster.hooks[leader].syncs.load(Ordering::SeqCst);
    assert!(syncs < 30, "{syncs} syncs");
    cluster.shutdown();
}

/// `spin_before_sleep` never holds back a tick: a loop looks for input at most until its
/// next tick is due, so with a spin far longer than the election timeout a leader is still
/// elected, and its heartbeats keep every follower in its term. (Were the spin not cut at
/// the tick, no loop would tick for a minute and `leader` would give up after 10 s.)
#[test]
fn a_long_spin_never_delays_a_tick() {
    let cluster = cluster(3, |config| {
        config.spin_before_sleep = Duration::from_secs(60);
    });
    let leader = cluster.leader(&[0, 1, 2]);
    let term = cluster.nodes[leader].state().term;
    let mut watches: Vec<Watch> = cluster.nodes.iter().map(Node::watch).collect();
    let (index, _) = cluster.nodes[leader]
        .write(Bytes::from_static(b"s"))
        .wait()
        .expect("applied");
    // Several heartbeat intervals: followers that missed heartbeats would start elections.
    std::thread::sleep(Duration::from_millis(700));
    for (i, watch) in watches.iter_mut().enumerate() {
        assert_eq!(watch.current().term, term, "node {i} left term {term}");
        assert!(cluster.nodes[i].status().commit_index >= index);
    }
    cluster.shutdown();
}

/// `shutdown` joins every thread; afterwards requests fail with `Shutdown`, the apply
/// stream ends, and watches end. Dropping the last handle shuts down as well.
#[test]
fn shutdown_joins_every_thread() {
    let cluster = cluster(1, |_| {});
    let node = &cluster.nodes[0];
    cluster.leader(&[0]);
    assert_eq!(node.running_threads(), 3);
    let mut watch = node.watch();
    node.shutdown();
    assert_eq!(node.running_threads(), 0);
    assert_eq!(
        Arc::strong_count(&cluster.alive[0]),
        1,
        "storage not released"
    );
    assert!(matches!(
        node.propose(Bytes::from_static(b"x")),
        Err(ProposeError::Shutdown)
    ));
    assert!(matches!(node.snapshot(1, vec![]), Err(NodeError::Shutdown)));
    assert!(cluster.applies[0].recv().is_none());
    assert!(matches!(watch.changed(), Err(NodeError::Shutdown)));
    assert!(node.with_core(|core| core.current_term()).is_err());
    assert_eq!(node.with_final_core(|core| core.role()), Some(Role::Leader));

    let Cluster {
        nodes,
        applies,
        alive,
        ..
    } = self::cluster(1, |_| {});
    drop(nodes);
    assert!(applies[0].recv().is_none(), "the stream ends on drop");
    assert_eq!(
        Arc::strong_count(&alive[0]),
        1,
        "storage not released on drop"
    );
}

/// Configuration is checked: zero bounds, pipelining the core does not do, and timings
/// after rounding to ticks.
#[test]
fn bad_configurations_are_refused() {
    let start = |config: NodeConfig| {
        let net = Net::new(3);
        Node::start(
            config,
            Box::new(MemoryStorage::new()),
            Arc::new(Link { net, from: 0 }),
        )
        .map(|_| ())
    };
    assert!(matches!(
        start(NodeConfig {
            apply_queue: 0,
            ..config(0, 3)
        }),
        Err(NodeError::Config(NodeConfigError::Zero {
            field: "apply_queue"
        }))
    ));
    assert!(start(NodeConfig {
        max_inflight_appends: 4,
        ..config(0, 3)
    })
    .is_ok());
    assert!(matches!(
        start(NodeConfig {
            heartbeat_interval: Duration::from_millis(1),
            election_timeout_min: Duration::from_millis(2),
            election_timeout_max: Duration::from_millis(2),
            ..config(0, 3)
        }),
        Err(NodeError::Timing(
            TimingError::HeartbeatNotBelowElectionTimeout { .. }
        ))
    ));
    assert!(matches!(
        start(config(3, 3)),
        Err(NodeError::Config(NodeConfigError::Core(_)))
    ));
}

/// A state machine that records what it is handed, and on which thread; it refuses or
/// panics on the commands it is told to.
#[derive(Clone, Default)]
struct Recorder {
    entries: Arc<Mutex<Vec<(u64, Bytes)>>>,
    threads: Arc<Mutex<HashSet<String>>>,
    stopped: Arc<Mutex<Vec<StopReason>>>,
}

impl StateMachine for Recorder {
    fn apply(&mut self, index: u64, _term: u64, command: Bytes) -> Result<(), ApplyError> {
        let thread = std::thread::current().name().unwrap_or("?").to_string();
        self.threads.lock().unwrap().insert(thread);
        match &command[..] {
            b"refuse" => return Err(ApplyError::new("not a command of this service")),
            b"panic" => panic!("injected apply panic"),
            _ => {}
        }
        self.entries.lock().unwrap().push((index, command));
        Ok(())
    }

    fn restore(&mut self, _index: u64, _term: u64, _data: Arc<Vec<u8>>) -> Result<(), ApplyError> {
        Ok(())
    }

    fn stopped(&mut self, reason: &StopReason) {
        self.stopped.lock().unwrap().push(reason.clone());
    }
}

/// A state machine is called on the node's own threads (no service thread), once per
/// committed entry and in index order on every node, and a proposal resolves only after
/// its entry was applied there.
#[test]
fn a_state_machine_applies_in_place_in_order_before_the_proposal_resolves() {
    let machines: Vec<Recorder> = (0..3).map(|_| Recorder::default()).collect();
    let cluster = machine_cluster(3, |id| machines[id].clone());
    let leader = cluster.leader(&[0, 1, 2]);
    let mut proposed = Vec::new();
    for i in 0..40 {
        let command = Bytes::from(format!("c{i}"));
        let proposal = cluster.nodes[leader].propose(command.clone()).unwrap();
        let index = proposal.index();
        if i % 2 == 0 {
            // Awaited one at a time, half of them; the rest resolve in batches.
            assert!(matches!(
                proposal.wait_timeout(Duration::from_secs(10)),
                Some(Ok(()))
            ));
            let applied = machines[leader].entries.lock().unwrap().clone();
            assert_eq!(
                applied.last(),
                Some(&(index, command.clone())),
                "resolved before applied"
            );
        } else {
            drop(proposal);
        }
        proposed.push((index, command));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for machine in &machines {
        while machine.entries.lock().unwrap().len() < proposed.len() {
            assert!(Instant::now() < deadline, "not all applied");
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(*machine.entries.lock().unwrap(), proposed);
        for thread in machine.threads.lock().unwrap().iter() {
            assert!(
                thread.starts_with("raft-loop-"),
                "applied on thread {thread}"
            );
        }
    }
    assert!(cluster.applies.is_empty());
    cluster.shutdown();
    for machine in &machines {
        assert!(
            machine.stopped.lock().unwrap().is_empty(),
            "a shutdown is not a stop"
        );
    }
}

/// A state machine that refuses a committed entry, or panics on it, stops the node: the
/// proposal fails with the reason, the machine is told once, nothing after it is applied,
/// and every thread ends. The same with the loop as a task (then the timer thread ends
/// too, and the panic stays inside the poll).
#[test]
fn a_state_machine_that_refuses_or_panics_stops_the_node() {
    let cases = [(&b"refuse"[..], false), (&b"panic"[..], true)];
    for (as_task, (command, expect_panic)) in [false, true]
        .into_iter()
        .flat_map(|as_task| cases.map(|case| (as_task, case)))
    {
        let runtime = as_task.then(multi_thread_runtime);
        let machine = Recorder::default();
        let on_task = |config: &mut NodeConfig| {
            if let Some(runtime) = &runtime {
                on_runtime(runtime)(config);
            }
        };
        let cluster = machine_cluster_with(1, on_task, |_| machine.clone());
        let node = cluster.nodes[0].clone();
        cluster.leader(&[0]);
        let before = node.propose(Bytes::from_static(b"ok")).unwrap();
        assert!(matches!(before.wait(), Ok(())));
        let bad = node.propose(Bytes::copy_from_slice(command)).unwrap();
        let index = bad.index();
        let reason = match bad.wait() {
            Err(ProposalError::Stopped(reason)) => reason,
            other => panic!("{command:?}: expected a stop, got {other:?}"),
        };
        match (&reason, expect_panic) {
            (StopReason::Undecodable { index: at, reason }, false) => {
                assert_eq!(*at, index);
                assert_eq!(reason, "not a command of this service");
            }
            (StopReason::Panicked { message }, true) => {
                assert_eq!(message, "injected apply panic")
            }
            _ => panic!("{command:?}: wrong reason {reason:?}"),
        }
        assert!(matches!(
            node.propose(Bytes::from_static(b"after")),
            Err(ProposeError::Stopped(_))
        ));
        let deadline = Instant::now() + Duration::from_secs(5);
        while node.running_threads() > 0 {
            assert!(Instant::now() < deadline, "threads still running");
            std::thread::sleep(Duration::from_millis(2));
        }
        let told: Vec<String> = machine
            .stopped
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(told, vec![reason.to_string()], "told once, with the reason");
        let applied: Vec<Bytes> = machine
            .entries
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.1.clone())
            .collect();
        assert_eq!(applied, vec![Bytes::from_static(b"ok")]);
        node.shutdown();
    }
}

/// `write.wait()` on another thread, failing the test after 10 s instead of hanging it (the
/// calls under test would hang if their guard broke).
fn wait_within(write: Write) -> Result<(u64, u64), WriteError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(write.wait());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the write neither resolved nor failed within 10 s: a deadlock")
}

/// What a state machine saw when it called the node from inside `apply`.
#[derive(Default)]
struct Reentry {
    snapshot: Option<Result<(), String>>,
    propose: Option<String>,
    write_wait: Option<String>,
    tick: Option<String>,
    with_core: Option<String>,
}

/// A state machine that calls back into its own node from `apply` (a service snapshots
/// there): `snapshot` is taken without waiting; every call that would wait for the loop,
/// which is running the apply, is refused instead of hanging.
struct CallsBack {
    node: Arc<OnceLock<Node>>,
    seen: Arc<Mutex<Reentry>>,
}

impl StateMachine for CallsBack {
    fn apply(&mut self, index: u64, _term: u64, command: Bytes) -> Result<(), ApplyError> {
        let node = self.node.get().expect("set after start");
        if &command[..] == b"stop" {
            // Must return (not join the threads that wait for this loop).
            node.shutdown();
            return Ok(());
        }
        if &command[..] != b"snap" {
            return Ok(());
        }
        let mut seen = self.seen.lock().unwrap();
        seen.snapshot = Some(
            node.snapshot(index, b"state".to_vec())
                .map_err(|e| e.to_string()),
        );
        seen.propose = node
            .propose(Bytes::from_static(b"x"))
            .err()
            .map(|e| format!("{e:?}"));
        seen.write_wait = node
            .write(Bytes::from_static(b"y"))
            .wait()
            .err()
            .map(|e| format!("{e:?}"));
        seen.tick = node.tick().err().map(|e| format!("{e:?}"));
        seen.with_core = node
            .with_core(|core| core.role())
            .err()
            .map(|e| format!("{e:?}"));
        Ok(())
    }

    fn restore(&mut self, _index: u64, _term: u64, _data: Arc<Vec<u8>>) -> Result<(), ApplyError> {
        Ok(())
    }
}

/// What [`CallsBack`] saw on its `snap` command: the snapshot taken, every call that would
/// wait for the loop refused.
fn assert_refused_what_would_hang(seen: &Mutex<Reentry>) {
    let seen = seen.lock().unwrap();
    assert_eq!(seen.snapshot, Some(Ok(())));
    assert_eq!(seen.propose.as_deref(), Some("OnNodeThread"));
    assert_eq!(seen.write_wait.as_deref(), Some("OnNodeThread"));
    assert_eq!(seen.tick.as_deref(), Some("OnNodeThread"));
    assert_eq!(seen.with_core.as_deref(), Some("OnNodeThread"));
}

#[test]
fn a_state_machine_can_snapshot_and_is_refused_what_would_hang() {
    let node_slot = Arc::new(OnceLock::new());
    let seen = Arc::new(Mutex::new(Reentry::default()));
    let cluster = machine_cluster(1, |_| CallsBack {
        node: Arc::clone(&node_slot),
        seen: Arc::clone(&seen),
    });
    let _ = node_slot.set(cluster.nodes[0].clone());
    cluster.leader(&[0]);
    let node = &cluster.nodes[0];
    let (index, _) = wait_within(node.write(Bytes::from_static(b"snap"))).unwrap();
    assert_refused_what_would_hang(&seen);
    // The snapshot was taken by the loop after that apply; the write queued from inside
    // `apply` was appended (and applied) too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.status().snapshot_index < index || node.status().applied < index + 1 {
        assert!(Instant::now() < deadline, "{:?}", node.status());
        std::thread::sleep(Duration::from_millis(2));
    }
    // From any other thread the same calls wait as usual.
    assert!(node.with_core(|core| core.role()).is_ok());
    cluster.shutdown();
}

/// A state machine that shuts its own node down from `apply`: the call returns (it does not
/// join threads that wait for the very loop running it) and every thread then ends.
#[test]
fn a_state_machine_can_shut_its_node_down() {
    let node_slot = Arc::new(OnceLock::new());
    let cluster = machine_cluster(1, |_| CallsBack {
        node: Arc::clone(&node_slot),
        seen: Arc::default(),
    });
    let node = cluster.nodes[0].clone();
    let _ = node_slot.set(node.clone());
    cluster.leader(&[0]);
    assert!(matches!(
        wait_within(node.write(Bytes::from_static(b"stop"))),
        Ok(_) | Err(WriteError::Failed(ProposalError::Shutdown))
    ));
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.running_threads() > 0 {
        assert!(Instant::now() < deadline, "threads still running");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(matches!(
        node.propose(Bytes::from_static(b"x")),
        Err(ProposeError::Shutdown)
    ));
    // The handles were kept: a shutdown from here joins them.
    node.shutdown();
    assert_eq!(
        Arc::strong_count(&cluster.alive[0]),
        1,
        "storage not released"
    );
}

// ---- The event loop as a task of an async executor (`NodeConfig::spawn_loop`) ----

/// A configuration tweak that runs every loop as a task on `runtime`.
fn on_runtime(runtime: &tokio::runtime::Runtime) -> impl Fn(&mut NodeConfig) {
    let handle = runtime.handle().clone();
    move |config: &mut NodeConfig| {
        let handle = handle.clone();
        config.spawn_loop = Some(LoopSpawner::new(move |task| {
            handle.spawn(task);
        }));
    }
}

fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("executor")
        .enable_time()
        .build()
        .unwrap()
}

/// Waits, without blocking the thread, until `nodes` agree on one leader.
async fn leader_of(nodes: &[Node]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let states: Vec<State> = nodes.iter().map(Node::state).collect();
        let leaders: Vec<usize> = (0..nodes.len())
            .filter(|&i| states[i].role == Role::Leader)
            .collect();
        if let [leader] = leaders[..] {
            if states
                .iter()
                .all(|s| s.leader == Some(leader) && s.term == states[leader].term)
            {
                return leader;
            }
        }
        assert!(Instant::now() < deadline, "no leader: {states:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Loops run as tasks on a shared two-worker runtime: the cluster elects a leader, many
/// concurrent writes (awaited on the same runtime) resolve once applied, every node's state
/// machine sees every entry in order, called on the executor's threads (no loop thread
/// exists), and after a shutdown every task completes and every thread of the nodes ends.
#[test]
fn loops_as_tasks_elect_and_apply_concurrent_writes() {
    let runtime = multi_thread_runtime();
    let machines: Vec<Recorder> = (0..3).map(|_| Recorder::default()).collect();
    let cluster = machine_cluster_with(3, on_runtime(&runtime), |id| machines[id].clone());
    for node in &cluster.nodes {
        // The loop task (counted as the loop thread would be), the timer, the applier and
        // the storage worker.
        assert_eq!(node.running_threads(), 4);
    }
    let nodes = cluster.nodes.clone();
    let written: Vec<(u64, u64)> = runtime.block_on(async move {
        let leader = leader_of(&nodes).await;
        let writes: Vec<_> = (0..200)
            .map(|i| {
                let node = nodes[leader].clone();
                tokio::spawn(async move { node.write(Bytes::from(format!("w{i}"))).await })
            })
            .collect();
        let mut written = Vec::new();
        for write in writes {
            let outcome = tokio::time::timeout(Duration::from_secs(10), write)
                .await
                .expect("a write neither resolved nor failed within 10 s")
                .unwrap();
            written.push(outcome.expect("write failed"));
        }
        written
    });
    let mut indexes: Vec<u64> = written.iter().map(|w| w.0).collect();
    indexes.sort_unstable();
    indexes.dedup();
    assert_eq!(indexes.len(), 200, "two writes at one index");
    let deadline = Instant::now() + Duration::from_secs(10);
    for machine in &machines {
        while machine.entries.lock().unwrap().len() < 200 {
            assert!(Instant::now() < deadline, "not all applied");
            std::thread::sleep(Duration::from_millis(2));
        }
        let applied: Vec<u64> = machine
            .entries
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.0)
            .collect();
        assert!(applied.windows(2).all(|w| w[0] < w[1]), "out of order");
        for thread in machine.threads.lock().unwrap().iter() {
            assert!(thread.starts_with("executor"), "applied on thread {thread}");
        }
    }
    cluster.shutdown();
    for node in &cluster.nodes {
        let deadline = Instant::now() + Duration::from_secs(5);
        while node.running_threads() > 0 {
            assert!(Instant::now() < deadline, "threads still running");
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(node.status().shut_down);
    }
    for machine in &machines {
        assert!(machine.stopped.lock().unwrap().is_empty());
    }
}

/// Many clients against a leader run as a task, with no timer (`auto_tick` off): the leader
/// defers taking proposals while others are in flight (`task.rs`, `should_defer`), and
/// nothing but its own wake schedules it again then (producers see it not waiting). A
/// deferral that lost that wake would leave the leader, and every client, waiting for good:
/// here no tick would rescue it. Each write must resolve within 10 s.
#[test]
fn a_loop_task_that_defers_for_more_proposals_is_never_left_unwoken() {
    let runtime = multi_thread_runtime();
    // A state machine called in place: nothing waits on an unread apply stream.
    let cluster = machine_cluster_with(
        3,
        |config| {
            on_runtime(&runtime)(config);
            config.auto_tick = false;
            config.sync_on_loop = true;
        },
        |_| Recorder::default(),
    );
    // Elected by manual ticks (from this thread, not a worker: `tick` blocks).
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.nodes[0].state().role != Role::Leader {
        assert!(Instant::now() < deadline, "{:?}", cluster.nodes[0].status());
        cluster.nodes[0].tick().unwrap();
    }
    let nodes = cluster.nodes.clone();
    let written = runtime.block_on(async move {
        let clients: Vec<_> = (0..64)
            .map(|c| {
                let node = nodes[0].clone();
                tokio::spawn(async move {
                    for i in 0..20 {
                        tokio::time::timeout(
                            Duration::from_secs(10),
                            node.write(Bytes::from(format!("c{c}-{i}"))),
                        )
                        .await
                        .expect("a write neither resolved nor failed within 10 s")
                        .expect("write failed");
                    }
                })
            })
            .collect();
        for client in clients {
            client.await.unwrap();
        }
        nodes[0].status()
    });
    assert_eq!(written.proposals_accepted, 64 * 20);
    cluster.shutdown();
}

/// On a single-threaded executor, the three loops and the client share one thread: nothing
/// in the loop may block it. Elects and commits with the apply streams (the applier
/// threads take them).
#[test]
fn loops_as_tasks_share_one_thread() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let cluster = cluster(3, on_runtime(&runtime));
    let nodes = cluster.nodes.clone();
    // Everything runs inside `block_on` only: the followers learn the last commit there
    // too, so the wait for every node's apply is part of it.
    let (index, _) = runtime.block_on(async move {
        let leader = leader_of(&nodes).await;
        let mut last = (0, 0);
        for i in 0..20 {
            last = tokio::time::timeout(
                Duration::from_secs(10),
                nodes[leader].write(Bytes::from(format!("c{i}"))),
            )
            .await
            .expect("a write neither resolved nor failed within 10 s")
            .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while nodes.iter().any(|node| node.status().applied < last.0) {
            assert!(Instant::now() < deadline, "not applied everywhere");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        last
    });
    for applies in &cluster.applies {
        let mut seen = 0;
        while seen < index {
            seen = next_entry(applies).0;
        }
        assert_eq!(seen, index);
    }
    cluster.shutdown();
    // The loops see the stop only when polled: run the executor until they have ended.
    runtime.block_on(async {
        for node in &cluster.nodes {
            let deadline = Instant::now() + Duration::from_secs(5);
            while node.running_threads() > 0 {
                assert!(Instant::now() < deadline, "threads still running");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
}

/// An executor that drops the loop unfinished (its runtime shut down) stops the node: a
/// node must not look alive with nothing stepping it. Waiters hear `LoopDropped`, and every
/// thread of the node ends.
#[test]
fn a_dropped_loop_task_stops_its_node() {
    let runtime = multi_thread_runtime();
    let cluster = cluster(1, on_runtime(&runtime));
    let node = cluster.nodes[0].clone();
    cluster.leader(&[0]);
    assert!(wait_within(node.write(Bytes::from_static(b"before"))).is_ok());
    drop(runtime);
    assert!(matches!(node.stop_reason(), Some(StopReason::LoopDropped)));
    assert!(matches!(
        wait_within(node.write(Bytes::from_static(b"after"))),
        Err(WriteError::Refused(ProposeError::Stopped(
            StopReason::LoopDropped
        )))
    ));
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.running_threads() > 0 {
        assert!(Instant::now() < deadline, "threads still running");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A state machine on a loop task is on the loop while it applies, though on an executor's
/// thread: the calls that would wait for the loop are refused, not hung, as on a loop
/// thread; the snapshot is taken.
#[test]
fn a_state_machine_on_a_loop_task_is_refused_what_would_hang() {
    let runtime = multi_thread_runtime();
    let node_slot = Arc::new(OnceLock::new());
    let seen = Arc::new(Mutex::new(Reentry::default()));
    let cluster = machine_cluster_with(1, on_runtime(&runtime), |_| CallsBack {
        node: Arc::clone(&node_slot),
        seen: Arc::clone(&seen),
    });
    let _ = node_slot.set(cluster.nodes[0].clone());
    cluster.leader(&[0]);
    let node = &cluster.nodes[0];
    let (index, _) = wait_within(node.write(Bytes::from_static(b"snap"))).unwrap();
    assert_refused_what_would_hang(&seen);
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.status().snapshot_index < index {
        assert!(Instant::now() < deadline, "{:?}", node.status());
        std::thread::sleep(Duration::from_millis(2));
    }
    // The executor's threads (both have polled the loop by now, most likely) are not the
    // loop when they run something else: there the same calls wait as usual.
    for _ in 0..20 {
        let node = node.clone();
        let role = runtime.block_on(async move {
            tokio::spawn(async move {
                tokio::task::block_in_place(|| node.with_core(|core| core.role()))
            })
            .await
            .unwrap()
        });
        assert!(matches!(role, Ok(Role::Leader)), "{role:?}");
    }
    cluster.shutdown();
}

/// A spawner onto `runtime` that keeps each loop task's `JoinHandle` in `handles` (to see
/// how the task ended).
fn spawner_keeping_handles(
    runtime: &tokio::runtime::Runtime,
    handles: &Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
) -> LoopSpawner {
    let runtime = runtime.handle().clone();
    let handles = Arc::clone(handles);
    LoopSpawner::new(move |task| handles.lock().unwrap().push(runtime.spawn(task)))
}

/// Waits (without a fixed sleep as the assertion) until `node` has no thread or loop task
/// left running.
fn all_ended_within(node: &Node, limit: Duration) {
    let deadline = Instant::now() + limit;
    while node.running_threads() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} threads or tasks still running",
            node.running_threads()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A network whose destructor panics: the embedding's code, which a loop runs as it ends
/// (it drops what it owns).
struct PanicsOnDrop;

impl Network for PanicsOnDrop {
    fn send(&self, _to: usize, _message: Bytes) {}
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("injected panic in the network's destructor");
    }
}

/// A panic while a loop task ends (in the destructor of what it releases) is the loop's
/// own: the task completes instead of unwinding into its executor, and the timer thread
/// still ends (it is told after the close: were the panic to skip that, it would sleep on
/// for good and `running_threads` would never reach 0).
#[test]
fn a_panic_as_a_loop_task_ends_leaves_no_thread_behind() {
    let runtime = multi_thread_runtime();
    let handles = Arc::new(Mutex::new(Vec::new()));
    let mut config = config(0, 1);
    config.spawn_loop = Some(spawner_keeping_handles(&runtime, &handles));
    let (node, _applies) = Node::start(
        config,
        Box::new(MemoryStorage::new()),
        Arc::new(PanicsOnDrop),
    )
    .unwrap();
    node.shutdown();
    let task = handles.lock().unwrap().pop().expect("the loop was spawned");
    let ended =
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(10), task).await });
    assert!(
        matches!(ended, Ok(Ok(()))),
        "the loop task did not complete: {ended:?}"
    );
    all_ended_within(&node, Duration::from_secs(10));
    assert!(node.status().shut_down);
}

/// A network whose destructor waits (at most 10 s) until the test opens `gate`: holds a
/// loop in the very last step of its end, after its queues are closed.
struct HeldOnDrop {
    dropping: Arc<AtomicBool>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl Network for HeldOnDrop {
    fn send(&self, _to: usize, _message: Bytes) {}
}

impl Drop for HeldOnDrop {
    fn drop(&mut self) {
        self.dropping.store(true, Ordering::SeqCst);
        let (open, opened) = &*self.gate;
        let open = open.lock().unwrap();
        let _ = opened
            .wait_timeout_while(open, Duration::from_secs(10), |open| !*open)
            .unwrap();
    }
}

/// `running_threads` counts a loop task until it has ended, as it counts a loop thread: 0
/// means the loop let go of everything it owns (here its storage, with `sync_on_loop`).
/// The applier ends as soon as the loop closes its queue, before the loop has dropped its
/// storage: were the task uncounted (and without a timer thread: `auto_tick` off), the
/// count would read 0 while the storage is still held.
#[test]
fn running_threads_counts_a_loop_task_until_it_has_ended() {
    let runtime = multi_thread_runtime();
    let mut config = config(0, 1);
    on_runtime(&runtime)(&mut config);
    config.sync_on_loop = true;
    config.auto_tick = false;
    let alive = Arc::new(());
    let storage = Hooked {
        inner: MemoryStorage::new(),
        hook: Arc::new(Hook::default()),
        _alive: Arc::clone(&alive),
    };
    let dropping = Arc::new(AtomicBool::new(false));
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let network = HeldOnDrop {
        dropping: Arc::clone(&dropping),
        gate: Arc::clone(&gate),
    };
    let (node, _applies) = Node::start(config, Box::new(storage), Arc::new(network)).unwrap();
    // The loop task and the applier (no storage worker, no timer).
    assert_eq!(node.running_threads(), 2);
    node.shutdown();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dropping.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the loop did not reach its end");
        std::thread::sleep(Duration::from_millis(2));
    }
    // The loop is held in its network's destructor, its storage not yet dropped: it is
    // still running, whatever the applier does meanwhile (told to end before this, it
    // has all of this window to do so). The window only gives a wrong count time to show.
    let window = Instant::now() + Duration::from_millis(500);
    while Instant::now() < window {
        assert!(
            node.running_threads() > 0,
            "the count reached 0 while the loop task still held its storage"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(Arc::strong_count(&alive), 2, "storage released early");
    assert_eq!(node.running_threads(), 1, "the applier has not ended");
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    all_ended_within(&node, Duration::from_secs(10));
    assert_eq!(Arc::strong_count(&alive), 1, "storage not released");
}

/// An executor that drops a loop task with waiters outstanding resolves every one of them
/// with `LoopDropped`, none hangs: a write and a proposal accepted but not yet durable
/// (the sync is held), and the apply stream, which ends with `Applied::Stopped`. Every
/// thread ends once the held sync returns.
#[test]
fn a_dropped_loop_task_resolves_every_waiter() {
    let runtime = multi_thread_runtime();
    let cluster = cluster(1, on_runtime(&runtime));
    let node = cluster.nodes[0].clone();
    cluster.leader(&[0]);
    cluster.settled(0);
    cluster.hooks[0].set_closed(true);
    let write = node.write(Bytes::from_static(b"w"));
    let proposal = node.propose(Bytes::from_static(b"p")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(proposal.wait());
    });
    drop(runtime);
    let dropped = |reason: &StopReason| matches!(reason, StopReason::LoopDropped);
    match wait_within(write) {
        Err(WriteError::Failed(ProposalError::Stopped(reason))) if dropped(&reason) => {}
        other => panic!("the write: {other:?}"),
    }
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Err(ProposalError::Stopped(reason))) if dropped(&reason) => {}
        other => panic!("the proposal: {other:?}"),
    }
    let applies = &cluster.applies[0];
    loop {
        match applies.recv_timeout(Duration::from_secs(10)) {
            Ok(Some(Applied::Entry { .. })) => continue,
            Ok(Some(Applied::Stopped(reason))) if dropped(&reason) => break,
            other => panic!("the apply stream: {other:?}"),
        }
    }
    assert!(matches!(
        applies.recv_timeout(Duration::from_secs(10)),
        Err(())
    ));
    cluster.hooks[0].set_closed(false);
    all_ended_within(&node, Duration::from_secs(10));
}

/// A state machine that records, as it applies, whether each of two nodes reads as "on its
/// loop" (`Shared::on_loop`, the marker behind the `OnNodeThread` refusals).
struct Marks {
    me: usize,
    nodes: [Arc<OnceLock<Node>>; 2],
    seen: Arc<Mutex<Vec<(usize, bool, bool)>>>,
}

impl StateMachine for Marks {
    fn apply(&mut self, _index: u64, _term: u64, _command: Bytes) -> Result<(), ApplyError> {
        if let (Some(a), Some(b)) = (self.nodes[0].get(), self.nodes[1].get()) {
            let marks = (self.me, a.shared().on_loop(), b.shared().on_loop());
            self.seen.lock().unwrap().push(marks);
        }
        Ok(())
    }

    fn restore(&mut self, _index: u64, _term: u64, _data: Arc<Vec<u8>>) -> Result<(), ApplyError> {
        Ok(())
    }
}

/// Two nodes' loop tasks and a client share one thread (a current-thread runtime): the
/// marker is set only while a node's own loop is polled. Inside node A's apply, A is on its
/// loop and B is not (and the other way round); in the client, between the polls, neither.
#[test]
fn the_loop_marker_stays_with_its_poll_on_a_shared_thread() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let slots = [Arc::new(OnceLock::new()), Arc::new(OnceLock::new())];
    let seen = Arc::new(Mutex::new(Vec::new()));
    let clusters: Vec<Cluster> = (0..2)
        .map(|me| {
            machine_cluster_with(1, on_runtime(&runtime), |_| Marks {
                me,
                nodes: slots.clone(),
                seen: Arc::clone(&seen),
            })
        })
        .collect();
    let nodes: Vec<Node> = clusters.iter().map(|c| c.nodes[0].clone()).collect();
    for (slot, node) in slots.iter().zip(&nodes) {
        let _ = slot.set(node.clone());
    }
    let on_loop =
        |nodes: &[Node]| -> Vec<bool> { nodes.iter().map(|n| n.shared().on_loop()).collect() };
    runtime.block_on(async {
        for node in &nodes {
            leader_of(std::slice::from_ref(node)).await;
        }
        for i in 0..10 {
            for node in &nodes {
                let written = tokio::time::timeout(
                    Duration::from_secs(10),
                    node.write(Bytes::from(format!("m{i}"))),
                )
                .await
                .expect("a write neither resolved nor failed within 10 s");
                assert!(written.is_ok(), "{written:?}");
                assert_eq!(
                    on_loop(&nodes),
                    [false, false],
                    "the marker leaked out of a poll"
                );
            }
        }
    });
    let seen = seen.lock().unwrap();
    for me in 0..2 {
        let mine: Vec<_> = seen.iter().filter(|s| s.0 == me).collect();
        assert!(mine.len() >= 10, "node {me} applied {} writes", mine.len());
        for &&(_, a, b) in &mine {
            assert_eq!(
                [a, b],
                [me == 0, me == 1],
                "node {me}'s apply saw the wrong marker"
            );
        }
    }
    drop(seen);
    for cluster in &clusters {
        cluster.shutdown();
    }
    runtime.block_on(async {
        for node in &nodes {
            let deadline = Instant::now() + Duration::from_secs(5);
            while node.running_threads() > 0 {
                assert!(Instant::now() < deadline, "threads still running");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
}

/// A shutdown that the executor completes by dropping the loop task (the common
/// `node.shutdown(); drop(runtime)`, or a runtime that ends with `main`) is a shutdown, not
/// a failure: the task's end is the one requested first. Were it `LoopDropped`, the node
/// would read as stopped on an error and its state machine would be told `stopped`, which
/// a shutdown never does. (A current-thread runtime polls its tasks only
/// inside `block_on`, so the stop is surely still unseen when the runtime is dropped.)
#[test]
fn a_shutdown_completed_by_dropping_the_loop_task_is_a_shutdown() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let machine = Recorder::default();
    let cluster = machine_cluster_with(1, on_runtime(&runtime), |_| machine.clone());
    let node = cluster.nodes[0].clone();
    let written = runtime.block_on(async {
        leader_of(std::slice::from_ref(&node)).await;
        tokio::time::timeout(
            Duration::from_secs(10),
            node.write(Bytes::from_static(b"a")),
        )
        .await
        .expect("a write neither resolved nor failed within 10 s")
    });
    assert!(written.is_ok(), "{written:?}");
    node.shutdown();
    drop(runtime);
    let status = node.status();
    assert!(status.shut_down, "{status:?}");
    assert!(status.stopped.is_none(), "{status:?}");
    assert!(node.stop_reason().is_none(), "{:?}", node.stop_reason());
    assert!(matches!(
        node.propose(Bytes::from_static(b"after")),
        Err(ProposeError::Shutdown)
    ));
    all_ended_within(&node, Duration::from_secs(10));
    assert!(
        machine.stopped.lock().unwrap().is_empty(),
        "a shutdown is not a stop"
    );
}

/// An executor that drops a loop task after a worker reported a failure (not yet seen by
/// the loop) ends the node with that failure, the first stop requested, not with
/// `LoopDropped`.
#[test]
fn a_dropped_loop_task_keeps_a_failure_already_reported() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let cluster = cluster(1, on_runtime(&runtime));
    let node = cluster.nodes[0].clone();
    runtime.block_on(leader_of(std::slice::from_ref(&node)));
    cluster.settled(0);
    // The next sync is held, then fails on the storage worker, which reports it to the
    // loop; the loop, a task of a runtime nobody drives by then, does not see it before
    // the drop.
    let hook = &cluster.hooks[0];
    hook.fail_sync.store(true, Ordering::SeqCst);
    hook.set_closed(true);
    let write = node.write(Bytes::from_static(b"w"));
    runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(10);
        while node.status().storage_queue == 0 {
            assert!(Instant::now() < deadline, "the write was not issued");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    hook.set_closed(false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.stop_reason().is_none() {
        assert!(Instant::now() < deadline, "the failure was not reported");
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(runtime);
    assert!(
        matches!(node.stop_reason(), Some(StopReason::Storage(_))),
        "{:?}",
        node.stop_reason()
    );
    assert!(matches!(
        wait_within(write),
        Err(WriteError::Failed(ProposalError::Stopped(
            StopReason::Storage(_)
        )))
    ));
    all_ended_within(&node, Duration::from_secs(10));
}

/// A minimal executor whose tasks live in their wakers, as `futures`' thread pool keeps
/// them: stopping it ends its thread and drops its queue, not the tasks parked elsewhere; a
/// task is freed once the last of its wakers goes.
struct WakerOwnedExecutor {
    queue: std::sync::mpsc::Sender<Arc<OwnedTask>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type BoxedTask = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

struct OwnedTask {
    future: Mutex<Option<BoxedTask>>,
    queue: std::sync::mpsc::Sender<Arc<OwnedTask>>,
}

impl std::task::Wake for OwnedTask {
    fn wake(self: Arc<Self>) {
        // Once the executor has stopped the send fails and this reference is dropped.
        let _ = self.queue.clone().send(self);
    }
}

impl WakerOwnedExecutor {
    fn start() -> Self {
        let (queue, tasks) = std::sync::mpsc::channel::<Arc<OwnedTask>>();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                let Ok(task) = tasks.recv_timeout(Duration::from_millis(5)) else {
                    continue;
                };
                let waker = std::task::Waker::from(Arc::clone(&task));
                let mut cx = std::task::Context::from_waker(&waker);
                let mut slot = task.future.lock().unwrap();
                if let Some(future) = slot.as_mut() {
                    if future.as_mut().poll(&mut cx).is_ready() {
                        *slot = None;
                    }
                }
            }
        });
        WakerOwnedExecutor {
            queue,
            stop,
            thread: Some(thread),
        }
    }

    fn spawner(&self) -> LoopSpawner {
        let queue = Mutex::new(self.queue.clone());
        LoopSpawner::new(move |task| {
            let queue = queue.lock().unwrap().clone();
            let task = Arc::new(OwnedTask {
                future: Mutex::new(Some(Box::pin(task))),
                queue: queue.clone(),
            });
            let _ = queue.send(task);
        })
    }

    /// Ends the executor's thread; the tasks it holds in its queue are dropped, the others
    /// live on in their wakers.
    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

/// On an executor that stopped without dropping its tasks (they live in their wakers), a
/// node shut down afterwards still ends: the timer thread holds the task's waker only
/// while armed, so once the shutdown's wake is gone nothing keeps the task, which is
/// dropped, and ends as the shutdown requested. A timer that kept its waker after firing
/// would keep the task, and with it every thread of the node, alive for good.
#[test]
fn a_loop_task_abandoned_by_its_executor_ends_at_shutdown() {
    let executor = WakerOwnedExecutor::start();
    let spawner = executor.spawner();
    let cluster = cluster(1, move |config| config.spawn_loop = Some(spawner.clone()));
    let node = cluster.nodes[0].clone();
    cluster.leader(&[0]);
    executor.stop();
    node.shutdown();
    all_ended_within(&node, Duration::from_secs(10));
    assert!(node.status().shut_down, "{:?}", node.status());
}

// ---- A long backlog applied in place (`applier::IN_PLACE_BUDGET`) ----

/// How long [`SlowMachine`] takes per apply while `slow` is set.
const SLOW_APPLY: Duration = Duration::from_millis(3);

/// Entries committed at once behind the gate: 400 × 3 ms = 1.2 s of applying.
const BACKLOG: usize = 400;

/// A state machine that holds the loop at the `gate` command until the test opens it, then
/// takes [`SLOW_APPLY`] per entry while `slow` is set. It records each command, and whether
/// its node read as "on its loop" there (the marker behind the `OnNodeThread` refusals),
/// whichever thread applied it.
#[derive(Clone, Default)]
struct SlowMachine {
    node: Arc<OnceLock<Node>>,
    gate_closed: Arc<(Mutex<bool>, Condvar)>,
    at_gate: Arc<AtomicBool>,
    slow: Arc<AtomicBool>,
    applied: Arc<Mutex<Vec<(Bytes, bool)>>>,
}

impl StateMachine for SlowMachine {
    fn apply(&mut self, _index: u64, _term: u64, command: Bytes) -> Result<(), ApplyError> {
        if &command[..] == b"gate" {
            self.at_gate.store(true, Ordering::SeqCst);
            let (closed, opened) = &*self.gate_closed;
            let mut closed = closed.lock().unwrap();
            while *closed {
                closed = opened.wait(closed).unwrap();
            }
        }
        if self.slow.load(Ordering::SeqCst) {
            std::thread::sleep(SLOW_APPLY);
        }
        let on_node = self.node.get().is_some_and(|node| node.shared().on_loop());
        self.applied.lock().unwrap().push((command, on_node));
        Ok(())
    }

    fn restore(&mut self, _index: u64, _term: u64, _data: Arc<Vec<u8>>) -> Result<(), ApplyError> {
        Ok(())
    }
}

/// Writes `gate` at `node` and holds its loop in the gate's apply while [`BACKLOG`] more
/// writes arrive: the loop takes them all in its next turn, appends and writes them at
/// once, so they commit together. Then makes `machine` slow and opens the gate. Returns
/// the gate's write and the backlog's.
fn backlog_behind_the_gate(machine: &SlowMachine, node: &Node) -> (Write, Vec<Write>) {
    *machine.gate_closed.0.lock().unwrap() = true;
    let gate = node.write(Bytes::from_static(b"gate"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !machine.at_gate.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "{:?}", node.status());
        std::thread::sleep(Duration::from_millis(1));
    }
    let writes: Vec<Write> = (0..BACKLOG)
        .map(|i| node.write(Bytes::from(i.to_string())))
        .collect();
    machine.slow.store(true, Ordering::SeqCst);
    let (closed, opened) = &*machine.gate_closed;
    *closed.lock().unwrap() = false;
    opened.notify_all();
    (gate, writes)
}

/// A node whose slow state machine gets [`BACKLOG`] entries committed at once (1.2 s of
/// applying) still serves its inbox while they are applied: a control request is answered
/// within 200 ms, where a loop that applied the whole backlog in place answered only after
/// it (about a second later). Meanwhile a leader would send no heartbeats and answer no
/// votes (Figure 2, rules for leaders). A small `apply_queue` sends most of the rest through
/// the loop's backlog, which must not be stranded: every write resolves, and the machine
/// sees every entry once, in order, and on its node's threads (`on_loop` there, so its
/// calls back are refused or deferred alike on the loop and on the applier thread).
fn a_long_backlog_does_not_hold_the_loop(tweak: impl Fn(&mut NodeConfig)) {
    let machine = SlowMachine::default();
    let cluster = machine_cluster_with(
        1,
        |config| {
            config.apply_queue = 16;
            tweak(config);
        },
        |_| machine.clone(),
    );
    let node = &cluster.nodes[0];
    let _ = machine.node.set(node.clone());
    cluster.leader(&[0]);
    let (gate, writes) = backlog_behind_the_gate(&machine, node);
    let deadline = Instant::now() + Duration::from_secs(10);
    // Wait until the backlog is being applied (the gate and at least one entry after it).
    while machine.applied.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "{:?}", node.status());
        std::thread::sleep(Duration::from_millis(1));
    }
    let applied_before = machine.applied.lock().unwrap().len();
    let asked = Instant::now();
    let commit = node.with_core(|core| core.commit_index()).unwrap();
    let answered = asked.elapsed();
    let applied_after = machine.applied.lock().unwrap().len();
    // The rest quickly: the test need not wait out the slow applies.
    machine.slow.store(false, Ordering::SeqCst);
    assert!(
        answered < Duration::from_millis(200),
        "the loop answered a control request after {answered:?}: {applied_before} of {} \
         entries were applied when it was asked, {applied_after} when it answered (commit \
         index {commit})",
        BACKLOG + 1,
    );
    assert!(wait_within(gate).is_ok());
    for write in writes {
        assert!(wait_within(write).is_ok());
    }
    let applied = machine.applied.lock().unwrap().clone();
    let expected: Vec<Bytes> = std::iter::once(Bytes::from_static(b"gate"))
        .chain((0..BACKLOG).map(|i| Bytes::from(i.to_string())))
        .collect();
    let commands: Vec<Bytes> = applied.iter().map(|(command, _)| command.clone()).collect();
    assert_eq!(commands, expected, "each entry once, in index order");
    assert!(
        applied.iter().all(|&(_, on_node)| on_node),
        "an apply ran where the node's calls would not be refused as on its loop"
    );
    cluster.shutdown();
}

#[test]
fn a_long_backlog_applied_in_place_does_not_hold_the_loop() {
    a_long_backlog_does_not_hold_the_loop(|_| {});
}

#[test]
fn a_long_backlog_applied_in_place_does_not_hold_a_loop_task() {
    let runtime = multi_thread_runtime();
    a_long_backlog_does_not_hold_the_loop(on_runtime(&runtime));
}

/// The cluster-level consequence of [`a_long_backlog_does_not_hold_the_loop`]: while a
/// leader applies a long backlog, its followers keep hearing from it. Only the leader's
/// machine is slow; [`BACKLOG`] entries commit at once and take it about 1.2 s to apply,
/// four times the shortest election timeout. A leader that applied them all in place would
/// send no heartbeat meanwhile (Figure 2, rules for leaders: "repeat during idle periods to
/// prevent election timeouts"), a follower would time out and start an election (§5.2),
/// and the term would move. Here the term and the leader stay put on every node until every
/// write has resolved.
fn a_leader_applying_a_long_backlog_keeps_its_followers(tweak: impl Fn(&mut NodeConfig)) {
    let machines: Vec<SlowMachine> = (0..3).map(|_| SlowMachine::default()).collect();
    let cluster = machine_cluster_with(
        3,
        |config| {
            config.apply_queue = 16;
            tweak(config);
        },
        |id| machines[id].clone(),
    );
    for (machine, node) in machines.iter().zip(&cluster.nodes) {
        let _ = machine.node.set(node.clone());
    }
    let leader = cluster.leader(&[0, 1, 2]);
    let before = cluster.nodes[leader].state();
    let machine = &machines[leader];
    let node = &cluster.nodes[leader];
    // The leader's writes commit together once a follower has them.
    let (gate, writes) = backlog_behind_the_gate(machine, node);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let results: Vec<_> = std::iter::once(gate)
            .chain(writes)
            .map(|write| write.wait())
            .collect();
        let _ = done.send(results);
    });
    // Watch every node's term and leader until every write has resolved.
    let mut changes = Vec::new();
    let results = loop {
        for (id, node) in cluster.nodes.iter().enumerate() {
            let state = node.state();
            if state.term != before.term || (state.leader.is_some() && state.leader != Some(leader))
            {
                changes.push((id, state));
            }
        }
        match finished.recv_timeout(Duration::from_millis(5)) {
            Ok(results) => break results,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                assert!(
                    Instant::now() < deadline + Duration::from_secs(10),
                    "writes hung"
                );
            }
            Err(e) => panic!("{e}"),
        }
    };
    let applied = machine.applied.lock().unwrap().len();
    assert!(
        changes.is_empty(),
        "a follower stopped hearing from its leader while it applied {applied} entries: \
         the first changes seen were {:?} (term {} and leader {leader} before)",
        &changes[..changes.len().min(3)],
        before.term,
    );
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(applied, BACKLOG + 1, "the leader applied every entry");
    cluster.shutdown();
}

#[test]
fn a_leader_applying_a_long_backlog_in_place_keeps_its_followers() {
    a_leader_applying_a_long_backlog_keeps_its_followers(|_| {});
}

#[test]
fn a_leader_task_applying_a_long_backlog_keeps_its_followers() {
    let runtime = multi_thread_runtime();
    a_leader_applying_a_long_backlog_keeps_its_followers(on_runtime(&runtime));
}

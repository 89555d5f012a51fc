//! The tester's cluster (config.go): Raft peers on a simulated network, each with an
//! in-memory persister and an applier that checks every message, plus crash/restart,
//! partitioning and the begin/end statistics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use raft_impl::simnet::{EndId, Network};
use raft_impl::{MemoryPersister, Persister, Raft, RaftConfig, Transport};

use crate::applier::{self, Applied};
use crate::cmd::{derive_seed, Cmd, TestRng, SEED_ENV};

/// The lab's limit on any one test.
const TEST_TIME_LIMIT: Duration = Duration::from_secs(120);

/// Which applier a peer gets (config.go passes `cfg.applier` or `cfg.applierSnap`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ApplierKind {
    Plain,
    Snapshot,
}

pub struct Config {
    pub n: usize,
    seed: u64,
    net: Network,
    pub(crate) applied: Arc<Applied>,
    peers: Mutex<Peers>,
    appliers: Mutex<Vec<JoinHandle<()>>>,
    rng: Mutex<TestRng>,
    incarnations: AtomicU64,
    default_applier: ApplierKind,
    start: Instant,
    stats: Mutex<Stats>,
}

#[derive(Default)]
struct Peers {
    rafts: Vec<Option<Raft<Cmd>>>,
    connected: Vec<bool>,
    saved: Vec<Option<MemoryPersister>>,
    /// Per server: the ends it sends on, one per destination (config.go's `endnames`).
    endnames: Vec<Option<Vec<EndId>>>,
}

#[derive(Default)]
struct Stats {
    description: String,
    t0: Option<Instant>,
    rpcs0: u64,
    bytes0: u64,
    max_index0: u64,
}

impl Config {
    /// config.go's `make_config`: `n` peers, all started and connected, on a network with
    /// long delays to unreachable peers.
    pub fn new(n: usize, unreliable: bool, snapshot: bool) -> Config {
        let seed = crate::cmd::test_seed();
        let cfg = Config {
            n,
            seed,
            net: Network::new(derive_seed(seed, 1)),
            applied: Arc::new(Applied::new(n)),
            peers: Mutex::new(Peers {
                rafts: vec![None; n],
                connected: vec![false; n],
                saved: vec![None; n],
                endnames: vec![None; n],
            }),
            appliers: Mutex::new(Vec::new()),
            rng: Mutex::new(TestRng::new(derive_seed(seed, 2))),
            incarnations: AtomicU64::new(0),
            default_applier: if snapshot {
                ApplierKind::Snapshot
            } else {
                ApplierKind::Plain
            },
            start: Instant::now(),
            stats: Mutex::new(Stats::default()),
        };
        cfg.set_unreliable(unreliable);
        cfg.net.set_long_delays(true);
        for i in 0..n {
            cfg.start1(i, cfg.default_applier);
        }
        for i in 0..n {
            cfg.connect(i);
        }
        cfg
    }

    /// The applier this configuration was made with (`cfg.applier` or `cfg.applierSnap`).
    pub fn applier(&self) -> ApplierKind {
        self.default_applier
    }

    fn peers(&self) -> MutexGuard<'_, Peers> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The test's random numbers (Go's `rand.Int()`).
    pub fn rand_int(&self) -> i64 {
        self.rng.lock().unwrap_or_else(|p| p.into_inner()).int()
    }

    pub fn rand_int31(&self) -> i64 {
        self.rng.lock().unwrap_or_else(|p| p.into_inner()).int31()
    }

    pub fn rand_string(&self, n: usize) -> String {
        self.rng.lock().unwrap_or_else(|p| p.into_inner()).string(n)
    }

    /// `cfg.rafts[i]`: the running peer `i`. Panics like Go's nil dereference if it is
    /// crashed.
    pub fn raft(&self, i: usize) -> Raft<Cmd> {
        self.raft_opt(i)
            .unwrap_or_else(|| panic!("server {i} is not running"))
    }

    /// `cfg.rafts[i]`, which is `nil` while peer `i` is crashed.
    pub fn raft_opt(&self, i: usize) -> Option<Raft<Cmd>> {
        self.peers().rafts[i].clone()
    }

    /// `cfg.connected[i]`.
    pub fn is_connected(&self, i: usize) -> bool {
        self.peers().connected[i]
    }

    /// config.go's `crash1`: shuts peer `i` down but keeps its persisted state. The
    /// persister is replaced by a copy first, so writes the dying peer makes late are
    /// never seen by its successor.
    pub fn crash1(&self, i: usize) {
        self.disconnect(i);
        self.net.delete_server(i); // Disable client connections to the server.
        let raft = {
            let mut peers = self.peers();
            if let Some(saved) = &peers.saved[i] {
                let copy = saved.copy();
                peers.saved[i] = Some(copy);
            }
            peers.rafts[i].take()
        };
        if let Some(raft) = raft {
            raft.kill();
        }
        let mut peers = self.peers();
        if let Some(saved) = &peers.saved[i] {
            let raft_state = saved
                .read_raft_state()
                .expect("memory persister cannot fail");
            let snapshot = saved.read_snapshot().expect("memory persister cannot fail");
            let fresh = MemoryPersister::new();
            fresh
                .save(&raft_state, &snapshot)
                .expect("memory persister cannot fail");
            peers.saved[i] = Some(fresh);
        }
    }

    /// config.go's `start1`: (re)starts peer `i` from its persisted state, with fresh
    /// outgoing ends so that the old incarnation's ends cannot deliver anything.
    pub fn start1(&self, i: usize, kind: ApplierKind) {
        self.crash1(i);
        let ends = self.make_ends(i);
        let persister = self.restore_persister(i);
        let (apply_tx, apply_rx) = mpsc::channel();
        let incarnation = self.incarnations.fetch_add(1, Ordering::SeqCst);
        let config = RaftConfig {
            seed: Some(derive_seed(self.seed, 100 + incarnation)),
            ..RaftConfig::default()
        };
        let rf = Raft::make_with_config(ends, i, Arc::new(persister), apply_tx, config)
            .unwrap_or_else(|e| panic!("Make() of server {i} failed: {e}"));
        self.peers().rafts[i] = Some(rf.clone());
        let applied = Arc::clone(&self.applied);
        let handler_rf = rf.clone();
        let thread = std::thread::Builder::new().name(format!("applier-{i}"));
        let handle = match kind {
            ApplierKind::Plain => thread.spawn(move || applier::applier(i, applied, apply_rx)),
            ApplierKind::Snapshot => {
                thread.spawn(move || applier::applier_snap(i, applied, rf, apply_rx))
            }
        }
        .expect("spawning an applier thread");
        self.appliers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(handle);
        self.net.add_server(i, Arc::new(handler_rf));
    }

    fn make_ends(&self, i: usize) -> Vec<Arc<dyn Transport>> {
        let mut ids = Vec::with_capacity(self.n);
        let mut ends: Vec<Arc<dyn Transport>> = Vec::with_capacity(self.n);
        for j in 0..self.n {
            let end = self.net.make_end();
            self.net.connect(end.id(), j);
            ids.push(end.id());
            ends.push(Arc::new(end));
        }
        self.peers().endnames[i] = Some(ids);
        ends
    }

    /// A copy of peer `i`'s persister (or a new one); its snapshot, if any, is loaded into
    /// the tester's record at once, as a key/value server would.
    fn restore_persister(&self, i: usize) -> MemoryPersister {
        let mut peers = self.peers();
        let mut logs = self.applied.logs();
        logs.last_applied[i] = 0;
        let persister = match &peers.saved[i] {
            Some(saved) => saved.copy(),
            None => MemoryPersister::new(),
        };
        let snapshot = persister
            .read_snapshot()
            .expect("memory persister cannot fail");
        if !snapshot.is_empty() {
            if let Some(error) = logs.ingest_snapshot(i, &snapshot, None) {
                panic!("{error}");
            }
        }
        peers.saved[i] = Some(persister.clone());
        persister
    }

    /// config.go's `connect`: attaches server `i` to the net.
    pub fn connect(&self, i: usize) {
        let mut peers = self.peers();
        peers.connected[i] = true;
        for j in 0..self.n {
            if peers.connected[j] {
                if let Some(ends) = &peers.endnames[i] {
                    self.net.enable(ends[j], true); // Outgoing.
                }
                if let Some(ends) = &peers.endnames[j] {
                    self.net.enable(ends[i], true); // Incoming.
                }
            }
        }
    }

    /// config.go's `disconnect`: detaches server `i` from the net.
    pub fn disconnect(&self, i: usize) {
        let mut peers = self.peers();
        peers.connected[i] = false;
        for j in 0..self.n {
            if let Some(ends) = &peers.endnames[i] {
                self.net.enable(ends[j], false); // Outgoing.
            }
            if let Some(ends) = &peers.endnames[j] {
                self.net.enable(ends[i], false); // Incoming.
            }
        }
    }

    pub fn rpc_count(&self, server: usize) -> u64 {
        self.net.rpc_count(server)
    }

    pub fn rpc_total(&self) -> u64 {
        self.net.total_count()
    }

    pub fn bytes_total(&self) -> u64 {
        self.net.total_bytes()
    }

    pub fn set_unreliable(&self, unreliable: bool) {
        self.net.set_reliable(!unreliable);
    }

    pub fn set_long_reordering(&self, long_reordering: bool) {
        self.net.set_long_reordering(long_reordering);
    }

    /// config.go's `LogSize`: the largest persisted raft state of any server.
    pub fn log_size(&self) -> usize {
        let peers = self.peers();
        let sizes = peers.saved.iter().flatten().map(|s| s.raft_state_size());
        sizes.max().unwrap_or(0)
    }

    /// Whether cleanup has begun (config.go's `checkFinished`).
    pub fn finished(&self) -> bool {
        self.applied.finished.load(Ordering::SeqCst)
    }

    /// config.go's `begin`: starts a test's statistics.
    pub fn begin(&self, description: &str) {
        if std::env::var_os("RAFT_LAB_VERBOSE").is_some() {
            println!("{description} ...");
        }
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.description = description.to_string();
        stats.t0 = Some(Instant::now());
        stats.rpcs0 = self.rpc_total();
        stats.bytes0 = self.bytes_total();
        stats.max_index0 = self.applied.logs().max_index;
    }

    /// config.go's `end`: checks the time limit and prints the lab's "Passed" line: real
    /// time, peers, RPCs sent, bytes, and agreements reported.
    pub fn end(&self) {
        self.check_timeout();
        self.check_apply_errors();
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = stats.t0.map_or(0.0, |t0| t0.elapsed().as_secs_f64());
        let rpcs = self.rpc_total() - stats.rpcs0;
        let bytes = self.bytes_total() - stats.bytes0;
        let commands = self.applied.logs().max_index - stats.max_index0;
        // One write, so that lines of tests running in parallel do not interleave.
        println!(
            "{} ...\n  ... Passed --  {elapsed:4.1}  {} {rpcs:4} {bytes:7} {commands:4}",
            stats.description, self.n
        );
    }

    fn check_timeout(&self) {
        // Enforce the lab's two-minute real-time limit on each test.
        if self.start.elapsed() > TEST_TIME_LIMIT {
            panic!("test took longer than 120 seconds");
        }
    }

    fn check_apply_errors(&self) {
        if let Some(error) = self.applied.first_error() {
            panic!("apply error: {error}");
        }
    }

    /// config.go's `cleanup`: kills every peer and stops the network and the appliers.
    fn cleanup(&mut self) {
        self.applied.finished.store(true, Ordering::SeqCst);
        let rafts: Vec<_> = self
            .peers()
            .rafts
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for raft in rafts {
            raft.kill();
        }
        self.net.cleanup();
        let appliers =
            std::mem::take(&mut *self.appliers.lock().unwrap_or_else(|p| p.into_inner()));
        for applier in appliers {
            let _ = applier.join();
        }
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        self.cleanup();
        let test = std::thread::current()
            .name()
            .unwrap_or("lab test")
            .to_string();
        if std::thread::panicking() {
            eprintln!(
                "{test}: FAILED with seed {seed}; rerun with \
                 {SEED_ENV}={seed} cargo test -p raft-impl --release --test lab -- {test}",
                seed = self.seed
            );
            return;
        }
        // Failures the test body did not reach (Go's applier would have exited the run).
        self.check_apply_errors();
        self.check_timeout();
    }
}

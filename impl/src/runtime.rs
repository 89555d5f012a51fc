//! The Lab 2 API over the sans-IO core.
//!
//! Threads and locks (the locking protocol, `docs/impl.md`):
//! - one `Mutex<Core>`; every input is a `Core::step` under it. The step's `Ready` is
//!   persisted *under the same lock* (so saves happen in step order and before anything the
//!   step produced leaves), and its applies are queued under it too (so they stay in order);
//!   the lock is then released before any message is sent;
//! - a ticker thread: time enters the core only as ticks;
//! - each outgoing request on its own short-lived thread, holding no lock across
//!   `Transport::call`; the reply is fed back as one more step. These threads are not
//!   joined by `kill` (the network may delay a call for seconds); after `kill` they drop the
//!   reply and exit;
//! - one applier thread, woken by a condition variable, that sends on the apply channel
//!   holding no lock (the service may call `snapshot` from its apply-channel reader).
//! - `dead` is checked under the core lock by every step, and `kill` takes that lock after
//!   setting it, so no step (and no save) runs once `kill` has returned;
//! - after a failed save no message leaves and no apply is released until a save succeeds
//!   (`Shared::finish_step`).
//!
//! Lock order: core, then apply queue. No lock is held across a send, a sleep or a
//! channel send.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::mpsc::Sender;
use std::time::Duration;

use crate::core::{self, Apply, Core, Input, Message, Outgoing, Ready, Role};
use crate::sync::{thread, Arc, AtomicBool, Condvar, Mutex, MutexGuard, Ordering};
use crate::{ApplyMsg, Command, Persister, RpcHandler, Transport};

/// Length of one core tick: the granularity of heartbeats and election timeouts.
pub const TICK: Duration = Duration::from_millis(10);

/// Largest encoded command the runtime decodes for the service.
const MAX_COMMAND_BYTES: u64 = 64 * 1024 * 1024;

/// Why a peer could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    /// `me` is not an index into `peers`.
    #[error("`me` is {me}, but there are {peers} peers")]
    NoSuchPeer {
        /// The `me` argument.
        me: usize,
        /// `peers.len()`.
        peers: usize,
    },
    /// The [`RaftConfig`] timings, rounded to ticks, are unusable.
    #[error("invalid timing configuration")]
    Timing(#[from] TimingError),
    /// The persister could not be read.
    #[error("could not read the persisted state")]
    Persist(#[from] crate::PersistError),
    /// What the persister holds is not a state this peer can restore.
    #[error("could not restore from the persisted state")]
    Restore(#[from] core::RestoreError),
}

/// [`RaftConfig`] timings that, once rounded up to whole [`TICK`]s, break a rule a live
/// cluster needs. They are checked after rounding: a 1 ms heartbeat and a 2 ms election
/// timeout are both one tick, which no heartbeat can beat.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    /// The election timeout range is empty (`min > max`).
    #[error("election timeout range {min:?}..={max:?} ({min_ticks}..={max_ticks} ticks) is empty")]
    ElectionTimeoutRange {
        /// `election_timeout_min`.
        min: Duration,
        /// `election_timeout_max`.
        max: Duration,
        /// `min` in ticks, rounded up.
        min_ticks: u32,
        /// `max` in ticks, rounded up.
        max_ticks: u32,
    },
    /// The heartbeat interval is not below the smallest election timeout, so followers
    /// would time out between heartbeats (§5.2: broadcast time << election timeout).
    #[error(
        "heartbeat interval {heartbeat:?} ({heartbeat_ticks} ticks) is not below the election \
         timeout minimum {election_timeout_min:?} ({election_timeout_min_ticks} ticks)"
    )]
    HeartbeatNotBelowElectionTimeout {
        /// `heartbeat_interval`.
        heartbeat: Duration,
        /// `heartbeat` in ticks, rounded up.
        heartbeat_ticks: u32,
        /// `election_timeout_min`.
        election_timeout_min: Duration,
        /// `election_timeout_min` in ticks, rounded up.
        election_timeout_min_ticks: u32,
    },
}

/// Timing of the runtime. Defaults satisfy the Lab: at most 10 heartbeats per second and a
/// new leader well within 5 s of a failure.
///
/// Durations are rounded up to whole [`TICK`]s (at least one) and then checked
/// ([`TimingError`]): `heartbeat_interval < election_timeout_min <= election_timeout_max`,
/// in ticks.
#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// A leader sends AppendEntries to every follower at least this often.
    pub heartbeat_interval: std::time::Duration,
    /// Election timeouts are drawn uniformly from `election_timeout_min..=
    /// election_timeout_max` (§5.2).
    pub election_timeout_min: std::time::Duration,
    /// The largest election timeout.
    pub election_timeout_max: std::time::Duration,
    /// Seed for this peer's election-timeout RNG; `None` draws one from the OS.
    pub seed: Option<u64>,
    /// Whether `make` starts the ticker thread. Without it, time advances only through
    /// [`Raft::tick`] (deterministic tests, loom models: loom cannot model sleeping).
    pub spawn_ticker: bool,
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            heartbeat_interval: std::time::Duration::from_millis(100),
            election_timeout_min: std::time::Duration::from_millis(300),
            election_timeout_max: std::time::Duration::from_millis(600),
            seed: None,
            spawn_ticker: true,
        }
    }
}

impl RaftConfig {
    /// `(heartbeat, election_min, election_max)` in ticks, rounded up, once they pass the
    /// rules of [`TimingError`].
    fn ticks(&self) -> Result<(u32, u32, u32), TimingError> {
        let ticks = |d: Duration| -> u32 {
            let ticks = d.as_micros().div_ceil(TICK.as_micros()).max(1);
            u32::try_from(ticks).unwrap_or(u32::MAX)
        };
        let heartbeat = ticks(self.heartbeat_interval);
        let (min, max) = (
            ticks(self.election_timeout_min),
            ticks(self.election_timeout_max),
        );
        // Rounding up is monotone, so `min > max` in ticks only if it was so in time; the
        // check is on the ticks the core will use.
        if min > max {
            return Err(TimingError::ElectionTimeoutRange {
                min: self.election_timeout_min,
                max: self.election_timeout_max,
                min_ticks: min,
                max_ticks: max,
            });
        }
        if heartbeat >= min {
            return Err(TimingError::HeartbeatNotBelowElectionTimeout {
                heartbeat: self.heartbeat_interval,
                heartbeat_ticks: heartbeat,
                election_timeout_min: self.election_timeout_min,
                election_timeout_min_ticks: min,
            });
        }
        Ok((heartbeat, min, max))
    }

    /// The core's configuration for server `me` of `servers`, times rounded up to ticks.
    fn core_config(&self, me: usize, servers: usize) -> Result<core::Config, TimingError> {
        let (heartbeat, min, max) = self.ticks()?;
        let seed = self.seed.unwrap_or_else(rand::random);
        tracing::debug!(me, seed, "election timeout seed");
        let mut config = core::Config::new(me, servers, seed);
        config.heartbeat_interval_ticks = heartbeat;
        config.election_timeout_ticks_min = min;
        config.election_timeout_ticks_max = max;
        Ok(config)
    }
}

/// One Raft peer: a cheap, clonable handle (all clones are the same peer).
pub struct Raft<C: Command> {
    shared: Arc<Shared<C>>,
}

/// Shows which peer this is and whether it was killed; it takes no lock, so it is safe
/// anywhere (inside [`Raft::with_core`] too).
impl<C: Command> std::fmt::Debug for Raft<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Raft")
            .field("me", &self.shared.me)
            .field("killed", &self.shared.is_dead())
            .finish_non_exhaustive()
    }
}

impl<C: Command> Clone for Raft<C> {
    fn clone(&self) -> Self {
        Raft {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Applies waiting for the applier thread, in order.
#[derive(Default)]
struct ApplyQueue {
    pending: VecDeque<Apply>,
    /// Applies of steps whose state is not yet durable (a save failed): they join `pending`
    /// once a save succeeds, so the service never sees what a crash could take back.
    held: Vec<Apply>,
    stopped: bool,
}

struct Shared<C> {
    me: usize,
    peers: Vec<std::sync::Arc<dyn Transport>>,
    persister: std::sync::Arc<dyn Persister>,
    core: Mutex<Core>,
    dead: AtomicBool,
    /// The core holds state that no save has made durable (the last save failed). Read and
    /// written only under the core lock.
    unsaved: AtomicBool,
    queue: Mutex<ApplyQueue>,
    queue_changed: Condvar,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
    _command: PhantomData<fn() -> C>,
}

impl<C: Command> Raft<C> {
    /// The Lab's `Make(peers, me, persister, applyCh)`: `peers[i]` reaches peer `i`
    /// (`peers[me]` is never called). Restores state from `persister`, starts the ticker and
    /// applier threads, and returns at once.
    pub fn make(
        peers: Vec<std::sync::Arc<dyn Transport>>,
        me: usize,
        persister: std::sync::Arc<dyn Persister>,
        apply_tx: Sender<ApplyMsg<C>>,
    ) -> Result<Self, MakeError> {
        Self::make_with_config(peers, me, persister, apply_tx, RaftConfig::default())
    }

    /// [`Raft::make`] with the timing and seed of `config` (checked: [`TimingError`]).
    pub fn make_with_config(
        peers: Vec<std::sync::Arc<dyn Transport>>,
        me: usize,
        persister: std::sync::Arc<dyn Persister>,
        apply_tx: Sender<ApplyMsg<C>>,
        config: RaftConfig,
    ) -> Result<Self, MakeError> {
        if me >= peers.len() {
            return Err(MakeError::NoSuchPeer {
                me,
                peers: peers.len(),
            });
        }
        let core_config = config.core_config(me, peers.len())?;
        let raft_state = persister.read_raft_state()?;
        let snapshot = persister.read_snapshot()?;
        let core = Core::restore(core_config, &raft_state, snapshot)?;
        let shared = Arc::new(Shared {
            me,
            peers,
            persister,
            core: Mutex::new(core),
            dead: AtomicBool::new(false),
            unsaved: AtomicBool::new(false),
            queue: Mutex::new(ApplyQueue::default()),
            queue_changed: Condvar::new(),
            threads: Mutex::new(Vec::new()),
            _command: PhantomData,
        });
        let applier = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || Shared::run_applier(shared, apply_tx))
        };
        lock(&shared.threads).push(applier);
        if config.spawn_ticker {
            let ticker = {
                let shared = Arc::clone(&shared);
                thread::spawn(move || Shared::run_ticker(shared))
            };
            lock(&shared.threads).push(ticker);
        }
        Ok(Raft { shared })
    }

    /// The Lab's `Start(command)`: `(index, term, is_leader)`, returning at once.
    pub fn start(&self, command: C) -> (u64, u64, bool) {
        if self.shared.is_dead() {
            return (0, 0, false);
        }
        let bytes = match core::codec::encode(&command, MAX_COMMAND_BYTES) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(%error, "command could not be encoded");
                return (0, 0, false);
            }
        };
        let Some(mut core) = self.shared.lock_live() else {
            return (0, 0, false);
        };
        if core.role() != Role::Leader {
            return (0, core.current_term(), false);
        }
        let ready = core.step(Input::Propose(bytes.into()));
        let proposed = ready.proposed;
        let term = core.current_term();
        if let Some(messages) = self.shared.finish_step(core, ready) {
            Shared::send_all(&self.shared, messages);
        }
        match proposed {
            Some((index, term)) => (index, term, true),
            None => (0, term, false),
        }
    }

    /// The Lab's `GetState()`: `(current_term, is_leader)`.
    pub fn get_state(&self) -> (u64, bool) {
        let core = lock(&self.shared.core);
        let is_leader = core.role() == Role::Leader && !self.shared.is_dead();
        (core.current_term(), is_leader)
    }

    /// The Lab's `Snapshot(index, snapshot)`: the service has a snapshot that includes
    /// everything up to and including `index`; the log before it may be discarded. An index
    /// beyond what was applied or at/below the current snapshot is ignored.
    pub fn snapshot(&self, index: u64, snapshot: Vec<u8>) {
        if self.shared.is_dead() {
            return;
        }
        let Some(mut core) = self.shared.lock_live() else {
            return;
        };
        let ready = core.step(Input::Snapshot {
            index,
            data: snapshot,
        });
        if let Some(messages) = self.shared.finish_step(core, ready) {
            Shared::send_all(&self.shared, messages);
        }
    }

    /// The Lab's `Kill()`: stops every thread this peer started; afterwards the peer
    /// answers no RPC and `start` returns `is_leader = false`. RPC threads still waiting on
    /// the network are not joined: they discard their reply and exit.
    pub fn kill(&self) {
        self.shared.dead.store(true, Ordering::SeqCst);
        // Every step checks `dead` under the core lock, so once this lock is ours no step is
        // under way and none will start: no save can land after `kill` returns (a successor
        // may already be writing the same `FilePersister` directory).
        drop(lock(&self.shared.core));
        {
            let mut queue = lock(&self.shared.queue);
            queue.stopped = true;
            self.shared.queue_changed.notify_all();
        }
        let handles = std::mem::take(&mut *lock(&self.shared.threads));
        let current = thread::current().id();
        for handle in handles {
            if handle.thread().id() != current {
                let _ = handle.join();
            }
        }
    }

    /// Advances this peer's clock by one tick ([`TICK`]), as the ticker thread does; for
    /// peers made with `spawn_ticker: false`.
    pub fn tick(&self) {
        Shared::step(&self.shared, Input::Tick);
    }

    /// Whether `kill` has been called.
    pub fn killed(&self) -> bool {
        self.shared.is_dead()
    }

    /// Runs `f` on the core under its lock (read-only inspection: tests, metrics).
    pub fn with_core<R>(&self, f: impl FnOnce(&Core) -> R) -> R {
        f(&lock(&self.shared.core))
    }
}

impl<C: Command> RpcHandler for Raft<C> {
    fn handle(&self, request: &[u8]) -> Option<Vec<u8>> {
        Shared::handle(&self.shared, request)
    }
}

impl<C: Command> Shared<C> {
    fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    /// The core, locked, unless the peer is dead. Every step goes through here: checked
    /// under the lock, `dead` cannot be set between the check and the step's save without
    /// `kill` waiting for that step (see `Raft::kill`).
    fn lock_live(&self) -> Option<MutexGuard<'_, Core>> {
        let core = lock(&self.core);
        (!self.is_dead()).then_some(core)
    }

    /// Answers one request: a step, then the reply that step produced for the sender.
    fn handle(this: &Arc<Self>, request: &[u8]) -> Option<Vec<u8>> {
        if this.is_dead() {
            return None;
        }
        let message = Message::decode(request).ok()?;
        let from = message.sender()?;
        if from >= this.peers.len() || from == this.me {
            return None;
        }
        let mut core = this.lock_live()?;
        let ready = core.step(Input::Message { from, message });
        let mut messages = this.finish_step(core, ready)?;
        let position = messages
            .iter()
            .position(|out| out.to == from && !out.message.is_request())?;
        let reply = messages.swap_remove(position);
        Shared::send_all(this, messages);
        match reply.message.encode() {
            Ok(bytes) => Some(bytes),
            Err(error) => {
                tracing::error!(me = this.me, %error, "reply could not be encoded; not sent");
                None
            }
        }
    }

    /// One step whose messages are sent at once.
    fn step(this: &Arc<Self>, input: Input) {
        let Some(mut core) = this.lock_live() else {
            return;
        };
        let ready = core.step(input);
        if let Some(messages) = this.finish_step(core, ready) {
            Shared::send_all(this, messages);
        }
    }

    /// The caller's obligations of [`Ready`], in order: persist, queue the applies (both
    /// under the core lock), release the lock, and return the messages to send. `None` if
    /// the state is not durable: then nothing that depends on it may leave.
    ///
    /// Figure 2 has a server answer only after its persistent state is on stable storage.
    /// A failed save leaves the core ahead of the disk, and a later step may change nothing
    /// persistent yet reply on the strength of that state (a retried AppendEntries whose
    /// entries are in memory already). So after a failure every step saves (the Lab's
    /// persister takes the whole state, so one success covers every failed step before it),
    /// and until a save succeeds no message leaves and no apply reaches the service: a
    /// leader counts its own log towards a majority, and an entry committed that way must
    /// not be exposed before the leader's copy is durable.
    #[must_use = "the step's messages must be sent"]
    fn finish_step(&self, mut core: MutexGuard<'_, Core>, ready: Ready) -> Option<Vec<Outgoing>> {
        let Ready {
            persist,
            mut messages,
            mut applies,
            ..
        } = ready;
        let was_unsaved = self.unsaved.load(Ordering::SeqCst);
        let durable = if persist.is_some() || was_unsaved {
            // The Lab's `Persister` saves whole blobs: encode the state once, borrowed from
            // the core (the delta says only that something changed).
            let saved = core
                .encode_persistent_state()
                .map_err(crate::PersistError::Encode)
                .and_then(|state| self.persister.save(&state, core.snapshot_data()));
            match (&saved, was_unsaved) {
                (Ok(()), true) => tracing::warn!(me = self.me, "state saved again; resuming"),
                (Err(error), false) => tracing::error!(
                    me = self.me,
                    %error,
                    "could not persist; messages and applies withheld until a save succeeds"
                ),
                _ => {}
            }
            self.unsaved.store(saved.is_err(), Ordering::SeqCst);
            if saved.is_ok() {
                // The whole state is on disk: tell the core (§10.2.1; a leader counts its own
                // log toward a commit only up to what it was told is durable).
                let (index, term) = (core.last_log_index(), core.log().last_term());
                let more = core.step(Input::Persisted { index, term });
                messages.extend(more.messages);
                applies.extend(more.applies);
            }
            saved.is_ok()
        } else {
            true
        };
        if !applies.is_empty() || was_unsaved {
            let mut queue = lock(&self.queue);
            queue.held.extend(applies);
            if durable && !queue.held.is_empty() {
                let held = std::mem::take(&mut queue.held);
                queue.pending.extend(held);
                self.queue_changed.notify_one();
            }
        }
        drop(core);
        durable.then_some(messages)
    }

    fn send_all(this: &Arc<Self>, messages: Vec<Outgoing>) {
        for out in messages {
            if out.message.is_request() {
                Shared::send_request(this, out);
            }
        }
    }

    /// Sends one request from its own thread and feeds the reply back into the core.
    fn send_request(this: &Arc<Self>, out: Outgoing) {
        let Some(transport) = this.peers.get(out.to).cloned() else {
            return;
        };
        let shared = Arc::clone(this);
        let bytes = match out.message.encode() {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(me = this.me, to = out.to, %error, "request could not be encoded; not sent");
                return;
            }
        };
        thread::spawn(move || {
            let reply = transport.call(bytes);
            if shared.is_dead() {
                return;
            }
            let Some(reply) = reply.and_then(|b| Message::decode(&b).ok()) else {
                return;
            };
            if reply.is_request() {
                return;
            }
            Shared::step(
                &shared,
                Input::Message {
                    from: out.to,
                    message: reply,
                },
            );
        });
    }

    fn run_ticker(this: Arc<Self>) {
        while !this.is_dead() {
            std::thread::sleep(TICK);
            Shared::step(&this, Input::Tick);
        }
    }

    /// The single applier: waits for applies, sends them in order, holding no lock.
    fn run_applier(this: Arc<Self>, apply_tx: Sender<ApplyMsg<C>>) {
        loop {
            let batch = {
                let mut queue = lock(&this.queue);
                // A plain `wait` (no timeout): loom cannot time out, and `kill` notifies.
                while queue.pending.is_empty() && !queue.stopped {
                    queue = this
                        .queue_changed
                        .wait(queue)
                        .expect("apply queue lock poisoned");
                }
                if queue.stopped {
                    return;
                }
                std::mem::take(&mut queue.pending)
            };
            for apply in batch {
                if this.is_dead() {
                    return;
                }
                let Some(message) = to_apply_msg::<C>(apply) else {
                    tracing::error!(
                        me = this.me,
                        "a committed command could not be decoded; applier stops"
                    );
                    return;
                };
                if apply_tx.send(message).is_err() {
                    return; // The service is gone.
                }
            }
        }
    }
}

fn to_apply_msg<C: Command>(apply: Apply) -> Option<ApplyMsg<C>> {
    Some(match apply {
        Apply::Entry { index, command, .. } => ApplyMsg::Command {
            command: core::codec::decode(&command, MAX_COMMAND_BYTES).ok()?,
            command_index: index,
        },
        Apply::Snapshot { index, term, data } => ApplyMsg::Snapshot {
            snapshot: data.as_ref().clone(),
            snapshot_term: term,
            snapshot_index: index,
        },
    })
}

/// Locks `mutex`. A poisoned lock means a step panicked on a broken invariant: the peer's
/// state is not trustworthy, so we propagate the panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .expect("raft lock poisoned: an earlier step panicked")
}

#[cfg(test)]
mod tests;

/// Runs the examples of `docs/impl.md` as doctests, so the documented API stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/impl.md")]
pub struct DocsImplMd;

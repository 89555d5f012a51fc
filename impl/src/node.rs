//! The node runtime: one Raft peer as a fixed set of threads around the sans-IO core, with
//! bounded queues throughout.
//!
//! Threads per node (never one per message):
//! - the **event loop** owns the [`Core`](crate::core::Core). Every input reaches it through
//!   one inbox (received messages, proposals, the service's snapshots, sync reports), and it
//!   keeps time itself (it waits on the inbox until the next tick is due). It batches: all
//!   proposals that arrived while it was busy are stepped together and written as one
//!   write with one sync (`node/event_loop.rs`);
//! - the **storage worker** writes and syncs outside the loop, with group commit: every
//!   write queued while the previous sync ran goes into the next sync
//!   (`node/storage_worker.rs`). Replies and votes leave only once durable; a leader's
//!   AppendEntries leave at once (Raft thesis §10.2.1);
//! - the **applier** hands committed entries to the service through a bounded stream
//!   ([`Applies`]) and resolves [`Proposal`]s (`node/applier.rs`) when the loop cannot do
//!   it itself without blocking (the loop delivers directly while the stream has room and
//!   nothing is queued for the applier: one thread hand-off less per commit). A service
//!   whose apply is quick can instead be a [`StateMachine`] the loop calls in place
//!   ([`Node::start_with_machine`]; `node/machine.rs`): then no service thread is woken
//!   per batch at all.
//!
//! With [`NodeConfig::sync_on_loop`] the loop also writes and syncs itself (for storage
//! whose sync does not block), and there is no storage worker.
//!
//! With [`NodeConfig::spawn_loop`] the event loop is not a thread but a task ([`LoopTask`])
//! of the embedding's async executor (tokio, for one), with a small timer thread that wakes
//! it for its ticks (`node/task.rs`). Loops and clients on one executor then hand over
//! through its run queue instead of waking threads: several times the commits of one
//! client, and more at every client count (docs/performance.md §7). The protocol is the
//! same code either way: a task's turn is the thread's iteration.
//!
//! Every hand-off signals its consumer only if it is blocked, and only that one thread: on
//! a small machine the futex wake-ups, not the core, set the pace (docs/performance.md §7).
//! [`Node::write`] proposes and awaits in one (a [`Write`] future), so a client is woken
//! once per command and need not be a thread.
//!
//! Sending is the [`Network`]'s business: `send` must not block (the network owns its
//! threads). Received bytes go to [`Node::receive`], which never blocks either.
//!
//! A storage write or sync that fails or panics, or a committed entry the service cannot
//! take, stops the node: the loop exits, every thread ends, pending proposals fail with
//! `Stopped`, and the apply stream ends with [`Applied::Stopped`]. [`Node::shutdown`] (also
//! run when the last handle is dropped) stops and joins every thread (with the loop as a
//! task it only requests the stop, see there); it never panics.

mod applier;
mod config;
mod error;
mod event_loop;
mod fifo;
mod machine;
mod network;
mod proposal;
mod queue;
mod shared;
mod status;
mod storage_worker;
mod task;
#[cfg(test)]
mod tests;
mod write;

use bytes::Bytes;

use crate::core::{self, Core, Message};
use crate::storage::Storage;
use std::sync::atomic::{AtomicU64, AtomicUsize};

use crate::sync::{lock, thread, Arc, AtomicBool, Condvar, Mutex, Ordering};

pub use applier::{Applied, Applies};
pub(crate) use applier::{ApplySink, SinkError};
pub use config::{NodeConfig, NodeConfigError, TimingError};
pub use error::{NodeError, ProposalError, ProposeError, StopReason, WriteError};
pub use machine::{ApplyError, StateMachine};
pub use network::Network;
pub use proposal::Proposal;
pub(crate) use queue::{oneshot, Queue};
pub use status::{State, Status, Watch};
pub use task::{LoopSpawner, LoopTask};
pub use write::Write;

use applier::QueueSink;
use event_loop::{EventLoop, StorageSide};
use queue::OneshotSender;
use shared::{
    Control, End, Inbox, OutcomeSlot, OutcomeTx, PendingToken, Propose, Published, Received, Shared,
};

/// One Raft peer. A cheap handle: clones are the same peer, and dropping the last one shuts
/// it down.
#[derive(Clone)]
pub struct Node {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.handle.shared.id)
            .finish_non_exhaustive()
    }
}

struct Handle {
    shared: Arc<Shared>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
    /// Threads of this node that have not returned yet (each decrements it as it ends).
    live: std::sync::Arc<AtomicUsize>,
    /// Ends the service's stream at shutdown so a blocked applier returns.
    applies: Option<Arc<Queue<applier::Applied>>>,
    shut_down: AtomicBool,
    /// The loop runs as a task ([`LoopSpawner`]): the threads end after it, when the
    /// executor polls it next, so a shutdown cannot wait for them.
    loop_is_task: bool,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Handle {
    fn shutdown(&self) {
        // Both idempotent: a repeated shutdown only finds them done.
        self.shared.request_stop(End::Shutdown);
        if let Some(applies) = &self.applies {
            applies.close();
        }
        if self.loop_is_task {
            // The node's threads (timer, applier, storage worker) end once the loop task
            // has seen the stop, which needs the executor: waiting here could block the
            // very worker thread that would poll it. They are left to end by themselves.
            return;
        }
        if lock(&self.threads).iter().any(is_current) {
            // Called on one of the node's own threads (a state machine, network or sink that
            // holds a `Node`, or dropped the last one there). The other threads end only
            // after the loop has seen the stop, which it does once this call returns, so
            // joining them here would wait forever: the handles stay for a later `shutdown`
            // from another thread to join.
            return;
        }
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return;
        }
        let threads = std::mem::take(&mut *lock(&self.threads));
        for thread in threads {
            // Every thread catches its own panics; a join error cannot carry a new one.
            let _ = thread.join();
        }
    }
}

/// A cheap clonable handle for feeding received messages to a node, which does not keep the
/// node alive ([`Node::receiver`]). A transport's delivery callback holds one, so that the
/// node → network → transport → callback chain is not a reference cycle (the Lab layer's
/// network threads hold one too).
#[derive(Clone)]
pub struct Receiver {
    shared: Arc<Shared>,
}

impl Receiver {
    /// [`Node::receive`]: feeds a message that arrived from peer `from`; never blocks. After
    /// the node shut down it does nothing.
    pub fn receive(&self, from: usize, message: &[u8]) {
        receive(&self.shared, from, message, None);
    }

    /// [`Node::receive_bytes`]: feeds a message held in [`Bytes`] without copying its
    /// entries' commands.
    pub fn receive_bytes(&self, from: usize, message: Bytes) {
        receive_decoded(&self.shared, from, Message::decode_shared(&message), None);
    }
}

fn receive(
    shared: &Shared,
    from: usize,
    bytes: &[u8],
    reply: Option<OneshotSender<Vec<u8>>>,
) -> bool {
    receive_decoded(shared, from, Message::decode(bytes), reply)
}

/// Feeds a decoded message to the loop; undecodable bytes are dropped and counted.
fn receive_decoded(
    shared: &Shared,
    from: usize,
    decoded: Result<Message, core::DecodeError>,
    reply: Option<OneshotSender<Vec<u8>>>,
) -> bool {
    let Ok(message) = decoded else {
        shared.dropped.fetch_add(1, Ordering::Relaxed);
        return false;
    };
    receive_message(shared, from, message, reply)
}

fn receive_message(
    shared: &Shared,
    from: usize,
    message: Message,
    reply: Option<OneshotSender<Vec<u8>>>,
) -> bool {
    let capacity = shared.inbox_capacity;
    let queued = shared.post(|inbox| {
        if inbox.messages.len() >= capacity {
            return false;
        }
        inbox.messages.push_back(Received {
            from,
            message,
            reply,
        });
        true
    });
    if !matches!(queued, Ok(true)) {
        shared.dropped.fetch_add(1, Ordering::Relaxed);
        return false;
    }
    true
}

impl Node {
    /// Starts a node over `storage` (restoring what it recovered) and `network`, and returns
    /// it with the service's end of the apply stream.
    pub fn start(
        config: NodeConfig,
        storage: Box<dyn Storage>,
        network: std::sync::Arc<dyn Network>,
    ) -> Result<(Node, Applies), NodeError> {
        let queue = Arc::new(Queue::new(config.apply_queue));
        let sink = Box::new(QueueSink {
            queue: Arc::clone(&queue),
            unwoken: false,
        });
        let node = Node::start_with_sink(config, storage, network, sink, Some(Arc::clone(&queue)))?;
        Ok((node, Applies { queue }))
    }

    /// Starts a node like [`Node::start`], but hands committed entries to `machine` in
    /// place instead of through an [`Applies`] stream: no thread of the service's needs
    /// waking per batch. `machine` may run on the node's event loop, so its apply must be
    /// quick and must not block (see [`StateMachine`]).
    pub fn start_with_machine(
        config: NodeConfig,
        storage: Box<dyn Storage>,
        network: std::sync::Arc<dyn Network>,
        machine: impl StateMachine,
    ) -> Result<Node, NodeError> {
        let sink = Box::new(machine::MachineSink { machine });
        Node::start_with_sink(config, storage, network, sink, None)
    }

    /// [`Node::start`] with another apply sink (the Lab layer's channel).
    pub(crate) fn start_with_sink(
        config: NodeConfig,
        storage: Box<dyn Storage>,
        network: std::sync::Arc<dyn Network>,
        sink: Box<dyn ApplySink>,
        applies: Option<Arc<Queue<applier::Applied>>>,
    ) -> Result<Node, NodeError> {
        let core_config = config.core_config()?;
        let recovered = storage.recovered();
        let core = Core::recover(core_config, recovered.state, recovered.snapshot)?;
        let shared = Arc::new(Shared {
            id: config.id,
            inbox_capacity: config.inbox,
            max_pending_proposals: config.max_pending_proposals,
            max_command_bytes: config.max_command_bytes,
            inbox: Mutex::new(Inbox::default()),
            inbox_changed: Condvar::new(),
            published: Mutex::new(Published::default()),
            published_changed: Condvar::new(),
            pending: std::sync::Arc::new(AtomicUsize::new(0)),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            applied: AtomicU64::new(core.snapshot_index()),
            final_core: Mutex::new(None),
        });
        let apply_queue = Arc::new(Queue::new(config.apply_queue));
        let syncs = std::sync::Arc::new(AtomicU64::new(0));
        let (storage_side, worker) = if config.sync_on_loop {
            (StorageSide::Inline(storage), None)
        } else {
            let queue = Arc::new(Queue::new(usize::MAX));
            (
                StorageSide::Worker(Arc::clone(&queue)),
                Some((queue, storage)),
            )
        };
        let stage = Arc::new(applier::ApplyStage::new(apply_queue, sink));
        let mut event_loop = EventLoop::new(
            core,
            Arc::clone(&shared),
            network,
            storage_side,
            Arc::clone(&stage),
            std::sync::Arc::clone(&syncs),
            config.auto_tick.then_some(config.tick),
        );
        event_loop.spin = config.spin_before_sleep;
        let live = std::sync::Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::with_capacity(3);
        let task = match &config.spawn_loop {
            None => {
                threads.push(spawn(
                    &live,
                    format!("raft-loop-{}", config.id),
                    move || event_loop.run(),
                ));
                None
            }
            Some(spawner) => {
                let timer = event_loop.tick.map(|_| {
                    let timer = Arc::new(task::Timer::new());
                    let run = Arc::clone(&timer);
                    threads.push(spawn(
                        &live,
                        format!("raft-timer-{}", config.id),
                        move || run.run(),
                    ));
                    timer
                });
                // Counted as the loop thread would be: `running_threads` reaches 0 only
                // once the task has ended too (its storage, with `sync_on_loop`, released).
                let alive = Alive::new(&live);
                Some((spawner.clone(), LoopTask::new(event_loop, timer, alive)))
            }
        };
        if let Some((storage_queue, storage)) = worker {
            let shared = Arc::clone(&shared);
            threads.push(spawn(
                &live,
                format!("raft-storage-{}", config.id),
                move || storage_worker::run_storage(shared, storage_queue, storage, syncs),
            ));
        }
        {
            let shared = Arc::clone(&shared);
            threads.push(spawn(
                &live,
                format!("raft-apply-{}", config.id),
                move || applier::run_applier(shared, stage),
            ));
        }
        let node = Node {
            handle: Arc::new(Handle {
                shared,
                threads: Mutex::new(threads),
                live,
                applies,
                shut_down: AtomicBool::new(false),
                loop_is_task: task.is_some(),
            }),
        };
        // Handed over last: the executor may poll it at once, on another thread.
        if let Some((spawner, task)) = task {
            spawner.spawn(task);
        }
        Ok(node)
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// This node's id.
    pub fn id(&self) -> usize {
        self.shared().id
    }

    /// Feeds a message that arrived from peer `from` (encoded `core::Message`). Never
    /// blocks: undecodable bytes, and messages beyond the bounded inbox, are dropped (and
    /// counted in [`Status::messages_dropped`]).
    pub fn receive(&self, from: usize, message: &[u8]) {
        receive(self.shared(), from, message, None);
    }

    /// [`Node::receive`] for a message held in [`Bytes`] (a transport that reads frames
    /// into `Bytes`): every entry's command shares the message's buffer instead of being
    /// copied out of it ([`Message::decode_shared`](crate::core::Message::decode_shared)),
    /// which saves an allocation and a copy per entry on every follower, and another when
    /// the entry is later applied or persisted (a clone of a shared `Bytes` only counts a
    /// reference). Otherwise the same: never blocks, and drops undecodable bytes.
    pub fn receive_bytes(&self, from: usize, message: Bytes) {
        receive_decoded(self.shared(), from, Message::decode_shared(&message), None);
    }

    /// A handle that feeds received messages without keeping the node alive.
    pub fn receiver(&self) -> Receiver {
        Receiver {
            shared: Arc::clone(self.shared()),
        }
    }

    /// A request whose reply goes to `reply` (once durable) instead of the network; the
    /// slot closes without a reply if the request produced none or was dropped.
    pub(crate) fn receive_request(
        &self,
        from: usize,
        message: Message,
        reply: OneshotSender<Vec<u8>>,
    ) {
        receive_message(self.shared(), from, message, Some(reply));
    }

    /// Proposes `command`. Returns once the event loop has appended it (or refused it): the
    /// [`Proposal`] carries its index and term and resolves when it is applied. Refused at
    /// once, without queueing, when too large or when `max_pending_proposals` are pending
    /// ([`ProposeError::Busy`]), or when this node knows it is not the leader.
    ///
    /// Called from the node's own event loop (inside a [`StateMachine`]'s `apply`), it
    /// cannot wait for the loop's answer and returns [`ProposeError::OnNodeThread`]; use
    /// [`Node::write`] there, and do not wait on it.
    pub fn propose(&self, command: Bytes) -> Result<Proposal, ProposeError> {
        let shared = self.shared();
        if shared.on_loop() {
            return Err(ProposeError::OnNodeThread);
        }
        let token = admit(shared, &command)?;
        let (answer, answered) = oneshot();
        let (outcome_tx, outcome) = oneshot();
        let propose = Propose {
            command,
            answer: Some(answer),
            outcome: OutcomeSlot {
                tx: OutcomeTx::Proposal(outcome_tx),
                token,
            },
        };
        if let Err(end) = shared.post(|inbox| inbox.proposals.push_back(propose)) {
            return Err(end.propose_error());
        }
        match answered.recv() {
            Some(Ok((index, term))) => Ok(Proposal {
                index,
                term,
                outcome,
            }),
            Some(Err(error)) => Err(error),
            None => Err(shared
                .end()
                .map_or(ProposeError::Shutdown, |end| end.propose_error())),
        }
    }

    /// Writes `command`: [`propose`](Node::propose) and [`Proposal::wait`] in one, without
    /// waiting in between. Returns at once; the [`Write`] resolves (as a future, or with
    /// [`Write::wait`]) to the entry's `(index, term)` once it is applied, or to why not:
    /// the refusals of `propose` ([`WriteError::Refused`], nothing appended) and the
    /// outcomes of a proposal ([`WriteError::Failed`]). The caller is woken once per
    /// command instead of twice, and a client need not be a thread: many writes can be
    /// awaited on one.
    pub fn write(&self, command: Bytes) -> Write {
        let shared = self.shared();
        let token = match admit(shared, &command) {
            Ok(token) => token,
            Err(error) => return Write::refused(error),
        };
        let (tx, rx) = oneshot();
        let propose = Propose {
            command,
            answer: None,
            outcome: OutcomeSlot {
                tx: OutcomeTx::Write { tx, at: (0, 0) },
                token,
            },
        };
        match shared.post(|inbox| inbox.proposals.push_back(propose)) {
            Ok(()) => Write::pending(Arc::clone(shared), rx),
            Err(end) => Write::refused(end.propose_error()),
        }
    }

    /// The service's snapshot of everything up to and including `index` (§7): the log before
    /// it may be discarded. Returns once the event loop has taken it; an index beyond what
    /// was applied, or not after the current snapshot, is ignored.
    ///
    /// From the node's own event loop (a [`StateMachine`] taking a snapshot in `apply`) it
    /// returns at once: the loop takes the snapshot when that apply batch is done.
    pub fn snapshot(&self, index: u64, data: Vec<u8>) -> Result<(), NodeError> {
        let (ack, acked) = oneshot();
        let control = Control::Snapshot { index, data, ack };
        if self.shared().on_loop() {
            return self.post_control(control);
        }
        self.control(control, acked)
    }

    /// Advances time by one tick (for a node with `auto_tick: false`); returns once stepped.
    /// From the node's own event loop: [`NodeError::OnNodeThread`].
    pub fn tick(&self) -> Result<(), NodeError> {
        let (ack, acked) = oneshot();
        self.control(Control::Tick(ack), acked)
    }

    /// Queues a control request for the loop, without waiting for it.
    fn post_control(&self, control: Control) -> Result<(), NodeError> {
        self.shared()
            .post(|inbox| inbox.control.push_back(control))
            .map_err(|end| end.node_error())
    }

    fn control(
        &self,
        control: Control,
        acked: queue::OneshotReceiver<()>,
    ) -> Result<(), NodeError> {
        let shared = self.shared();
        if shared.on_loop() {
            return Err(NodeError::OnNodeThread);
        }
        self.post_control(control)?;
        acked.recv().ok_or_else(|| {
            shared
                .end()
                .map_or(NodeError::Shutdown, |end| end.node_error())
        })
    }

    /// Runs `inspect` on the core, on the event loop, and returns its result (tests,
    /// debugging). After the node ended, on the core as it was left. From the node's own
    /// event loop: [`NodeError::OnNodeThread`].
    pub fn with_core<R: Send + 'static>(
        &self,
        inspect: impl FnOnce(&Core) -> R + Send + 'static,
    ) -> Result<R, NodeError> {
        let shared = self.shared();
        if shared.on_loop() {
            return Err(NodeError::OnNodeThread);
        }
        let (tx, rx) = oneshot();
        let posted = shared.post(|inbox| {
            inbox
                .control
                .push_back(Control::Inspect(Box::new(move |core| {
                    tx.send(inspect(core));
                })))
        });
        if posted.is_ok() {
            if let Some(result) = rx.recv() {
                return Ok(result);
            }
        }
        Err(shared
            .end()
            .map_or(NodeError::Shutdown, |end| end.node_error()))
    }

    /// Runs `inspect` on the core the loop left behind, once it has ended.
    pub fn with_final_core<R>(&self, inspect: impl FnOnce(&Core) -> R) -> Option<R> {
        lock(&self.shared().final_core).as_ref().map(inspect)
    }

    /// Counters and queue depths (as of the loop's last iteration).
    pub fn status(&self) -> Status {
        let shared = self.shared();
        let mut status = lock(&shared.published).status.clone();
        {
            let inbox = lock(&shared.inbox);
            status.inbox_messages = inbox.messages.len();
            status.inbox_proposals = inbox.proposals.len();
        }
        status.applied = shared.applied.load(Ordering::SeqCst);
        status.pending_proposals = shared.pending.load(Ordering::SeqCst);
        status.proposals_accepted = shared.accepted.load(Ordering::Relaxed);
        status.proposals_rejected = shared.rejected.load(Ordering::Relaxed);
        status.messages_dropped = shared.dropped.load(Ordering::Relaxed);
        // How the node ended is read live too: the loop's last published status may predate
        // a stop that another thread (the storage worker, the applier) recorded.
        match shared.end() {
            Some(End::Stopped(reason)) => status.stopped = Some(reason),
            Some(End::Shutdown) => status.shut_down = true,
            None => {}
        }
        status
    }

    /// Role, term and leader now.
    pub fn state(&self) -> State {
        lock(&self.shared().published).state
    }

    /// A watch on role, term and leader changes, positioned at the current state.
    pub fn watch(&self) -> Watch {
        let seen = lock(&self.shared().published).version;
        Watch {
            shared: Arc::clone(self.shared()),
            seen,
        }
    }

    /// Why the node stopped, if it stopped on an error.
    pub fn stop_reason(&self) -> Option<StopReason> {
        match self.shared().end() {
            Some(End::Stopped(reason)) => Some(reason),
            _ => None,
        }
    }

    /// Stops the node and joins its threads: the loop exits, the storage worker finishes
    /// the writes it was given, the applier ends the apply stream. Idempotent; never panics.
    /// Also run when the last handle is dropped. Called on one of the node's own threads
    /// (from a [`StateMachine`]) it only requests the stop and returns (joining there would
    /// wait for the very thread that calls): the threads end right after, and a later
    /// `shutdown` from another thread joins them. With the loop as a task
    /// ([`NodeConfig::spawn_loop`]) it always only requests the stop: the task ends when
    /// its executor next polls it, and the node's threads with it; [`Node::running_threads`]
    /// reads 0 once all of them have (the storage worker has then finished the writes it
    /// was given, and everything the node owned is released).
    pub fn shutdown(&self) {
        self.handle.shutdown();
    }

    /// Threads of this node that have not ended yet (3 while it runs, 2 with
    /// `NodeConfig::sync_on_loop`; 0 once it has stopped or shut down and every thread has
    /// returned). With `NodeConfig::spawn_loop` the loop is a task, not a thread: it counts
    /// as the loop thread would, until it has ended and released what it owns, and its
    /// timer thread adds one (none with `auto_tick` off).
    pub fn running_threads(&self) -> usize {
        self.handle.live.load(Ordering::SeqCst)
    }
}

/// The checks `propose` and `write` make before queueing anything: size, the node's end,
/// leadership as last published, and the bound on pending proposals (whose unit it takes).
fn admit(shared: &Shared, command: &Bytes) -> Result<PendingToken, ProposeError> {
    if command.len() > shared.max_command_bytes {
        shared.rejected.fetch_add(1, Ordering::Relaxed);
        return Err(ProposeError::TooLarge {
            bytes: command.len(),
            max: shared.max_command_bytes,
        });
    }
    {
        let published = lock(&shared.published);
        if let Some(end) = &published.end {
            return Err(match end {
                NodeError::Stopped(reason) => ProposeError::Stopped(reason.clone()),
                _ => ProposeError::Shutdown,
            });
        }
        if published.state.role != core::Role::Leader {
            // The published state can predate a stop that a worker has already recorded
            // (the loop publishes on its next iteration): a stopped node says so, not
            // "not the leader". Checked only on this path, so a leader's proposal pays
            // nothing (posting to an ended inbox reports the end anyway).
            let (leader, term) = (published.state.leader, published.state.term);
            drop(published);
            if let Some(end) = shared.end() {
                return Err(end.propose_error());
            }
            shared.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(ProposeError::NotLeader { leader, term });
        }
    }
    if shared.pending.fetch_add(1, Ordering::SeqCst) >= shared.max_pending_proposals {
        shared.pending.fetch_sub(1, Ordering::SeqCst);
        shared.rejected.fetch_add(1, Ordering::Relaxed);
        return Err(ProposeError::Busy);
    }
    Ok(PendingToken(std::sync::Arc::clone(&shared.pending)))
}

/// One unit of [`Node::running_threads`]: counted from its creation until dropped. A thread
/// of the node holds one for its whole body; a loop task holds one until it has ended,
/// everything it owns (network, storage on the loop) released.
pub(crate) struct Alive(std::sync::Arc<AtomicUsize>);

impl Alive {
    fn new(live: &std::sync::Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Alive(std::sync::Arc::clone(live))
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Spawns `body` on a thread counted in `live` until it returns.
fn spawn(
    live: &std::sync::Arc<AtomicUsize>,
    name: String,
    body: impl FnOnce() + Send + 'static,
) -> thread::JoinHandle<()> {
    let alive = Alive::new(live);
    let run = move || {
        let _alive = alive;
        body();
    };
    #[cfg(not(loom))]
    {
        // Named, so profiles and debuggers tell the node's threads apart.
        let spawned = thread::Builder::new().name(name).spawn(run);
        match spawned {
            Ok(handle) => handle,
            Err(error) => panic!("the node cannot spawn a thread: {error}"),
        }
    }
    #[cfg(loom)]
    {
        let _ = name;
        thread::spawn(run)
    }
}

#[cfg(not(loom))]
fn is_current(thread: &thread::JoinHandle<()>) -> bool {
    thread.thread().id() == std::thread::current().id()
}

#[cfg(loom)]
fn is_current(_thread: &thread::JoinHandle<()>) -> bool {
    false
}

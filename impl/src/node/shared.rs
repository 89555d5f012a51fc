//! What the node's threads and handles share: the event loop's inbox (one lock, one
//! condition variable: every input of the loop goes through it), the state the loop
//! publishes, and the counters.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::core::{Core, Message};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::sync::{lock, Condvar, Mutex, MutexGuard};

use super::queue::OneshotSender;
use super::status::{State, Status};
use super::{NodeError, ProposalError, ProposeError, StopReason, WriteError};

/// A received message for the loop. `reply`: the Lab layer's RPC handler waiting for the
/// reply this message produces (sent there instead of to the network, once durable).
pub(crate) struct Received {
    pub from: usize,
    pub message: Message,
    pub reply: Option<OneshotSender<Vec<u8>>>,
}

/// A proposal for the loop: the command, where to answer with its `(index, term)` (a
/// [`Node::propose`](super::Node::propose) caller waits for it; a
/// [`Node::write`](super::Node::write) has none: its outcome carries everything), and the
/// slot its outcome goes to.
pub(crate) struct Propose {
    pub command: Bytes,
    pub answer: Option<OneshotSender<Result<(u64, u64), ProposeError>>>,
    pub outcome: OutcomeSlot,
}

impl Propose {
    /// The loop refuses the command: nothing was appended.
    pub(crate) fn refuse(self, error: ProposeError) {
        // The pending unit is given back before the caller can see the refusal.
        drop(self.outcome.token);
        match self.outcome.tx {
            OutcomeTx::Write { tx, .. } => tx.send(Err(WriteError::Refused(error))),
            OutcomeTx::Proposal(_) => {
                if let Some(answer) = self.answer {
                    answer.send(Err(error));
                }
            }
        }
    }
}

/// Where an accepted proposal's outcome goes.
pub(crate) enum OutcomeTx {
    /// A [`Proposal`](super::Proposal) handle.
    Proposal(OneshotSender<Result<(), ProposalError>>),
    /// A [`Write`](super::Write): the entry's position (known once accepted) with the
    /// outcome.
    Write {
        tx: OneshotSender<Result<(u64, u64), WriteError>>,
        at: (u64, u64),
    },
}

/// The outcome of one accepted proposal. While it exists it counts toward
/// `max_pending_proposals`; dropping it unsent tells the waiter the node shut down.
pub(crate) struct OutcomeSlot {
    pub tx: OutcomeTx,
    pub token: PendingToken,
}

impl OutcomeSlot {
    /// The loop appended the entry at `(index, term)`.
    pub(crate) fn accepted(&mut self, index: u64, term: u64) {
        if let OutcomeTx::Write { at, .. } = &mut self.tx {
            *at = (index, term);
        }
    }

    pub(crate) fn resolve(self, outcome: Result<(), ProposalError>) {
        let OutcomeSlot { tx, token } = self;
        // Given back before the waiter can see the outcome: a caller that proposes again
        // as soon as it is woken must not find its own resolved proposal still counted
        // toward `max_pending_proposals` (a spurious `Busy`).
        drop(token);
        match tx {
            OutcomeTx::Proposal(tx) => tx.send(outcome),
            OutcomeTx::Write { tx, at } => {
                tx.send(outcome.map(|()| at).map_err(WriteError::Failed));
            }
        }
    }
}

/// One unit of `Shared::pending`, given back when dropped (resolved or not).
pub(crate) struct PendingToken(pub std::sync::Arc<AtomicUsize>);

impl Drop for PendingToken {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A request to the loop that is not a message or a proposal.
pub(crate) enum Control {
    /// One tick of time (manual time), answered once stepped.
    Tick(OneshotSender<()>),
    /// The service's snapshot (§7), answered once stepped.
    Snapshot {
        index: u64,
        data: Vec<u8>,
        ack: OneshotSender<()>,
    },
    /// Runs a read-only inspection of the core on the loop.
    Inspect(Box<dyn FnOnce(&Core) + Send>),
}

/// A storage sync that completed: every write up to `seq` is durable, and the log then
/// ended at `(index, term)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Synced {
    pub seq: u64,
    pub index: u64,
    pub term: u64,
}

/// How the node ended (`None` while running).
#[derive(Debug, Clone)]
pub(crate) enum End {
    Shutdown,
    Stopped(StopReason),
}

impl End {
    pub(crate) fn node_error(&self) -> NodeError {
        match self {
            End::Shutdown => NodeError::Shutdown,
            End::Stopped(reason) => NodeError::Stopped(reason.clone()),
        }
    }
    pub(crate) fn propose_error(&self) -> ProposeError {
        match self {
            End::Shutdown => ProposeError::Shutdown,
            End::Stopped(reason) => ProposeError::Stopped(reason.clone()),
        }
    }
    pub(crate) fn proposal_error(&self) -> ProposalError {
        match self {
            End::Shutdown => ProposalError::Shutdown,
            End::Stopped(reason) => ProposalError::Stopped(reason.clone()),
        }
    }
}

/// The loop's inputs. Each kind has its own queue so that a flood of one cannot starve
/// another; messages are bounded by `inbox`, proposals by `max_pending_proposals`.
#[derive(Default)]
pub(crate) struct Inbox {
    pub messages: VecDeque<Received>,
    pub proposals: VecDeque<Propose>,
    pub control: VecDeque<Control>,
    pub synced: Option<Synced>,
    /// The applier took applies: room to release more.
    pub applier_took: bool,
    /// A stop was requested: `Shutdown`, or a failure reported by a worker.
    pub stop: Option<End>,
    /// The loop has exited: nothing is accepted any more.
    pub ended: Option<End>,
    /// The loop is blocked on `inbox_changed` (or, run as a task, parked with `waker`):
    /// only then does a producer signal it. A producer that finds the loop awake leaves its
    /// input for the loop's next take without a futex wake-up (it checks `has_work` under
    /// this lock before it sleeps).
    pub waiting: bool,
    /// The waker of a loop run as a task ([`LoopTask`](super::LoopTask)), while it waits.
    pub waker: Option<std::task::Waker>,
}

impl Inbox {
    pub(crate) fn has_work(&self) -> bool {
        !self.messages.is_empty()
            || !self.proposals.is_empty()
            || !self.control.is_empty()
            || self.synced.is_some()
            || self.applier_took
            || self.stop.is_some()
    }
}

/// What the loop publishes after each iteration.
#[derive(Default)]
pub(crate) struct Published {
    pub status: Status,
    pub state: State,
    /// Bumped whenever `state` changes (the watch's position).
    pub version: u64,
    pub end: Option<NodeError>,
}

/// Shared between the node's handles, its threads and the Lab layer's network threads.
///
/// The counters are `std` atomics even under loom: they only count (status, the `Busy`
/// bound) and order nothing, so loom need not explore their interleavings.
pub(crate) struct Shared {
    pub id: usize,
    pub inbox_capacity: usize,
    pub max_pending_proposals: usize,
    pub max_command_bytes: usize,
    pub inbox: Mutex<Inbox>,
    pub inbox_changed: Condvar,
    pub published: Mutex<Published>,
    pub published_changed: Condvar,
    /// Proposals accepted and unresolved (an `Arc` of its own: every `OutcomeSlot` holds it).
    pub pending: std::sync::Arc<AtomicUsize>,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub dropped: AtomicU64,
    /// The last index handed to the service.
    pub applied: AtomicU64,
    /// The core, once the loop has exited (for inspection after a stop).
    pub final_core: Mutex<Option<Core>>,
}

std::thread_local! {
    /// The node whose event loop runs on this thread right now (its `Shared`'s address; 0
    /// for none): a loop thread for its whole life, an executor's thread while it polls a
    /// [`LoopTask`](super::LoopTask), and its applier thread (where a state machine applies
    /// what the loop left over: its calls back behave as on the loop).
    static ON_LOOP: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks the current thread as running a node's event loop until dropped.
pub(crate) struct OnLoop {
    previous: usize,
}

impl Drop for OnLoop {
    fn drop(&mut self) {
        ON_LOOP.with(|on| on.set(self.previous));
    }
}

impl Shared {
    /// Whether the caller is this node's event loop (a state machine's `apply`): waiting
    /// there for the loop's answer would never end. (Under loom every model thread shares
    /// one OS thread, so the check is off there.)
    pub(crate) fn on_loop(&self) -> bool {
        #[cfg(loom)]
        return false;
        #[cfg(not(loom))]
        return ON_LOOP.with(|on| on.get()) == self as *const Shared as usize;
    }

    /// The current thread runs this node's event loop until the guard is dropped (the
    /// marker `on_loop` reads). Nested entries restore the outer one.
    pub(crate) fn enter_loop(&self) -> OnLoop {
        let previous = ON_LOOP.with(|on| on.replace(self as *const Shared as usize));
        OnLoop { previous }
    }

    /// Queues `item` into the inbox with `push`, unless the loop has ended (then the error
    /// of that end is returned, with the item dropped). Wakes the loop.
    pub(crate) fn post<R>(&self, push: impl FnOnce(&mut Inbox) -> R) -> Result<R, End> {
        let mut inbox = lock(&self.inbox);
        if let Some(end) = inbox.ended.clone().or_else(|| inbox.stop.clone()) {
            return Err(end);
        }
        let result = push(&mut inbox);
        self.wake(inbox);
        Ok(result)
    }

    /// Asks the loop to stop (a shutdown, or a worker's failure). The first request wins.
    pub(crate) fn request_stop(&self, end: End) {
        let mut inbox = lock(&self.inbox);
        if inbox.stop.is_none() && inbox.ended.is_none() {
            inbox.stop = Some(end);
        }
        self.wake(inbox);
    }

    /// How the node ended, if it has (or is ending).
    pub(crate) fn end(&self) -> Option<End> {
        let inbox = lock(&self.inbox);
        inbox.ended.clone().or_else(|| inbox.stop.clone())
    }

    /// Wakes the loop with a flag set by `set`.
    pub(crate) fn notify(&self, set: impl FnOnce(&mut Inbox)) {
        let mut inbox = lock(&self.inbox);
        set(&mut inbox);
        self.wake(inbox);
    }

    /// Releases the inbox lock and signals the loop if it is blocked. Only the loop waits
    /// on `inbox_changed`, so one signal suffices; none is needed when it is awake, since
    /// it takes the inbox again before it next sleeps.
    fn wake(&self, mut inbox: MutexGuard<'_, Inbox>) {
        let waiting = inbox.waiting;
        if !waiting {
            return;
        }
        if let Some(waker) = inbox.waker.take() {
            // A task is woken once: later producers find it no longer waiting, and it takes
            // everything queued when it is polled.
            inbox.waiting = false;
            drop(inbox);
            waker.wake();
            return;
        }
        drop(inbox);
        self.inbox_changed.notify_one();
    }

    /// Publishes how the node ended: watchers and status readers see it.
    pub(crate) fn publish_end(&self, end: &End) {
        let mut published = lock(&self.published);
        published.end = Some(end.node_error());
        match end {
            End::Shutdown => published.status.shut_down = true,
            End::Stopped(reason) => published.status.stopped = Some(reason.clone()),
        }
        drop(published);
        self.published_changed.notify_all();
    }
}

//! The event loop run as a task of an async executor ([`LoopSpawner`]) instead of on a
//! thread of its own.
//!
//! On a thread, every hand-off between a client and the leader's loop, the leader and its
//! followers, and back, wakes a sleeping thread: a futex call and a context switch, which
//! on a small machine cost more than the core's step (docs/performance.md §7). As tasks on
//! one executor, the loops and the clients hand over by queueing one another on the
//! executor's own run queue, without the kernel, as openraft's tasks do on tokio.
//!
//! A turn of the task is the thread's iteration (`EventLoop::turn`), so the protocol is
//! the same code either way. What differs is the waiting: instead of blocking on the inbox's
//! condition variable, the task registers its waker in the inbox and returns `Pending`; a
//! producer that finds it waiting wakes it (`Shared::wake`). Time comes from a timer thread
//! per node that wakes the task when its next tick is due: one wake-up per tick, none per
//! message.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::sync::{lock, Arc, Condvar, Mutex};

use super::error::panic_message;
use super::event_loop::EventLoop;
use super::shared::End;
use super::{Alive, StopReason};

/// Turns one poll runs at most before it yields to the executor's other tasks (it wakes
/// itself first, so it is polled again): a loop that always finds input must not starve the
/// clients and peers that share its worker thread.
const TURNS_PER_POLL: usize = 16;

/// Runs a node's event loop as a task of an async executor: given to
/// [`NodeConfig::spawn_loop`](super::NodeConfig::spawn_loop), the node hands its loop to
/// this function as a [`LoopTask`] at start, instead of starting a thread for it.
///
/// With tokio: a one-server cluster whose loop and client share one runtime.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use raft_impl::core::{Bytes, Role};
/// use raft_impl::node::{LoopSpawner, Network, Node, NodeConfig};
/// use raft_impl::storage::MemoryStorage;
///
/// struct Alone; // one server: nobody to send to
/// impl Network for Alone {
///     fn send(&self, _to: usize, _message: Bytes) {}
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let runtime = tokio::runtime::Builder::new_multi_thread().enable_time().build()?;
/// let handle = runtime.handle().clone();
/// let config = NodeConfig {
///     id: 0,
///     servers: 1,
///     spawn_loop: Some(LoopSpawner::new(move |task| {
///         handle.spawn(task);
///     })),
///     ..NodeConfig::default()
/// };
/// let (node, applies) = Node::start(config, Box::new(MemoryStorage::new()), Arc::new(Alone))?;
/// let (index, _term) = runtime.block_on(async {
///     while node.state().role != Role::Leader {
///         tokio::time::sleep(Duration::from_millis(10)).await;
///     }
///     node.write(Bytes::from("x=1")).await // resolves once applied
/// })?;
/// assert!(index >= 1);
/// node.shutdown(); // requests the stop; the task ends when next polled
/// drop(applies);
/// # Ok(())
/// # }
/// ```
///
/// The task never blocks its worker thread (with `sync_on_loop` it calls the storage's
/// `sync` on the task: only for storage whose sync does not block). The node's blocking
/// calls ([`Node::propose`](super::Node::propose), [`Node::tick`](super::Node::tick),
/// [`Node::with_core`](super::Node::with_core), [`Node::snapshot`](super::Node::snapshot),
/// [`Write::wait`](super::Write::wait)) wait for the loop: do not make them on a worker
/// thread the loop needs (on a single-threaded executor, never); await
/// [`Node::write`](super::Node::write) instead. [`Node::shutdown`](super::Node::shutdown)
/// requests the stop and returns without waiting for the task.
#[derive(Clone)]
pub struct LoopSpawner(std::sync::Arc<dyn Fn(LoopTask) + Send + Sync>);

impl LoopSpawner {
    /// A spawner that hands each loop to `spawn` (which must run it to completion: a
    /// dropped task stops its node with [`StopReason::LoopDropped`], unless a stop was
    /// requested already: a `shutdown` then completes as one).
    pub fn new(spawn: impl Fn(LoopTask) + Send + Sync + 'static) -> Self {
        LoopSpawner(std::sync::Arc::new(spawn))
    }

    pub(crate) fn spawn(&self, task: LoopTask) {
        (self.0)(task)
    }
}

impl std::fmt::Debug for LoopSpawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoopSpawner(..)")
    }
}

/// A node's event loop as a future, for an executor to run ([`LoopSpawner`]). It completes
/// when the node has shut down or stopped.
#[must_use = "a node's loop does nothing unless polled"]
pub struct LoopTask {
    /// `None` once the loop has ended.
    event_loop: Option<Box<EventLoop>>,
    started: bool,
    /// The last poll yielded before taking the inbox (`Look::Defer`): this one takes it.
    deferred: bool,
    timer: Option<Arc<Timer>>,
    /// The task's unit of `Node::running_threads`, given back once the loop has ended.
    alive: Option<Alive>,
}

impl std::fmt::Debug for LoopTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopTask")
            .field("ended", &self.event_loop.is_none())
            .finish_non_exhaustive()
    }
}

impl LoopTask {
    pub(crate) fn new(event_loop: EventLoop, timer: Option<Arc<Timer>>, alive: Alive) -> Self {
        LoopTask {
            event_loop: Some(Box::new(event_loop)),
            started: false,
            deferred: false,
            timer,
            alive: Some(alive),
        }
    }

    /// Ends the loop (the same shut-down as a loop thread's), lets the timer thread go, and
    /// only then stops counting in `Node::running_threads`.
    ///
    /// Closing drops what the loop owns (its network, its storage with `sync_on_loop`,
    /// perhaps the state machine): their destructors are the embedding's code. A panic
    /// there is caught and logged (on a loop thread it would end just that thread, whose
    /// count is given back): unwinding out of here would skip the timer's end (a thread
    /// left sleeping for good) and reach the executor from `poll`, or from `drop` while a
    /// runtime shuts down.
    fn close(&mut self, end: End) {
        if let Some(event_loop) = self.event_loop.take() {
            let id = event_loop.shared.id;
            let closed =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| event_loop.close(end)));
            if let Err(payload) = closed {
                let message = panic_message(&*payload);
                tracing::error!(id, %message, "panicked while the loop ended");
            }
        }
        if let Some(timer) = &self.timer {
            timer.end();
        }
        self.alive = None;
    }
}

impl Future for LoopTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(event_loop) = this.event_loop.as_mut() else {
            return Poll::Ready(());
        };
        let shared = Arc::clone(&event_loop.shared);
        let _on_loop = shared.enter_loop();
        if !this.started {
            this.started = true;
            event_loop.next_tick = event_loop.tick.map(|tick| Instant::now() + tick);
            event_loop.publish();
        }
        for turn in 0..TURNS_PER_POLL {
            let Some(event_loop) = this.event_loop.as_mut() else {
                return Poll::Ready(());
            };
            // Defer at most once in a row, and only at a poll's first look (a poll that
            // follows its own deferral takes what came meanwhile).
            let may_defer = turn == 0 && !std::mem::take(&mut this.deferred);
            let inbox = match poll_inbox(event_loop, cx.waker(), may_defer) {
                Look::Work(inbox) => inbox,
                Look::Defer => {
                    // Scheduled again by this wake (tokio puts a task that woke itself at
                    // the back of its run queue, behind the clients woken before it);
                    // the inbox says it is not waiting, so producers meanwhile only queue.
                    this.deferred = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Look::Idle => {
                    // Nothing to do: parked in the inbox; the timer wakes it for the next
                    // tick.
                    if let (Some(timer), Some(next)) = (&this.timer, event_loop.next_tick) {
                        timer.arm(next, cx.waker());
                    }
                    return Poll::Pending;
                }
            };
            let turned =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| event_loop.turn(inbox)));
            let end = match turned {
                Ok(None) => continue,
                Ok(Some(end)) => end,
                Err(payload) => End::Stopped(StopReason::Panicked {
                    message: panic_message(&*payload),
                }),
            };
            this.close(end);
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Drop for LoopTask {
    fn drop(&mut self) {
        // Dropped unfinished (the executor shut down): the node must not look alive with
        // nothing stepping it, so it stops as a loop that ended would, and every waiter
        // hears of it. A stop already requested and not yet seen by the loop (a
        // `shutdown()` right before the runtime's drop, a worker's failure) is how it
        // ends, as its next poll would have ended it (the first request wins, as in
        // `Shared::request_stop`): a shutdown must not read as a failure, nor a storage
        // failure as a dropped task.
        if let Some(event_loop) = &self.event_loop {
            let end = event_loop
                .shared
                .end()
                .unwrap_or(End::Stopped(StopReason::LoopDropped));
            self.close(end);
        }
    }
}

/// What a look at the inbox found.
// Not boxed: it is moved once, straight into `EventLoop::turn` (as the `Option<Inbox>` it
// replaces was); a box would be an allocation per turn.
#[allow(clippy::large_enum_variant)]
enum Look {
    /// Input, or a tick due: everything waiting, taken.
    Work(super::shared::Inbox),
    /// Only proposals, while other proposals are in flight: the task yields once before it
    /// takes them (`should_defer`).
    Defer,
    /// Nothing: the waker is left in the inbox for the next producer.
    Idle,
}

/// Takes everything waiting if there is input or a tick is due; otherwise leaves `waker`
/// in the inbox for the next producer.
///
/// The clock is read only when the inbox is empty: with input the loop turns anyway, and
/// the turn steps the ticks that are due (`EventLoop::turn` reads the clock itself).
fn poll_inbox(event_loop: &EventLoop, waker: &Waker, may_defer: bool) -> Look {
    let mut inbox = lock(&event_loop.shared.inbox);
    let has_work = inbox.has_work();
    if has_work
        || event_loop
            .next_tick
            .is_some_and(|next| Instant::now() >= next)
    {
        // Whoever woke the task took the waker and cleared `waiting`; a poll for another
        // reason (the timer, the executor) clears them here. Either way, from now until the
        // task parks again producers only queue: the task is running, or (deferring) is
        // scheduled by its own wake, and takes the inbox at its next look.
        inbox.waiting = false;
        inbox.waker = None;
        if has_work && may_defer && should_defer(&inbox, &event_loop.shared) {
            return Look::Defer;
        }
        return Look::Work(event_loop.take_all(&mut inbox));
    }
    // Registered under the inbox lock, as the condvar's wait: a producer that queues after
    // this sees `waiting` and wakes the task (`Shared::wake`).
    inbox.waiting = true;
    if !inbox.waker.as_ref().is_some_and(|old| old.will_wake(waker)) {
        inbox.waker = Some(waker.clone());
    }
    Look::Idle
}

/// Whether a leader woken by a proposal should let the executor run its other ready tasks
/// before it takes the inbox: when other proposals are in flight (`pending` counts more than
/// the queued ones), their clients are likely among those tasks, each about to queue its
/// next proposal. On tokio the task that woke the loop puts it first in line (the "LIFO
/// slot"), so without this a leader under many clients turns for one proposal at a time:
/// one write, one round of AppendEntries, and the wake-ups they cost, per commit. With a
/// single client nothing else is in flight and the loop never defers.
fn should_defer(inbox: &super::shared::Inbox, shared: &super::shared::Shared) -> bool {
    !inbox.proposals.is_empty()
        && inbox.messages.is_empty()
        && inbox.control.is_empty()
        && inbox.synced.is_none()
        && inbox.stop.is_none()
        && shared.pending.load(std::sync::atomic::Ordering::Relaxed) > inbox.proposals.len()
}

/// Wakes a loop task when its next tick is due: a thread per node that sleeps until the
/// deadline the task gave it (with its waker, held until then).
pub(crate) struct Timer {
    state: Mutex<TimerState>,
    changed: Condvar,
}

#[derive(Default)]
struct TimerState {
    deadline: Option<Instant>,
    waker: Option<Waker>,
    ended: bool,
}

impl Timer {
    pub(crate) fn new() -> Self {
        Timer {
            state: Mutex::new(TimerState::default()),
            changed: Condvar::new(),
        }
    }

    /// Wake `waker` at `deadline` (replacing the deadline before).
    fn arm(&self, deadline: Instant, waker: &Waker) {
        let mut state = lock(&self.state);
        let sooner = state.deadline.is_none_or(|old| deadline < old);
        state.deadline = Some(deadline);
        if !state.waker.as_ref().is_some_and(|old| old.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
        drop(state);
        // A later deadline needs no signal: the thread wakes at the old one and sleeps on.
        if sooner {
            self.changed.notify_one();
        }
    }

    /// The loop ended: the thread returns.
    fn end(&self) {
        let mut state = lock(&self.state);
        state.ended = true;
        state.waker = None;
        drop(state);
        self.changed.notify_one();
    }

    /// The timer thread's body.
    pub(crate) fn run(&self) {
        let mut state = lock(&self.state);
        loop {
            if state.ended {
                return;
            }
            state = match state.deadline {
                None => self
                    .changed
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        state.deadline = None;
                        // Taken, not cloned: the timer holds the task only while armed. An
                        // executor that abandons its tasks without dropping them (they
                        // live in their wakers) then frees the task once the inbox's
                        // waker goes too (a shutdown's wake), and the task's drop ends the
                        // node; a waker kept here would keep it, and every thread of the
                        // node, alive for good. The task gives it again when it next
                        // parks (`arm`).
                        let waker = state.waker.take();
                        drop(state);
                        if let Some(waker) = waker {
                            waker.wake();
                        }
                        lock(&self.state)
                    } else {
                        self.changed
                            .wait_timeout(state, deadline - now)
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .0
                    }
                }
            };
        }
    }
}

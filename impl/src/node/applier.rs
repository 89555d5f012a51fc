//! The applier thread and the apply stream: committed entries leave the node in order, at
//! the service's pace, through bounded queues.
//!
//! The event loop releases applies (once durable) into the applier's queue only while it
//! has room (`NodeConfig::apply_queue`); the rest wait in the loop's backlog, so a slow
//! service never blocks the loop and nothing is dropped. The applier hands each apply to a
//! sink (the public [`Applies`] stream, bounded too, or the Lab's apply channel), then
//! resolves the proposal that created the entry.

use std::sync::Arc as StdArc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::core::Apply;
use crate::sync::{lock, Arc, AtomicU64, Mutex, Ordering};

use super::queue::{deadline_after, PopError, Queue};
use super::shared::{End, OutcomeSlot, Shared};
use super::StopReason;

/// One item of the apply stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A committed entry, delivered once, in index order.
    Entry {
        /// Its log index.
        index: u64,
        /// The term it was proposed in.
        term: u64,
        /// The command, as proposed.
        command: Bytes,
    },
    /// A snapshot received from the leader: it replaces the service's state up to `index`.
    Snapshot {
        /// The last index it covers.
        index: u64,
        /// The term of that index.
        term: u64,
        /// The service's snapshot bytes.
        data: StdArc<Vec<u8>>,
    },
    /// The last item of a node that stopped on an error: nothing follows.
    Stopped(StopReason),
}

impl From<Apply> for Applied {
    fn from(apply: Apply) -> Self {
        match apply {
            Apply::Entry {
                index,
                term,
                command,
            } => Applied::Entry {
                index,
                term,
                command,
            },
            Apply::Snapshot { index, term, data } => Applied::Snapshot { index, term, data },
        }
    }
}

impl PartialEq for StopReason {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}
impl Eq for StopReason {}

/// The service's end of the apply stream (bounded: `NodeConfig::apply_queue`). It ends
/// (`recv` returns `None`) after a shutdown, or after [`Applied::Stopped`] when the node
/// stopped on an error. Dropping it discards the rest of the stream.
pub struct Applies {
    pub(crate) queue: Arc<Queue<Applied>>,
}

impl Applies {
    /// The next item, waiting for it; `None` once the stream has ended.
    pub fn recv(&self) -> Option<Applied> {
        self.queue.pop_wait()
    }

    /// The next item, waiting at most `timeout`; `Ok(None)` if none came, `Err(())` once
    /// the stream has ended.
    #[allow(clippy::result_unit_err)]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Applied>, ()> {
        match self.queue.pop_until(deadline_after(timeout)) {
            Ok(item) => Ok(Some(item)),
            Err(PopError::Timeout) => Ok(None),
            Err(PopError::Closed) => Err(()),
        }
    }

    /// The next item if one is waiting.
    pub fn try_recv(&self) -> Option<Applied> {
        self.queue.try_pop().ok()
    }

    /// Items waiting now.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no item is waiting now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Iterator for Applies {
    type Item = Applied;
    fn next(&mut self) -> Option<Applied> {
        self.recv()
    }
}

impl Drop for Applies {
    fn drop(&mut self) {
        self.queue.close_and_clear();
    }
}

/// Why a sink did not take an apply.
pub(crate) enum SinkError {
    /// The service is gone (or the node is shutting down): the rest is discarded.
    Closed,
    /// The service cannot take it: the node must stop.
    Failed(StopReason),
}

/// Why [`ApplySink::try_deliver`] did not take an apply.
pub(crate) enum TryDeliverError {
    /// Taking it now would block: it is handed back (the applier thread will wait).
    WouldBlock(Apply),
    /// As for [`ApplySink::deliver`].
    Sink(SinkError),
}

/// Where the applier hands applies: the public [`Applies`] stream or the Lab's channel.
pub(crate) trait ApplySink: Send + 'static {
    /// Hands one apply to the service; may block while the service catches up.
    fn deliver(&mut self, apply: Apply) -> Result<(), SinkError>;
    /// Hands one apply to the service if that does not block (the event loop delivers
    /// this way when nothing is queued for the applier thread). By default it never does.
    fn try_deliver(&mut self, apply: Apply) -> Result<(), TryDeliverError> {
        Err(TryDeliverError::WouldBlock(apply))
    }
    /// Wakes the service for what `try_deliver` handed over, if that was deferred (the loop
    /// calls it after resolving the proposals, so the service's wake-up is not on their
    /// path).
    fn flush(&mut self) {}
    /// The stream ends (with the reason, if the node stopped on an error).
    fn end(&mut self, reason: Option<StopReason>);
}

/// The sink behind [`Applies`].
pub(crate) struct QueueSink {
    pub queue: Arc<Queue<Applied>>,
    /// `try_deliver` queued items without waking a waiting service (`flush` does).
    pub unwoken: bool,
}

impl ApplySink for QueueSink {
    fn deliver(&mut self, apply: Apply) -> Result<(), SinkError> {
        self.queue
            .push_wait(apply.into())
            .map_err(|_| SinkError::Closed)
    }

    fn try_deliver(&mut self, apply: Apply) -> Result<(), TryDeliverError> {
        // Only the holder of the sink pushes here (the service only takes), so room seen
        // now is still there for the push.
        if self.queue.len() >= self.queue.capacity() {
            return Err(TryDeliverError::WouldBlock(apply));
        }
        match self.queue.try_push_quiet(apply.into()) {
            Ok(wake) => {
                self.unwoken |= wake;
                Ok(())
            }
            Err(_) => Err(TryDeliverError::Sink(SinkError::Closed)),
        }
    }

    fn flush(&mut self) {
        if std::mem::take(&mut self.unwoken) {
            self.queue.wake_waiters();
        }
    }

    fn end(&mut self, reason: Option<StopReason>) {
        self.flush();
        if let Some(reason) = reason {
            let _ = self.queue.push_force(Applied::Stopped(reason));
        }
        self.queue.close();
    }
}

/// How long one call of [`ApplyStage::deliver_now`] applies on the event loop before it
/// leaves the rest to the applier thread. While the loop applies it steps nothing: a leader
/// sends no heartbeats, and no vote or AppendEntries is answered. A long backlog commits at
/// once when a new leader's first entry commits a previous term's log (§5.4.2) or a
/// follower catches up after a partition or a restart. Applied in place whole, 100 000
/// entries held a CPU for tens of milliseconds with a trivial service (docs/performance.md
/// §8), and would hold the loop a second with an apply of 10 µs: longer than an election
/// timeout, so followers would start elections (Figure 2, rules for leaders: heartbeats
/// "during idle periods to prevent election timeouts") and votes would go unanswered
/// (test `a_long_backlog_applied_in_place_does_not_hold_the_loop`). A millisecond keeps
/// the loop's delay well under a heartbeat interval, and a busy leader's usual batch (a few
/// to a few tens of cheap applies) stays under it, so the in-place path (one thread
/// hand-off less per commit, docs/performance.md §7) is as before on the hot path: no
/// change stood out of the noise at 64 clients (§7, "applies in place are bounded").
pub(crate) const IN_PLACE_BUDGET: Duration = Duration::from_millis(1);

/// [`ApplyStage::deliver_now`] reads the clock once every this many applies (and once
/// before, for a longer batch): a read costs about 30 ns here (docs/performance.md §7), a
/// share of a cheap apply not worth paying on each, and the budget may be overrun by at
/// most this many applies.
const CLOCK_EVERY: usize = 8;

/// One released apply and the proposal it resolves.
pub(crate) struct ApplyItem {
    pub apply: Apply,
    pub outcome: Option<OutcomeSlot>,
}

/// The sink and what became of the service, shared by the applier thread and the event
/// loop (which delivers itself when nothing waits for the applier: one thread hand-off
/// less per commit). Whoever holds the lock delivers; order is kept by
/// [`ApplyStage::queued`].
pub(crate) struct ApplyStage {
    /// The applier thread's queue (bounded: `NodeConfig::apply_queue`).
    pub queue: Arc<Queue<ApplyItem>>,
    sink: Mutex<SinkState>,
    /// Items pushed to the applier's queue and not yet delivered: the loop delivers
    /// directly only while this is zero (only the loop raises it, so zero stays zero until
    /// the loop queues again), so no apply overtakes one queued before it.
    pub queued: AtomicU64,
}

struct SinkState {
    sink: Box<dyn ApplySink>,
    /// The service stopped reading: the rest is discarded.
    service_gone: bool,
    /// The stream was ended on a failure (`end` called): nothing more is delivered.
    ended: bool,
}

impl ApplyStage {
    pub(crate) fn new(queue: Arc<Queue<ApplyItem>>, sink: Box<dyn ApplySink>) -> Self {
        ApplyStage {
            queue,
            sink: Mutex::new(SinkState {
                sink,
                service_gone: false,
                ended: false,
            }),
            queued: AtomicU64::new(0),
        }
    }

    /// Delivers `items` from the event loop while the sink takes them without blocking and
    /// for at most [`IN_PLACE_BUDGET`]; leaves the rest (in order) in `items` when the sink
    /// would block or the budget is spent. Only when nothing is queued.
    pub(crate) fn deliver_now(&self, shared: &Shared, items: &mut super::fifo::Fifo<ApplyItem>) {
        if items.is_empty() || self.queued.load(Ordering::SeqCst) != 0 {
            return;
        }
        // The clock is read only for a batch longer than one check's worth, then once per
        // check: none for up to 8 applies, 9 reads for 64.
        let start = (items.len() > CLOCK_EVERY).then(Instant::now);
        let mut delivered = 0;
        let mut state = lock(&self.sink);
        while let Some(item) = items.pop_front() {
            if let Some(item) = deliver(&mut state, shared, item, false) {
                items.push_front(item);
                break;
            }
            delivered += 1;
            if delivered % CLOCK_EVERY == 0
                && !items.is_empty()
                && start.is_some_and(|start| start.elapsed() >= IN_PLACE_BUDGET)
            {
                // The rest goes to the applier thread (`EventLoop::pump_applies`), which
                // keeps the order: the loop delivers in place again only once the
                // applier's queue is empty (`queued`).
                break;
            }
        }
        if !state.ended {
            state.sink.flush();
        }
    }
}

/// Hands `item` to the sink (`wait`: blocking if need be) and resolves its proposal; hands
/// the item back if the sink would block (`wait == false` only).
fn deliver(
    state: &mut SinkState,
    shared: &Shared,
    item: ApplyItem,
    wait: bool,
) -> Option<ApplyItem> {
    let ApplyItem { apply, outcome } = item;
    if state.ended {
        if let Some(outcome) = outcome {
            outcome.resolve(Err(shared
                .end()
                .map_or(super::ProposalError::Shutdown, |end| end.proposal_error())));
        }
        return None;
    }
    let index = match &apply {
        Apply::Entry { index, .. } | Apply::Snapshot { index, .. } => *index,
    };
    let delivered = if state.service_gone {
        Ok(())
    } else {
        let sink = &mut state.sink;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if wait {
                sink.deliver(apply).map_err(TryDeliverError::Sink)
            } else {
                sink.try_deliver(apply)
            }
        }))
        .unwrap_or_else(|payload| {
            Err(TryDeliverError::Sink(SinkError::Failed(
                StopReason::Panicked {
                    message: super::error::panic_message(&*payload),
                },
            )))
        })
    };
    match delivered {
        Ok(()) => {}
        Err(TryDeliverError::WouldBlock(apply)) => return Some(ApplyItem { apply, outcome }),
        Err(TryDeliverError::Sink(SinkError::Closed)) => state.service_gone = true,
        Err(TryDeliverError::Sink(SinkError::Failed(reason))) => {
            tracing::error!(id = shared.id, index, %reason, "the service cannot take a committed entry; stopping");
            if let Some(outcome) = outcome {
                outcome.resolve(Err(super::ProposalError::Stopped(reason.clone())));
            }
            shared.request_stop(End::Stopped(reason.clone()));
            state.ended = true;
            end_sink(state, Some(reason));
            return None;
        }
    }
    if state.service_gone {
        // Committed, but the service no longer reads: resolved as the node's end says (a
        // dropped stream while running still counts as applied).
        if let Some(outcome) = outcome {
            outcome.resolve(shared.end().map_or(Ok(()), |end| Err(end.proposal_error())));
        }
        return None;
    }
    shared
        .applied
        .fetch_max(index, std::sync::atomic::Ordering::SeqCst);
    if let Some(outcome) = outcome {
        outcome.resolve(Ok(()));
    }
    None
}

/// Ends the sink (at most once: the caller has set `ended`). A panic there (a state
/// machine's `stopped`) is caught: the node is ending anyway, for the reason already given.
fn end_sink(state: &mut SinkState, reason: Option<StopReason>) {
    let sink = &mut state.sink;
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink.end(reason))).is_err() {
        tracing::error!("the service panicked while told the node stopped");
    }
}

/// The applier thread: takes released applies in order and hands them to the sink.
pub(crate) fn run_applier(shared: Arc<Shared>, stage: Arc<ApplyStage>) {
    // A state machine runs here for what the loop left over (`IN_PLACE_BUDGET`): its calls
    // back into the node are treated as from the loop (a `Write::wait` here would wait for
    // this very thread; `propose`, `tick` and `with_core` are refused alike, so the machine
    // sees one behaviour whichever thread applies it).
    let _on_node = shared.enter_loop();
    let queue = &stage.queue;
    while let Some(items) = queue.pop_all_wait() {
        // The loop stops releasing applies only when this queue is full (the rest wait in
        // its backlog) and only the loop pushes here, so it needs waking for room only
        // when a take emptied a full queue; any other take would wake it for nothing.
        if items.len() >= queue.capacity() {
            shared.notify(|inbox| inbox.applier_took = true);
        }
        let taken = items.len() as u64;
        {
            let mut state = lock(&stage.sink);
            for item in items {
                // Blocking delivery never hands the item back.
                let _ = deliver(&mut state, &shared, item, true);
            }
        }
        stage.queued.fetch_sub(taken, Ordering::SeqCst);
    }
    let reason = match shared.end() {
        Some(End::Stopped(reason)) => Some(reason),
        _ => None,
    };
    let mut state = lock(&stage.sink);
    if !state.ended {
        state.ended = true;
        end_sink(&mut state, reason);
    }
}

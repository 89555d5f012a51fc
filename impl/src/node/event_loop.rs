//! The event loop: the one thread that owns a peer's [`Core`].
//!
//! Each iteration takes *everything* waiting in the inbox (sync reports, control requests,
//! received messages, proposals), steps it all, and then:
//! 1. merges the iteration's persistent deltas into one [`Write`] for the storage worker
//!    (many proposals: one write, one sync — batching);
//! 2. sends at once what may leave before the write is durable: a leader's AppendEntries
//!    and InstallSnapshot requests (Raft thesis §10.2.1);
//! 3. holds everything else — replies (acknowledged entries, granted votes), RequestVotes
//!    (the candidate's own vote) and applies — until the storage reports that write
//!    durable (Figure 2: "respond to RPCs only after updating stable storage");
//! 4. releases applies to the applier while its bounded queue has room;
//! 5. publishes its status.
//!
//! A sync report is stepped as `Input::Persisted { index, term }`, so the core counts the
//! leader's own entries toward commit only once durable (§10.2.1). Time comes from the loop
//! itself: it waits on the inbox until the next tick is due (no ticker thread).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::core::{Apply, Core, Input, Message, Outgoing, Persist, Ready, Role};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sync::{lock, Arc, Ordering as SyncOrdering};

use super::applier::{ApplyItem, ApplyStage};
use super::error::panic_message;
use super::fifo::{self, Fifo};
use super::network::Network;
use super::queue::{OneshotSender, Queue};
use super::shared::{Control, End, Inbox, OutcomeSlot, Propose, Received, Shared, Synced};
use super::status::{State, Status};
use super::storage_worker::{write_and_sync, Write};
use super::{ProposalError, ProposeError, StopReason};
use crate::storage::Storage;

/// How long the loop sleeps at once, without spinning, after a yield lost the CPU for a
/// time slice (other work keeps the CPUs busy; [`EventLoop::spin_for_input`]). Long against
/// a time slice, so a lost slice costs a few percent at most while the CPUs stay busy;
/// short enough that spinning resumes soon after they are free again.
#[cfg(not(loom))]
const SPIN_BACKOFF: Duration = Duration::from_millis(100);

/// A yield that kept the loop off the CPU this long lost a time slice to other work (the
/// scheduler's slices are milliseconds; a yield to the node's own threads, or to none,
/// returns within tens of microseconds).
#[cfg(not(loom))]
const SPIN_STOLEN: Duration = Duration::from_micros(500);

/// Something that may leave only once the write of its iteration is durable.
enum Held {
    Send(Outgoing),
    Reply(OneshotSender<Vec<u8>>, Message),
    Apply(Apply),
}

/// Outputs collected over one iteration. One is kept in the loop and reused, its vectors
/// drained at the end of each iteration rather than dropped: allocating them afresh was a
/// few allocations per iteration, and a busy loop runs an iteration every few commits
/// (docs/performance.md §7, "Allocations per commit").
struct Iteration {
    deltas: Vec<Persist>,
    now: Vec<Outgoing>,
    held: Vec<Held>,
    /// The lowest durable index the core had after any step of the iteration: an entry at
    /// or below it was on disk the whole time (no truncation in the iteration rewrote it).
    durable_min: u64,
}

impl Default for Iteration {
    fn default() -> Self {
        Iteration {
            deltas: Vec::new(),
            now: Vec::new(),
            held: Vec::new(),
            durable_min: u64::MAX,
        }
    }
}

impl Iteration {
    /// Ready for the next iteration: empty (the loop drained it), and without the room a
    /// burst left (a vector past [`fifo::KEEP`] is freed, as the loop's FIFOs give theirs
    /// back, see there).
    fn reset(&mut self) {
        fn trim<T>(items: &mut Vec<T>) {
            items.clear();
            if items.capacity() > fifo::KEEP {
                *items = Vec::new();
            }
        }
        trim(&mut self.deltas);
        trim(&mut self.now);
        trim(&mut self.held);
        self.durable_min = u64::MAX;
    }
}

/// Where the loop's writes go.
pub(crate) enum StorageSide {
    /// To the storage worker thread (group commit off the loop).
    Worker(Arc<Queue<Write>>),
    /// Written and synced on the loop itself (`NodeConfig::sync_on_loop`).
    Inline(Box<dyn Storage>),
}

/// A proposal waiting to be applied.
struct Pending {
    term: u64,
    outcome: OutcomeSlot,
}

pub(crate) struct EventLoop {
    pub core: Core,
    pub shared: Arc<Shared>,
    pub network: std::sync::Arc<dyn Network>,
    pub storage: StorageSide,
    /// The hand-over to the service (the applier thread's queue with it).
    pub stage: Arc<ApplyStage>,
    pub syncs: std::sync::Arc<AtomicU64>,
    pub tick: Option<Duration>,
    /// How long the loop keeps looking for input before it sleeps
    /// (`NodeConfig::spin_before_sleep`).
    pub spin: Duration,
    /// Spinning is off until then: a yield lost the CPU for a time slice (see
    /// [`EventLoop::spin_for_input`]).
    #[cfg(not(loom))]
    spin_off_until: std::cell::Cell<Option<Instant>>,
    /// When the next tick is due (with `tick`).
    pub next_tick: Option<Instant>,
    /// Writes handed to the storage worker so far, and how many of them are durable.
    pub issued_seq: u64,
    pub durable_seq: u64,
    pub durable_index: u64,
    held: Fifo<(u64, Held)>,
    /// How many of `held` are applies (applies leave in index order: a new one may skip
    /// the hold only when none is held).
    held_applies: usize,
    backlog: Fifo<ApplyItem>,
    pending: BTreeMap<u64, Pending>,
    state: State,
    /// The iteration's outputs, empty between iterations (kept for its vectors).
    iteration: Iteration,
    /// The vector of the last inline write's deltas, empty, for the next write.
    spare_deltas: Vec<Persist>,
    /// The inbox's queues of the last turn, drained, swapped into the inbox at the next
    /// take ([`EventLoop::take_all`]). Taking the queues and leaving empty ones cost
    /// producers a new buffer, grown step by step, every turn: the proposals' and
    /// messages' queues were a share of the commit path's allocations (docs/performance.md
    /// §7, "Allocations per commit"). Cells: the take runs where the loop is borrowed
    /// shared (a loop task's poll).
    spare_messages: std::cell::Cell<VecDeque<Received>>,
    spare_proposals: std::cell::Cell<VecDeque<Propose>>,
}

/// Keeps `queue`, drained, in `spare` for the next take, unless a burst grew it past
/// [`fifo::KEEP`] (its room is given back, as the loop's FIFOs give theirs).
fn give_back<T>(spare: &std::cell::Cell<VecDeque<T>>, mut queue: VecDeque<T>) {
    queue.clear();
    if queue.capacity() <= fifo::KEEP {
        spare.set(queue);
    }
}

impl EventLoop {
    pub(crate) fn new(
        core: Core,
        shared: Arc<Shared>,
        network: std::sync::Arc<dyn Network>,
        storage: StorageSide,
        stage: Arc<ApplyStage>,
        syncs: std::sync::Arc<AtomicU64>,
        tick: Option<Duration>,
    ) -> Self {
        let durable_index = core.last_log_index();
        EventLoop {
            core,
            shared,
            network,
            storage,
            stage,
            syncs,
            tick,
            spin: Duration::ZERO,
            #[cfg(not(loom))]
            spin_off_until: std::cell::Cell::new(None),
            next_tick: None,
            issued_seq: 0,
            durable_seq: 0,
            durable_index,
            held: Fifo::default(),
            held_applies: 0,
            backlog: Fifo::default(),
            pending: BTreeMap::new(),
            state: State::default(),
            iteration: Iteration::default(),
            spare_deltas: Vec::new(),
            spare_messages: Default::default(),
            spare_proposals: Default::default(),
        }
    }

    /// Runs until a stop is requested or a step panics, then shuts the loop's side down:
    /// the inbox refuses new input, the storage and applier queues are closed, pending
    /// proposals fail, and the core is kept for inspection.
    pub(crate) fn run(mut self) {
        let shared = Arc::clone(&self.shared);
        let _on_loop = shared.enter_loop();
        self.publish();
        let end = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.serve())) {
            Ok(end) => end,
            Err(payload) => End::Stopped(StopReason::Panicked {
                message: panic_message(&*payload),
            }),
        };
        self.close(end);
    }

    /// The loop's end, however it is run: the inbox refuses new input, the storage and
    /// applier queues are closed, pending proposals fail, and the core is kept for
    /// inspection.
    pub(crate) fn close(mut self, end: End) {
        if let End::Stopped(reason) = &end {
            tracing::error!(id = self.shared.id, %reason, "node stopped");
        }
        // The core stays inspectable (`with_core`) once input is refused.
        *lock(&self.shared.final_core) = Some(self.core.clone());
        // Refuse input from now on, and drop what is queued (RPC handlers waiting for a
        // reply see their slot close; proposers see their answer slot close).
        let leftover = {
            let mut inbox = lock(&self.shared.inbox);
            let leftover = std::mem::take(&mut *inbox);
            inbox.ended = Some(end.clone());
            leftover
        };
        self.shared.inbox_changed.notify_all();
        for propose in leftover.proposals {
            propose.refuse(end.propose_error());
        }
        drop(leftover.messages);
        drop(leftover.control);
        // A shutdown lets the worker finish what it was given; after a failure it has
        // exited already.
        if let StorageSide::Worker(queue) = &self.storage {
            queue.close();
        }
        self.stage.queue.close();
        for (_, pending) in std::mem::take(&mut self.pending) {
            pending.outcome.resolve(Err(end.proposal_error()));
        }
        for item in std::mem::take(&mut self.backlog) {
            if let Some(outcome) = item.outcome {
                outcome.resolve(Err(end.proposal_error()));
            }
        }
        self.held.clear();
        self.held_applies = 0;
        self.publish();
        self.shared.publish_end(&end);
    }

    fn serve(&mut self) -> End {
        self.next_tick = self.tick.map(|tick| Instant::now() + tick);
        loop {
            let inbox = self.take_inbox(self.next_tick);
            if let Some(end) = self.turn(inbox) {
                return end;
            }
        }
    }

    /// One iteration: steps everything `inbox` holds and the ticks that are due, then
    /// writes, sends, releases and publishes (`finish`). Returns how the loop ends, if it
    /// does.
    pub(crate) fn turn(&mut self, mut inbox: Inbox) -> Option<End> {
        {
            if let Some(end) = &inbox.stop {
                if matches!(end, End::Stopped(_)) {
                    return Some(end.clone());
                }
            }
            let mut it = std::mem::take(&mut self.iteration);
            if let Some(synced) = inbox.synced {
                self.persisted(synced, &mut it);
            }
            for control in inbox.control {
                match control {
                    Control::Tick(ack) => {
                        self.step(Input::Tick, &mut it);
                        ack.send(());
                    }
                    Control::Snapshot { index, data, ack } => {
                        self.step(Input::Snapshot { index, data }, &mut it);
                        ack.send(());
                    }
                    Control::Inspect(inspect) => inspect(&self.core),
                }
            }
            for received in inbox.messages.drain(..) {
                self.receive(received, &mut it);
            }
            for propose in inbox.proposals.drain(..) {
                self.propose(propose, &mut it);
            }
            // Drained: the inbox gets them back at the next take.
            give_back(&self.spare_messages, std::mem::take(&mut inbox.messages));
            give_back(&self.spare_proposals, std::mem::take(&mut inbox.proposals));
            if let (Some(tick), Some(mut next)) = (self.tick, self.next_tick) {
                let now = Instant::now();
                // Catch up at most a few ticks after a stall rather than fire a burst.
                let mut fired = 0;
                while now >= next && fired < 3 {
                    self.step(Input::Tick, &mut it);
                    next += tick;
                    fired += 1;
                }
                if now >= next {
                    next = now + tick;
                }
                self.next_tick = Some(next);
            }
            self.finish(it);
            inbox.stop
        }
    }

    /// Takes every input waiting, waiting until there is one or the next tick is due.
    fn take_inbox(&self, next_tick: Option<Instant>) -> Inbox {
        let mut inbox = lock(&self.shared.inbox);
        if !inbox.has_work() && !self.spin.is_zero() {
            inbox = self.spin_for_input(inbox, next_tick);
        }
        loop {
            if inbox.has_work() {
                break;
            }
            // Producers signal only a waiting loop (`Shared::wake`).
            inbox.waiting = true;
            inbox = match next_tick {
                None => self
                    .shared
                    .inbox_changed
                    .wait(inbox)
                    .unwrap_or_else(|p| p.into_inner()),
                Some(next) => {
                    let now = Instant::now();
                    if now >= next {
                        break;
                    }
                    self.shared
                        .inbox_changed
                        .wait_timeout(inbox, next - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
            inbox.waiting = false;
        }
        inbox.waiting = false;
        self.take_all(&mut inbox)
    }

    /// Everything waiting in `inbox`, taken out (a stop request stays: the loop's next take
    /// sees it too). The inbox keeps the queues the last turn drained, for its producers.
    pub(crate) fn take_all(&self, inbox: &mut Inbox) -> Inbox {
        Inbox {
            messages: std::mem::replace(&mut inbox.messages, self.spare_messages.take()),
            proposals: std::mem::replace(&mut inbox.proposals, self.spare_proposals.take()),
            control: std::mem::take(&mut inbox.control),
            synced: inbox.synced.take(),
            applier_took: std::mem::take(&mut inbox.applier_took),
            stop: inbox.stop.clone(),
            ended: None,
            waiting: false,
            waker: None,
        }
    }

    /// Looks for input for up to `spin` (or until the next tick) before the loop sleeps,
    /// yielding the CPU between looks. A reply usually arrives within tens of microseconds
    /// of the request that asked for it; a loop that went to sleep meanwhile must be woken
    /// (a futex wake-up, an inter-processor interrupt on a virtual machine), and on a
    /// single client's commit path that happens at every hop. Yielding, not busy-waiting,
    /// leaves the CPU to the threads that produce the input (docs/performance.md §7).
    ///
    /// Spinning pays only while the CPUs are ours. When other processes keep them busy, a
    /// yield hands the CPU to one of them for its whole time slice (milliseconds), and a
    /// spinning loop is runnable, not sleeping, so the message that arrives meanwhile does
    /// not wake it: it waits for its turn, where a sleeping loop would have been woken at
    /// once. Measured with two busy processes on two CPUs, that cut the writes/s tenfold
    /// (docs/performance.md §7). So a yield that lost the CPU for a time slice
    /// ([`SPIN_STOLEN`]) turns spinning off for [`SPIN_BACKOFF`]; then the loop tries again.
    /// A yield to one of the node's own threads (a sibling loop, the client) returns within
    /// tens of microseconds and does not count.
    #[cfg(not(loom))]
    fn spin_for_input<'a>(
        &'a self,
        inbox: crate::sync::MutexGuard<'a, Inbox>,
        next_tick: Option<Instant>,
    ) -> crate::sync::MutexGuard<'a, Inbox> {
        let start = Instant::now();
        if self.spin_off_until.get().is_some_and(|until| start < until) {
            return inbox;
        }
        drop(inbox);
        let until = next_tick.map_or(start + self.spin, |next| next.min(start + self.spin));
        loop {
            let before = Instant::now();
            std::thread::yield_now();
            let after = Instant::now();
            let stolen = after.duration_since(before) > SPIN_STOLEN;
            if stolen {
                self.spin_off_until.set(Some(after + SPIN_BACKOFF));
            }
            let inbox = lock(&self.shared.inbox);
            if stolen || inbox.has_work() || after >= until {
                return inbox;
            }
        }
    }

    /// Under loom the loop never spins: every wait is the condvar's, which loom explores.
    #[cfg(loom)]
    fn spin_for_input<'a>(
        &'a self,
        inbox: crate::sync::MutexGuard<'a, Inbox>,
        _next_tick: Option<Instant>,
    ) -> crate::sync::MutexGuard<'a, Inbox> {
        inbox
    }

    /// Every write up to `synced.seq` is durable: the core counts the log up to there
    /// (§10.2.1) and the outputs held for those writes may leave.
    fn persisted(&mut self, synced: Synced, it: &mut Iteration) {
        if synced.seq > self.durable_seq {
            self.durable_seq = synced.seq;
            self.durable_index = synced.index;
            self.step(
                Input::Persisted {
                    index: synced.index,
                    term: synced.term,
                },
                it,
            );
        }
    }

    /// Steps `input` and sorts its outputs into `it`; returns the new entry's `(index,
    /// term)` if it was an accepted `Propose`.
    fn step(&mut self, input: Input, it: &mut Iteration) -> Option<(u64, u64)> {
        let mut ready = self.core.step(input);
        if let Some(persist) = ready.persist.take() {
            // Merged as it comes (one iteration is one write); what is left of a delta
            // merged into the previous one goes back to the core with the rest of `ready`.
            ready.persist = push_delta(&mut it.deltas, persist);
        }
        for out in ready.messages.drain(..) {
            if may_leave_before_durable(&out.message) {
                it.now.push(out);
            } else {
                it.held.push(Held::Send(out));
            }
        }
        it.held.extend(ready.applies.drain(..).map(Held::Apply));
        it.durable_min = it.durable_min.min(self.core.durable_index());
        if self.core.role() != Role::Leader && !self.pending.is_empty() {
            self.lost_leadership();
        }
        let proposed = ready.proposed;
        // Its vectors are drained: the core reuses them for the next step's output.
        self.core.recycle(ready);
        proposed
    }

    /// A received message; a Lab RPC's reply goes to its waiting handler.
    fn receive(&mut self, received: Received, it: &mut Iteration) {
        let Received {
            from,
            message,
            reply,
        } = received;
        let held_before = it.held.len();
        self.step(Input::Message { from, message }, it);
        let Some(slot) = reply else { return };
        // The reply to `from` this step produced (it is held: replies wait for durability).
        let position = it.held[held_before..].iter().position(
            |held| matches!(held, Held::Send(out) if out.to == from && !out.message.is_request()),
        );
        if let Some(position) = position {
            if let Held::Send(out) = it.held.remove(held_before + position) {
                it.held.push(Held::Reply(slot, out.message));
            }
        }
        // No reply (the message was dropped as stale or bogus): the slot closes here.
    }

    fn propose(&mut self, propose: Propose, it: &mut Iteration) {
        if self.core.role() != Role::Leader {
            self.shared.rejected.fetch_add(1, Ordering::Relaxed);
            propose.refuse(ProposeError::NotLeader {
                leader: self.core.leader_id(),
                term: self.core.current_term(),
            });
            return;
        }
        let bytes = propose.command.len();
        let proposed = self.step(Input::Propose(propose.command.clone()), it);
        match proposed {
            Some((index, term)) => {
                self.shared.accepted.fetch_add(1, Ordering::Relaxed);
                let Propose {
                    answer,
                    mut outcome,
                    ..
                } = propose;
                outcome.accepted(index, term);
                self.pending.insert(index, Pending { term, outcome });
                if let Some(answer) = answer {
                    answer.send(Ok((index, term)));
                }
            }
            None if self.core.role() == Role::Leader => {
                // Still leader, yet the core refused it: its own size limit (a command
                // no message could carry) is below `max_command_bytes`.
                self.shared.rejected.fetch_add(1, Ordering::Relaxed);
                propose.refuse(ProposeError::TooLarge {
                    bytes,
                    max: self.shared.max_command_bytes,
                });
            }
            None => {
                self.shared.rejected.fetch_add(1, Ordering::Relaxed);
                propose.refuse(ProposeError::NotLeader {
                    leader: self.core.leader_id(),
                    term: self.core.current_term(),
                });
            }
        }
    }

    /// This node no longer leads: proposals not yet committed may never be (their outcome
    /// is unknown here). Committed ones stay pending: they are applied in order.
    fn lost_leadership(&mut self) {
        let lost = self.pending.split_off(&(self.core.commit_index() + 1));
        let leader = self.core.leader_id();
        for (_, pending) in lost {
            pending
                .outcome
                .resolve(Err(ProposalError::LeadershipLost { leader }));
        }
    }

    /// Ends the iteration: one write, early sends, held outputs, applies, status.
    fn finish(&mut self, mut it: Iteration) {
        // With the storage on the loop, a write is durable before the iteration ends: the
        // `Persisted` step it allows may release more (a commit, applies), so the loop goes
        // round until an iteration writes nothing (at most a step or two).
        while let Some(synced) = self.finish_outputs(&mut it) {
            it.reset();
            self.persisted(synced, &mut it);
        }
        it.reset();
        self.iteration = it;
        // Published before the hand-over: the loop may resolve proposals itself, and a
        // caller woken by its outcome must find a status that covers it (commit index).
        // The apply queue depth is as of before this hand-over.
        self.publish();
        self.pump_applies();
    }

    /// One write, early sends, held outputs; returns the write's report if it was synced
    /// here (`StorageSide::Inline`). Drains `it`.
    fn finish_outputs(&mut self, it: &mut Iteration) -> Option<Synced> {
        let durable_min = it.durable_min;
        let mut inline = None;
        let gate = if it.deltas.is_empty() {
            self.issued_seq
        } else {
            self.issued_seq += 1;
            // The deltas are merged already (`push_delta`); the write takes their vector,
            // and the iteration gets the one the last inline write gave back.
            let write = Write {
                seq: self.issued_seq,
                deltas: std::mem::replace(&mut it.deltas, std::mem::take(&mut self.spare_deltas)),
                log_end: (self.core.last_log_index(), self.core.log().last_term()),
            };
            match &self.storage {
                StorageSide::Worker(queue) => {
                    // Unbounded in count, but one write per iteration, and proposals are
                    // bounded by `max_pending_proposals`; a closed queue means the node is
                    // stopping.
                    let _ = queue.push_force(write);
                }
                StorageSide::Inline(_) => inline = Some(write),
            }
            self.issued_seq
        };
        // A leader's AppendEntries leave before its own write (§10.2.1).
        for out in it.now.drain(..) {
            self.send(out);
        }
        let mut synced = None;
        if let (Some(write), StorageSide::Inline(storage)) = (inline, &mut self.storage) {
            match write_and_sync(&mut **storage, std::slice::from_ref(&write)) {
                Ok(()) => {
                    self.syncs.fetch_add(1, Ordering::Relaxed);
                    synced = Some(Synced {
                        seq: write.seq,
                        index: write.log_end.0,
                        term: write.log_end.1,
                    });
                }
                Err(reason) => {
                    // Nothing of this write is acknowledged: its held outputs stay held
                    // and the loop stops at its next take of the inbox.
                    tracing::error!(id = self.shared.id, %reason, "storage failed; the node stops");
                    self.shared.request_stop(End::Stopped(reason));
                }
            }
            // Written: its vectors go back for reuse (the deltas' entry vectors to the
            // core, which fills them with the next log changes).
            let mut deltas = write.deltas;
            for persist in deltas.drain(..) {
                self.core.recycle(Ready {
                    persist: Some(persist),
                    ..Ready::default()
                });
            }
            if deltas.capacity() <= fifo::KEEP {
                self.spare_deltas = deltas;
            }
        }
        self.release_durable();
        for item in it.held.drain(..) {
            if gate <= self.durable_seq || self.durable_apply(&item, durable_min) {
                self.release(item);
            } else {
                self.held_applies += usize::from(matches!(item, Held::Apply(_)));
                self.held.push_back((gate, item));
            }
        }
        synced
    }

    fn release_durable(&mut self) {
        while self
            .held
            .front()
            .is_some_and(|(seq, _)| *seq <= self.durable_seq)
        {
            if let Some((_, item)) = self.held.pop_front() {
                self.held_applies -= usize::from(matches!(item, Held::Apply(_)));
                self.release(item);
            }
        }
    }

    /// Whether `item` is the apply of an entry already on this server's disk, which may
    /// leave without waiting for the iteration's write. A committed entry is on a majority
    /// of disks (Figure 2), and the hold is there so that no server applies an entry its
    /// own storage does not hold (a restarted server's log must reach what its service
    /// applied); an entry at or below the durable index for the whole iteration
    /// (`durable_min`: the core lowers it when a truncation rewrites entries, §10.2.1) has
    /// that already. Without this, a leader whose iteration both committed entries (a
    /// follower's reply) and appended new ones (proposals) held the commits until the new
    /// entries were synced: in the durable bench about 0.3-0.4 ms of a 1.3 ms commit
    /// (docs/performance.md §8, "Where a commit's time goes"). Snapshots keep the hold: an
    /// installed snapshot raises the durable index before it is written.
    fn durable_apply(&self, item: &Held, durable_min: u64) -> bool {
        match item {
            Held::Apply(Apply::Entry { index, .. }) => {
                self.held_applies == 0 && *index <= durable_min
            }
            _ => false,
        }
    }

    fn release(&mut self, item: Held) {
        match item {
            Held::Send(out) => self.send(out),
            Held::Reply(slot, message) => match message.encode() {
                Ok(bytes) => slot.send(bytes),
                Err(error) => {
                    tracing::error!(id = self.shared.id, %error, "reply could not be encoded; not sent");
                }
            },
            Held::Apply(apply) => {
                let outcome = self.resolve_for(&apply);
                self.backlog.push_back(ApplyItem { apply, outcome });
            }
        }
    }

    /// The proposal an apply resolves, if any: the same `(index, term)` is applied (`Ok`
    /// once delivered); another term there means ours was overwritten.
    fn resolve_for(&mut self, apply: &Apply) -> Option<OutcomeSlot> {
        let (index, term, snapshot) = match apply {
            Apply::Entry { index, term, .. } => (*index, *term, false),
            Apply::Snapshot { index, term, .. } => (*index, *term, true),
        };
        // Anything pending below (or, for a snapshot, at) this index was skipped: its
        // entry was never applied here as ours. Taken from the front one by one, not with
        // `split_off`, which allocates a new tree on every call (every apply), even when
        // nothing is skipped.
        let bound = if snapshot { index + 1 } else { index };
        let leader = self.core.leader_id();
        while let Some(first) = self.pending.first_entry() {
            if *first.key() >= bound {
                break;
            }
            first
                .remove()
                .outcome
                .resolve(Err(ProposalError::LeadershipLost { leader }));
        }
        if snapshot {
            return None;
        }
        let pending = self.pending.remove(&index)?;
        if pending.term == term {
            Some(pending.outcome)
        } else {
            pending.outcome.resolve(Err(ProposalError::Overwritten {
                index,
                term: pending.term,
                committed_term: term,
            }));
            None
        }
    }

    /// Hands released applies to the service: from the loop itself while the sink takes
    /// them without blocking, nothing is queued for the applier (no thread hand-off) and
    /// the in-place budget lasts (`applier::IN_PLACE_BUDGET`: a long backlog must not keep
    /// the loop from its heartbeats and votes), else to the applier thread while its queue
    /// has room. Never blocks.
    ///
    /// What is left stays in `backlog`, and the loop is not left asleep with it: the pushes
    /// below stop with items left only when the queue is full, only the loop pushes, so the
    /// applier's next take is of a full queue, and that take wakes the loop
    /// (`Inbox::applier_took`, thread or task alike), which pushes more.
    fn pump_applies(&mut self) {
        self.stage.deliver_now(&self.shared, &mut self.backlog);
        while self.stage.queue.len() < self.stage.queue.capacity() {
            let Some(item) = self.backlog.pop_front() else {
                break;
            };
            // Counted before it is visible to the applier, which uncounts it once delivered.
            self.stage.queued.fetch_add(1, SyncOrdering::SeqCst);
            if let Err(item) = self.stage.queue.try_push(item) {
                self.stage.queued.fetch_sub(1, SyncOrdering::SeqCst);
                self.backlog.push_front(item);
                break;
            }
        }
    }

    fn send(&self, out: Outgoing) {
        match out.message.encode() {
            Ok(bytes) => self.network.send(out.to, bytes.into()),
            Err(error) => {
                tracing::error!(id = self.shared.id, to = out.to, %error, "message could not be encoded; not sent");
            }
        }
    }

    pub(crate) fn publish(&mut self) {
        let state = State {
            role: self.core.role(),
            term: self.core.current_term(),
            leader: self.core.leader_id(),
        };
        let status = Status {
            id: self.shared.id,
            state,
            commit_index: self.core.commit_index(),
            applied: self.shared.applied.load(Ordering::SeqCst),
            last_index: self.core.last_log_index(),
            durable_index: self.durable_index.max(self.core.snapshot_index()),
            snapshot_index: self.core.snapshot_index(),
            // Read live by `Node::status` (the loop does not lock the inbox for them).
            inbox_messages: 0,
            inbox_proposals: 0,
            storage_queue: (self.issued_seq - self.durable_seq) as usize,
            apply_queue: self.backlog.len() + self.stage.queue.len(),
            held: self.held.len(),
            pending_proposals: self.shared.pending.load(Ordering::SeqCst),
            proposals_accepted: self.shared.accepted.load(Ordering::Relaxed),
            proposals_rejected: self.shared.rejected.load(Ordering::Relaxed),
            messages_dropped: self.shared.dropped.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
            stopped: None,
            shut_down: false,
        };
        let mut published = lock(&self.shared.published);
        let changed = state != self.state;
        // Never overwrite how the node ended (`Shared::publish_end`, possibly from another
        // thread, may have run since this loop's last publish).
        let status = Status {
            stopped: published.status.stopped.clone(),
            shut_down: published.status.shut_down,
            ..status
        };
        published.status = status;
        published.state = state;
        if changed {
            self.state = state;
            published.version += 1;
        }
        drop(published);
        if changed {
            self.shared.published_changed.notify_all();
        }
    }
}

/// A leader's own log travels before its write is durable (§10.2.1): the follower stores
/// it durably before acknowledging, and the leader counts itself only up to its durable
/// index. Every other message — a reply, a vote request carrying the candidate's own vote —
/// may promise state and waits for the sync.
fn may_leave_before_durable(message: &Message) -> bool {
    matches!(
        message,
        Message::AppendEntries { .. } | Message::InstallSnapshot { .. }
    )
}

/// Appends `delta` to the iteration's `deltas`, merged into the last one where the two
/// compose, so one iteration is one write (in as few deltas as possible): later hard state
/// and snapshot win, log changes compose (a later change keeps the earlier one's entries up
/// to its own `after`). A pair that does not compose stays two deltas. Returns what is left
/// of a merged `delta` (its entries moved out, the vector kept), for reuse.
fn push_delta(deltas: &mut Vec<Persist>, mut delta: Persist) -> Option<Persist> {
    if deltas
        .last_mut()
        .is_some_and(|last| compose(last, &mut delta))
    {
        return Some(delta);
    }
    deltas.push(delta);
    None
}

/// `first` followed by `second`, written into `first`, if the result is one delta; then
/// `second`'s entries have moved into `first` (no clone). `second` is unchanged otherwise.
fn compose(first: &mut Persist, second: &mut Persist) -> bool {
    if second.snapshot.is_some() {
        // A snapshot clears the stored log and brings its own log change: everything the
        // first delta did to the log is superseded.
        if second.log.is_none() {
            return false;
        }
        first.hard_state = second.hard_state.or(first.hard_state);
        first.snapshot = second.snapshot.take();
        first.log = second.log.take();
        return true;
    }
    match (&mut first.log, &mut second.log) {
        (_, None) => {}
        (None, Some(_)) => {
            if first.snapshot.is_some() {
                return false; // keep the order snapshot-then-log explicit
            }
            first.log = second.log.take();
        }
        (Some(a), Some(b)) => {
            let end = a.after + a.entries.len() as u64;
            if b.after < a.after || b.after > end {
                return false;
            }
            a.entries.truncate((b.after - a.after) as usize);
            a.entries.append(&mut b.entries);
        }
    }
    first.hard_state = second.hard_state.or(first.hard_state);
    true
}

#[cfg(test)]
mod merge_tests {
    use super::*;
    use crate::core::{Entry, HardState, LogChange, PersistentState};

    /// The deltas of one iteration, pushed in order as the loop does.
    fn merge(deltas: Vec<Persist>) -> Vec<Persist> {
        let mut merged = Vec::new();
        for delta in deltas {
            push_delta(&mut merged, delta);
        }
        merged
    }

    fn entry(term: u64, byte: u8) -> Entry {
        Entry {
            term,
            command: vec![byte].into(),
        }
    }

    /// Merged deltas give the same stored state as the deltas one by one.
    #[test]
    fn merged_deltas_apply_like_the_sequence() {
        let deltas = vec![
            Persist {
                hard_state: Some(HardState {
                    current_term: 2,
                    voted_for: Some(1),
                }),
                snapshot: None,
                log: Some(LogChange {
                    after: 0,
                    entries: vec![entry(1, 1), entry(1, 2), entry(2, 3)],
                }),
            },
            Persist {
                hard_state: None,
                snapshot: None,
                log: Some(LogChange {
                    after: 2,
                    entries: vec![entry(2, 4), entry(2, 5)],
                }),
            },
            Persist {
                hard_state: Some(HardState {
                    current_term: 3,
                    voted_for: None,
                }),
                snapshot: None,
                log: Some(LogChange {
                    after: 4,
                    entries: vec![entry(3, 6)],
                }),
            },
        ];
        let apply = |deltas: &[Persist]| {
            let mut state = PersistentState::default();
            let mut snapshot = std::sync::Arc::new(Vec::new());
            for delta in deltas {
                delta.apply_to(&mut state, &mut snapshot).unwrap();
            }
            state
        };
        let merged = merge(deltas.clone());
        assert_eq!(merged.len(), 1);
        assert_eq!(apply(&merged), apply(&deltas));
        assert_eq!(apply(&merged).entries.len(), 5);
    }
}

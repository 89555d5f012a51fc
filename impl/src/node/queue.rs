//! The two primitives every hand-off of the node is built from, on the crate's `sync`
//! primitives so that loom can check them: a bounded FIFO [`Queue`] and a one-shot slot
//! ([`oneshot`]). No hand-off uses a channel whose blocking loom cannot see.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::sync::{lock, Arc, Condvar, Mutex, MutexGuard};

/// A bounded multi-producer, multi-consumer FIFO. Closing it wakes every waiter: producers
/// are refused from then on, consumers drain what is left and then see the end.
pub(crate) struct Queue<T> {
    state: Mutex<QueueState<T>>,
    changed: Condvar,
    capacity: usize,
}

struct QueueState<T> {
    items: VecDeque<T>,
    closed: bool,
    /// Threads blocked on `changed` (producers waiting for room, consumers for items): a
    /// change signals only when someone waits, so a hand-off to a busy thread costs no
    /// futex call.
    waiters: usize,
}

impl<T> Queue<T> {
    /// An empty queue holding at most `capacity` items (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Queue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                closed: false,
                waiters: 0,
            }),
            changed: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    /// Appends `item` unless the queue is full or closed (then it is handed back).
    pub(crate) fn try_push(&self, item: T) -> Result<(), T> {
        let mut state = lock(&self.state);
        if state.closed || state.items.len() >= self.capacity {
            return Err(item);
        }
        state.items.push_back(item);
        self.signal(state);
        Ok(())
    }

    /// [`try_push`](Queue::try_push) without waking anyone: returns whether a waiter must
    /// be woken ([`Queue::wake_waiters`]) — so a producer can finish more urgent work (resolve
    /// a proposal) before it pays for the wake-up.
    pub(crate) fn try_push_quiet(&self, item: T) -> Result<bool, T> {
        let mut state = lock(&self.state);
        if state.closed || state.items.len() >= self.capacity {
            return Err(item);
        }
        state.items.push_back(item);
        Ok(state.waiters > 0)
    }

    /// Wakes every waiter (after [`try_push_quiet`](Queue::try_push_quiet)).
    pub(crate) fn wake_waiters(&self) {
        self.changed.notify_all();
    }

    /// Appends `item`; when the queue is full the oldest item is dropped to make room (for
    /// messages that newer ones supersede). Hands `item` back if the queue is closed;
    /// returns whether an item was dropped.
    pub(crate) fn push_drop_oldest(&self, item: T) -> Result<bool, T> {
        let mut state = lock(&self.state);
        if state.closed {
            return Err(item);
        }
        let dropped = if state.items.len() >= self.capacity {
            state.items.pop_front()
        } else {
            None
        };
        state.items.push_back(item);
        self.signal(state);
        Ok(dropped.is_some())
    }

    /// Appends `item`, waiting while the queue is full; hands it back if the queue is or
    /// becomes closed.
    pub(crate) fn push_wait(&self, item: T) -> Result<(), T> {
        let mut state = lock(&self.state);
        while !state.closed && state.items.len() >= self.capacity {
            state = self.wait(state);
        }
        if state.closed {
            return Err(item);
        }
        state.items.push_back(item);
        self.signal(state);
        Ok(())
    }

    /// Appends `item` whatever the capacity (a final marker must not be lost), unless the
    /// queue is closed.
    pub(crate) fn push_force(&self, item: T) -> Result<(), T> {
        let mut state = lock(&self.state);
        if state.closed {
            return Err(item);
        }
        state.items.push_back(item);
        self.signal(state);
        Ok(())
    }

    /// Every item queued, waiting while there is none; `None` once closed and drained.
    pub(crate) fn pop_all_wait(&self) -> Option<Vec<T>> {
        let mut state = lock(&self.state);
        while state.items.is_empty() && !state.closed {
            state = self.wait(state);
        }
        if state.items.is_empty() {
            return None;
        }
        let items = state.items.drain(..).collect();
        self.signal(state);
        Some(items)
    }

    /// The first item, waiting while there is none; `None` once closed and drained.
    pub(crate) fn pop_wait(&self) -> Option<T> {
        self.pop_until(None).ok()
    }

    /// The first item, waiting at most until `deadline` (`None`: no limit).
    pub(crate) fn pop_until(&self, deadline: Option<Instant>) -> Result<T, PopError> {
        let mut state = lock(&self.state);
        loop {
            if let Some(item) = state.items.pop_front() {
                self.signal(state);
                return Ok(item);
            }
            if state.closed {
                return Err(PopError::Closed);
            }
            state = match deadline {
                None => self.wait(state),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(PopError::Timeout);
                    }
                    state.waiters += 1;
                    let mut state = self
                        .changed
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0;
                    state.waiters -= 1;
                    state
                }
            };
        }
    }

    /// The first item if there is one.
    pub(crate) fn try_pop(&self) -> Result<T, PopError> {
        let mut state = lock(&self.state);
        match state.items.pop_front() {
            Some(item) => {
                self.signal(state);
                Ok(item)
            }
            None if state.closed => Err(PopError::Closed),
            None => Err(PopError::Timeout),
        }
    }

    /// Blocks on `changed`, counted in `waiters`.
    fn wait<'a>(&self, mut state: MutexGuard<'a, QueueState<T>>) -> MutexGuard<'a, QueueState<T>> {
        state.waiters += 1;
        let mut state = self
            .changed
            .wait(state)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.waiters -= 1;
        state
    }

    /// Releases the lock and wakes the waiters, if any (producers and consumers share one
    /// condition variable, so all of them: each rechecks its own condition).
    fn signal(&self, state: MutexGuard<'_, QueueState<T>>) {
        let waiters = state.waiters;
        drop(state);
        if waiters > 0 {
            self.changed.notify_all();
        }
    }

    /// Refuses producers from now on and wakes every waiter.
    pub(crate) fn close(&self) {
        lock(&self.state).closed = true;
        self.changed.notify_all();
    }

    /// Closes the queue and drops what it holds (their owners see their slots close).
    pub(crate) fn close_and_clear(&self) {
        let items = {
            let mut state = lock(&self.state);
            state.closed = true;
            std::mem::take(&mut state.items)
        };
        self.changed.notify_all();
        drop(items);
    }

    /// Items queued now.
    pub(crate) fn len(&self) -> usize {
        lock(&self.state).items.len()
    }

    /// The capacity given to [`Queue::new`].
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Why a pop returned no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PopError {
    /// Nothing arrived in time (or nothing is there, for `try_pop`).
    Timeout,
    /// The queue is closed and empty.
    Closed,
}

/// A one-shot slot: one value, sent at most once. Dropping the sender unsent closes it.
pub(crate) fn oneshot<T>() -> (OneshotSender<T>, OneshotReceiver<T>) {
    let slot = Arc::new((
        Mutex::new(Slot {
            value: None,
            closed: false,
            waiting: false,
            waker: None,
        }),
        Condvar::new(),
    ));
    (
        OneshotSender {
            slot: Some(Arc::clone(&slot)),
        },
        OneshotReceiver { slot },
    )
}

struct Slot<T> {
    value: Option<T>,
    closed: bool,
    /// The receiver is blocked on the condition variable (the sender signals only then).
    waiting: bool,
    /// The task polling the receiver as a future, woken when the slot fills or closes.
    waker: Option<Waker>,
}

/// Sets the slot with `set` and wakes its receiver if it waits.
fn fill<T>(slot: &SlotCell<T>, set: impl FnOnce(&mut Slot<T>)) {
    let mut state = lock(&slot.0);
    set(&mut state);
    let waiting = state.waiting;
    let waker = state.waker.take();
    drop(state);
    if waiting {
        slot.1.notify_one();
    }
    if let Some(waker) = waker {
        waker.wake();
    }
}

type SlotCell<T> = Arc<(Mutex<Slot<T>>, Condvar)>;

/// The sending half of a [`oneshot`].
pub(crate) struct OneshotSender<T> {
    slot: Option<SlotCell<T>>,
}

impl<T> OneshotSender<T> {
    /// Fills the slot and wakes the receiver (nothing happens if it is gone).
    pub(crate) fn send(mut self, value: T) {
        if let Some(slot) = self.slot.take() {
            fill(&slot, |state| state.value = Some(value));
        }
    }
}

impl<T> Drop for OneshotSender<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            fill(&slot, |state| state.closed = true);
        }
    }
}

/// The receiving half of a [`oneshot`].
pub(crate) struct OneshotReceiver<T> {
    slot: SlotCell<T>,
}

impl<T> OneshotReceiver<T> {
    /// Waits for the value; `None` if the sender was dropped unsent.
    pub(crate) fn recv(self) -> Option<T> {
        self.recv_until(None).ok()
    }

    /// Waits for the value until `deadline`.
    pub(crate) fn recv_until(&self, deadline: Option<Instant>) -> Result<T, PopError> {
        let (slot, changed) = &*self.slot;
        let mut state = lock(slot);
        loop {
            if let Some(value) = state.value.take() {
                return Ok(value);
            }
            if state.closed {
                return Err(PopError::Closed);
            }
            state.waiting = true;
            state = match deadline {
                None => changed
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        state.waiting = false;
                        return Err(PopError::Timeout);
                    }
                    changed
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
            };
            state.waiting = false;
        }
    }
}

impl<T> OneshotReceiver<T> {
    /// The value if it has come (`Ready(Some)`), the end if the sender was dropped unsent
    /// (`Ready(None)`); otherwise registers `cx`'s waker, which the sender wakes.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = lock(&self.slot.0);
        if let Some(value) = state.value.take() {
            return Poll::Ready(Some(value));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        if !state
            .waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            state.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// `now + timeout`, or no deadline if that overflows.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

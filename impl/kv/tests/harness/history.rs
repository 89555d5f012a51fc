//! The recorded history and its checks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use raft_kv::{Op, Outcome};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};

/// One event, in real-time order (events are appended under one lock, so the order of
/// the vector is an order consistent with real time).
#[derive(Debug, Clone)]
pub enum Event {
    Invoke {
        thread: u64,
        op: Op,
    },
    Return {
        thread: u64,
        outcome: Outcome,
        at: Duration,
    },
}

pub struct History {
    start: Instant,
    events: Mutex<Vec<Event>>,
    /// The op each thread has in flight (to give a return its key).
    pending: Mutex<BTreeMap<u64, Op>>,
}

impl Default for History {
    fn default() -> Self {
        History {
            start: Instant::now(),
            events: Mutex::default(),
            pending: Mutex::default(),
        }
    }
}

impl History {
    pub fn invoke(&self, thread: u64, op: Op) {
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(thread, op.clone());
        events.push(Event::Invoke { thread, op });
    }

    pub fn complete(&self, thread: u64, outcome: Outcome) {
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&thread);
        events.push(Event::Return {
            thread,
            outcome,
            at: self.start.elapsed(),
        });
    }

    pub fn keys(&self) -> Vec<String> {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let keys: BTreeSet<String> = events
            .iter()
            .filter_map(|e| match e {
                Event::Invoke { op, .. } => Some(op.key().to_string()),
                Event::Return { .. } => None,
            })
            .collect();
        keys.into_iter().collect()
    }

    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The sequential specification of one key.
#[derive(Debug, Clone, Default)]
struct KeySpec {
    value: Option<String>,
}

impl SequentialSpec for KeySpec {
    type Op = Op;
    type Ret = Outcome;

    fn invoke(&mut self, op: &Op) -> Outcome {
        match op {
            Op::Put { value, .. } => {
                self.value = Some(value.clone());
                Outcome::Done
            }
            Op::Append { value, .. } => {
                self.value.get_or_insert_with(String::new).push_str(value);
                Outcome::Done
            }
            Op::Get { .. } => Outcome::Value(self.value.clone()),
            Op::Cas { expected, new, .. } => {
                let found = self.value.clone();
                let swapped = found == *expected;
                if swapped {
                    self.value = Some(new.clone());
                }
                Outcome::Cas { swapped, found }
            }
        }
    }
}

/// The checker's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable,
    /// The search did not finish within its budget: no claim either way.
    Undecided,
}

/// One key and its events.
type KeyHistory = (String, Vec<Event>);

/// Splits the history by key (linearizability is local) and checks each key's history
/// with `LinearizabilityTester`, within `budget` in total.
pub fn check(events: &[Event], budget: Duration) -> Verdict {
    let mut by_key: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    let mut key_of: BTreeMap<u64, String> = BTreeMap::new();
    for event in events {
        match event {
            Event::Invoke { thread, op, .. } => {
                key_of.insert(*thread, op.key().to_string());
                by_key
                    .entry(op.key().to_string())
                    .or_default()
                    .push(event.clone());
            }
            Event::Return { thread, .. } => {
                let key = key_of
                    .get(thread)
                    .cloned()
                    .expect("a return follows its invoke");
                by_key.entry(key).or_default().push(event.clone());
            }
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let keys = by_key.len();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = std::sync::Arc::clone(&done);
    // The key under search, with its events: printed if the budget runs out, so an
    // undecided run shows the history that the search could not settle.
    let current: std::sync::Arc<Mutex<Option<KeyHistory>>> = Default::default();
    let searching = std::sync::Arc::clone(&current);
    let started = Instant::now();
    std::thread::spawn(move || {
        for (key, events) in by_key {
            *searching.lock().unwrap_or_else(PoisonError::into_inner) =
                Some((key.clone(), events.clone()));
            let mut tester = LinearizabilityTester::new(KeySpec::default());
            for event in events {
                let valid = match event {
                    Event::Invoke { thread, op, .. } => tester.on_invoke(thread, op).is_ok(),
                    Event::Return {
                        thread, outcome, ..
                    } => tester.on_return(thread, outcome).is_ok(),
                };
                assert!(valid, "malformed history for key {key}");
            }
            if !tester.is_consistent() {
                println!("  NOT LINEARIZABLE: key {key}");
                let _ = tx.send(Verdict::NotLinearizable);
                return;
            }
            progress.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        let _ = tx.send(Verdict::Linearizable);
    });
    let verdict = rx.recv_timeout(budget).unwrap_or(Verdict::Undecided);
    println!(
        "  checker: {} of {keys} keys decided in {:.1} s",
        done.load(std::sync::atomic::Ordering::SeqCst),
        started.elapsed().as_secs_f64()
    );
    if verdict == Verdict::Undecided {
        if let Some((key, events)) = &*current.lock().unwrap_or_else(PoisonError::into_inner) {
            println!("  undecided at key {key}, {} events:", events.len());
            for event in events {
                println!("    {event:?}");
            }
        }
    }
    verdict
}

/// Acknowledged appends missing from (or repeated in) the final read of their key.
pub fn lost_appends(events: &[Event]) -> (usize, Vec<String>) {
    let mut pending: BTreeMap<u64, Op> = BTreeMap::new();
    let mut acknowledged: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut last_read: BTreeMap<String, Option<String>> = BTreeMap::new();
    for event in events {
        match event {
            Event::Invoke { thread, op, .. } => {
                pending.insert(*thread, op.clone());
            }
            Event::Return {
                thread, outcome, ..
            } => match (pending.remove(thread), outcome) {
                (Some(Op::Append { key, value }), Outcome::Done) => {
                    acknowledged.entry(key).or_default().push(value)
                }
                (Some(Op::Get { key }), Outcome::Value(value)) => {
                    last_read.insert(key, value.clone());
                }
                _ => {}
            },
        }
    }
    let mut lost = Vec::new();
    for (key, values) in acknowledged {
        let final_value = last_read.get(&key).cloned().flatten().unwrap_or_default();
        for value in values {
            match final_value.matches(value.as_str()).count() {
                1 => {}
                0 => lost.push(format!(
                    "append {value} to {key} acknowledged, missing from {final_value:?}"
                )),
                n => lost.push(format!(
                    "append {value} to {key} applied {n} times: {final_value:?}"
                )),
            }
        }
    }
    (lost.len(), lost)
}

/// (operations invoked, operations completed).
pub fn counts(events: &[Event]) -> (usize, usize) {
    let invoked = events
        .iter()
        .filter(|e| matches!(e, Event::Invoke { .. }))
        .count();
    (invoked, events.len() - invoked)
}

/// Completed operations in each second.
pub fn per_second(events: &[Event], seconds: usize) -> Vec<u64> {
    let mut counts = vec![0; seconds.max(1)];
    for event in events {
        if let Event::Return { at, .. } = event {
            let second = (at.as_secs() as usize).min(counts.len() - 1);
            counts[second] += 1;
        }
    }
    counts
}

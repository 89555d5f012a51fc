//! Where a durable commit's time goes (docs/performance.md §8, "Where a commit's time
//! goes"): timestamps taken *around* the runtime, without changing it.
//!
//! - [`TracedStorage`] wraps each node's storage and records every sync the node's storage
//!   worker makes: when its first write of the batch came, when the sync started and
//!   ended, how many entries it covered and the log's last index after it;
//! - [`TracedNetwork`] wraps each node's end of the in-process network and records every
//!   AppendEntries (the entries' last index) and every AppendEntries reply (its match
//!   index) when it is sent (the in-process network delivers it into the target's inbox
//!   during that call);
//! - the bench's clients record every write's start, end and log index
//!   ([`CommitTrace::done`]).
//!
//! [`CommitTrace::report`] then follows each committed entry along its path: proposal →
//! AppendEntries sent (the leader's loop took it) → each node's sync covering it → the
//! followers' replies → the client woken; and summarizes each leg over all entries.
//! Recording costs a clock read and a short locked push per event, and decoding each
//! message once more in the network wrapper: the traced run is a little slower than the
//! untraced one (both are printed).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use raft_impl::core::{Message, Persist};
use raft_impl::node::Network;
use raft_impl::storage::{Recovered, Storage, StorageError};

/// One sync of one node's storage.
#[derive(Debug, Clone, Copy)]
pub struct SyncEvent {
    /// The node.
    pub node: usize,
    /// The first `write` of the batch (the worker took it off its queue just before).
    pub first_write: Instant,
    /// The `sync` call.
    pub start: Instant,
    /// Its return: durable.
    pub end: Instant,
    /// Entries the batch appended.
    pub entries: u64,
    /// The log's last index after the batch (0: no log change in it).
    pub last: u64,
}

/// One AppendEntries or reply, when sent.
#[derive(Debug, Clone, Copy)]
struct SendEvent {
    from: usize,
    to: usize,
    at: Instant,
    /// AppendEntries: the last index it carries (`None`: no entries); reply: its match
    /// index if it succeeded.
    append_last: Option<u64>,
    reply_match: Option<u64>,
}

/// A client's write: when it was called, when it returned, and the index it got.
#[derive(Debug, Clone, Copy)]
struct Done {
    index: u64,
    begun: Instant,
    end: Instant,
}

/// The events of one traced run (see the module docs).
#[derive(Debug, Default)]
pub struct CommitTrace {
    syncs: Mutex<Vec<SyncEvent>>,
    sends: Mutex<Vec<SendEvent>>,
    done: Mutex<Vec<Done>>,
    /// `(node, index, when)` of each entry handed to a node's state machine.
    applied: Mutex<Vec<(usize, u64, Instant)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl CommitTrace {
    /// An empty trace.
    pub fn new() -> Arc<Self> {
        Arc::new(CommitTrace::default())
    }

    /// A client's write of `index` returned (called by the bench's clients).
    pub fn done(&self, index: u64, begun: Instant) {
        let end = Instant::now();
        lock(&self.done).push(Done { index, begun, end });
    }

    /// Node `node`'s state machine was handed entry `index` (called by the bench's state
    /// machine, on the node's loop).
    pub fn applied(&self, node: usize, index: u64) {
        let at = Instant::now();
        lock(&self.applied).push((node, index, at));
    }

    /// Forgets everything recorded so far (after a warm-up round).
    pub fn clear(&self) {
        lock(&self.applied).clear();
        lock(&self.syncs).clear();
        lock(&self.sends).clear();
        lock(&self.done).clear();
    }

    /// The syncs recorded so far.
    pub fn syncs(&self) -> Vec<SyncEvent> {
        lock(&self.syncs).clone()
    }

    /// The breakdown of the writes recorded so far, `leader` being the leader's id and
    /// `wall` the time the traced rounds took.
    pub fn report(&self, leader: usize, wall: Duration) -> String {
        let syncs = lock(&self.syncs).clone();
        let sends = lock(&self.sends).clone();
        let done = lock(&self.done).clone();
        let applied: BTreeMap<u64, Instant> = lock(&self.applied)
            .iter()
            .filter(|a| a.0 == leader)
            .map(|a| (a.1, a.2))
            .collect();
        report(leader, wall, &syncs, &sends, &done, &applied)
    }
}

/// A storage that records its syncs in a [`CommitTrace`].
pub struct TracedStorage {
    inner: Box<dyn Storage>,
    node: usize,
    trace: Arc<CommitTrace>,
    first_write: Option<Instant>,
    entries: u64,
    last: u64,
}

impl TracedStorage {
    /// `inner`, node `node`'s storage, traced into `trace`.
    pub fn new(inner: Box<dyn Storage>, node: usize, trace: Arc<CommitTrace>) -> Self {
        TracedStorage {
            inner,
            node,
            trace,
            first_write: None,
            entries: 0,
            last: 0,
        }
    }
}

impl Storage for TracedStorage {
    fn recovered(&self) -> Recovered {
        self.inner.recovered()
    }

    fn write(&mut self, delta: &Persist) -> Result<(), StorageError> {
        self.first_write.get_or_insert_with(Instant::now);
        if let Some(change) = &delta.log {
            self.entries += change.entries.len() as u64;
            self.last = change.after + change.entries.len() as u64;
        }
        self.inner.write(delta)
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        let start = Instant::now();
        let result = self.inner.sync();
        let end = Instant::now();
        if let Some(first_write) = self.first_write.take() {
            lock(&self.trace.syncs).push(SyncEvent {
                node: self.node,
                first_write,
                start,
                end,
                entries: std::mem::take(&mut self.entries),
                last: std::mem::take(&mut self.last),
            });
        }
        result
    }
}

/// A network end that records AppendEntries and their replies in a [`CommitTrace`].
pub struct TracedNetwork {
    inner: Arc<dyn Network>,
    from: usize,
    trace: Arc<CommitTrace>,
}

impl TracedNetwork {
    /// Node `from`'s end `inner`, traced into `trace`.
    pub fn new(inner: Arc<dyn Network>, from: usize, trace: Arc<CommitTrace>) -> Self {
        TracedNetwork { inner, from, trace }
    }
}

impl Network for TracedNetwork {
    fn send(&self, to: usize, message: Bytes) {
        let at = Instant::now();
        let (append_last, reply_match) = match Message::decode(&message) {
            Ok(Message::AppendEntries {
                prev_log_index,
                entries,
                ..
            }) if !entries.is_empty() => (Some(prev_log_index + entries.len() as u64), None),
            Ok(Message::AppendEntriesReply {
                success: true,
                match_index,
                ..
            }) => (None, Some(match_index)),
            _ => (None, None),
        };
        if append_last.is_some() || reply_match.is_some() {
            lock(&self.trace.sends).push(SendEvent {
                from: self.from,
                to,
                at,
                append_last,
                reply_match,
            });
        }
        self.inner.send(to, message);
    }
}

/// `(time, value)` pairs sorted by time, with the running maximum of the value: the first
/// time the value reached `index`.
struct Reached(Vec<(Instant, u64)>);

impl Reached {
    fn new(mut points: Vec<(Instant, u64)>) -> Self {
        points.sort_by_key(|p| p.0);
        let mut max = 0;
        for point in &mut points {
            max = max.max(point.1);
            point.1 = max;
        }
        Reached(points)
    }

    fn first(&self, index: u64) -> Option<Instant> {
        let at = self.0.partition_point(|p| p.1 < index);
        self.0.get(at).map(|p| p.0)
    }
}

/// A node's syncs by end time, with the first sync whose batch reached `index`.
struct NodeSyncs(Vec<SyncEvent>);

impl NodeSyncs {
    fn covering(&self, index: u64) -> Option<&SyncEvent> {
        // Batches only move the log forward in this bench (one leader, no conflicts), so
        // `last` is non-decreasing over the syncs that carry entries.
        let at = self.0.partition_point(|s| s.last < index);
        self.0.get(at)
    }
}

/// Quantiles and mean of durations, in µs, as a table cell.
fn stats(mut values: Vec<f64>) -> String {
    if values.is_empty() {
        return "—".into();
    }
    values.sort_by(f64::total_cmp);
    let q = |p: f64| values[((values.len() - 1) as f64 * p).round() as usize];
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    format!(
        "p10 {:6.0}  p50 {:6.0}  p90 {:6.0}  mean {:6.0}",
        q(0.1),
        q(0.5),
        q(0.9),
        mean
    )
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `later - earlier` in µs, negative if `later` came first.
fn between(earlier: Instant, later: Instant) -> f64 {
    if later >= earlier {
        micros(later - earlier)
    } else {
        -micros(earlier - later)
    }
}

fn report(
    leader: usize,
    wall: Duration,
    syncs: &[SyncEvent],
    sends: &[SendEvent],
    done: &[Done],
    applied: &BTreeMap<u64, Instant>,
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut by_node: BTreeMap<usize, Vec<SyncEvent>> = BTreeMap::new();
    for s in syncs {
        by_node.entry(s.node).or_default().push(*s);
    }
    let _ = writeln!(
        out,
        "  per node (µs; {} ms traced; leader {leader}):",
        wall.as_millis()
    );
    for (node, list) in &mut by_node {
        list.sort_by_key(|s| s.end);
        let role = if *node == leader {
            "leader  "
        } else {
            "follower"
        };
        let busy: f64 = list.iter().map(|s| micros(s.end - s.first_write)).sum();
        let gaps: Vec<f64> = list
            .windows(2)
            .map(|w| between(w[0].end, w[1].first_write))
            .collect();
        let _ = writeln!(
            out,
            "    node {node} {role}: {} syncs ({:.0}/s), worker busy {:.0} % of the time",
            list.len(),
            list.len() as f64 / wall.as_secs_f64(),
            100.0 * busy / micros(wall)
        );
        let _ = writeln!(
            out,
            "      sync() duration          {}",
            stats(list.iter().map(|s| micros(s.end - s.start)).collect())
        );
        let _ = writeln!(
            out,
            "      write() of the batch     {}",
            stats(
                list.iter()
                    .map(|s| micros(s.start - s.first_write))
                    .collect()
            )
        );
        let _ = writeln!(out, "      idle gap between syncs   {}", stats(gaps));
        let _ = writeln!(
            out,
            "      entries per sync         {}",
            stats(list.iter().map(|s| s.entries as f64).collect())
        );
    }
    // Syncs running at once: the share of each node's sync time that overlaps another
    // node's sync.
    let mut overlap = String::new();
    for (node, list) in &by_node {
        let others: Vec<&SyncEvent> = syncs.iter().filter(|s| s.node != *node).collect();
        let (mut total, mut shared) = (0.0, 0.0);
        for s in list {
            total += micros(s.end - s.start);
            // Other syncs do not overlap each other much; sum their intersections, capped.
            let mut covered = 0.0;
            for o in &others {
                let from = s.start.max(o.start);
                let to = s.end.min(o.end);
                if to > from {
                    covered += micros(to - from);
                }
            }
            shared += covered.min(micros(s.end - s.start));
        }
        let _ = write!(
            overlap,
            " node {node} {:.0} %;",
            100.0 * shared / total.max(1.0)
        );
    }
    let _ = writeln!(
        out,
        "    sync time overlapping another node's sync:{overlap}"
    );

    // Each committed entry's path.
    let mut appends: BTreeMap<usize, Vec<(Instant, u64)>> = BTreeMap::new();
    let mut replies: BTreeMap<usize, Vec<(Instant, u64)>> = BTreeMap::new();
    for s in sends {
        if let (true, Some(last)) = (s.from == leader, s.append_last) {
            appends.entry(s.to).or_default().push((s.at, last));
        }
        if let (true, Some(m)) = (s.to == leader, s.reply_match) {
            replies.entry(s.from).or_default().push((s.at, m));
        }
    }
    let appends: BTreeMap<usize, Reached> = appends
        .into_iter()
        .map(|(k, v)| (k, Reached::new(v)))
        .collect();
    let replies: BTreeMap<usize, Reached> = replies
        .into_iter()
        .map(|(k, v)| (k, Reached::new(v)))
        .collect();
    let node_syncs: BTreeMap<usize, NodeSyncs> = by_node
        .into_iter()
        .map(|(k, v)| (k, NodeSyncs(v.into_iter().filter(|s| s.last > 0).collect())))
        .collect();
    let followers: Vec<usize> = appends.keys().copied().collect();
    let mut legs: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let (mut leader_last, mut traced) = (0usize, 0usize);
    for d in done {
        let index = d.index;
        let Some(ae) = followers
            .iter()
            .filter_map(|f| appends[f].first(index))
            .min()
        else {
            continue;
        };
        let Some(ls) = node_syncs.get(&leader).and_then(|s| s.covering(index)) else {
            continue;
        };
        // The follower whose reply came first.
        let Some((f, reply)) = followers
            .iter()
            .filter_map(|f| Some((*f, replies.get(f)?.first(index)?)))
            .min_by_key(|p| p.1)
        else {
            continue;
        };
        let Some(fs) = node_syncs.get(&f).and_then(|s| s.covering(index)) else {
            continue;
        };
        // Committed once two of the three hold it durably (the leader counts its own
        // durable index, docs/protocol.md): the second of the leader's sync end and the
        // followers' replies.
        let mut durable: Vec<Instant> = followers
            .iter()
            .filter_map(|f| replies.get(f)?.first(index))
            .collect();
        durable.push(ls.end);
        durable.sort();
        let Some(&ready) = durable.get(1) else {
            continue;
        };
        traced += 1;
        if ready == ls.end {
            leader_last += 1;
        }
        let mut push = |name, value| legs.entry(name).or_default().push(value);
        push(
            "0 total: client call -> client woken",
            between(d.begun, d.end),
        );
        push("1 client call -> AppendEntries sent", between(d.begun, ae));
        push(
            "2 L: AE sent -> leader's sync starts",
            between(ae, ls.start),
        );
        push("3 L: leader's sync", between(ls.start, ls.end));
        push(
            "4 F: AE sent -> first follower's sync starts",
            between(ae, fs.start),
        );
        push("5 F: first follower's sync", between(fs.start, fs.end));
        push(
            "6 F: its sync end -> its reply sent",
            between(fs.end, reply),
        );
        push(
            "7 AE sent -> committed (2 of 3 durable)",
            between(ae, ready),
        );
        push("8 committed -> client woken", between(ready, d.end));
        if let Some(&at) = applied.get(&index) {
            push("8a committed -> applied on the leader", between(ready, at));
            push(
                "8b applied on the leader -> client woken",
                between(at, d.end),
            );
        }
    }
    let _ = writeln!(
        out,
        "  per committed entry ({traced} of {} writes traced; µs; the leader's own sync made the majority for {:.0} %):",
        done.len(),
        100.0 * leader_last as f64 / traced.max(1) as f64
    );
    for (name, values) in legs {
        let _ = writeln!(out, "    {name:48} {}", stats(values));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first time a running maximum reached an index, with events out of time order
    /// and a retransmission that carries less than an earlier message.
    #[test]
    fn reached_finds_the_first_time_an_index_was_reached() {
        let t0 = Instant::now();
        let at = |us| t0 + Duration::from_micros(us);
        let reached = Reached::new(vec![(at(30), 5), (at(10), 3), (at(20), 2), (at(40), 9)]);
        assert_eq!(reached.first(1), Some(at(10)));
        assert_eq!(reached.first(3), Some(at(10)));
        assert_eq!(reached.first(4), Some(at(30)));
        assert_eq!(reached.first(6), Some(at(40)));
        assert_eq!(reached.first(10), None);
    }

    /// The sync that covers an index is the first whose batch reached it.
    #[test]
    fn covering_sync_is_the_first_that_reached_the_index() {
        let t0 = Instant::now();
        let sync = |last, us| SyncEvent {
            node: 0,
            first_write: t0,
            start: t0,
            end: t0 + Duration::from_micros(us),
            entries: 1,
            last,
        };
        let syncs = NodeSyncs(vec![sync(4, 1), sync(9, 2), sync(12, 3)]);
        assert_eq!(syncs.covering(4).map(|s| s.last), Some(4));
        assert_eq!(syncs.covering(5).map(|s| s.last), Some(9));
        assert_eq!(syncs.covering(12).map(|s| s.last), Some(12));
        assert!(syncs.covering(13).is_none());
    }
}

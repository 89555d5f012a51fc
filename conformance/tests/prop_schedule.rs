//! Property tests of the core's safety under arbitrary schedules.
//!
//! A cluster of three `Core`s is driven by a proptest-generated schedule: a `Vec` of small
//! [`Op`]s (tick a server; deliver, drop or duplicate a pending message picked by link and
//! age; deliver the oldest few; propose; take a service snapshot; crash and restart a server
//! from what it persisted). Every message crosses the wire encoding.
//! The cluster is the one harness, `raft_conformance::cluster::Cluster`, and after every
//! event the one property checker, `raft_conformance::invariants::Checker`, checks the
//! model's properties on the real cores (election safety, snapshot-aware log matching,
//! leader completeness with the exact commit term, state machine safety, snapshots as
//! committed prefixes, applied never regressing) — together with: applied = commit after
//! every step, the term never decreasing (even across restarts), the disk equal to the
//! core's persistent state after every step, a restart losing nothing persisted, and
//! `Core::check_invariants()`.
//!
//! A schedule is a plain `Vec` of small enums, shrunk by `ScheduleTree` (a proptest
//! `ValueTree` that shrinks to a fixpoint: 1-minimal schedules). The tests demonstrate it on
//! deliberately false properties (`shrinking_finds_a_minimal_schedule`) and on a planted
//! storage bug (`planted_storage_bug_is_caught_and_shrunk`).
//!
//! Case counts are explicit (`PROPTEST_CASES` overrides them); the run's seed is printed and
//! `PROPTEST_RNG_SEED` replays it; failures are saved under `conformance/proptest-regressions/`.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::{NewTree, ValueTree};
use proptest::test_runner::{Config, RngSeed, TestError, TestRunner};
use raft_conformance::cluster::{Cluster as Harness, ClusterConfig, Delays, Event};
use raft_conformance::invariants::Checker;
use raft_conformance::service::encode_snapshot;
use raft_impl::core::{Core, Input, Message, Role};

const SERVERS: usize = 3;
const DEFAULT_CASES: u32 = 4096;
const MAX_SCHEDULE_LEN: usize = 400;
/// The cores' election-timeout RNG seed. Fixed, so that a schedule alone determines a run
/// and shrinks well; the schedule's ticks already vary timing arbitrarily (a restart
/// reseeds with the restart count).
const CORE_SEED: u64 = 0x5eed;

// ---- Configuration ----

mod common;

use common::proptest_config::cases;

/// Explicit case count and a printed, replayable seed (`PROPTEST_CASES`, `PROPTEST_RNG_SEED`).
fn config(test: &str, cases: u32) -> Config {
    Config {
        source_file: Some(file!()),
        ..common::proptest_config::config_with(
            test,
            cases,
            common::proptest_config::seed(),
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/proptest-regressions/prop_schedule.txt"
            ),
        )
    }
}

/// Short timeouts so that a schedule of a few hundred steps sees several elections; small
/// batches so that catching up takes several requests.
fn cluster_config() -> ClusterConfig {
    ClusterConfig {
        servers: SERVERS,
        election_timeout_min: 3,
        election_timeout_max: 6,
        heartbeat_interval: 2,
        max_entries_per_message: 4,
        max_inflight_appends: 1,
        delays: Delays::NONE,
        dedup: false,
        record: false,
        check_disk: true,
    }
}

// ---- The schedule ----

/// One step of a schedule. Choices are small numbers taken modulo what exists, so every
/// schedule is legal and shrinking (towards 0 and shorter) stays legal. A message is picked
/// by [`Link`], then by age on that link (0 = oldest).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// `ticks` ticks of `server`'s clock, one `step` each.
    Tick { server: usize, ticks: u32 },
    /// Deliver the `pick`-th oldest message (modulo) pending on `link`.
    Deliver { link: Link, pick: usize },
    /// Lose it.
    Drop { link: Link, pick: usize },
    /// Deliver a copy and keep the original pending (duplication).
    Duplicate { link: Link, pick: usize },
    /// The service proposes a fresh command to `server` (a no-op unless it leads);
    /// `server == SERVERS` means the leader of the highest term, as a client would find it.
    Propose { server: usize },
    /// The service snapshots at an index chosen by `back` among those it may snapshot;
    /// with nothing to snapshot, at `applied + 1`, which the core must ignore.
    Snapshot { server: usize, back: u64 },
    /// Crash (volatile state lost) and restart from what the server persisted.
    Restart { server: usize },
    /// Deliver the `count` oldest messages in the network, one by one (a calm spell that
    /// lets the cluster make progress; replies sent meanwhile queue behind).
    Flush { count: usize },
}

/// Which directed link (sender, receiver) a message op acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// The `k`-th (modulo) of the links that have messages pending, in (from, to) order.
    /// Generated schedules use this, so that they rarely idle on empty links.
    Busy(usize),
    /// The link from one server to another. Shrinking rewrites `Busy` links into this
    /// form first, so that deleting an op does not change which link a later op acts on.
    Between(usize, usize),
}

impl Link {
    fn simpler(self) -> Vec<Link> {
        match self {
            Link::Busy(k) if k > 0 => vec![Link::Busy(0), Link::Busy(k / 2), Link::Busy(k - 1)],
            _ => Vec::new(),
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    let server = 0..SERVERS;
    let links = (0..SERVERS * (SERVERS - 1)).prop_map(Link::Busy);
    prop_oneof![
        3 => (server.clone(), 1u32..=8).prop_map(|(server, ticks)| Op::Tick { server, ticks }),
        8 => (links.clone(), 0usize..3).prop_map(|(link, pick)| Op::Deliver { link, pick }),
        1 => (links.clone(), 0usize..3).prop_map(|(link, pick)| Op::Drop { link, pick }),
        1 => (links, 0usize..3).prop_map(|(link, pick)| Op::Duplicate { link, pick }),
        3 => (0..=SERVERS).prop_map(|server| Op::Propose { server }),
        1 => (server.clone(), 0u64..4).prop_map(|(server, back)| Op::Snapshot { server, back }),
        1 => server.prop_map(|server| Op::Restart { server }),
        1 => (1usize..=24).prop_map(|count| Op::Flush { count }),
    ]
}

/// Schedules run on clusters made by `Cluster::new(CORE_SEED)`.
fn schedule() -> ScheduleStrategy {
    ScheduleStrategy {
        new_cluster: plain_cluster,
    }
}

fn plain_cluster() -> Cluster {
    Cluster::new(CORE_SEED)
}

// ---- Shrinking ----
//
// proptest's own `Vec` shrinker makes one pass deleting single elements, then shrinks the
// elements, and never deletes again; a schedule whose ops get simpler late in shrinking is
// left with ops that have become removable. `ScheduleTree` instead shrinks to a fixpoint:
// after every simplification that still fails it starts over, first deleting chunks (halves,
// quarters, ... single ops, as in delta debugging), then pairs of ops, then simplifying
// single ops. Each accepted step makes the schedule shorter or one op simpler, so it
// terminates, and the result is 1-minimal: deleting any op (or, in short schedules, any two
// ops), or simplifying any op, makes it pass.

impl Op {
    /// Strictly simpler variants of this op (smaller numbers, a plain delivery for a
    /// duplication), simplest first.
    fn simpler(&self) -> Vec<Op> {
        let smaller = |n: usize| -> Vec<usize> {
            if n > 0 {
                vec![0, n / 2, n - 1]
            } else {
                vec![]
            }
        };
        let mut out = Vec::new();
        match *self {
            Op::Tick { server, ticks } => {
                for t in [1, ticks / 2, ticks - 1] {
                    if t >= 1 && t < ticks {
                        out.push(Op::Tick { server, ticks: t });
                    }
                }
                out.extend(
                    smaller(server)
                        .into_iter()
                        .map(|server| Op::Tick { server, ticks }),
                );
            }
            Op::Deliver { link, pick } => {
                out.extend(
                    smaller(pick)
                        .into_iter()
                        .map(|pick| Op::Deliver { link, pick }),
                );
                out.extend(
                    link.simpler()
                        .into_iter()
                        .map(|link| Op::Deliver { link, pick }),
                );
            }
            Op::Drop { link, pick } => {
                out.extend(
                    smaller(pick)
                        .into_iter()
                        .map(|pick| Op::Drop { link, pick }),
                );
                out.extend(
                    link.simpler()
                        .into_iter()
                        .map(|link| Op::Drop { link, pick }),
                );
            }
            Op::Duplicate { link, pick } => out.push(Op::Deliver { link, pick }),
            Op::Propose { server } => {
                out.extend(
                    smaller(server)
                        .into_iter()
                        .map(|server| Op::Propose { server }),
                );
            }
            Op::Snapshot { server, back } => {
                out.extend(smaller(back as usize).into_iter().map(|b| Op::Snapshot {
                    server,
                    back: b as u64,
                }));
                out.extend(
                    smaller(server)
                        .into_iter()
                        .map(|server| Op::Snapshot { server, back }),
                );
            }
            Op::Restart { server } => {
                out.extend(
                    smaller(server)
                        .into_iter()
                        .map(|server| Op::Restart { server }),
                );
            }
            Op::Flush { count } => {
                out.extend(
                    smaller(count)
                        .into_iter()
                        .filter(|&count| count > 0)
                        .map(|count| Op::Flush { count }),
                );
            }
        }
        out.dedup();
        out
    }
}

/// Pair deletion is quadratic: only for schedules already this short.
const MAX_PAIR_SHRINK_LEN: usize = 64;

/// Generates schedules; knows the cluster they run on, to resolve `Link::Busy` while
/// shrinking.
#[derive(Debug, Clone, Copy)]
struct ScheduleStrategy {
    new_cluster: fn() -> Cluster,
}

impl Strategy for ScheduleStrategy {
    type Tree = ScheduleTree;
    type Value = Vec<Op>;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let ops = vec(op(), 0..MAX_SCHEDULE_LEN).new_tree(runner)?.current();
        Ok(ScheduleTree::new(ops, self.new_cluster))
    }
}

/// The same schedule with every `Link::Busy` replaced by the `Link::Between` it resolves
/// to when the schedule runs: an identical run, whose links no longer shift when shrinking
/// deletes an earlier op. Replay stops at the first failure (or core panic); later ops
/// cannot matter to the failure and keep their form.
fn with_fixed_links(new_cluster: fn() -> Cluster, ops: &[Op]) -> Vec<Op> {
    let mut cluster = new_cluster();
    let mut alive = true;
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        let mut op = op.clone();
        if alive {
            if let Op::Deliver { link, .. } | Op::Drop { link, .. } | Op::Duplicate { link, .. } =
                &mut op
            {
                if let Some((from, to)) = cluster.resolve(*link) {
                    *link = Link::Between(from, to);
                }
            }
            let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cluster.run(&op)));
            alive = matches!(step, Ok(Ok(())));
        }
        out.push(op);
    }
    out
}

/// Where the search for a simpler schedule stands, relative to the last failing one.
#[derive(Debug, Clone, Copy)]
enum Cursor {
    /// Try the same schedule with fixed links (see [`with_fixed_links`]).
    FixLinks,
    /// Delete `len` ops starting at `start`.
    Delete {
        len: usize,
        start: usize,
    },
    /// Delete ops `first` and `second` (`first < second`): two ops that only matter
    /// together, such as a drop and the delivery whose pick it shifted.
    DeletePair {
        first: usize,
        second: usize,
    },
    /// Merge ops `at` and `at + 1` if both tick the same server (the same run, one op
    /// fewer).
    MergeTicks {
        at: usize,
    },
    /// Replace op `at` by its `variant`-th simpler form.
    Simplify {
        at: usize,
        variant: usize,
    },
    Done,
}

#[derive(Debug, Clone)]
struct ScheduleTree {
    /// The simplest schedule known to fail (at first: the generated one).
    failing: Vec<Op>,
    /// What the runner tests next.
    current: Vec<Op>,
    cursor: Cursor,
    new_cluster: fn() -> Cluster,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").finish_non_exhaustive()
    }
}

impl ScheduleTree {
    fn new(ops: Vec<Op>, new_cluster: fn() -> Cluster) -> Self {
        ScheduleTree {
            current: ops.clone(),
            cursor: Cursor::FixLinks,
            failing: ops,
            new_cluster,
        }
    }

    /// Moves `current` to the next candidate derived from `failing`; false when none is left.
    fn next_candidate(&mut self) -> bool {
        loop {
            let n = self.failing.len();
            match self.cursor {
                Cursor::FixLinks => {
                    self.cursor = Cursor::Delete {
                        len: n.max(1),
                        start: 0,
                    };
                    let fixed = with_fixed_links(self.new_cluster, &self.failing);
                    if fixed != self.failing {
                        self.current = fixed;
                        return true;
                    }
                }
                Cursor::Delete { len, start } => {
                    if len == 0 || n == 0 {
                        self.cursor = Cursor::Simplify { at: 0, variant: 0 };
                    } else if start >= n {
                        self.cursor = if len == 1 {
                            Cursor::DeletePair {
                                first: 0,
                                second: 1,
                            }
                        } else {
                            Cursor::Delete {
                                len: len / 2,
                                start: 0,
                            }
                        };
                    } else {
                        self.cursor = Cursor::Delete {
                            len,
                            start: start + len,
                        };
                        let mut candidate = self.failing.clone();
                        candidate.drain(start..(start + len).min(n));
                        self.current = candidate;
                        return true;
                    }
                }
                Cursor::DeletePair { first, second } => {
                    if n > MAX_PAIR_SHRINK_LEN || first + 1 >= n {
                        self.cursor = Cursor::MergeTicks { at: 0 };
                    } else if second >= n {
                        self.cursor = Cursor::DeletePair {
                            first: first + 1,
                            second: first + 2,
                        };
                    } else {
                        self.cursor = Cursor::DeletePair {
                            first,
                            second: second + 1,
                        };
                        let mut candidate = self.failing.clone();
                        candidate.remove(second);
                        candidate.remove(first);
                        self.current = candidate;
                        return true;
                    }
                }
                Cursor::MergeTicks { at } => {
                    if at + 1 >= n {
                        self.cursor = Cursor::Simplify { at: 0, variant: 0 };
                        continue;
                    }
                    self.cursor = Cursor::MergeTicks { at: at + 1 };
                    if let (
                        Op::Tick { server, ticks },
                        Op::Tick {
                            server: other,
                            ticks: more,
                        },
                    ) = (&self.failing[at], &self.failing[at + 1])
                    {
                        if server == other {
                            let mut candidate = self.failing.clone();
                            candidate[at] = Op::Tick {
                                server: *server,
                                ticks: ticks + more,
                            };
                            candidate.remove(at + 1);
                            self.current = candidate;
                            return true;
                        }
                    }
                }
                Cursor::Simplify { at, variant } => {
                    if at >= n {
                        self.cursor = Cursor::Done;
                        continue;
                    }
                    let variants = self.failing[at].simpler();
                    if variant >= variants.len() {
                        self.cursor = Cursor::Simplify {
                            at: at + 1,
                            variant: 0,
                        };
                        continue;
                    }
                    self.cursor = Cursor::Simplify {
                        at,
                        variant: variant + 1,
                    };
                    let mut candidate = self.failing.clone();
                    candidate[at] = variants[variant].clone();
                    self.current = candidate;
                    return true;
                }
                Cursor::Done => {
                    self.current = self.failing.clone();
                    return false;
                }
            }
        }
    }
}

impl ValueTree for ScheduleTree {
    type Value = Vec<Op>;

    fn current(&self) -> Vec<Op> {
        self.current.clone()
    }

    /// `current` fails: it becomes the new reference, and the search starts over from it.
    fn simplify(&mut self) -> bool {
        self.failing = self.current.clone();
        self.cursor = Cursor::FixLinks;
        self.next_candidate()
    }

    /// `current` passes: try the next candidate derived from the last failing schedule.
    fn complicate(&mut self) -> bool {
        self.next_candidate()
    }
}

// ---- The cluster ----
//
// The one cluster harness (`raft_conformance::cluster::Cluster`: persist, send, apply, the
// disk checked against the persistent state after every step) and the one property checker
// (`raft_conformance::invariants::Checker`: the model's Figure 3 and §7 properties on the
// cores), driven by the schedule's ops. This file adds only what the ops need: picking a
// message by link and age, the wire encoding, the planted storage bugs, coverage.

/// What the run covered, to show the properties were not checked vacuously.
#[derive(Debug, Default, Clone, Copy)]
struct Coverage {
    leader_elected: bool,
    committed: bool,
    snapshot_taken: bool,
    snapshot_installed: bool,
    restarted_after_commit: bool,
    /// A follower's log lost an entry to a conflicting one (Figure 2, AppendEntries rule 3).
    conflict_truncated: bool,
    /// The highest index committed.
    max_commit: u64,
}

/// What a planted storage bug loses at a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forget {
    /// `voted_for`, as if it were never persisted.
    Vote,
    /// The last log entry, as if appends were acknowledged before being persisted.
    LastEntry,
}

struct Cluster {
    harness: Harness,
    checker: Checker,
    /// A planted storage bug (see `planted_storage_bug_is_caught_and_shrunk`), if any.
    forget_on_restart: Option<Forget>,
    coverage: Coverage,
}

type Check = Result<(), TestCaseError>;

fn fail(e: String) -> TestCaseError {
    TestCaseError::fail(e)
}

impl Cluster {
    fn new(seed: u64) -> Cluster {
        Cluster {
            harness: Harness::new(cluster_config(), seed),
            checker: Checker::new(SERVERS),
            forget_on_restart: None,
            coverage: Coverage::default(),
        }
    }

    fn core(&self, server: usize) -> &Core {
        &self.harness.cores[server]
    }

    /// Runs one op; the properties are checked after every event in it.
    fn run(&mut self, op: &Op) -> Check {
        match *op {
            Op::Tick { server, ticks } => {
                for _ in 0..ticks {
                    self.execute(&Event::Tick(server))?;
                }
            }
            Op::Deliver { link, pick } => {
                if let Some(k) = self.pending(link, pick) {
                    self.deliver(k)?;
                }
            }
            Op::Drop { link, pick } => {
                if let Some(k) = self.pending(link, pick) {
                    self.execute(&Event::Drop(k))?;
                }
            }
            Op::Duplicate { link, pick } => {
                if let Some(k) = self.pending(link, pick) {
                    self.execute(&Event::Duplicate(k))?;
                    // The copy is the last in the network; deliver it, keep the original.
                    self.deliver(self.harness.network.len() - 1)?;
                }
            }
            Op::Propose { server } => {
                let server = if server < SERVERS {
                    server
                } else {
                    self.highest_leader()
                };
                let was_leader = self.core(server).role() == Role::Leader;
                let before = self.harness.proposals;
                self.execute(&Event::Propose(server))?;
                // The leader's storage syncs at once (a fast disk): these schedules explore
                // message orders; the simulator and trace validation explore unsynced
                // proposals (`Event::Sync` at random times, crashes in between).
                self.execute(&Event::Sync(server))?;
                prop_assert_eq!(
                    self.harness.proposals > before,
                    was_leader,
                    "proposal accepted iff leader"
                );
            }
            Op::Snapshot { server, back } => self.snapshot(server, back)?,
            Op::Restart { server } => self.restart(server)?,
            Op::Flush { count } => {
                for _ in 0..count.min(self.harness.network.len()) {
                    let oldest = self.harness.oldest().expect("a message is in flight");
                    self.deliver(oldest)?;
                }
            }
        }
        if (0..SERVERS).any(|i| self.core(i).role() == Role::Leader) {
            self.coverage.leader_elected = true;
        }
        Ok(())
    }

    /// One event in the harness, then the checker, the core's own invariants, and: a
    /// server applies everything it commits in the step that commits it.
    fn execute(&mut self, event: &Event) -> Check {
        let outcome = self.harness.execute(event).map_err(fail)?;
        self.checker.check(&self.harness, &outcome).map_err(fail)?;
        if let Some(i) = outcome.server {
            let core = self.core(i);
            core.check_invariants();
            prop_assert_eq!(
                core.last_applied(),
                core.commit_index(),
                "applied catches up with commit in the step"
            );
        }
        self.coverage.snapshot_installed |= outcome.snapshot_applied;
        let committed = self.checker.committed_len() as u64;
        self.coverage.committed |= committed > 0;
        self.coverage.max_commit = self.coverage.max_commit.max(committed);
        Ok(())
    }

    /// Delivers in-flight message `k` across the wire encoding, as between processes, and
    /// notes whether the receiver's log lost an entry to a conflict.
    fn deliver(&mut self, k: usize) -> Check {
        let m = &mut self.harness.network[k];
        m.message = Message::decode(&m.message.encode().map_err(|e| fail(e.to_string()))?)
            .map_err(|e| fail(e.to_string()))?;
        let to = m.to;
        let log_before = self.core(to).log().clone();
        self.execute(&Event::Deliver(k))?;
        let core = self.core(to);
        let low = log_before.snapshot_index().max(core.snapshot_index()) + 1;
        let high = log_before.last_index().min(core.last_log_index());
        if (low..=high).any(|i| log_before.term_at(i) != core.log().term_at(i)) {
            self.coverage.conflict_truncated = true;
        }
        Ok(())
    }

    /// Position in the network of the `pick`-th oldest message (modulo) pending on `link`.
    fn pending(&self, link: Link, pick: usize) -> Option<usize> {
        let (from, to) = self.resolve(link)?;
        let network = &self.harness.network;
        let mut on_link: Vec<usize> = (0..network.len())
            .filter(|&k| network[k].from == from && network[k].to == to)
            .collect();
        on_link.sort_by_key(|&k| network[k].sent);
        (!on_link.is_empty()).then(|| on_link[pick % on_link.len()])
    }

    /// The (from, to) a link names now; `None` for a `Busy` link when nothing is pending.
    fn resolve(&self, link: Link) -> Option<(usize, usize)> {
        match link {
            Link::Between(from, to) => Some((from, to)),
            Link::Busy(k) => {
                let mut busy: Vec<(usize, usize)> = self
                    .harness
                    .network
                    .iter()
                    .map(|m| (m.from, m.to))
                    .collect();
                busy.sort_unstable();
                busy.dedup();
                busy.get(k % busy.len().max(1)).copied()
            }
        }
    }

    /// The leader of the highest term, or server 0 if there is none.
    fn highest_leader(&self) -> usize {
        (0..SERVERS)
            .filter(|&id| self.core(id).role() == Role::Leader)
            .max_by_key(|&id| self.core(id).current_term())
            .unwrap_or(0)
    }

    /// The service snapshots at an index chosen by `back` among those it applied past its
    /// snapshot; with none, it offers `applied + 1` straight to the core (the harness, a
    /// correct service, never would), which must ignore it.
    fn snapshot(&mut self, server: usize, back: u64) -> Check {
        let core = self.core(server);
        let (snapshot_index, applied) = (core.snapshot_index(), core.last_applied());
        if applied > snapshot_index {
            let index = applied - back % (applied - snapshot_index);
            self.execute(&Event::Snapshot(server, index))?;
            prop_assert_eq!(
                self.core(server).snapshot_index(),
                index,
                "the snapshot was taken"
            );
            self.coverage.snapshot_taken = true;
        } else {
            let before = core.persistent_state();
            let data = encode_snapshot(&self.harness.services[server].applied);
            let ready = self.harness.cores[server].step(Input::Snapshot {
                index: applied + 1,
                data,
            });
            prop_assert_eq!(
                self.core(server).persistent_state(),
                before,
                "an out-of-range snapshot is ignored"
            );
            prop_assert!(
                ready.persist.is_none() && ready.messages.is_empty() && ready.applies.is_empty()
            );
        }
        Ok(())
    }

    /// Crash: the core and the service's memory are lost; restart from the disk.
    fn restart(&mut self, server: usize) -> Check {
        let written = self.core(server).persistent_state();
        let term_before = self.core(server).current_term();
        let disk = &mut self.harness.disks[server];
        // What a crash keeps: the synced state (§10.2.1). It differs from what was written
        // only by a leader's proposals not yet synced: the same term, vote and snapshot,
        // and a prefix of the written log.
        prop_assert_eq!(
            (disk.durable.current_term, disk.durable.voted_for),
            (written.current_term, written.voted_for),
            "S{}: term and vote are synced before anything depends on them",
            server
        );
        prop_assert_eq!(
            (disk.durable.snapshot_index, disk.durable.snapshot_term),
            (written.snapshot_index, written.snapshot_term)
        );
        prop_assert!(
            written.entries.starts_with(&disk.durable.entries),
            "S{}: the synced log is a prefix of the written one",
            server
        );
        if let Some(forget) = self.forget_on_restart {
            // The planted bug: part of the stored state is lost (also in the state the
            // restarted server is checked against).
            match forget {
                Forget::Vote => disk.durable.voted_for = None,
                Forget::LastEntry => drop(disk.durable.entries.pop()),
            }
        }
        let before = disk.durable.clone();
        self.execute(&Event::Crash(server))?;
        self.execute(&Event::Restart(server))?;
        let core = self.core(server);
        // A restart loses nothing that was synced.
        prop_assert_eq!(
            core.persistent_state(),
            before,
            "restart of {} lost persistent state",
            server
        );
        prop_assert_eq!(core.current_term(), term_before);
        prop_assert_eq!(
            core.commit_index(),
            core.snapshot_index(),
            "§7: restart at the snapshot"
        );
        if self.checker.committed_len() > 0 {
            self.coverage.restarted_after_commit = true;
        }
        Ok(())
    }
}

/// Runs a schedule, checking everything after every op, then `extra` (used to plant false
/// properties in the shrinking demonstration).
fn run_schedule(ops: &[Op], extra: impl Fn(&Cluster) -> Check) -> Result<Coverage, TestCaseError> {
    run_cluster(Cluster::new(CORE_SEED), ops, extra)
}

fn run_cluster(
    mut cluster: Cluster,
    ops: &[Op],
    extra: impl Fn(&Cluster) -> Check,
) -> Result<Coverage, TestCaseError> {
    for op in ops {
        cluster.run(op)?;
        extra(&cluster)?;
    }
    Ok(cluster.coverage)
}

// ---- Tests ----

/// The safety properties hold after every step of arbitrary schedules, and the schedules
/// reach the interesting places (leaders, commits, snapshots, installs, restarts), so the
/// pass is not vacuous.
#[test]
fn safety_holds_under_arbitrary_schedules() {
    let cases = cases(DEFAULT_CASES);
    let mut runner = TestRunner::new(config("safety_holds_under_arbitrary_schedules", cases));
    let totals = std::cell::RefCell::new([0u32; 6]);
    let max_commit = std::cell::Cell::new(0u64);
    let result = runner.run(&schedule(), |ops| {
        let c = run_schedule(&ops, |_| Ok(()))?;
        let mut t = totals.borrow_mut();
        for (k, hit) in [
            c.leader_elected,
            c.committed,
            c.snapshot_taken,
            c.snapshot_installed,
            c.restarted_after_commit,
            c.conflict_truncated,
        ]
        .into_iter()
        .enumerate()
        {
            t[k] += u32::from(hit);
        }
        max_commit.set(max_commit.get().max(c.max_commit));
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    let t = totals.into_inner();
    eprintln!(
        "coverage over {cases} schedules: leader {} · commit {} · snapshot taken {} · snapshot installed {} · restart after commit {} · conflict truncated {} · max commit index {}",
        t[0], t[1], t[2], t[3], t[4], t[5], max_commit.get()
    );
    if cases >= 256 {
        // Thresholds far below what a default run reaches, so the check is not flaky.
        assert!(t[0] >= cases / 2, "too few schedules elect a leader: {t:?}");
        assert!(t[1] >= cases / 8, "too few schedules commit: {t:?}");
        assert!(t[2] >= cases / 32, "too few schedules snapshot: {t:?}");
        assert!(t[3] >= 1, "no schedule installed a snapshot: {t:?}");
        assert!(
            t[5] >= 1,
            "no schedule truncated a conflicting entry: {t:?}"
        );
        assert!(
            t[4] >= cases / 32,
            "too few schedules restart after a commit: {t:?}"
        );
    }
}

/// Shrinking works: a deliberately false property ("no leader is ever elected", then
/// "nothing is ever committed") fails, and proptest shrinks the failing schedule to a
/// handful of ops — the shortest that break it. The test passes when shrinking works.
#[test]
fn shrinking_finds_a_minimal_schedule() {
    let no_leader = |c: &Cluster| -> Check {
        let leaders = (0..SERVERS)
            .filter(|&i| c.core(i).role() == Role::Leader)
            .count();
        prop_assert_eq!(leaders, 0, "a leader was elected");
        Ok(())
    };
    // Election: ticks until a timeout, one vote request delivered, its grant delivered.
    let minimal = shrink_to_minimal("no leader is ever elected", no_leader);
    assert!(
        minimal.len() <= 4,
        "shrunk to {} ops: {minimal:?}",
        minimal.len()
    );
    assert!(matches!(minimal[0], Op::Tick { .. }), "{minimal:?}");

    let nothing_committed = |c: &Cluster| -> Check {
        prop_assert!(c.checker.committed_len() == 0, "an entry was committed");
        Ok(())
    };
    // Plus a proposal, its AppendEntries and the reply.
    let minimal = shrink_to_minimal("nothing is ever committed", nothing_committed);
    assert!(
        minimal.len() <= 8,
        "shrunk to {} ops: {minimal:?}",
        minimal.len()
    );
    assert!(
        minimal.iter().any(|op| matches!(op, Op::Propose { .. })),
        "{minimal:?}"
    );
}

const DEMO_SEED: u64 = 20260126;

fn shrink_to_minimal(property: &str, extra: impl Fn(&Cluster) -> Check) -> Vec<Op> {
    // A fixed seed: this test checks the shrinker's result, so it must be deterministic.
    // Failing is the point here, so nothing is saved to the regressions file.
    let config = Config {
        cases: 256,
        rng_seed: RngSeed::Fixed(DEMO_SEED),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&schedule(), |ops| run_schedule(&ops, &extra).map(|_| ()));
    let Err(TestError::Fail(reason, minimal)) = result else {
        panic!("the false property \"{property}\" was not falsified: {result:?}");
    };
    eprintln!(
        "\"{property}\" falsified ({reason}); shrunk to {} ops: {minimal:?}",
        minimal.len()
    );
    assert_one_minimal(&minimal, |ops| run_schedule(ops, &extra).map(|_| ()));
    minimal
}

/// The shrunk schedule still fails, and no schedule one op shorter or with one op
/// simpler does.
fn assert_one_minimal(minimal: &[Op], run: impl Fn(&[Op]) -> Check) {
    assert!(
        run(minimal).is_err(),
        "the shrunk schedule passes: {minimal:?}"
    );
    for at in 0..minimal.len() {
        let mut shorter = minimal.to_vec();
        shorter.remove(at);
        assert!(
            run(&shorter).is_ok(),
            "without op {at} it still fails: {minimal:?}"
        );
        for simpler in minimal[at].simpler() {
            let mut candidate = minimal.to_vec();
            candidate[at] = simpler.clone();
            assert!(
                run(&candidate).is_ok(),
                "op {at} as {simpler:?} still fails: {minimal:?}"
            );
        }
    }
}

/// The properties have teeth: with a planted storage bug — a restart forgets `voted_for`
/// (Figure 2 lists it as persistent: a server must not vote twice in one term) — arbitrary
/// schedules find two leaders in one term; with a restart that loses the last log entry
/// (acknowledged before it was durable), a later leader lacks a committed entry. Shrinking
/// reduces each to a 1-minimal story (for the vote: a leader elected with a vote, the
/// voter restarted, a second candidate of the same term collecting the forgotten vote).
///
/// How short the shrunk story is depends on where the search starts, i.e. on which
/// generated schedule fails first, which any change to the core's timing shifts. So the
/// forgotten vote is shrunk from `VOTE_SHRINK_SEEDS` runner seeds and the bound is on the
/// median: the shortest forgotten-vote story known has 6 ops (7 with single deliveries,
/// `Flush` saves one), and the median must stay within half again of it (9). A single
/// seed may end far above it: every restart reseeds the restarted server's election
/// timeout with its restart count (the harness's `Cluster::core_config`), so restarts that only re-draw a
/// timeout cannot be deleted one at a time, and the local search keeps them (with
/// counting forced heartbeats in the window, `DEMO_SEED` ends at 16 ops, three of them
/// back-to-back restarts of one server; over seeds 1..=150 the median is 7 both with and
/// without that change, and one seed in eight to ten ends above 12).
#[test]
fn planted_storage_bug_is_caught_and_shrunk() {
    fn forgets_vote() -> Cluster {
        let mut cluster = Cluster::new(CORE_SEED);
        cluster.forget_on_restart = Some(Forget::Vote);
        cluster
    }
    fn forgets_last_entry() -> Cluster {
        let mut cluster = Cluster::new(CORE_SEED);
        cluster.forget_on_restart = Some(Forget::LastEntry);
        cluster
    }
    let mut lengths: Vec<usize> = (0..VOTE_SHRINK_SEEDS)
        .map(|k| catch_and_shrink(forgets_vote, "election safety", DEMO_SEED + k))
        .collect();
    eprintln!("forgotten vote: shrunk lengths over seeds {DEMO_SEED}.. : {lengths:?}");
    lengths.sort_unstable();
    let median = lengths[(lengths.len() - 1) / 2];
    assert!(
        median <= 9,
        "median shrunk length {median} > 9 (1.5 x the shortest known story): {lengths:?}"
    );
    // One seed, held to a fixed bound as it has been since the planted bug was added.
    let last_entry = catch_and_shrink(forgets_last_entry, "leader completeness", DEMO_SEED);
    assert!(last_entry <= 16, "shrunk to {last_entry} ops");
}

/// Runner seeds the forgotten-vote shrink is measured over (`DEMO_SEED` and the next
/// ones): enough that one seed's unlucky start does not decide the median.
const VOTE_SHRINK_SEEDS: u64 = 8;

/// Runs arbitrary schedules (runner seed `seed`) on clusters from `new_cluster` (which has
/// a planted bug); the first failure must be `property` and shrink to a 1-minimal schedule
/// that involves a restart and passes without the bug. Returns its length.
fn catch_and_shrink(new_cluster: fn() -> Cluster, property: &str, seed: u64) -> usize {
    let config = Config {
        cases: 4096,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    };
    let run = |ops: &[Op]| run_cluster(new_cluster(), ops, |_| Ok(())).map(|_| ());
    let strategy = ScheduleStrategy { new_cluster };
    let result = TestRunner::new(config).run(&strategy, |ops| run(&ops));
    let Err(TestError::Fail(reason, minimal)) = result else {
        panic!("seed {seed}: the planted bug went unnoticed: {result:?}");
    };
    eprintln!(
        "seed {seed}: planted bug caught ({reason}); shrunk to {} ops: {minimal:?}",
        minimal.len()
    );
    assert!(reason.message().contains(property), "{reason}");
    assert!(
        minimal.iter().any(|op| matches!(op, Op::Restart { .. })),
        "{minimal:?}"
    );
    assert_one_minimal(&minimal, run);
    assert!(
        run_schedule(&minimal, |_| Ok(())).is_ok(),
        "without the bug it passes"
    );
    minimal.len()
}

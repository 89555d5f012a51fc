//! The one cluster-level property checker over real cores, used by the simulator, the
//! proptests and the benches' harness. Its safety properties are the model's, with the
//! model's definitions (`raft_model::properties`, `docs/model.md`), evaluated on the cores:
//!
//! - **Election Safety**: at most one leader per term (a table term -> leader over the run);
//! - **Log Matching**, snapshot-aware: if two servers hold an entry with the same index and
//!   term (a snapshot's last included entry counts), they agree at every index up to it —
//!   on the term where both still know it, and on the value everywhere (below a snapshot a
//!   server knows only the value, from its snapshot data);
//! - **Leader Completeness** with the exact commit term: an entry committed in term `T` is
//!   held by every leader of a term after `T` (an index inside its snapshot is held if the
//!   snapshot's value there is the committed one). The commit term of an index is, as in
//!   the model's history, the current term of the first server to apply it; the checker
//!   also asserts that this server is a leader — the leader whose commit it was, since a
//!   core applies what it commits in the same step and a follower learns a commit only from
//!   a leader that already made it — so the term is the exact commit term, not a bound;
//! - **State Machine Safety**: every service applies, at each index, the value first applied
//!   there; **Snapshot Is Committed Prefix**: a snapshot's values are a prefix of the
//!   committed ones, its last term is the committed entry's, and it is within commit;
//! - **Applied Never Regresses**: commit and applied never decrease except that a crash
//!   falls back to the snapshot, and the service holds exactly `last_applied` values;
//!
//! plus what only the real cores have: `snapshot <= applied <= commit <= last log`,
//! `snapshot <= durable <= last log` (the durable index, Raft thesis §10.2.1), no entry
//! of a future term, the current term never decreasing (even across a crash). The harness
//! itself (`Cluster::execute`) checks the core's contracts: the disk equals the persistent
//! state after every step, applies arrive in order, the persisted bytes restore, a `Sync`
//! brings the core's durable index to the synced log end, and no reply or vote of a step
//! that wrote leaves before its sync.
//!
//! Commands are distinct (proposal numbers, `service.rs`), so an entry's value identifies it.

use raft_impl::core::{Core, Role};

use crate::cluster::{Cluster, Outcome};
use crate::service::{decode_command, decode_snapshot};

/// An index once committed: its entry's term and value, and the term it was committed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The value (proposal number) at the index.
    pub value: u32,
    /// The entry's term (0 if first applied from a snapshot, as in the model).
    pub term: u64,
    /// The term in which it was committed: the first applier's current term.
    pub commit_term: u64,
}

/// History the checks need, kept across the steps of one run.
#[derive(Clone, Debug, Default)]
pub struct Checker {
    /// `leaders[t]`: the server elected in term `t`, if any yet.
    leaders: Vec<Option<usize>>,
    /// `committed[k]`: what index `k + 1` committed.
    committed: Vec<Committed>,
    /// Per server, after the last check: commit index, applied count, current term.
    commit: Vec<u64>,
    applied: Vec<usize>,
    term: Vec<u64>,
    /// Per server: its snapshot's index and decoded values (decoded once per snapshot).
    snapshots: Vec<(u64, Vec<u32>)>,
}

impl Checker {
    /// A checker for a run of `servers` servers, before any step.
    pub fn new(servers: usize) -> Checker {
        Checker {
            leaders: Vec::new(),
            committed: Vec::new(),
            commit: vec![0; servers],
            applied: vec![0; servers],
            term: vec![0; servers],
            snapshots: vec![(0, Vec::new()); servers],
        }
    }

    /// How many indices are known committed.
    pub fn committed_len(&self) -> usize {
        self.committed.len()
    }

    /// What each index committed (index `k + 1` at `k`).
    pub fn committed(&self) -> &[Committed] {
        &self.committed
    }

    /// Checks the cluster after `outcome`; `Err` names the first broken property.
    pub fn check(&mut self, cluster: &Cluster, outcome: &Outcome) -> Result<(), String> {
        let Some(i) = outcome.server else {
            return Ok(());
        };
        let core = &cluster.cores[i];
        check_bounds(core)?;
        let new_snapshot = self.refresh_snapshot(i, core)?;
        let applied_before = self.applied[i];
        self.check_progress(cluster, i, outcome)?;
        self.check_election_safety(core)?;
        self.check_state_machine_safety(cluster, i, outcome, applied_before)?;
        // The committed history only grows, and a snapshot only changes by being replaced:
        // one check per snapshot (and after a crash, which restores one) covers it.
        if new_snapshot || outcome.crashed {
            self.check_snapshot(i, core)?;
        }
        // Only the stepped server changed: the pairs it is in are the ones to re-check.
        for j in (0..cluster.cores.len()).filter(|&j| j != i) {
            self.refresh_snapshot(j, &cluster.cores[j])?;
            self.check_log_matching(i, core, j, &cluster.cores[j])?;
        }
        for (j, leader) in cluster.cores.iter().enumerate() {
            if leader.role() == Role::Leader {
                self.check_leader_completeness(j, leader)?;
            }
        }
        Ok(())
    }

    /// Decodes server `i`'s snapshot if it changed; whether it did.
    fn refresh_snapshot(&mut self, i: usize, core: &Core) -> Result<bool, String> {
        if self.snapshots[i].0 == core.snapshot_index() {
            return Ok(false);
        }
        let values = decode_snapshot(core.snapshot_data())
            .ok_or_else(|| format!("S{i}: undecodable snapshot"))?;
        self.snapshots[i] = (core.snapshot_index(), values);
        Ok(true)
    }

    /// The value at `index` on server `i`: from its snapshot at or below the snapshot
    /// index, from its log above (the model's `value_at`).
    fn value_at(&self, i: usize, core: &Core, index: u64) -> Option<u32> {
        if index == 0 {
            return None;
        }
        if index <= core.snapshot_index() {
            return self.snapshots[i].1.get(index as usize - 1).copied();
        }
        core.log()
            .entry(index)
            .and_then(|e| decode_command(&e.command))
    }

    /// Commit and applied never move backwards, except that a crash falls back to the
    /// snapshot; the term never does; the service holds exactly what the core has applied.
    fn check_progress(&mut self, cluster: &Cluster, i: usize, out: &Outcome) -> Result<(), String> {
        let core = &cluster.cores[i];
        let applied = cluster.services[i].applied.len();
        if applied as u64 != core.last_applied() {
            return Err(format!(
                "S{i}: service applied {applied} entries, core says last_applied {}",
                core.last_applied()
            ));
        }
        if !out.crashed && (core.commit_index() < self.commit[i] || applied < self.applied[i]) {
            return Err(format!(
                "applied never regresses: S{i}: commit {} -> {} / applied {} -> {applied} moved backwards",
                self.commit[i],
                core.commit_index(),
                self.applied[i]
            ));
        }
        if core.current_term() < self.term[i] {
            return Err(format!(
                "S{i}: current term {} -> {} moved backwards",
                self.term[i],
                core.current_term()
            ));
        }
        self.commit[i] = core.commit_index();
        self.applied[i] = applied;
        self.term[i] = core.current_term();
        Ok(())
    }

    /// At most one leader per term (§5.2).
    fn check_election_safety(&mut self, core: &Core) -> Result<(), String> {
        if core.role() != Role::Leader {
            return Ok(());
        }
        let term = core.current_term() as usize;
        if self.leaders.len() <= term {
            self.leaders.resize(term + 1, None);
        }
        match self.leaders[term] {
            Some(other) if other != core.id() => Err(format!(
                "election safety: S{other} and S{} both lead term {term}",
                core.id()
            )),
            _ => {
                self.leaders[term] = Some(core.id());
                Ok(())
            }
        }
    }

    /// Every service applies, at each index, the value first applied there anywhere; the
    /// first apply of an index records it as committed, by a leader, in its current term.
    /// After a crash or a snapshot install the whole service state is compared.
    fn check_state_machine_safety(
        &mut self,
        cluster: &Cluster,
        i: usize,
        out: &Outcome,
        applied_before: usize,
    ) -> Result<(), String> {
        let applied = &cluster.services[i].applied;
        let from = if out.crashed || out.snapshot_applied {
            0
        } else {
            applied_before.min(applied.len())
        };
        let core = &cluster.cores[i];
        for (k, &value) in applied.iter().enumerate().skip(from) {
            match self.committed.get(k) {
                Some(c) if c.value != value => {
                    return Err(format!(
                        "state machine safety: S{i} applied {value} at index {}, another server applied {}",
                        k + 1,
                        c.value
                    ))
                }
                Some(_) => {}
                None => {
                    let index = k as u64 + 1;
                    // In a step (not a restore from a snapshot, whose values the server
                    // applied before), the first apply of an index is its commit.
                    if from > 0 && core.role() != Role::Leader {
                        return Err(format!(
                            "S{i}, not a leader, is the first to apply index {index}: it learned a commit no leader made"
                        ));
                    }
                    self.committed.push(Committed {
                        value,
                        term: core.log().term_at(index).unwrap_or(0),
                        commit_term: core.current_term(),
                    });
                }
            }
        }
        Ok(())
    }

    /// §7: the snapshot holds committed values only, a prefix of the committed history, with
    /// the committed entry's term at its last index, and is within the commit index.
    fn check_snapshot(&self, i: usize, core: &Core) -> Result<(), String> {
        let (index, values) = &self.snapshots[i];
        let n = *index as usize;
        let prefix = values.len() == n
            && n <= self.committed.len()
            && values
                .iter()
                .zip(&self.committed)
                .all(|(v, c)| *v == c.value);
        let term_ok = n == 0 || self.committed[n - 1].term == core.snapshot_term();
        if !prefix || !term_ok || *index > core.commit_index() {
            return Err(format!(
                "snapshot is committed prefix: S{i}'s snapshot at {index} (term {}) is not a committed prefix within commit {}",
                core.snapshot_term(),
                core.commit_index()
            ));
        }
        Ok(())
    }

    /// Log Matching (§5.3, Figure 3), the model's definition: the highest index where both
    /// logs hold the same term (a snapshot's last entry counts) anchors them; at every index
    /// up to it the terms agree where both know them, and the values agree.
    fn check_log_matching(&self, a: usize, ca: &Core, b: usize, cb: &Core) -> Result<(), String> {
        let last = ca.last_log_index().min(cb.last_log_index());
        let low = ca.snapshot_index().max(cb.snapshot_index());
        let Some(anchor) = (low.max(1)..=last).rev().find(|&k| {
            let t = ca.log().term_at(k);
            t.is_some() && t == cb.log().term_at(k)
        }) else {
            return Ok(());
        };
        // Up to the lower snapshot both servers hold snapshot values and (at that index)
        // the snapshot's term, and [`Checker::check_snapshot`] has checked each snapshot to
        // be a prefix of the committed values with the committed term: they agree there.
        // The comparison starts above it (same result, without the O(snapshot) walk).
        let both_snapshotted = ca.snapshot_index().min(cb.snapshot_index());
        for k in (both_snapshotted + 1..=anchor).rev() {
            let terms_agree = match (ca.log().term_at(k), cb.log().term_at(k)) {
                (Some(x), Some(y)) => x == y,
                _ => true,
            };
            if !terms_agree || self.value_at(a, ca, k) != self.value_at(b, cb, k) {
                return Err(format!(
                    "log matching: S{a} and S{b} agree on (index {anchor}, term {:?}) but differ at index {k}",
                    ca.log().term_at(anchor)
                ));
            }
        }
        Ok(())
    }

    /// Leader Completeness (§5.4, Figure 3), the model's definition: every index committed
    /// in a term before the leader's is held by it, in its log (same term and value) or in
    /// its snapshot (same value).
    fn check_leader_completeness(&self, i: usize, leader: &Core) -> Result<(), String> {
        let term = leader.current_term();
        // Below its snapshot index a leader holds its snapshot's values, checked to be the
        // committed ones ([`Checker::check_snapshot`]): held. The check starts there.
        let first = (leader.snapshot_index() as usize).saturating_sub(1);
        for (k, c) in self.committed.iter().enumerate().skip(first) {
            if c.commit_term >= term {
                continue;
            }
            let index = k as u64 + 1;
            let value = self.value_at(i, leader, index);
            let held = if index < leader.snapshot_index() {
                value == Some(c.value)
            } else {
                leader.log().term_at(index) == Some(c.term) && value == Some(c.value)
            };
            if !held {
                return Err(format!(
                    "leader completeness: leader S{i} of term {term} lacks index {index} ({} of term {}, committed in term {}), holds {value:?} of term {:?}",
                    c.value,
                    c.term,
                    c.commit_term,
                    leader.log().term_at(index)
                ));
            }
        }
        Ok(())
    }
}

/// `snapshot <= applied <= commit <= last log`, `snapshot <= durable <= last log`
/// (§10.2.1), and no entry of a future term.
fn check_bounds(core: &Core) -> Result<(), String> {
    let (s, a, c, l) = (
        core.snapshot_index(),
        core.last_applied(),
        core.commit_index(),
        core.last_log_index(),
    );
    if !(s <= a && a <= c && c <= l) {
        return Err(format!(
            "S{}: need snapshot {s} <= applied {a} <= commit {c} <= last {l}",
            core.id()
        ));
    }
    let d = core.durable_index();
    if !(s <= d && d <= l) {
        return Err(format!(
            "S{}: need snapshot {s} <= durable {d} <= last {l}",
            core.id()
        ));
    }
    if core.log().last_term() > core.current_term() {
        return Err(format!(
            "S{}: log holds a term after its current term",
            core.id()
        ));
    }
    Ok(())
}

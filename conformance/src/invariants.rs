//! The safety properties of Figure 3, checked on the real cores after every simulator step:
//! Election Safety, Log Matching, Leader Completeness, State Machine Safety, plus
//! `snapshot <= applied <= commit <= last log`, commit and applied never regressing, and the
//! service agreeing with the core. Commands are distinct (proposal numbers), so an entry is
//! identified by its command, and the history needed is small: the leader of each term and
//! the committed commands.

use raft_impl::core::{Core, Role};

use crate::cluster::{Cluster, Outcome};

/// History the checks need, kept across the steps of one run.
#[derive(Clone, Debug, Default)]
pub struct Checker {
    /// `leaders[t]`: the server elected in term `t`, if any yet.
    leaders: Vec<Option<usize>>,
    /// `committed[k]`: the command applied at index `k + 1` by whichever service first did,
    /// and that server's term then (an upper bound of the term the entry committed in:
    /// a follower learns a commit only from a leader of its own term).
    committed: Vec<(u32, u64)>,
    /// Per server: commit index and applied count after the last step.
    commit: Vec<u64>,
    applied: Vec<usize>,
}

impl Checker {
    pub fn new(servers: usize) -> Checker {
        Checker {
            leaders: Vec::new(),
            committed: Vec::new(),
            commit: vec![0; servers],
            applied: vec![0; servers],
        }
    }

    /// How many entries are known committed.
    pub fn committed_len(&self) -> usize {
        self.committed.len()
    }

    /// Checks the cluster after `outcome`; `Err` names the first broken property.
    pub fn check(&mut self, cluster: &Cluster, outcome: &Outcome) -> Result<(), String> {
        let Some(i) = outcome.server else {
            return Ok(());
        };
        let core = &cluster.cores[i];
        check_bounds(core)?;
        let applied_before = self.applied[i];
        self.check_progress(cluster, i, outcome)?;
        self.check_election_safety(core)?;
        self.check_state_machine_safety(cluster, i, outcome, applied_before)?;
        for j in (0..cluster.cores.len()).filter(|&j| j != i) {
            check_log_matching(core, &cluster.cores[j])?;
        }
        for leader in cluster.cores.iter().filter(|c| c.role() == Role::Leader) {
            self.check_leader_completeness(leader)?;
        }
        Ok(())
    }

    /// Commit and applied never move backwards, except that a crash falls back to the
    /// snapshot; the service holds exactly what the core has applied.
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
                "S{i}: commit {} -> {} / applied {} -> {applied} moved backwards",
                self.commit[i],
                core.commit_index(),
                self.applied[i]
            ));
        }
        self.commit[i] = core.commit_index();
        self.applied[i] = applied;
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

    /// Every service applies, at each index, the command first applied there anywhere.
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
        let term = cluster.cores[i].current_term();
        for (k, &value) in applied.iter().enumerate().skip(from) {
            match self.committed.get(k).map(|&(c, _)| c) {
                Some(c) if c != value => {
                    return Err(format!(
                        "state machine safety: S{i} applied {value} at index {}, another server applied {c}",
                        k + 1
                    ))
                }
                Some(_) => {}
                None => self.committed.push((value, term)),
            }
        }
        Ok(())
    }

    /// A leader's log holds every entry committed in an earlier term (§5.4; Figure 3).
    /// Entries in its snapshot are committed by construction.
    fn check_leader_completeness(&self, leader: &Core) -> Result<(), String> {
        let log = leader.log();
        let first = log.snapshot_index() as usize; // committed[first] is index first + 1.
        let term = leader.current_term();
        let earlier = self.committed.iter().enumerate().skip(first);
        for (k, &(value, _)) in earlier.filter(|(_, &(_, t))| t < term) {
            let index = k as u64 + 1;
            let held = log
                .entry(index)
                .and_then(|e| crate::service::decode_command(&e.command));
            if held != Some(value) {
                return Err(format!(
                    "leader completeness: leader S{} of term {} lacks committed index {index} ({value}), holds {held:?}",
                    leader.id(),
                    leader.current_term()
                ));
            }
        }
        Ok(())
    }
}

/// `snapshot <= applied <= commit <= last log`, and no entry of a future term.
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
    if core.log().last_term() > core.current_term() {
        return Err(format!(
            "S{}: log holds a term after its current term",
            core.id()
        ));
    }
    Ok(())
}

/// Log Matching (§5.3): if two logs have an entry with the same index and term, they are
/// identical up to that index. Compared where both logs still hold entries.
fn check_log_matching(a: &Core, b: &Core) -> Result<(), String> {
    let (la, lb) = (a.log(), b.log());
    let low = la.snapshot_index().max(lb.snapshot_index()) + 1;
    let high = la.last_index().min(lb.last_index());
    let mut matched = false;
    for index in (low..=high).rev() {
        let (ea, eb) = (la.entry(index), lb.entry(index));
        let (Some(ea), Some(eb)) = (ea, eb) else {
            continue;
        };
        matched |= ea.term == eb.term;
        if matched && ea != eb {
            return Err(format!(
                "log matching: S{} and S{} agree on a later (index, term) but differ at index {index}",
                a.id(),
                b.id()
            ));
        }
    }
    Ok(())
}

//! A service that misuses `snapshot` (§7). A service may only snapshot state it has applied,
//! past its current snapshot; a correct service (`Cluster::execute`) never does otherwise,
//! so without this the core's guard in `Core::compact` is never exercised. A real service
//! can have bugs, and then that guard is all that protects the log: here the simulated
//! service sometimes asks for an index at or below its snapshot, or past what it applied —
//! up to the commit index, up to the log's end, or beyond it — and the run counts how many
//! of these requests the core ignored. One it takes shows up as a broken
//! `snapshot <= applied` bound (the core's own `check_invariants` in debug builds, the
//! [`Checker`](crate::invariants::Checker) otherwise).

use rand::Rng;

use raft_impl::core::Input;

use super::Sim;
use crate::cluster::{Event, Outcome, Step};
use crate::service::encode_snapshot;

/// The bad snapshot requests of one run, by where the index lay when asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BadSnapshots {
    /// At or below the server's current snapshot (0 included).
    pub at_or_below_snapshot: usize,
    /// Past `last_applied`, at most the commit index.
    pub past_applied: usize,
    /// Past the commit index, at most the log's last index: what `SnapshotUncommitted` takes.
    pub past_commit: usize,
    /// Past the log's last index.
    pub past_log_end: usize,
    /// Requests after which the core's snapshot and disk were untouched.
    pub ignored: usize,
}

impl BadSnapshots {
    /// All requests made.
    pub fn issued(&self) -> usize {
        self.at_or_below_snapshot + self.past_applied + self.past_commit + self.past_log_end
    }

    /// Adds another run's counts.
    pub fn add(&mut self, other: &BadSnapshots) {
        self.at_or_below_snapshot += other.at_or_below_snapshot;
        self.past_applied += other.past_applied;
        self.past_commit += other.past_commit;
        self.past_log_end += other.past_log_end;
        self.ignored += other.ignored;
    }
}

impl Sim<'_> {
    /// A misusing service's request on a running server: a quarter of them at or below its
    /// snapshot, the rest past what it applied, at most two past the log's end.
    pub(super) fn bad_snapshot(&mut self) -> Option<Event> {
        let i = self.rng.gen_range(0..self.config.servers);
        if !self.cluster.up[i] {
            return None;
        }
        let core = &self.cluster.cores[i];
        let (snapshot, applied, last) = (
            core.snapshot_index(),
            core.last_applied(),
            core.last_log_index(),
        );
        let index = if self.rng.gen_ratio(1, 4) {
            self.rng.gen_range(0..=snapshot)
        } else {
            self.rng.gen_range(applied + 1..=last + 2)
        };
        self.bad_request = true;
        Some(Event::Snapshot(i, index))
    }

    /// Hands the request to the core with what the service holds up to `index` (a buggy
    /// service has nothing past what it applied), then does what `Cluster::handle_ready`
    /// would: persist. A snapshot request only compacts (§7), so a `Ready` that sends or
    /// applies anything is a broken contract.
    pub(super) fn execute_bad_snapshot(&mut self, i: usize, index: u64) -> Result<Outcome, String> {
        self.count_bad_snapshot(i, index);
        let before = self.cluster.cores[i].snapshot_index();
        let applied = &self.cluster.services[i].applied;
        let data = encode_snapshot(&applied[..applied.len().min(index as usize)]);
        let ready = self.cluster.cores[i].step(Input::Snapshot { index, data });
        if !ready.messages.is_empty() || !ready.applies.is_empty() {
            return Err(format!(
                "S{i}: a snapshot request at {index} sent or applied something"
            ));
        }
        let taken = self.cluster.cores[i].snapshot_index() != before;
        self.bad_snapshots.ignored += usize::from(!taken && ready.persist.is_none());
        if let Some(persist) = ready.persist {
            self.cluster.disks[i]
                .write(&persist)
                .map_err(|e| format!("S{i} persistence delta does not fit its disk: {e}"))?;
        }
        let mut outcome = Outcome {
            server: Some(i),
            ..Outcome::default()
        };
        if taken && self.cluster.config.record {
            // The model's Snapshot(i, index) disallows this index: the validator will say so.
            outcome.steps.push(Step::Snapshot(i, index));
        }
        Ok(outcome)
    }

    fn count_bad_snapshot(&mut self, i: usize, index: u64) {
        let core = &self.cluster.cores[i];
        let counts = &mut self.bad_snapshots;
        let class = if index <= core.snapshot_index() {
            &mut counts.at_or_below_snapshot
        } else if index <= core.commit_index() {
            &mut counts.past_applied
        } else if index <= core.last_log_index() {
            &mut counts.past_commit
        } else {
            &mut counts.past_log_end
        };
        *class += 1;
    }
}

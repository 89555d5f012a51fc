//! Model-driven tests, model -> impl: paths of the model replayed on a cluster of real
//! cores. From a model state `S` and a cluster whose mapped state is `S`, each action the
//! model enables is translated into the environment events that make the cores perform it
//! (a tick, a delivery, a proposal, …). The cores may do more in the same step than the
//! model's action (the compositions of `docs/conformance.md`); the recorded steps are
//! folded through the model, which must take the chosen action and reach exactly the
//! mapped state of the cores. Two explorations: every action from every model state
//! within a depth (bounded exhaustive) and random walks at the model's default bound.

use std::collections::HashSet;

use raft_model::{Action, ClusterState, Config, RaftModel};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use stateright::Model;

use crate::cluster::{Cluster, ClusterConfig, Delays, Event};
use crate::invariants::Checker;
use crate::mapping::{map_cluster, map_step, map_wire, Beyond};
use crate::validate::diff;

/// Cores that time out on every tick and, as leaders, send AppendEntries on every tick, so
/// that one tick is one `Timeout` or one round of `AppendEntries`.
pub fn drive_cluster_config(servers: usize) -> ClusterConfig {
    ClusterConfig {
        servers,
        election_timeout_min: 1,
        election_timeout_max: 1,
        heartbeat_interval: 1,
        // The shipped cap (512) is above any log the model can hold (indices are `u8`), so
        // the model's uncapped `max_entries_per_message: None` sends the same requests.
        max_entries_per_message: crate::cluster::shipped_max_entries(),
        // Figure 2's next_index, as in the model bounds these tests drive.
        max_inflight_appends: 1,
        delays: Delays::NONE,
        dedup: true,
        record: true,
        check_disk: true,
    }
}

/// The model's default bound, with dead-message pruning off (the cores' network keeps a
/// dead reply until it is delivered or lost).
pub fn default_bound() -> Config {
    Config {
        prune_dead_messages: false,
        ..Config::default()
    }
}

/// A small bound for the exhaustive exploration.
pub fn small_bound() -> Config {
    Config {
        max_term: 2,
        max_requests: 1,
        max_crashes: 1,
        max_snapshots: Some(1),
        max_inflight: Some(2),
        ..default_bound()
    }
}

/// A bound that reaches InstallSnapshot within a small depth: one election, two proposals,
/// one service snapshot, no crashes or duplicates.
pub fn snapshot_bound() -> Config {
    Config {
        max_term: 1,
        max_requests: 2,
        max_crashes: 0,
        duplicates: false,
        ..small_bound()
    }
}

/// A replay that went wrong.
#[derive(Clone, Debug)]
pub struct Mismatch {
    /// The model path replayed, up to and including the action that went wrong.
    pub path: Vec<Action>,
    /// What went wrong (a diff, a refused action, a broken invariant).
    pub why: String,
}

/// Totals.
#[derive(Clone, Debug, Default)]
pub struct DriveStats {
    /// Model actions chosen and replayed on the cores.
    pub replayed: u64,
    /// Model actions taken in total, including those the cores composed with them.
    pub model_actions: u64,
    /// Model states expanded (exhaustive) or walks completed (random).
    pub states: u64,
    /// Paths replayed (random walks) or leaves reached (exhaustive).
    pub paths: u64,
    /// Enabled actions with no core counterpart (BecomeLeader, AdvanceCommitIndex: the
    /// core takes them eagerly, so they should never be enabled after a replayed step).
    pub unreplayable: u64,
    /// Steps whose composition left the model's `u8` range (none expected at these bounds).
    pub beyond: u64,
    /// How often each model action was chosen and replayed.
    pub coverage: std::collections::BTreeMap<&'static str, u64>,
}

/// The model used to choose actions and the one used to fold the cores' composed steps:
/// the same bounds except messages in flight, since the cores' eager sends may exceed the
/// chosen bound (the exploration then continues only with actions that shrink the network).
pub struct Driver {
    /// The model whose enabled actions are chosen (the bound explored).
    pub choose: RaftModel,
    /// The model the cores' composed steps are folded through (no in-flight bound).
    pub fold: RaftModel,
}

impl Driver {
    /// A driver for the bound `config`.
    pub fn new(config: Config) -> Driver {
        let fold = RaftModel::new(Config {
            max_inflight: Some(u8::MAX),
            ..config.clone()
        });
        Driver {
            choose: RaftModel::new(config),
            fold,
        }
    }

    fn servers(&self) -> usize {
        usize::from(self.choose.config.servers)
    }

    /// A fresh cluster and the model's initial state (which must map onto each other).
    pub fn start(&self, seed: u64) -> Result<(Cluster, ClusterState), String> {
        let cluster = Cluster::new(drive_cluster_config(self.servers()), seed);
        let init = self.choose.init_states().remove(0);
        let mapped = map_cluster(&cluster, init.history.clone()).map_err(|b| b.0)?;
        if mapped != init {
            return Err(format!("initial states differ:\n{}", diff(&init, &mapped)));
        }
        Ok((cluster, init))
    }

    /// Replays `action` from `state` on `cluster`; returns the model's next state.
    pub fn replay(
        &self,
        state: &ClusterState,
        cluster: &mut Cluster,
        checker: &mut Checker,
        action: &Action,
        stats: &mut DriveStats,
    ) -> Result<ClusterState, String> {
        let mut steps = Vec::new();
        for event in self.events_for(cluster, action)? {
            let outcome = cluster.execute(&event)?;
            checker.check(cluster, &outcome)?;
            steps.extend(outcome.steps);
            if let Event::Tick(i) = event {
                self.keep_only_chosen_append(cluster, action, i, &mut steps)?;
            }
        }
        let actions = steps
            .iter()
            .map(map_step)
            .collect::<Result<Vec<_>, Beyond>>()
            .map_err(|b| b.0)?;
        let mut predicted = state.clone();
        let mut took_chosen = false;
        for a in &actions {
            if let Some(next) = self.fold.next_state(&predicted, a.clone()) {
                predicted = next;
                took_chosen |= a == action;
                stats.model_actions += 1;
            }
        }
        if !took_chosen {
            return Err(format!(
                "the cores' step {actions:?} does not include {action:?}"
            ));
        }
        let mapped = map_cluster(cluster, predicted.history.clone()).map_err(|b| b.0)?;
        if mapped != predicted {
            return Err(format!(
                "after {actions:?} the cores differ from the model:\n{}",
                diff(&predicted, &mapped)
            ));
        }
        stats.replayed += 1;
        *stats
            .coverage
            .entry(crate::mapping::action_name(action))
            .or_default() += 1;
        Ok(predicted)
    }

    /// The environment events that make the cores take `action`.
    fn events_for(&self, cluster: &Cluster, action: &Action) -> Result<Vec<Event>, String> {
        let find = |packet: &raft_model::Packet| -> Result<usize, String> {
            cluster
                .network
                .iter()
                .position(|m| {
                    map_wire(&crate::cluster::Wire {
                        from: m.from,
                        to: m.to,
                        message: m.message.clone(),
                    })
                    .is_ok_and(|p| p == *packet)
                })
                .ok_or_else(|| format!("{packet:?} is not in the cores' network"))
        };
        Ok(match action {
            Action::Timeout(i) | Action::AppendEntries(i, _) => vec![Event::Tick(i.index())],
            Action::RequestVote(i, j) => vec![Event::ResendVote(i.index(), j.index())],
            Action::ClientRequest(i, _) => vec![Event::Propose(i.index())],
            Action::Snapshot(i, index) => vec![Event::Snapshot(i.index(), u64::from(*index))],
            Action::Restart(i) => vec![Event::Crash(i.index()), Event::Restart(i.index())],
            Action::Sync(i) => vec![Event::Sync(i.index())],
            Action::Receive(p) => vec![Event::Deliver(find(p)?)],
            Action::Drop(p) => vec![Event::Drop(find(p)?)],
            Action::Duplicate(p) => vec![Event::Duplicate(find(p)?)],
            Action::BecomeLeader(_) | Action::AdvanceCommitIndex(_) => {
                return Err(format!("{action:?} has no core input"))
            }
        })
    }

    /// A leader's tick sends AppendEntries to every peer; for the model's single
    /// `AppendEntries(i, j)` the network loses the others (recorded as `Drop`s).
    fn keep_only_chosen_append(
        &self,
        cluster: &mut Cluster,
        action: &Action,
        i: usize,
        steps: &mut Vec<crate::cluster::Step>,
    ) -> Result<(), String> {
        let Action::AppendEntries(_, j) = action else {
            return Ok(());
        };
        let sent: usize = steps
            .iter()
            .filter(|s| matches!(s, crate::cluster::Step::AppendEntries(..)))
            .count();
        let len = cluster.network.len();
        // The sends that were not deduplicated are the last ones in the network.
        let new_from = len.saturating_sub(sent);
        for k in (new_from..len).rev() {
            let m = &cluster.network[k];
            if m.from == i && m.to != j.index() && m.deliver_at == cluster.now {
                let outcome = cluster.execute(&Event::Drop(k))?;
                steps.extend(outcome.steps);
            }
        }
        Ok(())
    }
}

/// Every enabled action from every model state reachable within `depth` actions (each
/// state expanded once), each replayed on a clone of the cores that reached it.
pub fn explore(config: Config, depth: usize, seed: u64) -> Result<DriveStats, Mismatch> {
    let driver = Driver::new(config);
    let mut stats = DriveStats::default();
    let (cluster, init) = driver.start(seed).map_err(|why| Mismatch {
        path: Vec::new(),
        why,
    })?;
    let mut seen = HashSet::new();
    seen.insert(init.clone());
    let checker = Checker::new(driver.servers());
    let mut frontier = vec![(init, cluster, checker, Vec::new())];
    for _ in 0..depth {
        let mut next_frontier = Vec::new();
        for (state, cluster, checker, path) in frontier {
            stats.states += 1;
            let actions = driver.choose.enabled_actions(&state);
            if actions.is_empty() {
                stats.paths += 1;
            }
            for action in actions {
                if matches!(
                    action,
                    Action::BecomeLeader(_) | Action::AdvanceCommitIndex(_)
                ) {
                    stats.unreplayable += 1;
                    continue;
                }
                let (mut c, mut k) = (cluster.clone(), checker.clone());
                let mut p: Vec<Action> = path.clone();
                p.push(action.clone());
                let next = driver
                    .replay(&state, &mut c, &mut k, &action, &mut stats)
                    .map_err(|why| Mismatch {
                        path: p.clone(),
                        why,
                    })?;
                if seen.insert(next.clone()) {
                    next_frontier.push((next, c, k, p));
                }
            }
        }
        frontier = next_frontier;
    }
    stats.paths += frontier.len() as u64;
    Ok(stats)
}

/// `walks` random walks of up to `length` actions, uniformly among the enabled ones.
pub fn random_walks(
    config: Config,
    walks: u64,
    length: usize,
    seed: u64,
) -> Result<DriveStats, Mismatch> {
    let driver = Driver::new(config);
    let mut stats = DriveStats::default();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for walk in 0..walks {
        let (mut cluster, mut state) = driver.start(seed ^ walk).map_err(|why| Mismatch {
            path: Vec::new(),
            why,
        })?;
        let mut checker = Checker::new(driver.servers());
        let mut path = Vec::new();
        for _ in 0..length {
            let actions: Vec<Action> = driver
                .choose
                .enabled_actions(&state)
                .into_iter()
                .filter(|a| {
                    let eager =
                        matches!(a, Action::BecomeLeader(_) | Action::AdvanceCommitIndex(_));
                    stats.unreplayable += u64::from(eager);
                    !eager
                })
                .collect();
            if actions.is_empty() {
                break;
            }
            let action = actions[rng.gen_range(0..actions.len())].clone();
            path.push(action.clone());
            state = driver
                .replay(&state, &mut cluster, &mut checker, &action, &mut stats)
                .map_err(|why| Mismatch {
                    path: path.clone(),
                    why,
                })?;
        }
        stats.paths += 1;
    }
    Ok(stats)
}

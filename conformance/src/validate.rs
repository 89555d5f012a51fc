//! Trace validation, impl -> model: a simulator run's events, each recorded as the model
//! action(s) it amounts to, replayed through the model's pure `next_state`. For every event
//! the model, from the previous mapped state, must reach *exactly* the next mapped state.
//! A composed action the model declines (`next_state` is `None`: a re-send of a message
//! already in flight, a restart that loses nothing) is a stutter; the state comparison
//! after the whole composition is what decides.

use std::collections::BTreeMap;
use std::fmt::Write;

use raft_model::{Action, ClusterState, Config, RaftModel, ServerState};
use stateright::Model;

use crate::cluster::{Cluster, Event, Outcome};
use crate::mapping::{action_name, map_cluster, map_step, Beyond};
use crate::sim::{run, SimConfig, Violation};

/// A model configuration that admits every trace the mapping can represent: the bounds
/// on crashes, proposals, snapshots and messages are lifted to the `u8` range.
pub fn unbounded_model(servers: usize) -> RaftModel {
    RaftModel::new(Config {
        servers: servers as u8,
        max_term: crate::mapping::MAX_TERM as u8,
        max_requests: crate::mapping::MAX_INDEX as u8,
        max_crashes: u8::MAX,
        max_snapshots: None,
        max_inflight: Some(u8::MAX),
        snapshots: true,
        duplicates: true,
        drops: true,
        bug: None,
        // The cores' network holds dead replies until delivered or lost; so must the model's.
        prune_dead_messages: false,
    })
}

/// The first event at which the model and the cores part ways.
#[derive(Clone, Debug)]
pub struct Divergence {
    pub seed: u64,
    pub event_number: usize,
    pub event: Event,
    pub actions: Vec<Action>,
    pub diff: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "seed {} event {} {:?}: model actions {:?} do not reach the cores' state",
            self.seed, self.event_number, self.event, self.actions
        )?;
        write!(f, "{}", self.diff)
    }
}

/// Totals over validated traces.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub traces: u64,
    /// Simulator events checked against the model.
    pub events: u64,
    /// Model actions the model took (`next_state` returned a state).
    pub actions: u64,
    /// Traces whose validation stopped early because a value left the model's bounds.
    pub truncated: u64,
    /// Why they stopped: the kind of value (`term`, `index`, `command`, …) that left.
    pub truncated_by: BTreeMap<String, u64>,
    /// How often each model action occurred in validated traces.
    pub coverage: BTreeMap<&'static str, u64>,
    /// How often each multi-action composition occurred (names joined by `+`).
    pub compositions: BTreeMap<String, u64>,
}

/// Why a trace was not fully validated.
#[derive(Clone, Debug)]
pub enum Failure {
    Divergence(Box<Divergence>),
    Violation(Violation),
}

/// Validates one simulator run. Returns `Ok` also for a truncated trace (counted).
pub fn validate_seed(seed: u64, config: &SimConfig, stats: &mut Stats) -> Result<(), Failure> {
    assert!(
        config.validate,
        "trace validation needs recording and dedup"
    );
    let model = unbounded_model(config.servers);
    let mut state = model.init_states().remove(0);
    let mut failure = None;
    let mut truncated = false;
    let result = run(
        seed,
        config,
        &mut |number, cluster, event, outcome| match check_event(
            &model, &state, cluster, outcome, stats,
        ) {
            Ok(next) => {
                state = next;
                stats.events += 1;
                true
            }
            Err(StepError::Beyond(Beyond(why))) => {
                let kind = why.split(' ').next().unwrap_or_default().to_string();
                *stats.truncated_by.entry(kind).or_default() += 1;
                truncated = true;
                false
            }
            Err(StepError::Diverged(actions, diff)) => {
                failure = Some(Divergence {
                    seed,
                    event_number: number,
                    event: event.clone(),
                    actions,
                    diff,
                });
                false
            }
        },
    );
    stats.traces += 1;
    stats.truncated += u64::from(truncated);
    if let Some(v) = result.violation {
        return Err(Failure::Violation(v));
    }
    match failure {
        Some(d) => Err(Failure::Divergence(Box::new(d))),
        None => Ok(()),
    }
}

/// Why an event could not be validated.
#[derive(Debug)]
pub enum StepError {
    Beyond(Beyond),
    Diverged(Vec<Action>, String),
}

impl From<Beyond> for StepError {
    fn from(b: Beyond) -> Self {
        StepError::Beyond(b)
    }
}

/// One event: fold its actions through the model, compare with the mapped cluster.
pub fn check_event(
    model: &RaftModel,
    before: &ClusterState,
    cluster: &Cluster,
    outcome: &Outcome,
    stats: &mut Stats,
) -> Result<ClusterState, StepError> {
    let actions = outcome
        .steps
        .iter()
        .map(map_step)
        .collect::<Result<Vec<_>, Beyond>>()?;
    let mut predicted = before.clone();
    let mut taken = Vec::new();
    for action in &actions {
        if let Some(next) = model.next_state(&predicted, action.clone()) {
            predicted = next;
            taken.push(action_name(action));
        }
    }
    let actual = map_cluster(cluster, predicted.history.clone())?;
    if actual != predicted {
        return Err(StepError::Diverged(actions, diff(&predicted, &actual)));
    }
    if predicted.history.violations != 0 {
        let why = format!(
            "model history flags violations {:#b}",
            predicted.history.violations
        );
        return Err(StepError::Diverged(actions, why));
    }
    stats.actions += taken.len() as u64;
    for name in &taken {
        *stats.coverage.entry(name).or_default() += 1;
    }
    if taken.len() > 1 {
        *stats.compositions.entry(taken.join(" + ")).or_default() += 1;
    }
    Ok(actual)
}

/// A field-by-field diff of the model's prediction and the mapped cores.
pub fn diff(expected: &ClusterState, actual: &ClusterState) -> String {
    let mut out = String::new();
    for (i, (e, a)) in expected.servers.iter().zip(&actual.servers).enumerate() {
        server_diff(i, e, a, &mut out);
    }
    for (p, n) in &expected.network.in_flight {
        let m = actual.network.copies_of(p);
        if m != *n {
            let _ = writeln!(out, "  network {p:?}: model {n} copies, cores {m}");
        }
    }
    for (p, n) in &actual.network.in_flight {
        if expected.network.copies_of(p) == 0 {
            let _ = writeln!(out, "  network {p:?}: model 0 copies, cores {n}");
        }
    }
    out
}

fn server_diff(i: usize, e: &ServerState, a: &ServerState, out: &mut String) {
    let mut field = |name: &str, x: String, y: String| {
        if x != y {
            let _ = writeln!(out, "  S{} {name}: model {x}, cores {y}", i + 1);
        }
    };
    // Every field of the model's server state, in its declaration order.
    macro_rules! fields {
        ($($name:ident),*) => {
            $(field(stringify!($name), format!("{:?}", e.$name), format!("{:?}", a.$name));)*
        };
    }
    fields!(current_term, voted_for, log);
    field(
        "snapshot",
        format!(
            "({}, {}, {:?})",
            e.snapshot.last_included_index, e.snapshot.last_included_term, e.snapshot.data
        ),
        format!(
            "({}, {}, {:?})",
            a.snapshot.last_included_index, a.snapshot.last_included_term, a.snapshot.data
        ),
    );
    fields!(
        role,
        commit_index,
        last_applied,
        votes_granted,
        next_index,
        match_index,
        applied
    );
}

//! Trace validation, impl -> model: a simulator run's events, each recorded as the model
//! action(s) it amounts to, replayed through the model's pure `next_state`. For every event
//! the model, from the previous mapped state, must reach *exactly* the next mapped state.
//! A composed action the model declines (`next_state` is `None`: a re-send of a message
//! already in flight, a restart that loses nothing) is a stutter; the state comparison
//! after the whole composition is what decides.
//!
//! Every model state a validated trace passes through (each action's result, not only the
//! state after a whole event) is also checked against the model's own `always` properties
//! (`RaftModel::properties`, the Figure 3 properties and those of §7), so validation is a
//! safety check of the implementation with no bound on the run's length.

use std::collections::BTreeMap;
use std::fmt::Write;

use raft_model::{Action, ClusterState, Config, RaftModel, ServerState};
use stateright::{Expectation, Model, Property};

use crate::cluster::{Cluster, ClusterConfig, Event, Outcome, Step};
use crate::mapping::{action_name, map_cluster, map_step, Beyond};
use crate::sim::{run, SimConfig, Violation};

/// The model's `max_entries_per_message` for the cores' cap: the same number, or `None`
/// when the cap exceeds what a model message can carry (indices are `u8`, so no model log
/// holds more than [`crate::mapping::MAX_INDEX`] entries and the cap can never bind).
pub fn model_batch_cap(cores_cap: usize) -> Option<u8> {
    u8::try_from(cores_cap).ok()
}

/// A model configuration that admits every trace the mapping can represent: the bounds
/// on crashes, proposals, snapshots and messages are lifted to the `u8` range; the leader
/// sends the capped prefix the cores of `cluster` send.
pub fn unbounded_model(cluster: &ClusterConfig) -> RaftModel {
    let servers = cluster.servers;
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
        max_entries_per_message: model_batch_cap(cluster.max_entries_per_message),
        // The cores' storage has a durable prefix (§10.2.1): a leader's proposal is
        // unsynced until the harness syncs it (`Sync`), and a crash loses what was not.
        durable_prefix: true,
        // Cores with a window above one advance next_index on send (rule L5).
        pipelined: cluster.max_inflight_appends > 1,
    })
}

/// The model's `always` properties, evaluated by their own `condition` on every validated
/// state.
pub fn always_properties(model: &RaftModel) -> Vec<Property<RaftModel>> {
    model
        .properties()
        .into_iter()
        .filter(|p| p.expectation == Expectation::Always)
        .collect()
}

/// The first event at which the model and the cores part ways.
#[derive(Clone, Debug)]
pub struct Divergence {
    /// The trace's seed.
    pub seed: u64,
    /// The event's number in the trace, from 0.
    pub event_number: usize,
    /// The simulator event.
    pub event: Event,
    /// The model actions it was recorded as.
    pub actions: Vec<Action>,
    /// The fields where model and cores differ (or the property that fails).
    pub diff: String,
    /// The model's `always` property that fails in a state the trace reached (the cores
    /// and the model agree on that state: the implementation broke the property), if that
    /// is the failure rather than a difference of states.
    pub property: Option<&'static str>,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.property {
            Some(p) => writeln!(
                f,
                "seed {} event {} {:?}: model actions {:?} reach the cores' state, where the model's property {p} fails",
                self.seed, self.event_number, self.event, self.actions
            )?,
            None => writeln!(
                f,
                "seed {} event {} {:?}: model actions {:?} do not reach the cores' state",
                self.seed, self.event_number, self.event, self.actions
            )?,
        }
        write!(f, "{}", self.diff)
    }
}

/// Totals over validated traces.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Traces validated (fully or up to a failure or truncation).
    pub traces: u64,
    /// Simulator events checked against the model.
    pub events: u64,
    /// Model actions the model took (`next_state` returned a state).
    pub actions: u64,
    /// Model states checked against every `always` property of the model (one per action
    /// taken, plus the initial state of each trace).
    pub states_checked: u64,
    /// Re-sends of a message already in flight, validated as the model's `Duplicate`.
    pub resends: u64,
    /// `AppendEntries` actions whose request the batch cap cut short (the leader had more
    /// entries from `next_index` than `max_entries_per_message`).
    pub capped: u64,
    /// `AppendEntries` actions that advanced the leader's `next_index` on send (rule L5,
    /// pipelined cores only).
    pub optimistic: u64,
    /// Of those, the ones sent while an earlier AppendEntries with entries from the same
    /// leader to the same follower was still in flight (requests really pipelined).
    pub overlapping: u64,
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
    /// The model disagrees with the cores, or a state breaks the model's properties.
    Divergence(Box<Divergence>),
    /// The simulator's invariant checker (or a core contract) failed first.
    Violation(Violation),
}

/// Validates one simulator run. Returns `Ok` also for a truncated trace (counted in
/// `stats`; the tests fail on any).
pub fn validate_seed(seed: u64, config: &SimConfig, stats: &mut Stats) -> Result<(), Failure> {
    let model = unbounded_model(&config.cluster_config());
    validate_seed_against(seed, config, &model, stats)
}

/// [`validate_seed`] against a given model (for instance one with a bug variant, to show
/// that a trace the model follows step by step is still checked against its properties).
pub fn validate_seed_against(
    seed: u64,
    config: &SimConfig,
    model: &RaftModel,
    stats: &mut Stats,
) -> Result<(), Failure> {
    assert!(config.validate, "trace validation needs recording");
    let model = model.clone();
    let mut state = model.init_states().remove(0);
    let mut failure = None;
    let mut truncated = false;
    if let Some(p) = failing_property(&model, &state) {
        panic!("the model's initial state breaks its own property {p}");
    }
    stats.states_checked += 1;
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
                    property: None,
                });
                false
            }
            Err(StepError::Unsafe(actions, property, at)) => {
                failure = Some(Divergence {
                    seed,
                    event_number: number,
                    event: event.clone(),
                    diff: format!(
                        "  the model's always property {property} fails after action {} of {}\n",
                        at + 1,
                        actions.len()
                    ),
                    actions,
                    property: Some(property),
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
    /// A value left what the model can represent.
    Beyond(Beyond),
    /// The model, told the event's actions, does not reach the cores' state: the actions
    /// and a field-by-field diff.
    Diverged(Vec<Action>, String),
    /// The states agree, but a state on the way (after action number `.2`, counting from
    /// 0) breaks the model's `always` property `.1`.
    Unsafe(Vec<Action>, &'static str, usize),
}

/// The first `always` property of `model` that fails in `state`, if any.
pub fn failing_property(model: &RaftModel, state: &ClusterState) -> Option<&'static str> {
    always_properties(model)
        .into_iter()
        .find(|p| !(p.condition)(model, state))
        .map(|p| p.name)
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
    // Every state on the way is checked against the properties; a failure is reported once
    // the whole event is known to match the cores (otherwise the difference is reported).
    let properties = always_properties(model);
    let mut unsafe_at = None;
    let mut visited = 0;
    for (k, (action, step)) in actions.iter().zip(&outcome.steps).enumerate() {
        if let Some(next) = model.next_state(&predicted, action.clone()) {
            stats.capped += u64::from(cut_short(model, &predicted, action));
            if let Action::AppendEntries(i, j) = action {
                let (before, after) = (&predicted.servers[i.index()], &next.servers[i.index()]);
                if before.next_index.get(j.index()) != after.next_index.get(j.index()) {
                    stats.optimistic += 1;
                    stats.overlapping += u64::from(predicted.network.packets().any(|p| {
                        p.src == *i
                            && p.dst == *j
                            && matches!(&p.msg, raft_model::Message::AppendEntries { entries, .. } if !entries.is_empty())
                    }));
                }
            }
            predicted = next;
            taken.push(match step {
                Step::Resend(_) => "Duplicate(re-send)",
                _ => action_name(action),
            });
            visited += 1;
            if unsafe_at.is_none() {
                unsafe_at = properties
                    .iter()
                    .find(|p| !(p.condition)(model, &predicted))
                    .map(|p| (k, p.name));
            }
        }
    }
    let actual = map_cluster(cluster, predicted.history.clone())?;
    if actual != predicted {
        return Err(StepError::Diverged(actions, diff(&predicted, &actual)));
    }
    if let Some((k, property)) = unsafe_at {
        return Err(StepError::Unsafe(actions, property, k));
    }
    stats.states_checked += visited;
    if predicted.history.violations != 0 {
        let why = format!(
            "model history flags violations {:#b}",
            predicted.history.violations
        );
        return Err(StepError::Diverged(actions, why));
    }
    stats.actions += taken.len() as u64;
    for name in &taken {
        if *name == "Duplicate(re-send)" {
            stats.resends += 1;
        } else {
            *stats.coverage.entry(name).or_default() += 1;
        }
    }
    if taken.len() > 1 {
        *stats.compositions.entry(taken.join(" + ")).or_default() += 1;
    }
    Ok(actual)
}

/// Whether `action` is an `AppendEntries` whose entries the model's batch cap cuts short.
fn cut_short(model: &RaftModel, state: &ClusterState, action: &Action) -> bool {
    let (Action::AppendEntries(i, j), Some(cap)) = (action, model.config.max_entries_per_message)
    else {
        return false;
    };
    let s = &state.servers[i.index()];
    let next = s.next_index[j.index()];
    next > s.snapshot.last_included_index && s.entries_from(next).len() > usize::from(cap)
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
    fields!(durable_index);
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

//! Running the checker and summarising the run honestly: a run is EXHAUSTIVE only if every
//! reachable state within the bounds was visited. A timeout, or stopping at the first
//! violation, leaves it INCOMPLETE, and an incomplete run never reports PASS.

use crate::model::{Action, RaftModel};
use crate::state::ClusterState;
use stateright::{Checker, Expectation, HasDiscoveries, Model, Path};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Search order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Depth first; honours symmetry reduction.
    Dfs,
    /// Breadth first; finds shortest counterexamples, ignores symmetry.
    Bfs,
}

/// When to stop before exhausting the space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopWhen {
    /// At the first violated `always` property.
    AnyViolation,
    /// When this property has a discovery (used to look for one bug's consequence).
    Found(&'static str),
}

/// How to run a check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub threads: usize,
    pub strategy: Strategy,
    pub symmetry: bool,
    pub timeout: Option<Duration>,
    pub stop_when: StopWhen,
    /// Print a progress line to stderr this often.
    pub progress_every: Option<Duration>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            threads: 2,
            strategy: Strategy::Dfs,
            symmetry: true,
            timeout: None,
            stop_when: StopWhen::AnyViolation,
            progress_every: None,
        }
    }
}

/// Whether the run visited every reachable state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    Exhaustive,
    Incomplete(String),
}

/// A property's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `always`, no counterexample, run exhaustive.
    Pass,
    /// `always`, counterexample found.
    Fail,
    /// `sometimes`, example found.
    Reached,
    /// `sometimes`, not found although the run was exhaustive: a failure.
    NotReached,
    /// No counterexample or example found, but the run was incomplete.
    Unknown,
}

/// One property's result, with the path that shows it (if any).
#[derive(Clone, Debug)]
pub struct PropertyResult {
    pub name: &'static str,
    pub expectation: Expectation,
    pub verdict: Verdict,
    pub path: Option<Vec<(ClusterState, Option<Action>)>>,
    /// Action indices for the explorer: open `http://ADDR/#/steps/<explorer_path>`.
    pub explorer_path: Option<String>,
}

/// The outcome of a run.
#[derive(Clone, Debug)]
pub struct CheckReport {
    pub completion: Completion,
    pub properties: Vec<PropertyResult>,
    pub unique_states: usize,
    pub total_states: usize,
    pub max_depth: usize,
    pub elapsed: Duration,
}

impl CheckReport {
    /// All `always` pass, every `sometimes` reached, and the run was exhaustive.
    pub fn all_hold(&self) -> bool {
        self.completion == Completion::Exhaustive
            && self
                .properties
                .iter()
                .all(|p| matches!(p.verdict, Verdict::Pass | Verdict::Reached))
    }

    /// Some property failed (a counterexample, or an unreached `sometimes` in an exhaustive run).
    pub fn any_failure(&self) -> bool {
        self.properties
            .iter()
            .any(|p| matches!(p.verdict, Verdict::Fail | Verdict::NotReached))
    }

    pub fn property(&self, name: &str) -> Option<&PropertyResult> {
        self.properties.iter().find(|p| p.name == name)
    }

    pub fn states_per_second(&self) -> f64 {
        self.unique_states as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs the checker on `model` and waits for it (or for the timeout).
pub fn run(model: RaftModel, options: &CheckOptions) -> CheckReport {
    let finish = match &options.stop_when {
        StopWhen::AnyViolation => HasDiscoveries::AnyFailures,
        StopWhen::Found(name) => HasDiscoveries::AnyOf(BTreeSet::from([*name])),
    };
    let mut builder = model
        .checker()
        .threads(options.threads.max(1))
        .finish_when(finish);
    if let Some(timeout) = options.timeout {
        builder = builder.timeout(timeout);
    }
    match options.strategy {
        Strategy::Dfs if options.symmetry => drive(builder.symmetry().spawn_dfs(), options),
        Strategy::Dfs => drive(builder.spawn_dfs(), options),
        Strategy::Bfs => drive(builder.spawn_bfs(), options),
    }
}

fn drive<C: Checker<RaftModel>>(mut checker: C, options: &CheckOptions) -> CheckReport {
    let start = Instant::now();
    let handles = checker.handles();
    let mut last_progress = Instant::now();
    let mut timed_out = false;
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(20));
        if let Some(every) = options.progress_every {
            if last_progress.elapsed() >= every {
                last_progress = Instant::now();
                eprintln!(
                    "  … {} unique states, {} total, depth {}, {:.0} states/s, {:.0}s",
                    checker.unique_state_count(),
                    checker.state_count(),
                    checker.max_depth(),
                    checker.unique_state_count() as f64 / start.elapsed().as_secs_f64(),
                    start.elapsed().as_secs_f64()
                );
            }
        }
        // stateright honours its timeout only between work batches (never with one thread):
        // stop waiting a little after it and report the run as incomplete.
        if let Some(timeout) = options.timeout {
            if start.elapsed() > timeout + Duration::from_secs(2) {
                timed_out = true;
                break;
            }
        }
    }
    if !timed_out {
        for h in handles {
            let _ = h.join();
        }
    }
    let elapsed = start.elapsed();
    if let Some(timeout) = options.timeout {
        timed_out |= elapsed >= timeout;
    }
    summarise(&checker, options, elapsed, timed_out)
}

fn summarise<C: Checker<RaftModel>>(
    checker: &C,
    options: &CheckOptions,
    elapsed: Duration,
    timed_out: bool,
) -> CheckReport {
    let model = checker.model();
    let discoveries = checker.discoveries();
    let stopped_early = match &options.stop_when {
        StopWhen::AnyViolation => model
            .properties()
            .iter()
            .any(|p| p.expectation != Expectation::Sometimes && discoveries.contains_key(p.name)),
        StopWhen::Found(name) => discoveries.contains_key(name),
    };
    let completion = if timed_out {
        Completion::Incomplete(format!("timeout after {}s", elapsed.as_secs()))
    } else if stopped_early {
        Completion::Incomplete("stopped at the first violation".to_string())
    } else {
        Completion::Exhaustive
    };
    let exhaustive = completion == Completion::Exhaustive;
    let properties = model
        .properties()
        .into_iter()
        .map(|p| {
            let found: Option<Path<ClusterState, Action>> = discoveries.get(p.name).cloned();
            let verdict = match (&p.expectation, found.is_some(), exhaustive) {
                (Expectation::Sometimes, true, _) => Verdict::Reached,
                (Expectation::Sometimes, false, true) => Verdict::NotReached,
                (_, true, _) => Verdict::Fail,
                (_, false, true) => Verdict::Pass,
                (_, false, false) => Verdict::Unknown,
            };
            let explorer_path = found.as_ref().map(|path| path.encode(model));
            PropertyResult {
                name: p.name,
                expectation: p.expectation,
                verdict,
                path: found.map(Path::into_vec),
                explorer_path,
            }
        })
        .collect();
    CheckReport {
        completion,
        properties,
        unique_states: checker.unique_state_count(),
        total_states: checker.state_count(),
        max_depth: checker.max_depth(),
        elapsed,
    }
}

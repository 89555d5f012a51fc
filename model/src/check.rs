//! Running the checker and summarising the run honestly: a run is EXHAUSTIVE only if every
//! reachable state within the bounds was visited. A timeout, a panicking checker thread, or
//! stopping at the first violation leaves it INCOMPLETE, and an incomplete run never reports
//! PASS. A counterexample is a fact whatever else happened, so a run that found one is FAIL.
//!
//! Three entry points:
//! - [`run`] checks one bound of the Raft model ([`run_model`] any stateright model, which is
//!   how the tests make a checker thread panic);
//! - [`run_portfolio`] checks a list of bounds one after the other, as `raft-model check`
//!   does with no bound flag (the default portfolio, [`crate::portfolio::default_portfolio`]);
//! - [`refuse_vacuous`] refuses a bound under which the protocol cannot move, before any run.
//!
//! Every run has an [`Outcome`] with its exit code: 0 PASS, 1 FAIL, 3 INCOMPLETE (2 is the
//! command line's usage error).

use crate::model::{Action, RaftModel};
use crate::portfolio::Bound;
use crate::state::ClusterState;
use stateright::{Checker, Expectation, HasDiscoveries, Model, Path, Representative};
use std::collections::{BTreeSet, HashSet, VecDeque};
use std::fmt::{self, Debug};
use std::hash::Hash;
use std::thread::JoinHandle;
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
    /// Checker threads (at least 1).
    pub threads: usize,
    /// Depth first (with symmetry) or breadth first.
    pub strategy: Strategy,
    /// Symmetry reduction over server ids; only depth-first search honours it.
    pub symmetry: bool,
    /// Stop after this long, counted from before the checker threads are spawned; the run is
    /// then INCOMPLETE. In a portfolio run it is the budget of the whole portfolio.
    pub timeout: Option<Duration>,
    /// When to stop before the space is exhausted.
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
    /// Every reachable state within the bounds was visited.
    Exhaustive,
    /// The run was cut short; the reason says how (timeout, panic, first violation, …).
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

impl Verdict {
    /// The plain token used in JSON reports: `pass`, `fail`, `reached`, `not_reached`,
    /// `unknown`.
    pub fn token(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Reached => "reached",
            Verdict::NotReached => "not_reached",
            Verdict::Unknown => "unknown",
        }
    }
}

/// The verdict of a whole run (one bound or a portfolio), with its exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exhaustive, every `always` property holds and every `sometimes` was reached.
    Pass,
    /// A counterexample to an `always` property, or an exhaustive run that never reached a
    /// `sometimes` property (the bound or the model is vacuous there).
    Fail,
    /// No failure found, but the run did not visit every state; the reason says why.
    Incomplete(String),
}

impl Outcome {
    /// The process exit code: 0 PASS, 1 FAIL, 3 INCOMPLETE (2 is a usage error).
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Pass => 0,
            Outcome::Fail => 1,
            Outcome::Incomplete(_) => 3,
        }
    }

    /// The plain token used in JSON reports: `pass`, `fail` or `incomplete`.
    pub fn token(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Incomplete(_) => "incomplete",
        }
    }
}

/// One property's result, with the path that shows it (if any).
#[derive(Clone, Debug)]
pub struct PropertyResult<S = ClusterState, A = Action> {
    /// The property's name (see `properties.rs`).
    pub name: &'static str,
    /// `always` or `sometimes`.
    pub expectation: Expectation,
    /// What the run established about it.
    pub verdict: Verdict,
    /// The counterexample (for `always`) or example (for `sometimes`), from the initial
    /// state; each state is paired with the action taken from it (`None` for the last).
    pub path: Option<Vec<(S, Option<A>)>>,
    /// Action indices for the explorer: open `http://ADDR/#/steps/<explorer_path>`.
    pub explorer_path: Option<String>,
}

/// The outcome of a run.
#[derive(Clone, Debug)]
pub struct CheckReport<S = ClusterState, A = Action> {
    /// Whether every reachable state was visited.
    pub completion: Completion,
    /// One entry per property of the model, in the model's order.
    pub properties: Vec<PropertyResult<S, A>>,
    /// Distinct states visited (representatives, with symmetry reduction).
    pub unique_states: usize,
    /// States generated, repeats included.
    pub total_states: usize,
    /// The deepest path explored.
    pub max_depth: usize,
    /// Wall time, from before the checker threads were spawned.
    pub elapsed: Duration,
}

impl<S, A> CheckReport<S, A> {
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

    /// The result of the property called `name`.
    pub fn property(&self, name: &str) -> Option<&PropertyResult<S, A>> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// The names of the failed properties, in the model's order.
    pub fn failed(&self) -> Vec<&'static str> {
        self.properties
            .iter()
            .filter(|p| matches!(p.verdict, Verdict::Fail | Verdict::NotReached))
            .map(|p| p.name)
            .collect()
    }

    /// Unique states per second of wall time.
    pub fn states_per_second(&self) -> f64 {
        self.unique_states as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The run's verdict: FAIL on any failure (a counterexample stands even in a run cut
    /// short), else PASS only if the run was exhaustive, else INCOMPLETE.
    pub fn outcome(&self) -> Outcome {
        if self.any_failure() {
            Outcome::Fail
        } else if let Completion::Incomplete(why) = &self.completion {
            Outcome::Incomplete(why.clone())
        } else {
            debug_assert!(self.all_hold());
            Outcome::Pass
        }
    }
}

/// Runs the checker on `model` and waits for it (or for the timeout, or for a checker
/// thread that panics).
pub fn run(model: RaftModel, options: &CheckOptions) -> CheckReport {
    run_model(model, options)
}

/// [`run`] for any stateright model whose state has a symmetry representative.
///
/// Worker threads are not always joined: after a timeout they may still be finishing a
/// batch, and after one thread panics the others can wait forever for its work. A process
/// that must not keep them should exit once it has the report (the CLI does).
pub fn run_model<M>(model: M, options: &CheckOptions) -> CheckReport<M::State, M::Action>
where
    M: Model + Send + Sync + 'static,
    M::State: Hash + Debug + Clone + PartialEq + Send + Sync + Representative + 'static,
    M::Action: Debug + Clone + PartialEq,
{
    // The clock starts before the threads: spawning (initial states, the first batch) is
    // part of the run a timeout bounds.
    let start = Instant::now();
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
        Strategy::Dfs if options.symmetry => drive(builder.symmetry().spawn_dfs(), options, start),
        Strategy::Dfs => drive(builder.spawn_dfs(), options, start),
        Strategy::Bfs => drive(builder.spawn_bfs(), options, start),
    }
}

/// How the wait for the checker threads ended.
enum Ending {
    Finished,
    TimedOut,
    Panicked(String),
}

fn drive<M, C>(
    mut checker: C,
    options: &CheckOptions,
    start: Instant,
) -> CheckReport<M::State, M::Action>
where
    M: Model,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq,
    C: Checker<M>,
{
    let mut handles: Vec<Option<JoinHandle<()>>> =
        checker.handles().into_iter().map(Some).collect();
    let mut last_progress = Instant::now();
    let ending = loop {
        if let Some(message) = join_finished(&mut handles) {
            break Ending::Panicked(message);
        }
        if handles.iter().all(Option::is_none) {
            break Ending::Finished;
        }
        // stateright honours its timeout only between work batches (never with one thread):
        // stop waiting a little after it and report the run as incomplete.
        if let Some(timeout) = options.timeout {
            if start.elapsed() > timeout + Duration::from_secs(2) {
                break Ending::TimedOut;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
        if let Some(every) = options.progress_every {
            if last_progress.elapsed() >= every {
                last_progress = Instant::now();
                let secs = start.elapsed().as_secs_f64();
                eprintln!(
                    "  … {} unique states, {} total, depth {}, {:.0} states/s, {:.0}s",
                    checker.unique_state_count(),
                    checker.state_count(),
                    checker.max_depth(),
                    checker.unique_state_count() as f64 / secs,
                    secs
                );
            }
        }
    };
    let elapsed = start.elapsed();
    let cut_short = match ending {
        Ending::Panicked(message) => Some(format!("checker thread panicked: {message}")),
        Ending::TimedOut => Some(format!("timeout after {}s", elapsed.as_secs())),
        // stateright stops between batches once its timeout passes: threads that finished
        // at or after the deadline may have stopped early.
        Ending::Finished if options.timeout.is_some_and(|t| elapsed >= t) => {
            Some(format!("timeout after {}s", elapsed.as_secs()))
        }
        Ending::Finished => None,
    };
    summarise(&checker, options, elapsed, cut_short)
}

/// Joins every handle whose thread has finished; returns the panic message of the first one
/// that panicked.
fn join_finished(handles: &mut [Option<JoinHandle<()>>]) -> Option<String> {
    for slot in handles.iter_mut() {
        if slot.as_ref().is_some_and(JoinHandle::is_finished) {
            let handle = slot.take().expect("checked above");
            if let Err(payload) = handle.join() {
                return Some(panic_message(payload.as_ref()));
            }
        }
    }
    None
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_string()
    }
}

fn summarise<M, C>(
    checker: &C,
    options: &CheckOptions,
    elapsed: Duration,
    cut_short: Option<String>,
) -> CheckReport<M::State, M::Action>
where
    M: Model,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq,
    C: Checker<M>,
{
    let model = checker.model();
    let discoveries = checker.discoveries();
    let stopped_early = match &options.stop_when {
        StopWhen::AnyViolation => model
            .properties()
            .iter()
            .any(|p| p.expectation != Expectation::Sometimes && discoveries.contains_key(p.name)),
        StopWhen::Found(name) => discoveries.contains_key(name),
    };
    let completion = if let Some(why) = cut_short {
        Completion::Incomplete(why)
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
            let found: Option<Path<M::State, M::Action>> = discoveries.get(p.name).cloned();
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

/// Fewer reachable states than this and a bound is refused as vacuous: nothing of the
/// protocol (an election needs a timeout, a vote, its reply and `BecomeLeader`) fits in it.
pub const MIN_REACHABLE_STATES: usize = 10;

/// Whether an action is a fault (the environment's, not the protocol's).
fn is_fault(action: &Action) -> bool {
    matches!(
        action,
        Action::Restart(_) | Action::Drop(_) | Action::Duplicate(_)
    )
}

/// Refuses a bound under which the check would be vacuous: the initial state enables no
/// action other than faults, or fewer than [`MIN_REACHABLE_STATES`] states are reachable.
/// A PASS there would only say that nothing happened. The message names the flag to raise.
pub fn refuse_vacuous(model: &RaftModel) -> Result<(), String> {
    let config = &model.config;
    let flags_hint = || {
        let mut hint = Vec::new();
        if let Some(max) = config.max_inflight {
            let needed = config.servers.saturating_sub(1).max(1);
            if max < needed {
                hint.push(format!(
                    "--max-inflight must be at least servers-1 = {needed} for a timeout to \
                     send its RequestVotes (got {max})"
                ));
            }
        }
        if hint.is_empty() {
            hint.push(
                "raise a bound: --servers, --max-term, --max-requests, --max-crashes or \
                 --max-inflight"
                    .to_string(),
            );
        }
        hint.join("; ")
    };
    let init = model.init_states();
    let protocol_moves = init.iter().any(|s| {
        model
            .enabled_actions(s)
            .iter()
            .any(|action| !is_fault(action))
    });
    if !protocol_moves {
        return Err(format!(
            "vacuous bound: the initial state enables no protocol action, so every property \
             would hold trivially; {}",
            flags_hint()
        ));
    }
    // A breadth-first walk that stops as soon as enough states are seen: cheap at any bound.
    let mut seen: HashSet<_> = init.iter().cloned().collect();
    let mut queue: VecDeque<_> = init.into_iter().collect();
    while let Some(state) = queue.pop_front() {
        if seen.len() >= MIN_REACHABLE_STATES {
            return Ok(());
        }
        for action in model.enabled_actions(&state) {
            if let Some(next) = model.next_state(&state, action) {
                if seen.insert(next.clone()) {
                    queue.push_back(next);
                }
            }
        }
    }
    if seen.len() >= MIN_REACHABLE_STATES {
        return Ok(());
    }
    Err(format!(
        "vacuous bound: only {} states are reachable (fewer than {MIN_REACHABLE_STATES}), so \
         a PASS would say almost nothing; {}",
        seen.len(),
        flags_hint()
    ))
}

/// A portfolio bound refused before anything ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The bound's name.
    pub bound: &'static str,
    /// Why (from [`refuse_vacuous`]).
    pub reason: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bound `{}`: {}", self.bound, self.reason)
    }
}

impl std::error::Error for Refused {}

/// One bound of a portfolio run.
#[derive(Clone, Debug)]
pub struct BoundReport {
    /// The bound that ran.
    pub bound: Bound,
    /// Its run.
    pub report: CheckReport,
    /// The highest resident set size of the process during this bound, in bytes (Linux'
    /// `VmHWM`); `None` where the kernel does not say.
    pub peak_rss_bytes: Option<u64>,
    /// Whether that peak was reset before the bound (`/proc/self/clear_refs`), so it is this
    /// bound's own; otherwise it is the process's peak so far.
    pub peak_rss_is_per_bound: bool,
}

/// A portfolio run: the bounds that ran, in order, and those that did not.
#[derive(Clone, Debug)]
pub struct PortfolioReport {
    /// The bounds that ran, in order.
    pub runs: Vec<BoundReport>,
    /// The bounds not run: after a failure (the verdict is already FAIL) or once the
    /// `--timeout` budget was spent.
    pub not_run: Vec<Bound>,
    /// Wall time of the whole portfolio.
    pub elapsed: Duration,
}

impl PortfolioReport {
    /// FAIL if any bound failed; PASS only if every bound ran and passed; else INCOMPLETE.
    pub fn outcome(&self) -> Outcome {
        if self
            .runs
            .iter()
            .any(|r| r.report.outcome() == Outcome::Fail)
        {
            return Outcome::Fail;
        }
        let mut reasons: Vec<String> = self
            .runs
            .iter()
            .filter_map(|r| match r.report.outcome() {
                Outcome::Incomplete(why) => Some(format!("{}: {why}", r.bound.name)),
                _ => None,
            })
            .collect();
        if !self.not_run.is_empty() {
            let names: Vec<&str> = self.not_run.iter().map(|b| b.name).collect();
            reasons.push(format!("not run: {}", names.join(", ")));
        }
        if reasons.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Incomplete(reasons.join("; "))
        }
    }

    /// The bound that caught a bug: the last bound that failed (the run stops at the bound
    /// that decides; earlier failing bounds, if any, showed only other properties).
    pub fn caught_by(&self) -> Option<&BoundReport> {
        self.runs
            .iter()
            .rev()
            .find(|r| r.report.outcome() == Outcome::Fail)
    }

    /// Unique states over all bounds that ran.
    pub fn unique_states(&self) -> usize {
        self.runs.iter().map(|r| r.report.unique_states).sum()
    }
}

/// What a portfolio run tells its caller as it goes (the CLI prints progress from it).
#[derive(Debug)]
pub enum PortfolioEvent<'a> {
    /// Bound `index` (from 0) of `total` is about to run.
    Starting {
        /// Position in the portfolio.
        index: usize,
        /// Number of bounds.
        total: usize,
        /// The bound.
        bound: &'a Bound,
    },
    /// A bound finished.
    Finished(&'a BoundReport),
}

/// Whether a bound's report ends a portfolio run: with [`StopWhen::AnyViolation`] any
/// failure; with [`StopWhen::Found`] (looking for one bug's consequence) a counterexample to
/// that property, so a bound that shows only another property's failure hands on to the next.
fn decided(report: &CheckReport, stop_when: &StopWhen) -> bool {
    match stop_when {
        StopWhen::AnyViolation => report.outcome() == Outcome::Fail,
        StopWhen::Found(name) => report
            .property(name)
            .is_some_and(|p| p.verdict == Verdict::Fail),
    }
}

/// Runs `bounds` one after the other with `options`, stopping after the first bound that
/// decides (see `decided`: a failure, or with [`StopWhen::Found`] that property's
/// counterexample; the verdict is then FAIL whatever the rest would say). `options.timeout` is the
/// budget of the whole portfolio. Every bound is first checked with [`refuse_vacuous`]; a
/// vacuous bound refuses the whole run before anything is checked.
pub fn run_portfolio(
    bounds: &[Bound],
    options: &CheckOptions,
    mut progress: impl FnMut(PortfolioEvent<'_>),
) -> Result<PortfolioReport, Refused> {
    for bound in bounds {
        refuse_vacuous(&RaftModel::new(bound.config.clone())).map_err(|reason| Refused {
            bound: bound.name,
            reason,
        })?;
    }
    let start = Instant::now();
    let mut runs: Vec<BoundReport> = Vec::new();
    let mut not_run = Vec::new();
    for (index, bound) in bounds.iter().enumerate() {
        let failed = runs
            .last()
            .is_some_and(|r| decided(&r.report, &options.stop_when));
        let remaining = options.timeout.map(|t| t.saturating_sub(start.elapsed()));
        if failed || remaining == Some(Duration::ZERO) {
            not_run.push(bound.clone());
            continue;
        }
        progress(PortfolioEvent::Starting {
            index,
            total: bounds.len(),
            bound,
        });
        let per_bound = reset_peak_rss();
        let bound_options = CheckOptions {
            timeout: remaining,
            ..options.clone()
        };
        let report = run(RaftModel::new(bound.config.clone()), &bound_options);
        let run = BoundReport {
            bound: bound.clone(),
            report,
            peak_rss_bytes: peak_rss_bytes(),
            peak_rss_is_per_bound: per_bound,
        };
        progress(PortfolioEvent::Finished(&run));
        let timed_out = matches!(
            &run.report.completion,
            Completion::Incomplete(why) if why.starts_with("timeout")
        );
        let panicked = matches!(
            &run.report.completion,
            Completion::Incomplete(why) if why.starts_with("checker thread panicked")
        );
        runs.push(run);
        // Threads of a timed-out or panicked bound may still run: starting another bound
        // beside them would measure nothing honestly.
        if timed_out || panicked {
            not_run.extend(bounds[index + 1..].iter().cloned());
            break;
        }
    }
    Ok(PortfolioReport {
        runs,
        not_run,
        elapsed: start.elapsed(),
    })
}

/// Resets the process's peak RSS to its current RSS (Linux ≥ 4.0); whether it worked.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The process's peak RSS (`VmHWM`) in bytes, where the kernel reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

//! Whole-model checks: the default portfolio holds exhaustively, symmetry reduction changes
//! the state count but never a verdict, the state count is pinned where runs are
//! deterministic (single-threaded, no symmetry), and a verdict never claims more than the
//! run did (a panicking checker thread, a timeout, a vacuous bound).

use raft_model::check::{
    refuse_vacuous, run, run_model, run_portfolio, CheckOptions, Completion, Outcome,
    PortfolioEvent, StopWhen, Strategy, Verdict,
};
use raft_model::portfolio::{default_portfolio, Bound};
use raft_model::{Bug, Config, RaftModel};
use stateright::{Model, Property, Representative};
use std::time::Duration;

fn small() -> Config {
    Config {
        max_term: 2,
        max_requests: 1,
        max_crashes: 1,
        ..Config::default()
    }
}

fn check(config: Config, symmetry: bool, threads: usize) -> raft_model::check::CheckReport {
    let options = CheckOptions {
        symmetry,
        threads,
        ..CheckOptions::default()
    };
    run(RaftModel::new(config), &options)
}

/// The plain `raft-model check`: every bound of the default portfolio, exhaustively, with
/// pinned state counts. The counts are exact: the symmetry representative is canonical, so
/// a count depends only on the model and the bound, not on threads or scheduling. A count
/// that moves means the model or a bound changed: update it knowingly.
#[test]
fn the_default_portfolio_holds_exhaustively() {
    let bounds = default_portfolio(None);
    assert_eq!(bounds.len(), PINNED.len());
    let report = run_portfolio(&bounds, &CheckOptions::default(), |_| {}).expect("not vacuous");
    for (run, (name, states)) in report.runs.iter().zip(PINNED) {
        assert_eq!(run.bound.name, name);
        assert_eq!(run.report.unique_states, states, "{name}");
        println!(
            "{:<16} {:?} {} unique states, depth {}, {:.1}s, peak RSS {:?} bytes",
            run.bound.name,
            run.report.outcome(),
            run.report.unique_states,
            run.report.max_depth,
            run.report.elapsed.as_secs_f64(),
            run.peak_rss_bytes
        );
        for p in &run.report.properties {
            println!("  {:<28} {:?}", p.name, p.verdict);
        }
        assert_eq!(
            run.report.completion,
            Completion::Exhaustive,
            "{}",
            run.bound.name
        );
        assert!(run.report.all_hold(), "{}", run.bound.name);
    }
    assert_eq!(report.runs.len(), bounds.len());
    assert!(report.not_run.is_empty());
    assert_eq!(report.outcome(), Outcome::Pass);
    assert_eq!(report.outcome().exit_code(), 0);
}

const PINNED: [(&str, usize); 8] = [
    ("elections", 256965),
    ("snapshots", 77898),
    ("pipelined", 101931),
    ("one-entry", 653362),
    ("figure-8", 193191),
    ("three-entries", 500831),
    ("snapshot-conflict", 738621),
    ("stale-leader", 2654621),
];

fn bound(name: &'static str, config: Config) -> Bound {
    Bound {
        name,
        why: "a test bound",
        config,
    }
}

#[test]
fn a_portfolio_reports_every_bound_in_order_with_its_memory() {
    let tiny = Config {
        max_term: 1,
        max_crashes: 0,
        snapshots: false,
        ..Config::default()
    };
    let bounds = [
        bound("tiny", tiny.clone()),
        bound(
            "two-terms",
            Config {
                max_term: 2,
                ..tiny.clone()
            },
        ),
    ];
    let mut events = Vec::new();
    let report = run_portfolio(&bounds, &CheckOptions::default(), |e| {
        events.push(match e {
            PortfolioEvent::Starting {
                index,
                total,
                bound,
            } => {
                format!("start {index}/{total} {}", bound.name)
            }
            PortfolioEvent::Finished(run) => format!("done {}", run.bound.name),
        })
    })
    .unwrap();
    assert_eq!(
        events,
        [
            "start 0/2 tiny",
            "done tiny",
            "start 1/2 two-terms",
            "done two-terms"
        ]
    );
    assert_eq!(report.outcome(), Outcome::Pass);
    let names: Vec<&str> = report.runs.iter().map(|r| r.bound.name).collect();
    assert_eq!(names, ["tiny", "two-terms"]);
    assert!(report.runs[0].report.unique_states < report.runs[1].report.unique_states);
    if cfg!(target_os = "linux") {
        for run in &report.runs {
            assert!(run.peak_rss_bytes.unwrap() > 1_000_000, "{run:?}");
        }
    }
}

/// With a bug the portfolio stops at the first bound that catches it: the rest are not
/// run, the verdict is FAIL (exit code 1), and the catching bound is named.
#[test]
fn a_bug_stops_the_portfolio_at_the_bound_that_catches_it() {
    let bug = Bug::VoteTwice;
    // The second bound is never run: the first one's counterexample already decides.
    let bounds = [
        bound("catches", bug.bound()),
        bound(
            "after",
            Config {
                bug: Some(bug),
                ..Config::default()
            },
        ),
    ];
    let report = run_portfolio(&bounds, &CheckOptions::default(), |_| {}).unwrap();
    assert_eq!(report.outcome(), Outcome::Fail);
    assert_eq!(report.outcome().exit_code(), 1);
    let caught = report.caught_by().expect("caught");
    assert_eq!(caught.bound.name, "catches");
    assert_eq!(
        caught
            .report
            .property(bug.expected_violation())
            .unwrap()
            .verdict,
        Verdict::Fail
    );
    assert_eq!(report.runs.len(), 1);
    assert_eq!(report.not_run.len(), 1);
    assert_eq!(report.not_run[0].name, "after");
}

#[test]
fn symmetry_reduction_gives_the_same_verdicts_with_fewer_states() {
    let with = check(small(), true, 2);
    let without = check(small(), false, 2);
    assert_eq!(with.completion, Completion::Exhaustive);
    assert_eq!(without.completion, Completion::Exhaustive);
    let verdicts = |r: &raft_model::check::CheckReport| {
        r.properties
            .iter()
            .map(|p| (p.name, p.verdict))
            .collect::<Vec<_>>()
    };
    assert_eq!(verdicts(&with), verdicts(&without));
    assert!(with.all_hold());
    assert!(with.unique_states < without.unique_states);
    println!(
        "symmetry: {} states, without: {}",
        with.unique_states, without.unique_states
    );
}

#[test]
fn symmetry_reduction_still_finds_a_bug() {
    for symmetry in [true, false] {
        let options = CheckOptions {
            symmetry,
            stop_when: StopWhen::Found(Bug::VoteTwice.expected_violation()),
            ..CheckOptions::default()
        };
        let report = run(RaftModel::new(Bug::VoteTwice.bound()), &options);
        let verdict = report
            .property(Bug::VoteTwice.expected_violation())
            .unwrap()
            .verdict;
        assert_eq!(verdict, Verdict::Fail, "symmetry {symmetry}");
    }
}

#[test]
fn bfs_finds_the_shortest_counterexample() {
    // Two candidates of term 1, a voter granting both, and two BecomeLeader steps, with room
    // for only two messages in flight (each Timeout and BecomeLeader sends two, so earlier
    // messages must be delivered or lost first): 12 steps, and no shorter path exists.
    let options = CheckOptions {
        strategy: Strategy::Bfs,
        symmetry: false,
        stop_when: StopWhen::Found(Bug::VoteTwice.expected_violation()),
        ..CheckOptions::default()
    };
    let report = run(RaftModel::new(Bug::VoteTwice.bound()), &options);
    let path = report
        .property("ElectionSafety")
        .unwrap()
        .path
        .clone()
        .unwrap();
    assert_eq!(path.len() - 1, 12);
}

#[test]
fn the_state_count_is_pinned_single_threaded() {
    // A deliberate change to the model's meaning changes this number; update it knowingly.
    let tiny = Config {
        max_term: 1,
        max_requests: 1,
        max_crashes: 0,
        snapshots: false,
        ..Config::default()
    };
    let report = check(tiny.clone(), false, 1);
    assert_eq!(report.completion, Completion::Exhaustive);
    assert!(report.all_hold());
    assert_eq!(report.unique_states, PINNED_TINY_STATES);
    // Without the durable prefix every entry is durable at once and `Sync` is never
    // enabled: exactly the model before Raft thesis §10.2.1 was added, state for state.
    let without = check(
        Config {
            durable_prefix: false,
            ..tiny
        },
        false,
        1,
    );
    assert!(without.all_hold());
    assert_eq!(
        without.unique_states,
        PINNED_TINY_STATES_WITHOUT_DURABLE_PREFIX
    );
}

/// With the durable prefix (the default): the leader's entry is durable or not, and the
/// leader counts itself only once it is (rule D1).
const PINNED_TINY_STATES: usize = 21866;
/// The count before the durable prefix existed.
const PINNED_TINY_STATES_WITHOUT_DURABLE_PREFIX: usize = 15443;

#[test]
fn pruning_dead_messages_keeps_verdicts_with_fewer_states() {
    let config = |prune_dead_messages| Config {
        max_term: 2,
        max_requests: 1,
        max_crashes: 0,
        prune_dead_messages,
        ..Config::default()
    };
    let pruned = check(config(true), true, 2);
    let full = check(config(false), true, 2);
    assert!(pruned.all_hold() && full.all_hold());
    assert!(pruned.unique_states < full.unique_states);
    println!(
        "pruned: {} states, unpruned: {}",
        pruned.unique_states, full.unique_states
    );
}

/// A model whose property panics in one state: stands in for a bug in the checker, the
/// model or a property. The run must say INCOMPLETE, never PASS.
#[derive(Clone, Debug)]
struct PanicsAt(u32);

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Counter(u32);

impl Representative for Counter {
    fn representative(&self) -> Self {
        self.clone()
    }
}

impl Model for PanicsAt {
    type State = Counter;
    type Action = u32;

    fn init_states(&self) -> Vec<Counter> {
        vec![Counter(0)]
    }

    fn actions(&self, state: &Counter, actions: &mut Vec<u32>) {
        if state.0 < 2000 {
            actions.extend([1, 2]);
        }
    }

    fn next_state(&self, state: &Counter, step: u32) -> Option<Counter> {
        Some(Counter(state.0 + step))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![Property::always(
            "NeverPanics",
            |model: &PanicsAt, s: &Counter| {
                assert!(s.0 != model.0, "property evaluation failed at {}", s.0);
                true
            },
        )]
    }
}

#[test]
fn a_panicking_checker_thread_makes_the_run_incomplete_with_exit_code_three() {
    for threads in [1, 2] {
        for strategy in [Strategy::Dfs, Strategy::Bfs] {
            let options = CheckOptions {
                threads,
                strategy,
                ..CheckOptions::default()
            };
            let report = run_model(PanicsAt(1000), &options);
            let Completion::Incomplete(why) = &report.completion else {
                panic!("a panicked run reported {:?}", report.completion);
            };
            assert!(
                why.starts_with("checker thread panicked: ")
                    && why.contains("property evaluation failed at 1000"),
                "{why}"
            );
            assert_eq!(report.properties[0].verdict, Verdict::Unknown);
            assert!(!report.all_hold());
            assert_eq!(report.outcome().exit_code(), 3, "{threads} {strategy:?}");
        }
    }
    // The same model without the panic passes: the test above fails for the panic alone.
    let report = run_model(PanicsAt(u32::MAX), &CheckOptions::default());
    assert_eq!(report.outcome(), Outcome::Pass);
    assert_eq!(report.unique_states, 2002); // 0..=2001
}

/// The timeout clock starts before the threads; the run reports INCOMPLETE (exit code 3)
/// and never PASS or a property's PASS.
#[test]
fn a_timed_out_run_is_incomplete() {
    let big = Config {
        max_term: 4,
        max_requests: 3,
        ..Config::default()
    };
    let options = CheckOptions {
        timeout: Some(Duration::from_millis(300)),
        ..CheckOptions::default()
    };
    let report = run(RaftModel::new(big), &options);
    assert!(
        matches!(&report.completion, Completion::Incomplete(why) if why.starts_with("timeout")),
        "{:?}",
        report.completion
    );
    assert!(
        report.elapsed < Duration::from_secs(5),
        "{:?}",
        report.elapsed
    );
    assert!(report
        .properties
        .iter()
        .all(|p| !matches!(p.verdict, Verdict::Pass | Verdict::NotReached)));
    assert_eq!(report.outcome().exit_code(), 3);
}

#[test]
fn vacuous_bounds_are_refused_with_the_flag_to_raise() {
    // Four servers with room for two messages: no timeout can send its three RequestVotes.
    let no_election = Config {
        servers: 4,
        ..Config::default()
    };
    let err = refuse_vacuous(&RaftModel::new(no_election.clone())).unwrap_err();
    assert!(
        err.contains("--max-inflight must be at least servers-1 = 3"),
        "{err}"
    );
    let err = no_election.validate().unwrap_err();
    assert!(err.contains("--max-inflight"), "{err}");
    // One server, one term, nothing else: timeout, win, done.
    let tiny = Config {
        servers: 1,
        max_term: 1,
        max_requests: 0,
        max_crashes: 0,
        snapshots: false,
        ..Config::default()
    };
    let err = refuse_vacuous(&RaftModel::new(tiny)).unwrap_err();
    assert!(err.contains("states are reachable"), "{err}");
    // Every bound of the default portfolio, and every bug's quick bound, is not vacuous.
    for bound in default_portfolio(None) {
        refuse_vacuous(&RaftModel::new(bound.config)).unwrap();
    }
    for bug in Bug::ALL {
        refuse_vacuous(&RaftModel::new(bug.bound())).unwrap();
    }
    // A vacuous bound in a portfolio refuses the whole run before anything is checked.
    let refused = run_portfolio(
        &[
            bound("fine", Config::default()),
            bound("vacuous", no_election),
        ],
        &CheckOptions::default(),
        |_| panic!("nothing may run"),
    )
    .unwrap_err();
    assert_eq!(refused.bound, "vacuous");
}

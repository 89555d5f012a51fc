//! Runs the default portfolio (`raft_model::portfolio::default_portfolio`) bound by bound
//! and prints each bound's states, time and verdict:
//! `cargo run --release -p raft-model --example portfolio [-- BUG|all [BOUND]]`.
//! With a bug name, each bound stops at the first counterexample to the bug's expected
//! property and the run stops at the first bound that finds it; `all` does that for every
//! bug variant in turn.
use raft_model::check::{run, CheckOptions, Completion, StopWhen, Verdict};
use raft_model::portfolio::default_portfolio;
use raft_model::{Bug, RaftModel};
use std::time::Instant;

fn run_portfolio(bug: Option<Bug>, only: Option<&str>) -> bool {
    let start = Instant::now();
    let mut ok = true;
    for bound in default_portfolio(bug) {
        if only.is_some_and(|o| o != bound.name) {
            continue;
        }
        let options = CheckOptions {
            stop_when: match bug {
                Some(b) => StopWhen::Found(b.expected_violation()),
                None => StopWhen::AnyViolation,
            },
            timeout: std::env::var("PORTFOLIO_TIMEOUT")
                .ok()
                .map(|t| std::time::Duration::from_secs(t.parse().expect("seconds"))),
            ..CheckOptions::default()
        };
        let report = run(RaftModel::new(bound.config.clone()), &options);
        let failed: Vec<&str> = report
            .properties
            .iter()
            .filter(|p| matches!(p.verdict, Verdict::Fail | Verdict::NotReached))
            .map(|p| p.name)
            .collect();
        let status = match (&report.completion, bug) {
            (_, Some(b)) if failed.contains(&b.expected_violation()) => {
                format!("CAUGHT {}", b.expected_violation())
            }
            (Completion::Exhaustive, None) if report.all_hold() => "PASS".to_string(),
            (Completion::Exhaustive, _) => format!("FAIL {failed:?}"),
            (Completion::Incomplete(why), _) => format!("INCOMPLETE ({why}) {failed:?}"),
        };
        println!(
            "{:<28} {:<14} {:>10} states {:>7.1}s  {status}",
            bug.map_or("correct", Bug::name),
            bound.name,
            report.unique_states,
            report.elapsed.as_secs_f64(),
        );
        if bug.is_some() && status.starts_with("CAUGHT") {
            println!(
                "{:<28} caught in {:.1}s",
                bug.map_or("", Bug::name),
                start.elapsed().as_secs_f64()
            );
            return true;
        }
        ok &= status == "PASS";
    }
    if bug.is_some() {
        println!("{:<28} NOT CAUGHT", bug.map_or("", Bug::name));
        return false;
    }
    println!("total {:.1}s", start.elapsed().as_secs_f64());
    ok
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only = args.get(1).map(String::as_str);
    let ok = match args.first().map(String::as_str) {
        None | Some("correct") => run_portfolio(None, only),
        Some("all") => Bug::ALL
            .into_iter()
            .map(|b| run_portfolio(Some(b), only))
            .fold(true, |a, b| a & b),
        Some(name) => run_portfolio(
            Some(Bug::from_name(name).expect("a bug variant name")),
            only,
        ),
    };
    std::process::exit(if ok { 0 } else { 1 });
}

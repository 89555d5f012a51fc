//! Checks the correct model at every bug variant's bound: each must pass there, so the
//! counterexample `check --bug NAME` finds is the bug's. `cargo run --release --example
//! bug_bounds`.
use raft_model::check::{run, CheckOptions, Completion};
use raft_model::{Bug, Config, RaftModel};
use std::time::Duration;

fn main() {
    for bug in Bug::ALL {
        let config = Config {
            bug: None,
            ..bug.bound()
        };
        let options = CheckOptions {
            timeout: Some(Duration::from_secs(120)),
            ..CheckOptions::default()
        };
        let report = run(RaftModel::new(config.clone()), &options);
        let status = match &report.completion {
            Completion::Exhaustive if report.all_hold() => "PASS (exhaustive)".to_string(),
            Completion::Exhaustive => "FAIL".to_string(),
            Completion::Incomplete(why) => format!("INCOMPLETE ({why})"),
        };
        println!(
            "{:<26} {:>9} states {:>6.1}s  {status}",
            bug.name(),
            report.unique_states,
            report.elapsed.as_secs_f64()
        );
    }
}

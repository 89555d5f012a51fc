//! Model-checking throughput (docs/performance.md, "Model checking"): distinct states per
//! second of the default check and of the raft.tla-like bound (3 servers, terms <= 2,
//! log <= 1, no snapshots, no crashes, no duplicates; once with the default cap of 2
//! messages in flight and once unbounded, as raft.tla has it), through `raft_model::check::run`
//! exactly as `raft-model check` runs it (DFS with symmetry reduction, 2 threads).
//!
//! One check is one measurement, so this binary does not use criterion: each check runs
//! for at most `RAFT_BENCH_MODEL_SECS` seconds (default 30; 2 under `cargo test --benches`)
//! and the report says whether it finished (EXHAUSTIVE) or was cut short (INCOMPLETE).

use std::time::Duration;

use raft_benches::machine;
use raft_model::check::{run, CheckOptions, Completion};
use raft_model::{Config, RaftModel};

fn tla_like() -> Config {
    Config {
        max_term: 2,
        max_requests: 1,
        max_crashes: 0,
        snapshots: false,
        duplicates: false,
        ..Config::default()
    }
}

fn seconds() -> u64 {
    let default = if machine::test_mode() { 2 } else { 30 };
    std::env::var("RAFT_BENCH_MODEL_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let limit = seconds();
    println!("== model checking throughput ({}) ==", machine::describe());
    println!("DFS + symmetry, 2 threads, at most {limit} s per check");
    let unlimited = Config {
        max_inflight: None,
        ..tla_like()
    };
    let checks = [
        ("default", Config::default()),
        ("raft.tla-like", tla_like()),
        ("tla, unbounded", unlimited),
    ];
    for (name, config) in checks {
        let options = CheckOptions {
            timeout: Some(Duration::from_secs(limit)),
            ..CheckOptions::default()
        };
        let bounds = config.describe();
        let report = run(RaftModel::new(config), &options);
        let completion = match &report.completion {
            Completion::Exhaustive => "EXHAUSTIVE".to_string(),
            Completion::Incomplete(why) => format!("INCOMPLETE ({why})"),
        };
        println!(
            "{name:>14}: {:>10} unique states, {:>10} total, depth {:>3}, {:>7.1} s, \
             {:>9.0} unique states/s, {completion}\n                {bounds}",
            report.unique_states,
            report.total_states,
            report.max_depth,
            report.elapsed.as_secs_f64(),
            report.states_per_second(),
        );
    }
}

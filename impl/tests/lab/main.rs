//! The MIT 6.5840 (2023) Lab 2 test suite, ported from `src/raft/test_test.go` and
//! `config.go`: the same scenarios, checks, limits and constants, run against this crate's
//! Raft on the labrpc-like [`raft_impl::simnet`].
//!
//! This binary has its own small runner (`harness = false`) because the tests are mostly
//! asleep in simulated time: running a few at once cuts the wall time several-fold, but too
//! many at once on a small machine would disturb the timing-sensitive ones (RPC counts,
//! election deadlines). The runner therefore bounds parallelism itself, whatever the
//! machine's core count, so that plain `cargo test` stays reliable:
//!
//! - `RAFT_LAB_PARALLEL=N` (default 4): at most N tests at once;
//! - `RAFT_TEST_SEED=S`: the seed of every random choice (printed by a failing test);
//! - `RAFT_LAB_VERBOSE=1`: print each test's description when it begins;
//! - arguments: substrings selecting tests by name (`--exact` for whole names), `--list`.
//!
//! Each test prints the lab's line when it passes:
//! `  ... Passed --  time  peers  rpcs  bytes  commits`.

mod applier;
mod checks;
mod cmd;
mod config;
mod selfcheck;
mod tests_2a;
mod tests_2b;
mod tests_2c;
mod tests_2d;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The tester generously allows solutions to complete elections in one second (much more
/// than the paper's range of timeouts).
pub const RAFT_ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);

/// The default bound on tests running at once.
const DEFAULT_PARALLEL: usize = 4;

struct LabTest {
    name: &'static str,
    run: fn(),
    /// Rough seconds the test takes, so the longest start first and the run packs well.
    expected_secs: u32,
}

macro_rules! lab_tests {
    ($($module:ident::$name:ident ~ $secs:expr),* $(,)?) => {
        vec![$(LabTest { name: stringify!($name), run: $module::$name, expected_secs: $secs }),*]
    };
}

fn all_tests() -> Vec<LabTest> {
    lab_tests![
        selfcheck::harness_rejects_conflicting_commits ~ 0,
        selfcheck::harness_rejects_out_of_order_apply ~ 0,
        selfcheck::harness_checks_snapshots ~ 0,
        tests_2a::initial_election_2a ~ 4,
        tests_2a::re_election_2a ~ 6,
        tests_2a::many_elections_2a ~ 6,
        tests_2b::basic_agree_2b ~ 1,
        tests_2b::rpc_bytes_2b ~ 2,
        tests_2b::follower_failure_2b ~ 5,
        tests_2b::leader_failure_2b ~ 5,
        tests_2b::fail_agree_2b ~ 4,
        tests_2b::fail_no_agree_2b ~ 4,
        tests_2b::concurrent_starts_2b ~ 1,
        tests_2b::rejoin_2b ~ 5,
        tests_2b::backup_2b ~ 20,
        tests_2b::count_2b ~ 3,
        tests_2c::persist1_2c ~ 5,
        tests_2c::persist2_2c ~ 15,
        tests_2c::persist3_2c ~ 2,
        tests_2c::figure8_2c ~ 30,
        tests_2c::unreliable_agree_2c ~ 5,
        tests_2c::figure8_unreliable_2c ~ 35,
        tests_2c::reliable_churn_2c ~ 16,
        tests_2c::unreliable_churn_2c ~ 16,
        tests_2d::snapshot_basic_2d ~ 5,
        tests_2d::snapshot_install_2d ~ 40,
        tests_2d::snapshot_install_unreliable_2d ~ 45,
        tests_2d::snapshot_install_crash_2d ~ 30,
        tests_2d::snapshot_install_uncrash_2d ~ 35,
        tests_2d::snapshot_all_crash_2d ~ 8,
        tests_2d::snapshot_init_2d ~ 3,
    ]
}

struct Options {
    filters: Vec<String>,
    exact: bool,
    list: bool,
    ignored_only: bool,
    parallel: usize,
}

fn parse_options() -> Options {
    let mut options = Options {
        filters: Vec::new(),
        exact: false,
        list: false,
        ignored_only: false,
        parallel: std::env::var("RAFT_LAB_PARALLEL")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(DEFAULT_PARALLEL),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--exact" => options.exact = true,
            "--list" => options.list = true,
            "--ignored" => options.ignored_only = true,
            // libtest flags that take a value; the value is not a filter.
            "--test-threads" | "--skip" | "--color" | "--format" | "--logfile" | "-Z" => {
                args.next();
            }
            _ if arg.starts_with('-') => {} // Other libtest flags do not apply here.
            _ => options.filters.push(arg),
        }
    }
    options
}

fn selected(test: &LabTest, options: &Options) -> bool {
    if options.ignored_only {
        return false; // No lab test is ignored.
    }
    options.filters.is_empty()
        || options.filters.iter().any(|f| {
            if options.exact {
                test.name == f
            } else {
                test.name.contains(f.as_str())
            }
        })
}

/// The outcome of one test: its name, whether it passed, and how long it took.
type Outcome = (&'static str, bool, Duration);

/// Runs one test on its own named thread (the name appears in panic messages and in the
/// seed line), returning whether it passed.
fn run_one(test: &LabTest) -> Outcome {
    let started = Instant::now();
    let run = test.run;
    let passed = std::thread::Builder::new()
        .name(test.name.to_string())
        .spawn(run)
        .expect("spawning a test thread")
        .join()
        .is_ok();
    let elapsed = started.elapsed();
    let verdict = if passed { "ok" } else { "FAILED" };
    println!(
        "test {} ... {verdict} ({:.1}s)",
        test.name,
        elapsed.as_secs_f64()
    );
    (test.name, passed, elapsed)
}

fn main() {
    let options = parse_options();
    let mut tests: Vec<LabTest> = all_tests()
        .into_iter()
        .filter(|t| selected(t, &options))
        .collect();
    if options.list {
        for test in &tests {
            println!("{}: test", test.name);
        }
        return;
    }
    tests.sort_by_key(|t| std::cmp::Reverse(t.expected_secs));
    let count = tests.len();
    let workers = options.parallel.min(count.max(1));
    println!("\nrunning {count} lab tests, at most {workers} at once");

    let started = Instant::now();
    let queue = Arc::new(Mutex::new(tests.into_iter().collect::<VecDeque<_>>()));
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (queue, outcomes) = (Arc::clone(&queue), Arc::clone(&outcomes));
            std::thread::spawn(move || loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                let Some(test) = next else { break };
                let outcome = run_one(&test);
                outcomes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(outcome);
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("a runner thread never panics");
    }

    let outcomes = outcomes.lock().unwrap_or_else(|p| p.into_inner());
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.1).map(|o| o.0).collect();
    let passed = outcomes.len() - failed.len();
    if !failed.is_empty() {
        println!("\nfailures:\n    {}", failed.join("\n    "));
    }
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {passed} passed; {} failed; finished in {:.2}s\n",
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}

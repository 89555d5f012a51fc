//! The command line: exit codes (0 all hold, 1 violation or incomplete, 2 bad input),
//! the EXHAUSTIVE/INCOMPLETE status, counterexample steps with an explorer path, JSON.

use std::net::TcpListener;
use std::process::{Command, Output};

fn raft_model(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raft-model"))
        .args(args)
        .output()
        .expect("run raft-model")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const SMALL: &[&str] = &[
    "--max-term",
    "1",
    "--max-requests",
    "1",
    "--no-crashes",
    "--no-snapshots",
];

#[test]
fn a_small_check_is_exhaustive_and_exits_zero() {
    let out = raft_model(&[&["check"], SMALL].concat());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("EXHAUSTIVE"), "{text}");
    assert!(
        text.contains("ElectionSafety") && text.contains("PASS"),
        "{text}"
    );
}

#[test]
fn a_bug_prints_numbered_steps_and_an_explorer_path_and_exits_one() {
    let out = raft_model(&["check", "--bug", "vote-twice"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("Counterexample to ElectionSafety"), "{text}");
    assert!(text.contains("   1. "), "{text}");
    assert!(text.contains("#/steps/0/"), "{text}");
    assert!(text.contains("RESULT: FAIL"), "{text}");
}

/// With `--bug` the search is breadth-first unless `--dfs` is given, so the counterexample a
/// learner reads is a shortest one: 12 steps for `vote-twice` (DFS's first one is about 36).
#[test]
fn a_bug_gets_the_shortest_counterexample_by_default() {
    let steps = |args: &[&str]| {
        let text = stdout(&raft_model(args));
        let at = text
            .find("Counterexample to ElectionSafety (")
            .expect("a counterexample");
        let rest = &text[at + "Counterexample to ElectionSafety (".len()..];
        rest[..rest.find(' ').expect("a step count")]
            .parse::<usize>()
            .expect("a number")
    };
    assert_eq!(steps(&["check", "--bug", "vote-twice"]), 12);
    assert_eq!(steps(&["check", "--bug", "vote-twice", "--bfs"]), 12);
    assert!(steps(&["check", "--bug", "vote-twice", "--dfs"]) >= 12);
}

#[test]
fn a_timed_out_run_is_incomplete_never_pass() {
    let out = raft_model(&[
        "check",
        "--max-term",
        "4",
        "--max-requests",
        "3",
        "--timeout",
        "1",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("INCOMPLETE (timeout"), "{text}");
    assert!(!text.contains(" PASS"), "{text}");
}

#[test]
fn json_report_is_machine_readable() {
    let out = raft_model(&[&["check", "--json"], SMALL].concat());
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(value["exhaustive"], true);
    assert_eq!(value["all_hold"], true);
    assert!(value["unique_states"].as_u64().unwrap() > 0);
}

#[test]
fn bad_input_is_a_one_line_error_with_exit_two() {
    for args in [
        &["check", "--servers", "0"][..],
        &["check", "--max-term", "0"],
        &["check", "--bug", "no-such-bug"],
        &["check", "--max-inflight", "unlimited"],
        &["check", "--max-inflight", "lots"],
        &["frobnicate"],
    ] {
        let out = raft_model(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn explore_on_a_busy_port_fails_cleanly() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = raft_model(&["explore", "--addr", &addr]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot serve the explorer"), "{err}");
}

#[test]
fn bugs_lists_every_variant() {
    let out = raft_model(&["bugs"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for bug in raft_model::Bug::ALL {
        assert!(text.contains(bug.name()), "{text}");
    }
}
